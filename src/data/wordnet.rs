//! Princeton WordNet 3.0's data files (`data.noun`, `data.verb`, `data.adj`,
//! `data.adv`, from Debian's `wordnet-base`): real short English text — definitions,
//! example sentences and the synonym sets themselves — under a licence that allows
//! use and redistribution, for distilling the student encoder.
//!
//! A data line is `offset lex_filenum ss_type w_cnt word lex_id … p_cnt pointers… |
//! gloss` (wndb(5WN)); the gloss holds definitions separated by `;` and examples in
//! double quotes. Lines that start with two spaces are the licence header.

use std::path::Path;

use super::{Field, read_text};
use crate::Result;
use crate::weights::sha256_hex;

/// The four parts of speech, in file order.
pub const FILES: [&str; 4] = ["data.noun", "data.verb", "data.adj", "data.adv"];

/// One synset's text.
#[derive(Debug, Clone, PartialEq)]
pub struct Synset {
    /// The synonyms, underscores as spaces, adjective markers like `(a)` dropped.
    pub words: Vec<String>,
    /// The definition(s) before the first example.
    pub definition: String,
    /// Example sentences, without their quotes.
    pub examples: Vec<String>,
}

#[derive(Debug)]
pub struct WordNet {
    pub synsets: Vec<Synset>,
    /// SHA-256 over the four files' hashes.
    pub data_hash: String,
}

impl WordNet {
    pub fn load(dir: &Path) -> Result<Self> {
        let mut synsets = Vec::new();
        let mut hashes = String::new();
        for file in FILES {
            let text = read_text(&dir.join(file))?;
            hashes.push_str(&sha256_hex(text.as_bytes()));
            synsets.extend(Self::parse(file, &text)?);
        }
        Ok(Self {
            synsets,
            data_hash: sha256_hex(hashes.as_bytes()),
        })
    }

    /// The synsets of one data file's contents.
    pub fn parse(file: &str, text: &str) -> Result<Vec<Synset>> {
        let mut out = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with("  ") || line.trim().is_empty() {
                continue;
            }
            out.push(parse_line(file, i + 1, line)?);
        }
        Ok(out)
    }
}

fn parse_line(file: &str, line_no: usize, line: &str) -> Result<Synset> {
    let field = |column: &'static str, value: &'static str| Field {
        file,
        line: line_no,
        column,
        value,
    };
    let (head, gloss) = line
        .split_once(" | ")
        .ok_or_else(|| field("gloss", "").error("no ` | ` before the gloss"))?;
    let mut parts = head.split_ascii_whitespace();
    let _offset = parts.next();
    let _lex_file = parts.next();
    let _ss_type = parts.next();
    let count = parts
        .next()
        .ok_or_else(|| field("w_cnt", "").error("missing"))?;
    let count = usize::from_str_radix(count, 16)
        .map_err(|e| field("w_cnt", "").error(format!("{e}: {count:?}")))?;
    let mut words = Vec::with_capacity(count);
    for _ in 0..count {
        let word = parts
            .next()
            .ok_or_else(|| field("word", "").error(format!("fewer than {count} words")))?;
        let _lex_id = parts.next();
        // Adjectives may carry a syntactic marker: `long(a)`, `galore(ip)`.
        let word = match word.find('(') {
            Some(i) if word.ends_with(')') => &word[..i],
            _ => word,
        };
        words.push(word.replace('_', " "));
    }
    let (definition, examples) = split_gloss(gloss.trim());
    Ok(Synset {
        words,
        definition,
        examples,
    })
}

/// `definition; "example one"; "example two"` → the definition and the examples.
fn split_gloss(gloss: &str) -> (String, Vec<String>) {
    let (definition, rest) = match gloss.find('"') {
        Some(i) => (&gloss[..i], &gloss[i..]),
        None => (gloss, ""),
    };
    let definition = definition.trim().trim_end_matches(';').trim().to_owned();
    let examples = rest
        .split('"')
        .map(str::trim)
        .filter(|s| !s.is_empty() && *s != ";" && !s.starts_with("; "))
        .map(str::to_owned)
        .collect();
    (definition, examples)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DATA: &str = "  1 This software and database is being provided to you, the LICENSEE, by  \n\
00217593 04 n 01 kill 1 002 @ 00217014 n 0000 + 00355365 v 0101 | the destruction of an enemy plane or ship or tank or missile; \"the pilot reported two kills during the mission\"  \n\
00001740 00 a 01 able 0 005 = 05207437 n 0000 | (usually followed by `to') having the necessary means or skill to do something; \"able to swim\"; \"she was able to program her computer\"  \n\
01382033 00 s 02 long(a) 0 galore(ip) 0 001 & 01379918 a 0000 | large in number  \n\
02084071 05 n 02 dog 0 domestic_dog 0 001 @ 02083346 n 0000 | a member of the genus Canis\n";

    #[test]
    fn synsets_have_words_definitions_and_examples() {
        let synsets = WordNet::parse("data.noun", DATA).unwrap();
        assert_eq!(synsets.len(), 4, "the licence header is skipped");
        assert_eq!(synsets[0].words, ["kill"]);
        assert_eq!(
            synsets[0].definition,
            "the destruction of an enemy plane or ship or tank or missile"
        );
        assert_eq!(
            synsets[0].examples,
            ["the pilot reported two kills during the mission"]
        );
        assert_eq!(
            synsets[1].examples,
            ["able to swim", "she was able to program her computer"]
        );
        assert_eq!(synsets[2].words, ["long", "galore"]);
        assert!(synsets[2].examples.is_empty());
        assert_eq!(synsets[3].words, ["dog", "domestic dog"]);
        assert_eq!(synsets[3].definition, "a member of the genus Canis");
    }

    #[test]
    fn a_broken_line_names_its_file_and_line() {
        let err = WordNet::parse("data.verb", "00000001 29 v zz run 0 | go\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("data.verb") && msg.contains('1'), "{msg}");
        let err =
            WordNet::parse("data.verb", "\n00000001 29 v 01 run 0 000 no gloss\n").unwrap_err();
        assert!(err.to_string().contains(":2"), "{err}");
    }
}
