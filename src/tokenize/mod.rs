//! Text to token ids and masks. The tokenizer is read from the model's BERT
//! `vocab.txt` or Hugging Face `tokenizer.json` but configured from the manifest:
//! the published file pads every text to 128 tokens, which would multiply the
//! encoder's work for short titles, so batches are padded only to their longest
//! member, and truncation is the manifest's `max_tokens`.

mod wordpiece;

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::{Error, Result};
use wordpiece::WordPiece;
/// The CJK ideographs BERT spaces apart into one token each: a Chinese text is a
/// string of single-character words to WordPiece.
pub use wordpiece::is_chinese_char;

/// The name a tokenizer written as BERT's `vocab.txt` has (what `privrank
/// distill` writes for its students).
pub const VOCAB_FILE: &str = "vocab.txt";

/// The tokenizer in file `name` as a `vocab.txt` that reads back as the same
/// tokenizer: a `vocab.txt` as it is (once it parses), a Hugging Face
/// `tokenizer.json` converted, or an error saying what a `vocab.txt` cannot
/// express.
pub fn vocab_txt(name: &str, bytes: &[u8]) -> Result<Vec<u8>> {
    let tokenizer = read(name, bytes)?;
    if is_vocab_txt(name) {
        Ok(bytes.to_vec())
    } else {
        tokenizer.to_vocab()
    }
}

/// Whether file `name` is a `vocab.txt` rather than a `tokenizer.json`.
fn is_vocab_txt(name: &str) -> bool {
    name.ends_with(".txt")
}

/// The tokenizer in file `name`, in the format its name says.
fn read(name: &str, bytes: &[u8]) -> Result<WordPiece> {
    if is_vocab_txt(name) {
        WordPiece::from_vocab(bytes)
    } else {
        WordPiece::from_json(bytes)
    }
}

pub struct TextTokenizer {
    inner: WordPiece,
    max_tokens: usize,
}

/// Token ids of a batch, right-padded to its longest member.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBatch {
    /// `[batch, seq_len]`, row-major, padding id 0.
    pub ids: Vec<i64>,
    /// `[batch, seq_len]`, 1 for real tokens, 0 for padding.
    pub mask: Vec<u8>,
    pub batch: usize,
    pub seq_len: usize,
}

impl TokenBatch {
    /// The unpadded ids of row `i`.
    pub fn row(&self, i: usize) -> Vec<i64> {
        let start = i * self.seq_len;
        (start..start + self.seq_len)
            .filter(|&j| self.mask[j] == 1)
            .map(|j| self.ids[j])
            .collect()
    }
}

impl TextTokenizer {
    /// The tokenizer in file `name`: BERT's `vocab.txt` when the name ends in
    /// `.txt` ([`VOCAB_FILE`]), else a Hugging Face `tokenizer.json`.
    pub fn from_file(name: &str, bytes: &[u8], max_tokens: usize) -> Result<Self> {
        if max_tokens < 2 {
            return Err(Error::BadTokenizer(format!(
                "max_tokens {max_tokens} leaves no room for [CLS] and [SEP]"
            )));
        }
        let inner = read(name, bytes)?;
        Ok(Self { inner, max_tokens })
    }

    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// One past the largest id the tokenizer can produce: the encoder's word
    /// embedding table must have at least this many rows.
    pub fn vocab_size(&self) -> usize {
        self.inner.id_bound()
    }

    /// Unpadded ids of each text, truncated to the manifest's token budget. Any
    /// text tokenizes (what the vocabulary lacks is `[UNK]`), so this cannot fail.
    pub fn encode_ids<S: AsRef<str>>(&self, texts: &[S]) -> Vec<Vec<i64>> {
        texts
            .iter()
            .map(|t| {
                self.inner
                    .encode(t.as_ref(), self.max_tokens)
                    .into_iter()
                    .map(i64::from)
                    .collect()
            })
            .collect()
    }

    /// Fails only on an empty batch.
    pub fn encode_batch<S: AsRef<str>>(&self, texts: &[S]) -> Result<TokenBatch> {
        TokenBatch::from_rows(&self.encode_ids(texts))
    }
}

impl TokenBatch {
    /// The ids and the float mask (1 = token) as `[batch, seq]` tensors on `device`.
    pub fn tensors(&self, device: &Device) -> (Tensor<2, Int>, Tensor<2>) {
        let shape = [self.batch, self.seq_len];
        let ids = Tensor::from_data(TensorData::new(self.ids.clone(), shape), device);
        let mask: Vec<f32> = self.mask.iter().map(|&m| f32::from(m)).collect();
        (ids, Tensor::from_data(TensorData::new(mask, shape), device))
    }

    /// Right-pad rows of ids to the longest one.
    pub fn from_rows(rows: &[Vec<i64>]) -> Result<Self> {
        if rows.is_empty() {
            return Err(Error::EmptyBatch);
        }
        let seq_len = rows.iter().map(Vec::len).max().unwrap_or(0);
        let batch = rows.len();
        let mut ids = vec![0i64; batch * seq_len];
        let mut mask = vec![0u8; batch * seq_len];
        for (r, row) in rows.iter().enumerate() {
            ids[r * seq_len..r * seq_len + row.len()].copy_from_slice(row);
            mask[r * seq_len..r * seq_len + row.len()].fill(1);
        }
        Ok(Self {
            ids,
            mask,
            batch,
            seq_len,
        })
    }
}
