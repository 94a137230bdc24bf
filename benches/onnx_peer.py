#!/usr/bin/env python3
"""onnxruntime as the peer of the native encoder benchmark: warm sentence-embedding
latency per batch on real MovieLens titles. Prints one JSON object to stdout.

    .cache/venv/bin/python benches/onnx_peer.py [--model models/paraphrase-minilm-l3-v2.json]
        [--threads N] [--n 200] [--batch-sizes 1,16,64] [--text title|item]

The work per batch is what an embedding call does: tokenize (HF `tokenizers`, the
model's tokenizer.json, truncated to the manifest's max_tokens, padded to the longest
text in the batch), run the ONNX graph on the CPU, mean-pool over the attention mask
(the export's own pooling output; pooled here if a graph has none) and L2-normalise
when the manifest says `normalize`. `total` times all of it, `model` only the
onnxruntime call.

Texts: the first N items of the fetched ml-100k.item (RecBole's atomic format: a
header, tab-separated, UTF-8; the title is column 2 without the year). `--text item`
uses the text privrank itself embeds for an item instead: "Title (year). Genre, Genre".
Each batch size gets `--warmup` untimed batches, then max(`--iters`, enough batches
to cover all N texts once) timed ones; every batch is full, cycling through the texts.
"""

import argparse
import json
import math
import os
import platform
import sys
import time

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CACHE = os.environ.get("PRIVRANK_CACHE", os.path.join(ROOT, ".cache"))
DEFAULT = os.path.join(ROOT, "models", "paraphrase-minilm-l3-v2.json")


def movielens_texts(n, kind):
    path = os.path.join(CACHE, "data", "ml-100k", "ml-100k.item")
    if not os.path.isfile(path):
        sys.exit(f"onnx_peer: {path} is missing: run scripts/setup")
    texts = []
    with open(path, encoding="utf-8") as f:
        header = [h.split(":")[0] for h in f.readline().rstrip("\n").split("\t")]
        col = {h: i for i, h in enumerate(header)}
        for line in f:
            row = line.rstrip("\n").split("\t")
            title = row[col["movie_title"]].strip()
            if kind == "item":  # as src/data/movielens.rs Item::text
                year = row[col["release_year"]].strip()
                if year.isdigit():
                    title = f"{title} ({year})"
                genres = ", ".join(row[col["class"]].split())
                title = f"{title}. {genres}" if genres else title
            texts.append(title)
            if len(texts) == n:
                break
    if len(texts) < n:
        sys.exit(f"onnx_peer: {path} has only {len(texts)} items, asked for {n}")
    return texts


def load_manifest(path):
    with open(path) as f:
        return json.load(f)


def model_file(manifest, name):
    """A file of the model's, in the set-up cache."""
    return os.path.join(CACHE, "models", manifest["name"], name)


def tokenizer(manifest):
    """The model's tokenizer with the manifest's truncation, padding to the longest in
    the batch."""
    tok = Tokenizer.from_file(model_file(manifest, manifest["files"]["tokenizer"]["name"]))
    tok.enable_truncation(manifest["max_tokens"])
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


class Peer:
    def __init__(self, manifest_path, onnx_path, threads):
        self.manifest = m = load_manifest(manifest_path)
        if onnx_path is None:
            onnx_path = model_file(m, m["source"]["convert"]["input"]["name"])
        self.onnx_path = onnx_path
        self.tok = tokenizer(m)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        opts.log_severity_level = 3
        self.sess = ort.InferenceSession(onnx_path, opts, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.sess.get_inputs()}
        outs = self.sess.get_outputs()
        pooled = [o for o in outs if o.type == "tensor(float)" and len(o.shape) == 2]
        tokens = [o for o in outs if o.type == "tensor(float)" and len(o.shape) == 3]
        if pooled:
            self.output, self.pool_here = pooled[0].name, False
        elif tokens:
            self.output, self.pool_here = tokens[0].name, True
        else:
            sys.exit(f"onnx_peer: {onnx_path} has no float [batch, hidden] or [batch, seq, hidden] output")

    def embed(self, texts, timings=None):
        t0 = time.perf_counter()
        enc = self.tok.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask,
                 "token_type_ids": np.zeros_like(ids)}
        feeds = {k: v for k, v in feeds.items() if k in self.inputs}
        t1 = time.perf_counter()
        (out,) = self.sess.run([self.output], feeds)
        t2 = time.perf_counter()
        if self.pool_here:
            w = mask[:, :, None].astype(np.float32)
            out = (out * w).sum(1) / np.maximum(w.sum(1), 1e-9)
        if self.manifest["normalize"]:
            out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        t3 = time.perf_counter()
        if timings is not None:
            timings["total"].append(t3 - t0)
            timings["model"].append(t2 - t1)
            timings["seq"].append(ids.shape[1])
        return out


def model_mflop(manifest, tok, texts):
    """The model's arithmetic for one text, averaged over `texts`, in MFLOP: the
    matrix products of every layer (Q, K, V, output, both feed-forward matrices, and
    attention's scores and weighted sum) on the text's own tokens, no padding. The same
    count for any library, so that batch x this / latency is its sustained rate.
    Also the texts' mean length in tokens."""
    c = load_manifest(model_file(manifest, manifest["files"]["config"]["name"]))
    h, ff, layers = c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"]
    lengths = [sum(e.attention_mask) for e in tok.encode_batch(texts)]
    per_text = [layers * (n * (8 * h * h + 4 * h * ff) + 4 * n * n * h) for n in lengths]
    return round(float(np.mean(per_text)) / 1e6, 2), round(float(np.mean(lengths)), 2)


def stats(seconds, batch):
    ms = np.array(seconds) * 1e3
    return {"min_ms": round(float(ms.min()), 3), "p50_ms": round(float(np.percentile(ms, 50)), 3),
            "p95_ms": round(float(np.percentile(ms, 95)), 3), "mean_ms": round(float(ms.mean()), 3),
            "texts_per_s": round(batch / (float(ms.mean()) / 1e3), 1)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT, help="model manifest with source.convert (the ONNX input)")
    ap.add_argument("--onnx", help="ONNX file (default: the manifest's conversion input in .cache)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="onnxruntime intra-op threads (default: all cores, %(default)s)")
    ap.add_argument("--n", type=int, default=200, help="MovieLens texts (default %(default)s)")
    ap.add_argument("--batch-sizes", default="1,16,64")
    ap.add_argument("--text", choices=["title", "item"], default="title",
                    help="title: column 2 as is; item: 'Title (year). Genres' as privrank embeds it")
    ap.add_argument("--warmup", type=int, default=5, help="untimed batches per batch size")
    ap.add_argument("--iters", type=int, default=20, help="at least this many timed batches per batch size")
    ap.add_argument("--flops", action="store_true",
                    help="print only the model's MFLOP per text and the texts' mean length")
    args = ap.parse_args()

    texts = movielens_texts(args.n, args.text)
    if args.flops:
        manifest = load_manifest(args.model)
        mflop, mean_len = model_mflop(manifest, tokenizer(manifest), texts)
        print(json.dumps({"model": manifest["name"], "model_mflop_per_text": mflop, "mean_tokens": mean_len}))
        return
    t0 = time.perf_counter()
    peer = Peer(args.model, args.onnx, args.threads)
    load_s = time.perf_counter() - t0
    results = []
    for bs in (int(b) for b in args.batch_sizes.split(",")):
        # Every batch full: batch i is texts i·bs .. i·bs+bs-1, wrapping round.
        def batch(i):
            return [texts[(i * bs + j) % len(texts)] for j in range(bs)]
        for i in range(args.warmup):
            peer.embed(batch(i))
        iters = max(args.iters, math.ceil(len(texts) / bs))
        t = {"total": [], "model": [], "seq": []}
        for i in range(iters):
            peer.embed(batch(i), t)
        results.append({"batch_size": bs, "iterations": iters, "mean_padded_len": round(float(np.mean(t["seq"])), 1),
                        "total": stats(t["total"], bs), "model": stats(t["model"], bs)})
    dim = int(peer.embed(texts[:1]).shape[1])
    mflop, mean_len = model_mflop(peer.manifest, peer.tok, texts)
    print(json.dumps({
        "bench": "onnx_peer",
        "model": peer.manifest["name"],
        "onnx": os.path.relpath(peer.onnx_path, ROOT),
        "onnxruntime": ort.__version__,
        "provider": "CPUExecutionProvider",
        "intra_op_threads": args.threads,
        "cpu_count": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "texts": {"source": "ml-100k.item", "kind": args.text, "n": len(texts), "mean_tokens": mean_len},
        "model_mflop_per_text": mflop,
        "max_tokens": peer.manifest["max_tokens"],
        "pooling": "mean (in graph)" if not peer.pool_here else "mean (numpy)",
        "normalize": peer.manifest["normalize"],
        "dim": dim,
        "session_load_s": round(load_s, 3),
        "warmup_batches": args.warmup,
        "results": results,
    }, indent=1))


if __name__ == "__main__":
    main()
