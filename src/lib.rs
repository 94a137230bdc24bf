//! privrank ranks ads and promotions on the shopper's own device.
//!
//! The same crate runs in the browser (wasm32, WebGPU or CPU) and natively, so that
//! embeddings computed on servers are interchangeable with those computed on device.
//! Read the modules in this order:

/// Typed errors shared by every module and surfaced across the wasm boundary.
pub mod error;

/// Model manifests (encoder and ranker) and the encoder's `config.json`: dims, file
/// names, hashes.
pub mod config;

/// Verified model files and safetensors weights turned into burn tensors.
pub mod weights;

/// Text to token ids and attention masks: BERT's WordPiece, read from the model's
/// `vocab.txt` or `tokenizer.json`, with the manifest's truncation.
pub mod tokenize;

/// The BERT sentence encoder (backend-agnostic burn modules).
pub mod encoder;

/// Which burn device runs the models: the CPU backend or wgpu.
pub mod backend;

/// Loosely typed input records, checked field by field.
pub mod input;

/// What the device records about the shopper, and how long it keeps it.
pub mod history;

/// Ad candidates from the ad server, validated.
pub mod candidates;

/// Embeddings packed for the wire (int8 codes and one scale, base64), attached to
/// candidates by edge nodes and ad servers.
pub mod packed;

/// Catalogs embedded on servers and edge nodes, in one line format for both.
pub mod catalog;

/// Item-to-item neighbours from aggregate co-occurrence, matched on the device.
pub mod related;

/// The CTR ranker: target attention over the history, then an MLP.
pub mod ranker;

/// The one ranking request: events, candidates and an embedder in, ordered
/// candidates with their reasons out.
pub mod rank;

/// Placement rules after scoring: frequency caps, diversity, owner caps, exploration
/// with propensities, cold start, creatives, experiment arms.
pub mod policy;

/// The shopper's interest tags, computed from the history on the device.
pub mod interests;

/// Private reports: randomized response under the origin's rolling-day ε budget,
/// the report that leaves the device, and the bounds on experiment arms.
pub mod privacy;

/// The collector's side: per-arm click rates and campaign spend from counts of
/// noised reports.
pub mod estimate;

/// Budget pacing: a PI controller from estimated spend to a multiplier the `ecpm`
/// objective applies.
pub mod pacing;

/// The JavaScript API: the `Ranker` class of the npm package (wasm32 only).
#[cfg(target_arch = "wasm32")]
pub mod web;

/// AUC, gAUC, logloss, HR@k, NDCG@k.
pub mod metrics;

/// Public datasets for training and evaluation (files are read natively only).
pub mod data;

/// Item embeddings cached on disk by encoder and text (native only).
#[cfg(not(target_arch = "wasm32"))]
pub mod embed_cache;

/// The evaluation table: privrank's ranker against the seeds' baselines (native only).
#[cfg(not(target_arch = "wasm32"))]
pub mod eval;

/// The small student encoder, distilled from the teacher on real short texts, and
/// its bilingual (Chinese and English) sibling (native only).
#[cfg(not(target_arch = "wasm32"))]
pub mod distill;

/// Ad creatives written on the server by a small language model (SmolLM2, GGUF) in
/// burn, for the device to choose among (native only, feature `generate`).
#[cfg(all(feature = "generate", not(target_arch = "wasm32")))]
pub mod generate;

pub use backend::{Backend, BackendChoice, BackendKind};
pub use config::{BertConfig, ModelManifest, RankerConfig, RankerManifest};
pub use encoder::{Encoder, SentenceEncoder};
pub use error::{Error, Result};
pub use ranker::Ranker;
pub use tokenize::{TextTokenizer, TokenBatch};
pub use weights::ModelBundle;
