"""Hugging Face tokenizers (the Python binding of the Rust crate, 0.23.2) on a batch
of texts, for tests/tokenizer_diff.rs: the reference privrank's own WordPiece is
compared with. No padding; truncation at the given budget, as privrank's manifests
set it.

    python tests/reference/hf_tokenize.py TOKENIZER_FILE MAX_TOKENS TEXTS_JSON

TOKENIZER_FILE is a model's tokenizer.json, or BERT's vocab.txt (read by
`BertWordPieceTokenizer(vocab, lowercase=True)`, the pipeline privrank gives it).

TEXTS_JSON holds a JSON array of strings; prints one JSON object:
{"vocab_size": N, "ids": [[...], ...], "masks": [[...], ...]}.
"""

import json
import sys

from tokenizers import BertWordPieceTokenizer, Tokenizer


def load_tokenizer(path, max_tokens):
    """A model's tokenizer file as Hugging Face reads it: no padding, truncation at
    `max_tokens`, as privrank's manifests set it."""
    if path.endswith(".txt"):
        tokenizer = BertWordPieceTokenizer(path, lowercase=True)
    else:
        tokenizer = Tokenizer.from_file(path)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=int(max_tokens))
    return tokenizer


def main() -> None:
    tokenizer_file, max_tokens, texts_json = sys.argv[1:4]
    tokenizer = load_tokenizer(tokenizer_file, max_tokens)
    with open(texts_json, encoding="utf-8") as f:
        texts = json.load(f)
    encodings = tokenizer.encode_batch(texts, add_special_tokens=True)
    json.dump(
        {
            "vocab_size": tokenizer.get_vocab_size(with_added_tokens=True),
            "ids": [e.ids for e in encodings],
            "masks": [e.attention_mask for e in encodings],
        },
        sys.stdout,
    )


if __name__ == "__main__":
    main()
