#!/usr/bin/env python3
"""Write tests/fixtures/encoder_golden.json from the NumPy reference.

    python tests/reference/make_golden.py          # (re)write the fixture
    python tests/reference/make_golden.py --check  # recompute and compare with the committed one
    python tests/reference/make_golden.py --model models/paraphrase-minilm-l3-v2.json [--check]

The teacher's fixture is tests/fixtures/encoder_golden.json; another model's (`--model`)
is tests/fixtures/encoder_golden_<name>.json, in the same format.

Each case holds the text, its token ids and the full embedding. `batches` lists groups
of cases the Rust test encodes together in one padded forward pass, so padding masks are
checked against unpadded references. `pairs` holds cosines the CLI test compares with.
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bert_numpy import DEFAULT_MANIFEST, ROOT, Model, cosine  # noqa: E402


def fixture_path(manifest_path):
    with open(manifest_path) as f:
        name = json.load(f)["name"]
    with open(DEFAULT_MANIFEST) as f:
        teacher = json.load(f)["name"]
    stem = "encoder_golden" if name == teacher else f"encoder_golden_{name}"
    return os.path.join(ROOT, "tests", "fixtures", stem + ".json")


CASES = [
    ("english_food", "A man is eating food."),
    ("english_bread", "A man is eating a piece of bread."),
    ("product_shoes", "Red running shoes, men's size 10"),
    ("product_headphones", "Wireless noise-cancelling headphones with 30h battery"),
    ("movie_title", "Toy Story (1995)"),
    ("movie_genres", "GoldenEye (1995) Action Adventure Thriller"),
    ("promo", "SALE!!! 50% off all winter jackets -- today only"),
    ("numbers_units", "USB-C cable 2m / 6.6ft, 100W PD 3.0"),
    ("chinese_title", "女士春季新款连衣裙 碎花长裙"),
    ("chinese_mixed", "华为 Mate 60 Pro 手机壳 防摔"),
    ("japanese", "ワイヤレスイヤホン ノイズキャンセリング 高音質"),
    ("korean", "남성용 겨울 패딩 점퍼"),
    ("emoji", "Birthday party pack \U0001F389\U0001F382 balloons"),
    ("emoji_zwj", "Family \U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 board game night"),
    ("accents", "Crème brûlée set — café à la française"),
    ("accents_decomposed", "Cre\u0300me bru\u0302le\u0301e, Sa\u0303o Paulo"),
    ("german", "Größe XL, Übergangsjacke für Herren"),
    ("control_chars", "tab\there\nnewline\r\x00nul\x07bell\x1b[0m"),
    ("empty", ""),
    ("whitespace_only", "   \t\n  "),
    ("single_char", "a"),
    ("punctuation", "?!...,;:-()[]{}"),
    ("unknown_script", "\u16a0\u16a2\u16a6 runes and \u0f00 tibetan"),
    ("long_truncated", " ".join(["Limited edition hand-made leather wallet with coin pocket."] * 52)),
    ("long_unicode", "超长商品标题" * 500),
    ("all_caps", "BRAND NEW IPHONE CASE FREE SHIPPING"),
]

# Lengths from 2 tokens to the truncation limit in one batch.
BATCHES = [
    ["single_char", "long_truncated", "english_food", "empty", "chinese_title", "emoji_zwj"],
    ["english_food", "english_bread"],
]

PAIRS = [("english_food", "english_bread")]


def build(model):
    cases = []
    emb = {}
    for name, text in CASES:
        ids, e = model.embed(text)
        emb[name] = e
        cases.append({"name": name, "text": text, "ids": ids,
                      "embedding": [float(f"{v:.8g}") for v in e]})
    names = {c["name"] for c in cases}
    assert all(n in names for b in BATCHES for n in b)
    pairs = [{"a": a, "b": b, "cosine": float(f"{cosine(emb[a], emb[b]):.8g}")} for a, b in PAIRS]
    m = model.manifest
    return {
        "_comment": "Written by tests/reference/make_golden.py (NumPy float64 reference). Do not edit.",
        "model": m["name"],
        "weights_sha256": m["files"]["weights"]["sha256"],
        "tokenizer_sha256": m["files"]["tokenizer"]["sha256"],
        "max_tokens": m["max_tokens"],
        "cases": cases,
        "batches": BATCHES,
        "pairs": pairs,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--check", action="store_true",
                    help="recompute and fail if the committed fixture differs")
    ap.add_argument("--model", default=DEFAULT_MANIFEST, metavar="MANIFEST",
                    help="model manifest (default: the teacher, models/all-minilm-l6-v2.json)")
    args = ap.parse_args()
    path = fixture_path(args.model)
    fixture = build(Model(args.model))
    if not args.check:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(fixture, f, ensure_ascii=False, indent=1)
            f.write("\n")
        digest = hashlib.sha256(open(path, "rb").read()).hexdigest()[:16]
        print(f"wrote {path}: {len(fixture['cases'])} cases, sha256 {digest}…")
        return
    with open(path) as f:
        committed = json.load(f)
    bad = []
    for a, b in zip(committed["cases"], fixture["cases"], strict=True):
        if a["text"] != b["text"] or a["ids"] != b["ids"]:
            bad.append(f"{a['name']}: text or ids differ")
            continue
        diff = np.abs(np.array(a["embedding"]) - np.array(b["embedding"])).max()
        if diff > 1e-6:
            bad.append(f"{a['name']}: max |diff| {diff:.3g}")
    if bad:
        sys.exit(f"{path}: golden fixture is not reproducible from the reference:\n  " + "\n  ".join(bad))
    print(f"reference check: {len(fixture['cases'])} passed, 0 failed")


if __name__ == "__main__":
    main()
