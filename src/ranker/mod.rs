//! The CTR ranker: target attention over the on-device history, then an MLP that
//! gives a click probability. Backend-agnostic, so it runs in the browser too; the
//! training loop and the MovieLens batches are native only.

pub mod features;
mod model;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;

pub use model::{AttentionUnit, CATEGORY_MATCH, MATCHES, RankBatch, Ranker, SUMMARIES, Scored};

use burn::module::Module;
use burn::nn::{DropoutConfig, Embedding, Linear};
use burn::tensor::Device;

use crate::config::{RankerConfig, RankerManifest};
use crate::weights::{self, Checked, NamedTensor, Scheme, TensorSource};
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
        let source = TensorSource::parse(weights, file)?;
        let mismatch = |reason: String| Error::BadWeights {
            file: file.to_owned(),
            reason: format!("does not match the manifest's config: {reason}"),
        };
        let expected = weight_names(config);
        let unused: Vec<&str> = source
            .weight_names()
            .into_iter()
            .filter(|n| !expected.iter().any(|e| e == n))
            .collect();
        if !unused.is_empty() {
            return Err(mismatch(format!(
                "the file holds weights the config has no place for: {}",
                unused.join(", ")
            )));
        }
        // Every shape is checked against the config before its values are read, so
        // an absurd config allocates nothing.
        let ranker = Self::from_tensors(config, &source, device).map_err(|e| match e {
            Error::ShapeMismatch { .. } | Error::MissingTensor { .. } => mismatch(e.to_string()),
            other => other,
        })?;
        Ok(ranker)
    }

    /// The ranker from its file's tensors ([`layout`]'s names, burn's layout: a
    /// linear's weight is `[in, out]`). Built directly rather than through burn's
    /// module store, which widened every int8 matrix into a second, float32 file
    /// first, and whose code was 8% of the browser module's.
    fn from_tensors(config: &RankerConfig, w: &TensorSource<'_>, device: &Device) -> Result<Self> {
        let mut linears = layout(config)
            .into_iter()
            .map(|(name, d_in, d_out)| {
                Ok(Linear {
                    weight: w.matrix(&format!("{name}.weight"), d_in, d_out, device)?,
                    bias: Some(w.vector(&format!("{name}.bias"), d_out, device)?),
                })
            })
            .collect::<Result<Vec<_>>>()?
            .into_iter();
        let mut next = || linears.next().expect("layout names every linear");
        let project = next();
        let attention = config.attention.then(|| AttentionUnit {
            hidden: next(),
            score: next(),
        });
        let mlp = config.mlp.iter().map(|_| next()).collect();
        Ok(Ranker {
            project,
            kind: Embedding {
                weight: w.matrix(KIND, config.kinds, config.projection_dim, device)?,
            },
            attention,
            mlp,
            out: next(),
            dropout: DropoutConfig::new(config.dropout).init(),
        })
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
        let ranker = self.valid();
        let mut linears = vec![&ranker.project];
        if let Some(unit) = &ranker.attention {
            linears.extend([&unit.hidden, &unit.score]);
        }
        linears.extend(&ranker.mlp);
        linears.push(&ranker.out);
        let names = linear_names(ranker.attention.is_some(), ranker.mlp.len());
        let mut tensors = vec![NamedTensor::matrix(KIND, &ranker.kind.weight)?];
        for (name, linear) in names.iter().zip(linears) {
            tensors.push(NamedTensor::matrix(
                &format!("{name}.weight"),
                &linear.weight,
            )?);
            if let Some(bias) = &linear.bias {
                tensors.push(NamedTensor::vector(&format!("{name}.bias"), bias)?);
            }
        }
        // The writer keeps vectors float32 whatever the scheme.
        weights::to_safetensors(&tensors, |_| Scheme::Int8)
    }
}

/// The event-kind table's name in the file.
const KIND: &str = "kind.weight";

/// The linear layers' names (burn's module paths), in the order the ranker runs
/// them: what [`Ranker::to_safetensors`] writes and [`Ranker::from_safetensors`]
/// reads, each with a `.weight` and a `.bias`.
fn linear_names(attention: bool, mlp: usize) -> Vec<String> {
    let mut names = vec!["project".to_owned()];
    if attention {
        names.extend(["attention.hidden".to_owned(), "attention.score".to_owned()]);
    }
    names.extend((0..mlp).map(|i| format!("mlp.{i}")));
    names.push("out".to_owned());
    names
}

/// Each linear layer of a ranker of `config`: its name, inputs and outputs.
fn layout(config: &RankerConfig) -> Vec<(String, usize, usize)> {
    let mut shapes = vec![(config.embedding_dim, config.projection_dim)];
    if config.attention {
        shapes.extend([
            (config.attention_inputs(), config.attention_hidden),
            (config.attention_hidden, 1),
        ]);
    }
    let mut width = config.mlp_inputs();
    for &next in &config.mlp {
        shapes.push((width, next));
        width = next;
    }
    shapes.push((width, 1));
    linear_names(config.attention, config.mlp.len())
        .into_iter()
        .zip(shapes)
        .map(|(name, (d_in, d_out))| (name, d_in, d_out))
        .collect()
}

/// Every weight a ranker of `config` has, by file name.
fn weight_names(config: &RankerConfig) -> Vec<String> {
    let mut names = vec![KIND.to_owned()];
    for (name, _, _) in layout(config) {
        names.extend([format!("{name}.weight"), format!("{name}.bias")]);
    }
    names
}
