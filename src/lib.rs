//! privrank ranks ads and promotions on the shopper's own device.
//!
//! The same crate runs in the browser (wasm32, WebGPU or CPU) and natively, so that
//! embeddings computed on servers are interchangeable with those computed on device.
//! Read the modules in this order:

/// Typed errors shared by every module and surfaced across the wasm boundary.
pub mod error;

/// The model manifest and the encoder's own `config.json`: dims, file names, hashes.
pub mod config;

/// Verified model files and safetensors weights turned into burn tensors.
pub mod weights;

/// Text to token ids and attention masks, with the manifest's truncation.
pub mod tokenize;

/// The BERT sentence encoder (backend-agnostic burn modules).
pub mod encoder;

/// Which burn device runs the models: the CPU backend or wgpu.
pub mod backend;

pub use backend::{Backend, BackendChoice, BackendKind};
pub use config::{BertConfig, ModelManifest};
pub use encoder::{Encoder, SentenceEncoder};
pub use error::{Error, Result};
pub use tokenize::{TextTokenizer, TokenBatch};
pub use weights::ModelBundle;
