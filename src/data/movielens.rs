//! MovieLens-100k in RecBole's atomic-file layout (`ml-100k.inter`, `.item`, `.user`):
//! tab-separated, first line `name:type` headers. Ids are remapped to dense indices so
//! models can use them as rows.

use std::collections::HashMap;
#[cfg(not(target_arch = "wasm32"))]
use std::path::Path;

use super::Field;
#[cfg(not(target_arch = "wasm32"))]
use super::read_text;
use crate::history::{Event, EventKind};
use crate::weights::sha256_hex;
use crate::{Error, Result};

/// The candidate features the ranker is trained with, in input order
/// ([`Item::features`]).
pub const CANDIDATE_FEATURES: [&str; 2] = ["popularity", "release_year"];

#[derive(Debug, Clone)]
pub struct Item {
    /// MovieLens' own id (as in the files).
    pub id: String,
    pub title: String,
    pub year: Option<u16>,
    pub genres: Vec<String>,
}

impl Item {
    /// The text the encoder sees: what a storefront would show, title plus category.
    pub fn text(&self) -> String {
        crate::candidates::item_text(&self.display_title(), Some(&self.category()))
    }

    /// The title as a storefront shows it, with the year.
    pub fn display_title(&self) -> String {
        match self.year {
            Some(year) => format!("{} ({year})", self.title),
            None => self.title.clone(),
        }
    }

    /// The genres as one category string ("Action, Sci-Fi").
    pub fn category(&self) -> String {
        self.genres.join(", ")
    }

    /// The film's [`CANDIDATE_FEATURES`] from its rating count and the largest count
    /// of the catalog. Training counts the training part only, so nothing from the
    /// future leaks in; the demo's ad server computes its candidates' features here
    /// too, so they mean what they meant in training.
    pub fn features(&self, count: u32, max: f32) -> Vec<f32> {
        let popularity = (1.0 + count as f32).ln() / (1.0 + max).ln().max(1e-6);
        // 1920..2000 → 0..1; unknown years sit in the middle.
        let year = self
            .year
            .map_or(0.5, |y| ((f32::from(y) - 1920.0) / 80.0).clamp(0.0, 1.0));
        vec![popularity, year]
    }

    /// The id a storefront built on this catalog uses for the film, in its events
    /// and candidates alike (the demo's): `ml-<MovieLens id>`.
    pub fn catalog_id(&self) -> String {
        format!("ml-{}", self.id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    /// Dense user index.
    pub user: u32,
    /// Dense item index into [`MovieLens::items`].
    pub item: u32,
    pub rating: f32,
    /// Unix seconds.
    pub ts: i64,
}

impl Rating {
    /// The seeds' convention: 4 or 5 stars is a "click".
    pub fn is_positive(&self) -> bool {
        self.rating >= 4.0
    }

    /// The device event kind this rating stands for ([`EventKind::from_stars`]).
    pub fn kind(&self) -> EventKind {
        EventKind::from_stars(self.rating)
    }

    /// The rating's time in ms since the epoch, the unit of device events.
    pub fn ts_ms(&self) -> f64 {
        self.ts as f64 * 1000.0
    }
}

#[derive(Debug)]
pub struct MovieLens {
    pub items: Vec<Item>,
    /// MovieLens' user ids, by dense index.
    pub users: Vec<String>,
    pub ratings: Vec<Rating>,
    /// SHA-256 over the three files' hashes: names the exact data a model saw.
    pub data_hash: String,
}

const INTER: &str = "ml-100k.inter";
const ITEM: &str = "ml-100k.item";
const USER: &str = "ml-100k.user";

impl MovieLens {
    /// The rating as the event a device would have recorded for it: the film's
    /// catalog id, title and genres, the kind its stars stand for, its time.
    pub fn event(&self, rating: &Rating) -> Event {
        let item = &self.items[rating.item as usize];
        Event {
            kind: rating.kind(),
            item_id: item.catalog_id(),
            title: item.display_title(),
            category: Some(item.category()),
            campaign: None,
            ts: rating.ts_ms(),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn load(dir: &Path) -> Result<Self> {
        let texts = [INTER, ITEM, USER].map(|f| read_text(&dir.join(f)));
        let [inter, item, user] = texts;
        let (inter, item, user) = (inter?, item?, user?);
        Self::parse(&inter, &item, &user)
    }

    /// Parse the three files' contents (tests feed small hand-written ones).
    pub fn parse(inter: &str, item: &str, user: &str) -> Result<Self> {
        let mut user_index = HashMap::new();
        let mut users = Vec::new();
        for row in Atomic::new(USER, user, &["user_id"])?.rows() {
            let row = row?;
            let id = row.get("user_id")?.value.to_owned();
            if user_index.insert(id.clone(), users.len() as u32).is_some() {
                return Err(row.get("user_id")?.error("duplicate user id"));
            }
            users.push(id);
        }

        let mut item_index = HashMap::new();
        let mut items = Vec::new();
        for row in Atomic::new(
            ITEM,
            item,
            &["item_id", "movie_title", "release_year", "class"],
        )?
        .rows()
        {
            let row = row?;
            let id = row.get("item_id")?.value.to_owned();
            // RecBole's file has a few non-years here ("unkonwn", "V"): an unknown
            // year, not a broken row.
            let year = row.get("release_year")?.value.trim().parse::<u16>().ok();
            let title = row.get("movie_title")?.value.trim().to_owned();
            let genres = row
                .get("class")?
                .value
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if item_index.insert(id.clone(), items.len() as u32).is_some() {
                return Err(row.get("item_id")?.error("duplicate item id"));
            }
            items.push(Item {
                id,
                title,
                year,
                genres,
            });
        }

        let mut ratings = Vec::new();
        for row in Atomic::new(INTER, inter, &["user_id", "item_id", "rating", "timestamp"])?.rows()
        {
            let row = row?;
            let u = row.get("user_id")?;
            let user = *user_index
                .get(u.value)
                .ok_or_else(|| u.error("user not in ml-100k.user"))?;
            let i = row.get("item_id")?;
            let item = *item_index
                .get(i.value)
                .ok_or_else(|| i.error("item not in ml-100k.item"))?;
            let r = row.get("rating")?;
            let rating: f32 = r.parse()?;
            if !(0.0..=5.0).contains(&rating) {
                return Err(r.error("rating outside 0..=5"));
            }
            // RecBole writes timestamps as floats ("881250949" or "881250949.0").
            let t = row.get("timestamp")?;
            let ts: f64 = t.parse()?;
            if !ts.is_finite() {
                return Err(t.error("timestamp is not a finite number"));
            }
            ratings.push(Rating {
                user,
                item,
                rating,
                ts: ts as i64,
            });
        }
        if ratings.is_empty() {
            return Err(Error::BadData {
                file: INTER.into(),
                line: 1,
                column: "*".into(),
                reason: "no ratings".into(),
            });
        }
        let data_hash = sha256_hex(
            [inter, item, user]
                .map(|t| sha256_hex(t.as_bytes()))
                .concat()
                .as_bytes(),
        );
        Ok(Self {
            items,
            users,
            ratings,
            data_hash,
        })
    }
}

/// A RecBole atomic file: a header of `name:type` fields, then tab-separated rows.
struct Atomic<'a> {
    file: &'static str,
    columns: Vec<&'a str>,
    body: std::iter::Enumerate<std::str::Lines<'a>>,
}

impl<'a> Atomic<'a> {
    fn new(file: &'static str, text: &'a str, required: &[&str]) -> Result<Self> {
        let mut lines = text.lines().enumerate();
        let header = lines.next().map(|(_, l)| l).unwrap_or_default();
        let columns: Vec<&str> = header
            .split('\t')
            .map(|c| c.split(':').next().unwrap_or(c))
            .collect();
        for name in required {
            if !columns.contains(name) {
                return Err(Error::BadData {
                    file: file.into(),
                    line: 1,
                    column: (*name).into(),
                    reason: format!("missing from the header {header:?}"),
                });
            }
        }
        Ok(Self {
            file,
            columns,
            body: lines,
        })
    }

    fn rows(self) -> impl Iterator<Item = Result<Row<'a>>> {
        let Self {
            file,
            columns,
            body,
        } = self;
        body.filter(|(_, l)| !l.trim().is_empty())
            .map(move |(n, line)| {
                let values: Vec<&str> = line.split('\t').collect();
                if values.len() != columns.len() {
                    return Err(Error::BadData {
                        file: file.into(),
                        line: n + 1,
                        column: "*".into(),
                        reason: format!(
                            "expected {} tab-separated fields, found {}",
                            columns.len(),
                            values.len()
                        ),
                    });
                }
                Ok(Row {
                    file,
                    line: n + 1,
                    columns: columns.clone(),
                    values,
                })
            })
    }
}

struct Row<'a> {
    file: &'static str,
    line: usize,
    columns: Vec<&'a str>,
    values: Vec<&'a str>,
}

impl<'a> Row<'a> {
    fn get(&self, column: &'a str) -> Result<Field<'a>> {
        let i = self
            .columns
            .iter()
            .position(|c| *c == column)
            .ok_or_else(|| Error::BadData {
                file: self.file.into(),
                line: self.line,
                column: column.into(),
                reason: "no such column".into(),
            })?;
        Ok(Field {
            file: self.file,
            line: self.line,
            column,
            value: self.values[i],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITEMS: &str = "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n1\tToy Story\t1995\tAnimation Children's Comedy\n2\tUnknown\t\t\n";
    const USERS: &str = "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n7\t24\tM\ttechnician\t85711\n";

    #[test]
    fn parses_and_builds_item_text() {
        let inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n7\t1\t5\t881250949\n7\t2\t3\t881250950.0\n";
        let ml = MovieLens::parse(inter, ITEMS, USERS).unwrap();
        assert_eq!(
            ml.items[0].text(),
            "Toy Story (1995). Animation, Children's, Comedy"
        );
        assert_eq!(ml.items[1].text(), "Unknown");
        assert_eq!(ml.ratings.len(), 2);
        assert!(ml.ratings[0].is_positive() && !ml.ratings[1].is_positive());
        assert_eq!(ml.ratings[1].ts, 881250950);
    }

    #[test]
    fn malformed_rows_name_file_line_and_column() {
        let inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n7\t1\t5\t881250949\n7\t1\tfive\t881250950\n";
        let err = MovieLens::parse(inter, ITEMS, USERS)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("ml-100k.inter:3: column `rating`"), "{err}");

        let inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n7\t99\t5\t1\n";
        let err = MovieLens::parse(inter, ITEMS, USERS)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ml-100k.inter:2: column `item_id`: item not in"),
            "{err}"
        );

        let inter = "user_id:token\titem_id:token\trating:float\n7\t1\t5\n";
        let err = MovieLens::parse(inter, ITEMS, USERS)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column `timestamp`: missing from the header"),
            "{err}"
        );

        let inter = "user_id:token\titem_id:token\trating:float\ttimestamp:float\n7\t1\t5\n";
        let err = MovieLens::parse(inter, ITEMS, USERS)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("expected 4 tab-separated fields, found 3"),
            "{err}"
        );
    }
}
