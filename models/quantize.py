#!/usr/bin/env python3
"""Quantize an encoder's float32 weights into the crate's int8 (or fp16) format.

    .cache/venv/bin/python models/quantize.py IN.safetensors OUT.safetensors [--scheme int8|fp16]

int8: every 2-D tensor (linear weights `[out, in]`, embedding tables `[rows, hidden]`)
becomes `NAME` (I8, same shape) plus `NAME.scale` (F32, one per row: per output channel
for a linear, per token for an embedding table), symmetric:
`scale = max|row| / 127`, `q = round(w / scale)` in [-127, 127]; the loader
(`src/weights.rs`) and the NumPy reference read `q * scale`. A row of zeros gets
scale 0. Vectors (biases, LayerNorm) stay float32: they are a rounding error in size and
the most sensitive to error. fp16: every 2-D tensor stored as F16 instead.

The output is byte-for-byte deterministic (sorted names, own safetensors writer, NumPy's
round-half-to-even), so its SHA-256 can be committed in a manifest.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np
from safetensors.numpy import load_file

DTYPE = {np.dtype("float32"): "F32", np.dtype("float16"): "F16", np.dtype("int8"): "I8"}


def quantize(tensors, scheme):
    out = {}
    for name, w in tensors.items():
        if w.dtype != np.float32:
            raise SystemExit(f"quantize: {name} is {w.dtype}, expected float32 input")
        if w.ndim != 2:
            out[name] = w
        elif scheme == "fp16":
            if np.abs(w).max() > np.finfo(np.float16).max:
                raise SystemExit(f"quantize: {name} overflows float16")
            out[name] = w.astype(np.float16)
        else:
            peak = np.abs(w).max(axis=1)
            scale = (peak / 127.0).astype(np.float32)
            safe = np.where(scale > 0, scale, 1.0).astype(np.float32)
            q = np.clip(np.rint(w / safe[:, None]), -127, 127).astype(np.int8)
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
    args = ap.parse_args()
    data = safetensors_bytes(quantize(load_file(args.input), args.scheme))
    tmp = args.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, args.output)
    print(f"quantize: {args.output}: {len(data)} bytes ({args.scheme})", file=sys.stderr)


if __name__ == "__main__":
    main()
