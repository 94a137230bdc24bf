use burn::module::Module;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Int, Tensor};

use super::dense::{Activation, Dense};
use crate::Result;
use crate::config::BertConfig;
use crate::weights::{NamedTensor, TensorSource};

/// Word + absolute position + token-type embeddings, then LayerNorm.
#[derive(Module, Debug)]
pub struct Embeddings {
    word: Embedding,
    /// Present when the word table is factorised (`embedding_size`): maps its narrow
    /// rows up to the hidden width before the sum, so positions and the LayerNorm
    /// work exactly as in BERT.
    word_projection: Option<Dense>,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

impl Embeddings {
    pub fn load(config: &BertConfig, w: &TensorSource<'_>, device: &Device) -> Result<Self> {
        let d = config.hidden_size;
        let table = |name: &str, rows: usize, cols: usize| -> Result<Embedding> {
            Ok(Embedding {
                weight: w.matrix(&format!("embeddings.{name}.weight"), rows, cols, device)?,
            })
        };
        let word_dim = config.word_embedding_dim();
        let word_projection = match config.embedding_size {
            Some(e) => Some(Dense::load(
                w,
                "embeddings.word_projection",
                [e, d],
                Activation::Identity,
                device,
            )?),
            None => None,
        };
        Ok(Self {
            word: table("word_embeddings", config.vocab_size, word_dim)?,
            word_projection,
            position: table("position_embeddings", config.max_position_embeddings, d)?,
            token_type: table("token_type_embeddings", config.type_vocab_size, d)?,
            norm: layer_norm(config, w, "embeddings.LayerNorm", device)?,
        })
    }

    /// `ids`: `[batch, seq]` → `[batch, seq, hidden]`. Single-segment input, so every
    /// token has type 0.
    pub fn forward(&self, ids: Tensor<2, Int>) -> Tensor<3> {
        let [_, seq] = ids.dims();
        let device = ids.device();
        let positions = Tensor::<1, Int>::arange(0..seq as i64, &device).reshape([1, seq]);
        let types = Tensor::<2, Int>::zeros([1, seq], &device);
        let mut words = self.word.forward(ids);
        if let Some(projection) = &self.word_projection {
            words = projection.forward(words);
        }
        let x = words + self.position.forward(positions) + self.token_type.forward(types);
        self.norm.forward(x)
    }

    pub fn with_frozen_words(mut self) -> Self {
        self.word.weight = self.word.weight.set_require_grad(false);
        self
    }

    /// The weights under the names [`Self::load`] reads.
    pub fn tensors(&self, out: &mut Vec<NamedTensor>) -> Result<()> {
        let p = "embeddings";
        out.push(NamedTensor::matrix(
            &format!("{p}.word_embeddings.weight"),
            &self.word.weight,
        )?);
        if let Some(projection) = &self.word_projection {
            projection.tensors(&format!("{p}.word_projection"), out)?;
        }
        out.push(NamedTensor::matrix(
            &format!("{p}.position_embeddings.weight"),
            &self.position.weight,
        )?);
        out.push(NamedTensor::matrix(
            &format!("{p}.token_type_embeddings.weight"),
            &self.token_type.weight,
        )?);
        out.extend(NamedTensor::layer_norm(
            &format!("{p}.LayerNorm"),
            &self.norm,
        )?);
        Ok(())
    }
}

/// A LayerNorm with BERT's epsilon and the checkpoint's gamma/beta.
pub(crate) fn layer_norm(
    config: &BertConfig,
    w: &TensorSource<'_>,
    name: &str,
    device: &Device,
) -> Result<LayerNorm> {
    let d = config.hidden_size;
    let mut norm = LayerNormConfig::new(d)
        .with_epsilon(config.layer_norm_eps)
        .init(device);
    norm.gamma = w.vector(&format!("{name}.weight"), d, device)?;
    norm.beta = Some(w.vector(&format!("{name}.bias"), d, device)?);
    Ok(norm)
}
