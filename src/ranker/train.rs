//! Training click models on MovieLens impressions (native only): batches of item
//! indices, a generic Adam loop with early stopping on validation AUC, prediction.
//!
//! Each impression is read the way a device would see it: its history's ratings
//! are events of the kind their stars stand for (`EventKind::from_stars`), the
//! candidate carries its neighbours from the training part's co-occurrence, and
//! every per-pair input comes from `ranker::features` and `related`, the functions
//! the device's request uses.

use std::collections::{HashMap, HashSet};

use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::activation::{log_sigmoid, sigmoid};
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::{MATCHES, RankBatch, Ranker, features};
use crate::backend::read_back;
use crate::data::{Impression, MovieLens, Part, Split};
use crate::metrics::auc;
use crate::related::{self, Cooccurrence};
use crate::{Error, Result};

/// A batch of impressions as item indices; models look the embeddings up in the
/// item table themselves, so each item is projected once per batch.
pub struct IndexBatch {
    /// `[B]` candidate item rows.
    pub candidates: Tensor<1, Int>,
    /// `[B, L]` history item rows (0 on padding).
    pub history: Tensor<2, Int>,
    /// `[B, L]` kind-embedding rows.
    pub kinds: Tensor<2, Int>,
    pub recency: Tensor<2>,
    pub order: Tensor<2>,
    pub similarity: Tensor<2>,
    pub related: Tensor<2>,
    /// `[B, MATCHES]`.
    pub matched: Tensor<2>,
    pub mask: Tensor<2>,
    /// `[B, F]`.
    pub features: Tensor<2>,
    /// `[B]` 1 = click.
    pub labels: Tensor<1>,
}

/// The training part's item-to-item neighbours, as the ad server would send them
/// with each candidate, plus what it takes to leave a user's own interactions out.
pub struct Neighbours {
    co: Cooccurrence,
    lists: Vec<HashMap<u32, f32>>,
    min_users: u32,
    /// Per user, the items of their training part.
    own: Vec<HashSet<u32>>,
}

impl Neighbours {
    /// Neighbour lists of every item from the training part: `top` per item, pairs
    /// taken by at least `min_users` users.
    pub fn fit(ml: &MovieLens, split: &Split, top: usize, min_users: u32) -> Self {
        let own: Vec<Vec<u32>> = (0..ml.users.len() as u32)
            .map(|u| split.items(ml, u, Part::Train))
            .collect();
        let co = Cooccurrence::count(ml.items.len(), own.iter().cloned());
        let lists = (0..ml.items.len() as u32)
            .map(|i| co.neighbours(i, top, min_users).into_iter().collect())
            .collect();
        Self {
            co,
            lists,
            min_users,
            own: own.into_iter().map(|v| v.into_iter().collect()).collect(),
        }
    }

    /// `item`'s neighbour list, heaviest first (what a candidate carries).
    pub fn list(&self, item: u32) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = self.lists[item as usize]
            .iter()
            .map(|(&j, &w)| (j, w))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out
    }

    /// The weight of `event_item` in `candidate`'s list, for an impression of
    /// `user`. When the user's own training interactions made the pair (the
    /// candidate is one of their training ratings, the label being learnt), they are
    /// left out of the count: at test time a candidate's list never includes the
    /// user's choice of it, and a model trained on lists that did would over-trust
    /// them.
    pub fn weight(&self, user: u32, candidate: u32, event_item: u32) -> f32 {
        let Some(&weight) = self.lists[candidate as usize].get(&event_item) else {
            return 0.0;
        };
        let own = &self.own[user as usize];
        if !(own.contains(&candidate) && own.contains(&event_item)) {
            return weight;
        }
        let both = self.co.both(candidate, event_item).saturating_sub(1);
        if both < self.min_users {
            return 0.0;
        }
        related::cosine(
            both,
            self.co.users(candidate).saturating_sub(1),
            self.co.users(event_item),
        )
    }
}

/// What a click model needs from the data: item embeddings and features, the
/// neighbour lists, and each impression's history.
pub struct Examples<'a> {
    pub ml: &'a MovieLens,
    pub split: &'a Split,
    /// `[n_items, E]`, row = item index.
    pub embeddings: &'a [Vec<f32>],
    /// Per item, in `RankerConfig::candidate_features` order.
    pub features: Vec<Vec<f32>>,
    pub neighbours: &'a Neighbours,
    pub max_history: usize,
    pub match_history: usize,
    /// Per item, its category string as a device event or candidate carries it.
    pub categories: Vec<String>,
}

impl<'a> Examples<'a> {
    pub fn new(
        ml: &'a MovieLens,
        split: &'a Split,
        embeddings: &'a [Vec<f32>],
        neighbours: &'a Neighbours,
        config: &crate::RankerConfig,
    ) -> Self {
        let counts = split.train_counts(ml);
        let max = counts.iter().copied().max().unwrap_or(0) as f32;
        let features = ml
            .items
            .iter()
            .zip(&counts)
            .map(|(item, &n)| item.features(n, max))
            .collect();
        Self {
            ml,
            split,
            embeddings,
            features,
            neighbours,
            max_history: config.max_history,
            match_history: config.match_history,
            categories: ml.items.iter().map(|i| i.category()).collect(),
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

    /// The last `n` events before the impression, oldest first.
    fn last(&self, imp: &Impression, n: usize) -> &[usize] {
        let events = &self.split.by_user[imp.user as usize][..imp.history_len];
        &events[events.len().saturating_sub(n)..]
    }

    /// The events the ranker attends over: the last `max_history` before the
    /// impression, oldest first.
    pub fn history(&self, imp: &Impression) -> &[usize] {
        self.last(imp, self.max_history)
    }

    /// The impressions as tensors, every input as the device's request has it.
    pub fn batch(&self, imps: &[Impression], device: &Device) -> IndexBatch {
        self.batch_with(imps, device, |_| Inputs::ALL)
    }

    /// The same, with some impressions' optional inputs left out as a request may
    /// leave them out (`inputs(row)`: which ones row `row` keeps).
    pub fn batch_with(
        &self,
        imps: &[Impression],
        device: &Device,
        inputs: impl Fn(usize) -> Inputs,
    ) -> IndexBatch {
        let b = imps.len();
        let kept: Vec<Inputs> = (0..b).map(&inputs).collect();
        // Per row: the events attended over and the events matched, oldest first.
        let windows: Vec<(&[usize], &[usize])> = imps
            .iter()
            .map(|imp| {
                (
                    self.last(imp, self.max_history),
                    self.last(imp, self.match_history),
                )
            })
            .collect();
        let l = windows.iter().map(|w| w.0.len()).max().unwrap_or(0).max(1);
        let mut history = vec![0i64; b * l];
        let mut kinds = vec![0i64; b * l];
        let mut recency = vec![0f32; b * l];
        let mut order = vec![0f32; b * l];
        let mut similarity = vec![0f32; b * l];
        let mut related = vec![0f32; b * l];
        let mut mask = vec![0f32; b * l];
        let mut matched = Vec::with_capacity(b * MATCHES);
        let n_features = self.features.first().map_or(0, Vec::len);
        let mut features = Vec::with_capacity(b * n_features);
        for (row, imp) in imps.iter().enumerate() {
            let keep = kept[row];
            let (attended, match_window) = windows[row];
            let now = imp.ts as f64 * 1000.0;
            let candidate = &self.embeddings[imp.item as usize];
            let neighbour = |item: u32| {
                if keep.related {
                    self.neighbours.weight(imp.user, imp.item, item)
                } else {
                    0.0
                }
            };
            for (slot, &e) in attended.iter().enumerate() {
                let r = self.ml.ratings[e];
                let k = row * l + slot;
                history[k] = i64::from(r.item);
                kinds[k] = r.kind().row() as i64;
                recency[k] = features::recency(now, r.ts_ms());
                order[k] = features::order(attended.len() - 1 - slot);
                similarity[k] = features::similarity(candidate, &self.embeddings[r.item as usize]);
                related[k] = neighbour(r.item);
                mask[k] = 1.0;
            }
            matched.extend(related::match_features(match_window.iter().map(|&e| {
                let r = self.ml.ratings[e];
                (
                    neighbour(r.item),
                    related::event_weight(r.kind(), r.ts_ms(), now),
                )
            })));
            let shares = features::tag_shares(
                attended.iter().map(|&e| {
                    let r = self.ml.ratings[e];
                    (
                        Some(self.categories[r.item as usize].as_str()),
                        r.kind(),
                        r.ts_ms(),
                    )
                }),
                now,
            );
            matched.push(features::category_match(
                Some(self.categories[imp.item as usize].as_str()),
                &shares,
            ));
            if keep.features {
                features.extend_from_slice(&self.features[imp.item as usize]);
            } else {
                features.extend(std::iter::repeat_n(features::UNKNOWN_FEATURE, n_features));
            }
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
            order: floats(order),
            similarity: floats(similarity),
            related: floats(related),
            matched: Tensor::from_data(TensorData::new(matched, [b, MATCHES]), device),
            mask: floats(mask),
            features: Tensor::from_data(TensorData::new(features, [b, n_features]), device),
            labels: Tensor::from_data(TensorData::new(labels, [b]), device),
        }
    }
}

/// Which of a candidate's optional wire fields a training impression keeps.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Inputs {
    /// Its `related` neighbours.
    pub related: bool,
    /// Its `features`.
    pub features: bool,
}

impl Inputs {
    pub const ALL: Inputs = Inputs {
        related: true,
        features: true,
    };
}

/// A model that turns an [`IndexBatch`] into click logits.
pub trait ClickModel: Module + Clone {
    fn logits(&self, table: &Tensor<2>, batch: IndexBatch) -> Tensor<1>;
}

impl ClickModel for Ranker {
    fn logits(&self, table: &Tensor<2>, batch: IndexBatch) -> Tensor<1> {
        let [b, l] = batch.history.dims();
        let items = self.project(table.clone());
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
            order: batch.order,
            similarity: batch.similarity,
            related: batch.related,
            matched: batch.matched,
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
    /// Share of training impressions whose candidate comes without its `related`
    /// list, and without its `features`: both are optional on the wire (a storefront
    /// without an ad server's statistics sends neither), and a model that always had
    /// them would not learn to rank by the history's content alone.
    pub drop_related: f64,
    pub drop_features: f64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        Self {
            max_epochs: 8,
            patience: 2,
            batch_size: 512,
            learning_rate: 1e-3,
            seed: 7,
            drop_related: 0.25,
            drop_features: 0.25,
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
    for (name, p) in [
        ("drop_related", config.drop_related),
        ("drop_features", config.drop_features),
    ] {
        if !(0.0..=1.0).contains(&p) {
            return Err(Error::BadOptions(format!(
                "{name} must be a share in [0, 1], got {p}"
            )));
        }
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
            let kept: Vec<Inputs> = imps
                .iter()
                .map(|_| Inputs {
                    related: !rng.random_bool(config.drop_related),
                    features: !rng.random_bool(config.drop_features),
                })
                .collect();
            let batch = examples.batch_with(&imps, device, |row| kept[row]);
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
