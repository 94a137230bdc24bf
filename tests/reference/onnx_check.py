#!/usr/bin/env python3
"""Check a converted model against the ONNX export it was converted from.

    .cache/venv/bin/python tests/reference/onnx_check.py [--model models/paraphrase-minilm-l3-v2.json]

Two implementations that share nothing but the tokenizer: onnxruntime runs the
original ONNX graph (float32, its own pooling), the NumPy reference (bert_numpy.py,
float64) runs the safetensors + config.json that models/onnx_bert.py wrote. For every
golden input (make_golden.py's CASES), one text at a time and in make_golden's
padded BATCHES plus one batch of all cases, the sentence embeddings must agree to
`--tol` (max |diff|, absolute). A wrong name, a missing transpose, a wrong head count
or epsilon moves them by orders of magnitude more.

When the manifest borrows another model's tokenizer (`tokenizer_from`), the word
embedding tables are compared too: if both models index the same vocabulary, the
teacher row nearest to each of our rows is, nearly always, the one with the same id.
"""

import argparse
import json
import os
import sys

import numpy as np
import onnxruntime as ort
from safetensors.numpy import load_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_numpy import ROOT, Model  # noqa: E402
from make_golden import BATCHES, CASES  # noqa: E402

DEFAULT = os.path.join(ROOT, "models", "paraphrase-minilm-l3-v2.json")


def session(path, threads=0):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.log_severity_level = 3
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def sentence_output(sess):
    """Name of the graph's pooled output: the float [batch, hidden] one."""
    outs = [o for o in sess.get_outputs() if o.type == "tensor(float)" and len(o.shape) == 2]
    if len(outs) != 1:
        sys.exit(f"onnx_check: expected one float [batch, hidden] output, found {[o.name for o in outs]}")
    return outs[0].name


def run_onnx(sess, out_name, rows, normalize):
    """rows: token id lists → [len(rows), hidden], padded to the longest like the Rust side."""
    n = max(len(r) for r in rows)
    ids = np.zeros((len(rows), n), dtype=np.int64)
    mask = np.zeros((len(rows), n), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    feeds = {"input_ids": ids, "attention_mask": mask}
    feeds = {i.name: feeds[i.name] for i in sess.get_inputs()}
    (e,) = sess.run([out_name], feeds)
    if normalize:
        e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    return e.astype(np.float64)


def vocab_alignment(manifest, model_dir, samples=2000):
    """Fraction of sampled word-embedding rows whose nearest row in the tokenizer's
    owner model has the same id (ids above 1000: below are [unused] and specials)."""
    other = manifest["source"]["tokenizer_from"]
    cache = os.environ.get("PRIVRANK_CACHE", os.path.join(ROOT, ".cache"))
    with open(os.path.join(ROOT, "models", other + ".json")) as f:
        weights = json.load(f)["files"]["weights"]["name"]
    name = "embeddings.word_embeddings.weight"
    ours = load_file(os.path.join(model_dir, manifest["files"]["weights"]["name"]))[name].astype(np.float64)
    theirs = load_file(os.path.join(cache, "models", other, weights))
    theirs = theirs.get(name, theirs.get("bert." + name)).astype(np.float64)
    if ours.shape != theirs.shape:
        return other, 0.0, f"shapes differ: {ours.shape} vs {theirs.shape}"
    idx = np.sort(np.random.default_rng(0).choice(np.arange(1000, len(ours)), samples, replace=False))
    a = ours[idx] / np.linalg.norm(ours[idx], axis=1, keepdims=True)
    b = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)
    sim = a @ b.T
    same = float((sim.argmax(1) == idx).mean())
    return other, same, f"mean cosine same id {sim[np.arange(samples), idx].mean():.3f}, any id {sim.mean():.3f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=DEFAULT, help="manifest of a model with source.convert")
    ap.add_argument("--tol", type=float, default=1e-5, help="max |diff| allowed")
    args = ap.parse_args()
    ref = Model(args.model)
    m = ref.manifest
    convert = m["source"]["convert"]
    cache = os.environ.get("PRIVRANK_CACHE", os.path.join(ROOT, ".cache"))
    model_dir = os.path.join(cache, "models", m["name"])
    sess = session(os.path.join(model_dir, convert["input"]["name"]))
    out_name = sentence_output(sess)

    want = {}
    rows = {}
    for name, text in CASES:
        ids, e = ref.embed(text)
        want[name], rows[name] = e, ids
    groups = [[n] for n, _ in CASES] + BATCHES + [[n for n, _ in CASES]]
    worst, worst_at, worst_cos = 0.0, "", 1.0
    for group in groups:
        got = run_onnx(sess, out_name, [rows[n] for n in group], m["normalize"])
        for n, g in zip(group, got):
            w = want[n]
            diff = float(np.abs(g - w).max())
            cos = float(g @ w / (np.linalg.norm(g) * np.linalg.norm(w)))
            if diff > worst:
                worst, worst_at = diff, f"{n} (batch of {len(group)})"
            worst_cos = min(worst_cos, cos)
    scale = max(float(np.abs(e).max()) for e in want.values())
    report = {"model": m["name"], "onnx": convert["input"]["name"], "onnxruntime": ort.__version__,
              "inputs": len(CASES), "forward_passes": len(groups), "max_abs_diff": float(f"{worst:.3g}"),
              "at": worst_at, "min_cosine": float(f"{worst_cos:.9f}"), "max_abs_value": round(scale, 3)}
    ok = worst <= args.tol
    if "tokenizer_from" in m["source"]:
        other, same, detail = vocab_alignment(m, model_dir)
        report["vocab_alignment"] = {"with": other, "same_id_nearest": same, "detail": detail}
        ok = ok and same >= 0.95
    print(json.dumps(report, indent=1))
    if not ok:
        sys.exit(f"onnx_check: FAILED (tolerance {args.tol:g}; vocab alignment needs ≥ 0.95)")
    print(f"onnx_check: {m['name']}: ONNX graph and converted weights agree, max |diff| {worst:.3g}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
