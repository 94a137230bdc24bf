//! Which of a candidate's creatives this shopper sees.

use crate::candidates::Candidate;
use crate::history::Event;
use crate::{interests, policy};

/// Per candidate, the creative closest to the shopper's interest vector (the
/// attended history, weighted as the interest tags are); the first one before there
/// is any history, which is the server's own preference order. `creative_vecs` holds
/// every candidate's creative embeddings in one flat list, in candidate order.
pub fn choose(
    attended: &[&Event],
    attended_vecs: &[Vec<f32>],
    candidates: &[Candidate],
    creative_vecs: &[Vec<f32>],
    now: f64,
) -> Vec<Option<String>> {
    // Most requests carry no creatives: skip building the interest vector for them.
    if creative_vecs.is_empty() {
        return vec![None; candidates.len()];
    }
    let weights: Vec<f64> = attended
        .iter()
        .map(|ev| interests::event_weight(ev, now, interests::DEFAULT_HALF_LIFE_DAYS))
        .collect();
    let interest = policy::interest_vector(attended_vecs, &weights);
    let mut rest = creative_vecs;
    candidates
        .iter()
        .map(|c| {
            let (own, after) = rest.split_at(c.creatives.len().min(rest.len()));
            rest = after;
            let pick = match &interest {
                Some(v) => policy::best_creative(v, own)?,
                None => 0,
            };
            c.creatives.get(pick).map(|cr| cr.id.clone())
        })
        .collect()
}
