//! A BERT sentence encoder: token ids → contextual states → one unit vector per text.
//!
//! Written with burn's own `nn` modules and no backend type parameter, so the same
//! code runs on the CPU backend, on wgpu natively and on WebGPU in the browser; which
//! one is decided by the [`Device`] the weights are loaded on.

mod attention;
pub mod dense;
mod embeddings;
mod layer;
pub mod packed;
mod passes;

use burn::module::Module;
use burn::tensor::{Bool, Device, Int, Tensor};

use crate::backend::{read_back, read_back_async};
use crate::config::{BertConfig, Pooling};
use crate::tokenize::{TextTokenizer, TokenBatch};
use crate::weights::{ModelBundle, NamedTensor};
use crate::{Error, Result};
use embeddings::Embeddings;
use layer::EncoderLayer;

/// The transformer body plus pooling. Pure tensor code: no tokenizer, no I/O.
#[derive(Module, Debug)]
pub struct Encoder {
    embeddings: Embeddings,
    layers: Vec<EncoderLayer>,
    normalize: bool,
}

impl Encoder {
    pub fn load(bundle: &ModelBundle, device: &Device) -> Result<Self> {
        let mut load = EncoderLoad::new(bundle, device)?;
        loop {
            if let Some(encoder) = load.step()? {
                return Ok(encoder);
            }
        }
    }

    /// `ids`, `mask`: `[batch, seq]` (mask 1 = token) → `[batch, hidden]`.
    pub fn forward(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Tensor<2> {
        let mut run = self.run(ids, mask);
        loop {
            if let Some(pooled) = run.step() {
                return pooled;
            }
        }
    }

    /// [`Self::forward`] a part at a time ([`EncoderRun`]).
    pub fn run(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> EncoderRun<'_> {
        EncoderRun {
            encoder: self,
            padding: mask.clone().equal_elem(0.0),
            mask,
            state: RunState::Ids(ids),
            layer: 0,
        }
    }

    /// Per layer, the summed |activation| of each feed-forward unit over the real
    /// (unpadded) tokens of the batch: `[intermediate]` per layer.
    pub fn ffn_activity(&self, ids: Tensor<2, Int>, mask: Tensor<2>) -> Vec<Tensor<1>> {
        let [batch, seq] = mask.dims();
        let padding: Tensor<2, Bool> = mask.clone().equal_elem(0.0);
        let weights = mask.reshape([batch, seq, 1]);
        let mut x = self.embeddings.forward(ids);
        let mut out = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let (next, hidden) = layer.forward_with_ffn(x, padding.clone());
            let units = hidden.dims()[2];
            let used = (hidden.abs() * weights.clone()).sum_dim(1).sum_dim(0);
            out.push(used.reshape([units]));
            x = next;
        }
        out
    }

    /// The same encoder with its word-embedding table frozen (no gradient): a student
    /// whose table is already on its int4 grid trains the rest around it.
    pub fn with_frozen_word_embeddings(mut self) -> Self {
        self.embeddings = self.embeddings.with_frozen_words();
        self
    }

    /// Every weight under its checkpoint name and layout: what [`Self::load`] reads,
    /// so a trained encoder can be written as a model file.
    pub fn tensors(&self) -> Result<Vec<NamedTensor>> {
        let mut out = Vec::new();
        self.embeddings.tensors(&mut out)?;
        for (i, layer) in self.layers.iter().enumerate() {
            layer.tensors(i, &mut out)?;
        }
        Ok(out)
    }
}

/// [`Encoder::load`] a part at a time: the embeddings, then each layer. Each part
/// dequantizes and copies its weights, and the whole model at once was one task of
/// 30–90 ms on a page's main thread; the browser gives the page a turn between parts.
pub struct EncoderLoad<'a> {
    bundle: &'a ModelBundle,
    weights: crate::weights::TensorSource<'a>,
    device: Device,
    embeddings: Option<Embeddings>,
    layers: Vec<EncoderLayer>,
}

impl<'a> EncoderLoad<'a> {
    pub fn new(bundle: &'a ModelBundle, device: &Device) -> Result<Self> {
        let Pooling::Mean = bundle.manifest.pooling;
        Ok(Self {
            bundle,
            weights: bundle.tensors()?,
            device: device.clone(),
            embeddings: None,
            layers: Vec::with_capacity(bundle.config.num_hidden_layers),
        })
    }

    /// Builds the next part; the encoder once the last is built.
    pub fn step(&mut self) -> Result<Option<Encoder>> {
        let config: &BertConfig = &self.bundle.config;
        let (w, device) = (&self.weights, &self.device);
        match &self.embeddings {
            None => self.embeddings = Some(Embeddings::load(config, w, device)?),
            Some(_) => {
                let layer = EncoderLayer::load(config, w, self.layers.len(), device)?;
                self.layers.push(layer);
            }
        }
        if self.layers.len() < config.num_hidden_layers {
            return Ok(None);
        }
        Ok(self.embeddings.take().map(|embeddings| Encoder {
            embeddings,
            layers: std::mem::take(&mut self.layers),
            normalize: self.bundle.manifest.normalize,
        }))
    }
}

/// [`Encoder::forward`] a part at a time: the embeddings, each layer, the pooling.
/// On a CPU each part runs as it is called, and a page's first pass compiles the
/// code of every op it meets (V8 compiles wasm functions on first call): whole, the
/// first embedding was a task of 50 ms and more; the browser gives the page a turn
/// between parts.
pub struct EncoderRun<'a> {
    encoder: &'a Encoder,
    mask: Tensor<2>,
    padding: Tensor<2, Bool>,
    state: RunState,
    layer: usize,
}

enum RunState {
    Ids(Tensor<2, Int>),
    States(Tensor<3>),
    Done,
}

impl EncoderRun<'_> {
    /// Runs the next part; the pooled `[batch, hidden]` output after the last.
    pub fn step(&mut self) -> Option<Tensor<2>> {
        let encoder = self.encoder;
        match std::mem::replace(&mut self.state, RunState::Done) {
            RunState::Ids(ids) => self.state = RunState::States(encoder.embeddings.forward(ids)),
            RunState::States(x) => match encoder.layers.get(self.layer) {
                Some(layer) => {
                    self.layer += 1;
                    self.state = RunState::States(layer.forward(x, self.padding.clone()));
                }
                None => {
                    let pooled = mean_pool(x, self.mask.clone());
                    return Some(if encoder.normalize {
                        l2_normalize(pooled)
                    } else {
                        pooled
                    });
                }
            },
            RunState::Done => panic!("EncoderRun stepped after its output"),
        }
        None
    }
}

/// Average of the token states that are not padding.
fn mean_pool(x: Tensor<3>, mask: Tensor<2>) -> Tensor<2> {
    let [batch, seq, hidden] = x.dims();
    let mask = mask.reshape([batch, seq, 1]);
    let summed = (x * mask.clone()).sum_dim(1).reshape([batch, hidden]);
    let counts = mask.sum_dim(1).reshape([batch, 1]).clamp_min(1.0);
    summed / counts
}

fn l2_normalize(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// Token ids per text, and the input positions that go into each batch.
type Plan = (Vec<Vec<i64>>, Vec<Vec<usize>>);

/// Tokenizer + encoder on one device: texts in, unit vectors out.
pub struct SentenceEncoder {
    tokenizer: TextTokenizer,
    encoder: Encoder,
    device: Device,
    dim: usize,
    model_hash: String,
    /// Texts per forward pass at most: bounds memory on long catalogs.
    pub batch_size: usize,
    /// What one more forward pass costs, in padded tokens: where texts of different
    /// lengths are better run apart ([`passes::cut`]). Set by the device.
    pub pass_cost: usize,
}

impl SentenceEncoder {
    pub fn load(bundle: &ModelBundle, device: &Device) -> Result<Self> {
        Self::with_tokenizer(Self::load_tokenizer(bundle)?, bundle, device)
    }

    /// The bundle's tokenizer, checked against its embedding table: the first half
    /// of [`SentenceEncoder::load`], apart so that a page can yield between the two
    /// (each is tens of ms in wasm; together they were one long task).
    pub fn load_tokenizer(bundle: &ModelBundle) -> Result<TextTokenizer> {
        let tokenizer = TextTokenizer::from_file(
            &bundle.manifest.files.tokenizer.name,
            bundle.tokenizer_bytes(),
            bundle.manifest.max_tokens,
        )?;
        let vocab = tokenizer.vocab_size();
        if vocab > bundle.config.vocab_size {
            return Err(Error::BadTokenizer(format!(
                "tokenizer has {vocab} tokens but the model's embedding table has {} rows",
                bundle.config.vocab_size
            )));
        }
        Ok(tokenizer)
    }

    /// The second half of [`SentenceEncoder::load`]: `tokenizer` must be
    /// [`SentenceEncoder::load_tokenizer`] of the same bundle.
    pub fn with_tokenizer(
        tokenizer: TextTokenizer,
        bundle: &ModelBundle,
        device: &Device,
    ) -> Result<Self> {
        let encoder = Encoder::load(bundle, device)?;
        Ok(Self::with_parts(tokenizer, encoder, bundle, device))
    }

    /// [`SentenceEncoder::load`] from its two halves, each of `bundle`, on `device`:
    /// for callers that build the encoder a part at a time ([`EncoderLoad`]).
    pub fn with_parts(
        tokenizer: TextTokenizer,
        encoder: Encoder,
        bundle: &ModelBundle,
        device: &Device,
    ) -> Self {
        Self {
            tokenizer,
            encoder,
            device: device.clone(),
            dim: bundle.config.hidden_size,
            model_hash: bundle.model_hash().to_owned(),
            batch_size: 32,
            pass_cost: if *device == Device::flex() {
                passes::CPU_PASS_COST
            } else {
                passes::GPU_PASS_COST
            },
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn model_hash(&self) -> &str {
        &self.model_hash
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    /// One padded batch through the encoder, still on the device.
    fn forward_batch(&self, batch: &TokenBatch) -> Tensor<2> {
        let (ids, mask) = batch.tensors(&self.device);
        self.encoder.forward(ids, mask)
    }

    fn rows(&self, flat: Vec<f32>) -> Vec<Vec<f32>> {
        flat.chunks_exact(self.dim).map(<[f32]>::to_vec).collect()
    }

    /// Embed one padded batch in a single forward pass.
    pub fn embed_batch(&self, batch: &TokenBatch) -> Result<Vec<Vec<f32>>> {
        Ok(self.rows(read_back(self.forward_batch(batch))?))
    }

    pub fn embed<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        self.embed_with_progress(texts, |_, _| {})
    }

    /// Token rows and the batches to run them in. Texts are sorted by token length
    /// and cut where a pass of its own costs less than padding ([`passes::cut`]), so
    /// short titles are not padded to the longest text of the lot.
    fn plan<S: AsRef<str>>(&self, texts: &[S]) -> Result<Plan> {
        if texts.is_empty() {
            return Err(Error::EmptyBatch);
        }
        let rows = self.tokenizer.encode_ids(texts);
        let mut order: Vec<usize> = (0..rows.len()).collect();
        order.sort_by_key(|&i| rows[i].len());
        let lengths: Vec<usize> = order.iter().map(|&i| rows[i].len()).collect();
        let batches = passes::cut(&lengths, self.batch_size, self.pass_cost)
            .into_iter()
            .map(|pass| order[pass].to_vec())
            .collect();
        Ok((rows, batches))
    }

    fn batch_of(rows: &[Vec<i64>], chunk: &[usize]) -> Result<TokenBatch> {
        let group: Vec<Vec<i64>> = chunk.iter().map(|&i| rows[i].clone()).collect();
        TokenBatch::from_rows(&group)
    }

    /// Embed any number of texts in the input order; `progress(done, total)` is
    /// called after each batch.
    pub fn embed_with_progress<S: AsRef<str>>(
        &self,
        texts: &[S],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Vec<f32>>> {
        let (rows, batches) = self.plan(texts)?;
        let mut out = vec![Vec::new(); rows.len()];
        let mut done = 0;
        for chunk in batches {
            let embedded = self.embed_batch(&Self::batch_of(&rows, &chunk)?)?;
            for (&i, e) in chunk.iter().zip(embedded) {
                out[i] = e;
            }
            done += chunk.len();
            progress(done, texts.len());
        }
        Ok(out)
    }

    /// Per layer, each feed-forward unit's summed |activation| over every real token
    /// of `texts` (see [`Encoder::ffn_activity`]).
    pub fn ffn_activity<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        let (rows, batches) = self.plan(texts)?;
        let mut total: Vec<Vec<f32>> = Vec::new();
        for chunk in batches {
            let batch = Self::batch_of(&rows, &chunk)?;
            let (ids, mask) = batch.tensors(&self.device);
            for (l, used) in self.encoder.ffn_activity(ids, mask).into_iter().enumerate() {
                let used = read_back(used)?;
                match total.get_mut(l) {
                    Some(sum) => sum.iter_mut().zip(used).for_each(|(s, u)| *s += u),
                    None => total.push(used),
                }
            }
        }
        Ok(total)
    }

    /// [`Self::embed`] without blocking on device reads: the browser's way, where
    /// WebGPU results arrive asynchronously.
    pub async fn embed_async<S: AsRef<str>>(&self, texts: &[S]) -> Result<Vec<Vec<f32>>> {
        self.embed_paced(texts, || std::future::ready(())).await
    }

    /// [`Self::embed_async`], awaiting `pause()` between the parts of each pass
    /// ([`EncoderRun`]): a page's main thread gets its turn (`yield_now`).
    pub async fn embed_paced<S: AsRef<str>, F: Future<Output = ()>>(
        &self,
        texts: &[S],
        mut pause: impl FnMut() -> F,
    ) -> Result<Vec<Vec<f32>>> {
        let (rows, batches) = self.plan(texts)?;
        let mut out = vec![Vec::new(); rows.len()];
        for chunk in batches {
            let batch = Self::batch_of(&rows, &chunk)?;
            let (ids, mask) = batch.tensors(&self.device);
            let mut run = self.encoder.run(ids, mask);
            let pooled = loop {
                if let Some(pooled) = run.step() {
                    break pooled;
                }
                pause().await;
            };
            let embedded = self.rows(read_back_async(pooled).await?);
            for (&i, e) in chunk.iter().zip(embedded) {
                out[i] = e;
            }
            pause().await;
        }
        Ok(out)
    }
}

/// Cosine similarity. Divides by both lengths: the teacher's embeddings are unit
/// length, but the small encoder's are not normalised, and callers may pass their own.
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let na = a.iter().map(|x| x * x).sum::<f32>().sqrt();
    let nb = b.iter().map(|x| x * x).sum::<f32>().sqrt();
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na * nb)
    }
}
