//! Training click models on MovieLens impressions (native only): batches of item
//! indices, a generic Adam loop with early stopping on validation AUC, prediction.

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{log_sigmoid, sigmoid};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::{RankBatch, Ranker};
use crate::backend::read_back;
use crate::data::{Impression, Item, MovieLens, Split};
use crate::history::EventKind;
use crate::metrics::auc;
use crate::{Error, Result};

/// A batch of impressions as item indices; models look the embeddings up in the
/// item table themselves, so each item is projected once per batch.
pub struct IndexBatch {
    /// `[B]` candidate item rows.
    pub candidates: Tensor<1, Int>,
    /// `[B, L]` history item rows (0 on padding).
    pub history: Tensor<2, Int>,
    pub kinds: Tensor<2, Int>,
    pub recency: Tensor<2>,
    pub mask: Tensor<2>,
    /// `[B, F]`.
    pub features: Tensor<2>,
    /// `[B]` 1 = click.
    pub labels: Tensor<1>,
}

/// What a click model needs from the data: item embeddings and features, and each
/// impression's history.
pub struct Examples<'a> {
    pub ml: &'a MovieLens,
    pub split: &'a Split,
    /// `[n_items, E]`, row = item index.
    pub embeddings: &'a [Vec<f32>],
    /// Per item, in `RankerConfig::candidate_features` order.
    pub features: Vec<Vec<f32>>,
    pub max_history: usize,
}

/// The candidate features the ranker is trained with, in input order. Popularity is
/// counted on the training part only, so nothing from the future leaks in.
pub const CANDIDATE_FEATURES: [&str; 2] = ["popularity", "release_year"];

/// An item's [`CANDIDATE_FEATURES`] from its rating count and the largest count of
/// the catalog. The demo's ad server computes its candidates' features here too, so
/// they mean what they meant in training.
pub fn item_features(item: &Item, count: u32, max: f32) -> Vec<f32> {
    let popularity = (1.0 + count as f32).ln() / (1.0 + max).ln().max(1e-6);
    // 1920..2000 → 0..1; unknown years sit in the middle.
    let year = item
        .year
        .map_or(0.5, |y| ((f32::from(y) - 1920.0) / 80.0).clamp(0.0, 1.0));
    vec![popularity, year]
}

impl<'a> Examples<'a> {
    pub fn new(
        ml: &'a MovieLens,
        split: &'a Split,
        embeddings: &'a [Vec<f32>],
        max_history: usize,
    ) -> Self {
        let counts = split.train_counts(ml);
        let max = counts.iter().copied().max().unwrap_or(0) as f32;
        let features = ml
            .items
            .iter()
            .zip(&counts)
            .map(|(item, &n)| item_features(item, n, max))
            .collect();
        Self {
            ml,
            split,
            embeddings,
            features,
            max_history,
        }
    }

    /// The item table on `device`.
    pub fn table(&self, device: &Device) -> Result<Tensor<2>> {
        let dim = self.embeddings.first().map_or(0, Vec::len);
        if self.embeddings.len() != self.ml.items.len()
            || self.embeddings.iter().any(|e| e.len() != dim)
        {
            return Err(Error::BadInput(format!(
                "{} item embeddings for {} items, or rows of unequal width",
                self.embeddings.len(),
                self.ml.items.len()
            )));
        }
        let flat: Vec<f32> = self.embeddings.concat();
        Ok(Tensor::from_data(
            TensorData::new(flat, [self.ml.items.len(), dim]),
            device,
        ))
    }

    /// The last `max_history` events before the impression, oldest first.
    pub fn history(&self, imp: &Impression) -> &[usize] {
        let events = &self.split.by_user[imp.user as usize][..imp.history_len];
        &events[events.len().saturating_sub(self.max_history)..]
    }

    pub fn batch(&self, imps: &[Impression], device: &Device) -> IndexBatch {
        let b = imps.len();
        let l = imps
            .iter()
            .map(|i| self.history(i).len())
            .max()
            .unwrap_or(0)
            .max(1);
        let mut history = vec![0i64; b * l];
        let mut kinds = vec![0i64; b * l];
        let mut recency = vec![0f32; b * l];
        let mut mask = vec![0f32; b * l];
        let n_features = self.features.first().map_or(0, Vec::len);
        let mut features = Vec::with_capacity(b * n_features);
        for (row, imp) in imps.iter().enumerate() {
            for (slot, &e) in self.history(imp).iter().enumerate() {
                let r = self.ml.ratings[e];
                let k = row * l + slot;
                history[k] = i64::from(r.item);
                let kind = if r.is_positive() {
                    EventKind::Click
                } else {
                    EventKind::View
                };
                kinds[k] = kind.index() as i64;
                let days = (imp.ts - r.ts).max(0) as f32 / 86_400.0;
                recency[k] = days.ln_1p();
                mask[k] = 1.0;
            }
            features.extend_from_slice(&self.features[imp.item as usize]);
        }
        let ints = |v: Vec<i64>| Tensor::<2, Int>::from_data(TensorData::new(v, [b, l]), device);
        let floats = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [b, l]), device);
        let candidates: Vec<i64> = imps.iter().map(|i| i64::from(i.item)).collect();
        let labels: Vec<f32> = imps.iter().map(|i| i.label).collect();
        IndexBatch {
            candidates: Tensor::from_data(TensorData::new(candidates, [b]), device),
            history: ints(history),
            kinds: ints(kinds),
            recency: floats(recency),
            mask: floats(mask),
            features: Tensor::from_data(TensorData::new(features, [b, n_features]), device),
            labels: Tensor::from_data(TensorData::new(labels, [b]), device),
        }
    }
}

/// A model that turns an [`IndexBatch`] into click logits.
pub trait ClickModel: Module + Clone {
    fn logits(&self, table: &Tensor<2>, batch: IndexBatch) -> Tensor<1>;
}

impl ClickModel for Ranker {
    fn logits(&self, table: &Tensor<2>, batch: IndexBatch) -> Tensor<1> {
        let [b, l] = batch.history.dims();
        let items = self.project_catalog(table.clone());
        let d = items.dims()[1];
        let candidates = items.clone().select(0, batch.candidates);
        let history = items
            .select(0, batch.history.reshape([b * l]))
            .reshape([b, l, d]);
        self.forward(RankBatch {
            candidates,
            features: batch.features,
            history,
            kinds: batch.kinds,
            recency: batch.recency,
            mask: batch.mask,
        })
        .logits
    }
}

/// Mean binary cross-entropy on logits, in the numerically stable form.
pub fn bce_with_logits(logits: Tensor<1>, labels: Tensor<1>) -> Tensor<1> {
    let positive = log_sigmoid(logits.clone()) * labels.clone();
    let negative = log_sigmoid(logits.neg()) * (labels.neg() + 1.0);
    (positive + negative).neg().mean()
}

#[derive(Debug, Clone)]
pub struct TrainConfig {
    pub max_epochs: usize,
    /// Stop after this many epochs without a better validation AUC.
    pub patience: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            max_epochs: 8,
            patience: 2,
            batch_size: 512,
            learning_rate: 1e-3,
            seed: 7,
        }
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EpochStats {
    pub epoch: usize,
    pub train_loss: f64,
    pub valid_auc: f64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FitReport {
    pub epochs: Vec<EpochStats>,
    pub best_epoch: usize,
    pub best_valid_auc: f64,
}

/// Progress of [`fit`], for a progress bar.
pub enum FitProgress<'a> {
    Step {
        epoch: usize,
        done: usize,
        total: usize,
        loss: f64,
    },
    Epoch(&'a EpochStats),
}

/// Train with Adam on `train`, keep the weights with the best AUC on `valid`, stop
/// early when it stops improving. `model` must live on `device` (an autodiff device).
pub fn fit<M: ClickModel>(
    model: M,
    examples: &Examples<'_>,
    train: &[Impression],
    valid: &[Impression],
    config: &TrainConfig,
    device: &Device,
    mut progress: impl FnMut(FitProgress<'_>),
) -> Result<(M, FitReport)> {
    if train.is_empty() || valid.is_empty() {
        return Err(Error::EmptyBatch);
    }
    let valid_labels: Vec<f32> = valid.iter().map(|i| i.label).collect();
    if auc(&vec![0.0; valid.len()], &valid_labels).is_none() {
        return Err(Error::BadInput(
            "early stopping needs validation impressions of both classes".into(),
        ));
    }
    let table = examples.table(device)?;
    let plain = device.clone().inner();
    let plain_table = examples.table(&plain)?;
    let mut optimizer = AdamConfig::new().init();
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut model = model;
    let mut best = (model.clone(), f64::NEG_INFINITY, 0);
    let mut epochs = Vec::new();
    let batch_size = config.batch_size.max(1);
    let total = train.len().div_ceil(batch_size);
    for epoch in 1..=config.max_epochs {
        order.shuffle(&mut rng);
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        for (step, chunk) in order.chunks(batch_size).enumerate() {
            let imps: Vec<Impression> = chunk.iter().map(|&i| train[i]).collect();
            let batch = examples.batch(&imps, device);
            let labels = batch.labels.clone();
            let loss = bce_with_logits(model.logits(&table, batch), labels);
            let value = read_back(loss.clone())?
                .first()
                .map(|&x| f64::from(x))
                .ok_or_else(|| Error::ReadBack("empty loss tensor".into()))?;
            loss_sum += value * imps.len() as f64;
            seen += imps.len();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            model = optimizer.step(config.learning_rate, model, grads);
            progress(FitProgress::Step {
                epoch,
                done: step + 1,
                total,
                loss: loss_sum / seen as f64,
            });
        }
        let scores = predict(&model.valid(), examples, &plain_table, valid, &plain)?;
        let valid_auc = auc(&scores, &valid_labels).unwrap_or(f64::NAN);
        let stats = EpochStats {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            valid_auc,
        };
        progress(FitProgress::Epoch(&stats));
        epochs.push(stats);
        if valid_auc > best.1 {
            best = (model.clone(), valid_auc, epoch);
        } else if epoch - best.2 >= config.patience {
            break;
        }
    }
    let (model, best_valid_auc, best_epoch) = best;
    Ok((
        model,
        FitReport {
            epochs,
            best_epoch,
            best_valid_auc,
        },
    ))
}

/// Click probabilities for `imps`, in order (dropout off: pass `model.valid()`).
pub fn predict<M: ClickModel>(
    model: &M,
    examples: &Examples<'_>,
    table: &Tensor<2>,
    imps: &[Impression],
    device: &Device,
) -> Result<Vec<f32>> {
    let mut out = Vec::with_capacity(imps.len());
    for chunk in imps.chunks(1024) {
        let logits = model.logits(table, examples.batch(chunk, device));
        out.extend(read_back(sigmoid(logits))?);
    }
    Ok(out)
}
