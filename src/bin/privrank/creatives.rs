//! `privrank creatives CATALOG.jsonl --out OUT.jsonl`: headline variants for each
//! catalog item, written on the ad server by SmolLM2 (`privrank::generate`) into the
//! candidates' `creatives` field. Output is appended item by item, so an interrupted
//! run resumes where it stopped and writes what an uninterrupted run would have.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, IsTerminal, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use privrank::catalog::{CatalogItem, CatalogReader, Purpose};
use privrank::generate::creatives::{self, CreativeOptions, DEFAULT_ANGLES, Item, Tally};
use privrank::generate::{Generator, GeneratorManifest, Sampling};
use serde_json::{Value, json};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Args)]
pub struct CreativesArgs {
    /// JSON lines, one candidate or catalog item `{"id", "title", "category"?, …}` per
    /// line (every field is kept); `-` reads stdin.
    pub catalog: PathBuf,
    /// Where the candidates go, each with `creatives: [{"id": angle, "text"}]`. An
    /// existing file written with the same settings is resumed: its items are kept
    /// and skipped.
    #[arg(long, short)]
    pub out: PathBuf,
    /// The generator's manifest (its GGUF is fetched by `scripts/setup`).
    #[arg(long, default_value = "models/smollm2-135m-instruct.json")]
    pub generator: PathBuf,
    /// Variants per item, one per angle.
    #[arg(long, default_value_t = 3)]
    pub variants: usize,
    /// The angles, in the order variants take them.
    #[arg(long, value_delimiter = ',', default_values_t = DEFAULT_ANGLES.map(String::from))]
    pub angles: Vec<String>,
    /// Tries per angle until a headline passes the filters.
    #[arg(long, default_value_t = 3)]
    pub attempts: usize,
    /// Longest headline kept, in characters.
    #[arg(long, default_value_t = 80)]
    pub max_chars: usize,
    /// Tokens per headline at most.
    #[arg(long, default_value_t = 24)]
    pub max_tokens: usize,
    /// Nucleus sampling's p; with --greedy, unused.
    #[arg(long, default_value_t = 0.9)]
    pub top_p: f32,
    #[arg(long, default_value_t = 0.7)]
    pub temperature: f32,
    /// The most likely token every step instead of sampling.
    #[arg(long)]
    pub greedy: bool,
    /// Seeds every headline (with the item, angle and attempt).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print each item's headlines and time.
    #[arg(long)]
    pub verbose: bool,
}

impl CreativesArgs {
    fn options(&self) -> CreativeOptions {
        CreativeOptions {
            variants: self.variants,
            angles: self.angles.clone(),
            attempts: self.attempts,
            max_chars: self.max_chars,
            max_tokens: self.max_tokens,
            sampling: if self.greedy {
                Sampling::Greedy
            } else {
                Sampling::TopP {
                    p: self.top_p,
                    temperature: self.temperature,
                }
            },
            seed: self.seed,
        }
    }
}

pub fn creatives(
    args: &CreativesArgs,
    generator_dir: &Path,
    device: &burn::tensor::Device,
) -> Result<()> {
    let options = args.options();
    options.check()?;
    let manifest = GeneratorManifest::read(&args.generator)?;
    let items = read_catalog(&args.catalog)?;
    let done = resume(&args.out, &manifest, &options)?;
    let todo: Vec<&(CatalogItem, Value)> = items
        .iter()
        .filter(|(item, _)| !done.contains(&item.id))
        .collect();
    eprintln!(
        "privrank creatives: {} items, {} already in {}, {} to write ({} variants each)",
        items.len(),
        done.len(),
        args.out.display(),
        todo.len(),
        options.variants
    );
    if todo.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let generator = Generator::load(&manifest, generator_dir, device)?;
    eprintln!(
        "privrank creatives: loaded {} in {:.1} s",
        args.generator.display(),
        started.elapsed().as_secs_f64()
    );
    let mut out = OpenOptions::new().append(true).open(&args.out)?;
    let bar = ProgressBar::new(todo.len() as u64).with_style(
        ProgressStyle::with_template(
            "writing creatives {bar:30} {pos}/{len} items {elapsed} (eta {eta}) {msg}",
        )
        .expect("static template"),
    );
    if !std::io::stderr().is_terminal() {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let started = std::time::Instant::now();
    let mut written_tokens = 0;
    let items: Vec<Item<'_>> = todo.iter().map(|(item, _)| Item::from(item)).collect();
    let total = creatives::write_each(&generator, &items, &options, |index, variants, tally| {
        let (item, record) = todo[index];
        let mut record = record.clone();
        record["creatives"] = json!(variants);
        let mut line = serde_json::to_vec(&record)?;
        line.push(b'\n');
        // One write per line, flushed: a crash leaves whole lines and at most one
        // partial one, which the next run cuts off.
        out.write_all(&line)?;
        out.flush()?;
        if args.verbose {
            bar.suspend(|| {
                eprintln!("{} ({:.1} s): {}", item.id, tally.seconds, item.title);
                for v in &variants {
                    eprintln!("  {:>10}: {}", v.id, v.text);
                }
            });
        }
        written_tokens += tally.generated_tokens;
        bar.set_message(format!(
            "{:.1} tokens/s",
            written_tokens as f64 / started.elapsed().as_secs_f64()
        ));
        bar.inc(1);
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    let wall = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    let threads = creatives::parallelism();
    summary(&total, wall, threads, &options, &generator);
    floor(&total, wall, threads, &generator, device)?;
    Ok(())
}

fn summary(t: &Tally, wall: f64, threads: usize, options: &CreativeOptions, generator: &Generator) {
    let asked = t.items * options.variants;
    let share = |n: usize| 100.0 * n as f64 / t.generated.max(1) as f64;
    eprintln!(
        "privrank creatives: {} items in {:.1} s on {threads} threads ({:.2} s per item, \
         {:.1} s each on its thread); {} of {} headlines generated passed the filters \
         ({:.1}%), filling {} of {} variants",
        t.items,
        wall,
        wall / t.items.max(1) as f64,
        t.seconds / t.items.max(1) as f64,
        t.kept,
        t.generated,
        share(t.kept),
        t.kept,
        asked
    );
    eprintln!(
        "privrank creatives: dropped: {} unfinished at the token limit, {} empty, {} too \
         long, {} repeating the title, {} duplicates, {} with a blocklisted word",
        t.unfinished, t.empty, t.too_long, t.repeats_title, t.duplicate, t.blocked
    );
    let tokens = t.prompt_tokens + t.generated_tokens;
    let flops = generator.config().flops_per_token() as f64 * tokens as f64;
    eprintln!(
        "privrank creatives: {} tokens written ({:.1} tokens/s, prompts included {:.1}/s); \
         {:.2} GFLOP/s sustained at {:.0} MFLOP a token",
        t.generated_tokens,
        t.generated_tokens as f64 / wall.max(1e-9),
        tokens as f64 / wall.max(1e-9),
        flops / wall.max(1e-9) / 1e9,
        generator.config().flops_per_token() as f64 / 1e6
    );
}

/// The run against its compute floor: the FLOPs it did at this machine's sustained
/// matmul rate through burn-flex (the generator's backend), measured here on a
/// prompt-sized product, all threads.
fn floor(
    t: &Tally,
    wall: f64,
    threads: usize,
    generator: &Generator,
    device: &burn::tensor::Device,
) -> Result<()> {
    use burn::tensor::{Distribution, Tensor};
    let (m, k, n) = (256, 576, 1536);
    let a = Tensor::<2>::random([m, k], Distribution::Default, device);
    let b = Tensor::<2>::random([k, n], Distribution::Default, device);
    let run = |reps: usize| -> Result<f64> {
        let started = std::time::Instant::now();
        for _ in 0..reps {
            privrank::backend::read_back(a.clone().matmul(b.clone()).slice([0..1, 0..1]))?;
        }
        Ok(started.elapsed().as_secs_f64())
    };
    run(2)?;
    let reps = 20;
    let rate = 2.0 * (m * k * n * reps) as f64 / run(reps)?;
    let tokens = (t.prompt_tokens + t.generated_tokens) as f64;
    let per_token = wall / tokens.max(1.0);
    let floor = generator.config().flops_per_token() as f64 / rate;
    eprintln!(
        "privrank creatives: compute floor {:.2} ms a token ({:.0} MFLOP at this machine's \
         {:.1} GFLOP/s, a {m}×{k}·{k}×{n} matmul on {threads} threads); measured {:.2} ms a \
         token, prompts included: {:.1}× the floor",
        floor * 1e3,
        generator.config().flops_per_token() as f64 / 1e6,
        rate / 1e9,
        per_token * 1e3,
        per_token / floor
    );
    Ok(())
}

/// Every line checked as `rank()` would check a candidate, ids unique.
fn read_catalog(path: &Path) -> Result<Vec<(CatalogItem, Value)>> {
    let (input, name): (Box<dyn Read>, String) = if path.as_os_str() == "-" {
        (Box::new(std::io::stdin()), "stdin".to_owned())
    } else {
        let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        (Box::new(file), path.display().to_string())
    };
    let mut reader = CatalogReader::new(Purpose::Candidates);
    let mut items = Vec::new();
    for (index, line) in BufReader::new(input).lines().enumerate() {
        let number = index + 1;
        let line = line.map_err(|e| format!("{name}: line {number}: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let value: privrank::input::Value = serde_json::from_str(&line)
            .map_err(|e| format!("{name}: line {number}: not JSON: {e}"))?;
        let item = reader.item(number, &value).map_err(|errors| {
            format!(
                "{name}: line {number}: {}",
                privrank::Error::BadCandidate(errors)
            )
        })?;
        let record = value
            .to_json()
            .map_err(|e| format!("{name}: line {number}: {e}"))?;
        items.push((item, record));
    }
    Ok(items)
}

/// The ids `out` already holds. A missing file is created with the run's settings
/// beside it (`OUT.settings.json`); an existing one must have been written with the
/// same settings, and a partial last line (a crash mid-write) is cut off.
fn resume(
    out: &Path,
    generator: &GeneratorManifest,
    options: &CreativeOptions,
) -> Result<std::collections::HashSet<String>> {
    let settings_path = PathBuf::from(format!("{}.settings.json", out.display()));
    let settings = serde_json::to_string_pretty(&json!({
        "generator": generator.name,
        "sha256": generator.files.weights.sha256,
        "options": options,
    }))? + "\n";
    let mut done = std::collections::HashSet::new();
    if !out.exists() {
        File::create(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
        std::fs::write(&settings_path, &settings)?;
        return Ok(done);
    }
    match std::fs::read_to_string(&settings_path) {
        Ok(old) if old == settings => {}
        Ok(_) => {
            return Err(format!(
                "{} was written with other settings ({}): use the same options to resume, \
                 or another --out",
                out.display(),
                settings_path.display()
            )
            .into());
        }
        Err(_) => {
            return Err(format!(
                "{} exists without {}: not a privrank creatives output; choose another --out",
                out.display(),
                settings_path.display()
            )
            .into());
        }
    }
    let mut file = OpenOptions::new().read(true).write(true).open(out)?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    // Whole lines must be the candidates this command wrote; only a last line
    // without its newline is an interrupted write.
    let keep = text.rfind('\n').map_or(0, |i| i + 1);
    for (index, line) in text[..keep].lines().enumerate() {
        let parsed: Option<Value> = serde_json::from_str(line).ok();
        match parsed.as_ref().and_then(|v| v["id"].as_str()) {
            Some(id) => {
                done.insert(id.to_owned());
            }
            None => {
                return Err(format!(
                    "{}: line {} is not a candidate with an id; fix or delete the file",
                    out.display(),
                    index + 1
                )
                .into());
            }
        }
    }
    if keep < text.len() {
        eprintln!(
            "privrank creatives: cutting {} bytes of an unfinished line off {}",
            text.len() - keep,
            out.display()
        );
        file.set_len(keep as u64)?;
        file.seek(SeekFrom::End(0))?;
    }
    Ok(done)
}

#[derive(Args)]
pub struct CreativeChoiceArgs {
    /// MovieLens-100k folder (default: the set-up script's cache).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seeds the focused sessions, as `privrank eval --seed` does.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

/// MovieLens focused sessions (the eval's, held-out half) against the demo's
/// promotions with their committed creatives, ranked through the device's request;
/// prints how the chosen variant moves with the genre as JSON.
pub fn creative_choice(
    args: &CreativeChoiceArgs,
    encoder: &privrank::SentenceEncoder,
    backend: &privrank::Backend,
    ranker_dir: &Path,
) -> Result<()> {
    use privrank::eval::focused::{self, Half};
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| privrank::data::default_data_dir("ml-100k"));
    let ml = privrank::data::MovieLens::load(&dir)?;
    let (manifest, ranker) =
        privrank::Ranker::read(ranker_dir, encoder.model_hash(), &backend.device)?;
    let model = privrank::rank::Model {
        ranker: &ranker,
        config: &manifest.config,
        device: &backend.device,
        encoder: encoder.model_hash(),
    };
    let check = focused::movielens(&ml, &manifest.config, Half::Report, args.seed)?;
    let report = check.creatives(model, encoder)?;
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
