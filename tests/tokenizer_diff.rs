//! privrank's WordPiece tokenizer (`src/tokenize/wordpiece.rs`) against Hugging Face
//! `tokenizers` 0.23.2, the implementation it replaces, through its Python binding
//! (`tests/reference/hf_tokenize.py`, in the venv `scripts/setup` makes): the same ids
//! and masks on the golden fixtures' inputs and on 100,000 generated strings of mixed
//! scripts, accents and combining marks, control and format characters, emoji
//! sequences, special tokens written in the text, words past the 100-character limit
//! and texts past the token budget.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use privrank::{ModelManifest, TextTokenizer};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// What Hugging Face's tokenizer makes of a batch: no padding, truncation at the
/// budget, as privrank's manifests configure it.
#[derive(serde::Deserialize)]
struct Reference {
    vocab_size: usize,
    ids: Vec<Vec<i64>>,
    masks: Vec<Vec<u8>>,
}

fn reference(tokenizer: &Path, max_tokens: usize, texts: &[String]) -> Reference {
    let root = common::root();
    let input = std::env::temp_dir().join(format!("privrank-tokenize-{}.json", std::process::id()));
    std::fs::write(&input, serde_json::to_vec(texts).unwrap()).unwrap();
    let python = root.join(".cache/venv/bin/python");
    let out = Command::new(&python)
        .arg(root.join("tests/reference/hf_tokenize.py"))
        .arg(tokenizer)
        .arg(max_tokens.to_string())
        .arg(&input)
        .output()
        .unwrap_or_else(|e| panic!("{}: {e} (run scripts/setup)", python.display()));
    std::fs::remove_file(&input).ok();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn tokenizer_path(manifest: &Path) -> PathBuf {
    let spec = ModelManifest::from_json("manifest", &std::fs::read(manifest).unwrap()).unwrap();
    common::model_dir(manifest).join(&spec.files.tokenizer.name)
}

/// The tokenizer of the model whose manifest is `manifest`, as `SentenceEncoder`
/// reads it (by its file's name: `vocab.txt` or `tokenizer.json`).
fn tokenizer_at(path: &Path, max_tokens: usize) -> TextTokenizer {
    let name = path.file_name().unwrap().to_str().unwrap();
    TextTokenizer::from_file(name, &std::fs::read(path).unwrap(), max_tokens).unwrap()
}

/// The teacher's Hugging Face `tokenizer.json`, the file the student's `vocab.txt`
/// was written from.
fn teacher_json() -> Vec<u8> {
    std::fs::read(tokenizer_path(
        &common::root().join("models/all-minilm-l6-v2.json"),
    ))
    .unwrap()
}

/// Every model the project ships or measures, with its manifest's budget and a
/// small one, so that truncation is exercised on nearly every long text.
fn tokenizers() -> Vec<(String, PathBuf, usize)> {
    let models = common::root().join("models");
    let mut out = Vec::new();
    for name in [
        "student/student.json",
        "student-zh/student-zh.json",
        "all-minilm-l6-v2.json",
        "paraphrase-minilm-l3-v2.json",
    ] {
        let manifest = models.join(name);
        let spec = ModelManifest::from_json(name, &std::fs::read(&manifest).unwrap()).unwrap();
        let path = tokenizer_path(&manifest);
        out.push((
            format!("{name} (max {})", spec.max_tokens),
            path.clone(),
            spec.max_tokens,
        ));
        out.push((format!("{name} (max 9)"), path, 9));
    }
    out
}

#[test]
fn golden_inputs_tokenize_as_the_python_reference_wrote_them() {
    let fixtures = common::root().join("tests/fixtures");
    let mut checked = 0;
    for (fixture, manifest) in [
        ("encoder_golden.json", "all-minilm-l6-v2.json"),
        (
            "encoder_golden_paraphrase-minilm-l3-v2.json",
            "paraphrase-minilm-l3-v2.json",
        ),
        ("encoder_golden_student.json", "student/student.json"),
        (
            "encoder_golden_student-zh.json",
            "student-zh/student-zh.json",
        ),
    ] {
        let golden: serde_json::Value =
            serde_json::from_slice(&std::fs::read(fixtures.join(fixture)).unwrap()).unwrap();
        let max_tokens = golden["max_tokens"].as_u64().unwrap() as usize;
        let ours = tokenizer_at(
            &tokenizer_path(&common::root().join("models").join(manifest)),
            max_tokens,
        );
        for case in golden["cases"].as_array().unwrap() {
            let text = case["text"].as_str().unwrap();
            let ids: Vec<i64> = serde_json::from_value(case["ids"].clone()).unwrap();
            assert_eq!(
                ours.encode_ids(&[text])[0],
                ids,
                "{fixture}: {}",
                case["name"]
            );
            checked += 1;
        }
    }
    println!("tokenizer: {checked} golden inputs give the Python reference's ids");
}

/// Pieces generated strings are built from.
const PIECES: &[&str] = &[
    "running",
    "shoes",
    "Wireless",
    "noise-cancelling",
    "headphones",
    "Toy Story (1995)",
    "l'été",
    "Ñandú",
    "café",
    "cafe\u{301}",
    "ﬁsh",
    "Straße",
    "İstanbul",
    "ΣΊΣΥΦΟΣ",
    "ǅ",
    "無線降噪耳機",
    "连衣裙女夏",
    "ヘッドホン",
    "카메라",
    "ไทย",
    "العربية",
    "עברית",
    "देवनागरी",
    "👨‍👩‍👧",
    "🎧",
    "🇯🇵",
    "❤\u{fe0f}",
    "1️⃣",
    "\u{200b}",
    "\u{200d}",
    "\u{feff}",
    "\u{ad}",
    "\u{0}",
    "\u{1}",
    "\u{7f}",
    "\u{85}",
    "\u{fffd}",
    "\u{e000}",
    "\u{10ffff}",
    "\u{378}",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\u{a0}",
    "\u{3000}",
    "\u{2028}",
    "\u{1680}",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "[UNK]",
    "[PAD]",
    "[CLS",
    "[cls]",
    "SEP]",
    "[[SEP]]",
    "!",
    "?!",
    "...",
    "—",
    "«»",
    "¿",
    "、",
    "。",
    "・",
    "$",
    "^",
    "`",
    "~",
    "|",
    "+",
    "<>",
    "12,000",
    "3.5mm",
    "4K",
    "x86_64",
    "e-mail",
    "O'Reilly",
    "AT&T",
    "#1",
    "@home",
];

fn generated(rng: &mut StdRng, vocab: &[String]) -> String {
    let mut text = String::new();
    let long = rng.random_bool(0.02);
    let parts = if long {
        rng.random_range(200..700)
    } else {
        rng.random_range(0..14)
    };
    for _ in 0..parts {
        match rng.random_range(0..10) {
            0..=3 => text.push_str(PIECES[rng.random_range(0..PIECES.len())]),
            4..=5 => text.push_str(&vocab[rng.random_range(0..vocab.len())]),
            6 => {
                // Any scalar value, from every plane.
                let c = loop {
                    if let Some(c) = char::from_u32(rng.random_range(0..0x11_0000)) {
                        break c;
                    }
                };
                text.push(c);
            }
            7 => text.push(char::from(rng.random_range(0x20u8..0x7f))),
            8 => {
                // A word longer than WordPiece's 100-character limit, or just under.
                let n = rng.random_range(95..110);
                text.extend(std::iter::repeat_n('a', n));
            }
            _ => text.push(' '),
        }
    }
    text
}

#[test]
fn generated_strings_tokenize_as_hugging_face_does() {
    const STRINGS: usize = 100_000;
    let sets = tokenizers();
    let student_vocab: Vec<String> = {
        let json: serde_json::Value = serde_json::from_slice(&teacher_json()).unwrap();
        let mut words: Vec<String> = json["model"]["vocab"]
            .as_object()
            .unwrap()
            .keys()
            .map(|w| w.trim_start_matches("##").to_owned())
            .collect();
        words.sort();
        words
    };
    let mut rng = StdRng::seed_from_u64(20_261_206);
    let per_set = STRINGS.div_ceil(sets.len());
    for (name, path, max_tokens) in &sets {
        let texts: Vec<String> = (0..per_set)
            .map(|_| generated(&mut rng, &student_vocab))
            .collect();
        let theirs = reference(path, *max_tokens, &texts);
        let ours = tokenizer_at(path, *max_tokens);
        assert_eq!(ours.vocab_size(), theirs.vocab_size, "{name}");
        for (i, text) in texts.iter().enumerate() {
            let batch = ours.encode_batch(&[text]).unwrap();
            assert_eq!(
                batch.row(0),
                theirs.ids[i],
                "{name}: ids differ for {text:?} ({:x?})",
                text.chars().map(u32::from).collect::<Vec<_>>()
            );
            assert_eq!(
                batch.mask, theirs.masks[i],
                "{name}: masks differ for {text:?}"
            );
        }
    }
    println!(
        "tokenizer: {} generated strings tokenize as Hugging Face tokenizers 0.23.2 does \
         ({} tokenizer set-ups)",
        per_set * sets.len(),
        sets.len()
    );
}

#[test]
fn other_pipelines_are_refused_by_name() {
    let json = teacher_json();
    let mut file: serde_json::Value = serde_json::from_slice(&json).unwrap();
    file["normalizer"] = serde_json::json!({"type": "NFKC"});
    let err = TextTokenizer::from_file("tokenizer.json", &serde_json::to_vec(&file).unwrap(), 16)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("`NFKC`") && err.contains("BertNormalizer"),
        "{err}"
    );
    let err = TextTokenizer::from_file("tokenizer.json", &json, 1)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("[CLS] and [SEP]"), "{err}");
    let err = TextTokenizer::from_file("tokenizer.json", b"{\"model\": 3}", 16)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("does not parse"), "{err}");
}

/// The student's `vocab.txt` is what `privrank distill` writes from the teacher's
/// `tokenizer.json` (the generated strings above check it against Hugging Face's
/// own `vocab.txt` pipeline); a `tokenizer.json` whose pipeline a `vocab.txt`
/// cannot express is refused, not converted into a different tokenizer.
#[test]
fn the_student_vocab_txt_is_the_teacher_tokenizer_json_converted() {
    let json = teacher_json();
    let committed = std::fs::read(common::root().join("models/student/vocab.txt")).unwrap();
    let converted = privrank::tokenize::vocab_txt("tokenizer.json", &json).unwrap();
    assert!(
        converted == committed,
        "models/student/vocab.txt is not the teacher's vocabulary"
    );
    assert_eq!(
        privrank::tokenize::vocab_txt("vocab.txt", &committed).unwrap(),
        committed
    );
    let mut file: serde_json::Value = serde_json::from_slice(&json).unwrap();
    file["normalizer"]["lowercase"] = serde_json::json!(false);
    let err = privrank::tokenize::vocab_txt("tokenizer.json", &serde_json::to_vec(&file).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("the normalizer differs"), "{err}");
    let mut file: serde_json::Value = serde_json::from_slice(&json).unwrap();
    file["model"]["vocab"]["zebra"] = serde_json::json!(0);
    let err = privrank::tokenize::vocab_txt("tokenizer.json", &serde_json::to_vec(&file).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("id 0 is both"), "{err}");
    let mut file: serde_json::Value = serde_json::from_slice(&json).unwrap();
    file["model"]["vocab"]["zebra"] = serde_json::json!(4_000_000_000u32);
    let err = privrank::tokenize::vocab_txt("tokenizer.json", &serde_json::to_vec(&file).unwrap())
        .unwrap_err()
        .to_string();
    assert!(err.contains("some id has no token"), "{err}");
    let err = TextTokenizer::from_file("vocab.txt", b"[CLS]\n[SEP]\nshoe\n", 16)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no [UNK]"), "{err}");
}
