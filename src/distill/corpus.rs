//! The distillation corpus: real short texts the student learns to embed like the
//! teacher. WordNet's definitions, example sentences and synonym sets give broad
//! English; the MovieLens catalog gives the item texts the ranker actually embeds
//! (title, year and genres, as `Item::text` writes them).
//!
//! Splits come from a hash of the text, not from a random draw, so the same text is
//! in the same split on every machine and every run, and a text that occurs twice
//! cannot sit on both sides.

use std::collections::HashSet;

use serde::Serialize;

use crate::data::{MovieLens, WordNet};
use crate::weights::sha256_hex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// A WordNet definition ("a member of the genus Canis").
    Definition,
    /// A WordNet example sentence ("the dog barked all night").
    Example,
    /// A WordNet synonym set, comma-separated ("dog, domestic dog, Canis familiaris").
    Synonyms,
    /// A MovieLens item's text ("Toy Story (1995). Animation, Children's, Comedy").
    Catalog,
}

impl Source {
    pub const ALL: [Source; 4] = [
        Source::Definition,
        Source::Example,
        Source::Synonyms,
        Source::Catalog,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Source::Definition => "WordNet definitions",
            Source::Example => "WordNet examples",
            Source::Synonyms => "WordNet synonym sets",
            Source::Catalog => "MovieLens item texts",
        }
    }

    /// Percent of texts held out for validation and for the test. The catalog is
    /// small (1,682 items), so it gives a larger share to have a test set at all.
    fn held_out_percent(self) -> (u64, u64) {
        match self {
            Source::Catalog => (5, 10),
            _ => (1, 2),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Text {
    pub text: String,
    pub source: Source,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Valid,
    Test,
}

/// A stable, uniform number per text: the first 8 bytes of its SHA-256.
pub(crate) fn text_hash(text: &str) -> u64 {
    let hex = sha256_hex(text.as_bytes());
    u64::from_str_radix(&hex[..16], 16).unwrap_or(0)
}

fn split_of(t: &Text) -> Split {
    let (valid, test) = t.source.held_out_percent();
    match text_hash(&t.text) % 100 {
        h if h < test => Split::Test,
        h if h < test + valid => Split::Valid,
        _ => Split::Train,
    }
}

#[derive(Debug, Clone, Default)]
pub struct Corpus {
    pub train: Vec<Text>,
    pub valid: Vec<Text>,
    pub test: Vec<Text>,
}

/// How much of the corpus to use: the teacher embeds every text once, which is most
/// of a distillation run's fixed cost.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CorpusLimits {
    /// Training texts, taken in hash order (a uniform sample) after the catalog's.
    pub max_train: usize,
    /// Validation texts (early stopping).
    pub max_valid: usize,
    /// Characters per text; longer definitions are rare and cost the most padding.
    pub max_chars: usize,
}

impl Corpus {
    /// Every distinct text of both sources, split by hash; then capped by `limits`.
    /// Catalog texts are always kept whole: they are what the ranker embeds.
    pub fn build(wordnet: &WordNet, movielens: Option<&MovieLens>, limits: CorpusLimits) -> Self {
        let mut texts = Vec::new();
        for s in &wordnet.synsets {
            texts.push(Text {
                text: s.definition.clone(),
                source: Source::Definition,
            });
            for e in &s.examples {
                texts.push(Text {
                    text: e.clone(),
                    source: Source::Example,
                });
            }
            texts.push(Text {
                text: s.words.join(", "),
                source: Source::Synonyms,
            });
        }
        if let Some(ml) = movielens {
            texts.extend(ml.items.iter().map(|item| Text {
                text: item.text(),
                source: Source::Catalog,
            }));
        }
        let mut seen = HashSet::new();
        let mut corpus = Corpus::default();
        let mut keyed: Vec<(u64, Text)> = texts
            .into_iter()
            .filter(|t| !t.text.trim().is_empty() && t.text.chars().count() <= limits.max_chars)
            .filter(|t| seen.insert(t.text.clone()))
            .map(|t| (text_hash(&t.text), t))
            .collect();
        keyed.sort_by(|a, b| (a.0, &a.1.text).cmp(&(b.0, &b.1.text)));
        for (_, t) in keyed {
            match split_of(&t) {
                Split::Train => corpus.train.push(t),
                Split::Valid => corpus.valid.push(t),
                Split::Test => corpus.test.push(t),
            }
        }
        // Catalog texts first, then the rest in hash order: a cap keeps all of the
        // catalog and a uniform sample of WordNet.
        for part in [&mut corpus.train, &mut corpus.valid] {
            part.sort_by_key(|t| t.source != Source::Catalog);
        }
        corpus.train.truncate(limits.max_train);
        corpus.valid.truncate(limits.max_valid);
        corpus
    }

    /// The training, validation and test texts, as strings.
    pub fn texts(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        let strings = |part: &[Text]| part.iter().map(|t| t.text.clone()).collect();
        (
            strings(&self.train),
            strings(&self.valid),
            strings(&self.test),
        )
    }

    pub fn count(part: &[Text], source: Source) -> usize {
        part.iter().filter(|t| t.source == source).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::wordnet::Synset;

    fn wordnet(n: usize) -> WordNet {
        WordNet {
            synsets: (0..n)
                .map(|i| Synset {
                    words: vec![format!("word{i}"), format!("other word{i}")],
                    definition: format!("definition number {i}"),
                    examples: vec![format!("an example {i}")],
                })
                .collect(),
            data_hash: String::new(),
        }
    }

    const LIMITS: CorpusLimits = CorpusLimits {
        max_train: usize::MAX,
        max_valid: usize::MAX,
        max_chars: 300,
    };

    #[test]
    fn splits_are_disjoint_stable_and_sized_by_source() {
        let wn = wordnet(5000);
        let a = Corpus::build(&wn, None, LIMITS);
        let b = Corpus::build(&wn, None, LIMITS);
        assert_eq!(a.test, b.test);
        assert_eq!(a.train.len() + a.valid.len() + a.test.len(), 15_000);
        let train: HashSet<&str> = a.train.iter().map(|t| t.text.as_str()).collect();
        assert!(
            a.test
                .iter()
                .chain(&a.valid)
                .all(|t| !train.contains(t.text.as_str()))
        );
        // 2% test, 1% validation, within sampling noise.
        assert!((200..400).contains(&a.test.len()), "{}", a.test.len());
        assert!((80..230).contains(&a.valid.len()), "{}", a.valid.len());
    }

    #[test]
    fn duplicates_and_overlong_texts_are_dropped_and_caps_apply() {
        let mut wn = wordnet(10);
        wn.synsets[1].definition = wn.synsets[0].definition.clone();
        wn.synsets[2].definition = "x".repeat(301);
        let all = Corpus::build(&wn, None, LIMITS);
        assert_eq!(all.train.len() + all.valid.len() + all.test.len(), 28);
        let capped = Corpus::build(
            &wn,
            None,
            CorpusLimits {
                max_train: 5,
                ..LIMITS
            },
        );
        assert_eq!(capped.train.len(), 5);
        assert_eq!(capped.train[..], all.train[..5]);
    }
}
