//! The fuzz targets' bodies. `cargo fuzz` runs them under libFuzzer
//! (`fuzz/fuzz_targets/`, `scripts/fuzz`); `tests/properties.rs` runs them on stable
//! over every file in `fuzz/corpus/<target>/`, so an input that once crashed a target
//! and was kept there fails the suite if the bug returns. A refused input is a
//! correct answer; a panic, a hang or an allocation sized by the input is a finding.
//! Each target also asserts what a caller relies on when the input is accepted, and
//! says whether it was (the committed seeds must be, so that they keep reaching the
//! code past the parsers).

#![allow(dead_code)]

use std::collections::HashSet;
use std::sync::OnceLock;

use privrank::catalog::{CatalogReader, Purpose};
use privrank::config::{BertConfig, ModelSet};
use privrank::encoder::Encoder;
use privrank::input::Value;
use privrank::rank::{self, Embedder, Model, RequestFile, Texts};
use privrank::tokenize::TokenBatch;
use privrank::weights::sha256_hex;
use privrank::{Backend, ModelBundle, ModelManifest, Ranker, RankerManifest, TextTokenizer};

/// The shipped default ranker and its manifest: the request target ranks with them.
const RANKER_MANIFEST: &[u8] = include_bytes!("../models/student/ranker/ranker.json");
const RANKER_WEIGHTS: &[u8] = include_bytes!("../models/student/ranker/ranker.safetensors");
/// The shipped student's manifest and tokenizer.
const ENCODER_MANIFEST: &[u8] = include_bytes!("../models/student/student.json");
const TOKENIZER: &[u8] = include_bytes!("../models/student/vocab.txt");

/// The caller's clock for requests without `options.now` (2027-01-15).
const CLOCK_MS: f64 = 1.8e12;

struct RankerSet {
    manifest: RankerManifest,
    ranker: Ranker,
    cpu: Backend,
}

fn ranker_set() -> &'static RankerSet {
    static SET: OnceLock<RankerSet> = OnceLock::new();
    SET.get_or_init(|| {
        let manifest = RankerManifest::from_json("ranker.json", RANKER_MANIFEST).unwrap();
        let cpu = Backend::cpu();
        let ranker = Ranker::load(
            &manifest,
            RANKER_WEIGHTS,
            &manifest.encoder.model_hash,
            &cpu.device,
        )
        .unwrap();
        RankerSet {
            manifest,
            ranker,
            cpu,
        }
    })
}

/// Stands in for the encoder, which would cost milliseconds an input: a unit vector
/// drawn from the text's hash, so equal texts embed equally.
struct Hashed(usize);

impl Embedder for Hashed {
    async fn embed(&self, texts: &[String], _whose: Texts) -> privrank::Result<Vec<Vec<f32>>> {
        Ok(texts.iter().map(|t| hashed(t, self.0)).collect())
    }
}

fn hashed(text: &str, dim: usize) -> Vec<f32> {
    let mut state = text.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) | 1;
    let v: Vec<f32> = (0..dim)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
    v.into_iter().map(|x| x / norm).collect()
}

/// A ranking request document (`privrank rank`'s file) through the library's one
/// request, with the shipped ranker.
pub fn request(data: &[u8]) -> bool {
    let set = ranker_set();
    let config = &set.manifest.config;
    let Ok(file) = RequestFile::from_json("fuzz", data, config, CLOCK_MS) else {
        return false;
    };
    let model = Model {
        ranker: &set.ranker,
        config,
        device: &set.cpu.device,
        encoder: &set.manifest.encoder.model_hash,
    };
    let Ok(ranked) = rank::rank_blocking(model, file.request(), &Hashed(config.embedding_dim))
    else {
        return false;
    };
    let ids: HashSet<&str> = file.candidates.iter().map(|c| c.id.as_str()).collect();
    let mut shown = HashSet::new();
    assert!(ranked.len() <= file.candidates.len());
    if let Some(k) = file.options.k {
        assert!(ranked.len() <= k, "{} ranked for k = {k}", ranked.len());
    }
    for r in &ranked {
        assert!(ids.contains(r.id.as_str()), "ranked an unknown id {}", r.id);
        assert!(shown.insert(r.id.as_str()), "ranked {} twice", r.id);
        assert!((0.0..=1.0).contains(&r.ctr), "ctr {} of {}", r.ctr, r.id);
        assert!(!r.score.is_nan(), "score NaN for {}", r.id);
        if let Some(p) = r.propensity {
            assert!(p > 0.0 && p <= 1.0, "propensity {p} of {}", r.id);
        }
    }
    true
}

/// Catalog lines as `privrank embed-catalog` and the edge worker read them, for
/// both purposes (a catalog to embed; candidates to attach embeddings to).
pub fn catalog(data: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(data) else {
        return false;
    };
    let mut accepted = false;
    for purpose in [Purpose::Lines, Purpose::Candidates] {
        let mut reader = CatalogReader::new(purpose);
        let mut ids = HashSet::new();
        for (line, raw) in text.lines().enumerate() {
            let Ok(value) = serde_json::from_str::<Value>(raw) else {
                continue;
            };
            if let Ok(item) = reader.item(line, &value) {
                assert!(ids.insert(item.id.clone()), "id {} accepted twice", item.id);
                assert!(item.texts().count() >= 1);
                accepted = true;
            }
        }
    }
    if let Ok(values) = serde_json::from_slice::<Vec<Value>>(data) {
        accepted |= privrank::catalog::parse(&values, 1_000, Purpose::Candidates).is_ok();
    }
    accepted
}

/// Every manifest and config the loaders parse: the encoder's and the ranker's
/// manifests, BERT's `config.json` and the browser's model set.
pub fn manifests(data: &[u8]) -> bool {
    let mut accepted = ModelManifest::from_json("fuzz.json", data).is_ok();
    if let Ok(m) = RankerManifest::from_json("ranker.json", data) {
        m.config.validate("ranker.json").unwrap();
        accepted = true;
    }
    if let Ok(c) = BertConfig::from_json("config.json", data) {
        assert!(c.hidden_size > 0 && c.hidden_size.is_multiple_of(c.num_attention_heads));
        let _ = c.parameter_count();
        accepted = true;
    }
    accepted | ModelSet::from_json("default.json", data).is_ok()
}

/// The weight targets' input: a JSON head (a `config.json` or a ranker manifest),
/// its length in the first two bytes (little endian), then the weights file.
pub fn framed(head: &[u8], weights: &[u8]) -> Vec<u8> {
    let len = u16::try_from(head.len()).expect("a head under 64 KiB");
    [&len.to_le_bytes()[..], head, weights].concat()
}

/// [`framed`]'s parts back.
fn split(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, rest) = data.split_first_chunk::<2>()?;
    let len = usize::from(u16::from_le_bytes(*len));
    (len <= rest.len()).then(|| rest.split_at(len))
}

/// An encoder's `config.json` and safetensors file, hashed into a manifest so that
/// they pass verification and reach the tensor reader, then one forward pass.
pub fn encoder_weights(data: &[u8]) -> bool {
    let Some((config, weights)) = split(data) else {
        return false;
    };
    let tokenizer = b"{}".to_vec();
    let manifest = serde_json::json!({
        "name": "fuzz",
        "files": {
            "config": {"name": "config.json", "sha256": sha256_hex(config)},
            "tokenizer": {"name": "tokenizer.json", "sha256": sha256_hex(&tokenizer)},
            "weights": {"name": "model.safetensors", "sha256": sha256_hex(weights)},
        },
        "max_tokens": 2, "pooling": "mean", "normalize": true
    });
    let manifest = ModelManifest::from_json("fuzz.json", manifest.to_string().as_bytes()).unwrap();
    let Ok(bundle) = ModelBundle::from_bytes(manifest, config, tokenizer, weights.to_vec()) else {
        return false;
    };
    let cpu = Backend::cpu();
    let Ok(encoder) = Encoder::load(&bundle, &cpu.device) else {
        return false;
    };
    let c = &bundle.config;
    let seq = c.max_position_embeddings.min(3);
    let ids: Vec<i64> = (0..seq).map(|i| (i % c.vocab_size) as i64).collect();
    let (ids, mask) = TokenBatch::from_rows(&[ids]).unwrap().tensors(&cpu.device);
    let out = encoder.forward(ids, mask);
    assert_eq!(out.dims(), [1, c.hidden_size]);
    true
}

/// A ranker's manifest (as `config.json` is split off in [`encoder_weights`]) and
/// safetensors file, loaded like the browser loads the shipped one.
pub fn ranker_weights(data: &[u8]) -> bool {
    let Some((manifest, weights)) = split(data) else {
        return false;
    };
    let Ok(mut manifest) = RankerManifest::from_json("ranker.json", manifest) else {
        return false;
    };
    manifest.weights.sha256 = sha256_hex(weights);
    let hash = manifest.encoder.model_hash.clone();
    Ranker::load(&manifest, weights, &hash, &Backend::cpu().device).is_ok()
}

/// Any text through the shipped student's tokenizer, as the encoder receives it.
pub fn tokenizer(data: &[u8]) -> bool {
    static TOK: OnceLock<(TextTokenizer, usize)> = OnceLock::new();
    let (tok, vocab) = TOK.get_or_init(|| {
        let manifest = ModelManifest::from_json("student.json", ENCODER_MANIFEST).unwrap();
        let tok = TextTokenizer::from_file(
            &manifest.files.tokenizer.name,
            TOKENIZER,
            manifest.max_tokens,
        )
        .unwrap();
        let vocab = tok.vocab_size();
        (tok, vocab)
    });
    let text = String::from_utf8_lossy(data);
    let texts = [text.as_ref(), "a plain title"];
    let batch = tok.encode_batch(&texts).unwrap();
    assert_eq!(batch.batch, 2);
    assert!(batch.seq_len <= tok.max_tokens());
    for i in 0..2 {
        let row = batch.row(i);
        assert!(row.len() >= 2, "[CLS] and [SEP] at least, got {row:?}");
        assert!(row.iter().all(|&id| id >= 0 && (id as usize) < *vocab));
    }
    true
}
