use burn::module::Module;
use burn::nn::attention::{MhaInput, MultiHeadAttention, MultiHeadAttentionConfig};
use burn::nn::{LayerNorm, Linear};
use burn::tensor::activation::gelu;
use burn::tensor::{Bool, Device, Tensor};

use super::embeddings::layer_norm;
use crate::Result;
use crate::config::BertConfig;
use crate::weights::{NamedTensor, TensorSource};

/// One post-LayerNorm BERT block: `x = LN(x + attn(x))`, `x = LN(x + ffn(x))`.
#[derive(Module, Debug)]
pub struct EncoderLayer {
    attention: MultiHeadAttention,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
}

impl EncoderLayer {
    pub fn load(
        config: &BertConfig,
        w: &TensorSource<'_>,
        index: usize,
        device: &Device,
    ) -> Result<Self> {
        let d = config.hidden_size;
        let ffn = config.intermediate_size;
        let p = |name: &str| format!("encoder.layer.{index}.{name}");
        // Inference only: dropout off. burn's -1e4 mask fill underflows to an exact
        // zero weight after softmax, so padded keys cannot leak into real tokens.
        let mut attention = MultiHeadAttentionConfig::new(d, config.num_attention_heads)
            .with_dropout(0.0)
            .init(device);
        attention.query = w.linear(&p("attention.self.query"), d, d, device)?;
        attention.key = w.linear(&p("attention.self.key"), d, d, device)?;
        attention.value = w.linear(&p("attention.self.value"), d, d, device)?;
        attention.output = w.linear(&p("attention.output.dense"), d, d, device)?;
        Ok(Self {
            attention,
            attention_norm: layer_norm(config, w, &p("attention.output.LayerNorm"), device)?,
            intermediate: w.linear(&p("intermediate.dense"), d, ffn, device)?,
            output: w.linear(&p("output.dense"), ffn, d, device)?,
            output_norm: layer_norm(config, w, &p("output.LayerNorm"), device)?,
        })
    }

    /// `padding`: `[batch, seq]`, true where the token is padding.
    pub fn forward(&self, x: Tensor<3>, padding: Tensor<2, Bool>) -> Tensor<3> {
        self.forward_with_ffn(x, padding).0
    }

    /// [`Self::forward`], also returning the feed-forward activations (after GELU,
    /// `[batch, seq, intermediate]`): how much each hidden unit is used is what a
    /// distilled student keeps or prunes it by.
    pub fn forward_with_ffn(
        &self,
        x: Tensor<3>,
        padding: Tensor<2, Bool>,
    ) -> (Tensor<3>, Tensor<3>) {
        let attended = self
            .attention
            .forward(MhaInput::self_attn(x.clone()).mask_pad(padding))
            .context;
        let x = self.attention_norm.forward(attended + x);
        let hidden = gelu(self.intermediate.forward(x.clone()));
        let out = self
            .output_norm
            .forward(self.output.forward(hidden.clone()) + x);
        (out, hidden)
    }

    /// The weights under the names [`Self::load`] reads for layer `index`.
    pub fn tensors(&self, index: usize, out: &mut Vec<NamedTensor>) -> Result<()> {
        let p = |name: &str| format!("encoder.layer.{index}.{name}");
        let a = &self.attention;
        out.extend(NamedTensor::linear(&p("attention.self.query"), &a.query)?);
        out.extend(NamedTensor::linear(&p("attention.self.key"), &a.key)?);
        out.extend(NamedTensor::linear(&p("attention.self.value"), &a.value)?);
        out.extend(NamedTensor::linear(
            &p("attention.output.dense"),
            &a.output,
        )?);
        out.extend(NamedTensor::layer_norm(
            &p("attention.output.LayerNorm"),
            &self.attention_norm,
        )?);
        out.extend(NamedTensor::linear(
            &p("intermediate.dense"),
            &self.intermediate,
        )?);
        out.extend(NamedTensor::linear(&p("output.dense"), &self.output)?);
        out.extend(NamedTensor::layer_norm(
            &p("output.LayerNorm"),
            &self.output_norm,
        )?);
        Ok(())
    }
}
