//! A ranking request in one JSON document: `{"history": [...], "candidates": [...],
//! "options": {...}}`. `privrank rank` reads it from a file; the tests and the
//! `request` fuzz target send it too. The browser builds the same [`Request`] from
//! its stored events and `rank()`'s arguments, with the same checks.

use serde::Deserialize;

use super::{RankOptions, Request};
use crate::candidates::{self, Candidate, DEFAULT_MAX_CANDIDATES};
use crate::config::RankerConfig;
use crate::history::{self, Event};
use crate::input::Value;
use crate::{Error, Result};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    #[serde(default)]
    history: Vec<Value>,
    candidates: Vec<Value>,
    #[serde(default)]
    options: RankOptions,
}

/// The document's parts, each checked.
pub struct RequestFile {
    pub events: Vec<Event>,
    pub candidates: Vec<Candidate>,
    pub options: RankOptions,
    clock_ms: f64,
}

impl RequestFile {
    /// `source` names the document in errors. `clock_ms` is the caller's clock: the
    /// ranking time unless `options.now` says otherwise, and what events without a
    /// `ts` are stamped with.
    pub fn from_json(
        source: &str,
        bytes: &[u8],
        config: &RankerConfig,
        clock_ms: f64,
    ) -> Result<Self> {
        let doc: Document =
            serde_json::from_slice(bytes).map_err(|e| Error::BadInput(format!("{source}: {e}")))?;
        let events = history::parse_events(&doc.history, doc.options.now.unwrap_or(clock_ms))?;
        let candidates = candidates::parse(&doc.candidates, config, DEFAULT_MAX_CANDIDATES)?;
        Ok(Self {
            events,
            candidates,
            options: doc.options,
            clock_ms,
        })
    }

    pub fn request(&self) -> Request<'_> {
        Request {
            events: &self.events,
            candidates: &self.candidates,
            options: &self.options,
            clock_ms: self.clock_ms,
        }
    }
}
