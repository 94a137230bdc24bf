//! `privrank demo-data`: the demo storefront's catalog and its ad server's candidate
//! list, generated from the set-up download. MovieLens may not be redistributed, so
//! these files are built on each machine rather than committed.

use std::collections::BTreeSet;
use std::path::PathBuf;

use clap::Args;
use privrank::data::{MovieLens, default_data_dir};
use privrank::ranker::train::{CANDIDATE_FEATURES, item_features};
use serde_json::json;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Shown on the page and written into both files.
const SOURCE: &str = "MovieLens 100K (F. Maxwell Harper and Joseph A. Konstan, GroupLens \
Research, University of Minnesota), for research use only; generated on this machine from \
the set-up download by `privrank demo-data`, not redistributed.";

#[derive(Args)]
pub struct DemoArgs {
    /// MovieLens-100k folder (default: the set-up script's cache).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where `catalog.json` and `candidates.json` go.
    #[arg(long, default_value = "www/data")]
    pub out: PathBuf,
    /// Promotions per genre: the most-rated movies of each genre not already chosen.
    #[arg(long, default_value_t = 2)]
    pub per_genre: usize,
}

pub fn demo_data(args: &DemoArgs) -> Result<()> {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| default_data_dir("ml-100k"));
    let ml = MovieLens::load(&dir)?;
    // The ad server knows every rating, so popularity counts all of them.
    let mut counts = vec![0u32; ml.items.len()];
    for r in &ml.ratings {
        counts[r.item as usize] += 1;
    }
    let max = counts.iter().copied().max().unwrap_or(0) as f32;
    let mut order: Vec<usize> = (0..ml.items.len()).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(counts[i]), i));

    let id = |i: usize| format!("ml-{}", ml.items[i].id);
    let title = |i: usize| {
        let item = &ml.items[i];
        match item.year {
            Some(y) => format!("{} ({y})", item.title),
            None => item.title.clone(),
        }
    };
    let category = |i: usize| ml.items[i].genres.join(", ");

    let items: Vec<_> = order
        .iter()
        .map(|&i| {
            json!({
                "id": id(i), "title": title(i), "category": category(i),
                "genres": ml.items[i].genres, "year": ml.items[i].year, "ratings": counts[i],
            })
        })
        .collect();

    let genres: BTreeSet<&str> = ml
        .items
        .iter()
        .flat_map(|item| item.genres.iter().map(String::as_str))
        .filter(|g| *g != "unknown")
        .collect();
    let mut chosen: Vec<usize> = Vec::new();
    for genre in &genres {
        let picks = order
            .iter()
            .copied()
            .filter(|&i| ml.items[i].genres.iter().any(|g| g == genre) && !chosen.contains(&i))
            .take(args.per_genre)
            .collect::<Vec<_>>();
        chosen.extend(picks);
    }
    let candidates: Vec<_> = chosen
        .iter()
        .map(|&i| {
            let values = item_features(&ml.items[i], counts[i], max);
            let features: serde_json::Map<String, serde_json::Value> = CANDIDATE_FEATURES
                .iter()
                .zip(values)
                .map(|(name, v)| (name.to_string(), json!((f64::from(v) * 1e4).round() / 1e4)))
                .collect();
            // A synthetic bid per click in [0.5, 1.5), fixed by the item id: MovieLens
            // has no prices, and the demo ranks by click probability anyway.
            let bid = 0.5 + ((i as u64 * 37) % 100) as f64 / 100.0;
            json!({
                "id": id(i), "title": title(i), "category": category(i),
                "bid": bid, "features": features,
            })
        })
        .collect();

    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    let write = |name: &str, value: serde_json::Value| -> Result<PathBuf> {
        let path = args.out.join(name);
        std::fs::write(&path, serde_json::to_string_pretty(&value)? + "\n")
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        Ok(path)
    };
    let catalog = write("catalog.json", json!({ "source": SOURCE, "items": items }))?;
    let promos = write(
        "candidates.json",
        json!({ "source": SOURCE, "candidates": candidates }),
    )?;
    eprintln!(
        "privrank: wrote {} ({} movies) and {} ({} promotions, {} genres)",
        catalog.display(),
        items.len(),
        promos.display(),
        candidates.len(),
        genres.len()
    );
    Ok(())
}
