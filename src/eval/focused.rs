//! Focused sessions: a history drawn from one genre (MovieLens) or one product
//! category (a storefront catalog with no MovieLens ids), ranked against a fixed
//! candidate set. A ranker that personalises lifts the session's own genre into the
//! slot; a popularity model does not. The sampled-negative AUC cannot tell the two
//! apart, so `privrank eval` reports this beside it.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use serde::{Deserialize, Serialize};

use super::served::Table;
use crate::candidates::{self, Candidate};
use crate::data::MovieLens;
use crate::data::demo::{AdServer, PER_GENRE};
use crate::history::{Event, EventKind};
use crate::input::Value;
use crate::rank::{self, Embedder, Model, RankOptions, Request, Texts};
use crate::ranker::features::similarity;
use crate::{Error, Result};

/// How far the device's choice among a candidate's creatives moves with the
/// history ([`Check::creatives`]), over candidates offering two or more.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CreativeReport {
    pub sessions: usize,
    pub candidates_with_variants: usize,
    /// Over pairs of sessions of different labels (genres) and each such candidate:
    /// the share whose chosen variant differs.
    pub differs_across_labels: f64,
    /// The same over pairs of sessions of one label: how much of the movement is
    /// the label's, not the session's own draw.
    pub differs_within_label: f64,
    /// Mean cosine of the chosen variant's embedding to the session's mean history
    /// embedding...
    pub chosen_cosine: f64,
    /// ...of the candidate's title (with category), which the other arm shows...
    pub title_cosine: f64,
    /// ...and of its variants on average (a choice at random).
    pub mean_variant_cosine: f64,
    /// Per label, how often each variant id was chosen.
    pub choices: std::collections::BTreeMap<String, std::collections::BTreeMap<String, usize>>,
}

/// Events per MovieLens session: ten films of one genre, as in the demo.
pub const SESSION_EVENTS: usize = 10;
/// Sessions drawn per genre or category.
pub const SESSIONS: usize = 5;

/// Which half of each genre's films sessions are drawn from. Choices made while
/// building the ranker look at `Tune` only; the card reports `Report`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Half {
    Tune,
    Report,
}

/// One session: its label (genre or category), the shopper's events, and which
/// candidates belong to the label.
pub struct Session {
    pub label: String,
    pub events: Vec<Event>,
}

/// A candidate set and sessions against it.
pub struct Check {
    pub candidates: Vec<Candidate>,
    /// Per candidate, the labels it belongs to.
    pub labels: Vec<Vec<String>>,
    pub sessions: Vec<Session>,
    /// How many of the top candidates are judged.
    pub top: usize,
}

/// The ten hours before the ranking time, one view an hour, oldest first.
fn views(
    items: impl IntoIterator<Item = (String, String, Option<String>)>,
    now: f64,
) -> Vec<Event> {
    let items: Vec<_> = items.into_iter().collect();
    let n = items.len();
    items
        .into_iter()
        .enumerate()
        .map(|(k, (item_id, title, category))| Event {
            kind: EventKind::View,
            item_id,
            title,
            category,
            campaign: None,
            ts: now - (n - k) as f64 * 3_600_000.0,
        })
        .collect()
}

/// The time focused sessions are ranked at.
pub const NOW: f64 = 1_700_000_000_000.0;

/// MovieLens genres against the demo's promotions: per genre, [`SESSIONS`] sessions
/// of [`SESSION_EVENTS`] films of that genre that are not themselves promoted,
/// drawn from one half of the genre's films (by item index parity), each in
/// proportion to its ratings.
pub fn movielens(
    ml: &MovieLens,
    config: &crate::RankerConfig,
    half: Half,
    seed: u64,
) -> Result<Check> {
    let server = AdServer::new(ml);
    let wire = server.promotions(PER_GENRE);
    let values: Vec<Value> = serde_json::from_value(serde_json::Value::Array(wire))
        .map_err(|e| Error::BadInput(format!("demo candidates: {e}")))?;
    let candidates = candidates::parse(&values, config, values.len())?;
    let by_id: HashMap<String, usize> = ml
        .items
        .iter()
        .enumerate()
        .map(|(i, item)| (item.catalog_id(), i))
        .collect();
    let labels: Vec<Vec<String>> = candidates
        .iter()
        .map(|c| ml.items[by_id[&c.id]].genres.clone())
        .collect();
    let promoted: std::collections::HashSet<&str> =
        candidates.iter().map(|c| c.id.as_str()).collect();
    let parity = match half {
        Half::Tune => 0,
        Half::Report => 1,
    };
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sessions = Vec::new();
    for genre in server.genres() {
        let pool: Vec<usize> = (0..ml.items.len())
            .filter(|&i| i % 2 == parity)
            .filter(|&i| ml.items[i].genres.iter().any(|g| g == genre))
            .filter(|&i| !promoted.contains(ml.items[i].catalog_id().as_str()))
            .collect();
        if pool.len() < SESSION_EVENTS {
            continue;
        }
        for _ in 0..SESSIONS {
            // Shoppers browse what a storefront shows, and it shows what people
            // watch: films are drawn in proportion to their ratings.
            let picked = pool
                .choose_multiple_weighted(&mut rng, SESSION_EVENTS, |&i| {
                    f64::from(server.counts[i]) + 1.0
                })
                .map_err(|e| Error::BadInput(format!("focused sessions: {e}")))?;
            let events = views(
                picked.map(|&i| {
                    let item = &ml.items[i];
                    (
                        item.catalog_id(),
                        item.display_title(),
                        Some(item.category()),
                    )
                }),
                NOW,
            );
            sessions.push(Session {
                label: genre.to_owned(),
                events,
            });
        }
    }
    Ok(Check {
        candidates,
        labels,
        sessions,
        top: 3,
    })
}

/// A storefront's own catalog (`data/storefront.json`): product titles in several
/// categories, no MovieLens ids, no features.
#[derive(Debug, Deserialize)]
pub struct Storefront {
    pub categories: Vec<Category>,
}

#[derive(Debug, Deserialize)]
pub struct Category {
    /// The label sessions are judged by, shared by catalogs in other languages.
    pub name: String,
    /// The category as this catalog's shoppers read it, when not `name`
    /// (`data/storefront-zh.json`: 跑步鞋 for Running shoes): what its events and
    /// candidates carry.
    #[serde(default)]
    pub local_name: Option<String>,
    pub products: Vec<String>,
}

impl Category {
    fn shown_name(&self) -> &str {
        self.local_name.as_deref().unwrap_or(&self.name)
    }
}

/// Products per category that are candidates; the rest make up histories.
pub const STOREFRONT_CANDIDATES: usize = 4;
/// Events per storefront session.
pub const STOREFRONT_EVENTS: usize = 5;

/// Each category's last [`STOREFRONT_CANDIDATES`] products are candidates (with
/// their category, as a storefront sends them); sessions view
/// [`STOREFRONT_EVENTS`] of the others.
pub fn storefront(catalog: &Storefront, config: &crate::RankerConfig, seed: u64) -> Result<Check> {
    across(catalog, &[catalog], config, seed)
}

/// Sessions that view products of `history`'s catalog against the candidates of the
/// `shown` catalogs (each category's last [`STOREFRONT_CANDIDATES`] products),
/// categories matched by `name`: a Chinese shopper's history against English,
/// Chinese or both catalogs' products, where only the encoder can tell that 跑步鞋
/// and Running shoes are one category.
pub fn across(
    history: &Storefront,
    shown: &[&Storefront],
    config: &crate::RankerConfig,
    seed: u64,
) -> Result<Check> {
    let needed = |category: &Category, n: usize| -> Result<()> {
        if category.products.len() < n {
            return Err(Error::BadInput(format!(
                "category `{}` has {} products; it needs {n}",
                category.name,
                category.products.len()
            )));
        }
        Ok(())
    };
    let mut wire = Vec::new();
    let mut labels = Vec::new();
    for (k, catalog) in shown.iter().enumerate() {
        let prefix = if k == 0 {
            "shop".to_owned()
        } else {
            format!("shop{k}")
        };
        for (c, category) in catalog.categories.iter().enumerate() {
            needed(category, STOREFRONT_CANDIDATES)?;
            let n = category.products.len();
            for (p, title) in category.products[n - STOREFRONT_CANDIDATES..]
                .iter()
                .enumerate()
            {
                wire.push(serde_json::json!({
                    "id": format!("{prefix}-{c}-{p}"), "title": title,
                    "category": category.shown_name(),
                }));
                labels.push(vec![category.name.clone()]);
            }
        }
    }
    let values: Vec<Value> = serde_json::from_value(serde_json::Value::Array(wire))
        .map_err(|e| Error::BadInput(format!("storefront candidates: {e}")))?;
    let candidates = candidates::parse(&values, config, values.len())?;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut sessions = Vec::new();
    for category in &history.categories {
        needed(category, STOREFRONT_CANDIDATES + STOREFRONT_EVENTS)?;
        let pool = &category.products[..category.products.len() - STOREFRONT_CANDIDATES];
        for _ in 0..SESSIONS {
            let picked = pool.choose_multiple(&mut rng, STOREFRONT_EVENTS);
            let events = views(
                picked.map(|t| {
                    (
                        format!("shop:{t}"),
                        t.clone(),
                        Some(category.shown_name().to_owned()),
                    )
                }),
                NOW,
            );
            sessions.push(Session {
                label: category.name.clone(),
                events,
            });
        }
    }
    Ok(Check {
        candidates,
        labels,
        sessions,
        top: 4,
    })
}

/// How one ordering did on a check.
#[derive(Clone, Debug, Serialize)]
pub struct Outcome {
    pub order: String,
    /// Mean share of the top candidates that belong to the session's label.
    pub in_label_share: f64,
}

/// All orders on one check, and how well privrank's reasons point at the history
/// item most like the candidate.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub sessions: usize,
    pub candidates: usize,
    pub top: usize,
    pub outcomes: Vec<Outcome>,
    /// Share of privrank's top candidates whose first reason is the session event
    /// most similar to the candidate (encoder cosine).
    pub reason_is_most_similar: f64,
    /// The same by chance: one over the events per session.
    pub reason_chance: f64,
    /// Share of sessions whose top candidates all give the same first reason: a
    /// reason that names one event for every ad explains none of them.
    pub same_first_reason: f64,
}

impl Check {
    /// The same sessions and candidates with no category on any event or
    /// candidate, as a storefront that sends none would rank them: the texts lose
    /// their category too, and the prior has no focus to read.
    pub fn without_categories(&self) -> Check {
        let candidates = self
            .candidates
            .iter()
            .map(|c| Candidate {
                category: None,
                ..c.clone()
            })
            .collect();
        let sessions = self
            .sessions
            .iter()
            .map(|s| Session {
                label: s.label.clone(),
                events: s
                    .events
                    .iter()
                    .map(|e| Event {
                        category: None,
                        ..e.clone()
                    })
                    .collect(),
            })
            .collect();
        Check {
            candidates,
            labels: self.labels.clone(),
            sessions,
            top: self.top,
        }
    }

    /// The top of one session's ranking, as [`Self::run`] judges it: for showing
    /// what a check does.
    pub fn ranked(
        &self,
        model: Model<'_>,
        embedder: &impl Embedder,
        events: &[Event],
    ) -> Result<Vec<rank::Ranked>> {
        let table = self.table(embedder, false)?;
        self.rank(model, &self.without_creatives(), events, &table)
    }

    /// Candidates are ranked without their creatives: they decide only which text
    /// is shown, never the order ([`Self::creatives`] measures them).
    fn without_creatives(&self) -> Vec<Candidate> {
        self.candidates
            .iter()
            .map(|c| Candidate {
                creatives: Vec::new(),
                ..c.clone()
            })
            .collect()
    }

    /// The device's request for the top [`Check::top`], with reasons, at [`NOW`].
    fn rank(
        &self,
        model: Model<'_>,
        candidates: &[Candidate],
        events: &[Event],
        table: &Table,
    ) -> Result<Vec<rank::Ranked>> {
        let options = RankOptions {
            k: Some(self.top),
            explain: true,
            now: Some(NOW),
            ..RankOptions::default()
        };
        rank::rank_blocking(
            model,
            Request {
                events,
                candidates,
                options: &options,
                clock_ms: NOW,
            },
            table,
        )
    }

    /// How the creative the device shows moves with its shopper's history: every
    /// session ranks every candidate through `rank::rank_blocking` (the device's
    /// path), and each candidate's chosen variant is compared across sessions and,
    /// by cosine, with the session's mean history embedding.
    pub fn creatives(&self, model: Model<'_>, embedder: &impl Embedder) -> Result<CreativeReport> {
        let table = self.table(embedder, true)?;
        let options = RankOptions {
            now: Some(NOW),
            ..RankOptions::default()
        };
        let offered: Vec<usize> = (0..self.candidates.len())
            .filter(|&i| self.candidates[i].creatives.len() > 1)
            .collect();
        let mut report = CreativeReport {
            sessions: self.sessions.len(),
            candidates_with_variants: offered.len(),
            ..CreativeReport::default()
        };
        let mut chosen_by_session: Vec<Vec<Option<String>>> = Vec::new();
        let (mut chosen_cos, mut title_cos, mut any_cos, mut n) = (0.0, 0.0, 0.0, 0usize);
        let dim = table.0.values().next().map_or(0, Vec::len);
        for session in &self.sessions {
            let ranked = rank::rank_blocking(
                model,
                Request {
                    events: &session.events,
                    candidates: &self.candidates,
                    options: &options,
                    clock_ms: NOW,
                },
                &table,
            )?;
            let by_id: HashMap<&str, Option<&str>> = ranked
                .iter()
                .map(|r| (r.id.as_str(), r.creative.as_deref()))
                .collect();
            let mut mean = vec![0f32; dim];
            for e in &session.events {
                for (m, x) in mean.iter_mut().zip(&table.0[&e.text()]) {
                    *m += x;
                }
            }
            let mut chosen = Vec::new();
            for &i in &offered {
                let c = &self.candidates[i];
                let pick = by_id.get(c.id.as_str()).copied().flatten();
                let variants: Vec<String> = c.creative_texts().collect();
                if let Some(k) = pick.and_then(|id| c.creatives.iter().position(|cr| cr.id == id)) {
                    chosen_cos += f64::from(similarity(&table.0[&variants[k]], &mean));
                    title_cos += f64::from(similarity(&table.0[&c.text()], &mean));
                    any_cos += variants
                        .iter()
                        .map(|t| f64::from(similarity(&table.0[t], &mean)))
                        .sum::<f64>()
                        / variants.len() as f64;
                    n += 1;
                    *report
                        .choices
                        .entry(session.label.clone())
                        .or_default()
                        .entry(c.creatives[k].id.clone())
                        .or_default() += 1;
                }
                chosen.push(pick.map(str::to_owned));
            }
            chosen_by_session.push(chosen);
        }
        let (mut across, mut across_n, mut within, mut within_n) = (0usize, 0usize, 0usize, 0usize);
        for a in 0..self.sessions.len() {
            for b in a + 1..self.sessions.len() {
                let same = self.sessions[a].label == self.sessions[b].label;
                for (x, y) in chosen_by_session[a].iter().zip(&chosen_by_session[b]) {
                    let differs = usize::from(x != y);
                    if same {
                        within += differs;
                        within_n += 1;
                    } else {
                        across += differs;
                        across_n += 1;
                    }
                }
            }
        }
        report.differs_across_labels = across as f64 / across_n.max(1) as f64;
        report.differs_within_label = within as f64 / within_n.max(1) as f64;
        report.chosen_cosine = chosen_cos / n.max(1) as f64;
        report.title_cosine = title_cos / n.max(1) as f64;
        report.mean_variant_cosine = any_cos / n.max(1) as f64;
        Ok(report)
    }

    fn share(&self, session: &Session, picked: &[usize]) -> f64 {
        let hits = picked
            .iter()
            .filter(|&&i| self.labels[i].contains(&session.label))
            .count();
        hits as f64 / self.top as f64
    }

    /// Every text ranking embeds (see [`Self::texts`]), embedded once.
    fn table(&self, embedder: &impl Embedder, creatives: bool) -> Result<Table> {
        let texts = self.texts(creatives);
        let vectors = futures_lite::future::block_on(embedder.embed(&texts, Texts::Candidates))?;
        Ok(Table(texts.into_iter().zip(vectors).collect()))
    }

    /// Every text ranking embeds: titles, history items and, with `creatives`, the
    /// candidates' creatives.
    fn texts(&self, creatives: bool) -> Vec<String> {
        let mut texts: Vec<String> = self
            .candidates
            .iter()
            .flat_map(|c| {
                let variants = c.creative_texts().filter(move |_| creatives);
                std::iter::once(c.text()).chain(variants)
            })
            .collect();
        texts.extend(
            self.sessions
                .iter()
                .flat_map(|s| s.events.iter().map(Event::text)),
        );
        texts.sort();
        texts.dedup();
        texts
    }

    /// Rank every session with privrank (through `rank::rank`), by content cosine
    /// (the mean history embedding against each candidate) and without history
    /// (privrank's order for a shopper it knows nothing about).
    ///
    /// Candidates are ranked without their creatives: they decide only which text
    /// is shown, never the order ([`Self::creatives`] measures them).
    pub fn run(&self, model: Model<'_>, embedder: &impl Embedder) -> Result<Report> {
        let candidates = self.without_creatives();
        let table = self.table(embedder, false)?;
        let index: HashMap<&str, usize> = self
            .candidates
            .iter()
            .enumerate()
            .map(|(i, c)| (c.id.as_str(), i))
            .collect();
        let ranked = |events: &[Event]| self.rank(model, &candidates, events, &table);
        let cold: Vec<usize> = ranked(&[])?.iter().map(|r| index[r.id.as_str()]).collect();
        let candidate_vecs: Vec<&Vec<f32>> = self
            .candidates
            .iter()
            .map(|c| &table.0[&c.text()])
            .collect();
        let (mut ours, mut cosine, mut plain) = (0.0, 0.0, 0.0);
        let (mut reasons_hit, mut reasons_seen, mut chance) = (0usize, 0usize, 0.0);
        let mut same_first = 0usize;
        for session in &self.sessions {
            let top = ranked(&session.events)?;
            let picked: Vec<usize> = top.iter().map(|r| index[r.id.as_str()]).collect();
            ours += self.share(session, &picked);
            plain += self.share(session, &cold);

            let history: Vec<&Vec<f32>> =
                session.events.iter().map(|e| &table.0[&e.text()]).collect();
            let dim = history.first().map_or(0, |v| v.len());
            let mut mean = vec![0f32; dim];
            for v in &history {
                for (m, x) in mean.iter_mut().zip(v.iter()) {
                    *m += x;
                }
            }
            let mut by_cosine: Vec<(usize, f32)> = candidate_vecs
                .iter()
                .enumerate()
                .map(|(i, v)| (i, similarity(v, &mean)))
                .collect();
            by_cosine.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            let best: Vec<usize> = by_cosine.iter().take(self.top).map(|&(i, _)| i).collect();
            cosine += self.share(session, &best);

            chance += 1.0 / session.events.len() as f64;
            let firsts: Vec<&str> = top
                .iter()
                .filter_map(|r| r.reasons.as_ref()?.first().map(|f| f.item_id.as_str()))
                .collect();
            same_first += usize::from(firsts.len() > 1 && firsts.iter().all(|f| *f == firsts[0]));
            for r in &top {
                let Some(first) = r.reasons.as_ref().and_then(|v| v.first()) else {
                    continue;
                };
                let c = candidate_vecs[index[r.id.as_str()]];
                let most_similar = session
                    .events
                    .iter()
                    .zip(&history)
                    .max_by(|a, b| similarity(c, a.1).total_cmp(&similarity(c, b.1)))
                    .map(|(e, _)| e.item_id.as_str());
                reasons_seen += 1;
                reasons_hit += usize::from(most_similar == Some(first.item_id.as_str()));
            }
        }
        let n = self.sessions.len().max(1) as f64;
        Ok(Report {
            sessions: self.sessions.len(),
            candidates: self.candidates.len(),
            top: self.top,
            outcomes: vec![
                Outcome {
                    order: "privrank".into(),
                    in_label_share: ours / n,
                },
                Outcome {
                    order: "content cosine (mean history embedding)".into(),
                    in_label_share: cosine / n,
                },
                Outcome {
                    order: "non-personalised (privrank, empty history)".into(),
                    in_label_share: plain / n,
                },
            ],
            reason_is_most_similar: reasons_hit as f64 / reasons_seen.max(1) as f64,
            reason_chance: chance / n,
            same_first_reason: same_first as f64 / n,
        })
    }
}
