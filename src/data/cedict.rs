//! CC-CEDICT (MDBG, CC BY-SA 4.0): Chinese headwords with English glosses, the
//! parallel text the bilingual student learns from. A line is
//! `TRADITIONAL SIMPLIFIED [pin1 yin1] /gloss one/gloss two/`; `#` lines are the
//! header.
//!
//! Only what a product title needs is kept: headwords written wholly in CJK
//! ideographs (no Latin letters or digits, which the English vocabulary already
//! covers), and glosses that are English meanings. Cross-references ("variant of",
//! "see", "CL:" classifiers, "surname"), parenthesised notes and bracketed pinyin are
//! dropped, because the teacher would embed them as English noise.

use std::path::Path;

use super::read_text;
use crate::tokenize::is_chinese_char;
use crate::weights::sha256_hex;
use crate::{Error, Result};

/// The file inside the fetched data folder.
pub const FILE: &str = "cedict_ts.u8";

/// Senses kept per headword: the first ones are the common meanings; later ones are
/// rare uses that would pull the headword away from them.
pub const SENSES: usize = 3;

/// Gloss prefixes that are cross-references or grammar, not meanings.
const NOT_MEANINGS: [&str; 13] = [
    "CL:",
    "variant of",
    "old variant of",
    "archaic variant",
    "see ",
    "used in",
    "abbr. for",
    "surname ",
    "Japanese variant",
    "erhua variant",
    "also written",
    "also pr.",
    "pr. ",
];

/// One headword with its English meaning.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub traditional: String,
    pub simplified: String,
    /// The first [`SENSES`] meanings, comma-separated ("tradition, traditional,
    /// convention").
    pub english: String,
}

#[derive(Debug)]
pub struct Cedict {
    /// In file order; one entry per simplified headword (the first with a meaning).
    pub entries: Vec<Entry>,
    /// SHA-256 of the file.
    pub data_hash: String,
}

impl Cedict {
    pub fn load(dir: &Path) -> Result<Self> {
        let text = read_text(&dir.join(FILE))?;
        let mut cedict = Self::parse(FILE, &text)?;
        cedict.data_hash = sha256_hex(text.as_bytes());
        Ok(cedict)
    }

    /// The usable entries of a file's contents.
    pub fn parse(file: &str, text: &str) -> Result<Self> {
        let mut entries = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (i, line) in text.lines().enumerate() {
            if line.starts_with('#') || line.trim().is_empty() {
                continue;
            }
            let Some(entry) = parse_line(file, i + 1, line)? else {
                continue;
            };
            if seen.insert(entry.simplified.clone()) {
                entries.push(entry);
            }
        }
        Ok(Self {
            entries,
            data_hash: String::new(),
        })
    }
}

/// `Ok(None)` for a well-formed line that is not kept.
fn parse_line(file: &str, line: usize, text: &str) -> Result<Option<Entry>> {
    let bad = |column: &str, reason: &str| Error::BadData {
        file: file.to_owned(),
        line,
        column: column.to_owned(),
        reason: reason.to_owned(),
    };
    let text = text.trim_end();
    let (traditional, rest) = text
        .split_once(' ')
        .ok_or_else(|| bad("traditional", "no space after the headword"))?;
    let (simplified, rest) = rest
        .split_once(' ')
        .ok_or_else(|| bad("simplified", "no space after the headword"))?;
    let rest = rest
        .strip_prefix('[')
        .ok_or_else(|| bad("pinyin", "expected `[`"))?;
    let (_, glosses) = rest
        .split_once("] ")
        .ok_or_else(|| bad("pinyin", "expected `] ` after the pinyin"))?;
    let glosses = glosses
        .strip_prefix('/')
        .and_then(|g| g.strip_suffix('/'))
        .ok_or_else(|| bad("english", "glosses must be enclosed in `/…/`"))?;
    let ideographs = |s: &str| !s.is_empty() && s.chars().all(is_chinese_char);
    if !ideographs(traditional) || !ideographs(simplified) {
        return Ok(None);
    }
    let mut senses: Vec<String> = Vec::new();
    for gloss in glosses.split('/') {
        let gloss = gloss.trim();
        if NOT_MEANINGS.iter().any(|p| gloss.starts_with(p)) || gloss.contains("variant of") {
            continue;
        }
        let cleaned = clean(gloss);
        if cleaned.is_empty()
            || cleaned.contains('|')
            || cleaned.chars().any(is_chinese_char)
            || senses.contains(&cleaned)
        {
            continue;
        }
        senses.push(cleaned);
        if senses.len() == SENSES {
            break;
        }
    }
    if senses.is_empty() {
        return Ok(None);
    }
    Ok(Some(Entry {
        traditional: traditional.to_owned(),
        simplified: simplified.to_owned(),
        english: senses.join(", "),
    }))
}

/// A gloss without `(notes)` or `[pin1 yin1]`, spaces collapsed, stray separators
/// trimmed.
fn clean(gloss: &str) -> String {
    let mut out = String::with_capacity(gloss.len());
    let mut depth = 0usize;
    for c in gloss.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    out.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .trim_matches(|c: char| c == ';' || c == ',' || c == ' ')
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "# CC-CEDICT\n\
傳統 传统 [chuan2 tong3] /tradition/traditional/convention/conventional/CL:個|个[ge4]/\n\
3D打印 3D打印 [san1 D da3 yin4] /to 3D print; 3D printing/\n\
乾淨 干净 [gan1 jing4] /clean/neat/(fig.) completely/\n\
乾凈 干净 [gan1 jing4] /variant of 乾淨|干净[gan1 jing4]/\n\
丟 丢 [diu1] /to lose/to put aside/to throw/\n\
亾 亡 [wang2] /old variant of 亡[wang2]/\n\
王 王 [Wang2] /surname Wang/\n\
鞋 鞋 [xie2] /shoe/CL:雙|双[shuang1],隻|只[zhi1]/\n";

    #[test]
    fn keeps_meanings_and_drops_references() {
        let c = Cedict::parse("t", SAMPLE).unwrap();
        let got: Vec<(&str, &str, &str)> = c
            .entries
            .iter()
            .map(|e| {
                (
                    e.traditional.as_str(),
                    e.simplified.as_str(),
                    e.english.as_str(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("傳統", "传统", "tradition, traditional, convention"),
                ("乾淨", "干净", "clean, neat, completely"),
                ("丟", "丢", "to lose, to put aside, to throw"),
                ("鞋", "鞋", "shoe"),
            ]
        );
    }

    #[test]
    fn malformed_lines_name_their_line_and_column() {
        let err = Cedict::parse("cedict_ts.u8", "# h\n鞋 鞋 xie2 /shoe/\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("cedict_ts.u8:2: column `pinyin`"), "{msg}");
        let err = Cedict::parse("f", "鞋 鞋 [xie2] shoe\n").unwrap_err();
        assert!(err.to_string().contains("`english`"), "{err}");
    }
}
