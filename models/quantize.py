#!/usr/bin/env python3
"""Quantize an encoder's float32 weights into the crate's int8 (or fp16) format.

    .cache/venv/bin/python models/quantize.py IN.safetensors OUT.safetensors [--scheme int8|fp16] [--int4 NAME,...]

int8: every 2-D tensor (linear weights `[out, in]`, embedding tables `[rows, hidden]`)
becomes `NAME` (I8, same shape) plus `NAME.scale` (F32, one per row: per output channel
for a linear, per token for an embedding table), symmetric:
`scale = max|row| / 127`, `q = round(w / scale)` in [-127, 127]; the loader
(`src/weights.rs`) and the NumPy reference read `q * scale`. A row of zeros gets
scale 0. Vectors (biases, LayerNorm) stay float32: they are a rounding error in size and
the most sensitive to error. fp16: every 2-D tensor stored as F16 instead.

The output is byte-for-byte deterministic (sorted names, own safetensors writer, NumPy's
round-half-to-even), so its SHA-256 can be committed in a manifest.

int4 (`--int4 NAME,...`, with int8): the named matrices instead get codes in [-7, 7]
with `scale = max|row| / 7`, packed two a byte (low nibble first, two's complement; an
odd last column pads with 0) as U8 `[rows, ceil(cols / 2)]`, plus the same F32
`NAME.scale`. `privrank distill` stores the student's word-embedding table this way;
this script is the independent check of its writer (tests/model_files.rs).
"""

import argparse
import json
import os
import struct
import sys

import numpy as np
from safetensors.numpy import load_file

DTYPE = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int8"): "I8",
         np.dtype("uint8"): "U8"}


def symmetric(w, levels):
    """Per-row codes in [-levels, levels] and float32 scales."""
    peak = np.abs(w).max(axis=1)
    scale = (peak / np.float32(levels)).astype(np.float32)
    safe = np.where(scale > 0, scale, 1.0).astype(np.float32)
    q = np.clip(np.rint(w / safe[:, None]), -levels, levels).astype(np.int8)
    return q, scale


def pack_int4(q):
    """[rows, cols] int8 codes in [-7, 7] → [rows, ceil(cols/2)] bytes, low nibble first."""
    if q.shape[1] % 2:
        q = np.concatenate([q, np.zeros((q.shape[0], 1), dtype=np.int8)], axis=1)
    nibbles = (q.astype(np.int16) & 0x0F).astype(np.uint8)
    return (nibbles[:, 0::2] | (nibbles[:, 1::2] << 4)).astype(np.uint8)


def quantize(tensors, scheme, int4=()):
    out = {}
    missing = set(int4) - set(tensors)
    if missing:
        raise SystemExit(f"quantize: --int4 names no tensor {sorted(missing)}")
    for name, w in tensors.items():
        if w.dtype != np.float32:
            raise SystemExit(f"quantize: {name} is {w.dtype}, expected float32 input")
        if w.ndim != 2:
            out[name] = w
        elif scheme == "fp16":
            if np.abs(w).max() > np.finfo(np.float16).max:
                raise SystemExit(f"quantize: {name} overflows float16")
            out[name] = w.astype(np.float16)
        elif name in int4:
            q, scale = symmetric(w, 7)
            out[name] = pack_int4(q)
            out[name + ".scale"] = scale
        else:
            q, scale = symmetric(w, 127)
            out[name] = q
            out[name + ".scale"] = scale
    return out


def safetensors_bytes(tensors):
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name])
        a = a.astype(a.dtype.newbyteorder("<"), copy=False)
        header[name] = {"dtype": DTYPE[a.dtype], "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        blobs.append(a.tobytes())
        offset += a.nbytes
    h = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--scheme", choices=["int8", "fp16"], default="int8")
    ap.add_argument("--int4", default="", help="comma-separated matrices to store as int4 (with int8)")
    args = ap.parse_args()
    int4 = [n for n in args.int4.split(",") if n]
    if int4 and args.scheme != "int8":
        raise SystemExit("quantize: --int4 goes with --scheme int8")
    data = safetensors_bytes(quantize(load_file(args.input), args.scheme, int4))
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.output)
    print(f"quantize: {args.output}: {len(data)} bytes ({args.scheme})", file=sys.stderr)


if __name__ == "__main__":
    main()
