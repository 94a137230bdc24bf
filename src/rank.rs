//! One ranking request, shared by the browser and the CLI so both order candidates
//! identically: events and candidates (already embedded) in, ordered candidates with
//! their reasons out. Embedding and storage are the caller's business, because they
//! differ (IndexedDB cache in the browser, files natively).

use burn::tensor::activation::sigmoid;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::backend::{read_back, read_back_async};
use crate::candidates::Candidate;
use crate::config::RankerConfig;
use crate::history::{DAY_MS, Event, EventKind};
use crate::ranker::{RankBatch, Ranker};
use crate::{Error, Result};

/// What to maximise when ordering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Objective {
    /// Predicted click probability: what the shopper is most likely to want.
    #[default]
    Ctr,
    /// Click probability × bid: expected revenue per impression (every candidate needs
    /// a bid).
    Ecpm,
}

#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RankOptions {
    /// Return only the best `k` (all when absent).
    pub k: Option<usize>,
    /// Attach the history events the ranker attended to most.
    pub explain: bool,
    pub objective: Objective,
    /// The ranking time in ms since the epoch (default: now); events' recency is
    /// measured from it. Fixed in tests so results are reproducible.
    pub now: Option<f64>,
}

/// How many history events `explain` names per candidate.
pub const REASONS: usize = 3;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ranked {
    pub id: String,
    /// The value ordered by: the click probability, or probability × bid for `ecpm`.
    pub score: f64,
    /// Predicted click probability.
    pub ctr: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<Reason>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    pub item_id: String,
    pub title: String,
    pub kind: EventKind,
    /// Attention weight in `[0, 1]`; a candidate's weights sum to 1 over its history.
    pub weight: f64,
}

/// The ranker's forward pass, run but not yet read back (see [`Pending::finish`]).
pub struct Pending {
    logits: Tensor<1>,
    weights: Tensor<2>,
    history: Vec<Event>,
    candidates: Vec<Candidate>,
    options: RankOptions,
}

/// Run the ranker over `candidates` against `history` (each with its encoder
/// embedding). Uses the most recent `max_history` events.
pub fn forward(
    ranker: &Ranker,
    config: &RankerConfig,
    device: &Device,
    history: &[(Event, Vec<f32>)],
    candidates: &[(Candidate, Vec<f32>)],
    options: RankOptions,
    now_ms: f64,
) -> Result<Pending> {
    if candidates.is_empty() {
        return Err(Error::BadInput("no candidates to rank".into()));
    }
    if options.objective == Objective::Ecpm
        && let Some((c, _)) = candidates.iter().find(|(c, _)| c.bid.is_none())
    {
        return Err(Error::BadCandidate(vec![crate::error::FieldError {
            index: candidates
                .iter()
                .position(|(x, _)| x.id == c.id)
                .unwrap_or(0),
            field: "bid".into(),
            reason: "is required by the ecpm objective".into(),
        }]));
    }
    let e = config.embedding_dim;
    let width = |v: &Vec<f32>| v.len() == e;
    if !history.iter().all(|(_, v)| width(v)) || !candidates.iter().all(|(_, v)| width(v)) {
        return Err(Error::RankerMismatch {
            file: "ranker".into(),
            reason: format!("it expects {e}-dim embeddings; the encoder gave another width"),
        });
    }
    let mut recent: Vec<&(Event, Vec<f32>)> = history.iter().collect();
    recent.sort_by(|a, b| a.0.ts.total_cmp(&b.0.ts));
    let recent = &recent[recent.len().saturating_sub(config.max_history)..];

    let b = candidates.len();
    // An empty history is one masked slot: zero attention, zero interest.
    let l = recent.len().max(1);
    let mut hist = vec![0f32; l * e];
    let mut kinds = vec![0i64; l];
    let mut recency = vec![0f32; l];
    let mut mask = vec![0f32; l];
    for (slot, (event, emb)) in recent.iter().enumerate() {
        hist[slot * e..(slot + 1) * e].copy_from_slice(emb);
        kinds[slot] = event.kind.index() as i64;
        recency[slot] = ((now_ms - event.ts).max(0.0) / DAY_MS).ln_1p() as f32;
        mask[slot] = 1.0;
    }
    let cand: Vec<f32> = candidates
        .iter()
        .flat_map(|(_, v)| v.iter().copied())
        .collect();
    let features: Vec<f32> = candidates
        .iter()
        .flat_map(|(c, _)| c.feature_row(config))
        .collect();
    let f = config.candidate_features.len();

    let d = config.projection_dim;
    let history_t = ranker.project(Tensor::<2>::from_data(
        TensorData::new(hist, [l, e]),
        device,
    ));
    let row =
        |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [1, l]), device).expand([b, l]);
    let batch = RankBatch {
        candidates: ranker.project(Tensor::<2>::from_data(
            TensorData::new(cand, [b, e]),
            device,
        )),
        features: Tensor::<2>::from_data(TensorData::new(features, [b, f]), device),
        history: history_t.reshape([1, l, d]).expand([b, l, d]),
        kinds: Tensor::<2, Int>::from_data(TensorData::new(kinds, [1, l]), device).expand([b, l]),
        recency: row(recency),
        mask: row(mask),
    };
    let scored = ranker.forward(batch);
    Ok(Pending {
        logits: sigmoid(scored.logits),
        weights: scored.weights,
        history: recent.iter().map(|(ev, _)| ev.clone()).collect(),
        candidates: candidates.iter().map(|(c, _)| c.clone()).collect(),
        options,
    })
}

impl Pending {
    /// Read the scores back without blocking (required for WebGPU in browsers).
    pub async fn finish(self) -> Result<Vec<Ranked>> {
        let ctr = read_back_async(self.logits.clone()).await?;
        let weights = read_back_async(self.weights.clone()).await?;
        Ok(self.order(&ctr, &weights))
    }

    /// Read the scores back, blocking (native).
    pub fn finish_blocking(self) -> Result<Vec<Ranked>> {
        let ctr = read_back(self.logits.clone())?;
        let weights = read_back(self.weights.clone())?;
        Ok(self.order(&ctr, &weights))
    }

    fn order(&self, ctr: &[f32], weights: &[f32]) -> Vec<Ranked> {
        let l = weights.len() / ctr.len().max(1);
        let mut out: Vec<Ranked> = self
            .candidates
            .iter()
            .zip(ctr)
            .enumerate()
            .map(|(i, (c, &p))| {
                let p = f64::from(p);
                let score = match self.options.objective {
                    Objective::Ctr => p,
                    Objective::Ecpm => p * c.bid.unwrap_or(0.0),
                };
                let reasons = self.options.explain.then(|| {
                    let row = &weights[i * l..(i + 1) * l];
                    let mut slots: Vec<usize> = (0..self.history.len()).collect();
                    slots.sort_by(|&a, &b| row[b].total_cmp(&row[a]));
                    slots
                        .into_iter()
                        .take(REASONS)
                        .filter(|&s| row[s] > 0.0)
                        .map(|s| Reason {
                            item_id: self.history[s].item_id.clone(),
                            title: self.history[s].title.clone(),
                            kind: self.history[s].kind,
                            weight: f64::from(row[s]),
                        })
                        .collect()
                });
                Ranked {
                    id: c.id.clone(),
                    score,
                    ctr: p,
                    reasons,
                }
            })
            .collect();
        // Stable: equal scores keep the server's order.
        out.sort_by(|a, b| b.score.total_cmp(&a.score));
        if let Some(k) = self.options.k {
            out.truncate(k);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_refuse_unknown_fields_and_bad_values() {
        let ok: RankOptions = serde_json::from_str(r#"{"k": 3, "objective": "ecpm"}"#).unwrap();
        assert_eq!((ok.k, ok.objective), (Some(3), Objective::Ecpm));
        assert!(serde_json::from_str::<RankOptions>(r#"{"topK": 3}"#).is_err());
        assert!(serde_json::from_str::<RankOptions>(r#"{"k": -1}"#).is_err());
    }
}
