//! Shared by the integration tests: the golden fixtures, the default model set and the
//! fetched teacher model.

#![allow(dead_code)] // each test binary uses its own subset
#![cfg(not(target_arch = "wasm32"))]

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Deserialize)]
pub struct Golden {
    pub model: String,
    pub weights_sha256: String,
    pub max_tokens: usize,
    pub cases: Vec<Case>,
    pub batches: Vec<Vec<String>>,
    pub pairs: Vec<Pair>,
}

#[derive(Deserialize)]
pub struct Case {
    pub name: String,
    pub text: String,
    pub ids: Vec<i64>,
    pub embedding: Vec<f32>,
}

#[derive(Deserialize)]
pub struct Pair {
    pub a: String,
    pub b: String,
    pub cosine: f32,
}

impl Golden {
    /// The teacher's fixture.
    pub fn load() -> Self {
        Self::load_from("tests/fixtures/encoder_golden.json")
    }

    /// The fixture of the default model set's encoder (`models/default.json`), named as
    /// tests/reference/make_golden.py names it.
    pub fn default_set() -> Self {
        let manifest = default_manifest();
        let name = privrank::ModelManifest::from_json(
            &manifest.display().to_string(),
            &std::fs::read(&manifest).expect("manifest is committed"),
        )
        .expect("manifest parses")
        .name;
        let golden = if name == "all-minilm-l6-v2" {
            Self::load()
        } else {
            Self::load_from(&format!("tests/fixtures/encoder_golden_{name}.json"))
        };
        assert_eq!(golden.model, name, "fixture of another model");
        golden
    }

    /// A fixture by its path from the repository root.
    pub fn load_from(fixture: &str) -> Self {
        let path = root().join(fixture);
        let bytes = std::fs::read(&path).expect("golden fixture is committed");
        serde_json::from_slice(&bytes).expect("golden fixture parses")
    }

    pub fn case(&self, name: &str) -> &Case {
        self.cases
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("fixture has no case {name}"))
    }
}

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The encoder manifest of the default model set (what the CLI and the browser load
/// unless told otherwise).
pub fn default_manifest() -> PathBuf {
    let models = root().join("models");
    let bytes = std::fs::read(models.join("default.json")).expect("models/default.json");
    let set = privrank::config::ModelSet::from_json("default.json", &bytes).expect("model set");
    models.join(set.encoder.manifest)
}

pub fn teacher_manifest() -> PathBuf {
    root().join("models/all-minilm-l6-v2.json")
}

/// The fetched teacher's folder; the tests need it, so its absence is a failure with
/// the fix in the message, not a skip.
pub fn teacher_dir() -> PathBuf {
    model_dir(&teacher_manifest())
}

/// The fetched files of the model `manifest` describes (a failure when missing).
pub fn model_dir(manifest: &Path) -> PathBuf {
    let dir = privrank::config::default_model_dir(manifest);
    let spec = privrank::ModelManifest::from_json(
        &manifest.display().to_string(),
        &std::fs::read(manifest).expect("manifest is committed"),
    )
    .expect("manifest parses");
    assert!(
        dir.join(&spec.files.weights.name).is_file(),
        "model files for {} are missing from {}: run `bash scripts/setup` first",
        manifest.display(),
        dir.display()
    );
    dir
}

/// Copy the teacher into a fresh temp folder so a test can damage it.
pub fn teacher_copy(tag: &str) -> PathBuf {
    let src = teacher_dir();
    let dst = std::env::temp_dir().join(format!("privrank-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dst).unwrap();
    for entry in std::fs::read_dir(&src).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dst.join(entry.file_name())).unwrap();
    }
    dst
}

pub fn flip_byte(path: &Path, offset_from_end: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = bytes.len() - offset_from_end;
    bytes[i] ^= 0x5a;
    std::fs::write(path, bytes).unwrap();
}

pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "embedding lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// The default model set, loaded as the CLI loads it, on the CPU backend.
pub struct DefaultSet {
    pub encoder: privrank::SentenceEncoder,
    pub manifest: privrank::RankerManifest,
    pub ranker: privrank::Ranker,
    pub backend: privrank::Backend,
}

impl DefaultSet {
    pub fn load() -> Self {
        let backend = privrank::Backend::cpu();
        let manifest_path = default_manifest();
        let bundle = privrank::ModelBundle::read(&manifest_path, &model_dir(&manifest_path))
            .expect("the default encoder loads");
        let encoder = privrank::SentenceEncoder::load(&bundle, &backend.device).unwrap();
        let models = root().join("models");
        let set = privrank::config::ModelSet::from_json(
            "default.json",
            &std::fs::read(models.join("default.json")).unwrap(),
        )
        .unwrap();
        let ranker_dir = models.join(&set.ranker.files);
        let (manifest, ranker) =
            privrank::Ranker::read(&ranker_dir, encoder.model_hash(), &backend.device).unwrap();
        Self {
            encoder,
            manifest,
            ranker,
            backend,
        }
    }

    pub fn model(&self) -> privrank::rank::Model<'_> {
        privrank::rank::Model {
            ranker: &self.ranker,
            config: &self.manifest.config,
            device: &self.backend.device,
            encoder: &self.manifest.encoder.model_hash,
        }
    }

    /// A rank request in `privrank rank`'s JSON, through the library's one request:
    /// the ranked list as JSON, or the error's message.
    pub fn rank_json(&self, request: &serde_json::Value) -> Result<Vec<serde_json::Value>, String> {
        self.rank_json_with(request, &self.encoder)
    }

    /// [`DefaultSet::rank_json`] with another embedder (one that counts, say).
    pub fn rank_json_with(
        &self,
        request: &serde_json::Value,
        embedder: &impl privrank::rank::Embedder,
    ) -> Result<Vec<serde_json::Value>, String> {
        let parsed = privrank::rank::RequestFile::from_json(
            "request",
            &serde_json::to_vec(request).unwrap(),
            &self.manifest.config,
            1.8e12,
        )
        .map_err(|e| e.to_string())?;
        let ranked = privrank::rank::rank_blocking(self.model(), parsed.request(), embedder)
            .map_err(|e| e.to_string())?;
        Ok(ranked
            .iter()
            .map(|r| serde_json::to_value(r).unwrap())
            .collect())
    }
}
