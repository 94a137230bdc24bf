//! `privrank related`: item-to-item neighbour lists from an interaction log, the
//! `related` field an ad server attaches to each candidate.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;

use clap::Args;
use privrank::data::{MovieLens, default_data_dir};
use privrank::related::{Cooccurrence, DEFAULT_MIN_USERS, DEFAULT_TOP, MAX_RELATED};
use serde_json::json;

use crate::rank::read_input;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Args)]
pub struct RelatedArgs {
    /// The log: JSON lines `{"user": ..., "itemId": ...}` (`-` reads stdin). Not
    /// needed with --movielens.
    pub log: Option<PathBuf>,
    /// Read MovieLens-100k's ratings instead (this folder, or the set-up download
    /// when given without one); items are named by their catalog ids (`ml-<id>`).
    #[arg(long, num_args = 0..=1, default_missing_value = "")]
    pub movielens: Option<PathBuf>,
    /// Neighbours kept per item (at most 100, the candidates' limit).
    #[arg(long, default_value_t = DEFAULT_TOP)]
    pub top: usize,
    /// Fewest users a pair must come from: rarer pairs would describe individuals.
    #[arg(long, default_value_t = DEFAULT_MIN_USERS)]
    pub min_users: u32,
}

/// Users' item sets and the item names, from either source.
fn read_log(args: &RelatedArgs) -> Result<(Vec<String>, Vec<Vec<u32>>)> {
    if let Some(dir) = &args.movielens {
        let dir = if dir.as_os_str().is_empty() {
            default_data_dir("ml-100k")
        } else {
            dir.clone()
        };
        let ml = MovieLens::load(&dir)?;
        let mut users = vec![Vec::new(); ml.users.len()];
        for r in &ml.ratings {
            users[r.user as usize].push(r.item);
        }
        return Ok((ml.items.iter().map(|i| i.catalog_id()).collect(), users));
    }
    let path = args
        .log
        .as_ref()
        .ok_or("give the interaction log (JSON lines, or `-`), or --movielens")?;
    let bytes = read_input(path)?;
    let mut items: HashMap<String, u32> = HashMap::new();
    let mut names = Vec::new();
    let mut users: HashMap<String, Vec<u32>> = HashMap::new();
    for (n, line) in bytes.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |reason: String| format!("{}:{}: {reason}", path.display(), n + 1);
        let value: serde_json::Value =
            serde_json::from_str(&line).map_err(|e| bad(e.to_string()))?;
        let field = |name: &str| match &value[name] {
            serde_json::Value::String(s) if !s.is_empty() && s.len() <= 256 => Ok(s.clone()),
            serde_json::Value::Number(x) => Ok(x.to_string()),
            _ => Err(bad(format!(
                "`{name}` must be a non-empty string of at most 256 bytes"
            ))),
        };
        let (user, item) = (field("user")?, field("itemId")?);
        let next = names.len() as u32;
        let index = *items.entry(item.clone()).or_insert(next);
        if index == next {
            names.push(item);
        }
        users.entry(user).or_default().push(index);
    }
    Ok((names, users.into_values().collect()))
}

pub fn related(args: &RelatedArgs) -> Result<()> {
    if args.top == 0 || args.top > MAX_RELATED {
        return Err(format!("--top must be within 1..={MAX_RELATED}").into());
    }
    let (names, users) = read_log(args)?;
    let n_users = users.len();
    let co = Cooccurrence::count(names.len(), users);
    let mut lists = 0usize;
    for item in 0..co.items() as u32 {
        // Four decimals: the wire carries the weight as JSON, and a float32's
        // shortest decimal in float64 would be noise ("0.4081999957561493").
        let related: Vec<serde_json::Value> = co
            .neighbours(item, args.top, args.min_users)
            .into_iter()
            .map(|(j, w)| {
                json!({
                    "itemId": names[j as usize],
                    "weight": (f64::from(w) * 1e4).round() / 1e4,
                })
            })
            .collect();
        if related.is_empty() {
            continue;
        }
        lists += 1;
        println!(
            "{}",
            json!({ "itemId": names[item as usize], "related": related })
        );
    }
    eprintln!(
        "privrank: {lists} of {} items have neighbours ({n_users} users; top {}, pairs from ≥ {} users)",
        names.len(),
        args.top,
        args.min_users
    );
    Ok(())
}
