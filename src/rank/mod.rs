//! One ranking request, the only one: the browser's `rank()`, `privrank rank`,
//! `privrank eval`'s privrank row, the benchmarks and the tests all call [`rank`].
//! The stored events and the checked candidates go in with an [`Embedder`], the
//! ordered candidates with their reasons come out. Embedding is the caller's,
//! because it differs: IndexedDB and memory in the browser, the encoder or a table
//! natively.

mod batch;
mod check;
mod creatives;
mod file;
mod placement;
mod prior;
mod supplied;

use std::future::Future;

use burn::tensor::Device;
use burn::tensor::activation::sigmoid;
use serde::{Deserialize, Serialize};

use crate::backend::read_back_async;
use crate::candidates::Candidate;
use crate::config::RankerConfig;
use crate::history::{self, Event, EventKind};
use crate::policy::Policy;
use crate::ranker::Ranker;
use crate::{Error, Result};

pub use file::RequestFile;

pub use batch::build as build_batch;
pub use check::validate;
pub use creatives::choose as choose_creatives;
pub use placement::blocked;
pub use prior::{blend, focus, strength};
pub use supplied::{OnEncoderMismatch, supplied};

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
    /// What to do with attached embeddings from another encoder (default: refuse).
    pub on_encoder_mismatch: OnEncoderMismatch,
}

/// How many history events `explain` names per candidate.
pub const REASONS: usize = 3;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ranked {
    pub id: String,
    /// The value ordered by: the click probability, or probability × bid for `ecpm`.
    pub score: f64,
    /// Predicted click probability: the model's, with the history's content prior
    /// blended in ([`blend`]).
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
    /// How much more this ad attended to the event than the request's ads did on
    /// average, as a share: a candidate's weights sum to 1 over its history
    /// (`placement::lifts`; the attention weight itself when one ad is ranked).
    pub weight: f64,
}

/// What a request runs on.
#[derive(Clone, Copy)]
pub struct Model<'a> {
    pub ranker: &'a Ranker,
    pub config: &'a RankerConfig,
    pub device: &'a Device,
    /// The weight hash of the encoder whose embeddings the ranker reads
    /// (`RankerManifest::encoder`): embeddings a candidate brings must carry it.
    pub encoder: &'a str,
}

/// One ranking request, as the JavaScript API and `privrank rank` receive it.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// Every stored event, in any order; impressions feed the frequency caps.
    pub events: &'a [Event],
    /// Checked by [`crate::candidates::parse`].
    pub candidates: &'a [Candidate],
    pub options: &'a RankOptions,
    /// The time to rank at when `options.now` is absent (the caller's clock).
    pub clock_ms: f64,
}

/// Whose texts an [`Embedder`] is asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Texts {
    /// The shopper's own items: they recur in every request, worth keeping.
    History,
    /// Candidates' titles and creatives: new with every ad server response.
    Candidates,
}

/// Turns item texts into encoder embeddings, one per text, in order.
pub trait Embedder {
    fn embed(&self, texts: &[String], whose: Texts) -> impl Future<Output = Result<Vec<Vec<f32>>>>;

    /// The host's turn between the ranking's stages: a page paints and handles input
    /// (the first ranking also compiles the ranker's code); natively, nothing.
    fn pause(&self) -> impl Future<Output = ()> {
        std::future::ready(())
    }
}

/// The encoder itself, with no cache (the CLI).
impl Embedder for crate::SentenceEncoder {
    async fn embed(&self, texts: &[String], _whose: Texts) -> Result<Vec<Vec<f32>>> {
        self.embed_async(texts).await
    }
}

/// Rank the request's candidates for the shopper whose events it holds.
pub async fn rank(
    model: Model<'_>,
    request: Request<'_>,
    embedder: &impl Embedder,
) -> Result<Vec<Ranked>> {
    let now = validate(&request)?;
    let config = model.config;
    let attended = history::recent(request.events, config.max_history);
    let matched = history::recent(request.events, config.match_history);
    let history_texts: Vec<String> = attended.iter().map(|e| e.text()).collect();
    // Titles and creatives in one batch: one encoder pass, one read-back.
    let mut candidate_texts: Vec<String> = request.candidates.iter().map(Candidate::text).collect();
    candidate_texts.extend(
        request
            .candidates
            .iter()
            .flat_map(Candidate::creative_texts),
    );
    let attached = supplied(
        request.candidates,
        model.encoder,
        request.options.on_encoder_mismatch,
    )?;
    let history_vecs = embedded(embedder, &history_texts, Texts::History, config).await?;
    let mut candidate_vecs = with_attached(embedder, &candidate_texts, attached, config).await?;
    let creative_vecs = candidate_vecs.split_off(request.candidates.len());

    let batch = build_batch(
        model,
        batch::Inputs {
            attended: &attended,
            attended_vecs: &history_vecs,
            matched: &matched,
            candidates: request.candidates,
            candidate_vecs: &candidate_vecs,
            now,
        },
    );
    embedder.pause().await;
    let scored = model.ranker.forward(batch);
    let strength = strength(focus(&attended, now), config);
    let ctr = read_back_async(sigmoid(blend(&scored, strength))).await?;
    let weights = read_back_async(scored.weights).await?;
    embedder.pause().await;

    let policy = &request.options.policy;
    let impressions = crate::policy::impressions(request.events);
    let placement = placement::Placement {
        candidates: request.candidates,
        options: request.options,
        blocked: blocked(request.candidates, policy, &impressions, now),
        embeddings: &candidate_vecs,
        creatives: choose_creatives(
            &attended,
            &history_vecs,
            request.candidates,
            &creative_vecs,
            now,
        ),
        history: &attended,
        now,
    };
    Ok(placement.order(&ctr, &weights))
}

/// [`rank`] to completion on this thread (native callers: the CLI, eval, tests).
#[cfg(not(target_arch = "wasm32"))]
pub fn rank_blocking(
    model: Model<'_>,
    request: Request<'_>,
    embedder: &impl Embedder,
) -> Result<Vec<Ranked>> {
    futures_lite::future::block_on(rank(model, request, embedder))
}

/// Candidates' vectors: the attached ones as they are, the embedder's for the
/// rest (in one call, none when every text came embedded).
async fn with_attached(
    embedder: &impl Embedder,
    texts: &[String],
    attached: Vec<Option<Vec<f32>>>,
    config: &RankerConfig,
) -> Result<Vec<Vec<f32>>> {
    let missing: Vec<String> = texts
        .iter()
        .zip(&attached)
        .filter(|(_, v)| v.is_none())
        .map(|(t, _)| t.clone())
        .collect();
    let mut computed = embedded(embedder, &missing, Texts::Candidates, config)
        .await?
        .into_iter();
    Ok(attached
        .into_iter()
        .map(|v| v.or_else(|| computed.next()).unwrap_or_default())
        .collect())
}

/// The embedder's answer, checked: one vector per text, each as wide as the
/// ranker's input.
async fn embedded(
    embedder: &impl Embedder,
    texts: &[String],
    whose: Texts,
    config: &RankerConfig,
) -> Result<Vec<Vec<f32>>> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let vecs = embedder.embed(texts, whose).await?;
    let e = config.embedding_dim;
    if vecs.len() != texts.len() {
        return Err(Error::BadInput(format!(
            "the embedder returned {} vectors for {} texts",
            vecs.len(),
            texts.len()
        )));
    }
    if let Some(v) = vecs.iter().find(|v| v.len() != e) {
        return Err(Error::RankerMismatch {
            file: "ranker".into(),
            reason: format!(
                "it expects {e}-dim embeddings; the encoder gave {}-dim ones",
                v.len()
            ),
        });
    }
    Ok(vecs)
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
