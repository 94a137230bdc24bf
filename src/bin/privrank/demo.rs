//! `privrank demo-data`: the demo storefront's catalog and its ad server's candidate
//! list, generated from the set-up download (`privrank::data::demo`, which the npm
//! package's `demoData` runs for `scripts/demo`). MovieLens may not be redistributed,
//! so these files are built on each machine rather than committed.

use std::path::PathBuf;

use clap::Args;
use privrank::data::demo::{AdServer, PER_GENRE};
use privrank::data::{MovieLens, default_data_dir};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Args)]
pub struct DemoArgs {
    /// MovieLens-100k folder (default: the set-up script's cache).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where `catalog.json` and `candidates.json` go.
    #[arg(long, default_value = "www/data")]
    pub out: PathBuf,
    /// Promotions per genre: the most-rated movies of each genre not already chosen.
    #[arg(long, default_value_t = PER_GENRE)]
    pub per_genre: usize,
}

pub fn demo_data(args: &DemoArgs) -> Result<()> {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| default_data_dir("ml-100k"));
    let ml = MovieLens::load(&dir)?;
    let data = AdServer::new(&ml).data(args.per_genre);
    std::fs::create_dir_all(&args.out)
        .map_err(|e| format!("cannot create {}: {e}", args.out.display()))?;
    for (name, text) in &data.files {
        let path = args.out.join(name);
        crate::card::replace_file(&path, text.as_bytes())
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    eprintln!(
        "privrank: wrote {} in {} ({} movies, {} promotions in {} genres, with `related` lists)",
        data.files.keys().copied().collect::<Vec<_>>().join(" and "),
        args.out.display(),
        data.movies,
        data.promotions,
        data.genres
    );
    Ok(())
}
