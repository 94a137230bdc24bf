//! BERT's WordPiece tokenizer, read from a Hugging Face `tokenizer.json` or BERT's
//! `vocab.txt` ([`WordPiece::from_vocab`]: the same pipeline, implied), in the
//! few hundred lines it takes, instead of the `tokenizers` crate: that crate's
//! general machinery (regex engines, every model and pre-tokenizer) was about
//! 1.2 MB of the browser module's code for a pipeline that is four fixed steps.
//! The steps follow `tokenizers` 0.23 exactly, with the same Unicode tables
//! (`unicode_categories`, `unicode-normalization-alignments`), and
//! `tests/tokenizer_diff.rs` holds the two to identical ids and masks on the golden
//! inputs and on 100,000 generated strings (against the Python binding of the same
//! `tokenizers` version, which keeps the crate out of the Rust build altogether):
//!
//! 1. special tokens (`[CLS]`, `[SEP]`, …) written in the text are matched first,
//!    on the raw text, leftmost-longest, and become their own ids;
//! 2. each remaining piece is normalized: control characters dropped, whitespace
//!    made a space, CJK ideographs spaced apart, accents stripped (NFD, then no
//!    non-spacing marks), lowercased character by character;
//! 3. split on whitespace (dropped) and punctuation (kept, one character a word);
//! 4. each word is matched greedily, longest prefix first, continuations with the
//!    `##` prefix; a word with no match, or longer than 100 characters, is `[UNK]`.
//!
//! Truncation keeps the first `max_tokens − 2` ids, then `[CLS]` and `[SEP]` enclose
//! them. Only this pipeline is accepted: any other normalizer, pre-tokenizer, model
//! or post-processor is a `BadTokenizer` error naming it, never a silent difference.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::Value as Json;
use unicode_categories::UnicodeCategories;
use unicode_normalization_alignments::UnicodeNormalization;

use crate::{Error, Result};

/// The parts of `tokenizer.json` the pipeline reads.
#[derive(Deserialize)]
struct File {
    normalizer: Option<Json>,
    pre_tokenizer: Option<Json>,
    model: Model,
    #[serde(default)]
    added_tokens: Vec<Added>,
    post_processor: Option<Json>,
}

#[derive(Deserialize)]
struct Model {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    vocab: HashMap<String, u32>,
    #[serde(default = "unk")]
    unk_token: String,
    #[serde(default = "prefix")]
    continuing_subword_prefix: String,
    #[serde(default = "max_word")]
    max_input_chars_per_word: usize,
}

const UNK: &str = "[UNK]";
const SEP: &str = "[SEP]";
const CLS: &str = "[CLS]";
const PAD: &str = "[PAD]";
const MASK: &str = "[MASK]";

fn unk() -> String {
    UNK.into()
}

fn prefix() -> String {
    "##".into()
}

fn max_word() -> usize {
    100
}

#[derive(Deserialize)]
struct Added {
    id: u32,
    content: String,
    #[serde(default)]
    normalized: bool,
    #[serde(default)]
    lstrip: bool,
    #[serde(default)]
    rstrip: bool,
    #[serde(default)]
    single_word: bool,
}

/// `BertNormalizer`'s switches.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Normalizer {
    clean_text: bool,
    handle_chinese_chars: bool,
    strip_accents: bool,
    lowercase: bool,
}

#[derive(PartialEq)]
pub struct WordPiece {
    vocab: HashMap<String, u32>,
    unk: u32,
    prefix: String,
    max_word_chars: usize,
    normalizer: Normalizer,
    /// Tokens matched in the raw text, longest first (so the first match at a
    /// position is the longest).
    specials: Vec<(String, u32)>,
    cls: u32,
    sep: u32,
    /// One past the largest id any input can produce.
    id_bound: usize,
}

/// Special tokens in the order they are tried: longest first, so the first match at
/// a position is the longest.
fn longest_first(specials: &mut [(String, u32)]) {
    specials.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
}

/// One past the largest id in `vocab`.
fn id_bound(vocab: &HashMap<String, u32>) -> usize {
    vocab.values().map(|&id| id as usize + 1).max().unwrap_or(0)
}

fn bad(reason: impl Into<String>) -> Error {
    Error::BadTokenizer(reason.into())
}

/// The `type` of a pipeline step, or `None` for a missing step.
fn kind(step: &Option<Json>) -> Option<&str> {
    step.as_ref()?.get("type")?.as_str()
}

fn flag(step: &Json, name: &str, default: bool) -> Result<bool> {
    match step.get(name) {
        None | Some(Json::Null) => Ok(default),
        Some(Json::Bool(b)) => Ok(*b),
        Some(other) => Err(bad(format!(
            "normalizer.{name} must be a boolean, found {other}"
        ))),
    }
}

impl WordPiece {
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let file: File = serde_json::from_slice(bytes)
            .map_err(|e| bad(format!("tokenizer.json does not parse: {e}")))?;
        let normalizer = match (kind(&file.normalizer), &file.normalizer) {
            (Some("BertNormalizer"), Some(step)) => {
                let lowercase = flag(step, "lowercase", true)?;
                Normalizer {
                    clean_text: flag(step, "clean_text", true)?,
                    handle_chinese_chars: flag(step, "handle_chinese_chars", true)?,
                    // As in `tokenizers`: unset follows `lowercase`.
                    strip_accents: flag(step, "strip_accents", lowercase)?,
                    lowercase,
                }
            }
            (other, _) => return Err(unsupported("normalizer", other, "BertNormalizer")),
        };
        match kind(&file.pre_tokenizer) {
            Some("BertPreTokenizer") => {}
            other => return Err(unsupported("pre_tokenizer", other, "BertPreTokenizer")),
        }
        let model = file.model;
        if model.kind != "WordPiece" {
            return Err(unsupported("model", Some(&model.kind), "WordPiece"));
        }
        let mut vocab = model.vocab;
        for added in &file.added_tokens {
            if added.normalized || added.lstrip || added.rstrip || added.single_word {
                return Err(bad(format!(
                    "added token {:?}: only tokens matched as written (normalized, lstrip, \
                     rstrip and single_word false) are supported",
                    added.content
                )));
            }
            if added.content.is_empty() {
                return Err(bad("an added token is empty"));
            }
            vocab.entry(added.content.clone()).or_insert(added.id);
        }
        let mut specials: Vec<(String, u32)> = file
            .added_tokens
            .iter()
            .map(|a| (a.content.clone(), a.id))
            .collect();
        longest_first(&mut specials);
        let unk = *vocab.get(&model.unk_token).ok_or_else(|| {
            bad(format!(
                "the unknown token {:?} is not in the vocabulary",
                model.unk_token
            ))
        })?;
        let (cls, sep) = enclosing(file.post_processor.as_ref(), &vocab)?;
        let id_bound = id_bound(&vocab);
        Ok(Self {
            vocab,
            unk,
            prefix: model.continuing_subword_prefix,
            max_word_chars: model.max_input_chars_per_word,
            normalizer,
            specials,
            cls,
            sep,
            id_bound,
        })
    }

    /// BERT's `vocab.txt`: one token a line, its id the line's number (a line's
    /// trailing whitespace is not part of it; a token listed twice keeps its last
    /// id), read into the pipeline Hugging Face's `BertWordPieceTokenizer(vocab,
    /// lowercase=True)` builds: the uncased `BertNormalizer` (accents stripped), the
    /// BERT pre-tokenizer, WordPiece with `[UNK]`, `##` and 100 characters a word,
    /// `[UNK]`, `[SEP]`, `[CLS]`, `[PAD]` and `[MASK]` matched as written where the
    /// vocabulary has them, and `[CLS] … [SEP]` around every text. The same
    /// tokens in a quarter of `tokenizer.json`'s compressed bytes, since its ids are
    /// the line numbers instead of written out.
    pub fn from_vocab(bytes: &[u8]) -> Result<Self> {
        let text =
            std::str::from_utf8(bytes).map_err(|e| bad(format!("vocab.txt is not UTF-8: {e}")))?;
        let mut vocab = HashMap::new();
        for (line, token) in text.lines().enumerate() {
            let id = u32::try_from(line).map_err(|_| bad("vocab.txt has over 2^32 lines"))?;
            vocab.insert(token.trim_end().to_owned(), id);
        }
        let id_of = |token: &str| {
            vocab
                .get(token)
                .copied()
                .ok_or_else(|| bad(format!("vocab.txt has no {token} token")))
        };
        let (unk, cls, sep) = (id_of(UNK)?, id_of(CLS)?, id_of(SEP)?);
        let mut specials: Vec<(String, u32)> = [UNK, SEP, CLS, PAD, MASK]
            .into_iter()
            .filter_map(|t| vocab.get(t).map(|&id| (t.to_owned(), id)))
            .collect();
        longest_first(&mut specials);
        let id_bound = id_bound(&vocab);
        Ok(Self {
            vocab,
            unk,
            prefix: prefix(),
            max_word_chars: max_word(),
            normalizer: Normalizer {
                clean_text: true,
                handle_chinese_chars: true,
                strip_accents: true,
                lowercase: true,
            },
            specials,
            cls,
            sep,
            id_bound,
        })
    }

    /// This tokenizer as a `vocab.txt` ([`WordPiece::from_vocab`]), if that file
    /// reads back as the same tokenizer: every id from 0 up has exactly one token,
    /// no token has a line break or trailing whitespace, and the pipeline is the
    /// one `vocab.txt` implies. Anything else is an error that says what differs.
    pub fn to_vocab(&self) -> Result<Vec<u8>> {
        // Each token has one id, so more ids than tokens leaves a hole (and a
        // hostile id near 2^32 must not size the table below).
        if self.id_bound > self.vocab.len() {
            return Err(bad(format!(
                "ids run to {} but there are {} tokens: some id has no token",
                self.id_bound - 1,
                self.vocab.len()
            )));
        }
        let mut tokens: Vec<Option<&str>> = vec![None; self.id_bound];
        for (token, &id) in &self.vocab {
            if let Some(other) = tokens[id as usize].replace(token) {
                return Err(bad(format!("id {id} is both {other:?} and {token:?}")));
            }
            if token.contains(['\n', '\r']) || token.trim_end() != token {
                return Err(bad(format!(
                    "token {token:?} cannot be a line of vocab.txt"
                )));
            }
        }
        let mut text = String::new();
        for (id, token) in tokens.iter().enumerate() {
            let token = token.ok_or_else(|| bad(format!("id {id} has no token")))?;
            text.push_str(token);
            text.push('\n');
        }
        let back = Self::from_vocab(text.as_bytes())?;
        let differs = [
            ("the normalizer", self.normalizer != back.normalizer),
            ("the special tokens", self.specials != back.specials),
            ("the unknown token", self.unk != back.unk),
            ("the continuation prefix", self.prefix != back.prefix),
            (
                "the longest word",
                self.max_word_chars != back.max_word_chars,
            ),
            (
                "[CLS] or [SEP]",
                (self.cls, self.sep) != (back.cls, back.sep),
            ),
            ("the vocabulary", self.vocab != back.vocab),
        ];
        match differs.iter().find(|(_, d)| *d) {
            Some((what, _)) => Err(bad(format!(
                "{what} differs from what a vocab.txt implies; keep tokenizer.json"
            ))),
            None => Ok(text.into_bytes()),
        }
    }

    /// One past the largest id: an embedding table needs at least this many rows.
    pub fn id_bound(&self) -> usize {
        self.id_bound
    }

    /// `[CLS]`, the text's first `max_tokens − 2` ids, `[SEP]`. `max_tokens` ≥ 2.
    pub fn encode(&self, text: &str, max_tokens: usize) -> Vec<u32> {
        let budget = max_tokens.saturating_sub(2);
        let mut ids = vec![self.cls];
        let mut piece_start = 0;
        let mut at = 0;
        while at < text.len() && ids.len() <= budget {
            match self.special_at(&text[at..]) {
                Some((len, id)) => {
                    self.words(&text[piece_start..at], budget, &mut ids);
                    if ids.len() <= budget {
                        ids.push(id);
                    }
                    at += len;
                    piece_start = at;
                }
                None => at += text[at..].chars().next().map_or(1, char::len_utf8),
            }
        }
        if ids.len() <= budget {
            self.words(&text[piece_start..], budget, &mut ids);
        }
        ids.push(self.sep);
        ids
    }

    fn special_at(&self, rest: &str) -> Option<(usize, u32)> {
        self.specials
            .iter()
            .find(|(s, _)| rest.starts_with(s.as_str()))
            .map(|(s, id)| (s.len(), *id))
    }

    /// Normalize, split and match one piece of text between special tokens,
    /// appending ids while fewer than `budget` (plus `[CLS]`) are there.
    fn words(&self, piece: &str, budget: usize, ids: &mut Vec<u32>) {
        if piece.is_empty() {
            return;
        }
        let normalized = self.normalizer.apply(piece);
        for word in split_words(&normalized) {
            for id in self.word(word) {
                if ids.len() > budget {
                    return;
                }
                ids.push(id);
            }
        }
    }

    /// Greedy longest-prefix matching, as `tokenizers`' `WordPiece::tokenize`.
    fn word(&self, word: &str) -> Vec<u32> {
        if word.chars().count() > self.max_word_chars {
            return vec![self.unk];
        }
        let mut out = Vec::new();
        let mut start = 0;
        let mut candidate = String::new();
        while start < word.len() {
            let mut end = word.len();
            let mut found = None;
            while start < end {
                candidate.clear();
                if start > 0 {
                    candidate.push_str(&self.prefix);
                }
                candidate.push_str(&word[start..end]);
                if let Some(&id) = self.vocab.get(&candidate) {
                    found = Some(id);
                    break;
                }
                end -= word[start..end]
                    .chars()
                    .next_back()
                    .map_or(1, char::len_utf8);
            }
            match found {
                Some(id) => out.push(id),
                None => return vec![self.unk],
            }
            start = end;
        }
        out
    }
}

fn unsupported(step: &str, found: Option<&str>, supported: &str) -> Error {
    bad(format!(
        "{step} {} is not supported: privrank's tokenizer implements {supported} only",
        found.map_or("(none)".to_owned(), |k| format!("`{k}`"))
    ))
}

/// The ids put before and after the text by the post-processor: a
/// `TemplateProcessing` of the form `[X] $A [Y]`, or a `BertProcessing`.
fn enclosing(step: Option<&Json>, vocab: &HashMap<String, u32>) -> Result<(u32, u32)> {
    let id_of = |token: &Json| -> Result<u32> {
        let name = token
            .as_str()
            .ok_or_else(|| bad(format!("post_processor names a token as {token}")))?;
        vocab.get(name).copied().ok_or_else(|| {
            bad(format!(
                "post_processor's token {name:?} is not in the vocabulary"
            ))
        })
    };
    let shape = || bad("post_processor must add one token before and one after the text");
    match step.and_then(|s| s.get("type")).and_then(Json::as_str) {
        Some("TemplateProcessing") => {
            let single = step
                .and_then(|s| s.get("single"))
                .and_then(Json::as_array)
                .ok_or_else(shape)?;
            fn special(item: &Json) -> Option<&Json> {
                item.get("SpecialToken").map(|t| &t["id"])
            }
            match single.as_slice() {
                [first, middle, last] if middle.get("Sequence").is_some() => Ok((
                    id_of(special(first).ok_or_else(shape)?)?,
                    id_of(special(last).ok_or_else(shape)?)?,
                )),
                _ => Err(shape()),
            }
        }
        Some("BertProcessing") => {
            let step = step.ok_or_else(shape)?;
            Ok((id_of(&step["cls"][0])?, id_of(&step["sep"][0])?))
        }
        other => Err(unsupported(
            "post_processor",
            other,
            "TemplateProcessing `[CLS] $A [SEP]` or BertProcessing",
        )),
    }
}

impl Normalizer {
    fn apply(&self, text: &str) -> String {
        let mut chars: Vec<char> = text.chars().collect();
        if self.clean_text {
            chars.retain(|&c| !(c == '\0' || c == '\u{fffd}' || is_control(c)));
            for c in &mut chars {
                if is_whitespace(*c) {
                    *c = ' ';
                }
            }
        }
        if self.handle_chinese_chars {
            let mut spaced = Vec::with_capacity(chars.len());
            for c in chars {
                if is_chinese_char(c) {
                    spaced.extend([' ', c, ' ']);
                } else {
                    spaced.push(c);
                }
            }
            chars = spaced;
        }
        if self.strip_accents {
            chars = chars
                .into_iter()
                .nfd()
                .map(|(c, _)| c)
                .filter(|c| !c.is_mark_nonspacing())
                .collect();
        }
        if self.lowercase {
            chars = chars.into_iter().flat_map(char::to_lowercase).collect();
        }
        chars.into_iter().collect()
    }
}

/// `BertPreTokenizer`: whitespace separates words and is dropped; each punctuation
/// character is a word of its own.
fn split_words(text: &str) -> impl Iterator<Item = &str> {
    text.split(char::is_whitespace).flat_map(|chunk| {
        let mut words = Vec::new();
        let mut start = 0;
        for (i, c) in chunk.char_indices() {
            if is_punctuation(c) {
                if start < i {
                    words.push(&chunk[start..i]);
                }
                words.push(&chunk[i..i + c.len_utf8()]);
                start = i + c.len_utf8();
            }
        }
        if start < chunk.len() {
            words.push(&chunk[start..]);
        }
        words
    })
}

fn is_whitespace(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r') || c.is_whitespace()
}

fn is_control(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && c.is_other()
}

fn is_punctuation(c: char) -> bool {
    c.is_ascii_punctuation() || c.is_punctuation()
}

/// The CJK ideograph blocks BERT's original tokenizer spaces apart.
pub fn is_chinese_char(c: char) -> bool {
    matches!(
        u32::from(c),
        0x4E00..=0x9FFF
            | 0x3400..=0x4DBF
            | 0x20000..=0x2A6DF
            | 0x2A700..=0x2B73F
            | 0x2B740..=0x2B81F
            | 0x2B920..=0x2CEAF
            | 0xF900..=0xFAFF
            | 0x2F800..=0x2FA1F
    )
}
