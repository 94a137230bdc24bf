//! Catalogs embedded away from the device — by `privrank embed-catalog` on a server or
//! by the npm package's `Embedder` in an edge worker — and the line format both write,
//! so either side's output can stand in for the other's.

use std::collections::HashSet;

use serde::{Deserialize, Serialize};

use crate::candidates::{MAX_ID_CHARS, MAX_TITLE_CHARS, item_text};
use crate::error::FieldError;
use crate::input::{Checker, Value};
use crate::packed::{self, Packed};
use crate::{Error, Result, SentenceEncoder};

/// An entry to embed: a candidate's id and the text the ranker sees for it. Bids and
/// features are the ranker's business (see [`Purpose`] for the other fields).
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogItem {
    pub id: String,
    pub title: String,
    pub category: Option<String>,
    /// What the device embeds: the title with its category as context.
    pub text: String,
    /// Its creatives' texts as the device embeds them (`Candidate::creative_texts`),
    /// in order.
    pub creatives: Vec<String>,
}

impl CatalogItem {
    /// Every text the device would embed for this item: the title's, then each
    /// creative's.
    pub fn texts(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.text.as_str()).chain(self.creatives.iter().map(String::as_str))
    }
}

/// One output line. The encoder's weight hash travels with every vector so a
/// consumer can refuse vectors from another model instead of ranking with them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ItemEmbedding {
    pub id: String,
    pub encoder: String,
    pub embedding: Vec<f32>,
}

/// What a catalog is read for, which decides what becomes of the fields the reader
/// does not need.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Purpose {
    /// Embedding lines (`/embed`, `embedCatalog`, `embed-catalog`): only the id, the
    /// title, the category and the creatives matter; a catalog's other fields
    /// (price, link) are ignored.
    #[default]
    Lines,
    /// Candidates passed on to `rank()` with their embeddings attached
    /// (`/candidates`, `embed-catalog --format candidates`): a field `rank()` would
    /// refuse is refused here, where the catalog's owner can fix it.
    Candidates,
}

/// Checks catalog entries as they stream in: every field of a record at once, and
/// ids unique across the whole catalog, not only within one batch.
#[derive(Default)]
pub struct CatalogReader {
    seen: HashSet<String>,
    purpose: Purpose,
}

impl CatalogReader {
    pub fn new(purpose: Purpose) -> Self {
        Self {
            seen: HashSet::new(),
            purpose,
        }
    }

    /// Check the record at `index` (a list position, or a line number).
    pub fn item(
        &mut self,
        index: usize,
        value: &Value,
    ) -> std::result::Result<CatalogItem, Vec<FieldError>> {
        let mut c = Checker::new(index, value);
        let id = c.text("id", true, MAX_ID_CHARS);
        let title = c.text("title", true, MAX_TITLE_CHARS);
        let category = c.text("category", false, MAX_ID_CHARS);
        // The device's own creative rules, so the edge never returns a candidate
        // `rank()` would refuse.
        let creatives: Vec<String> = crate::candidates::parse_creatives(&mut c, None)
            .iter()
            .map(|cr| item_text(&cr.text, category.as_deref()))
            .collect();
        if self.purpose == Purpose::Candidates {
            c.refuse_unknown("candidate", &crate::candidates::FIELDS);
        }
        if let Some(id) = &id
            && self.seen.contains(id)
        {
            c.fail("id", format!("`{id}` appears more than once"));
        }
        match (id, title, c.errors.is_empty()) {
            (Some(id), Some(title), true) => {
                self.seen.insert(id.clone());
                Ok(CatalogItem {
                    text: item_text(&title, category.as_deref()),
                    id,
                    title,
                    category,
                    creatives,
                })
            }
            _ => Err(c.errors),
        }
    }
}

/// Check a whole list (an edge request), reporting every bad field at once.
pub fn parse(values: &[Value], max: usize, purpose: Purpose) -> Result<Vec<CatalogItem>> {
    if values.len() > max {
        return Err(Error::TooMany {
            what: "catalog items",
            count: values.len(),
            max,
        });
    }
    if values.is_empty() {
        return Err(Error::BadInput("the catalog is empty".into()));
    }
    let mut reader = CatalogReader::new(purpose);
    let mut errors = Vec::new();
    let mut items = Vec::with_capacity(values.len());
    for (index, value) in values.iter().enumerate() {
        match reader.item(index, value) {
            Ok(item) => items.push(item),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(items)
    } else {
        Err(Error::BadCandidate(errors))
    }
}

/// Pair items with their vectors, in input order.
pub fn lines(
    encoder: &SentenceEncoder,
    items: &[CatalogItem],
    embeddings: Vec<Vec<f32>>,
) -> Vec<ItemEmbedding> {
    items
        .iter()
        .zip(embeddings)
        .map(|(item, embedding)| ItemEmbedding {
            id: item.id.clone(),
            encoder: encoder.model_hash().to_owned(),
            embedding,
        })
        .collect()
}

/// The record as `rank()` takes it, ready-embedded: every field it came with, plus
/// `encoder` and the packed `embedding` of its title (`packed[0]`) and of each
/// creative (`packed[1..]`, in order; see [`CatalogItem::texts`]).
pub fn ready(record: &Value, encoder: &str, packed: &[Packed]) -> Result<serde_json::Value> {
    let mut json = record
        .to_json()
        .map_err(|e| Error::BadInput(format!("the record cannot be sent on: {e}")))?;
    let vector = |p: &Packed| serde_json::to_value(p).expect("a packed vector is JSON");
    let Some(map) = json.as_object_mut() else {
        return Err(Error::BadInput("a catalog item must be an object".into()));
    };
    let Some((title, creatives)) = packed.split_first() else {
        return Err(Error::BadInput("no embedding for the item's title".into()));
    };
    map.insert("encoder".into(), encoder.into());
    map.insert("embedding".into(), vector(title));
    if let Some(list) = map.get_mut("creatives").and_then(|c| c.as_array_mut()) {
        if list.len() != creatives.len() {
            return Err(Error::BadInput(format!(
                "{} creatives but {} creative embeddings",
                list.len(),
                creatives.len()
            )));
        }
        for (creative, p) in list.iter_mut().zip(creatives) {
            if let Some(c) = creative.as_object_mut() {
                c.insert("embedding".into(), vector(p));
            }
        }
    }
    Ok(json)
}

/// Pack each of an item's vectors ([`CatalogItem::texts`] order) and attach them.
pub fn ready_embedded(
    record: &Value,
    encoder: &str,
    vectors: &[Vec<f32>],
) -> Result<serde_json::Value> {
    let packed: Vec<Packed> = vectors.iter().map(|v| packed::pack(v)).collect();
    ready(record, encoder, &packed)
}

/// The distinct texts a checked list needs embedded, in first-seen order: what an
/// edge looks up in its cache before it embeds the rest.
pub fn distinct_texts(items: &[CatalogItem]) -> Vec<String> {
    let mut seen = HashSet::new();
    items
        .iter()
        .flat_map(CatalogItem::texts)
        .filter(|t| seen.insert(*t))
        .map(str::to_owned)
        .collect()
}

/// Embed texts and pack each vector for the wire.
pub async fn embed_packed(encoder: &SentenceEncoder, texts: &[String]) -> Result<Vec<Packed>> {
    if texts.is_empty() {
        return Ok(Vec::new());
    }
    let vectors = encoder.embed_async(texts).await?;
    Ok(vectors.iter().map(|v| packed::pack(v)).collect())
}

/// Each record of a checked list, ready-embedded ([`ready`]) from packed vectors
/// looked up by text; a text with none is an error naming it.
pub fn attach(
    values: &[Value],
    items: &[CatalogItem],
    encoder: &str,
    lookup: impl Fn(&str) -> Option<Packed>,
) -> Result<Vec<serde_json::Value>> {
    values
        .iter()
        .zip(items)
        .map(|(record, item)| {
            let packed = item
                .texts()
                .map(|t| {
                    lookup(t).ok_or_else(|| Error::BadInput(format!("no embedding for `{t}`")))
                })
                .collect::<Result<Vec<_>>>()?;
            ready(record, encoder, &packed)
        })
        .collect()
}

/// Check and embed a whole list: one edge request. Asynchronous because that is the
/// only way a browser may read a GPU result; on the CPU it completes at once.
pub async fn embed(
    encoder: &SentenceEncoder,
    values: &[Value],
    max: usize,
) -> Result<Vec<ItemEmbedding>> {
    let items = parse(values, max, Purpose::Lines)?;
    let texts: Vec<&str> = items.iter().map(|i| i.text.as_str()).collect();
    let embeddings = encoder.embed_async(&texts).await?;
    Ok(lines(encoder, &items, embeddings))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(json: &str) -> Vec<Value> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn items_carry_the_rankers_text_and_every_bad_field_is_named() {
        let items = parse(
            &values(
                r#"[{"id": 7, "title": "Heat (1995)", "category": "Action", "bid": 2},
                    {"id": "b", "title": "Fargo (1996)", "features": {"anything": 1}}]"#,
            ),
            10,
            Purpose::Lines,
        )
        .unwrap();
        assert_eq!(items[0].id, "7");
        assert_eq!(items[0].text, "Heat (1995). Action");
        assert_eq!(items[1].text, "Fargo (1996)");

        let err = parse(
            &values(r#"[{"id": "a"}, {"id": "a", "title": "x"}, 3, {"id": "c", "title": ""}]"#),
            10,
            Purpose::Lines,
        )
        .unwrap_err();
        let Error::BadCandidate(fields) = err else {
            panic!("{err}")
        };
        let named: Vec<(usize, &str)> =
            fields.iter().map(|f| (f.index, f.field.as_str())).collect();
        assert_eq!(named, [(0, "title"), (2, ""), (3, "title")]);
    }

    #[test]
    fn candidates_passed_on_refuse_the_fields_rank_would_refuse_and_lines_ignore_them() {
        let list = values(
            r#"[{"id": "a", "title": "x", "advertizer": "acme", "price": 3},
                {"id": "b", "title": "y", "advertiser": "acme", "bid": 1, "extras": {"price": 3},
                 "creatives": [{"id": "c", "text": "z"}]}]"#,
        );
        assert_eq!(parse(&list, 10, Purpose::Lines).unwrap().len(), 2);
        let Err(Error::BadCandidate(fields)) = parse(&list, 10, Purpose::Candidates) else {
            panic!("expected BadCandidate");
        };
        let named: Vec<(usize, &str)> =
            fields.iter().map(|f| (f.index, f.field.as_str())).collect();
        assert_eq!(named, [(0, "advertizer"), (0, "price")]);
        assert!(
            fields[0].reason.contains("did you mean `advertiser`?"),
            "{}",
            fields[0].reason
        );
        assert!(fields[1].reason.contains("extras"), "{}", fields[1].reason);
    }

    #[test]
    fn ids_are_unique_across_the_stream_and_limits_hold() {
        let mut reader = CatalogReader::default();
        let one = values(r#"[{"id": "a", "title": "x"}]"#);
        assert!(reader.item(1, &one[0]).is_ok());
        let again = reader.item(9, &one[0]).unwrap_err();
        assert_eq!((again[0].index, again[0].field.as_str()), (9, "id"));

        let three = values(
            r#"[{"id": "a", "title": "x"}, {"id": "b", "title": "y"}, {"id": "c", "title": "z"}]"#,
        );
        assert!(matches!(
            parse(&three, 2, Purpose::Lines),
            Err(Error::TooMany {
                count: 3,
                max: 2,
                ..
            })
        ));
        assert!(matches!(
            parse(&[], 2, Purpose::Lines),
            Err(Error::BadInput(_))
        ));
    }
}
