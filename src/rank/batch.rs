//! The request as the ranker's input tensors: one history shared by every
//! candidate, each (candidate, event) pair described by `ranker::features` and the
//! candidate's `related` list, as in training.

use burn::tensor::{Int, Tensor, TensorData};

use super::Model;
use crate::candidates::Candidate;
use crate::history::Event;
use crate::ranker::{MATCHES, RankBatch, features};
use crate::related;

/// What [`build`] reads.
pub struct Inputs<'a> {
    /// The events the ranker attends over, oldest first, with their embeddings.
    pub attended: &'a [&'a Event],
    pub attended_vecs: &'a [Vec<f32>],
    /// The longer window matched against each candidate's neighbours.
    pub matched: &'a [&'a Event],
    pub candidates: &'a [Candidate],
    /// One per candidate.
    pub candidate_vecs: &'a [Vec<f32>],
    pub now: f64,
}

/// The ranker's batch: `B` candidates against the same `L` events (an empty history
/// is one masked slot: zero attention, zero interest).
pub fn build(model: Model<'_>, inputs: Inputs<'_>) -> RankBatch {
    let Inputs {
        attended,
        attended_vecs,
        matched,
        candidates,
        candidate_vecs,
        now,
    } = inputs;
    let device = model.device;
    let e = model.config.embedding_dim;
    let b = candidates.len();
    let l = attended.len().max(1);

    let mut history = vec![0f32; l * e];
    let mut kinds = vec![0i64; l];
    let mut recency = vec![0f32; l];
    let mut order = vec![0f32; l];
    let mut mask = vec![0f32; l];
    for (slot, (event, vec)) in attended.iter().zip(attended_vecs).enumerate() {
        history[slot * e..(slot + 1) * e].copy_from_slice(vec);
        kinds[slot] = event.kind.row() as i64;
        recency[slot] = features::recency(now, event.ts);
        order[slot] = features::order(attended.len() - 1 - slot);
        mask[slot] = 1.0;
    }
    let mut similarity = vec![0f32; b * l];
    let mut related_weights = vec![0f32; b * l];
    let mut match_features = Vec::with_capacity(b * MATCHES);
    let shares = features::tag_shares(
        attended
            .iter()
            .map(|e| (e.category.as_deref(), e.kind, e.ts)),
        now,
    );
    for (row, (candidate, vec)) in candidates.iter().zip(candidate_vecs).enumerate() {
        let neighbours = related::lookup(&candidate.related);
        let weight = |event: &Event| {
            neighbours
                .get(event.item_id.as_str())
                .copied()
                .unwrap_or(0.0)
        };
        for (slot, (event, event_vec)) in attended.iter().zip(attended_vecs).enumerate() {
            similarity[row * l + slot] = features::similarity(vec, event_vec);
            related_weights[row * l + slot] = weight(event);
        }
        match_features.extend(related::match_features(matched.iter().map(|event| {
            (
                weight(event),
                related::event_weight(event.kind, event.ts, now),
            )
        })));
        match_features.push(features::category_match(
            candidate.category.as_deref(),
            &shares,
        ));
    }
    let candidate_flat: Vec<f32> = candidate_vecs.iter().flatten().copied().collect();
    let feature_rows: Vec<f32> = candidates
        .iter()
        .flat_map(|c| c.feature_row(model.config))
        .collect();
    let f = model.config.candidate_features.len();
    let d = model.config.projection_dim;

    let ranker = model.ranker;
    let projected_history = ranker.project(Tensor::<2>::from_data(
        TensorData::new(history, [l, e]),
        device,
    ));
    let row =
        |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [1, l]), device).expand([b, l]);
    let pairs = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [b, l]), device);
    RankBatch {
        candidates: ranker.project(Tensor::<2>::from_data(
            TensorData::new(candidate_flat, [b, e]),
            device,
        )),
        features: Tensor::from_data(TensorData::new(feature_rows, [b, f]), device),
        history: projected_history.reshape([1, l, d]).expand([b, l, d]),
        kinds: Tensor::<2, Int>::from_data(TensorData::new(kinds, [1, l]), device).expand([b, l]),
        recency: row(recency),
        order: row(order),
        similarity: pairs(similarity),
        related: pairs(related_weights),
        matched: Tensor::from_data(TensorData::new(match_features, [b, MATCHES]), device),
        mask: row(mask),
    }
}
