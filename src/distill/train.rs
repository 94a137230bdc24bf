//! The distillation loop: the student's sentence embeddings are pulled towards the
//! teacher's (cosine loss on unit vectors), with Adam, a warm-up then linear decay,
//! batches of similar length, and the weights with the best validation cosine kept.

use burn::grad_clipping::GradientClippingConfig;
use burn::module::Module;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Tensor, TensorData};
use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::backend::read_back;
use crate::encoder::Encoder;
use crate::tokenize::TokenBatch;
use crate::{Error, Result};

/// Token ids and the teacher's embedding for each text.
pub struct Pairs<'a> {
    pub ids: &'a [Vec<i64>],
    /// Unit-length teacher embeddings, one per row of `ids`.
    pub targets: &'a [Vec<f32>],
}

impl Pairs<'_> {
    fn check(&self, what: &str) -> Result<usize> {
        let dim = self.targets.first().map_or(0, Vec::len);
        if self.ids.is_empty() || self.ids.len() != self.targets.len() || dim == 0 {
            return Err(Error::BadInput(format!(
                "{what}: {} token rows for {} teacher embeddings",
                self.ids.len(),
                self.targets.len()
            )));
        }
        if self.targets.iter().any(|t| t.len() != dim) {
            return Err(Error::BadInput(format!(
                "{what}: teacher embeddings of unequal width"
            )));
        }
        Ok(dim)
    }

    fn batch(&self, rows: &[usize], device: &Device) -> Result<(TokenBatch, Tensor<2>)> {
        let group: Vec<Vec<i64>> = rows.iter().map(|&i| self.ids[i].clone()).collect();
        let tokens = TokenBatch::from_rows(&group)?;
        let dim = self.targets[0].len();
        let flat: Vec<f32> = rows
            .iter()
            .flat_map(|&i| self.targets[i].iter().copied())
            .collect();
        let targets = Tensor::from_data(TensorData::new(flat, [rows.len(), dim]), device);
        Ok((tokens, targets))
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct DistillSettings {
    pub epochs: usize,
    pub batch_size: usize,
    /// Peak learning rate, reached after `warmup` of the steps, then decayed linearly
    /// to zero.
    pub learning_rate: f64,
    pub warmup: f64,
    /// Gradient norm clip.
    pub clip_norm: f32,
    pub seed: u64,
}

impl Default for DistillSettings {
    fn default() -> Self {
        Self {
            epochs: 4,
            batch_size: 64,
            learning_rate: 2e-3,
            warmup: 0.05,
            clip_norm: 1.0,
            seed: 7,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub valid_cosine: f64,
    pub seconds: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DistillReport {
    /// Validation cosine of the student as cut from the teacher, before any step.
    pub initial_valid_cosine: f64,
    pub epochs: Vec<EpochRecord>,
    pub best_epoch: usize,
    pub best_valid_cosine: f64,
    pub steps: usize,
}

pub enum DistillProgress<'a> {
    Step {
        epoch: usize,
        done: usize,
        total: usize,
        loss: f64,
    },
    Epoch(&'a EpochRecord),
}

/// Batches of `batch_size` rows of similar token length: shuffled, then sorted by
/// length within windows of 32 batches, then the batches shuffled. Padding stays small
/// and each epoch still sees a fresh mix.
fn length_batches(ids: &[Vec<i64>], batch_size: usize, rng: &mut StdRng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..ids.len()).collect();
    order.shuffle(rng);
    let mut batches = Vec::new();
    for window in order.chunks_mut(batch_size * 32) {
        window.sort_by_key(|&i| ids[i].len());
        batches.extend(window.chunks(batch_size).map(<[usize]>::to_vec));
    }
    batches.shuffle(rng);
    batches
}

/// The learning rate at `step` of `total`: linear warm-up, then linear decay.
fn learning_rate(settings: &DistillSettings, step: usize, total: usize) -> f64 {
    let warm = ((total as f64 * settings.warmup).round() as usize).max(1);
    let lr = settings.learning_rate;
    if step < warm {
        lr * (step + 1) as f64 / warm as f64
    } else {
        lr * (total - step) as f64 / (total - warm).max(1) as f64
    }
}

/// Mean cosine of `student`'s embeddings to the targets (the student normalises, so
/// this is the mean dot product), in length-sorted batches on `device`.
pub fn mean_cosine(student: &Encoder, pairs: &Pairs<'_>, device: &Device) -> Result<f64> {
    Ok(cosines(student, pairs, device)?.iter().sum::<f64>() / pairs.ids.len() as f64)
}

/// Each row's cosine to its target, in input order.
pub fn cosines(student: &Encoder, pairs: &Pairs<'_>, device: &Device) -> Result<Vec<f64>> {
    pairs.check("evaluation")?;
    let mut order: Vec<usize> = (0..pairs.ids.len()).collect();
    order.sort_by_key(|&i| pairs.ids[i].len());
    let mut out = vec![0.0; order.len()];
    for chunk in order.chunks(128) {
        let (tokens, targets) = pairs.batch(chunk, device)?;
        let (ids, mask) = tokens.tensors(device);
        let got = student.forward(ids, mask);
        let dots = read_back(unit(got) * unit(targets))?;
        let dim = dots.len() / chunk.len();
        for (&i, row) in chunk.iter().zip(dots.chunks_exact(dim)) {
            out[i] = row.iter().map(|&x| f64::from(x)).sum();
        }
    }
    Ok(out)
}

fn unit(x: Tensor<2>) -> Tensor<2> {
    let norm = x.clone().square().sum_dim(1).sqrt().clamp_min(1e-12);
    x / norm
}

/// Train `student` (on `device`, an autodiff device) towards the teacher's embeddings
/// of `train`; keep the weights with the best mean cosine on `valid`.
pub fn distill(
    student: Encoder,
    train: &Pairs<'_>,
    valid: &Pairs<'_>,
    settings: &DistillSettings,
    device: &Device,
    mut progress: impl FnMut(DistillProgress<'_>),
) -> Result<(Encoder, DistillReport)> {
    let dim = train.check("training")?;
    if valid.check("validation")? != dim {
        return Err(Error::BadInput(
            "training and validation targets differ in width".into(),
        ));
    }
    let plain = device.clone().inner();
    let initial = mean_cosine(&student.valid(), valid, &plain)?;
    let mut optimizer = AdamConfig::new()
        .with_grad_clipping(Some(GradientClippingConfig::Norm(settings.clip_norm)))
        .init();
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let batch_size = settings.batch_size.max(1);
    let per_epoch = train.ids.len().div_ceil(batch_size);
    let total = per_epoch * settings.epochs.max(1);
    let mut student = student;
    let mut best = (student.clone(), initial, 0);
    let mut epochs = Vec::new();
    let mut step = 0;
    let started = std::time::Instant::now();
    for epoch in 1..=settings.epochs {
        let (mut loss_sum, mut seen) = (0.0, 0usize);
        for (done, rows) in length_batches(train.ids, batch_size, &mut rng)
            .into_iter()
            .enumerate()
        {
            let (tokens, targets) = train.batch(&rows, device)?;
            let (ids, mask) = tokens.tensors(device);
            let got = student.forward(ids, mask);
            // 1 − cosine, averaged; both sides are unit vectors.
            let loss = (unit(got) * targets)
                .sum_dim(1)
                .neg()
                .add_scalar(1.0)
                .mean();
            let value = read_back(loss.clone())?
                .first()
                .map(|&x| f64::from(x))
                .ok_or_else(|| Error::ReadBack("empty loss tensor".into()))?;
            if !value.is_finite() {
                return Err(Error::BadInput(format!(
                    "the distillation loss became {value} at step {step}: lower --learning-rate"
                )));
            }
            loss_sum += value * rows.len() as f64;
            seen += rows.len();
            let grads = GradientsParams::from_grads(loss.backward(), &student);
            student = optimizer.step(learning_rate(settings, step, total), student, grads);
            step += 1;
            progress(DistillProgress::Step {
                epoch,
                done: done + 1,
                total: per_epoch,
                loss: loss_sum / seen as f64,
            });
        }
        let valid_cosine = mean_cosine(&student.valid(), valid, &plain)?;
        let record = EpochRecord {
            epoch,
            train_loss: loss_sum / seen.max(1) as f64,
            valid_cosine,
            seconds: started.elapsed().as_secs(),
        };
        progress(DistillProgress::Epoch(&record));
        epochs.push(record);
        if valid_cosine > best.1 {
            best = (student.clone(), valid_cosine, epoch);
        }
    }
    let (model, best_valid_cosine, best_epoch) = best;
    Ok((
        model.valid(),
        DistillReport {
            initial_valid_cosine: initial,
            epochs,
            best_epoch,
            best_valid_cosine,
            steps: step,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learning_rate_warms_up_then_decays_to_zero() {
        let s = DistillSettings {
            learning_rate: 1.0,
            warmup: 0.1,
            ..DistillSettings::default()
        };
        let lrs: Vec<f64> = (0..100).map(|i| learning_rate(&s, i, 100)).collect();
        assert!((lrs[0] - 0.1).abs() < 1e-12);
        assert!((lrs[9] - 1.0).abs() < 1e-12);
        assert!(lrs[10..].windows(2).all(|w| w[1] < w[0]));
        assert!(lrs[99] > 0.0 && lrs[99] < 0.02);
    }

    #[test]
    fn length_batches_cover_every_row_once_with_similar_lengths() {
        let ids: Vec<Vec<i64>> = (0..1000).map(|i| vec![1; 2 + i % 37]).collect();
        let mut rng = StdRng::seed_from_u64(1);
        let batches = length_batches(&ids, 16, &mut rng);
        let mut all: Vec<usize> = batches.concat();
        all.sort_unstable();
        assert_eq!(all, (0..1000).collect::<Vec<_>>());
        let spread: usize = batches
            .iter()
            .map(|b| {
                let lens: Vec<usize> = b.iter().map(|&i| ids[i].len()).collect();
                lens.iter().max().unwrap() - lens.iter().min().unwrap()
            })
            .sum();
        // Random batches of 16 would span most of the 37 lengths; sorted ones a few.
        assert!(
            spread / batches.len() <= 4,
            "mean spread {}",
            spread / batches.len()
        );
    }
}
