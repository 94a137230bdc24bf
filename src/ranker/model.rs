use burn::module::Module;
use burn::nn::{
    Dropout, DropoutConfig, Embedding, EmbeddingConfig, Initializer, Linear, LinearConfig,
};
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Device, Int, Tensor};

use crate::config::RankerConfig;

/// DIN-style target attention: how much each past event says about this candidate.
/// Scores come from a small MLP over `[c, h, c*h, c-h, recency]`, so the unit can learn
/// "similar", "complementary" and "stale" rather than a fixed dot product.
#[derive(Module, Debug)]
pub struct AttentionUnit {
    hidden: Linear,
    score: Linear,
}

/// The CTR model: project item embeddings, attend from the candidate over the
/// history, score `[c, interest, c*interest, candidate features]` with an MLP.
#[derive(Module, Debug)]
pub struct Ranker {
    project: Linear,
    item_ids: Option<Embedding>,
    kind: Embedding,
    attention: Option<AttentionUnit>,
    mlp: Vec<Linear>,
    out: Linear,
    dropout: Dropout,
}

/// One batch, items already projected (see [`Ranker::project`]); `B` candidates with
/// `L` history slots each, padded slots masked out.
pub struct Scored {
    /// `[B]` click logits.
    pub logits: Tensor<1>,
    /// `[B, L]` attention weights over the history (zero on padding); they say
    /// which past events drove the score.
    pub weights: Tensor<2>,
}

pub struct RankBatch {
    /// `[B, d]` projected candidate embeddings.
    pub candidates: Tensor<2>,
    /// `[B, F]` candidate features, in `RankerConfig::candidate_features` order.
    pub features: Tensor<2>,
    /// `[B, L, d]` projected history embeddings.
    pub history: Tensor<3>,
    /// `[B, L]` `EventKind` index of each history event.
    pub kinds: Tensor<2, Int>,
    /// `[B, L]` `ln(1 + days between the event and the candidate's time)`.
    pub recency: Tensor<2>,
    /// `[B, L]` 1 for a real event, 0 for padding.
    pub mask: Tensor<2>,
}

impl Ranker {
    /// Fresh weights (burn's default initialisers) for `config`.
    pub fn init(config: &RankerConfig, device: &Device) -> Self {
        let d = config.projection_dim;
        let attention = config.attention.then(|| AttentionUnit {
            hidden: LinearConfig::new(4 * d + 1, config.attention_hidden).init(device),
            score: LinearConfig::new(config.attention_hidden, 1).init(device),
        });
        let mut width = 3 * d + config.candidate_features.len();
        let mut mlp = Vec::new();
        for &next in &config.mlp {
            mlp.push(LinearConfig::new(width, next).init(device));
            width = next;
        }
        // Small initial id vectors: the model starts from the content embedding and
        // learns per-item corrections only where the data supports them.
        let item_ids = (config.item_vocab > 0).then(|| {
            EmbeddingConfig::new(config.item_vocab, d)
                .with_initializer(Initializer::Normal {
                    mean: 0.0,
                    std: 0.01,
                })
                .init(device)
        });
        Self {
            project: LinearConfig::new(config.embedding_dim, d).init(device),
            item_ids,
            kind: EmbeddingConfig::new(config.kinds, d).init(device),
            attention,
            mlp,
            out: LinearConfig::new(width, 1).init(device),
            dropout: DropoutConfig::new(config.dropout).init(),
        }
    }

    /// Encoder embeddings `[..., E]` → the ranker's item space `[..., d]`. Done once
    /// per item, not once per (candidate, history) pair.
    pub fn project<const D: usize>(&self, embeddings: Tensor<D>) -> Tensor<D> {
        self.project.forward(embeddings)
    }

    /// The whole training catalog `[item_vocab, E]` (row = item index) → `[item_vocab,
    /// d]`, with each item's learned id vector added.
    pub fn project_catalog(&self, embeddings: Tensor<2>) -> Tensor<2> {
        let projected = self.project(embeddings);
        match &self.item_ids {
            Some(ids) => projected + ids.weight.val(),
            None => projected,
        }
    }

    pub fn forward(&self, batch: RankBatch) -> Scored {
        let RankBatch {
            candidates: c,
            features,
            history,
            kinds,
            recency,
            mask,
        } = batch;
        let [b, l, d] = history.dims();
        let h = history + self.kind.forward(kinds);
        let weights = match &self.attention {
            Some(unit) => {
                let ce = c.clone().reshape([b, 1, d]).expand([b, l, d]);
                let x = Tensor::cat(
                    vec![
                        ce.clone(),
                        h.clone(),
                        ce.clone() * h.clone(),
                        ce - h.clone(),
                        recency.reshape([b, l, 1]),
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
                softmax(scores, 1) * mask
            }
            None => {
                let counts = mask.clone().sum_dim(1).clamp_min(1.0);
                mask / counts
            }
        };
        let interest = (weights.clone().reshape([b, l, 1]) * h)
            .sum_dim(1)
            .reshape([b, d]);
        let mut x = Tensor::cat(vec![c.clone(), interest.clone(), c * interest, features], 1);
        for layer in &self.mlp {
            x = self.dropout.forward(relu(layer.forward(x)));
        }
        let logits = self.out.forward(x).reshape([b]);
        Scored { logits, weights }
    }
}
