//! The simpler methods the seed articles describe, each given the same history and
//! candidates as privrank's ranker, and each tuned on the validation part.

use burn::module::Module;
use burn::nn::{Linear, LinearConfig};
use burn::tensor::{Device, Tensor};

use super::{Context, Scorer};
use crate::data::{Impression, Part};
use crate::encoder::cosine;
use crate::ranker::train::{ClickModel, IndexBatch};
use crate::{Result, metrics};

/// Most interactions in the training part first.
pub struct Popularity;

impl Scorer for Popularity {
    fn name(&self) -> String {
        "popularity".into()
    }
    fn score(&self, ctx: &Context<'_>, imps: &[Impression]) -> Result<Vec<f32>> {
        Ok(imps
            .iter()
            .map(|i| ctx.counts[i.item as usize] as f32)
            .collect())
    }
}

/// Seed 001's content-based method: cosine between the candidate and the mean
/// embedding of the user's history (liked items only, or all, chosen on validation).
pub struct ContentCosine {
    pub liked_only: bool,
}

impl Scorer for ContentCosine {
    fn name(&self) -> String {
        let which = if self.liked_only { "liked" } else { "all" };
        format!("content cosine ({which} history)")
    }
    fn score(&self, ctx: &Context<'_>, imps: &[Impression]) -> Result<Vec<f32>> {
        let mut memo: Option<((u32, usize), Vec<f32>)> = None;
        let dim = ctx.embeddings.first().map_or(0, Vec::len);
        Ok(imps
            .iter()
            .map(|imp| {
                let key = (imp.user, imp.history_len);
                if memo.as_ref().is_none_or(|(k, _)| *k != key) {
                    let mut mean = vec![0f32; dim];
                    for item in ctx.history_items(imp, self.liked_only) {
                        for (m, x) in mean.iter_mut().zip(&ctx.embeddings[item as usize]) {
                            *m += x;
                        }
                    }
                    memo = Some((key, mean));
                }
                let mean = memo.as_ref().map(|(_, m)| m.as_slice()).unwrap_or(&[]);
                cosine(mean, &ctx.embeddings[imp.item as usize])
            })
            .collect())
    }
}

/// Seeds 001/003's item-based CF: items are similar when the same users interacted
/// with both (co-occurrence cosine over the training part); a candidate scores the
/// mean similarity to the user's history.
pub struct ItemCf {
    n: usize,
    sim: Vec<f32>,
    liked_only: bool,
}

impl ItemCf {
    pub fn fit(ctx: &Context<'_>, liked_only: bool) -> Self {
        let n = ctx.ml.items.len();
        let mut co = vec![0f32; n * n];
        let mut count = vec![0f32; n];
        for user in 0..ctx.ml.users.len() as u32 {
            let items: Vec<usize> = ctx
                .split
                .events(user, Part::Train)
                .map(|e| ctx.ml.ratings[e])
                .filter(|r| !liked_only || r.is_positive())
                .map(|r| r.item as usize)
                .collect();
            for &i in &items {
                count[i] += 1.0;
                for &j in &items {
                    co[i * n + j] += 1.0;
                }
            }
        }
        for i in 0..n {
            for j in 0..n {
                let d = (count[i] * count[j]).sqrt();
                co[i * n + j] = if i == j || d == 0.0 {
                    0.0
                } else {
                    co[i * n + j] / d
                };
            }
        }
        Self {
            n,
            sim: co,
            liked_only,
        }
    }
}

impl Scorer for ItemCf {
    fn name(&self) -> String {
        let which = if self.liked_only { "liked" } else { "all" };
        format!("item-based CF ({which} history)")
    }
    fn score(&self, ctx: &Context<'_>, imps: &[Impression]) -> Result<Vec<f32>> {
        Ok(imps
            .iter()
            .map(|imp| {
                let row = &self.sim[imp.item as usize * self.n..][..self.n];
                let (sum, k) = ctx
                    .history_items(imp, self.liked_only)
                    .fold((0.0, 0usize), |(s, k), h| (s + row[h as usize], k + 1));
                sum / k.max(1) as f32
            })
            .collect())
    }
}

/// Seed 003's user-based CF with mean-centring: Pearson-style similarity between
/// users' centred training ratings; a candidate's score is the user's mean plus the
/// similarity-weighted centred ratings of the `k` nearest neighbours who rated it.
pub struct UserCf {
    k: usize,
    n_items: usize,
    means: Vec<f32>,
    /// Dense centred ratings, NaN where unrated.
    centred: Vec<f32>,
    neighbours: Vec<Vec<(usize, f32)>>,
}

impl UserCf {
    pub fn fit(ctx: &Context<'_>, k: usize) -> Self {
        let (n_users, n_items) = (ctx.ml.users.len(), ctx.ml.items.len());
        let mut centred = vec![f32::NAN; n_users * n_items];
        let mut means = vec![0f32; n_users];
        for (u, mean) in means.iter_mut().enumerate() {
            let train: Vec<_> = ctx
                .split
                .events(u as u32, Part::Train)
                .map(|e| ctx.ml.ratings[e])
                .collect();
            *mean = train.iter().map(|r| r.rating).sum::<f32>() / train.len().max(1) as f32;
            for r in train {
                centred[u * n_items + r.item as usize] = r.rating - *mean;
            }
        }
        let dense = |u: usize| -> Vec<f32> {
            centred[u * n_items..][..n_items]
                .iter()
                .map(|x| if x.is_nan() { 0.0 } else { *x })
                .collect()
        };
        let rows: Vec<Vec<f32>> = (0..n_users).map(dense).collect();
        let neighbours = (0..n_users)
            .map(|u| {
                let sims: Vec<f32> = (0..n_users)
                    .map(|v| {
                        if u == v {
                            f32::NEG_INFINITY
                        } else {
                            cosine(&rows[u], &rows[v])
                        }
                    })
                    .collect();
                metrics::top_k(&sims, k)
                    .into_iter()
                    .map(|v| (v, sims[v]))
                    .filter(|(_, s)| *s > 0.0)
                    .collect()
            })
            .collect();
        Self {
            k,
            n_items,
            means,
            centred,
            neighbours,
        }
    }
}

impl Scorer for UserCf {
    fn name(&self) -> String {
        format!("user-based CF (mean-centred, k={})", self.k)
    }
    fn score(&self, _ctx: &Context<'_>, imps: &[Impression]) -> Result<Vec<f32>> {
        Ok(imps
            .iter()
            .map(|imp| {
                let u = imp.user as usize;
                let (mut num, mut den) = (0.0, 0.0);
                for &(v, s) in &self.neighbours[u] {
                    let r = self.centred[v * self.n_items + imp.item as usize];
                    if !r.is_nan() {
                        num += s * r;
                        den += s.abs();
                    }
                }
                self.means[u] + if den > 0.0 { num / den } else { 0.0 }
            })
            .collect())
    }
}

/// Seed 000's logistic regression on the same inputs as the ranker, with the history
/// pooled by its mean: `[c, mean(h), c*mean(h), candidate features]` → one logit.
#[derive(Module, Debug)]
pub struct LogReg {
    linear: Linear,
}

impl LogReg {
    pub fn init(embedding_dim: usize, features: usize, device: &Device) -> Self {
        Self {
            linear: LinearConfig::new(3 * embedding_dim + features, 1).init(device),
        }
    }
}

impl ClickModel for LogReg {
    fn logits(&self, table: &Tensor<2>, batch: IndexBatch) -> Tensor<1> {
        let [b, l] = batch.history.dims();
        let e = table.dims()[1];
        let c = table.clone().select(0, batch.candidates);
        let h = table
            .clone()
            .select(0, batch.history.reshape([b * l]))
            .reshape([b, l, e]);
        let counts = batch.mask.clone().sum_dim(1).clamp_min(1.0);
        let mean = (h * batch.mask.reshape([b, l, 1]))
            .sum_dim(1)
            .reshape([b, e])
            / counts;
        let x = Tensor::cat(vec![c.clone(), mean.clone(), c * mean, batch.features], 1);
        self.linear.forward(x).reshape([b])
    }
}
