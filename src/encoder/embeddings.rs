use burn::module::Module;
use burn::nn::{Embedding, LayerNorm, LayerNormConfig};
use burn::tensor::{Device, Int, Tensor};

use crate::Result;
use crate::config::BertConfig;
use crate::weights::TensorSource;

/// Word + absolute position + token-type embeddings, then LayerNorm.
#[derive(Module, Debug)]
pub struct Embeddings {
    word: Embedding,
    position: Embedding,
    token_type: Embedding,
    norm: LayerNorm,
}

impl Embeddings {
    pub fn load(config: &BertConfig, w: &TensorSource<'_>, device: &Device) -> Result<Self> {
        let d = config.hidden_size;
        let table = |name: &str, rows: usize| -> Result<Embedding> {
            Ok(Embedding {
                weight: w.matrix(&format!("embeddings.{name}.weight"), rows, d, device)?,
            })
        };
        Ok(Self {
            word: table("word_embeddings", config.vocab_size)?,
            position: table("position_embeddings", config.max_position_embeddings)?,
            token_type: table("token_type_embeddings", config.type_vocab_size)?,
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
        let x = self.word.forward(ids)
            + self.position.forward(positions)
            + self.token_type.forward(types);
        self.norm.forward(x)
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
