#!/usr/bin/env python3
"""An independent NumPy implementation of the sentence-embedding forward pass.

It shares nothing with the Rust code but the model files: HF `tokenizers` for ids,
`safetensors.numpy` for weights, float64 NumPy for the maths. The golden fixture the
Rust tests check against is written from this file (see make_golden.py).

    python tests/reference/bert_numpy.py "A man is eating food." "A man is eating a piece of bread." --similarity
    python tests/reference/bert_numpy.py --model models/paraphrase-minilm-l3-v2.json "Toy Story (1995)"
    python tests/reference/bert_numpy.py --model models/student/student.json "Toy Story (1995)"
"""

import argparse
import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from hf_tokenize import load_tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_MANIFEST = os.path.join(ROOT, "models", "all-minilm-l6-v2.json")

_erf = np.frompyfunc(math.erf, 1, 1)


def gelu(x):
    """Exact (erf) GELU, as BERT's "gelu" activation."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def layer_norm(x, gamma, beta, eps):
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * gamma + beta


def softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def unpack_int4(packed, cols):
    """U8 [rows, ceil(cols/2)], two's-complement nibbles low first → int codes [rows, cols]."""
    low = (packed & 0x0F).astype(np.int16)
    high = (packed >> 4).astype(np.int16)
    both = np.stack([low, high], axis=2).reshape(packed.shape[0], -1)[:, :cols]
    return np.where(both >= 8, both - 16, both)


def dequantize(raw, config):
    """Float64 tensors from a weight file in any of the crate's formats: float32, fp16,
    int8 or U8-packed int4 with a per-row `NAME.scale` (models/quantize.py), read as
    q * scale[row]. An int4 matrix's width comes from the config, as in the loader."""
    quantized = {k for k, v in raw.items() if v.dtype in (np.int8, np.uint8)}
    w = {}
    for k, v in raw.items():
        if v.dtype == np.int8:
            w[k] = v.astype(np.float64) * raw[k + ".scale"].astype(np.float64)[:, None]
        elif v.dtype == np.uint8:
            cols = int4_width(k, config)
            w[k] = unpack_int4(v, cols).astype(np.float64) * raw[k + ".scale"].astype(np.float64)[:, None]
        elif v.dtype.kind == "f" and not (k.endswith(".scale") and k[:-6] in quantized):
            w[k] = v.astype(np.float64)
    return w


def int4_width(name, config):
    """Columns of an int4-stored matrix: only the word-embedding table is stored so."""
    if name.endswith("embeddings.word_embeddings.weight"):
        return config.get("embedding_size") or config["hidden_size"]
    raise SystemExit(f"bert_numpy: {name} is int4, which only the word-embedding table may be")


def default_model_dir(manifest_path):
    """As the crate's `config::default_model_dir`: a committed model sits in a folder
    named after its manifest (models/student/student.json), its files beside it; a
    fetched one is in the set-up script's cache."""
    folder = os.path.dirname(os.path.abspath(manifest_path))
    stem = os.path.splitext(os.path.basename(manifest_path))[0]
    if os.path.basename(folder) == stem:
        return folder
    cache = os.environ.get("PRIVRANK_CACHE", os.path.join(ROOT, ".cache"))
    return os.path.join(cache, "models", stem)


class Model:
    def __init__(self, manifest_path=DEFAULT_MANIFEST, model_dir=None):
        with open(manifest_path) as f:
            self.manifest = json.load(f)
        files = self.manifest["files"]
        if model_dir is None:
            model_dir = default_model_dir(manifest_path)
        with open(os.path.join(model_dir, files["config"]["name"])) as f:
            self.config = json.load(f)
        self.tokenizer = load_tokenizer(
            os.path.join(model_dir, files["tokenizer"]["name"]), self.manifest["max_tokens"]
        )
        raw = load_file(os.path.join(model_dir, files["weights"]["name"]))
        self.w = dequantize(raw, self.config)

    def p(self, name):
        # Some exports prefix every tensor with the architecture name.
        return self.w[name] if name in self.w else self.w["bert." + name]

    def ids(self, text):
        return self.tokenizer.encode(text).ids

    def embed(self, text):
        """Token ids and the mean-pooled sentence embedding of one text, L2-normalised
        when the manifest says `normalize`."""
        c = self.config
        eps = c["layer_norm_eps"]
        heads = c["num_attention_heads"]
        ids = np.array(self.ids(text), dtype=np.int64)
        n = len(ids)
        words = self.p("embeddings.word_embeddings.weight")[ids]
        if c.get("embedding_size") is not None:
            # A factorised vocabulary (the distilled student): narrow rows mapped up.
            words = (words @ self.p("embeddings.word_projection.weight").T
                     + self.p("embeddings.word_projection.bias"))
        x = (words
             + self.p("embeddings.position_embeddings.weight")[np.arange(n)]
             + self.p("embeddings.token_type_embeddings.weight")[np.zeros(n, dtype=np.int64)])
        x = layer_norm(x, self.p("embeddings.LayerNorm.weight"), self.p("embeddings.LayerNorm.bias"), eps)
        d = x.shape[1]
        dh = d // heads
        for i in range(c["num_hidden_layers"]):
            pre = f"encoder.layer.{i}."

            def lin(name, v):
                return v @ self.p(pre + name + ".weight").T + self.p(pre + name + ".bias")

            q = lin("attention.self.query", x).reshape(n, heads, dh).transpose(1, 0, 2)
            k = lin("attention.self.key", x).reshape(n, heads, dh).transpose(1, 0, 2)
            v = lin("attention.self.value", x).reshape(n, heads, dh).transpose(1, 0, 2)
            att = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(dh))
            ctx = (att @ v).transpose(1, 0, 2).reshape(n, d)
            x = layer_norm(lin("attention.output.dense", ctx) + x,
                           self.p(pre + "attention.output.LayerNorm.weight"),
                           self.p(pre + "attention.output.LayerNorm.bias"), eps)
            h = gelu(lin("intermediate.dense", x))
            x = layer_norm(lin("output.dense", h) + x,
                           self.p(pre + "output.LayerNorm.weight"),
                           self.p(pre + "output.LayerNorm.bias"), eps)
        pooled = x.mean(0)
        if self.manifest["normalize"]:
            pooled = pooled / max(np.linalg.norm(pooled), 1e-12)
        return ids.tolist(), pooled


def cosine(a, b):
    return float(np.dot(a, b) / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-24))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("texts", nargs="+")
    ap.add_argument("--model", default=DEFAULT_MANIFEST, help="model manifest (models/*.json)")
    ap.add_argument("--similarity", action="store_true", help="print the cosine matrix")
    args = ap.parse_args()
    model = Model(args.model)
    embs = [model.embed(t)[1] for t in args.texts]
    if args.similarity:
        json.dump([[round(cosine(a, b), 6) for b in embs] for a in embs], sys.stdout)
    else:
        json.dump([[float(v) for v in e] for e in embs], sys.stdout)
    print()


if __name__ == "__main__":
    main()
