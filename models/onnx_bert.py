#!/usr/bin/env python3
"""Convert a sentence-transformers BERT exported to ONNX into the files the encoder loads.

    .cache/venv/bin/python models/onnx_bert.py MODEL.onnx OUT_DIR [--normalize false]

Writes OUT_DIR/model.safetensors (float32, tensors named as Hugging Face `BertModel`
names them: `embeddings.word_embeddings.weight`, `encoder.layer.N.attention.self.query.weight`,
...; every linear weight `[out, in]` as in PyTorch) and OUT_DIR/config.json (the
`BertConfig` fields the Rust loader reads). Both are written byte-for-byte
deterministically (own safetensors writer, sorted JSON), so their SHA-256s can be
committed in the model's manifest.

Nothing is taken from initialiser names alone. torch.onnx names a Linear's weight
`onnx::MatMul_<n>` (it stores the transposed, `[in, out]` matrix), so each weight is
named by following the graph: the MatMul that reads it feeds an Add whose other input
is the Linear's named bias. The structure is checked as well: each block's
query/key/value read the same input, attention is split into the heads the Reshape
constants say, the activation is exact erf GELU, token types are all 0, positions are
0..n, and the graph's sentence output is an attention-masked mean with (or without,
as `--normalize` says) an L2 normalisation. A graph that does not match stops with
a message naming the node.
"""

import argparse
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import numpy_helper

PREFIXES = ("model.0.auto_model.", "0.auto_model.", "auto_model.", "bert.")


class BadGraph(Exception):
    pass


def require(cond, msg):
    if not cond:
        raise BadGraph(msg)


class Graph:
    def __init__(self, model):
        g = model.graph
        self.g = g
        self.init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        self.const = {}
        for n in g.node:
            if n.op_type == "Constant":
                for a in n.attribute:
                    if a.name == "value":
                        self.const[n.output[0]] = numpy_helper.to_array(a.t)
        self.producer = {o: n for n in g.node for o in n.output}
        self.consumers = {}
        for n in g.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)

    def value(self, name):
        """A static tensor: an initialiser or a Constant node's output, else None."""
        if name in self.init:
            return self.init[name]
        return self.const.get(name)

    def only_consumer(self, name, op):
        users = self.consumers.get(name, [])
        require(len(users) == 1 and users[0].op_type == op,
                f"{name} should feed exactly one {op}, feeds {[u.op_type for u in users]}")
        return users[0]

    def trace_to_static(self, name, through=("Expand", "Slice", "Cast", "Unsqueeze")):
        """Follow the first input of pass-through ops back to a static tensor."""
        while self.value(name) is None:
            node = self.producer.get(name)
            require(node is not None and node.op_type in through,
                    f"{name} is not a static tensor (made by {node.op_type if node else 'a graph input'})")
            name = node.input[0]
        return self.value(name)


def hf_name(name):
    for p in PREFIXES:
        if name.startswith(p):
            return name[len(p):]
    return name


def attr(node, name):
    for a in node.attribute:
        if a.name == name:
            return onnx.helper.get_attribute_value(a)
    return None


def linears(gr):
    """{hf linear name: (weight [out, in], bias [out], MatMul node)}, found via the graph."""
    out = {}
    for n in gr.g.node:
        if n.op_type != "MatMul" or n.input[1] not in gr.init:
            continue
        w = gr.init[n.input[1]]
        add = gr.only_consumer(n.output[0], "Add")
        others = [i for i in add.input if i != n.output[0]]
        require(len(others) == 1 and others[0] in gr.init,
                f"{add.name}: the Add after MatMul {n.name} has no bias initialiser")
        bias_name = others[0]
        require(bias_name.endswith(".bias"), f"{bias_name}: expected a Linear's bias")
        b = gr.init[bias_name]
        require(w.ndim == 2 and b.shape == (w.shape[1],),
                f"{n.input[1]} {w.shape} and {bias_name} {b.shape} do not form a Linear")
        name = hf_name(bias_name[: -len(".bias")])
        require(name not in out, f"{name} is used by two MatMuls")
        out[name] = (np.ascontiguousarray(w.T), b, n)
    return out


def check_attention(gr, lin, layer):
    """Q, K, V read one input; the heads come from the Reshape that splits Q."""
    p = f"encoder.layer.{layer}.attention.self."
    q, k, v = (lin[p + s][2] for s in ("query", "key", "value"))
    require(q.input[0] == k.input[0] == v.input[0],
            f"layer {layer}: query/key/value MatMuls read different inputs")
    add = gr.only_consumer(q.output[0], "Add")
    reshapes = [u for u in gr.consumers.get(add.output[0], []) if u.op_type == "Reshape"]
    require(len(reshapes) == 1, f"layer {layer}: query feeds {len(reshapes)} Reshapes, expected 1")
    reshape = reshapes[0]
    shape_src = gr.producer[reshape.input[1]]
    require(shape_src.op_type == "Concat", f"{reshape.name}: shape is not a Concat")
    dims = [gr.value(i) for i in shape_src.input]
    static = [int(np.asarray(d).reshape(-1)[0]) for d in dims if d is not None]
    require(len(static) == 2, f"{reshape.name}: expected [batch, seq, heads, head_dim], static {static}")
    heads, head_dim = static
    return heads, head_dim


def check_gelu(gr, lin, layer):
    """intermediate.dense → x/√2 → Erf → +1 → ·x → ·0.5 → output.dense (exact GELU)."""
    inter = lin[f"encoder.layer.{layer}.intermediate.dense"][2]
    out = lin[f"encoder.layer.{layer}.output.dense"][2]
    x = gr.only_consumer(inter.output[0], "Add").output[0]
    ops, seen, todo, reached = [], set(), [out.input[0]], False
    while todo:
        name = todo.pop()
        if name == x:
            reached = True
            continue
        if name in seen or gr.value(name) is not None:
            continue
        seen.add(name)
        node = gr.producer.get(name)
        require(node is not None and len(ops) < 8, f"layer {layer}: activation is not a short elementwise chain")
        ops.append(node.op_type)
        todo.extend(node.input)
    require(reached and sorted(ops) in (sorted(["Div", "Erf", "Add", "Mul", "Mul"]),
                                        sorted(["Mul", "Erf", "Add", "Mul", "Mul"])),
            f"layer {layer}: activation is not erf GELU (ops {ops})")
    return "gelu"


def check_embeddings(gr):
    """Gathers from the three tables: ids, all-zero token types, positions 0..n."""
    found = {}
    for n in gr.g.node:
        if n.op_type == "Gather" and n.input[0] in gr.init:
            found[hf_name(n.input[0])] = n
    for t in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        require(f"embeddings.{t}.weight" in found, f"no Gather reads embeddings.{t}.weight")
    require(found["embeddings.word_embeddings.weight"].input[1] == "input_ids",
            "word embeddings are not indexed by input_ids")
    types = gr.trace_to_static(found["embeddings.token_type_embeddings.weight"].input[1])
    require(not np.any(types), "token type ids are not all 0")
    pos = gr.trace_to_static(found["embeddings.position_embeddings.weight"].input[1]).reshape(-1)
    require(np.array_equal(pos, np.arange(pos.size)), "position ids are not 0..n")


def check_pooling(gr, normalize):
    """The sentence output: sum(mask·x)/clip(sum(mask)), optionally L2-normalised."""
    ops = {n.op_type for n in gr.g.node}
    has_norm = bool(ops & {"LpNormalization", "ReduceL2", "Sqrt"})
    mean = any(n.op_type == "Div" and gr.producer.get(n.input[0]) is not None
               and gr.producer[n.input[0]].op_type == "ReduceSum"
               and gr.producer.get(n.input[1]) is not None
               and gr.producer[n.input[1]].op_type in ("Clip", "Max")
               for n in gr.g.node)
    require(mean, "no masked mean pooling (ReduceSum / Clip → Div) in the graph")
    if normalize is not None:
        require(has_norm == normalize,
                f"the graph {'does' if has_norm else 'does not'} L2-normalise, the manifest says normalize={normalize}")
    return {"pooling": "mean", "normalize": has_norm}


def convert(onnx_path, normalize=None):
    """Returns (tensors {name: float32 array}, config dict, summary)."""
    gr = Graph(onnx.load(onnx_path))
    lin = linears(gr)
    tensors = {}
    for name, (w, b, _) in lin.items():
        tensors[name + ".weight"] = w
        tensors[name + ".bias"] = b
    # LayerNorms: read from the LayerNormalization nodes, named by their scale input.
    eps = set()
    for n in gr.g.node:
        if n.op_type == "LayerNormalization":
            scale, bias = n.input[1], n.input[2]
            require(scale.endswith(".weight") and bias.endswith(".bias")
                    and scale[:-7] == bias[:-5], f"{n.name}: LayerNorm parameters {scale}, {bias}")
            require(attr(n, "axis") in (None, -1), f"{n.name}: LayerNorm over axis {attr(n, 'axis')}")
            tensors[hf_name(scale)] = gr.init[scale]
            tensors[hf_name(bias)] = gr.init[bias]
            eps.add(float(str(np.float32(attr(n, "epsilon")))))  # 1e-12, not 9.99e-13
    require(len(eps) == 1, f"LayerNorm epsilons differ: {sorted(eps)}")
    check_embeddings(gr)
    for t in ("word_embeddings", "position_embeddings", "token_type_embeddings"):
        full = next(k for k in gr.init if hf_name(k) == f"embeddings.{t}.weight")
        tensors[f"embeddings.{t}.weight"] = gr.init[full]

    layers = sorted({int(k.split(".")[2]) for k in tensors if k.startswith("encoder.layer.")})
    require(layers == list(range(len(layers))) and layers, f"layers {layers} are not 0..n")
    hidden = tensors["embeddings.word_embeddings.weight"].shape[1]
    heads = None
    for i in layers:
        h, dh = check_attention(gr, lin, i)
        require(h * dh == hidden, f"layer {i}: {h} heads × {dh} != hidden {hidden}")
        require(heads in (None, h), f"layer {i}: {h} heads, earlier layers {heads}")
        heads = h
        act = check_gelu(gr, lin, i)
    expected = {"embeddings.LayerNorm.weight", "embeddings.LayerNorm.bias"}
    for i in layers:
        for s in ("attention.self.query", "attention.self.key", "attention.self.value",
                  "attention.output.dense", "intermediate.dense", "output.dense"):
            expected |= {f"encoder.layer.{i}.{s}.weight", f"encoder.layer.{i}.{s}.bias"}
        for s in ("attention.output.LayerNorm", "output.LayerNorm"):
            expected |= {f"encoder.layer.{i}.{s}.weight", f"encoder.layer.{i}.{s}.bias"}
    expected |= {f"embeddings.{t}.weight" for t in ("word_embeddings", "position_embeddings", "token_type_embeddings")}
    require(set(tensors) == expected,
            f"tensor set differs: missing {sorted(expected - set(tensors))}, extra {sorted(set(tensors) - expected)}")
    unused = [k for k, v in gr.init.items() if v.dtype.kind == "f" and hf_name(k) not in tensors
              and k not in {lin[n][2].input[1] for n in lin}]
    require(not unused, f"float initialisers left unconverted: {unused}")
    for k, v in tensors.items():
        require(v.dtype == np.float32, f"{k}: dtype {v.dtype}, expected float32")

    config = {
        "architectures": ["BertModel"],
        "hidden_act": act,
        "hidden_size": int(hidden),
        "intermediate_size": int(tensors["encoder.layer.0.intermediate.dense.weight"].shape[0]),
        "layer_norm_eps": eps.pop(),
        "max_position_embeddings": int(tensors["embeddings.position_embeddings.weight"].shape[0]),
        "model_type": "bert",
        "num_attention_heads": int(heads),
        "num_hidden_layers": len(layers),
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": int(tensors["embeddings.token_type_embeddings.weight"].shape[0]),
        "vocab_size": int(tensors["embeddings.word_embeddings.weight"].shape[0]),
    }
    summary = check_pooling(gr, normalize)
    return tensors, config, summary


def safetensors_bytes(tensors):
    """The safetensors format, written by hand so the bytes depend on nothing but the
    tensors: sorted names, compact JSON header padded with spaces to 8 bytes,
    little-endian float32 data in header order."""
    header = {"__metadata__": {"format": "pt"}}
    offset = 0
    blobs = []
    for name in sorted(tensors):
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
        blobs.append(a.tobytes())
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(blobs)


def write_atomic(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx")
    ap.add_argument("out_dir")
    ap.add_argument("--normalize", choices=["true", "false"],
                    help="fail unless the graph's sentence output is (true) / is not (false) L2-normalised")
    ap.add_argument("--weights", default="model.safetensors")
    ap.add_argument("--config", default="config.json")
    args = ap.parse_args()
    normalize = None if args.normalize is None else args.normalize == "true"
    try:
        tensors, config, summary = convert(args.onnx, normalize)
    except BadGraph as e:
        sys.exit(f"onnx_bert: {args.onnx}: {e}")
    os.makedirs(args.out_dir, exist_ok=True)
    write_atomic(os.path.join(args.out_dir, args.weights), safetensors_bytes(tensors))
    write_atomic(os.path.join(args.out_dir, args.config),
                 (json.dumps(config, indent=2, sort_keys=True) + "\n").encode())
    summary.update(layers=config["num_hidden_layers"], heads=config["num_attention_heads"],
                   tensors=len(tensors))
    print(f"onnx_bert: wrote {args.out_dir}/{{{args.config},{args.weights}}}: {json.dumps(summary)}",
          file=sys.stderr)


if __name__ == "__main__":
    main()
