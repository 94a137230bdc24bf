//! The Open Bandit Dataset sample shipped in `obp`'s sdist (ZOZOTOWN fashion ads):
//! logged impressions with the logging policy's propensity, plus item features.
//! `<dir>/<policy>/<campaign>/<campaign>.csv` and `item_context.csv`.

use std::collections::HashMap;
use std::path::Path;

use super::{Field, read_text};
use crate::weights::sha256_hex;
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct Impression {
    /// As logged, e.g. `2019-11-24 00:00:34.762830+00:00`; rows are in this order.
    pub timestamp: String,
    pub item: u32,
    /// Slot on the page (1 = left, 2 = centre, 3 = right).
    pub position: u8,
    pub click: bool,
    /// The logging policy's probability of this item in this slot.
    pub propensity: f32,
    /// Four hashed categorical user features.
    pub user_features: Vec<String>,
    /// `user-item_affinity_*`: the user's past affinity to each item, by item id.
    pub affinity: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ItemContext {
    pub item: u32,
    /// `item_feature_0`: a standardised price.
    pub price: f32,
    /// `item_feature_1..3`: hashed categories.
    pub categories: Vec<String>,
}

#[derive(Debug)]
pub struct OpenBandit {
    pub impressions: Vec<Impression>,
    pub items: Vec<ItemContext>,
    pub data_hash: String,
}

impl OpenBandit {
    /// `policy`: `random` or `bts`; `campaign`: `all`, `men` or `women`.
    pub fn load(dir: &Path, policy: &str, campaign: &str) -> Result<Self> {
        let folder = dir.join(policy).join(campaign);
        let log = read_text(&folder.join(format!("{campaign}.csv")))?;
        let items = read_text(&folder.join("item_context.csv"))?;
        Self::parse(&format!("{policy}/{campaign}/{campaign}.csv"), &log, &items)
    }

    pub fn parse(log_name: &str, log: &str, items: &str) -> Result<Self> {
        let items_name = log_name
            .rsplit_once('/')
            .map_or("item_context.csv".into(), |(d, _)| {
                format!("{d}/item_context.csv")
            });
        let mut contexts = Vec::new();
        for_each_row(&items_name, items, |row| {
            let n_cats = row
                .columns
                .iter()
                .filter(|c| c.starts_with("item_feature_"))
                .count();
            contexts.push(ItemContext {
                item: row.get("item_id")?.parse()?,
                price: finite(row.get("item_feature_0")?)?,
                categories: (1..n_cats)
                    .map(|k| Ok(row.get(&format!("item_feature_{k}"))?.value.to_owned()))
                    .collect::<Result<_>>()?,
            });
            Ok(())
        })?;
        let known: HashMap<u32, ()> = contexts.iter().map(|c| (c.item, ())).collect();

        let mut impressions = Vec::new();
        for_each_row(log_name, log, |row| {
            let item_field = row.get("item_id")?;
            let item: u32 = item_field.parse()?;
            if !known.contains_key(&item) {
                return Err(item_field.error("item not in item_context.csv"));
            }
            let click = row.get("click")?;
            let click = match click.value.trim() {
                "0" => false,
                "1" => true,
                _ => return Err(click.error("click must be 0 or 1")),
            };
            let propensity_field = row.get("propensity_score")?;
            let propensity = finite(propensity_field)?;
            if !(propensity > 0.0 && propensity <= 1.0) {
                return Err(propensity_field.error("propensity must be in (0, 1]"));
            }
            let user_features = row
                .columns
                .iter()
                .filter(|c| c.starts_with("user_feature_"))
                .map(|c| Ok(row.get(c)?.value.to_owned()))
                .collect::<Result<_>>()?;
            let affinity = row
                .columns
                .iter()
                .filter(|c| c.starts_with("user-item_affinity_"))
                .map(|c| finite(row.get(c)?))
                .collect::<Result<_>>()?;
            impressions.push(Impression {
                timestamp: row.get("timestamp")?.value.to_owned(),
                item,
                position: row.get("position")?.parse()?,
                click,
                propensity,
                user_features,
                affinity,
            });
            Ok(())
        })?;
        let data_hash = sha256_hex(
            [log, items]
                .map(|t| sha256_hex(t.as_bytes()))
                .concat()
                .as_bytes(),
        );
        Ok(Self {
            impressions,
            items: contexts,
            data_hash,
        })
    }

    /// Click-through rate of the log.
    pub fn ctr(&self) -> f64 {
        let clicks = self.impressions.iter().filter(|i| i.click).count();
        clicks as f64 / self.impressions.len().max(1) as f64
    }
}

fn finite(field: Field<'_>) -> Result<f32> {
    let v: f32 = field.parse()?;
    if v.is_finite() {
        Ok(v)
    } else {
        Err(field.error("not a finite number"))
    }
}

struct CsvRow<'a> {
    file: &'a str,
    line: usize,
    columns: &'a [String],
    record: &'a csv::StringRecord,
}

impl CsvRow<'_> {
    fn get<'s>(&'s self, column: &'s str) -> Result<Field<'s>> {
        let i = self
            .columns
            .iter()
            .position(|c| c == column)
            .ok_or_else(|| Error::BadData {
                file: self.file.into(),
                line: self.line,
                column: column.into(),
                reason: "missing from the header".into(),
            })?;
        Ok(Field {
            file: self.file,
            line: self.line,
            column,
            value: self.record.get(i).unwrap_or_default(),
        })
    }
}

fn for_each_row(
    file: &str,
    text: &str,
    mut f: impl FnMut(&CsvRow<'_>) -> Result<()>,
) -> Result<()> {
    let bad = |line: usize, reason: String| Error::BadData {
        file: file.into(),
        line,
        column: "*".into(),
        reason,
    };
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .from_reader(text.as_bytes());
    let columns: Vec<String> = reader
        .headers()
        .map_err(|e| bad(1, e.to_string()))?
        .iter()
        .map(str::to_owned)
        .collect();
    let mut record = csv::StringRecord::new();
    loop {
        let line = reader.position().line() as usize;
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(bad(line, e.to_string())),
        }
        f(&CsvRow {
            file,
            line: record.position().map_or(line, |p| p.line() as usize),
            columns: &columns,
            record: &record,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITEMS: &str = ",item_id,item_feature_0,item_feature_1,item_feature_2,item_feature_3\n0,0,-0.49,aed7,6750,5c1e\n1,1,-0.54,31af,6750,5c1e\n";

    #[test]
    fn parses_a_log() {
        let log = ",timestamp,item_id,position,click,propensity_score,user_feature_0,user_feature_1,user_feature_2,user_feature_3,user-item_affinity_0,user-item_affinity_1\n0,2019-11-24 00:00:34+00:00,1,3,1,0.0125,a,b,c,d,0.0,2.0\n";
        let obd = OpenBandit::parse("random/all/all.csv", log, ITEMS).unwrap();
        assert_eq!(obd.items.len(), 2);
        assert_eq!(obd.items[1].categories, ["31af", "6750", "5c1e"]);
        let imp = &obd.impressions[0];
        assert!(imp.click && imp.item == 1 && imp.position == 3);
        assert_eq!(imp.affinity, [0.0, 2.0]);
        assert_eq!(imp.user_features.len(), 4);
        assert_eq!(obd.ctr(), 1.0);
    }

    #[test]
    fn malformed_rows_name_file_line_and_column() {
        let head = ",timestamp,item_id,position,click,propensity_score\n";
        let log = format!("{head}0,t,1,3,0,0.5\n1,t,1,3,2,0.5\n");
        let err = OpenBandit::parse("random/all/all.csv", &log, ITEMS)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "random/all/all.csv:3: column `click`: click must be 0 or 1"
        );

        let log = format!("{head}0,t,7,3,0,0.5\n");
        let err = OpenBandit::parse("random/all/all.csv", &log, ITEMS)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(":2: column `item_id`: item not in item_context.csv"),
            "{err}"
        );

        let log = format!("{head}0,t,1,3,0,NaN\n");
        let err = OpenBandit::parse("random/all/all.csv", &log, ITEMS)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("column `propensity_score`: not a finite number"),
            "{err}"
        );
    }
}
