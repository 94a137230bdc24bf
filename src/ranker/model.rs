use burn::module::Module;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig,
};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Int, Tensor};

use crate::config::RankerConfig;

/// Per (candidate, event) inputs besides the two projected items: recency, order,
/// content similarity and the related-neighbour weight (see [`RankBatch`]).
const PAIR_INPUTS: usize = 4;

/// Per-candidate summaries of the history that the scoring MLP reads beside the
/// pooled interest: attention-weighted similarity, mean similarity, best
/// similarity, attention-weighted neighbour weight, and the [`MATCHES`].
pub const SUMMARIES: usize = 4 + MATCHES;

/// Per-candidate matches computed outside the model: the two related-match
/// features (`related::match_features`) and the category match
/// (`ranker::features::category_match`), in [`CATEGORY_MATCH`].
pub const MATCHES: usize = 3;

/// The column of [`RankBatch::matched`] that holds the category match.
pub const CATEGORY_MATCH: usize = MATCHES - 1;

/// DIN-style target attention: how much each past event says about this candidate.
/// Scores come from a small MLP over `[c, h, c*h, c-h, recency, order, similarity,
/// related]`, so the unit can learn "similar", "bought together" and "stale" rather
/// than a fixed dot product; its weights are the "why this ad" reasons.
#[derive(Module, Debug)]
pub struct AttentionUnit {
    pub(super) hidden: Linear,
    pub(super) score: Linear,
}

/// The CTR model. Every input is one a device has: the encoder's embeddings of
/// titles, event kinds and times, the candidate's features and its `related`
/// neighbours matched against the history's item ids. Nothing is tied to a
/// training catalog, so the model scores any storefront's items.
#[derive(Module, Debug)]
pub struct Ranker {
    pub(super) project: Linear,
    pub(super) kind: Embedding,
    pub(super) attention: Option<AttentionUnit>,
    pub(super) mlp: Vec<Linear>,
    pub(super) out: Linear,
    pub(super) dropout: Dropout,
}

/// One batch, items already projected (see [`Ranker::project`]); `B` candidates with
/// `L` history slots each, padded slots masked out.
pub struct Scored {
    /// `[B]` click logits.
    pub logits: Tensor<1>,
    /// `[B, L]` attention weights over the history (zero on padding); they say
    /// which past events drove the score.
    pub weights: Tensor<2>,
    /// `[B]` the candidate's mean content cosine to the history's events (0 with no
    /// history): the content prior the served score blends in (`rank::blend`).
    pub content: Tensor<1>,
    /// `[B]` the candidate's category match (`features::category_match`), the
    /// prior's other half.
    pub category: Tensor<1>,
}

/// The ranker's input, built by the device's request (`rank::batch`) and by
/// training (`ranker::train`) from the same per-pair functions
/// (`ranker::features`).
pub struct RankBatch {
    /// `[B, d]` projected candidate embeddings.
    pub candidates: Tensor<2>,
    /// `[B, F]` candidate features, in `RankerConfig::candidate_features` order.
    pub features: Tensor<2>,
    /// `[B, L, d]` projected history embeddings.
    pub history: Tensor<3>,
    /// `[B, L]` kind-embedding row of each history event (`EventKind::row`).
    pub kinds: Tensor<2, Int>,
    /// `[B, L]` `ln(1 + days between the event and the candidate's time)`.
    pub recency: Tensor<2>,
    /// `[B, L]` `ln(1 + attended events after this one)` (`features::order`).
    pub order: Tensor<2>,
    /// `[B, L]` cosine of the candidate's and the event's encoder embeddings.
    pub similarity: Tensor<2>,
    /// `[B, L]` the event item's weight in the candidate's `related` list (0 when
    /// it is not a neighbour).
    pub related: Tensor<2>,
    /// `[B, MATCHES]` the related match over the longer match window
    /// (`related::match_features`), then the category match.
    pub matched: Tensor<2>,
    /// `[B, L]` 1 for a real event, 0 for padding.
    pub mask: Tensor<2>,
}

impl RankerConfig {
    /// Weights this architecture has, as values (saturating: a manifest may name
    /// any dims, and the count is what refuses the absurd ones before
    /// [`RankerConfig::init`] allocates them).
    pub fn parameter_count(&self) -> usize {
        let linear = |i: usize, o: usize| i.saturating_mul(o).saturating_add(o);
        let d = self.projection_dim;
        let mut count = linear(self.embedding_dim, d).saturating_add(self.kinds.saturating_mul(d));
        if self.attention {
            count = count
                .saturating_add(linear(self.attention_inputs(), self.attention_hidden))
                .saturating_add(linear(self.attention_hidden, 1));
        }
        let mut width = self.mlp_inputs();
        for &next in &self.mlp {
            count = count.saturating_add(linear(width, next));
            width = next;
        }
        count.saturating_add(linear(width, 1))
    }

    /// Width of the attention unit's input: `[c, h, c*h, c-h]` and the pair
    /// features. Saturating, like [`RankerConfig::parameter_count`].
    pub(super) fn attention_inputs(&self) -> usize {
        self.projection_dim
            .saturating_mul(4)
            .saturating_add(PAIR_INPUTS)
    }

    /// Width of the scoring MLP's input: the candidate, the attended history, the
    /// candidate's features and the summaries.
    pub(super) fn mlp_inputs(&self) -> usize {
        self.projection_dim
            .saturating_mul(2)
            .saturating_add(self.candidate_features.len())
            .saturating_add(SUMMARIES)
    }

    /// Fresh weights (burn's default initialisers, small kind vectors) for this
    /// architecture.
    pub fn init(&self, device: &Device) -> Ranker {
        let d = self.projection_dim;
        let attention = self.attention.then(|| AttentionUnit {
            hidden: LinearConfig::new(self.attention_inputs(), self.attention_hidden).init(device),
            score: LinearConfig::new(self.attention_hidden, 1).init(device),
        });
        let mut width = self.mlp_inputs();
        let mut mlp = Vec::new();
        for &next in &self.mlp {
            mlp.push(LinearConfig::new(width, next).init(device));
            width = next;
        }
        Ranker {
            project: LinearConfig::new(self.embedding_dim, d).init(device),
            // On the scale of a projected item, so that an event's kind shifts its
            // item rather than drowning it before training has begun.
            kind: EmbeddingConfig::new(self.kinds, d)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: 0.1,
                })
                .init(device),
            attention,
            mlp,
            out: LinearConfig::new(width, 1).init(device),
            dropout: DropoutConfig::new(self.dropout).init(),
        }
    }
}

impl Ranker {
    /// Encoder embeddings `[..., E]` → the ranker's item space `[..., d]`. Done once
    /// per item, not once per (candidate, history) pair.
    pub fn project<const D: usize>(&self, embeddings: Tensor<D>) -> Tensor<D> {
        self.project.forward(embeddings)
    }

    pub fn forward(&self, batch: RankBatch) -> Scored {
        let RankBatch {
            candidates: c,
            features,
            history,
            kinds,
            recency,
            order,
            similarity,
            related,
            matched,
            mask,
        } = batch;
        let [b, l, d] = history.dims();
        let h = history + self.kind.forward(kinds);
        let column = |t: Tensor<2>| t.reshape([b, l, 1]);
        let weights = match &self.attention {
            Some(unit) => {
                let ce = c.clone().reshape([b, 1, d]).expand([b, l, d]);
                let x = Tensor::cat(
                    vec![
                        ce.clone(),
                        h.clone(),
                        ce.clone() * h.clone(),
                        ce - h.clone(),
                        column(recency),
                        column(order),
                        column(similarity.clone()),
                        column(related.clone()),
                    ],
                    2,
                );
                let scores = unit
                    .score
                    .forward(relu(unit.hidden.forward(x)))
                    .reshape([b, l]);
                // Padding gets a large negative score, then an exact zero weight; a
                // user with no history gets all-zero weights and a zero interest.
                let scores = scores.mask_fill(mask.clone().equal_elem(0.0), -1.0e4);
                softmax(scores, 1) * mask.clone()
            }
            None => {
                let counts = mask.clone().sum_dim(1).clamp_min(1.0);
                mask.clone() / counts
            }
        };
        let interest = (column(weights.clone()) * h).sum_dim(1).reshape([b, d]);
        let pooled = |t: Tensor<2>| (weights.clone() * t).sum_dim(1);
        let events = mask.clone().sum_dim(1);
        let mean_similarity =
            (similarity.clone() * mask.clone()).sum_dim(1) / events.clamp_min(1.0);
        // Padding sits at -1 (no real cosine is lower), and a history with no events
        // has no best match: 0, like its other summaries.
        let best_similarity = similarity
            .clone()
            .mask_fill(mask.clone().equal_elem(0.0), -1.0)
            .max_dim(1)
            * mask.max_dim(1);
        let content = mean_similarity.clone().reshape([b]);
        let category = matched
            .clone()
            .slice([0..b, CATEGORY_MATCH..CATEGORY_MATCH + 1])
            .reshape([b]);
        let summaries = Tensor::cat(
            vec![
                pooled(similarity),
                mean_similarity,
                best_similarity,
                pooled(related),
                matched,
            ],
            1,
        );
        let mut x = Tensor::cat(vec![interest.clone(), c * interest, features, summaries], 1);
        for layer in &self.mlp {
            x = self.dropout.forward(relu(layer.forward(x)));
        }
        let logits = self.out.forward(x).reshape([b]);
        Scored {
            logits,
            weights,
            content,
            category,
        }
    }
}
