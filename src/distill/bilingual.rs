//! Cross-lingual distillation, after Reimers & Gurevych (2020), "Making Monolingual
//! Sentence Embeddings Multilingual using Knowledge Distillation": the student is
//! pulled towards the teacher's embedding of an English text both from that text and
//! from its Chinese counterpart, so the two land on one point of the teacher's space
//! and an English ad can match a Chinese history. English texts keep their teacher
//! targets, which holds the student's English where it was.
//!
//! The English WordPiece vocabulary has a few hundred CJK characters; a Chinese word
//! made of any others is a run of `[UNK]`s, indistinguishable from every other such
//! word. So the tokenizer gains one token per character the parallel text uses,
//! appended after the last id (every English id keeps its row), each row started from
//! the mean row of the English glosses of the words that use the character.

use std::collections::{BTreeMap, HashMap, HashSet};

use burn::tensor::Device;
use serde::Serialize;

use super::corpus::text_hash;
use super::train::{DistillProgress, DistillReport};
use super::{Recipe, Stored, WORD_TABLE, encoder_of, train_and_store};
use crate::config::BertConfig;
use crate::data::cedict::Cedict;
use crate::encoder::Encoder;
use crate::tokenize::{TextTokenizer, VOCAB_FILE, is_chinese_char};
use crate::weights::{ModelBundle, NamedTensor};
use crate::{Error, Result};

/// Percent of headwords held out for the test, then for validation, by a hash of the
/// simplified form (both scripts of one word sit in one split).
pub const TEST_PERCENT: u64 = 2;
pub const VALID_PERCENT: u64 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Script {
    Simplified,
    Traditional,
}

/// A Chinese text and its English counterpart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parallel {
    pub chinese: String,
    pub english: String,
    pub script: Script,
}

/// Parallel texts split by headword; a traditional form that differs from the
/// simplified one is a second row with the same English.
#[derive(Debug, Clone, Default)]
pub struct ParallelSplit {
    pub train: Vec<Parallel>,
    pub valid: Vec<Parallel>,
    pub test: Vec<Parallel>,
}

impl ParallelSplit {
    /// Every entry, in hash order of its simplified headword (so a prefix of a split
    /// is a uniform sample of it).
    pub fn of(cedict: &Cedict) -> Self {
        let mut keyed: Vec<(u64, &crate::data::cedict::Entry)> = cedict
            .entries
            .iter()
            .map(|e| (text_hash(&e.simplified), e))
            .collect();
        keyed.sort_by(|a, b| (a.0, &a.1.simplified).cmp(&(b.0, &b.1.simplified)));
        let mut split = Self::default();
        for (hash, e) in keyed {
            let part = match hash % 100 {
                h if h < TEST_PERCENT => &mut split.test,
                h if h < TEST_PERCENT + VALID_PERCENT => &mut split.valid,
                _ => &mut split.train,
            };
            part.push(Parallel {
                chinese: e.simplified.clone(),
                english: e.english.clone(),
                script: Script::Simplified,
            });
            if e.traditional != e.simplified {
                part.push(Parallel {
                    chinese: e.traditional.clone(),
                    english: e.english.clone(),
                    script: Script::Traditional,
                });
            }
        }
        split
    }
}

/// The tokens a student's tokenizer gained, after every id it had.
#[derive(Debug, Clone, Serialize)]
pub struct VocabularyExtension {
    pub first_id: usize,
    pub characters: Vec<char>,
    /// Texts each character had to appear in to be added.
    pub min_count: usize,
}

/// The compatibility ideographs: the uncased normaliser's NFD maps them onto the
/// unified ones, so a token for one could never be looked up.
fn is_compatibility_ideograph(c: char) -> bool {
    matches!(u32::from(c), 0xF900..=0xFAFF | 0x2F800..=0x2FA1F)
}

/// `vocab_txt` (BERT's `vocab.txt`, `tokenize::vocab_txt`) with a WordPiece token for
/// each CJK character it lacks that at least `min_count` of `texts` use (most used
/// first, ties by code point), as lines after its last, so every old id keeps its
/// token.
pub fn extend_vocabulary<'a>(
    vocab_txt: &[u8],
    texts: impl IntoIterator<Item = &'a str>,
    min_count: usize,
) -> Result<(Vec<u8>, VocabularyExtension)> {
    let bad = |why: &str| Error::BadTokenizer(format!("extending the vocabulary: {why}"));
    let text = std::str::from_utf8(vocab_txt).map_err(|e| bad(&e.to_string()))?;
    let vocab: HashSet<&str> = text.lines().map(str::trim_end).collect();
    let first_id = text.lines().count();
    let mut counts: HashMap<char, usize> = HashMap::new();
    for text in texts {
        let mut chars: Vec<char> = text
            .chars()
            .filter(|&c| is_chinese_char(c) && !is_compatibility_ideograph(c))
            .collect();
        chars.sort_unstable();
        chars.dedup();
        for c in chars {
            *counts.entry(c).or_default() += 1;
        }
    }
    let mut characters: Vec<(char, usize)> = counts
        .into_iter()
        .filter(|&(c, n)| n >= min_count && !vocab.contains(&*c.encode_utf8(&mut [0; 4])))
        .collect();
    characters.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let characters: Vec<char> = characters.into_iter().map(|(c, _)| c).collect();
    let mut out = text.to_owned();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    for c in &characters {
        out.push(*c);
        out.push('\n');
    }
    Ok((
        out.into_bytes(),
        VocabularyExtension {
            first_id,
            characters,
            min_count,
        },
    ))
}

/// The word table with a row per new character: the mean of the rows of the English
/// glosses (in the old tokenizer, special tokens left out) of the training words that
/// use the character; a character with none starts from the table's mean row.
pub fn extend_word_table(
    table: &NamedTensor,
    extension: &VocabularyExtension,
    old_tokenizer: &TextTokenizer,
    train: &[Parallel],
) -> Result<NamedTensor> {
    let [rows, width] = table.shape[..] else {
        return Err(Error::BadInput(format!(
            "{}: a matrix was expected, found shape {:?}",
            table.name, table.shape
        )));
    };
    if rows != extension.first_id {
        return Err(Error::BadInput(format!(
            "{} has {rows} rows but the tokenizer's new ids start at {}",
            table.name, extension.first_id
        )));
    }
    let slot: HashMap<char, usize> = extension
        .characters
        .iter()
        .enumerate()
        .map(|(k, &c)| (c, k))
        .collect();
    let mut sums = vec![0f64; extension.characters.len() * width];
    let mut counts = vec![0usize; extension.characters.len()];
    let english: Vec<&str> = train.iter().map(|p| p.english.as_str()).collect();
    let ids = old_tokenizer.encode_ids(&english);
    for (pair, ids) in train.iter().zip(&ids) {
        let inner = between_specials(ids);
        if inner.is_empty() {
            continue;
        }
        let mut gloss = vec![0f64; width];
        for &id in inner {
            let row = &table.data[id as usize * width..][..width];
            for (g, &x) in gloss.iter_mut().zip(row) {
                *g += f64::from(x) / inner.len() as f64;
            }
        }
        let mut chars: Vec<char> = pair.chinese.chars().collect();
        chars.sort_unstable();
        chars.dedup();
        for c in chars {
            if let Some(&k) = slot.get(&c) {
                counts[k] += 1;
                for (s, g) in sums[k * width..][..width].iter_mut().zip(&gloss) {
                    *s += g;
                }
            }
        }
    }
    let mut mean_row = vec![0f64; width];
    for row in table.data.chunks_exact(width) {
        for (m, &x) in mean_row.iter_mut().zip(row) {
            *m += f64::from(x) / rows as f64;
        }
    }
    let mut data = table.data.clone();
    for (k, &n) in counts.iter().enumerate() {
        let sum = &sums[k * width..][..width];
        data.extend(
            sum.iter()
                .zip(&mean_row)
                .map(|(&s, &m)| (if n == 0 { m } else { s / n as f64 }) as f32),
        );
    }
    Ok(NamedTensor {
        name: table.name.clone(),
        shape: vec![rows + extension.characters.len(), width],
        data,
    })
}

/// A tokenized text's ids without its `[CLS]` and `[SEP]`.
fn between_specials(ids: &[i64]) -> &[i64] {
    ids.get(1..ids.len().saturating_sub(1)).unwrap_or(&[])
}

/// What [`distill_bilingual`] made.
pub struct BilingualStudent {
    pub config: BertConfig,
    pub tokenizer: Vec<u8>,
    pub extension: VocabularyExtension,
    pub report: DistillReport,
    pub stored: Stored,
}

/// Train pairs, validation pairs (token ids from the extended tokenizer) and the
/// Chinese training words that the new rows start from.
pub struct BilingualData<'a> {
    pub train: (&'a [String], &'a [Vec<f32>]),
    pub valid: (&'a [String], &'a [Vec<f32>]),
    pub parallel_train: &'a [Parallel],
}

/// Extend `student`'s vocabulary with the Chinese characters of the training words,
/// then train all of it on `data` (Chinese texts with their English counterparts'
/// teacher embeddings, English texts with their own), keep the epoch with the best
/// validation cosine, and settle and store it as the recipe says. `device` must be an
/// autodiff device.
pub fn distill_bilingual(
    student: &ModelBundle,
    data: &BilingualData<'_>,
    min_char_count: usize,
    recipe: &Recipe,
    device: &Device,
    mut on_stage: impl FnMut(&str),
    mut progress: impl FnMut(DistillProgress<'_>),
) -> Result<BilingualStudent> {
    on_stage("extending the vocabulary with the training words' characters");
    let vocab = crate::tokenize::vocab_txt(
        &student.manifest.files.tokenizer.name,
        student.tokenizer_bytes(),
    )?;
    let old_tokenizer = TextTokenizer::from_file(VOCAB_FILE, &vocab, recipe.shape.max_tokens)?;
    let (tokenizer, extension) = extend_vocabulary(
        &vocab,
        data.parallel_train.iter().map(|p| p.chinese.as_str()),
        min_char_count,
    )?;
    let mut config = student.config.clone();
    config.vocab_size = extension.first_id + extension.characters.len();
    let mut tensors = Encoder::load(student, &device.clone().inner())?.tensors()?;
    for t in tensors.iter_mut().filter(|t| t.name == WORD_TABLE) {
        *t = extend_word_table(t, &extension, &old_tokenizer, data.parallel_train)?;
    }
    let max_tokens = student.manifest.max_tokens;
    let load = |tensors: &[NamedTensor]| {
        encoder_of(
            "student-zh",
            &config,
            (&tokenizer, max_tokens),
            tensors,
            device,
        )
    };
    let start = load(&tensors)?;

    let (report, stored) = train_and_store(
        start,
        (&tokenizer, max_tokens),
        (data.train, data.valid),
        recipe,
        load,
        device,
        &mut on_stage,
        &mut progress,
    )?;
    Ok(BilingualStudent {
        config,
        tokenizer,
        extension,
        report,
        stored,
    })
}

/// For each row of `queries`, the 1-based rank of its own row of `keys` among all
/// rows of `keys` by dot product (unit vectors: cosine); ties count against it.
pub fn retrieval_ranks(queries: &[Vec<f32>], keys: &[Vec<f32>]) -> Vec<usize> {
    let dot = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
    queries
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let own = dot(q, &keys[i]);
            1 + keys
                .iter()
                .enumerate()
                .filter(|&(j, k)| j != i && dot(q, k) >= own)
                .count()
        })
        .collect()
}

/// Recall at 1 and 10, and the median rank, of [`retrieval_ranks`].
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Recall {
    pub candidates: usize,
    pub at_1: f64,
    pub at_10: f64,
    pub median_rank: usize,
}

impl Recall {
    pub fn of(ranks: &[usize]) -> Self {
        let n = ranks.len().max(1) as f64;
        let mut sorted = ranks.to_vec();
        sorted.sort_unstable();
        Self {
            candidates: ranks.len(),
            at_1: ranks.iter().filter(|&&r| r == 1).count() as f64 / n,
            at_10: ranks.iter().filter(|&&r| r <= 10).count() as f64 / n,
            median_rank: sorted.get(sorted.len() / 2).copied().unwrap_or(0),
        }
    }
}

/// How a tokenizer reads Chinese words: the share of their tokens that are `[UNK]`,
/// and the share of words whose token sequence another word also has (those the
/// encoder cannot tell apart, whatever its training).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct TokenCoverage {
    pub unknown_token_share: f64,
    pub words_sharing_their_tokens: f64,
}

impl TokenCoverage {
    pub fn of(tokenizer: &TextTokenizer, unknown_id: i64, words: &[&str]) -> Self {
        let ids = tokenizer.encode_ids(words);
        let (mut unknown, mut total) = (0usize, 0usize);
        let mut seen: BTreeMap<&[i64], usize> = BTreeMap::new();
        for row in &ids {
            let inner = between_specials(row);
            unknown += inner.iter().filter(|&&i| i == unknown_id).count();
            total += inner.len();
            *seen.entry(inner).or_default() += 1;
        }
        let shared: usize = seen.values().filter(|&&n| n > 1).sum();
        Self {
            unknown_token_share: unknown as f64 / total.max(1) as f64,
            words_sharing_their_tokens: shared as f64 / words.len().max(1) as f64,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The default student's tokenizer: the English uncased vocabulary.
    const TOKENIZER: &[u8] = include_bytes!("../../models/student/vocab.txt");

    fn id(t: &TextTokenizer, word: &str) -> i64 {
        t.encode_ids(&[word])[0][1]
    }

    #[test]
    fn new_characters_are_appended_and_old_ids_kept() {
        let old = TextTokenizer::from_file(VOCAB_FILE, TOKENIZER, 32).unwrap();
        let unk = id(&old, "[UNK]");
        // 鞋 and 红 are not in the English vocabulary; 大 is.
        assert_eq!(old.encode_ids(&["鞋红"])[0][1..3], [unk, unk]);
        assert_ne!(id(&old, "大"), unk);
        let (bytes, ext) =
            extend_vocabulary(TOKENIZER, ["红鞋", "红色大", "跑鞋", "色", "豈", "大大"], 2)
                .unwrap();
        // 红, 色 and 鞋 are in two texts each, 跑 in one, 大 is known, 豈 (U+F900)
        // is a compatibility ideograph; ties in code point order.
        assert_eq!(ext.first_id, old.vocab_size());
        assert_eq!(ext.characters, vec!['红', '色', '鞋']);
        let new = TextTokenizer::from_file(VOCAB_FILE, &bytes, 32).unwrap();
        assert_eq!(new.vocab_size(), old.vocab_size() + 3);
        let first = ext.first_id as i64;
        assert_eq!(
            new.encode_ids(&["红鞋 shoe 跑"])[0][1..5],
            [first, first + 2, id(&old, "shoe"), unk]
        );
        let english = [
            "Trail running shoes, waterproof, aggressive grip",
            "naïve café ÉCLAIR £12.50 — 100% cotton",
            "大 [SEP] unaffable xylophones",
        ];
        assert_eq!(old.encode_ids(&english), new.encode_ids(&english));
    }

    #[test]
    fn new_rows_start_from_their_glosses() {
        let old = TextTokenizer::from_file(VOCAB_FILE, TOKENIZER, 32).unwrap();
        let (_, ext) = extend_vocabulary(TOKENIZER, ["红鞋", "袜"], 1).unwrap();
        let rows = ext.first_id;
        let mut data = vec![0f32; rows * 2];
        data[id(&old, "red") as usize * 2] = 1.0;
        data[id(&old, "shoe") as usize * 2 + 1] = 1.0;
        let table = NamedTensor {
            name: WORD_TABLE.into(),
            shape: vec![rows, 2],
            data,
        };
        let train = [Parallel {
            chinese: "红鞋".into(),
            english: "red shoe".into(),
            script: Script::Simplified,
        }];
        let out = extend_word_table(&table, &ext, &old, &train).unwrap();
        assert_eq!(out.shape, vec![rows + 3, 2]);
        assert_eq!(&out.data[..rows * 2], &table.data[..]);
        // 红 and 鞋: the mean of "red" (1, 0) and "shoe" (0, 1); 袜, in no training
        // word, the table's mean row.
        assert_eq!(ext.characters, vec!['红', '袜', '鞋']);
        let mean = 1.0 / rows as f32;
        assert_eq!(&out.data[rows * 2..], &[0.5, 0.5, mean, mean, 0.5, 0.5]);
    }

    #[test]
    fn ranks_count_better_and_tied_keys() {
        let q = vec![vec![1.0, 0.0], vec![0.0, 1.0], vec![0.6, 0.8]];
        let k = vec![vec![1.0, 0.0], vec![1.0, 0.0], vec![0.6, 0.8]];
        assert_eq!(retrieval_ranks(&q, &k), vec![2, 3, 1]);
        let r = Recall::of(&[1, 3, 12, 1]);
        assert_eq!((r.at_1, r.at_10, r.median_rank), (0.5, 0.75, 3));
    }
}
