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
use crate::interests;
use crate::policy::{self, Exploration, Impression, Policy};
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
    /// Placement rules applied after scoring (caps, k-anonymity, diversity,
    /// exploration, cold start); none by default.
    pub policy: Policy,
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
    /// With exploration: the probability that this ad was picked for its slot, given
    /// the slots above it (for off-policy evaluation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propensity: Option<f64>,
    /// A house ad shown because no other candidate was allowed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fallback: bool,
    /// The id of the creative to show, for candidates that offered several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creative: Option<String>,
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
    /// Per candidate: `None` when it may be shown, else why not.
    blocked: Vec<Option<String>>,
    /// Candidate embeddings, kept only when diversity needs them.
    embeddings: Vec<Vec<f32>>,
    /// Per candidate: the creative chosen for this shopper, if it offered any.
    creatives: Vec<Option<String>>,
    now_ms: f64,
}

/// Run the ranker over `candidates` against `history` (each with its encoder
/// embedding). Uses the most recent `max_history` events; `impressions` feed the
/// frequency caps. `creatives` holds, per candidate, the embeddings of its
/// creatives' texts ([`Candidate::creative_texts`]).
#[allow(clippy::too_many_arguments)]
pub fn forward(
    ranker: &Ranker,
    config: &RankerConfig,
    device: &Device,
    history: &[(Event, Vec<f32>)],
    candidates: &[(Candidate, Vec<f32>)],
    creatives: &[Vec<Vec<f32>>],
    impressions: &[Impression],
    options: RankOptions,
    now_ms: f64,
) -> Result<Pending> {
    if candidates.is_empty() {
        return Err(Error::BadInput("no candidates to rank".into()));
    }
    options.policy.check()?;
    if options.objective == Objective::Ecpm
        && matches!(options.policy.exploration, Exploration::Thompson { .. })
    {
        return Err(Error::BadOptions(
            "Thompson sampling draws click rates: use it with the ctr objective".into(),
        ));
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
    let counts_match = creatives.len() == candidates.len()
        && candidates
            .iter()
            .zip(creatives)
            .all(|((c, _), v)| c.creatives.len() == v.len());
    if !counts_match {
        return Err(Error::BadInput(
            "one creative embedding per creative of each candidate is needed".into(),
        ));
    }
    let e = config.embedding_dim;
    let width = |v: &Vec<f32>| v.len() == e;
    if !history.iter().all(|(_, v)| width(v))
        || !candidates.iter().all(|(_, v)| width(v))
        || !creatives.iter().flatten().all(width)
    {
        return Err(Error::RankerMismatch {
            file: "ranker".into(),
            reason: format!("it expects {e}-dim embeddings; the encoder gave another width"),
        });
    }
    let mut recent: Vec<&(Event, Vec<f32>)> =
        history.iter().filter(|(e, _)| e.kind.is_signal()).collect();
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
    let policy = &options.policy;
    let blocked = candidates
        .iter()
        .map(|(c, _)| {
            if policy.require_k_anonymous && !c.k_anonymous && !c.fallback {
                return Some("not marked k-anonymous".to_owned());
            }
            policy::capped(
                &c.id,
                c.campaign.as_deref(),
                impressions,
                &policy.caps,
                now_ms,
            )
        })
        .collect();
    let embeddings = match policy.diversity {
        Some(_) => candidates.iter().map(|(_, v)| v.clone()).collect(),
        None => Vec::new(),
    };
    let creatives = choose_creatives(recent, candidates, creatives, now_ms);
    Ok(Pending {
        logits: sigmoid(scored.logits),
        weights: scored.weights,
        history: recent.iter().map(|(ev, _)| ev.clone()).collect(),
        candidates: candidates.iter().map(|(c, _)| c.clone()).collect(),
        options,
        blocked,
        embeddings,
        creatives,
        now_ms,
    })
}

/// Deal creative embeddings, computed in one flat batch after the titles, back out
/// to their candidates (the shape [`forward`] takes).
pub fn split_creatives(
    candidates: &[(Candidate, Vec<f32>)],
    mut flat: impl Iterator<Item = Vec<f32>>,
) -> Vec<Vec<Vec<f32>>> {
    candidates
        .iter()
        .map(|(c, _)| flat.by_ref().take(c.creatives.len()).collect())
        .collect()
}

/// Per candidate, the creative closest to the shopper's interest vector (recent
/// history, weighted as the interest tags are); the first one before there is any
/// history, which is the server's own preference order.
fn choose_creatives(
    recent: &[&(Event, Vec<f32>)],
    candidates: &[(Candidate, Vec<f32>)],
    creatives: &[Vec<Vec<f32>>],
    now_ms: f64,
) -> Vec<Option<String>> {
    // Most requests carry no creatives: skip building the interest vector for them.
    if creatives.iter().all(Vec::is_empty) {
        return vec![None; candidates.len()];
    }
    let vectors: Vec<Vec<f32>> = recent.iter().map(|(_, v)| v.clone()).collect();
    let weights: Vec<f64> = recent
        .iter()
        .map(|(ev, _)| interests::event_weight(ev, now_ms, interests::DEFAULT_HALF_LIFE_DAYS))
        .collect();
    let interest = policy::interest_vector(&vectors, &weights);
    candidates
        .iter()
        .zip(creatives)
        .map(|((c, _), embedded)| {
            let pick = match &interest {
                Some(v) => policy::best_creative(v, embedded)?,
                None => 0,
            };
            c.creatives.get(pick).map(|cr| cr.id.clone())
        })
        .collect()
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
        let policy = &self.options.policy;
        let all: Vec<Ranked> = self
            .candidates
            .iter()
            .zip(ctr)
            .enumerate()
            .map(|(i, (c, &p))| {
                let p = f64::from(p);
                // Cold start: lean on the server's prior until there is history.
                let blended = match policy.cold_start_events {
                    Some(full_at) => {
                        match c.prior.or_else(|| c.features.get("popularity").copied()) {
                            Some(prior) => policy::blend(p, prior, self.history.len(), full_at),
                            None => p,
                        }
                    }
                    None => p,
                };
                let score = match self.options.objective {
                    Objective::Ctr => blended,
                    Objective::Ecpm => blended * c.bid.unwrap_or(0.0),
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
                    propensity: None,
                    fallback: false,
                    creative: self.creatives[i].clone(),
                }
            })
            .collect();
        self.place(all)
    }

    /// The policy's part: who may be shown, in which order, with which propensity.
    fn place(&self, all: Vec<Ranked>) -> Vec<Ranked> {
        let policy = &self.options.policy;
        let by_score = |mut v: Vec<usize>| {
            // Stable: equal scores keep the server's order.
            v.sort_by(|&a, &b| all[b].score.total_cmp(&all[a].score));
            v
        };
        let allowed = |i: &usize| self.blocked[*i].is_none();
        let mut pool = by_score(
            (0..all.len())
                .filter(|i| allowed(i) && !self.candidates[*i].fallback)
                .collect(),
        );
        let fallback = pool.is_empty();
        if fallback {
            pool = by_score(
                (0..all.len())
                    .filter(|i| allowed(i) && self.candidates[*i].fallback)
                    .collect(),
            );
        }
        let k = self.options.k.unwrap_or(pool.len());
        let picked: Vec<(usize, Option<f64>)> = match &policy.exploration {
            Exploration::Greedy => {
                let mut order = pool;
                if let Some(lambda) = policy.diversity {
                    let relevance: Vec<f64> = order.iter().map(|&i| all[i].score).collect();
                    let vectors: Vec<Vec<f32>> =
                        order.iter().map(|&i| self.embeddings[i].clone()).collect();
                    order = policy::mmr(&relevance, &vectors, lambda, order.len())
                        .into_iter()
                        .map(|j| order[j])
                        .collect();
                }
                if let Some(max) = policy.max_per_advertiser {
                    order = policy::cap_per_owner(
                        &order,
                        |i| self.candidates[i].advertiser.clone(),
                        max,
                    );
                }
                if let Some(max) = policy.max_per_campaign {
                    order =
                        policy::cap_per_owner(&order, |i| self.candidates[i].campaign.clone(), max);
                }
                order.into_iter().take(k).map(|i| (i, None)).collect()
            }
            how => {
                let scores: Vec<f64> = all.iter().map(|r| r.score).collect();
                let seed = policy.seed.unwrap_or(self.now_ms as u64);
                policy::explore(&scores, &pool, k, how, seed)
                    .into_iter()
                    .map(|s| (s.index, Some(s.propensity)))
                    .collect()
            }
        };
        picked
            .into_iter()
            .map(|(i, propensity)| {
                let mut r = all[i].clone();
                r.propensity = propensity;
                r.fallback = fallback;
                r
            })
            .collect()
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
