//! The ranker a shopper's device runs, scored through the device's own request:
//! each impression becomes the [`rank::rank`] call a device would make at that
//! moment — its stored events (every earlier rating as the event it stands for),
//! the candidates as the ad server sends them (features, `related` neighbours from
//! the training part), the same embeddings. Nothing but the request's inputs
//! reaches the model, so the card's numbers are the served model's.

use std::collections::HashMap;

use serde_json::{Value as Json, json};

use super::{Context, Experiment, Scorer};
use crate::candidates::{self, Candidate};
use crate::data::Impression;
use crate::history::Event;
use crate::input::Value;
use crate::rank::{self, Embedder, Model, RankOptions, Request, Texts};
use crate::{Error, Result};

/// Embeddings looked up by item text: what a device's embedding cache holds once
/// every item was seen.
pub struct Table(pub HashMap<String, Vec<f32>>);

impl Embedder for Table {
    async fn embed(&self, texts: &[String], _whose: Texts) -> Result<Vec<Vec<f32>>> {
        texts
            .iter()
            .map(|t| {
                self.0
                    .get(t)
                    .cloned()
                    .ok_or_else(|| Error::BadInput(format!("no embedding for `{t}`")))
            })
            .collect()
    }
}

/// An experiment's impressions as device requests.
pub struct Requests {
    /// Per user, every rating as the event a device would have stored, in time order.
    pub events: Vec<Vec<Event>>,
    /// Per item, the candidate the ad server would send, as JSON on the wire...
    pub wire: Vec<Json>,
    /// ...and checked by [`candidates::parse`], as any candidate is.
    pub candidates: Vec<Candidate>,
    pub embeddings: Table,
}

impl Requests {
    pub fn new(exp: &Experiment, config: &crate::RankerConfig) -> Result<Self> {
        let ml = &exp.ml;
        let events = exp
            .split
            .by_user
            .iter()
            .map(|ratings| ratings.iter().map(|&r| ml.event(&ml.ratings[r])).collect())
            .collect();
        let features = exp.examples(config).features;
        let wire: Vec<Json> = ml
            .items
            .iter()
            .enumerate()
            .map(|(i, item)| {
                let related: Vec<Json> = exp
                    .neighbours
                    .list(i as u32)
                    .into_iter()
                    .map(|(j, weight)| {
                        json!({"itemId": ml.items[j as usize].catalog_id(), "weight": weight})
                    })
                    .collect();
                let named: serde_json::Map<String, Json> = config
                    .candidate_features
                    .iter()
                    .zip(&features[i])
                    .map(|(name, &v)| (name.clone(), json!(v)))
                    .collect();
                json!({
                    "id": item.catalog_id(), "title": item.display_title(),
                    "category": item.category(), "features": named, "related": related,
                })
            })
            .collect();
        let values: Vec<Value> = serde_json::from_value(Json::Array(wire.clone()))
            .map_err(|e| Error::BadInput(format!("candidates: {e}")))?;
        let candidates = candidates::parse(&values, config, values.len())?;
        let embeddings = Table(
            ml.items
                .iter()
                .map(|item| item.text())
                .zip(exp.embeddings.iter().cloned())
                .collect(),
        );
        Ok(Self {
            events,
            wire,
            candidates,
            embeddings,
        })
    }

    /// The request a device makes for `imps` (one user, one moment): the events it
    /// holds then and the impressions' items as candidates, each once.
    fn request_parts(&self, imps: &[Impression]) -> (&[Event], Vec<Candidate>, f64) {
        let first = imps[0];
        let events = &self.events[first.user as usize][..first.history_len];
        let mut seen = std::collections::HashSet::new();
        let candidates = imps
            .iter()
            .filter(|i| seen.insert(i.item))
            .map(|i| self.candidates[i.item as usize].clone())
            .collect();
        (events, candidates, first.ts as f64 * 1000.0)
    }

    /// The request for `imps` (one user, one moment) as `privrank rank` reads it.
    pub fn request_json(&self, imps: &[Impression]) -> Json {
        let (events, _, now) = self.request_parts(imps);
        let mut seen = std::collections::HashSet::new();
        let candidates: Vec<&Json> = imps
            .iter()
            .filter(|i| seen.insert(i.item))
            .map(|i| &self.wire[i.item as usize])
            .collect();
        json!({"history": events, "candidates": candidates, "options": {"now": now}})
    }

    /// Click probabilities for `imps` through `rank::rank`, in order.
    pub fn score(&self, model: Model<'_>, imps: &[Impression]) -> Result<Vec<f32>> {
        let mut out = Vec::with_capacity(imps.len());
        for group in
            imps.chunk_by(|a, b| (a.user, a.history_len, a.ts) == (b.user, b.history_len, b.ts))
        {
            let (events, candidates, now) = self.request_parts(group);
            let options = RankOptions {
                now: Some(now),
                ..RankOptions::default()
            };
            let ranked = rank::rank_blocking(
                model,
                Request {
                    events,
                    candidates: &candidates,
                    options: &options,
                    clock_ms: now,
                },
                &self.embeddings,
            )?;
            let ctr: HashMap<&str, f64> = ranked.iter().map(|r| (r.id.as_str(), r.ctr)).collect();
            for imp in group {
                let id = self.candidates[imp.item as usize].id.as_str();
                out.push(ctr.get(id).copied().unwrap_or(f64::NAN) as f32);
            }
        }
        Ok(out)
    }
}

/// A ranker as a [`Scorer`], through the served request.
pub struct Served<'a> {
    pub name: String,
    pub model: Model<'a>,
    pub requests: &'a Requests,
}

impl Scorer for Served<'_> {
    fn name(&self) -> String {
        self.name.clone()
    }
    fn probabilities(&self) -> bool {
        true
    }
    fn score(&self, _ctx: &Context<'_>, imps: &[Impression]) -> Result<Vec<f32>> {
        self.requests.score(self.model, imps)
    }
}
