#!/usr/bin/env python3
"""An independent NumPy reference for SmolLM2-135M-Instruct read from its GGUF file.

    .cache/venv/bin/python tests/reference/smollm2_numpy.py            # (re)write the fixture
    .cache/venv/bin/python tests/reference/smollm2_numpy.py --check    # recompute and compare
    .cache/venv/bin/python tests/reference/smollm2_numpy.py --gguf PATH --out PATH

The Rust side reads the same GGUF file, dequantises it, tokenises with byte-level BPE and
runs a Llama forward pass. This file does all of that again from the specifications only
(the GGUF v3 layout, ggml's block formats, GPT-2 byte-level BPE with HF SmolLM2's
pre-tokenizer, the Llama architecture), with nothing but the standard library and NumPy,
and writes tests/fixtures/smollm2_golden.json for the Rust tests to compare against. The
maths is float64 throughout so the reference's own rounding is far below the f32 Rust
side's; the Rust tests state their tolerance against it.

What the fixture pins, and why:
  facts     the hyper-parameters and tokenizer metadata read from the file, so a loader
            that misreads a key or a type fails loudly rather than producing plausible logits;
            rope_check records which RoPE pairing the file needs (see `rope_check`).
  dequant   a few rows of each block format (Q8_0, Q4_1, F32): the first values and the
            row sum, which catches nibble order and block-scale mistakes directly.
  tokenize  / decode / chat: ids for awkward texts (whitespace runs, digits, contractions,
            non-Latin scripts, emoji, control tokens) and the ChatML rendering.
  logits    top-10, probe-id logits and logsumexp at the first 8 and last positions.
  greedy    greedy continuations (argmax, whole sequence recomputed each step) of up to 24
            tokens or through <|im_end|> (id 2). new_ids includes that stop id when it came
            (then "stopped" is true) but "text" leaves it out. min_margin is the smallest
            top1-top2 logit gap over the steps, so a mismatch can be told from a near tie.

--check recomputes everything and compares with the committed fixture: ids, strings and
integers exactly, numbers to 1e-9 relative (relative to max(|a|, |b|, 1), so values near
zero get an absolute 1e-9 rather than a bound below float64 noise). Either run takes
about 15 s on one core; the fixture is about 75 KB.

The GGUF file's SHA-256 is checked first: the fixture describes that one file. Its default
place is .cache/models/smollm2-135m-instruct/ (where setup puts it); --gguf overrides.
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys
import time
import unicodedata

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_GGUF = os.path.join(ROOT, ".cache", "models", "smollm2-135m-instruct",
                            "SmolLM2-135M-Instruct.Q4_1.gguf")
DEFAULT_OUT = os.path.join(ROOT, "tests", "fixtures", "smollm2_golden.json")
EXPECTED_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

# --------------------------------------------------------------------------------------
# GGUF v3
# --------------------------------------------------------------------------------------

# Metadata value types: id -> (struct format, size) for the fixed-size ones.
GGUF_SCALAR = {0: ("<B", 1), 1: ("<b", 1), 2: ("<H", 2), 3: ("<h", 2), 4: ("<I", 4),
               5: ("<i", 4), 6: ("<f", 4), 7: ("<?", 1), 10: ("<Q", 8), 11: ("<q", 8),
               12: ("<d", 8)}
GGUF_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4",
              7: "?", 10: "<u8", 11: "<i8", 12: "<f8"}
GGUF_STRING, GGUF_ARRAY = 8, 9

# ggml tensor types this model uses: id -> (name, values per block, bytes per block).
GGML_TYPES = {0: ("F32", 1, 4), 1: ("F16", 1, 2), 3: ("Q4_1", 32, 20), 8: ("Q8_0", 32, 34)}


class GGUF:
    """The header, metadata and tensor table of a GGUF file; tensor data stays mapped."""

    def __init__(self, path):
        self.path = path
        self.buf = np.memmap(path, dtype=np.uint8, mode="r")
        self.pos = 0
        magic = bytes(self.buf[:4])
        if magic != b"GGUF":
            raise ValueError(f"{path}: not a GGUF file (magic {magic!r})")
        self.pos = 4
        self.version = self._scalar(4)
        if self.version != 3:
            raise ValueError(f"{path}: GGUF version {self.version}, this reader knows 3")
        n_tensors = self._scalar(10)
        n_kv = self._scalar(10)
        self.meta = {}
        for _ in range(n_kv):
            key = self._string()
            self.meta[key] = self._value(self._scalar(4))
        self.tensors = {}
        for _ in range(n_tensors):
            name = self._string()
            n_dims = self._scalar(4)
            dims = [self._scalar(10) for _ in range(n_dims)]
            ggml_type = self._scalar(4)
            offset = self._scalar(10)
            self.tensors[name] = {"dims": dims, "type": ggml_type, "offset": offset}
        align = int(self.meta.get("general.alignment", 32))
        self.data_start = (self.pos + align - 1) // align * align
        for name, t in self.tensors.items():
            if t["offset"] % align:
                raise ValueError(f"{name}: offset {t['offset']} not aligned to {align}")

    def _read(self, n):
        b = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        return b

    def _scalar(self, vtype):
        fmt, size = GGUF_SCALAR[vtype]
        return struct.unpack(fmt, self._read(size))[0]

    def _string(self):
        n = self._scalar(10)
        return self._read(n).decode("utf-8")

    def _value(self, vtype):
        if vtype == GGUF_STRING:
            return self._string()
        if vtype == GGUF_ARRAY:
            etype = self._scalar(4)
            n = self._scalar(10)
            if etype == GGUF_STRING:
                return [self._string() for _ in range(n)]
            if etype == GGUF_ARRAY:
                return [self._value(GGUF_ARRAY) for _ in range(n)]
            dt = np.dtype(GGUF_NUMPY[etype])
            arr = np.frombuffer(self.buf, dtype=dt, count=n, offset=self.pos).copy()
            self.pos += n * dt.itemsize
            return arr.tolist()
        return self._scalar(vtype)

    def raw(self, name):
        """The tensor's bytes, and its (rows, row length) with ne0 the contiguous dim."""
        t = self.tensors[name]
        tname, per_block, block_bytes = GGML_TYPES[t["type"]]
        ne0 = t["dims"][0]
        rows = int(np.prod(t["dims"][1:], dtype=np.int64)) if len(t["dims"]) > 1 else 1
        if ne0 % per_block:
            raise ValueError(f"{name}: row of {ne0} is not whole {tname} blocks")
        nbytes = rows * ne0 // per_block * block_bytes
        start = self.data_start + t["offset"]
        return self.buf[start:start + nbytes], rows, ne0

    def tensor(self, name):
        """Dequantised float32 array of shape (ne1, ne0) (or (ne0,) for a vector)."""
        t = self.tensors[name]
        data, rows, ne0 = self.raw(name)
        out = dequantize(data, t["type"], rows * ne0).reshape(rows, ne0)
        return out[0] if len(t["dims"]) == 1 else out

    def type_name(self, name):
        return GGML_TYPES[self.tensors[name]["type"]][0]


def dequantize(data, ggml_type, n):
    """ggml block formats to float32, vectorised over blocks.

    Q4_1: 20-byte blocks of (f16 d, f16 m, 16 bytes qs): value j = (qs[j] & 15)*d + m and
    value j+16 = (qs[j] >> 4)*d + m, so the low nibbles are the block's first half.
    Q8_0: 34-byte blocks of (f16 d, 32 int8 q): value = q*d. The products are formed in
    float32 from the f16 scales, as ggml's reference dequantisers do.
    """
    data = np.asarray(data)
    if ggml_type == 0:
        return data.view("<f4")[:n].astype(np.float32)
    if ggml_type == 1:
        return data.view("<f2")[:n].astype(np.float32)
    if ggml_type == 3:
        b = data.reshape(-1, 20)
        d = b[:, 0:2].copy().view("<f2").astype(np.float32)
        m = b[:, 2:4].copy().view("<f2").astype(np.float32)
        qs = b[:, 4:20]
        q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32)
        return (q * d + m).reshape(-1)[:n]
    if ggml_type == 8:
        b = data.reshape(-1, 34)
        d = b[:, 0:2].copy().view("<f2").astype(np.float32)
        q = b[:, 2:34].copy().view(np.int8).astype(np.float32)
        return (q * d).reshape(-1)[:n]
    raise ValueError(f"ggml type {ggml_type} not supported")


# --------------------------------------------------------------------------------------
# Tokenizer: GPT-2 byte-level BPE with SmolLM2's pre-tokenizer
# --------------------------------------------------------------------------------------

# Unicode White_Space, which `\s` means in Oniguruma (HF tokenizers) and the regex crate.
# Python's str.isspace would also take \x1c-\x1f, which are not White_Space.
WHITESPACE = set("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000") | {
    chr(c) for c in range(0x2000, 0x200B)}


def is_letter(c):
    return unicodedata.category(c)[0] == "L"


def is_number(c):
    return unicodedata.category(c)[0] == "N"


def is_other(c):
    return not (c in WHITESPACE or is_letter(c) or is_number(c))


def gpt2_split(text):
    """The GPT-2 pattern as a scanner, trying its alternatives in order at each position:

        's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+

    Each class run is maximal (the quantifiers are greedy and the classes are disjoint, so
    no backtracking changes a match) except `\\s+(?!\\S)`: a whitespace run followed by a
    non-space gives back its last character, which then starts the next piece (as the
    optional space of ` ?\\p{L}+` etc. when it is a space, else alone via `\\s+`).
    """
    pieces = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        nxt = text[i + 1] if i + 1 < n else ""
        if c == "'":
            if text[i + 1:i + 3] in ("re", "ve", "ll"):
                pieces.append(text[i:i + 3])
                i += 3
                continue
            if nxt in ("s", "t", "m", "d"):
                pieces.append(text[i:i + 2])
                i += 2
                continue
        j = None
        for pred in (is_letter, is_number, is_other):
            if pred(c):
                j = i + 1
            elif c == " " and nxt and pred(nxt):
                j = i + 2
            else:
                continue
            while j < n and pred(text[j]):
                j += 1
            break
        if j is None:  # c is whitespace
            j = i + 1
            while j < n and text[j] in WHITESPACE:
                j += 1
            if j < n and j - i > 1:
                j -= 1  # \s+(?!\S): leave the last one for the next piece
            # else: the run reaches the end, or a single whitespace char (\s+)
        pieces.append(text[i:j])
        i = j
    return pieces


def pretokenize(text):
    """HF Sequence[Digits(individual_digits=true), ByteLevel(use_regex=true)]: every
    number character (category N*) is isolated first, then the GPT-2 pattern splits the
    rest, so " 2024" becomes " ", "2", "0", "2", "4"."""
    pieces = []
    start = 0
    for k, c in enumerate(text):
        if is_number(c):
            if start < k:
                pieces.extend(gpt2_split(text[start:k]))
            pieces.append(c)
            start = k + 1
    if start < len(text):
        pieces.extend(gpt2_split(text[start:]))
    return pieces


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character map."""
    bs = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
          + list(range(ord("®"), ord("ÿ") + 1)))
    cs = list(bs)
    k = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + k)
            k += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


class Tokenizer:
    """Byte-level BPE from tokenizer.ggml.tokens / merges (rank = merge index).

    Written from the GPT-2 scheme and HF SmolLM2's tokenizer.json settings. When it was
    written its ids were compared once with HF `tokenizers` configured the same way
    (BPE from these tokens and merges; Digits(individual_digits) + ByteLevel(use_regex);
    the 17 control tokens as special added tokens) on the fixture texts and 20,000 random
    strings of spaces, tabs, newlines, U+3000/U+00A0, apostrophes, digits, ½²٣, accents,
    CJK, emoji and control tokens: all equal. That comparison is not part of this file,
    which needs only NumPy.
    """

    CONTROL = 3  # llama.cpp token type: control (special) token

    def __init__(self, gguf):
        m = gguf.meta
        self.tokens = m["tokenizer.ggml.tokens"]
        self.types = m["tokenizer.ggml.token_type"]
        self.vocab = {t: i for i, t in enumerate(self.tokens)}
        self.ranks = {}
        for r, line in enumerate(m["tokenizer.ggml.merges"]):
            a, b = line.split(" ")
            self.ranks[(a, b)] = r
        self.specials = sorted((t for t, ty in zip(self.tokens, self.types) if ty == self.CONTROL),
                               key=len, reverse=True)
        self.byte_enc = bytes_to_unicode()
        self.byte_dec = {c: b for b, c in self.byte_enc.items()}
        self.cache = {}

    def bpe(self, piece):
        if piece in self.cache:
            return self.cache[piece]
        syms = [self.byte_enc[b] for b in piece.encode("utf-8")]
        while len(syms) > 1:
            best, at = None, -1
            for k in range(len(syms) - 1):
                r = self.ranks.get((syms[k], syms[k + 1]))
                if r is not None and (best is None or r < best):
                    best, at = r, k
            if best is None:
                break
            syms[at:at + 2] = [syms[at] + syms[at + 1]]
        ids = [self.vocab[s] for s in syms]
        self.cache[piece] = ids
        return ids

    def encode(self, text):
        """Control tokens matched literally (longest first, left to right), the text
        between them pre-tokenised and BPE-merged. No BOS."""
        ids = []
        i, start = 0, 0
        while i < len(text):
            hit = next((s for s in self.specials if text.startswith(s, i)), None)
            if hit is None:
                i += 1
                continue
            ids.extend(self._encode_plain(text[start:i]))
            ids.append(self.vocab[hit])
            i += len(hit)
            start = i
        ids.extend(self._encode_plain(text[start:]))
        return ids

    def _encode_plain(self, text):
        out = []
        for p in pretokenize(text):
            out.extend(self.bpe(p))
        return out

    def decode(self, ids):
        out = bytearray()
        for i in ids:
            t = self.tokens[i]
            if self.types[i] == self.CONTROL:
                out += t.encode("utf-8")
            else:
                out += bytes(self.byte_dec[c] for c in t)
        return out.decode("utf-8", errors="replace")


# --------------------------------------------------------------------------------------
# Chat template (ChatML, as the template in the file renders it)
# --------------------------------------------------------------------------------------

DEFAULT_SYSTEM = "You are a helpful AI assistant named SmolLM, trained by Hugging Face"


def render_chat(messages, add_generation_prompt=True):
    text = ""
    if not messages or messages[0]["role"] != "system":
        text += "<|im_start|>system\n" + DEFAULT_SYSTEM + "<|im_end|>\n"
    for msg in messages:
        text += "<|im_start|>" + msg["role"] + "\n" + msg["content"] + "<|im_end|>\n"
    if add_generation_prompt:
        text += "<|im_start|>assistant\n"
    return text


# --------------------------------------------------------------------------------------
# Llama forward pass, float64, whole sequence each call
# --------------------------------------------------------------------------------------

def rmsnorm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


class Llama:
    def __init__(self, gguf):
        m = gguf.meta
        self.n_layer = int(m["llama.block_count"])
        self.n_embd = int(m["llama.embedding_length"])
        self.n_head = int(m["llama.attention.head_count"])
        self.n_head_kv = int(m["llama.attention.head_count_kv"])
        self.head_dim = self.n_embd // self.n_head
        self.eps = float(m["llama.attention.layer_norm_rms_epsilon"])
        self.base = float(m["llama.rope.freq_base"])
        f = lambda name: gguf.tensor(name).astype(np.float64)  # noqa: E731
        self.embd = f("token_embd.weight")
        self.out = f("output.weight") if "output.weight" in gguf.tensors else self.embd
        self.out_norm = f("output_norm.weight")
        self.layers = []
        for i in range(self.n_layer):
            p = f"blk.{i}."
            self.layers.append({k: f(p + k + ".weight") for k in (
                "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                "ffn_norm", "ffn_gate", "ffn_up", "ffn_down")})

    def rope(self, x, mode):
        """x: (n_heads, seq, head_dim), rotated by position.

        "normal" (ggml's default, used for llama GGUF files): pairs (x[2i], x[2i+1]).
        "neox" (HF's rotate_half): pairs (x[i], x[i + head_dim/2]).
        Both use theta_i = pos * base^(-2i/head_dim)."""
        d = self.head_dim
        seq = x.shape[1]
        inv = self.base ** (-np.arange(0, d, 2, dtype=np.float64) / d)
        ang = np.arange(seq, dtype=np.float64)[:, None] * inv[None, :]
        cos, sin = np.cos(ang), np.sin(ang)
        if mode == "normal":
            a, b = x[..., 0::2], x[..., 1::2]
        else:
            a, b = x[..., :d // 2], x[..., d // 2:]
        ra = a * cos - b * sin
        rb = a * sin + b * cos
        out = np.empty_like(x)
        if mode == "normal":
            out[..., 0::2], out[..., 1::2] = ra, rb
        else:
            out[..., :d // 2], out[..., d // 2:] = ra, rb
        return out

    def hidden(self, ids, rope="normal"):
        """Final normed hidden states, (seq, n_embd)."""
        x = self.embd[np.asarray(ids)]
        seq, hd = len(ids), self.head_dim
        mask = np.triu(np.full((seq, seq), -np.inf), k=1)
        group = self.n_head // self.n_head_kv
        for L in self.layers:
            h = rmsnorm(x, L["attn_norm"], self.eps)
            q = (h @ L["attn_q"].T).reshape(seq, self.n_head, hd).transpose(1, 0, 2)
            k = (h @ L["attn_k"].T).reshape(seq, self.n_head_kv, hd).transpose(1, 0, 2)
            v = (h @ L["attn_v"].T).reshape(seq, self.n_head_kv, hd).transpose(1, 0, 2)
            q, k = self.rope(q, rope), self.rope(k, rope)
            k = np.repeat(k, group, axis=0)  # query head i uses KV head i // group
            v = np.repeat(v, group, axis=0)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(hd) + mask
            s = np.exp(s - s.max(-1, keepdims=True))
            s /= s.sum(-1, keepdims=True)
            a = (s @ v).transpose(1, 0, 2).reshape(seq, self.n_embd)
            x = x + a @ L["attn_output"].T
            h = rmsnorm(x, L["ffn_norm"], self.eps)
            x = x + (silu(h @ L["ffn_gate"].T) * (h @ L["ffn_up"].T)) @ L["ffn_down"].T
        return rmsnorm(x, self.out_norm, self.eps)

    def logits(self, ids, rope="normal", last_only=False):
        h = self.hidden(ids, rope)
        if last_only:
            h = h[-1:]
        return h @ self.out.T


def logsumexp(v):
    m = v.max()
    return float(m + np.log(np.exp(v - m).sum()))


# --------------------------------------------------------------------------------------
# Fixture cases
# --------------------------------------------------------------------------------------

ROPE_PARAGRAPH = (
    "The old lighthouse stood at the edge of the cliff for more than a hundred years. "
    "Every night, the keeper climbed the narrow stairs to light the lamp, so that ships "
    "passing through the storm could find their way safely into the harbor. When the "
    "keeper grew old, his daughter took over the work."
)

LONG_TEXT = (
    "Product: UltraLight Trail Runner 3.0 (men's, size 10½) — now only $129.99! "
    "It's waterproof, breathable & built for 42 km ultras.\n\n"
    "    Features:\n\t- Vibram® sole\n\t- 3-layer mesh  (recycled)\n"
    "Café owners in São Paulo say: \"we'll stock 1,000 pairs by 2025-06-01\"... "
    "中文描述：轻便防水越野跑鞋。日本語：軽量で防水のトレイルランニングシューズ。 "
    "한국어: 가벼운 방수 트레일 러닝화 🏃‍♀️🌲 "
) * 7

TOKENIZE_TEXTS = [
    "Hello world! This is a simple English sentence.",
    "   leading spaces",
    "trailing spaces   ",
    "multiple    spaces   between  words",
    "line one\nline two\n\nline four\ttabbed\t\tend",
    " \n \t\n  x",
    "don't we'll I'm they're you've she'd it's",
    "DON'T WE'LL 'quoted' rock'n'roll",
    "Price 12345.67 USD, 3x faster, ²³ ½ Ⅻ ٣",
    "!!!...??? ---- (a) [b] {c} @#$%^&*",
    "Café naïve résumé",
    "Straße Größe Übergang",
    "我喜欢户外运动",
    "日本語のテキスト、カタカナとひらがな。",
    "🎉👍🏽 party time 🚀",
    "bell\u0007 char\u0000 nul",
    "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|><|im_end|><|endoftext|>text<|im_end|",
    "",
    " ",
    "\u3000ideographic\u00a0nbsp\u2003em",
    LONG_TEXT,
]

DECODE_TEXTS = [
    "Hello world! This is a simple English sentence.",
    "Café naïve résumé 我喜欢户外运动 🎉👍🏽",
    "<|im_start|>user\nHi<|im_end|>\n",
    "   spaces\tand\nnewlines  ",
]

CHAT_CASES = [
    [{"role": "system", "content": "You are a concise copywriter."},
     {"role": "user", "content": "Write a tagline for a coffee shop."}],
    [{"role": "user", "content": "What is the capital of France?"}],
]

LOGIT_PROMPTS = [
    ("text", "The capital of France is the city of"),
    ("chat", [{"role": "user", "content": "Name three colors of the rainbow."}]),
    ("text", "Apple iPhone 15 Pro Max 256GB, Titanium Blue"),
]

GREEDY_CASES = [
    [{"role": "user", "content":
      "Write one short ad headline for: Trail running shoes, waterproof. Angle: adventure."}],
    [{"role": "user", "content":
      "Write one short ad headline for: Organic green tea, 100 bags. Angle: calm mornings."}],
]

PROBE_WORDS = [" the", ".", ",", " and", "\n", "The", " to", "<|im_end|>"]


def rope_check(model, tok):
    """Mean next-token NLL of a natural paragraph under both RoPE pairings: the pairing
    the file's q/k weights were permuted for gives a clearly lower value."""
    ids = tok.encode(ROPE_PARAGRAPH)
    res = {"text": ROPE_PARAGRAPH, "n_tokens": len(ids)}
    for mode in ("normal", "neox"):
        lg = model.logits(ids, rope=mode)[:-1]
        lse = np.array([logsumexp(r) for r in lg])
        nll = lse - lg[np.arange(len(ids) - 1), ids[1:]]
        res[f"nll_{mode}"] = float(nll.mean())
    res["chosen"] = "normal" if res["nll_normal"] < res["nll_neox"] else "neox"
    if abs(res["nll_normal"] - res["nll_neox"]) < 1.0:
        raise SystemExit(f"rope check inconclusive: {res}")
    return res


def facts(g, tok):
    m = g.meta
    types = {}
    for t in g.tensors.values():
        name = GGML_TYPES.get(t["type"], (str(t["type"]),))[0]
        types[name] = types.get(name, 0) + 1
    keys = ["general.architecture", "llama.block_count", "llama.embedding_length",
            "llama.feed_forward_length", "llama.attention.head_count",
            "llama.attention.head_count_kv", "llama.rope.freq_base",
            "llama.attention.layer_norm_rms_epsilon", "llama.context_length",
            "llama.vocab_size", "llama.rope.dimension_count", "general.file_type",
            "tokenizer.ggml.model", "tokenizer.ggml.pre",
            "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
            "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id",
            "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token"]
    out = {"gguf_version": g.version, "tensor_count": len(g.tensors)}
    for k in keys:
        out[k] = m.get(k)
    out["vocab_size"] = len(tok.tokens)
    out["merges"] = len(m["tokenizer.ggml.merges"])
    out["control_tokens"] = [[tok.vocab[s], s] for s in sorted(tok.specials, key=tok.vocab.get)]
    out["token_type_counts"] = {str(k): int(v) for k, v in
                                zip(*np.unique(np.array(tok.types), return_counts=True))}
    out["has_output_weight"] = "output.weight" in g.tensors
    out["tensor_types"] = dict(sorted(types.items()))
    out["token_embd_dims"] = g.tensors["token_embd.weight"]["dims"]
    out["chat_template"] = m.get("tokenizer.chat_template")
    return out


DEQUANT_CASES = [("token_embd.weight", 1), ("token_embd.weight", 49151),
                 ("blk.0.attn_q.weight", 0), ("blk.0.attn_q.weight", 575),
                 ("blk.29.ffn_down.weight", 575), ("blk.0.attn_norm.weight", 0)]


def dequant_cases(g):
    out = []
    for name, row in DEQUANT_CASES:
        a = g.tensor(name)
        r = a if a.ndim == 1 else a[row]
        out.append({"tensor": name, "type": g.type_name(name), "row": row,
                    "first": [float(v) for v in r[:40]],
                    "row_sum": float(r.astype(np.float64).sum())})
    return out


def logit_positions(lg, probe):
    n = lg.shape[0]
    out = []
    for p in sorted(set(list(range(min(8, n))) + [n - 1])):
        row = lg[p]
        top = np.argsort(-row, kind="stable")[:10]
        out.append({"pos": p, "top": [[int(i), float(row[i])] for i in top],
                    "probe": [float(row[i]) for i in probe],
                    "logsumexp": logsumexp(row), "argmax": int(np.argmax(row))})
    return out


def greedy(model, tok, messages, n_new=24, stop=2):
    ids = tok.encode(render_chat(messages))
    seq = list(ids)
    new, margin = [], math.inf
    for _ in range(n_new):
        row = model.logits(seq, last_only=True)[0]
        top2 = np.argsort(-row, kind="stable")[:2]
        margin = min(margin, float(row[top2[0]] - row[top2[1]]))
        nxt = int(top2[0])
        new.append(nxt)
        seq.append(nxt)
        if nxt == stop:
            break
    stopped = bool(new) and new[-1] == stop
    return {"messages": messages, "prompt_ids": ids, "new_ids": new,
            "text": tok.decode(new[:-1] if stopped else new), "stopped": stopped,
            "min_margin": margin}


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def build(path, log):
    t0 = time.time()
    if not os.path.exists(path):
        raise SystemExit(f"{path}: no such file (pass --gguf PATH to the Q4_1 GGUF)")
    digest = sha256_file(path)
    if digest != EXPECTED_SHA256:
        raise SystemExit(f"{path}: sha256 {digest}, expected {EXPECTED_SHA256}")
    g = GGUF(path)
    tok = Tokenizer(g)
    f = facts(g, tok)
    log(f"read {path} ({time.time() - t0:.1f} s)")

    model = Llama(g)
    log(f"dequantised {len(g.tensors)} tensors ({time.time() - t0:.1f} s)")
    f["rope_check"] = rope_check(model, tok)
    rope = f["rope_check"]["chosen"]
    assert rope == "normal", "this reference's forward uses ggml's normal RoPE"
    log(f"rope check: {f['rope_check']} ({time.time() - t0:.1f} s)")

    probe = list(range(0, 49152, 2048))
    for w in PROBE_WORDS:
        ids = tok.encode(w)
        assert len(ids) == 1, (w, ids)
        probe.append(ids[0])
    assert len(probe) == 32 and len(set(probe)) == 32

    logits = []
    for kind, prompt in LOGIT_PROMPTS:
        text = render_chat(prompt) if kind == "chat" else prompt
        ids = tok.encode(text)
        entry = {"text": text, "ids": ids}
        if kind == "chat":
            entry = {"messages": prompt, **entry}
        entry["positions"] = logit_positions(model.logits(ids), probe)
        logits.append(entry)
    log(f"logits ({time.time() - t0:.1f} s)")

    greedy_out = [greedy(model, tok, msgs) for msgs in GREEDY_CASES]
    for gr in greedy_out:
        log(f"greedy: {gr['text']!r} min_margin {gr['min_margin']:.4f}")
    log(f"greedy ({time.time() - t0:.1f} s)")

    return {
        "_comment": "Written by tests/reference/smollm2_numpy.py (NumPy float64 reference). "
                    "Do not edit.",
        "reference": "tests/reference/smollm2_numpy.py",
        "model": {"file": "SmolLM2-135M-Instruct.Q4_1.gguf", "sha256": digest},
        "facts": f,
        "dequant": dequant_cases(g),
        "tokenize": [{"text": t, "ids": tok.encode(t)} for t in TOKENIZE_TEXTS],
        "decode": [{"ids": tok.encode(t), "text": tok.decode(tok.encode(t))}
                   for t in DECODE_TEXTS],
        "chat": [{"messages": msgs, "add_generation_prompt": True, "text": render_chat(msgs),
                  "ids": tok.encode(render_chat(msgs))} for msgs in CHAT_CASES],
        "tolerance": {"logits_abs": 0.002},
        "probe_ids": probe,
        "logits": logits,
        "greedy": greedy_out,
    }


def compare(a, b, path="$", bad=None):
    """Ids, strings, booleans and integers exactly; floats to 1e-9 relative."""
    if bad is None:
        bad = []
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            bad.append(f"{path}: committed keys {list(a)}, recomputed {list(b)}")
        for k in a:
            if k in b:
                compare(a[k], b[k], f"{path}.{k}", bad)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            bad.append(f"{path}: committed length {len(a)}, recomputed {len(b)}")
        for i, (x, y) in enumerate(zip(a, b)):
            compare(x, y, f"{path}[{i}]", bad)
    elif isinstance(a, float) or isinstance(b, float):
        if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
            bad.append(f"{path}: committed {a!r}, recomputed {b!r}")
        elif not abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0):
            bad.append(f"{path}: committed {a!r}, recomputed {b!r}")
    elif type(a) is not type(b) or a != b:
        bad.append(f"{path}: committed {a!r}, recomputed {b!r}")
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gguf", default=DEFAULT_GGUF, help="the SmolLM2-135M-Instruct Q4_1 GGUF")
    ap.add_argument("--out", default=DEFAULT_OUT, help="fixture to write (or check)")
    ap.add_argument("--check", action="store_true",
                    help="recompute and fail if the committed fixture differs")
    args = ap.parse_args()
    log = lambda s: print(s, file=sys.stderr, flush=True)  # noqa: E731
    fixture = build(args.gguf, log)
    # Round-trip through JSON so the comparison sees exactly what a file would hold.
    fixture = json.loads(json.dumps(fixture))
    if args.check:
        if not os.path.exists(args.out):
            sys.exit(f"{args.out}: no committed fixture to check against")
        with open(args.out) as f:
            committed = json.load(f)
        bad = compare(committed, fixture)
        if bad:
            shown = "\n  ".join(bad[:40]) + (f"\n  ... {len(bad) - 40} more" if len(bad) > 40 else "")
            sys.exit(f"{args.out}: golden fixture is not reproducible from the reference "
                     f"({len(bad)} differences):\n  {shown}")
        print(f"reference check: {args.out} matches")
        return
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(fixture, f, ensure_ascii=False, indent=1)
        f.write("\n")
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes)")


if __name__ == "__main__":
    main()
