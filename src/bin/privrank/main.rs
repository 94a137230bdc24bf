//! privrank's native command line: the server/edge side of on-device ranking.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use privrank::config::default_model_dir;
use privrank::encoder::cosine;
use privrank::{Backend, BackendChoice, ModelBundle, SentenceEncoder};

mod bilingual;
mod card;
mod catalog;
mod creatives;
mod demo;
mod distill;
mod distill_zh;
mod eval;
mod eval_card;
mod ope;
mod profile;
mod rank;
mod related;
mod train;

#[derive(Parser)]
#[command(
    name = "privrank",
    version,
    about = "On-device ad ranking: native tools"
)]
struct Cli {
    /// The model set (encoder + ranker) to use, as the browser's `modelUrl`:
    /// models/default.json is the distilled student, models/teacher.json the teacher.
    #[arg(long, global = true, default_value = "models/default.json")]
    models: PathBuf,
    /// Encoder manifest instead of the model set's (file names, hashes, token budget).
    #[arg(long, global = true)]
    model: Option<PathBuf>,
    /// Folder holding the encoder's files; default: beside a committed manifest, else
    /// the set-up script's cache.
    #[arg(long, global = true)]
    model_dir: Option<PathBuf>,
    /// auto: a real GPU through wgpu if present, else the CPU.
    #[arg(long, global = true, default_value = "auto")]
    backend: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Embed texts (arguments, or one per line on stdin) with the sentence encoder.
    Embed {
        texts: Vec<String>,
        /// Print the cosine similarity matrix instead of the embeddings.
        #[arg(long)]
        similarity: bool,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
    },
    /// Print the model manifest, its dims, and the backend and adapter in use.
    Info,
    /// Rank candidates against a history, exactly as the browser's `rank()` does:
    /// reads `{"history": [events], "candidates": [...], "options": {...}}` (a file,
    /// or `-` for stdin) and prints the ordered candidates as JSON.
    Rank(rank::RankArgs),
    /// Embed a catalog (JSON lines `{"id", "title", "category"?}`, or `-` for stdin)
    /// in batches; prints one `{"id", "encoder", "embedding"}` line per item, the
    /// edge worker's format.
    EmbedCatalog(catalog::EmbedCatalogArgs),
    /// Off-policy evaluation on the Open Bandit Dataset sample: privrank's exploring
    /// policy estimated with IPS, SNIPS and doubly robust from the random log; writes
    /// the table into the ranker's model card.
    Ope(ope::OpeArgs),
    /// The shopper's top interest tags from a history (as the browser's
    /// `ranker.interests()`): kind-weighted, decayed, comma-separated categories split.
    Interests(profile::InterestsArgs),
    /// The experiment arm a device id falls into (as the browser's `ranker.arm()`).
    Arm(profile::ArmArgs),
    /// Write the demo storefront's `catalog.json` and `candidates.json` from the
    /// MovieLens-100k download (default into `www/data/`).
    DemoData(demo::DemoArgs),
    /// Distil the small student encoder from the teacher on WordNet and MovieLens
    /// texts; writes `models/student/` (config, tokenizer, quantized weights, manifest,
    /// model card).
    Distill(distill::DistillArgs),
    /// Teach the student Chinese: CJK characters added to its vocabulary, Chinese
    /// words (CC-CEDICT) trained onto the teacher's embeddings of their English
    /// meanings; writes `models/student-zh/` and its model card.
    DistillZh(distill_zh::DistillZhArgs),
    /// Train privrank's ranker on MovieLens-100k; writes the model set's ranker folder.
    Train(train::TrainArgs),
    /// Evaluate the served ranker against the seeds' baselines on the test split (the
    /// LR and DNN baselines are trained here with the same settings) and on focused
    /// sessions; writes MODEL_CARD.md.
    Eval(eval::EvalArgs),
    /// Headline variants for each catalog item, written by a small language model
    /// (SmolLM2, on this machine) into the candidates' `creatives`, one per angle:
    /// the device shows the one closest to its shopper's history.
    Creatives(creatives::CreativesArgs),
    /// How the device's choice among the demo promotions' generated creatives moves
    /// with the history: MovieLens focused sessions ranked as `rank()` ranks them;
    /// prints a JSON report (shares of changed choices, cosines to the history).
    CreativeChoice(creatives::CreativeChoiceArgs),
    /// Shoppers browsing in Chinese ranked against English, Chinese and mixed
    /// products (and English ones against Chinese), through the device's request on
    /// the model set; prints the in-category shares and one session in full.
    BilingualCheck(bilingual::BilingualCheckArgs),
    /// Item-to-item neighbour lists (`related`) from an interaction log, one JSON
    /// line per item: what an ad server attaches to its candidates.
    Related(related::RelatedArgs),
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// JSON lines `{"text", "embedding"}`, or `{"texts", "cosine"}` with --similarity.
    Json,
    /// A table for people.
    Table,
}

fn main() -> ExitCode {
    quiet_vulkan_layers();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("privrank: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Mesa's implicit Vulkan layer `VK_LAYER_MESA_device_select` picks a default GPU by
/// connecting to the desktop's display; on a machine without one it prints
/// `error: XDG_RUNTIME_DIR is invalid or not set in the environment.` for every
/// probe. privrank chooses its adapter itself, so the layer is switched off (its own
/// documented switch) unless the caller set it either way.
fn quiet_vulkan_layers() {
    if std::env::var_os("NODEVICE_SELECT").is_none() {
        // SAFETY: called first thing in `main`, before any thread exists that could
        // read the environment concurrently.
        unsafe { std::env::set_var("NODEVICE_SELECT", "1") };
    }
}

/// Which encoder and ranker a command uses: the model set's, unless overridden.
struct Models {
    manifest: PathBuf,
    dir: PathBuf,
    /// The set's ranker folder.
    ranker_dir: PathBuf,
    /// `--model` named another encoder than the set's.
    encoder_overridden: bool,
}

impl Models {
    fn resolve(cli: &Cli) -> Result<Self, Box<dyn std::error::Error>> {
        Self::of_set(&cli.models, cli.model.as_deref(), cli.model_dir.as_deref())
    }

    /// `models`: a model set file; `model`, `model_dir`: overrides of its encoder.
    fn of_set(
        models: &Path,
        model: Option<&Path>,
        model_dir: Option<&Path>,
    ) -> Result<Self, Box<dyn std::error::Error>> {
        let bytes = std::fs::read(models)
            .map_err(|e| format!("cannot read the model set {}: {e}", models.display()))?;
        let set = privrank::config::ModelSet::from_json(&models.display().to_string(), &bytes)?;
        let base = models.parent().unwrap_or(Path::new("."));
        let set_manifest = base.join(&set.encoder.manifest);
        let manifest = model.map_or_else(|| set_manifest.clone(), Path::to_path_buf);
        let dir = match (model_dir, model) {
            (Some(dir), _) => dir.to_path_buf(),
            (None, Some(m)) => default_model_dir(m),
            (None, None) => base.join(&set.encoder.files),
        };
        let ranker_manifest = base.join(&set.ranker.manifest);
        let ranker_dir = ranker_manifest
            .parent()
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let same = |a: &Path, b: &Path| match (a.canonicalize(), b.canonicalize()) {
            (Ok(a), Ok(b)) => a == b,
            _ => a == b,
        };
        Ok(Self {
            encoder_overridden: !same(&manifest, &set_manifest),
            manifest,
            dir,
            ranker_dir,
        })
    }

    /// The encoder's own model card, when it is a committed model (files beside its
    /// manifest, like the distilled student).
    fn encoder_card(&self) -> Option<PathBuf> {
        let folder = self.manifest.parent()?;
        (default_model_dir(&self.manifest) == folder).then(|| folder.join("MODEL_CARD.md"))
    }

    /// The ranker folder a command reads or (train) writes.
    fn ranker(&self, given: &Option<PathBuf>, writing: bool) -> Result<PathBuf, String> {
        match given {
            Some(dir) => Ok(dir.clone()),
            None if writing && self.encoder_overridden => Err(format!(
                "--model {} is not the model set's encoder, so its ranker would overwrite {}: \
                 pass --ranker-dir (or --models)",
                self.manifest.display(),
                self.ranker_dir.display()
            )),
            None => Ok(self.ranker_dir.clone()),
        }
    }
}

fn run(cli: Cli) -> Result<(), Box<dyn std::error::Error>> {
    let choice: BackendChoice = cli.backend.parse()?;
    // Only the commands that load models need the model set to be readable.
    let models = Models::resolve(&cli);
    let paths = || -> Result<&Models, String> { models.as_ref().map_err(|e| e.to_string()) };
    match cli.command {
        Command::Info => info(&paths()?.manifest, &paths()?.dir, choice),
        Command::Train(args) => {
            let m = paths()?;
            let ranker_dir = m.ranker(&args.data.ranker_dir, true)?;
            let (bundle, encoder, backend) = load(&m.manifest, &m.dir, choice)?;
            train::train(
                &args,
                &encoder,
                &backend,
                &bundle.manifest.name,
                &ranker_dir,
            )
        }
        Command::Rank(args) => {
            let m = paths()?;
            let ranker_dir = m.ranker(&args.ranker_dir, false)?;
            let (_, encoder, backend) = load(&m.manifest, &m.dir, choice)?;
            rank::rank(&args, &encoder, &backend, &ranker_dir)
        }
        Command::EmbedCatalog(args) => {
            let m = paths()?;
            let (_, encoder, _) = load(&m.manifest, &m.dir, choice)?;
            catalog::embed_catalog(&args, &encoder)
        }
        Command::DemoData(args) => demo::demo_data(&args),
        Command::BilingualCheck(args) => {
            let m = paths()?;
            let ranker_dir = m.ranker(&None, false)?;
            let (bundle, encoder, backend) = load(&m.manifest, &m.dir, choice)?;
            bilingual::bilingual_check(
                &args,
                &encoder,
                &backend,
                &ranker_dir,
                &bundle.manifest.name,
            )
        }
        Command::CreativeChoice(args) => {
            let m = paths()?;
            let ranker_dir = m.ranker(&None, false)?;
            let (_, encoder, backend) = load(&m.manifest, &m.dir, choice)?;
            creatives::creative_choice(&args, &encoder, &backend, &ranker_dir)
        }
        Command::Creatives(args) => {
            // Generation is a CPU job on a server: the flex backend's threaded
            // matmuls; wgpu is not tried for it, and asking for it is an error.
            if choice == BackendChoice::Wgpu {
                return Err(
                    "privrank creatives runs on the CPU backend: --backend wgpu is \
                            not supported for generation (use cpu or auto)"
                        .into(),
                );
            }
            let dir = privrank::config::default_model_dir(&args.generator);
            creatives::creatives(&args, &dir, &privrank::Backend::cpu().device)
        }
        Command::Related(args) => related::related(&args),
        Command::Distill(args) => {
            let backend = open_backend(choice)?;
            distill::distill(&args, &backend)
        }
        Command::DistillZh(args) => {
            let backend = open_backend(choice)?;
            distill_zh::distill_zh(&args, &backend)
        }
        Command::Ope(args) => ope::ope(&args),
        Command::Interests(args) => profile::interests_cmd(&args),
        Command::Arm(args) => profile::arm(&args),
        Command::Eval(args) => {
            let m = paths()?;
            let ranker_dir = m.ranker(&args.train.data.ranker_dir, false)?;
            let (_, encoder, backend) = load(&m.manifest, &m.dir, choice)?;
            let compare = match &args.compare_with {
                Some(set) => {
                    let other = Models::of_set(set, None, None)?;
                    let (bundle, other_encoder, _) = load(&other.manifest, &other.dir, choice)?;
                    Some(eval::Comparison {
                        set: set.clone(),
                        encoder: other_encoder,
                        encoder_name: bundle.manifest.name,
                        ranker_dir: other.ranker_dir,
                    })
                }
                None => None,
            };
            eval::eval(
                &args,
                &encoder,
                &backend,
                &ranker_dir,
                &cli.models,
                compare.as_ref(),
                m.encoder_card().as_deref(),
            )
        }
        Command::Embed {
            texts,
            similarity,
            format,
        } => {
            let texts = if texts.is_empty() {
                read_stdin_lines()?
            } else {
                texts
            };
            let m = paths()?;
            let (_, encoder, _) = load(&m.manifest, &m.dir, choice)?;
            let embeddings = embed(&encoder, &texts)?;
            if similarity {
                print_similarity(&texts, &embeddings, format);
            } else {
                print_embeddings(&texts, &embeddings, format);
            }
            Ok(())
        }
    }
}

fn read_stdin_lines() -> std::io::Result<Vec<String>> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        eprintln!("privrank: reading texts from stdin, one per line (Ctrl-D to end)");
    }
    stdin.lock().lines().collect()
}

fn spinner(msg: String) -> ProgressBar {
    let bar = ProgressBar::new_spinner().with_message(msg);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

/// The backend, probed once per process, and one line saying which it is and why
/// when `auto` did not take a GPU (a command that loads two model sets asks twice).
fn open_backend(choice: BackendChoice) -> privrank::Result<Backend> {
    static ANNOUNCED: std::sync::Once = std::sync::Once::new();
    let backend = Backend::open(choice)?;
    if let Some(reason) = &backend.fallback_reason {
        ANNOUNCED.call_once(|| eprintln!("privrank: backend cpu ({reason})"));
    }
    Ok(backend)
}

fn load(
    manifest: &Path,
    dir: &Path,
    choice: BackendChoice,
) -> privrank::Result<(ModelBundle, SentenceEncoder, Backend)> {
    let backend = open_backend(choice)?;
    let bar = spinner(format!(
        "verifying and loading {} on {}",
        manifest.display(),
        backend.kind
    ));
    let bundle = ModelBundle::read(manifest, dir)?;
    let encoder = SentenceEncoder::load(&bundle, &backend.device)?;
    bar.finish_and_clear();
    Ok((bundle, encoder, backend))
}

fn embed(encoder: &SentenceEncoder, texts: &[String]) -> privrank::Result<Vec<Vec<f32>>> {
    let bar = ProgressBar::new(texts.len() as u64).with_style(
        ProgressStyle::with_template("embedding {pos}/{len} texts {bar:30} {elapsed}")
            .expect("static template"),
    );
    let out = encoder.embed_with_progress(texts, |done, _| bar.set_position(done as u64));
    bar.finish_and_clear();
    out
}

fn print_embeddings(texts: &[String], embeddings: &[Vec<f32>], format: Format) {
    for (text, e) in texts.iter().zip(embeddings) {
        match format {
            Format::Json => println!("{}", serde_json::json!({ "text": text, "embedding": e })),
            Format::Table => {
                let head: Vec<String> = e.iter().take(6).map(|v| format!("{v:+.4}")).collect();
                println!(
                    "{:<40} [{} … ] ({} dims)",
                    clip(text, 40),
                    head.join(" "),
                    e.len()
                );
            }
        }
    }
}

fn print_similarity(texts: &[String], embeddings: &[Vec<f32>], format: Format) {
    let matrix: Vec<Vec<f32>> = embeddings
        .iter()
        .map(|a| embeddings.iter().map(|b| cosine(a, b)).collect())
        .collect();
    match format {
        Format::Json => println!(
            "{}",
            serde_json::json!({ "texts": texts, "cosine": matrix })
        ),
        Format::Table => {
            print!("{:<40}", "");
            for j in 0..texts.len() {
                print!(" {:>6}", format!("[{j}]"));
            }
            println!();
            for (i, row) in matrix.iter().enumerate() {
                print!("{:<40}", format!("[{i}] {}", clip(&texts[i], 35)));
                for v in row {
                    print!(" {v:>6.3}");
                }
                println!();
            }
        }
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        s.chars().take(n - 1).chain(std::iter::once('…')).collect()
    }
}

fn info(
    manifest: &Path,
    dir: &Path,
    choice: BackendChoice,
) -> Result<(), Box<dyn std::error::Error>> {
    let (bundle, encoder, backend) = load(manifest, dir, choice)?;
    let m = &bundle.manifest;
    let c = &bundle.config;
    let files: serde_json::Map<String, serde_json::Value> = [
        ("config", &m.files.config),
        ("tokenizer", &m.files.tokenizer),
        ("weights", &m.files.weights),
    ]
    .into_iter()
    .map(|(k, f)| {
        let path = dir.join(&f.name);
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        (
            k.to_owned(),
            serde_json::json!({ "path": path, "sha256": f.sha256, "bytes": size }),
        )
    })
    .collect();
    let out = serde_json::json!({
        "model": {
            "name": m.name,
            "description": m.description,
            "license": m.license,
            "manifest": manifest,
            "files": files,
            "max_tokens": m.max_tokens,
            "pooling": "mean",
            "normalize": m.normalize,
        },
        "dims": {
            "layers": c.num_hidden_layers,
            "hidden": c.hidden_size,
            "heads": c.num_attention_heads,
            "ffn": c.intermediate_size,
            "vocab": c.vocab_size,
            "word_embedding": c.word_embedding_dim(),
            "parameters": c.parameter_count(),
            "max_positions": c.max_position_embeddings,
            "embedding_dim": encoder.dim(),
        },
        "backend": {
            "kind": backend.kind.to_string(),
            "adapter": backend.adapter,
            "software_adapter": backend.software,
            "fallback_reason": backend.fallback_reason,
        },
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
