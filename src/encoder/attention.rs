//! BERT's self-attention, as burn's `MultiHeadAttention` computes it (scores scaled
//! by 1/√d_head, padded keys filled with −10⁴ before the softmax, no dropout), with
//! its four projections as [`Dense`] layers. Where they run packed (burn's CPU
//! backend, where `dense::packs` says) the block runs on plain rows, the real tokens
//! only ([`SelfAttention::forward_rows`]): burn-flex ran each head's two small
//! products as a gemm call of its own, and the head split, mask, scale and softmax
//! as passes of their own.

use std::ops::Range;

use burn::module::Module;
use burn::tensor::activation;
use burn::tensor::{Bool, Device, Tensor};

use super::dense::{Activation, Dense};
use super::packed::PackedDense;
use crate::Result;
use crate::config::BertConfig;
use crate::weights::{NamedTensor, TensorSource};

/// What a padded key's score becomes: burn's `MultiHeadAttentionConfig::min_float`.
/// After the softmax its weight underflows to an exact zero, so padding cannot leak
/// into real tokens.
const MASKED_SCORE: f32 = -1.0e4;

/// The checkpoint's names for the projections, under `attention.`.
const PROJECTIONS: [&str; 4] = ["self.query", "self.key", "self.value", "output.dense"];

#[derive(Module, Debug)]
pub struct SelfAttention {
    query: Dense,
    key: Dense,
    value: Dense,
    output: Dense,
    heads: usize,
}

impl SelfAttention {
    /// The projections under `{prefix}.attention.`.
    pub fn load(
        config: &BertConfig,
        w: &TensorSource<'_>,
        prefix: &str,
        device: &Device,
    ) -> Result<Self> {
        let d = config.hidden_size;
        let [query, key, value, output] = PROJECTIONS.map(|name| {
            Dense::load(
                w,
                &format!("{prefix}.attention.{name}"),
                [d, d],
                Activation::Identity,
                device,
            )
        });
        Ok(Self {
            query: query?,
            key: key?,
            value: value?,
            output: output?,
            heads: config.num_attention_heads,
        })
    }

    /// `x`: `[batch, seq, hidden]`; `padding`: `[batch, seq]`, true at padding.
    pub fn forward(&self, x: Tensor<3>, padding: Tensor<2, Bool>) -> Tensor<3> {
        let [batch, seq, d] = x.dims();
        let d_head = d / self.heads;
        let heads = |t: Tensor<3>| t.reshape([batch, seq, self.heads, d_head]).swap_dims(1, 2);
        let query = heads(self.query.forward(x.clone()));
        let key = heads(self.key.forward(x.clone()));
        let value = heads(self.value.forward(x));
        let scores = query
            .matmul(key.transpose())
            .div_scalar((d_head as f32).sqrt())
            .mask_fill(padding.reshape([batch, 1, 1, seq]), MASKED_SCORE);
        let context = activation::softmax(scores, 3)
            .matmul(value)
            .swap_dims(1, 2)
            .reshape([batch, seq, d]);
        self.output.forward(context)
    }

    /// The projections as packed layers, where this device runs them.
    pub fn packed(&self) -> Option<[&PackedDense; 4]> {
        let [q, k, v, o] = [&self.query, &self.key, &self.value, &self.output].map(Dense::packed);
        Some([q?, k?, v?, o?])
    }

    /// [`Self::forward`] on plain rows, `[tokens, hidden]`, with no padding among
    /// them: `texts` says which rows are one text's, and a token attends to its own
    /// text's. The same as masking padded keys with −10⁴, whose weights are exact
    /// zeros, without computing them.
    pub fn forward_rows(
        &self,
        [query, key, value, output]: [&PackedDense; 4],
        x: &[f32],
        texts: &[Range<usize>],
    ) -> Vec<f32> {
        output.forward(&attend(&Heads {
            query: &query.forward(x),
            key: &key.forward(x),
            value: &value.forward(x),
            texts,
            width: query.d_output(),
            heads: self.heads,
        }))
    }

    /// The weights under the names [`Self::load`] reads.
    pub fn tensors(&self, prefix: &str, out: &mut Vec<NamedTensor>) -> Result<()> {
        let layers = [&self.query, &self.key, &self.value, &self.output];
        for (name, layer) in PROJECTIONS.iter().zip(layers) {
            layer.tensors(&format!("{prefix}.attention.{name}"), out)?;
        }
        Ok(())
    }
}

/// One block's projected rows, `[tokens, hidden]` row-major each, with head `h` in
/// columns `h·d_head ..`.
struct Heads<'a> {
    query: &'a [f32],
    key: &'a [f32],
    value: &'a [f32],
    /// Each text's rows.
    texts: &'a [Range<usize>],
    /// Columns of a row: the model's hidden size.
    width: usize,
    heads: usize,
}

/// Each head's softmax attention within each text, `[tokens, hidden]` out, with the
/// heads side by side as the output projection reads them.
fn attend(h: &Heads<'_>) -> Vec<f32> {
    let d = h.width;
    let d_head = d / h.heads;
    let scale = (d_head as f32).sqrt();
    let mut out = vec![0.0; h.query.len()];
    let mut weights = Vec::new();
    for text in h.texts {
        weights.resize(text.len(), 0.0);
        for head in 0..h.heads {
            let cols = head * d_head..(head + 1) * d_head;
            for i in text.clone() {
                let query = &h.query[i * d..][cols.clone()];
                for (j, w) in text.clone().zip(weights.iter_mut()) {
                    *w = dot(query, &h.key[j * d..][cols.clone()]) / scale;
                }
                softmax_in_place(&mut weights);
                let context = &mut out[i * d..][cols.clone()];
                for (j, &w) in text.clone().zip(weights.iter()) {
                    let value = &h.value[j * d..][cols.clone()];
                    context.iter_mut().zip(value).for_each(|(c, v)| *c += w * v);
                }
            }
        }
    }
    out
}

/// In four independent lanes, so that the compiler can keep them in one SIMD vector.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f32 = a4
        .remainder()
        .iter()
        .zip(b4.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (a, b) in a4.zip(b4) {
        for ((lane, x), y) in lanes.iter_mut().zip(a).zip(b) {
            *lane += x * y;
        }
    }
    (lanes[0] + lanes[1]) + (lanes[2] + lanes[3]) + tail
}

/// `exp(x − max) / Σ`, as burn's softmax.
fn softmax_in_place(x: &mut [f32]) {
    let max = x.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in x.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    x.iter_mut().for_each(|v| *v /= sum);
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, TensorData};

    use super::*;

    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 * 4.0 - 2.0
            })
            .collect()
    }

    /// `attend` against the same attention written in burn tensor ops, as burn's
    /// `MultiHeadAttention` computes it, on texts with and without padding.
    #[test]
    fn attend_matches_burns_attention() {
        let (batch, seq, heads, d_head) = (3, 5, 4, 8);
        let d = heads * d_head;
        let [q, k, v] = [1, 2, 3].map(|seed| values(batch * seq * d, seed));
        // Text t's real tokens are rows t·seq .. t·seq + lengths[t] of the padded batch.
        let lengths = [5, 2, 1];
        let padded: Vec<bool> = lengths
            .iter()
            .flat_map(|&len| (0..seq).map(move |j| j >= len))
            .collect();
        let real: Vec<usize> = (0..batch * seq).filter(|&r| !padded[r]).collect();
        let gather = |x: &[f32]| -> Vec<f32> {
            real.iter()
                .flat_map(|&r| x[r * d..(r + 1) * d].to_vec())
                .collect()
        };
        let texts = [0..5, 5..7, 7..8];
        let got = attend(&Heads {
            query: &gather(&q),
            key: &gather(&k),
            value: &gather(&v),
            texts: &texts,
            width: d,
            heads,
        });

        let device = Device::flex();
        let split = |x: &[f32]| {
            Tensor::<3>::from_data(TensorData::new(x.to_vec(), [batch, seq, d]), &device)
                .reshape([batch, seq, heads, d_head])
                .swap_dims(1, 2)
        };
        let mask =
            Tensor::<2, Bool>::from_data(TensorData::new(padded.clone(), [batch, seq]), &device);
        let scores = split(&q)
            .matmul(split(&k).transpose())
            .div_scalar((d_head as f32).sqrt())
            .mask_fill(mask.reshape([batch, 1, 1, seq]), MASKED_SCORE);
        let want = softmax_burn(scores)
            .matmul(split(&v))
            .swap_dims(1, 2)
            .reshape([batch, seq, d]);
        let want = gather(&crate::backend::read_back(want).unwrap());
        assert_eq!(got.len(), want.len());
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert!((g - w).abs() <= 1e-5, "{i}: {g} vs {w}");
        }
        // Each text attends to its own: the second alone gives the same rows.
        let alone = attend(&Heads {
            query: &got_rows(&gather(&q), 5..7, d),
            key: &got_rows(&gather(&k), 5..7, d),
            value: &got_rows(&gather(&v), 5..7, d),
            texts: std::slice::from_ref(&(0..2)),
            width: d,
            heads,
        });
        assert_eq!(&got[5 * d..7 * d], &alone[..]);
    }

    fn got_rows(x: &[f32], rows: Range<usize>, d: usize) -> Vec<f32> {
        x[rows.start * d..rows.end * d].to_vec()
    }

    fn softmax_burn(x: Tensor<4>) -> Tensor<4> {
        burn::tensor::activation::softmax(x, 3)
    }
}
