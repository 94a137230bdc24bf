//! A Llama decoder (SmolLM2's architecture) in burn: RMSNorm, rotary positions,
//! grouped-query attention with a KV cache, SwiGLU. Weights come from a GGUF file,
//! dequantised to float32 on load.

use burn::config::Config;
use burn::module::Param;
use burn::nn::{Linear, RmsNorm, RotaryEncoding, RotaryEncodingConfig, SwiGlu};
use burn::tensor::activation::softmax;
use burn::tensor::{Bool, Device, Int, Tensor, TensorData};

use super::gguf::Gguf;
use crate::Result;

/// The architecture; every dim the model code uses comes from here.
/// [`LlamaConfig::from_gguf`] reads it from a file's `llama.*` metadata.
#[derive(Config, Debug, PartialEq)]
pub struct LlamaConfig {
    pub vocab_size: usize,
    /// Width of the residual stream (`llama.embedding_length`).
    pub d_model: usize,
    /// `llama.block_count`.
    pub layers: usize,
    /// Query heads (`llama.attention.head_count`).
    pub heads: usize,
    /// Key/value heads, each shared by `heads / kv_heads` query heads
    /// (`llama.attention.head_count_kv`).
    pub kv_heads: usize,
    /// Hidden width of the SwiGLU feed-forward (`llama.feed_forward_length`).
    pub d_ff: usize,
    /// Rotary base (`llama.rope.freq_base`); 10,000 is Llama's original.
    #[config(default = 10000.0)]
    pub rope_theta: f32,
    /// `llama.attention.layer_norm_rms_epsilon`.
    #[config(default = 1e-5)]
    pub rms_eps: f64,
    /// Positions the model was trained for (`llama.context_length`); prompt and
    /// generated tokens together must fit.
    #[config(default = 2048)]
    pub context: usize,
}

impl LlamaConfig {
    /// The metadata of a `general.architecture = "llama"` file.
    pub fn from_gguf(gguf: &Gguf) -> Result<Self> {
        let arch = gguf.str("general.architecture")?;
        if arch != "llama" {
            return Err(gguf.error(format!(
                "architecture `{arch}`; privrank's generator runs `llama`"
            )));
        }
        let vocab_size = gguf.strings("tokenizer.ggml.tokens")?.len();
        let config = Self::new(
            vocab_size,
            gguf.usize("llama.embedding_length")?,
            gguf.usize("llama.block_count")?,
            gguf.usize("llama.attention.head_count")?,
            gguf.usize("llama.attention.head_count_kv")?,
            gguf.usize("llama.feed_forward_length")?,
        );
        let config = match gguf.get("llama.rope.freq_base") {
            Some(_) => config.with_rope_theta(gguf.f32("llama.rope.freq_base")?),
            None => config,
        };
        let config = match gguf.get("llama.attention.layer_norm_rms_epsilon") {
            Some(_) => {
                config.with_rms_eps(gguf.f32("llama.attention.layer_norm_rms_epsilon")?.into())
            }
            None => config,
        };
        let config = match gguf.get("llama.context_length") {
            Some(_) => config.with_context(gguf.usize("llama.context_length")?),
            None => config,
        };
        config.check().map_err(|reason| gguf.error(reason))?;
        if let Some(rope) = gguf.get("llama.rope.dimension_count")
            && gguf.usize("llama.rope.dimension_count")? != config.head_dim()
        {
            return Err(gguf.error(format!(
                "llama.rope.dimension_count is {rope:?}; privrank rotates whole heads of {}",
                config.head_dim()
            )));
        }
        Ok(config)
    }

    fn check(&self) -> std::result::Result<(), String> {
        let positive = [
            self.vocab_size,
            self.d_model,
            self.layers,
            self.heads,
            self.kv_heads,
            self.d_ff,
            self.context,
        ];
        if positive.contains(&0) {
            return Err(format!("a dimension is 0: {self:?}"));
        }
        if !self.d_model.is_multiple_of(self.heads) || !self.head_dim().is_multiple_of(2) {
            return Err(format!(
                "width {} does not split into {} heads of an even width",
                self.d_model, self.heads
            ));
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return Err(format!(
                "{} query heads do not share {} key/value heads evenly",
                self.heads, self.kv_heads
            ));
        }
        if !(self.rope_theta.is_finite() && self.rope_theta > 0.0 && self.rms_eps > 0.0) {
            return Err(format!(
                "rope base {} and RMS epsilon {} must be positive",
                self.rope_theta, self.rms_eps
            ));
        }
        Ok(())
    }

    pub fn head_dim(&self) -> usize {
        self.d_model / self.heads
    }

    /// Multiply-adds per token, twice (FLOPs) — the compute floor a measured rate is
    /// compared to. Attention over the cache is left out: at creative lengths (under
    /// 200 positions) it is under 1% of the matrices.
    pub fn flops_per_token(&self) -> u64 {
        let kv = self.kv_heads * self.head_dim();
        let per_layer = self.d_model * (2 * self.d_model + 2 * kv) + 3 * self.d_model * self.d_ff;
        2 * (self.layers * per_layer + self.vocab_size * self.d_model) as u64
    }

    /// Loads the weights of `gguf` (llama.cpp's tensor names), checked against this
    /// config's dims.
    pub fn load(&self, gguf: &Gguf, device: &Device) -> Result<Llama> {
        let (d, kv) = (self.d_model, self.kv_heads * self.head_dim());
        let embedding = gguf.floats("token_embd.weight", &[d, self.vocab_size])?;
        if gguf.tensor_info("output.weight").is_some() {
            return Err(gguf.error(
                "it has a separate `output.weight`; privrank's generator ties the output to \
                 the token embedding, as SmolLM2 does",
            ));
        }
        let blocks = (0..self.layers)
            .map(|i| {
                let p = |name: &str| format!("blk.{i}.{name}.weight");
                let swiglu = SwiGlu {
                    linear_inner: linear(gguf, &p("ffn_gate"), d, self.d_ff, device)?,
                    linear_outer: linear(gguf, &p("ffn_up"), d, self.d_ff, device)?,
                };
                Ok(Block {
                    attention_norm: rms_norm(gguf, &p("attn_norm"), d, self.rms_eps, device)?,
                    query: linear(gguf, &p("attn_q"), d, d, device)?,
                    key: linear(gguf, &p("attn_k"), d, kv, device)?,
                    value: linear(gguf, &p("attn_v"), d, kv, device)?,
                    output: linear(gguf, &p("attn_output"), d, d, device)?,
                    ffn_norm: rms_norm(gguf, &p("ffn_norm"), d, self.rms_eps, device)?,
                    swiglu,
                    down: linear(gguf, &p("ffn_down"), self.d_ff, d, device)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Llama {
            embedding: Param::from_tensor(Tensor::from_data(
                TensorData::new(embedding, [self.vocab_size, d]),
                device,
            )),

            blocks,
            norm: rms_norm(gguf, "output_norm.weight", d, self.rms_eps, device)?,
            // llama.cpp's converter permutes the query and key rows so that ggml's
            // rotation of adjacent pairs is the right one; burn's rotates the same.
            rope: RotaryEncodingConfig::new(self.context, self.head_dim())
                .with_theta(self.rope_theta)
                .init(device),
            heads: self.heads,
            kv_heads: self.kv_heads,
            context: self.context,
        })
    }
}

/// Rows of `width` values as columns. Weights are stored transposed once, on load:
/// a single token's matmul (`[1, in] × [in, out]`) reading a transposed view ran at
/// half the speed (2026-12-06, debug build: 4.1 against 8.7 tokens/s).
fn transposed(rows: &[f32], width: usize) -> Vec<f32> {
    let height = rows.len() / width;
    let mut out = vec![0f32; rows.len()];
    for (r, row) in rows.chunks_exact(width).enumerate() {
        for (c, &w) in row.iter().enumerate() {
            out[c * height + r] = w;
        }
    }
    out
}

/// A weight stored as ggml rows of `d_in` values, one per output (PyTorch's `[out,
/// in]`), as burn's `[in, out]`.
fn linear(gguf: &Gguf, name: &str, d_in: usize, d_out: usize, device: &Device) -> Result<Linear> {
    let weight = transposed(&gguf.floats(name, &[d_in, d_out])?, d_in);
    let weight = Tensor::<2>::from_data(TensorData::new(weight, [d_in, d_out]), device);
    Ok(Linear {
        weight: Param::from_tensor(weight),
        bias: None,
    })
}

fn rms_norm(gguf: &Gguf, name: &str, d: usize, epsilon: f64, device: &Device) -> Result<RmsNorm> {
    let gamma = gguf.floats(name, &[d])?;
    Ok(RmsNorm {
        gamma: Param::from_tensor(Tensor::from_data(TensorData::new(gamma, [d]), device)),
        epsilon,
    })
}

/// One pre-norm decoder block: `x += attn(norm(x))`, `x += down(swiglu(norm(x)))`.
#[derive(Debug)]
struct Block {
    attention_norm: RmsNorm,
    query: Linear,
    key: Linear,
    value: Linear,
    output: Linear,
    ffn_norm: RmsNorm,
    swiglu: SwiGlu,
    down: Linear,
}

/// The keys and values of the positions seen so far, per layer (`[1, kv_heads,
/// positions, head_dim]`), so that each new token costs one position's work.
#[derive(Debug, Default)]
pub struct KvCache {
    layers: Vec<(Tensor<4>, Tensor<4>)>,
    len: usize,
}

impl KvCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Positions cached.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[derive(Debug)]
pub struct Llama {
    /// `[vocab, d_model]`: the input embedding and, transposed, the output layer
    /// (tied weights). A transposed copy for the output matmul was measured no
    /// faster (threaded already: 49,152 columns).
    embedding: Param<Tensor<2>>,
    blocks: Vec<Block>,
    norm: RmsNorm,
    rope: RotaryEncoding,
    heads: usize,
    kv_heads: usize,
    context: usize,
}

impl Llama {
    /// Positions the model takes, prompt and generated tokens together.
    pub fn context(&self) -> usize {
        self.context
    }

    /// Runs `tokens` after the positions already in `cache` (and adds theirs to it);
    /// returns the final hidden states `[tokens, d_model]`, normalised, for
    /// [`Self::logits`]. The caller keeps `cache.len() + tokens.len()` within
    /// [`Self::context`].
    pub fn forward(&self, tokens: &[u32], cache: &mut KvCache) -> Tensor<2> {
        let device = self.embedding.device();
        let n = tokens.len();
        let ids = Tensor::<1, Int>::from_data(
            TensorData::new(tokens.iter().map(|&t| t as i64).collect(), [n]),
            &device,
        );
        let mut x: Tensor<3> = self.embedding.val().select(0, ids).unsqueeze();
        let start = cache.len;
        for (index, block) in self.blocks.iter().enumerate() {
            x = self.block(block, x, start, index, cache);
        }
        cache.len += n;
        let [_, _, d] = x.dims();
        self.norm.forward(x).reshape([n, d])
    }

    /// Scores over the vocabulary, `[rows, vocab]`: the output layer is the token
    /// embedding, transposed (tied weights).
    pub fn logits(&self, hidden: Tensor<2>) -> Tensor<2> {
        hidden.matmul(self.embedding.val().transpose())
    }

    fn block(
        &self,
        b: &Block,
        x: Tensor<3>,
        start: usize,
        index: usize,
        cache: &mut KvCache,
    ) -> Tensor<3> {
        let [_, n, d] = x.dims();
        let head = d / self.heads;
        let group = self.heads / self.kv_heads;
        let h = b.attention_norm.forward(x.clone());
        let split = |t: Tensor<3>, heads: usize| t.reshape([1, n, heads, head]).swap_dims(1, 2);
        let q = self
            .rope
            .apply(split(b.query.forward(h.clone()), self.heads), start);
        let k = self
            .rope
            .apply(split(b.key.forward(h.clone()), self.kv_heads), start);
        let v = split(b.value.forward(h), self.kv_heads);
        let (k, v) = match cache.layers.get_mut(index) {
            Some((past_k, past_v)) => {
                *past_k = Tensor::cat(vec![past_k.clone(), k], 2);
                *past_v = Tensor::cat(vec![past_v.clone(), v], 2);
                (past_k.clone(), past_v.clone())
            }
            None => {
                cache.layers.push((k.clone(), v.clone()));
                (k, v)
            }
        };
        let total = start + n;
        // Query heads `g·group .. (g+1)·group` read key/value head `g`: stacking each
        // group's queries as rows shares one matmul per key/value head, with no
        // copies of the cache.
        let q = q.reshape([1, self.kv_heads, group * n, head]);
        let scores = q.matmul(k.swap_dims(2, 3)) / (head as f64).sqrt();
        let scores = if n > 1 {
            // Row i (position start + i) sees keys up to start + i.
            let mask = Tensor::<2, Bool>::tril_mask([n, total], start as i64, &scores.device())
                .unsqueeze::<3>()
                .expand([group, n, total])
                .reshape([1, 1, group * n, total]);
            scores.mask_fill(mask, f32::NEG_INFINITY)
        } else {
            scores
        };
        let attended = softmax(scores, 3)
            .matmul(v)
            .reshape([1, self.heads, n, head])
            .swap_dims(1, 2)
            .reshape([1, n, d]);
        let x = x + b.output.forward(attended);
        let hidden = b.swiglu.forward(b.ffn_norm.forward(x.clone()));
        x + b.down.forward(hidden)
    }
}
