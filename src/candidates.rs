//! Ad candidates as the ad server sends them. They are untrusted input: every field
//! is checked and every problem reported at once, before any model work starts.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use crate::config::RankerConfig;
use crate::input::{Checker, Value};
use crate::related::{MAX_RELATED, Neighbour};
use crate::{Error, Result};

/// Longest id, title or category accepted. Titles are embedded, and the encoder only
/// reads the first few hundred tokens anyway; anything longer is a bug upstream.
pub const MAX_ID_CHARS: usize = 256;
pub const MAX_TITLE_CHARS: usize = 2_000;
/// Longest free text `embed` accepts (descriptions, not only titles); the encoder
/// truncates to its token budget, this only bounds the tokenizer's work.
pub const MAX_TEXT_CHARS: usize = 20_000;

/// How many candidates one `rank` call takes unless the caller raises it: each one is
/// embedded on the device, so this bounds the work a single page request can cause.
pub const DEFAULT_MAX_CANDIDATES: usize = 1_000;

/// Most creatives one candidate may carry: each is embedded on the device.
pub const MAX_CREATIVES: usize = 8;

/// The one field a candidate may carry that the library never reads: a page's own
/// data about the ad (price, image, link), any JSON. Every other field must be one
/// [`parse`] reads, so a misspelt `advertizer` is an error, not a silent default.
pub const EXTRAS: &str = "extras";

/// Every field of a candidate, for readers that pass candidates on without reading
/// them all (an edge's `/candidates`, `embed-catalog --format candidates`). A test
/// holds it to what [`parse`] reads.
pub const FIELDS: [&str; 16] = [
    "id",
    "title",
    "category",
    "bid",
    "features",
    "campaign",
    "advertiser",
    "kAnonymous",
    "prior",
    "pacing",
    "fallback",
    "creatives",
    "related",
    "encoder",
    "embedding",
    EXTRAS,
];

/// One way of presenting an ad (headline, banner text). The ad is scored on its
/// title; the creative only decides which text the shopper sees.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Creative {
    pub id: String,
    pub text: String,
    /// Its text's embedding, when the sender attached one (see [`Candidate::encoder`]).
    pub embedding: Option<Vec<f32>>,
}

/// A checked candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub id: String,
    pub title: String,
    pub category: Option<String>,
    /// Price per click; used only by the `ecpm` objective.
    pub bid: Option<f64>,
    /// Named features in `[0, 1]`, as listed in the ranker's config.
    pub features: BTreeMap<String, f64>,
    /// Frequency caps and per-owner slot caps count by these.
    pub campaign: Option<String>,
    pub advertiser: Option<String>,
    /// The ad server vouches that this ad targets no group smaller than k shoppers;
    /// with `policy.requireKAnonymous` only such ads are shown.
    pub k_anonymous: bool,
    /// The server's click-rate prior in `[0, 1]`, which cold start blends in.
    pub prior: Option<f64>,
    /// The campaign's budget pacing multiplier in `[0, 1]` (`crate::pacing`, set
    /// by the collector's `/candidates`); the `ecpm` objective multiplies by it.
    pub pacing: Option<f64>,
    /// A house ad: shown only when no other candidate may be.
    pub fallback: bool,
    /// Alternatives to choose from by the shopper's interests; may be empty.
    pub creatives: Vec<Creative>,
    /// Its item-to-item neighbours from the ad server's aggregate co-occurrence
    /// (see [`crate::related`]); matched against the history's item ids on the device.
    pub related: Vec<Neighbour>,
    /// The weight hash of the encoder that made the attached embeddings; required
    /// with them, and compared with the device's before they are used.
    pub encoder: Option<String>,
    /// The embedding of [`Candidate::text`], unpacked (`crate::packed`), when an edge
    /// node or ad server attached one: the device then runs no encoder for it.
    pub embedding: Option<Vec<f32>>,
}

impl Candidate {
    /// What showing this ad is worth under the `ecpm` objective at click
    /// probability `ctr`: ctr × bid × pacing (no bid: 0; no pacing: 1).
    pub fn ecpm(&self, ctr: f64) -> f64 {
        ctr * self.bid.unwrap_or(0.0) * self.pacing.unwrap_or(1.0)
    }

    /// The text the encoder embeds: the title, with the category as context.
    pub fn text(&self) -> String {
        item_text(&self.title, self.category.as_deref())
    }

    /// The texts its creatives are matched on, with the category as context like
    /// the title's.
    pub fn creative_texts(&self) -> impl Iterator<Item = String> + '_ {
        self.creatives
            .iter()
            .map(|c| item_text(&c.text, self.category.as_deref()))
    }

    /// Features in the model's input order. A feature the server did not send reads
    /// as [`crate::ranker::features::UNKNOWN_FEATURE`], as in training.
    pub fn feature_row(&self, config: &RankerConfig) -> Vec<f32> {
        config
            .candidate_features
            .iter()
            .map(|name| {
                self.features
                    .get(name)
                    .map_or(crate::ranker::features::UNKNOWN_FEATURE, |&v| v as f32)
            })
            .collect()
    }
}

/// How items are turned into encoder text — shared by history events, candidates and
/// the training data, so the ranker sees the same kind of text it was trained on.
pub fn item_text(title: &str, category: Option<&str>) -> String {
    match category {
        Some(c) if !c.is_empty() => format!("{title}. {c}"),
        _ => title.to_owned(),
    }
}

/// Check a list of raw candidates. Fails with every bad field listed, with
/// [`Error::TooMany`] over `max`, and on duplicate ids.
pub fn parse(values: &[Value], config: &RankerConfig, max: usize) -> Result<Vec<Candidate>> {
    if values.len() > max {
        return Err(Error::TooMany {
            what: "candidates",
            count: values.len(),
            max,
        });
    }
    if values.is_empty() {
        return Err(Error::BadInput("no candidates to rank".into()));
    }
    let mut errors = Vec::new();
    let mut out = Vec::with_capacity(values.len());
    let mut seen = HashSet::new();
    for (index, value) in values.iter().enumerate() {
        let mut c = Checker::new(index, value);
        match (read(&mut c, config, &mut seen), c.errors.is_empty()) {
            (Some(candidate), true) => out.push(candidate),
            _ => errors.append(&mut c.errors),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(Error::BadCandidate(errors))
    }
}

/// One record's fields (every one read, unknown ones refused); `None` when the id or
/// the title is missing. The checker holds the errors; `seen`: the ids so far.
fn read(
    c: &mut Checker<'_>,
    config: &RankerConfig,
    seen: &mut HashSet<String>,
) -> Option<Candidate> {
    let id = c.text("id", true, MAX_ID_CHARS);
    let title = c.text("title", true, MAX_TITLE_CHARS);
    let category = c.text("category", false, MAX_ID_CHARS);
    let bid = c.number("bid", false, 0.0, f64::INFINITY);
    let features = c.numbers("features", &config.candidate_features, 0.0, 1.0);
    let campaign = c.text("campaign", false, MAX_ID_CHARS);
    let advertiser = c.text("advertiser", false, MAX_ID_CHARS);
    let k_anonymous = c.flag("kAnonymous");
    let prior = c.number("prior", false, 0.0, 1.0);
    let pacing = c.number("pacing", false, 0.0, 1.0);
    let fallback = c.flag("fallback");
    let creatives = parse_creatives(c, Some(config.embedding_dim));
    let related = parse_related(c);
    let encoder = c.text("encoder", false, MAX_ID_CHARS);
    let embedding = crate::packed::read(c, "embedding", config.embedding_dim);
    c.refuse_unknown("candidate", &[EXTRAS]);
    let attached =
        c.value("embedding").is_some() || creatives.iter().any(|cr| cr.embedding.is_some());
    if attached && encoder.is_none() && c.value("encoder").is_none() {
        c.fail(
            "encoder",
            "is required with an attached embedding: the hash of the encoder that made it",
        );
    }
    if let Some(id) = &id
        && !seen.insert(id.clone())
    {
        c.fail("id", format!("`{id}` appears more than once"));
    }
    Some(Candidate {
        id: id?,
        title: title?,
        category,
        bid,
        features,
        campaign,
        advertiser,
        k_anonymous,
        prior,
        pacing,
        fallback,
        creatives,
        related,
        encoder,
        embedding,
    })
}

/// Free texts to embed (`embed(texts)` in the browser and at the edge): strings of
/// at most [`MAX_TEXT_CHARS`], at most `max` of them.
pub fn texts(values: &[Value], max: usize) -> Result<Vec<String>> {
    if values.len() > max {
        return Err(Error::TooMany {
            what: "texts",
            count: values.len(),
            max,
        });
    }
    let mut bad = Vec::new();
    let mut out = Vec::with_capacity(values.len());
    for (index, v) in values.iter().enumerate() {
        match v {
            Value::Text(t) if t.chars().count() <= MAX_TEXT_CHARS => out.push(t.clone()),
            Value::Text(t) => bad.push((
                index,
                format!(
                    "text is {} characters long; the limit is {MAX_TEXT_CHARS}",
                    t.chars().count()
                ),
            )),
            _ => bad.push((index, "expected a string".to_owned())),
        }
    }
    match bad.first() {
        None => Ok(out),
        Some((index, reason)) => Err(Error::BadInput(format!(
            "{} bad text(s), first at index {index}: {reason}",
            bad.len()
        ))),
    }
}

/// Each creative is checked like a record of its own; errors name
/// `creatives[j].field`, and creative ids must be distinct within the candidate.
/// `dim`: the width attached embeddings must have; `None` (a catalog on its way to
/// be embedded) leaves them unread.
pub(crate) fn parse_creatives(c: &mut Checker<'_>, dim: Option<usize>) -> Vec<Creative> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (j, value) in c.list("creatives", MAX_CREATIVES).iter().enumerate() {
        let mut nested = Checker::new(0, value);
        let id = nested.text("id", true, MAX_ID_CHARS);
        let text = nested.text("text", true, MAX_TITLE_CHARS);
        let embedding = dim.and_then(|dim| crate::packed::read(&mut nested, "embedding", dim));
        // A catalog on its way to be embedded leaves attached vectors unread.
        nested.refuse_unknown("creative", if dim.is_none() { &["embedding"] } else { &[] });
        if let Some(id) = &id
            && !seen.insert(id.clone())
        {
            nested.fail("id", format!("`{id}` appears more than once"));
        }
        if let (Some(id), Some(text), true) = (id, text, nested.errors.is_empty()) {
            out.push(Creative {
                id,
                text,
                embedding,
            });
        }
        c.adopt(&format!("creatives[{j}]"), nested);
    }
    out
}

/// Each neighbour is `{itemId, weight}` with a finite weight in `[0, 1]`; errors name
/// `related[j].field`, and item ids must be distinct within the candidate.
fn parse_related(c: &mut Checker<'_>) -> Vec<Neighbour> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (j, value) in c.list("related", MAX_RELATED).iter().enumerate() {
        let mut nested = Checker::new(0, value);
        let item_id = nested.text("itemId", true, MAX_ID_CHARS);
        let weight = nested.number("weight", true, 0.0, 1.0);
        nested.refuse_unknown("related neighbour", &[]);
        if let Some(id) = &item_id
            && !seen.insert(id.clone())
        {
            nested.fail("itemId", format!("`{id}` appears more than once"));
        }
        if let (Some(item_id), Some(weight), true) = (item_id, weight, nested.errors.is_empty()) {
            out.push(Neighbour {
                item_id,
                weight: weight as f32,
            });
        }
        c.adopt(&format!("related[{j}]"), nested);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> RankerConfig {
        RankerConfig::new(4, vec!["popularity".into(), "release_year".into()])
            .with_projection_dim(2)
            .with_max_history(3)
    }

    fn values(json: &str) -> Vec<Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut list = values(
            r#"[{"id": "a", "title": "ok", "bid": 1.5, "features": {"popularity": 0.3}},
                {"title": "no id"},
                {"id": "c", "title": 7.5, "bid": -1},
                {"id": "a", "title": "dup", "features": {"colour": 1, "popularity": 2}},
                "not an object"]"#,
        );
        list.push(Value::Map(
            [
                ("id".to_owned(), Value::Text("n".into())),
                ("title".to_owned(), Value::Text("x".repeat(100_000))),
                ("bid".to_owned(), Value::Number(f64::NAN)),
            ]
            .into(),
        ));
        let Err(Error::BadCandidate(errors)) = parse(&list, &config(), 100) else {
            panic!("expected BadCandidate");
        };
        let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.index, e.field.as_str())).collect();
        assert_eq!(
            got,
            [
                (1, "id"),
                (2, "title"),
                (2, "bid"),
                (3, "features.colour"),
                (3, "features.popularity"),
                (3, "id"),
                (4, ""),
                (5, "title"),
                (5, "bid"),
            ]
        );
        assert!(errors[8].reason.contains("finite"), "{}", errors[8].reason);
        assert!(errors[7].reason.contains("100000 characters"));
    }

    #[test]
    fn fields_are_exactly_the_ones_read_and_unknown_ones_are_named() {
        let g = serde_json::to_value(crate::packed::pack(&[0.5, -0.5, 0.5, 0.5])).unwrap();
        let full = serde_json::json!({
            "id": "a", "title": "t", "category": "c", "bid": 1.0,
            "features": {"popularity": 0.5}, "campaign": "k", "advertiser": "acme",
            "kAnonymous": true, "prior": 0.1, "pacing": 0.5, "fallback": false,
            "creatives": [{"id": "x", "text": "y", "embedding": g}],
            "related": [{"itemId": "b", "weight": 0.5}], "encoder": "h", "embedding": g,
            "extras": {"price": 9.99, "anything": [1, {"nested": null}]}
        });
        let mut keys: Vec<&str> = full
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut fields = FIELDS.to_vec();
        keys.sort_unstable();
        fields.sort_unstable();
        assert_eq!(keys, fields, "the record above sets every field once");
        let value: Value = serde_json::from_value(full).unwrap();
        // Every field in FIELDS is one `read` accepts...
        let mut c = Checker::new(0, &value);
        assert!(read(&mut c, &config(), &mut HashSet::new()).is_some());
        assert!(c.errors.is_empty(), "{:?}", c.errors);
        // ...and every field `read` asks for is in FIELDS.
        let mut asked = c.asked();
        asked.push(EXTRAS.to_owned());
        asked.sort_unstable();
        assert_eq!(asked, fields);

        let list = values(
            r#"[{"id": "a", "title": "t", "advertizer": "acme", "fallbak": true, "colour": 1,
                 "creatives": [{"id": "c", "txt": "y"}], "related": [{"item": "b", "weight": 1}],
                 "embedding": {"int8": "AAAA", "scale": 0.1, "dtype": "i8"}, "encoder": "h"}]"#,
        );
        let Err(Error::BadCandidate(errors)) = parse(&list, &config(), 10) else {
            panic!("expected BadCandidate");
        };
        let named: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.reason.as_str()))
            .collect();
        let reason = |field: &str| {
            named
                .iter()
                .find(|(f, _)| *f == field)
                .unwrap_or_else(|| panic!("no error for {field}: {named:?}"))
                .1
        };
        assert!(reason("advertizer").contains("did you mean `advertiser`?"));
        assert!(reason("fallbak").contains("did you mean `fallback`?"));
        assert!(
            reason("colour").contains("(they are "),
            "{}",
            reason("colour")
        );
        assert!(reason("creatives[0].txt").contains("did you mean `text`?"));
        assert!(reason("related[0].item").contains("did you mean `itemId`?"));
        assert!(reason("embedding.dtype").contains("not a packed embedding field"));
        // A name as long as the record is cut short in the message.
        let long = format!(
            r#"[{{"id": "a", "title": "t", "{}": 1}}]"#,
            "x".repeat(10_000)
        );
        let Err(Error::BadCandidate(errors)) = parse(&values(&long), &config(), 10) else {
            panic!("expected BadCandidate");
        };
        assert_eq!(errors[0].field.chars().count(), 64);
    }

    #[test]
    fn attached_embeddings_are_unpacked_and_every_bad_one_is_named() {
        let good = crate::packed::pack(&[0.5, -0.5, 0.5, 0.5]);
        let g = serde_json::to_value(&good).unwrap();
        let list: Vec<Value> = serde_json::from_value(serde_json::json!([
            {"id": "ok", "title": "t", "encoder": "h", "embedding": g,
             "creatives": [{"id": "c", "text": "x", "embedding": g}]},
            {"id": "len", "title": "t", "encoder": "h",
             "embedding": {"int8": "AAAA", "scale": 0.01}},
            {"id": "b64", "title": "t", "encoder": "h",
             "embedding": {"int8": "!!!!!!!!", "scale": 0.01}},
            {"id": "zero", "title": "t", "encoder": "h",
             "embedding": {"int8": "AAAAAA==", "scale": 0.01}},
            {"id": "scale", "title": "t", "encoder": "h",
             "embedding": {"int8": good.int8, "scale": 3.0}},
            {"id": "noenc", "title": "t", "embedding": g},
            {"id": "shape", "title": "t", "encoder": "h", "embedding": [0.1, 0.2]},
            {"id": "creative", "title": "t", "encoder": "h",
             "creatives": [{"id": "c", "text": "x", "embedding": {"int8": good.int8}}]}
        ]))
        .unwrap();
        let Err(Error::BadCandidate(errors)) = parse(&list, &config(), 100) else {
            panic!("expected BadCandidate");
        };
        let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.index, e.field.as_str())).collect();
        assert_eq!(
            got,
            [
                (1, "embedding.int8"),
                (2, "embedding.int8"),
                (3, "embedding.int8"),
                (4, "embedding.scale"),
                (5, "encoder"),
                (6, "embedding"),
                (7, "creatives[0].embedding.scale"),
            ],
            "{errors:?}"
        );
        assert!(
            errors[0].reason.contains("base64 characters"),
            "{}",
            errors[0].reason
        );
        assert!(
            errors[2].reason.contains("zero vector"),
            "{}",
            errors[2].reason
        );
        // NaN reaches the checker from JavaScript: it is a bad scale too.
        let mut nan = list[0].clone();
        if let Value::Map(m) = &mut nan {
            m.insert(
                "embedding".into(),
                Value::Map(
                    [
                        ("int8".to_owned(), Value::Text(good.int8.clone())),
                        ("scale".to_owned(), Value::Number(f64::NAN)),
                    ]
                    .into(),
                ),
            );
        }
        let Err(Error::BadCandidate(errors)) = parse(&[nan], &config(), 100) else {
            panic!("expected BadCandidate");
        };
        assert_eq!(errors[0].field, "embedding.scale");
        let ok = parse(&list[..1], &config(), 100).unwrap();
        let back = ok[0].embedding.as_ref().unwrap();
        assert!(
            back.iter()
                .zip([0.5, -0.5, 0.5, 0.5])
                .all(|(a, b)| (a - b).abs() < 0.5 / 127.0)
        );
        assert_eq!(ok[0].creatives[0].embedding.as_ref(), Some(back));
        assert_eq!(ok[0].encoder.as_deref(), Some("h"));
    }

    #[test]
    fn good_candidates_keep_their_fields_and_order_features() {
        let list = values(
            r#"[{"id": 42, "title": "Fargo (1996)", "category": "Crime",
                 "features": {"release_year": 0.95}}]"#,
        );
        let got = parse(&list, &config(), 10).unwrap();
        assert_eq!(got[0].id, "42");
        assert_eq!(got[0].text(), "Fargo (1996). Crime");
        assert_eq!(got[0].feature_row(&config()), [0.5, 0.95]);
    }

    #[test]
    fn creatives_are_checked_one_by_one() {
        let list = values(
            r#"[{"id": "a", "title": "t", "category": "Drama",
                 "creatives": [{"id": "x", "text": "Tears"}, {"id": "y", "text": "Joy"}]},
                {"id": "b", "title": "t",
                 "creatives": [{"id": "x"}, {"id": "x", "text": "again"}, 3]},
                {"id": "c", "title": "t", "creatives": {"id": "x"}},
                {"id": "d", "title": "t", "creatives": [{}, {}, {}, {}, {}, {}, {}, {}, {}]}]"#,
        );
        let Err(Error::BadCandidate(errors)) = parse(&list, &config(), 10) else {
            panic!("expected BadCandidate");
        };
        let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.index, e.field.as_str())).collect();
        assert_eq!(
            got,
            [
                (1, "creatives[0].text"),
                (1, "creatives[1].id"),
                (1, "creatives[2]"),
                (2, "creatives"),
                (3, "creatives"),
            ]
        );
        assert!(
            errors[4].reason.contains("limit is 8"),
            "{}",
            errors[4].reason
        );
        let good = parse(&list[..1], &config(), 10).unwrap();
        let texts: Vec<String> = good[0].creative_texts().collect();
        assert_eq!(texts, ["Tears. Drama", "Joy. Drama"]);
        assert_eq!(good[0].creatives[1].id, "y");
    }

    #[test]
    fn related_neighbours_are_checked_one_by_one() {
        let mut bad = values(
            r#"[{"id": "a", "title": "t", "related": [{"itemId": "1", "weight": 0.5}, {"itemId": 2, "weight": 1}]},
                {"id": "b", "title": "t",
                 "related": [{"itemId": "1"}, {"itemId": "1", "weight": 0.2}, {"itemId": "1", "weight": 0.3},
                             {"weight": 0.1}, {"itemId": "x", "weight": 1.5}, "3"]},
                {"id": "c", "title": "t", "related": {"itemId": "1", "weight": 0.1}}]"#,
        );
        bad.push(
            values(&format!(
                r#"[{{"id": "d", "title": "t", "related": [{}]}}]"#,
                vec![r#"{"itemId": "z", "weight": 0.1}"#; MAX_RELATED + 1].join(",")
            ))[0]
                .clone(),
        );
        let mut nan =
            values(r#"[{"id": "e", "title": "t", "related": [{"itemId": "1", "weight": 0}]}]"#);
        if let Value::Map(m) = &mut nan[0]
            && let Some(Value::List(list)) = m.get_mut("related")
            && let Value::Map(n) = &mut list[0]
        {
            n.insert("weight".into(), Value::Number(f64::NAN));
        }
        bad.push(nan.remove(0));
        let Err(Error::BadCandidate(errors)) = parse(&bad, &config(), 10) else {
            panic!("expected BadCandidate");
        };
        let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.index, e.field.as_str())).collect();
        assert_eq!(
            got,
            [
                (1, "related[0].weight"),
                (1, "related[1].itemId"),
                (1, "related[2].itemId"),
                (1, "related[3].itemId"),
                (1, "related[4].weight"),
                (1, "related[5]"),
                (2, "related"),
                (3, "related"),
                (4, "related[0].weight"),
            ]
        );
        assert!(
            errors[1].reason.contains("more than once"),
            "{}",
            errors[1].reason
        );
        assert!(
            errors[6].reason.contains("expected an array"),
            "{}",
            errors[6].reason
        );
        assert!(
            errors[7].reason.contains("limit is 100"),
            "{}",
            errors[7].reason
        );
        assert!(errors[8].reason.contains("finite"), "{}", errors[8].reason);
        let good = parse(&bad[..1], &config(), 10).unwrap();
        assert_eq!(
            good[0].related,
            [
                Neighbour {
                    item_id: "1".into(),
                    weight: 0.5
                },
                Neighbour {
                    item_id: "2".into(),
                    weight: 1.0
                },
            ]
        );
    }

    #[test]
    fn texts_must_be_strings_within_the_limits() {
        let ok = values(r#"["a", "b"]"#);
        assert_eq!(texts(&ok, 2).unwrap(), ["a", "b"]);
        assert!(matches!(
            texts(&ok, 1),
            Err(Error::TooMany { count: 2, .. })
        ));
        let mut bad = values(r#"["a", 3, null]"#);
        bad.push(Value::Text("x".repeat(MAX_TEXT_CHARS + 1)));
        let Err(Error::BadInput(msg)) = texts(&bad, 10) else {
            panic!("expected BadInput");
        };
        assert!(msg.starts_with("3 bad text(s), first at index 1"), "{msg}");
    }

    #[test]
    fn too_many_and_none_are_refused() {
        let list = values(r#"[{"id": "a", "title": "t"}, {"id": "b", "title": "t"}]"#);
        assert!(matches!(
            parse(&list, &config(), 1),
            Err(Error::TooMany {
                count: 2,
                max: 1,
                ..
            })
        ));
        assert!(matches!(parse(&[], &config(), 1), Err(Error::BadInput(_))));
    }
}
