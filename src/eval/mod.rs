//! One experiment, one table: every method scored by the same code on the same
//! MovieLens test impressions and the same full-catalog rankings (native only).

pub mod baselines;
/// The weight of the content prior the served score blends in.
pub mod content_prior;
/// Focused sessions: does a one-genre (or one-category) history lift its own ads?
pub mod focused;
/// Off-policy evaluation on the Open Bandit Dataset.
pub mod ope;
/// The served ranker scored through the device's own request.
pub mod served;

use std::path::Path;

use burn::tensor::{Device, Tensor};
use serde::Serialize;

use crate::data::{Impression, MovieLens, Part, Split};
use crate::embed_cache::EmbeddingCache;
use crate::metrics::{auc, gauc, hit_and_ndcg_at_k, logloss, top_k};
use crate::ranker::train::{ClickModel, Examples, Neighbours, predict};
use crate::{Error, Result, SentenceEncoder};

/// The knobs of the experiment; recorded in the ranker's manifest.
#[derive(Debug, Clone, Serialize)]
pub struct ExperimentConfig {
    pub test_fraction: f64,
    pub valid_fraction: f64,
    /// Never-rated items drawn uniformly per training event as extra negatives.
    pub train_negatives: usize,
    /// Never-rated items drawn per training event in proportion to popularity
    /// (`Split::popular_negatives`), so that popularity alone cannot win training.
    pub train_popular_negatives: usize,
    /// Whether training ratings below 4 stars are negatives too (the seeds' "no
    /// click"). Left out by default: a film the user chose and then rated low is
    /// interest a device would see, not a refusal; the test split keeps them.
    pub train_low_ratings: bool,
    /// The same for validation and test events.
    pub eval_negatives: usize,
    pub seed: u64,
    /// Cut-off of the full-catalog ranking metrics.
    pub k: usize,
    /// Neighbours per item in the candidates' `related` lists (training part).
    pub related_top: usize,
    /// Fewest users a neighbour pair must come from.
    pub related_min_users: u32,
}

impl Default for ExperimentConfig {
    fn default() -> Self {
        Self {
            test_fraction: 0.2,
            valid_fraction: 0.1,
            train_negatives: 2,
            train_popular_negatives: 2,
            train_low_ratings: false,
            eval_negatives: 4,
            seed: 7,
            k: 10,
            related_top: crate::related::DEFAULT_TOP,
            related_min_users: crate::related::DEFAULT_MIN_USERS,
        }
    }
}

/// MovieLens, its split, the impressions of each part, every item's embedding and
/// its neighbours from the training part.
pub struct Experiment {
    pub config: ExperimentConfig,
    pub ml: MovieLens,
    pub split: Split,
    pub embeddings: Vec<Vec<f32>>,
    pub neighbours: Neighbours,
    pub train: Vec<Impression>,
    pub valid: Vec<Impression>,
    pub test: Vec<Impression>,
}

impl Experiment {
    pub fn load(
        config: ExperimentConfig,
        data_dir: &Path,
        encoder: &SentenceEncoder,
        cache_dir: &Path,
        progress: impl FnMut(usize, usize),
    ) -> Result<Self> {
        let ml = MovieLens::load(data_dir)?;
        let texts: Vec<String> = ml.items.iter().map(|i| i.text()).collect();
        let mut cache = EmbeddingCache::open(cache_dir, encoder.model_hash(), encoder.dim())?;
        let embeddings = cache.embed(encoder, &texts, progress)?;
        Ok(Self::new(config, ml, embeddings))
    }

    /// The experiment on data already loaded, with one embedding per item (tests
    /// use small hand-made ones).
    pub fn new(config: ExperimentConfig, ml: MovieLens, embeddings: Vec<Vec<f32>>) -> Self {
        let split = Split::by_time(&ml, config.test_fraction, config.valid_fraction);
        let mut train = split.impressions(&ml, Part::Train, config.train_negatives, config.seed);
        if !config.train_low_ratings {
            let rated: Vec<std::collections::HashSet<u32>> = (0..ml.users.len() as u32)
                .map(|u| split.items(&ml, u, Part::Train).into_iter().collect())
                .collect();
            train.retain(|i| i.label > 0.0 || !rated[i.user as usize].contains(&i.item));
        }
        train.extend(split.popular_negatives(
            &ml,
            Part::Train,
            config.train_popular_negatives,
            config.seed,
        ));
        let valid = split.impressions(&ml, Part::Valid, config.eval_negatives, config.seed);
        let test = split.impressions(&ml, Part::Test, config.eval_negatives, config.seed);
        let neighbours = Neighbours::fit(&ml, &split, config.related_top, config.related_min_users);
        Self {
            config,
            ml,
            split,
            embeddings,
            neighbours,
            train,
            valid,
            test,
        }
    }

    pub fn examples(&self, config: &crate::RankerConfig) -> Examples<'_> {
        Examples::new(
            &self.ml,
            &self.split,
            &self.embeddings,
            &self.neighbours,
            config,
        )
    }

    pub fn context(&self) -> Context<'_> {
        Context {
            ml: &self.ml,
            split: &self.split,
            embeddings: &self.embeddings,
            counts: self.split.train_counts(&self.ml),
        }
    }
}

/// What the non-neural methods read.
pub struct Context<'a> {
    pub ml: &'a MovieLens,
    pub split: &'a Split,
    pub embeddings: &'a [Vec<f32>],
    pub counts: Vec<u32>,
}

impl Context<'_> {
    /// Items of the impression's whole history (liked ones only if asked; all of
    /// them when the user liked none yet).
    pub fn history_items(
        &self,
        imp: &Impression,
        liked_only: bool,
    ) -> impl Iterator<Item = u32> + '_ {
        let events = &self.split.by_user[imp.user as usize][..imp.history_len];
        let any_liked = events.iter().any(|&e| self.ml.ratings[e].is_positive());
        let filter = liked_only && any_liked;
        events
            .iter()
            .map(|&e| self.ml.ratings[e])
            .filter(move |r| !filter || r.is_positive())
            .map(|r| r.item)
    }
}

/// A method under evaluation: scores for impressions, higher = more likely clicked.
pub trait Scorer {
    fn name(&self) -> String;
    /// Whether scores are probabilities (then logloss is reported).
    fn probabilities(&self) -> bool {
        false
    }
    fn score(&self, ctx: &Context<'_>, imps: &[Impression]) -> Result<Vec<f32>>;
}

/// A trained click model (LR, DNN, privrank) as a [`Scorer`].
pub struct Neural<'a, M: ClickModel> {
    pub name: String,
    /// In validation mode (`model.valid()`).
    pub model: M,
    pub examples: &'a Examples<'a>,
    pub table: Tensor<2>,
    pub device: Device,
}

impl<M: ClickModel> Scorer for Neural<'_, M> {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn probabilities(&self) -> bool {
        true
    }
    fn score(&self, _ctx: &Context<'_>, imps: &[Impression]) -> Result<Vec<f32>> {
        predict(&self.model, self.examples, &self.table, imps, &self.device)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub method: String,
    pub auc: f64,
    pub gauc: f64,
    pub logloss: Option<f64>,
    pub hit_rate: f64,
    pub ndcg: f64,
}

/// AUC of `scorer` on `imps` (used to tune baselines on validation).
pub fn auc_on(scorer: &dyn Scorer, ctx: &Context<'_>, imps: &[Impression]) -> Result<f64> {
    let scores = scorer.score(ctx, imps)?;
    let labels: Vec<f32> = imps.iter().map(|i| i.label).collect();
    auc(&scores, &labels).ok_or_else(|| Error::BadInput("AUC needs both classes".into()))
}

/// All metrics of one method on the test part. The full-catalog ranking, per user
/// with at least one test click: every item the user has not interacted with before
/// the test period, scored with the history up to it; relevant = the test clicks.
pub fn evaluate(
    scorer: &dyn Scorer,
    exp: &Experiment,
    ctx: &Context<'_>,
    mut progress: impl FnMut(usize, usize),
) -> Result<Row> {
    let labels: Vec<f32> = exp.test.iter().map(|i| i.label).collect();
    let users: Vec<u32> = exp.test.iter().map(|i| i.user).collect();
    let scores = scorer.score(ctx, &exp.test)?;
    let nan = || Error::BadInput(format!("{}: scores are NaN or one-class", scorer.name()));
    let auc_value = auc(&scores, &labels).ok_or_else(nan)?;
    let gauc_value = gauc(&users, &scores, &labels).ok_or_else(nan)?;
    let logloss_value = scorer.probabilities().then(|| logloss(&scores, &labels));

    let n_users = exp.ml.users.len();
    let (mut hits, mut ndcgs, mut judged) = (0.0, 0.0, 0usize);
    for user in 0..n_users as u32 {
        let events = &exp.split.by_user[user as usize];
        let first_test = events.iter().position(|&e| exp.split.part[e] == Part::Test);
        let Some(history_len) = first_test else {
            progress(user as usize + 1, n_users);
            continue;
        };
        let relevant: Vec<u32> = exp
            .split
            .events(user, Part::Test)
            .map(|e| exp.ml.ratings[e])
            .filter(|r| r.is_positive())
            .map(|r| r.item)
            .collect();
        if relevant.is_empty() {
            progress(user as usize + 1, n_users);
            continue;
        }
        let ts = exp.ml.ratings[events[history_len]].ts;
        let mut seen = vec![false; exp.ml.items.len()];
        for &e in &events[..history_len] {
            seen[exp.ml.ratings[e].item as usize] = true;
        }
        let queries: Vec<Impression> = (0..exp.ml.items.len() as u32)
            .filter(|&i| !seen[i as usize])
            .map(|item| Impression {
                user,
                item,
                label: 0.0,
                ts,
                history_len,
            })
            .collect();
        let scores = scorer.score(ctx, &queries)?;
        let ranked: Vec<u32> = top_k(&scores, exp.config.k)
            .into_iter()
            .map(|i| queries[i].item)
            .collect();
        let (hit, ndcg) = hit_and_ndcg_at_k(&ranked, &relevant, exp.config.k);
        hits += hit;
        ndcgs += ndcg;
        judged += 1;
        progress(user as usize + 1, n_users);
    }
    let judged = judged.max(1) as f64;
    Ok(Row {
        method: scorer.name(),
        auc: auc_value,
        gauc: gauc_value,
        logloss: logloss_value,
        hit_rate: hits / judged,
        ndcg: ndcgs / judged,
    })
}

/// The results as a Markdown table, privrank's row labelled `privrank`.
pub fn markdown_table(rows: &[Row], k: usize) -> String {
    let mut out = format!(
        "| method | AUC | gAUC | logloss | HR@{k} (full catalog) | NDCG@{k} (full catalog) |\n|---|---|---|---|---|---|\n"
    );
    for r in rows {
        let logloss = r.logloss.map_or("–".to_owned(), |l| format!("{l:.4}"));
        out.push_str(&format!(
            "| {} | {:.4} | {:.4} | {} | {:.4} | {:.4} |\n",
            r.method, r.auc, r.gauc, logloss, r.hit_rate, r.ndcg
        ));
    }
    out
}
