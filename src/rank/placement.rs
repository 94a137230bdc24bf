//! After scoring: who may be shown, in which order, with which propensity, and
//! which history events explain each score.

use super::{Objective, REASONS, RankOptions, Ranked, Reason};
use crate::candidates::Candidate;
use crate::history::Event;
use crate::policy::{self, Exploration, Impression, Policy};

/// Per candidate: `None` when it may be shown, else why not (k-anonymity, frequency
/// caps).
pub fn blocked(
    candidates: &[Candidate],
    policy: &Policy,
    impressions: &[Impression],
    now: f64,
) -> Vec<Option<String>> {
    candidates
        .iter()
        .map(|c| {
            if policy.require_k_anonymous && !c.k_anonymous && !c.fallback {
                return Some("not marked k-anonymous".to_owned());
            }
            policy::capped(&c.id, c.campaign.as_deref(), impressions, &policy.caps, now)
        })
        .collect()
}

/// The scored request, ready to be ordered.
pub struct Placement<'a> {
    pub candidates: &'a [Candidate],
    pub options: &'a RankOptions,
    pub blocked: Vec<Option<String>>,
    /// Candidate embeddings (diversity compares them).
    pub embeddings: &'a [Vec<f32>],
    /// Per candidate, the creative chosen for this shopper.
    pub creatives: Vec<Option<String>>,
    /// The attended events, in the order of the attention weights' columns.
    pub history: &'a [&'a Event],
    pub now: f64,
}

/// "Why this ad rather than the others": each candidate's attention weights over the
/// mean weight the request's candidates give the same event, normalised to sum to 1
/// per candidate. The attention also learns what holds for every ad (the last
/// events a shopper saw weigh most), which would name the same event for each of
/// them; the lift keeps what is particular to this ad. With one candidate there
/// is nothing to compare, and the lifts are the attention weights themselves.
/// `weights`: `[B, L]`, rows summing to 1 (or 0 for an empty history).
pub fn lifts(weights: &[f32], b: usize) -> Vec<f32> {
    if b < 2 {
        return weights.to_vec();
    }
    let l = weights.len() / b;
    let mean: Vec<f32> = (0..l)
        .map(|s| (0..b).map(|c| weights[c * l + s]).sum::<f32>() / b as f32)
        .collect();
    weights
        .chunks(l.max(1))
        .flat_map(|row| {
            let lift: Vec<f32> = row
                .iter()
                .zip(&mean)
                .map(|(&w, &m)| if m > 0.0 { w / m } else { 0.0 })
                .collect();
            let sum: f32 = lift.iter().sum();
            lift.into_iter()
                .map(move |x| if sum > 0.0 { x / sum } else { 0.0 })
        })
        .collect()
}

impl Placement<'_> {
    /// `ctr`: `[B]` click probabilities; `weights`: `[B, L]` attention weights.
    pub fn order(&self, ctr: &[f32], weights: &[f32]) -> Vec<Ranked> {
        let l = weights.len() / ctr.len().max(1);
        let lifts = lifts(weights, ctr.len());
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
                    Objective::Ecpm => c.ecpm(blended),
                };
                let reasons = self.options.explain.then(|| {
                    self.reasons(&lifts[i * l..(i + 1) * l], &weights[i * l..(i + 1) * l])
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

    /// The events with the largest lifts (see [`lifts`]), largest first; equal
    /// lifts in the order of the attention weights themselves.
    fn reasons(&self, lifts: &[f32], attention: &[f32]) -> Vec<Reason> {
        let mut slots: Vec<usize> = (0..self.history.len()).collect();
        slots.sort_by(|&a, &b| {
            lifts[b]
                .total_cmp(&lifts[a])
                .then(attention[b].total_cmp(&attention[a]))
        });
        slots
            .into_iter()
            .take(REASONS)
            .filter(|&s| lifts[s] > 0.0)
            .map(|s| Reason {
                item_id: self.history[s].item_id.clone(),
                title: self.history[s].title.clone(),
                kind: self.history[s].kind,
                weight: f64::from(lifts[s]),
            })
            .collect()
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
                    // MMR picks the k slots (its cost grows with k², not the pool's
                    // size cubed); the rest follow in score order, so owner caps
                    // below can still fill a slot they empty.
                    let relevance: Vec<f64> = order.iter().map(|&i| all[i].score).collect();
                    let vectors: Vec<Vec<f32>> =
                        order.iter().map(|&i| self.embeddings[i].clone()).collect();
                    let picked = policy::mmr(&relevance, &vectors, lambda, k);
                    let tail = (0..order.len()).filter(|j| !picked.contains(j));
                    order = picked
                        .iter()
                        .copied()
                        .chain(tail)
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
                let seed = policy.seed.unwrap_or(self.now as u64);
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
    use super::lifts;

    #[test]
    fn lifts_keep_what_is_particular_to_each_ad() {
        // Both ads attend most to event 0 (say, the last one seen); ad 1 attends to
        // event 2 three times as much as ad 0 does.
        let weights = [0.6, 0.3, 0.1, 0.6, 0.1, 0.3];
        let lifted = lifts(&weights, 2);
        // Means per event: 0.6, 0.2, 0.2 → ad 0: 1, 1.5, 0.5; ad 1: 1, 0.5, 1.5.
        let want = [1.0 / 3.0, 0.5, 1.0 / 6.0, 1.0 / 3.0, 1.0 / 6.0, 0.5];
        for (got, want) in lifted.iter().zip(want) {
            assert!((got - want).abs() < 1e-6, "{lifted:?}");
        }
        // One ad: its attention; an empty history (all zero) stays zero.
        assert_eq!(lifts(&weights[..3], 1), weights[..3].to_vec());
        assert_eq!(lifts(&[0.0; 4], 2), vec![0.0; 4]);
    }
}
