//! `privrank demo-data`: the demo storefront's catalog and its ad server's candidate
//! list, generated from the set-up download (`privrank::data::demo`, which the npm
//! package's `demoData` runs for `scripts/demo`). MovieLens may not be redistributed,
//! so these files are built on each machine rather than committed.

use std::path::PathBuf;

use clap::Args;
use privrank::catalog;
use privrank::data::demo::{AdServer, PER_GENRE};
use privrank::data::{MovieLens, default_data_dir};
use privrank::generate::creatives::{self, CreativeOptions, Item};
use privrank::generate::{Generator, GeneratorManifest};
use serde_json::{Value, json};

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
    /// Write the promotions' headline variants anew with the language model
    /// (`privrank creatives`' defaults) into this file, the committed cache the demo
    /// data is made from (data/demo-creatives.json), before writing the demo files.
    #[arg(long)]
    pub generate_creatives: Option<PathBuf>,
    /// The generator's manifest, for --generate-creatives.
    #[arg(long, default_value = "models/smollm2-135m-instruct.json")]
    pub generator: PathBuf,
}

pub fn demo_data(args: &DemoArgs) -> Result<()> {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| default_data_dir("ml-100k"));
    let ml = MovieLens::load(&dir)?;
    let mut server = AdServer::new(&ml);
    if let Some(cache) = &args.generate_creatives {
        server.creatives = generate(&server, args, cache)?;
    }
    let data = server.data(args.per_genre);
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

/// The promotions' creatives, written by the generator with `privrank creatives`'
/// defaults and saved to `cache` with what made them.
fn generate(
    server: &AdServer<'_>,
    args: &DemoArgs,
    cache: &std::path::Path,
) -> Result<std::collections::BTreeMap<String, Value>> {
    // Read back as any catalog is, so the items are what `privrank creatives` sees.
    let promotions: Vec<privrank::input::Value> =
        serde_json::from_value(Value::Array(server.promotions(args.per_genre)))?;
    let promotions = catalog::parse(&promotions, promotions.len(), catalog::Purpose::Candidates)?;
    let manifest = GeneratorManifest::read(&args.generator)?;
    let dir = privrank::config::default_model_dir(&args.generator);
    let generator = Generator::load(&manifest, &dir, &privrank::Backend::cpu().device)?;
    let options = CreativeOptions::default();
    let started = std::time::Instant::now();
    let mut out = std::collections::BTreeMap::new();
    let items: Vec<Item<'_>> = promotions.iter().map(Item::from).collect();
    let total = creatives::write_each(&generator, &items, &options, |index, variants, _| {
        out.insert(items[index].id.to_owned(), json!(variants));
        eprintln!(
            "privrank demo-data: creatives for {} of {} promotions ({:.0} s)",
            index + 1,
            items.len(),
            started.elapsed().as_secs_f64()
        );
        Ok::<_, privrank::Error>(())
    })?;
    let file = json!({
        "about": "Headline variants of the demo's promotions, one per angle, written on the ad server's side by SmolLM2-135M-Instruct from each title and category alone (no shopper data); the device shows the one closest to its shopper's history. Regenerate with the command below (on 2 CPU cores it takes minutes); unedited model output, filtered as `privrank creatives` filters.",
        "command": format!("privrank demo-data --per-genre {} --generate-creatives {}", args.per_genre, cache.display()),
        "generator": { "manifest": args.generator.display().to_string(), "sha256": manifest.files.weights.sha256 },
        "options": options,
        "tally": total,
        "seconds": (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        "creatives": out,
    });
    crate::card::replace_file(
        cache,
        (serde_json::to_string_pretty(&file)? + "\n").as_bytes(),
    )
    .map_err(|e| format!("cannot write {}: {e}", cache.display()))?;
    eprintln!(
        "privrank demo-data: wrote {} ({} of {} headlines kept, {:.0} s)",
        cache.display(),
        total.kept,
        total.generated,
        started.elapsed().as_secs_f64()
    );
    Ok(out)
}
