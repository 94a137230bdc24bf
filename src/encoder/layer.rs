use burn::module::Module;
use burn::nn::LayerNorm;
use std::ops::Range;

use burn::tensor::{Bool, Device, Tensor, TensorData};

use super::attention::SelfAttention;
use super::dense::{Activation, Dense};
use super::embeddings::layer_norm;
use super::packed::PackedDense;
use crate::Result;
use crate::config::BertConfig;
use crate::weights::{NamedTensor, TensorSource};

/// One post-LayerNorm BERT block: `x = LN(x + attn(x))`, `x = LN(x + ffn(x))`.
#[derive(Module, Debug)]
pub struct EncoderLayer {
    attention: SelfAttention,
    attention_norm: LayerNorm,
    /// With GELU.
    intermediate: Dense,
    output: Dense,
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
        let prefix = format!("encoder.layer.{index}");
        let p = |name: &str| format!("{prefix}.{name}");
        Ok(Self {
            attention: SelfAttention::load(config, w, &prefix, device)?,
            attention_norm: layer_norm(config, w, &p("attention.output.LayerNorm"), device)?,
            intermediate: Dense::load(
                w,
                &p("intermediate.dense"),
                [d, ffn],
                Activation::Gelu,
                device,
            )?,
            output: Dense::load(
                w,
                &p("output.dense"),
                [ffn, d],
                Activation::Identity,
                device,
            )?,
            output_norm: layer_norm(config, w, &p("output.LayerNorm"), device)?,
        })
    }

    /// `padding`: `[batch, seq]`, true where the token is padding.
    pub fn forward(&self, x: Tensor<3>, padding: Tensor<2, Bool>) -> Tensor<3> {
        match self.packed() {
            Some(packed) => self.forward_rows(&packed, x, padding),
            None => self.forward_with_ffn(x, padding).0,
        }
    }

    /// The dense layers as packed ones, where this device runs them.
    fn packed(&self) -> Option<PackedLayer<'_>> {
        Some(PackedLayer {
            attention: self.attention.packed()?,
            intermediate: self.intermediate.packed()?,
            output: self.output.packed()?,
        })
    }

    /// [`Self::forward`] on the real tokens only, as plain rows: the dense layers'
    /// work is in proportion to the batch's tokens, not to its padded rectangle.
    /// The padded positions come back as zeros, which nothing reads (attention
    /// gives them no weight, pooling skips them).
    fn forward_rows(
        &self,
        packed: &PackedLayer<'_>,
        x: Tensor<3>,
        padding: Tensor<2, Bool>,
    ) -> Tensor<3> {
        let [batch, seq, d] = x.dims();
        let device = x.device();
        let padded: Vec<bool> = padding.into_data().iter::<bool>().collect();
        let tokens = Tokens::real(&padded, seq);
        let data = x.into_data();
        // The CPU backend's float tensors are f32: `Dense::packed` says so.
        let all = data.as_slice::<f32>().expect("burn-flex floats are f32");
        let x: Vec<f32> = tokens
            .rows
            .iter()
            .flat_map(|&r| &all[r * d..][..d])
            .copied()
            .collect();
        let attended = self
            .attention
            .forward_rows(packed.attention, &x, &tokens.texts);
        let x = norm_rows(&self.attention_norm, sum(attended, &x), d, &device);
        let ffn = packed.output.forward(&packed.intermediate.forward(&x));
        let x = norm_rows(&self.output_norm, sum(ffn, &x), d, &device);
        let mut out = vec![0.0; batch * seq * d];
        for (row, values) in tokens.rows.iter().zip(x.chunks_exact(d)) {
            out[row * d..][..d].copy_from_slice(values);
        }
        Tensor::from_data(TensorData::new(out, [batch, seq, d]), &device)
    }

    /// [`Self::forward`], also returning the feed-forward activations (after GELU,
    /// `[batch, seq, intermediate]`): how much each hidden unit is used is what a
    /// distilled student keeps or prunes it by.
    pub fn forward_with_ffn(
        &self,
        x: Tensor<3>,
        padding: Tensor<2, Bool>,
    ) -> (Tensor<3>, Tensor<3>) {
        let attended = self.attention.forward(x.clone(), padding);
        let x = self.attention_norm.forward(attended + x);
        let hidden = self.intermediate.forward(x.clone());
        let out = self
            .output_norm
            .forward(self.output.forward(hidden.clone()) + x);
        (out, hidden)
    }

    /// The weights under the names [`Self::load`] reads for layer `index`.
    pub fn tensors(&self, index: usize, out: &mut Vec<NamedTensor>) -> Result<()> {
        let prefix = format!("encoder.layer.{index}");
        let p = |name: &str| format!("{prefix}.{name}");
        self.attention.tensors(&prefix, out)?;
        out.extend(NamedTensor::layer_norm(
            &p("attention.output.LayerNorm"),
            &self.attention_norm,
        )?);
        self.intermediate.tensors(&p("intermediate.dense"), out)?;
        self.output.tensors(&p("output.dense"), out)?;
        out.extend(NamedTensor::layer_norm(
            &p("output.LayerNorm"),
            &self.output_norm,
        )?);
        Ok(())
    }
}

/// A layer's dense layers, packed.
struct PackedLayer<'a> {
    attention: [&'a PackedDense; 4],
    /// With GELU.
    intermediate: &'a PackedDense,
    output: &'a PackedDense,
}

/// Where a padded batch's real tokens are.
struct Tokens {
    /// Their positions in the batch (`text · seq + position`), in order.
    rows: Vec<usize>,
    /// Each text's range in `rows`.
    texts: Vec<Range<usize>>,
}

impl Tokens {
    /// `padded`: `[texts · seq]`, true at padding.
    fn real(padded: &[bool], seq: usize) -> Self {
        let mut rows = Vec::with_capacity(padded.len());
        let mut texts = Vec::with_capacity(padded.len() / seq.max(1));
        for (text, mask) in padded.chunks(seq.max(1)).enumerate() {
            let start = rows.len();
            rows.extend(
                (0..mask.len())
                    .filter(|&j| !mask[j])
                    .map(|j| text * seq + j),
            );
            texts.push(start..rows.len());
        }
        Self { rows, texts }
    }
}

/// `a + b`, elementwise, in `a`: the residual connection.
fn sum(mut a: Vec<f32>, b: &[f32]) -> Vec<f32> {
    a.iter_mut().zip(b).for_each(|(a, b)| *a += b);
    a
}

/// burn's LayerNorm over rows of `d`.
fn norm_rows(norm: &LayerNorm, rows: Vec<f32>, d: usize, device: &Device) -> Vec<f32> {
    if rows.is_empty() {
        return rows;
    }
    let shape = [rows.len() / d, d];
    let x = Tensor::<2>::from_data(TensorData::new(rows, shape), device);
    // A read back on the CPU backend is a copy from its own memory.
    crate::backend::read_back(norm.forward(x)).expect("burn-flex reads back")
}
