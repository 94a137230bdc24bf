//! The demo storefront's catalog and its ad server's promotions, made from
//! MovieLens-100k (`scripts/demo-data.mjs` writes them through the npm package's
//! `demoData`, `privrank demo-data` natively; `privrank eval` ranks the same
//! promotions in its focused-session check). The ad server knows every rating:
//! popularity and the `related` neighbours count all of them.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::{Value, json};

use super::{CANDIDATE_FEATURES, MovieLens};
use crate::related::{Cooccurrence, DEFAULT_MIN_USERS, DEFAULT_TOP};

/// Shown on the page and written into both files.
pub const SOURCE: &str = "MovieLens 100K (F. Maxwell Harper and Joseph A. Konstan, GroupLens \
Research, University of Minnesota), for research use only; generated on this machine from \
the set-up download by `privrank demo-data`, not redistributed.";

/// Promotions per genre in the demo (`privrank demo-data --per-genre`).
pub const PER_GENRE: usize = 2;

/// Headline variants for the promotions, written on the "ad server" by SmolLM2
/// (`privrank demo-data --generate-creatives`, src/generate) and committed, so that
/// making the demo needs no language model: item id → `creatives`.
pub const CREATIVES: &str = include_str!("../../data/demo-creatives.json");

/// The committed creatives of each promotion; none for an item it does not list.
pub fn committed_creatives() -> serde_json::Result<std::collections::BTreeMap<String, Value>> {
    #[derive(serde::Deserialize)]
    struct File {
        creatives: std::collections::BTreeMap<String, Value>,
    }
    serde_json::from_str::<File>(CREATIVES).map(|f| f.creatives)
}

/// The demo's data as written under `www/data/`: each file's name and text, and
/// what they hold.
#[derive(Debug, Serialize)]
pub struct DemoData {
    /// File name → pretty-printed JSON (`catalog.json`, `candidates.json`).
    pub files: std::collections::BTreeMap<&'static str, String>,
    pub movies: usize,
    pub promotions: usize,
    pub genres: usize,
}

/// What the demo's ad server knows: rating counts and co-occurrence over every
/// rating.
pub struct AdServer<'a> {
    pub ml: &'a MovieLens,
    pub counts: Vec<u32>,
    pub co: Cooccurrence,
    /// Item id → its `creatives` list, attached to its candidate.
    pub creatives: std::collections::BTreeMap<String, Value>,
}

impl<'a> AdServer<'a> {
    pub fn new(ml: &'a MovieLens) -> Self {
        let mut counts = vec![0u32; ml.items.len()];
        let mut users = vec![Vec::new(); ml.users.len()];
        for r in &ml.ratings {
            counts[r.item as usize] += 1;
            users[r.user as usize].push(r.item);
        }
        Self {
            co: Cooccurrence::count(ml.items.len(), users),
            ml,
            counts,
            // Checked by the tests (tests/generate.rs): a parse error here is a
            // broken commit, and the demo then runs on titles alone.
            creatives: committed_creatives().unwrap_or_default(),
        }
    }

    /// Item indices, most rated first (ties by index).
    pub fn by_popularity(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.ml.items.len()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(self.counts[i]), i));
        order
    }

    /// The genres promotions are chosen for (MovieLens' "unknown" is not one).
    pub fn genres(&self) -> BTreeSet<&'a str> {
        self.ml
            .items
            .iter()
            .flat_map(|item| item.genres.iter().map(String::as_str))
            .filter(|g| *g != "unknown")
            .collect()
    }

    /// Both files of the demo: the catalog and `per_genre` promotions per genre.
    pub fn data(&self, per_genre: usize) -> DemoData {
        let items = self.catalog();
        let candidates = self.promotions(per_genre);
        let (movies, promotions) = (items.len(), candidates.len());
        let pretty = |value: Value| {
            serde_json::to_string_pretty(&value).expect("a JSON value always serializes") + "\n"
        };
        let files = [
            ("catalog.json", json!({ "source": SOURCE, "items": items })),
            (
                "candidates.json",
                json!({ "source": SOURCE, "candidates": candidates }),
            ),
        ]
        .into_iter()
        .map(|(name, value)| (name, pretty(value)))
        .collect();
        DemoData {
            files,
            movies,
            promotions,
            genres: self.genres().len(),
        }
    }

    /// The storefront's catalog entries, most rated first.
    pub fn catalog(&self) -> Vec<Value> {
        self.by_popularity()
            .into_iter()
            .map(|i| {
                let item = &self.ml.items[i];
                json!({
                    "id": item.catalog_id(), "title": item.display_title(),
                    "category": item.category(), "genres": item.genres,
                    "year": item.year, "ratings": self.counts[i],
                })
            })
            .collect()
    }

    /// The promotions: the `per_genre` most-rated films of each genre not already
    /// chosen, as `rank()` candidates with the trained features, their `related`
    /// neighbours, a synthetic bid and the generated headline variants
    /// ([`CREATIVES`]) as `creatives`.
    pub fn promotions(&self, per_genre: usize) -> Vec<Value> {
        let order = self.by_popularity();
        let mut chosen: Vec<usize> = Vec::new();
        for genre in self.genres() {
            let picks: Vec<usize> = order
                .iter()
                .copied()
                .filter(|&i| {
                    self.ml.items[i].genres.iter().any(|g| g == genre) && !chosen.contains(&i)
                })
                .take(per_genre)
                .collect();
            chosen.extend(picks);
        }
        chosen
            .into_iter()
            .map(|i| {
                let mut candidate = self.candidate(i);
                if let Some(creatives) = self.creatives.get(&self.ml.items[i].catalog_id()) {
                    candidate["creatives"] = creatives.clone();
                }
                candidate
            })
            .collect()
    }

    /// One film as the candidate the ad server sends.
    pub fn candidate(&self, i: usize) -> Value {
        let max = self.counts.iter().copied().max().unwrap_or(0) as f32;
        let item = &self.ml.items[i];
        let values = item.features(self.counts[i], max);
        let features: serde_json::Map<String, Value> = CANDIDATE_FEATURES
            .iter()
            .zip(values)
            .map(|(name, v)| (name.to_string(), json!((f64::from(v) * 1e4).round() / 1e4)))
            .collect();
        let related: Vec<Value> = self
            .co
            .neighbours(i as u32, DEFAULT_TOP, DEFAULT_MIN_USERS)
            .into_iter()
            .map(|(j, w)| {
                json!({
                    "itemId": self.ml.items[j as usize].catalog_id(),
                    "weight": (f64::from(w) * 1e4).round() / 1e4,
                })
            })
            .collect();
        // A synthetic bid per click in [0.5, 1.5), fixed by the item: MovieLens has
        // no prices, and the demo ranks by click probability anyway.
        let bid = 0.5 + ((i as u64 * 37) % 100) as f64 / 100.0;
        json!({
            "id": item.catalog_id(), "title": item.display_title(), "category": item.category(),
            "bid": bid, "features": features, "related": related,
        })
    }
}
