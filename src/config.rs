//! One fact in one place: file names and hashes live in the manifest (written when a
//! model is added to `models/`), dims live in the model's own `config.json`. Nothing
//! else in the crate hard-codes either.

use burn::config::Config;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// `models/<name>.json`: what a model is made of and how to check it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelManifest {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub license: String,
    /// Where the set-up script fetches the files from, or (`distill`) how a committed
    /// model was made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<serde_json::Value>,
    pub files: ModelFiles,
    /// Token budget per text, special tokens included; longer texts are truncated.
    pub max_tokens: usize,
    pub pooling: Pooling,
    pub normalize: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelFiles {
    pub config: FileSpec,
    pub tokenizer: FileSpec,
    pub weights: FileSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileSpec {
    pub name: String,
    pub sha256: String,
    /// The file's length, when the manifest states it: the browser's loader refuses
    /// a download whose server announces another length and cuts one off past it,
    /// so a wrong URL cannot stream an unbounded body into memory before the hash
    /// check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Attention-masked mean of the last hidden state (sentence-transformers' default).
    Mean,
}

impl ModelManifest {
    pub fn from_json(file: &str, bytes: &[u8]) -> Result<Self> {
        let manifest: Self = serde_json::from_slice(bytes).map_err(|e| Error::BadManifest {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
        if manifest.max_tokens < 2 {
            return Err(Error::BadManifest {
                file: file.to_owned(),
                reason: format!(
                    "max_tokens is {}, but [CLS] and [SEP] alone need 2",
                    manifest.max_tokens
                ),
            });
        }
        Ok(manifest)
    }
}

/// Where a model's files are. A model committed to the repository sits in a folder
/// named after its manifest (`models/student/student.json`), its files beside it.
/// Otherwise the set-up script fetched it: `<repo>/.cache/models/<stem>` for
/// `<repo>/models/<stem>.json`, or under `$PRIVRANK_CACHE` when that is set.
#[cfg(not(target_arch = "wasm32"))]
pub fn default_model_dir(manifest_path: &std::path::Path) -> std::path::PathBuf {
    let stem = manifest_path.file_stem().unwrap_or_default();
    if let Some(folder) = manifest_path.parent()
        && folder.file_name() == Some(stem)
    {
        return folder.to_path_buf();
    }
    let cache = std::env::var_os("PRIVRANK_CACHE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            let models = manifest_path.parent().unwrap_or(std::path::Path::new("."));
            models
                .parent()
                .unwrap_or(std::path::Path::new("."))
                .join(".cache")
        });
    cache.join("models").join(stem)
}

/// `models/ranker/ranker.json`: the CTR model's architecture, the encoder it was trained
/// on, where its weights are and how it was made. Written by `privrank train`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RankerManifest {
    pub name: String,
    /// The encoder whose embeddings the ranker was trained on: another encoder's
    /// vectors live in a different space, so loading refuses a mismatch.
    pub encoder: EncoderRef,
    pub config: RankerConfig,
    pub weights: FileSpec,
    /// How the weights were made (data hash, seed, epochs, validation AUC).
    #[serde(default)]
    pub training: serde_json::Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EncoderRef {
    pub name: String,
    /// SHA-256 of the encoder's weights file.
    pub model_hash: String,
}

/// The ranker's architecture; every dim the model code uses comes from here. Build
/// one with `RankerConfig::new(embedding_dim, candidate_features)` and the `with_*`
/// setters; the defaults are the shipped model's.
#[derive(Config, Debug, PartialEq)]
pub struct RankerConfig {
    /// Width of the encoder's item embeddings.
    pub embedding_dim: usize,
    /// Names of the per-candidate numeric features, in input order (the training
    /// data defines them: `data::CANDIDATE_FEATURES`).
    pub candidate_features: Vec<String>,
    /// Items are projected to this width before attention and the MLP.
    #[config(default = 64)]
    pub projection_dim: usize,
    #[config(default = 36)]
    pub attention_hidden: usize,
    /// Hidden widths of the scoring MLP (seed 000/004: 128, 64), then one logit.
    #[config(default = "vec![128, 64]")]
    pub mlp: Vec<usize>,
    #[config(default = 0.2)]
    pub dropout: f64,
    /// Target attention over the history (DIN); false pools the history by its mean.
    #[config(default = true)]
    pub attention: bool,
    /// Most recent events the model attends over.
    #[config(default = 30)]
    pub max_history: usize,
    /// Most recent events matched against a candidate's `related` neighbours.
    #[config(default = "crate::related::MATCH_HISTORY")]
    pub match_history: usize,
    /// Rows of the event-kind embedding: one per trained kind (see
    /// `history::EventKind::row`).
    #[config(default = "crate::history::EventKind::TRAINED.len()")]
    pub kinds: usize,
    /// How far a focused history pulls the served score, in logits per spread of
    /// the pull over the request's candidates (`rank::blend`: the candidate's mean
    /// cosine to the attended events plus its category match, each standardized
    /// over the candidates). MovieLens histories are never about one thing, so a
    /// model fitted to them alone learns to trust popularity over a shopper's
    /// focused session; `privrank train` picks this weight after fitting, on
    /// validation data (`eval::content_prior`). 0 serves the fitted model alone.
    #[config(default = 0.0)]
    pub content_weight: f32,
    /// The focus (`rank::focus`: the largest share of the attended events' weight
    /// one category tag covers) at which the pull starts; it grows linearly to the
    /// full weight at a focus of 1 (`rank::strength`). 0.8 was chosen on 2026-12-06
    /// against 0.7 on the validation impressions and the development half of the
    /// focused sessions: the same genre share for less validation AUC. At 94% of
    /// the MovieLens validation moments one tag covers less than 0.8 of the last 30
    /// ratings' weight, so mixed histories keep the model's order.
    #[config(default = 0.8)]
    pub content_focus_from: f32,
}

impl RankerConfig {
    pub fn validate(&self, file: &str) -> Result<()> {
        let bad = |reason: String| Error::BadManifest {
            file: file.to_owned(),
            reason,
        };
        let dims = [
            ("embedding_dim", self.embedding_dim),
            ("projection_dim", self.projection_dim),
            ("attention_hidden", self.attention_hidden),
            ("max_history", self.max_history),
            ("match_history", self.match_history),
            ("kinds", self.kinds),
        ];
        if let Some((name, _)) = dims.iter().find(|(_, d)| *d == 0) {
            return Err(bad(format!("{name} must be > 0")));
        }
        let trained = crate::history::EventKind::TRAINED.len();
        if self.kinds != trained {
            return Err(bad(format!(
                "kinds is {}, but the event kinds map onto {trained} rows",
                self.kinds
            )));
        }
        if self.mlp.contains(&0) {
            return Err(bad(format!("mlp widths {:?} must be > 0", self.mlp)));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(bad(format!("dropout {} must be in [0, 1)", self.dropout)));
        }
        if !(self.content_weight.is_finite() && self.content_weight >= 0.0) {
            return Err(bad(format!(
                "content_weight {} must be a finite number >= 0",
                self.content_weight
            )));
        }
        if !(0.0..1.0).contains(&self.content_focus_from) {
            return Err(bad(format!(
                "content_focus_from {} must be in [0, 1)",
                self.content_focus_from
            )));
        }
        Ok(())
    }
}

impl RankerManifest {
    /// The ranker reads the embeddings of the encoder it was trained on: another
    /// encoder's (`encoder_hash`, its weights' SHA-256) live in a different space.
    pub fn check_encoder(&self, encoder_hash: &str) -> Result<()> {
        if self.encoder.model_hash == encoder_hash {
            return Ok(());
        }
        Err(Error::RankerMismatch {
            file: self.weights.name.clone(),
            reason: format!(
                "it was trained on encoder `{}` with weights sha256 {}, but the encoder in \
                 use has {encoder_hash}; retrain it (`privrank train`)",
                self.encoder.name, self.encoder.model_hash
            ),
        })
    }

    pub fn from_json(file: &str, bytes: &[u8]) -> Result<Self> {
        let manifest: Self = serde_json::from_slice(bytes).map_err(|e| Error::BadManifest {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
        manifest.config.validate(file)?;
        Ok(manifest)
    }
}

/// The models a browser loads together (`models/default.json`): where each
/// manifest is and where its files are, as URLs relative to this file. Separate
/// locations because the encoder's files are fetched by the set-up script into
/// `.cache/` in the repository but ship next to their manifest in `pkg/`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelSet {
    pub encoder: ModelLocation,
    pub ranker: ModelLocation,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelLocation {
    /// URL of the manifest.
    pub manifest: String,
    /// URL of the folder holding the manifest's files (ends with `/`).
    pub files: String,
}

impl ModelSet {
    pub fn from_json(file: &str, bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| Error::BadManifest {
            file: file.to_owned(),
            reason: e.to_string(),
        })
    }
}

/// The subset of a Hugging Face BERT `config.json` the encoder needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub layer_norm_eps: f64,
    #[serde(default = "default_act")]
    pub hidden_act: String,
    /// Width of the word-embedding table when it is factorised (ALBERT's idea): rows of
    /// this width, mapped up to `hidden_size` by `embeddings.word_projection`. The
    /// vocabulary is most of a small BERT's weights, so a distilled student keeps
    /// its 30k rows narrow. Absent: rows are `hidden_size` wide, no projection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding_size: Option<usize>,
}

fn default_act() -> String {
    "gelu".to_owned()
}

impl BertConfig {
    pub fn from_json(file: &str, bytes: &[u8]) -> Result<Self> {
        let bad = |reason: String| Error::BadManifest {
            file: file.to_owned(),
            reason,
        };
        let c: Self = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        // A zero width would reach `chunks_exact(0)` (a panic) before any weight is
        // read; say which field is wrong instead.
        for (field, value) in [
            ("vocab_size", c.vocab_size),
            ("hidden_size", c.hidden_size),
            ("intermediate_size", c.intermediate_size),
            ("max_position_embeddings", c.max_position_embeddings),
            ("embedding_size", c.word_embedding_dim()),
        ] {
            if value == 0 {
                return Err(bad(format!("{field} must be > 0")));
            }
        }
        if c.num_attention_heads == 0 || !c.hidden_size.is_multiple_of(c.num_attention_heads) {
            return Err(bad(format!(
                "hidden_size {} is not divisible by num_attention_heads {}",
                c.hidden_size, c.num_attention_heads
            )));
        }
        if c.hidden_act != "gelu" {
            return Err(bad(format!(
                "hidden_act `{}` is not supported (only exact `gelu`)",
                c.hidden_act
            )));
        }
        if !(c.layer_norm_eps > 0.0 && c.layer_norm_eps.is_finite()) {
            return Err(bad(format!(
                "layer_norm_eps {} must be > 0",
                c.layer_norm_eps
            )));
        }
        Ok(c)
    }

    /// Width of one row of the word-embedding table.
    pub fn word_embedding_dim(&self) -> usize {
        self.embedding_size.unwrap_or(self.hidden_size)
    }

    pub fn head_dim(&self) -> usize {
        self.hidden_size / self.num_attention_heads
    }

    /// Weights the encoder uses, as values: counted from the architecture rather than
    /// the file, because a file's int4 rows are packed two to a byte and a checkpoint
    /// may carry tensors the encoder never reads (the teacher's pooler). Saturating:
    /// a config may name any dims, and this count is what refuses absurd ones.
    pub fn parameter_count(&self) -> usize {
        let (d, f, e) = (
            self.hidden_size,
            self.intermediate_size,
            self.word_embedding_dim(),
        );
        let linear = |d_in: usize, d_out: usize| d_in.saturating_mul(d_out).saturating_add(d_out);
        let norm = d.saturating_mul(2);
        let projection = self.embedding_size.map_or(0, |e| linear(e, d));
        let embeddings = self
            .vocab_size
            .saturating_mul(e)
            .saturating_add(projection)
            .saturating_add(
                self.max_position_embeddings
                    .saturating_add(self.type_vocab_size)
                    .saturating_mul(d),
            )
            .saturating_add(norm);
        let layer = linear(d, d)
            .saturating_mul(4)
            .saturating_add(linear(d, f))
            .saturating_add(linear(f, d))
            .saturating_add(norm.saturating_mul(2));
        embeddings.saturating_add(self.num_hidden_layers.saturating_mul(layer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = r#"{"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 4,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}"#;

    #[test]
    fn config_rejects_heads_that_do_not_divide_hidden() {
        let bad = CONFIG.replace("\"num_attention_heads\": 2", "\"num_attention_heads\": 3");
        let err = BertConfig::from_json("config.json", bad.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("not divisible"), "{err}");
        assert_eq!(
            BertConfig::from_json("config.json", CONFIG.as_bytes())
                .unwrap()
                .head_dim(),
            4
        );
    }

    #[test]
    fn ranker_config_refuses_a_negative_or_non_finite_content_prior() {
        let base = RankerConfig::new(4, Vec::new());
        assert!(base.validate("r.json").is_ok());
        assert_eq!(base.content_weight, 0.0);
        for w in [-1.0, f32::NAN, f32::INFINITY] {
            let err = base
                .clone()
                .with_content_weight(w)
                .validate("r.json")
                .unwrap_err();
            assert!(err.to_string().contains("content_weight"), "{err}");
        }
        for from in [-0.1, 1.0, f32::NAN] {
            let err = base
                .clone()
                .with_content_focus_from(from)
                .validate("r.json")
                .unwrap_err();
            assert!(err.to_string().contains("content_focus_from"), "{err}");
        }
    }

    #[test]
    fn config_rejects_zero_widths_by_name() {
        for field in [
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "max_position_embeddings",
            "embedding_size",
        ] {
            let mut bad: serde_json::Value = serde_json::from_str(CONFIG).unwrap();
            bad[field] = 0.into();
            let err = BertConfig::from_json("config.json", bad.to_string().as_bytes()).unwrap_err();
            assert!(
                err.to_string().contains(&format!("{field} must be > 0")),
                "{err}"
            );
        }
    }

    #[test]
    fn config_rejects_other_activations() {
        let bad = CONFIG.replace("\"gelu\"", "\"relu\"");
        let err = BertConfig::from_json("config.json", bad.as_bytes()).unwrap_err();
        assert!(matches!(err, Error::BadManifest { .. }), "{err}");
    }

    #[test]
    fn manifest_reports_malformed_json_with_file_name() {
        let err = ModelManifest::from_json("models/x.json", b"{ not json").unwrap_err();
        assert!(err.to_string().contains("models/x.json"), "{err}");
    }
}
