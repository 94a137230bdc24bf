//! The CTR ranker: target attention over the on-device history, then an MLP that
//! gives a click probability. Backend-agnostic, so it runs in the browser too; the
//! training loop and the MovieLens batches are native only.

pub mod features;
mod model;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;

pub use model::{AttentionUnit, CATEGORY_MATCH, MATCHES, RankBatch, Ranker, SUMMARIES, Scored};

use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::Device;

use crate::config::{RankerConfig, RankerManifest};
use crate::weights::{self, Checked, Scheme, TensorSource};
use crate::{Error, Result};

/// The ranker folder's manifest; it names the weights file.
pub const MANIFEST: &str = "ranker.json";
/// The weights file `privrank train` writes beside [`MANIFEST`].
pub const WEIGHTS: &str = "ranker.safetensors";
/// The card `privrank eval` and `privrank ope` write their sections into.
pub const MODEL_CARD: &str = "MODEL_CARD.md";

impl Ranker {
    /// Load weights written by [`Ranker::to_safetensors`], after checking them against
    /// the manifest's hash and checking that the manifest was trained on the encoder
    /// now in use (`encoder_hash`: that encoder's weights hash).
    pub fn load(
        manifest: &RankerManifest,
        weights: &[u8],
        encoder_hash: &str,
        device: &Device,
    ) -> Result<Self> {
        let weights = Checked::verify(&manifest.weights, weights.to_vec())?;
        Self::load_checked(manifest, &weights, encoder_hash, device)
    }

    /// As [`Ranker::load`], with weights already checked (against this manifest's
    /// hash; others are `HashMismatch`).
    pub fn load_checked(
        manifest: &RankerManifest,
        weights: &Checked,
        encoder_hash: &str,
        device: &Device,
    ) -> Result<Self> {
        manifest.check_encoder(encoder_hash)?;
        let weights = weights.for_spec(&manifest.weights)?;
        Self::from_safetensors(&manifest.config, weights, &manifest.weights.name, device)
    }

    /// Weights as [`Ranker::to_safetensors`] writes them (named `file` in errors), for
    /// `config`; nothing is checked against a manifest. Training reads its own file
    /// back through this, so what it goes on to measure is what ships.
    pub fn from_safetensors(
        config: &RankerConfig,
        weights: &[u8],
        file: &str,
        device: &Device,
    ) -> Result<Self> {
        // burn's store reads float32: int8 matrices are widened first.
        let tensors = TensorSource::parse(weights, file)?.all_floats()?;
        let values: usize = tensors.iter().map(|t| t.data.len()).sum();
        // `init` builds every weight the config names before the file's are read
        // (lazily in burn 0.22; not a promise burn makes): a config that needs more
        // values than the file holds cannot match it, and is refused first.
        let needed = config.parameter_count();
        if needed > values {
            return Err(Error::BadWeights {
                file: file.to_owned(),
                reason: format!(
                    "the manifest's config needs {needed} weights; the file has {values}"
                ),
            });
        }
        let floats = weights::to_safetensors(&tensors, |_| Scheme::F32)?;
        let mut ranker = config.init(device);
        let mut store = SafetensorsStore::from_bytes(Some(floats));
        ranker
            .load_from(&mut store)
            .map_err(|e| Error::BadWeights {
                file: file.to_owned(),
                reason: format!("does not match the manifest's config: {e}"),
            })?;
        Ok(ranker)
    }

    /// A ranker folder as `privrank train` writes it: the manifest
    /// ([`MANIFEST`]) and the weights file it names, checked like [`Ranker::load`].
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(
        dir: &std::path::Path,
        encoder_hash: &str,
        device: &Device,
    ) -> Result<(RankerManifest, Self)> {
        let read = |path: std::path::PathBuf| {
            std::fs::read(&path).map_err(|e| Error::MissingFile {
                reason: format!("{e} (train a ranker with `privrank train`)"),
                path,
            })
        };
        let path = dir.join(MANIFEST);
        let manifest =
            RankerManifest::from_json(&path.display().to_string(), &read(path.clone())?)?;
        let weights = read(dir.join(&manifest.weights.name))?;
        let ranker = Self::load(&manifest, &weights, encoder_hash, device)?;
        Ok((manifest, ranker))
    }

    /// The weights as a safetensors file (burn's tensor paths as names), each matrix
    /// int8 with a float32 scale per row ([`Scheme::Int8`]), vectors float32: a
    /// quarter of the download, read back by [`Ranker::load`] as float32. What ships
    /// is what this writes, so every score measured from the file is the quantized
    /// ranker's.
    pub fn to_safetensors(&self) -> Result<Vec<u8>> {
        let mut store = SafetensorsStore::from_bytes(None);
        let bad = |e: String| Error::BadWeights {
            file: "ranker".into(),
            reason: e,
        };
        self.valid()
            .save_into(&mut store)
            .map_err(|e| bad(e.to_string()))?;
        let floats = store.get_bytes().map_err(|e| bad(e.to_string()))?;
        let tensors = TensorSource::parse(&floats, "ranker")?.all_floats()?;
        // The writer keeps vectors float32 whatever the scheme.
        weights::to_safetensors(&tensors, |_| Scheme::Int8)
    }
}
