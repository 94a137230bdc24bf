//! `privrank train` and `privrank eval`: the ranker and the evaluation table.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use privrank::config::{EncoderRef, FileSpec};
use privrank::eval::baselines::{ContentCosine, ItemCf, LogReg, Popularity, UserCf};
use privrank::eval::{
    Experiment, ExperimentConfig, Neural, Row, Scorer, auc_on, evaluate, markdown_table,
};
use privrank::history::EventKind;
use privrank::ranker::train::{
    CANDIDATE_FEATURES, ClickModel, Examples, FitProgress, TrainConfig, fit,
};
use privrank::weights::sha256_hex;
use privrank::{Backend, Ranker, RankerConfig, RankerManifest, SentenceEncoder};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Args, Clone)]
pub struct DataArgs {
    /// MovieLens-100k folder (default: the set-up script's cache).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Where item embeddings are cached, per encoder and text.
    #[arg(long, default_value = ".cache/embeddings")]
    pub embedding_cache: PathBuf,
    /// The ranker's folder (`ranker.json`, `ranker.safetensors`, `MODEL_CARD.md`);
    /// default: the model set's (`--models`).
    #[arg(long)]
    pub ranker_dir: Option<PathBuf>,
    /// Seed for negative sampling, initialisation and shuffling.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

#[derive(Args, Clone)]
pub struct RankArgs {
    /// The request: `{"history": [...], "candidates": [...], "options": {...}}`.
    pub request: PathBuf,
    /// The ranker's folder; default: the model set's (`--models`).
    #[arg(long)]
    pub ranker_dir: Option<PathBuf>,
}

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 8)]
    pub max_epochs: usize,
    /// Epochs without a better validation AUC before stopping.
    #[arg(long, default_value_t = 2)]
    pub patience: usize,
    #[arg(long, default_value_t = 1e-3)]
    pub learning_rate: f64,
    #[arg(long, default_value_t = 30)]
    pub max_history: usize,
}

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// Also score another model set's ranker (e.g. models/teacher.json) on its own
    /// encoder's embeddings, on the same split, as one more row; when this encoder is
    /// a committed model with a MODEL_CARD.md, the two rows go into that card too.
    #[arg(long)]
    pub compare_with: Option<PathBuf>,
}

impl TrainArgs {
    fn train_config(&self) -> TrainConfig {
        TrainConfig {
            max_epochs: self.max_epochs,
            patience: self.patience,
            learning_rate: self.learning_rate,
            seed: self.data.seed,
            ..TrainConfig::default()
        }
    }
}

pub const MANIFEST: &str = "ranker.json";
pub const WEIGHTS: &str = "ranker.safetensors";
pub const MODEL_CARD: &str = "MODEL_CARD.md";

fn bar(len: u64, template: &str) -> ProgressBar {
    ProgressBar::new(len)
        .with_style(ProgressStyle::with_template(template).expect("static template"))
}

fn experiment(args: &DataArgs, encoder: &SentenceEncoder) -> Result<Experiment> {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| privrank::data::default_data_dir("ml-100k"));
    let progress = bar(0, "embedding item titles {pos}/{len} {bar:30} {elapsed}");
    let exp = Experiment::load(
        ExperimentConfig {
            seed: args.seed,
            ..ExperimentConfig::default()
        },
        &data_dir,
        encoder,
        &args.embedding_cache,
        |done, total| {
            progress.set_length(total as u64);
            progress.set_position(done as u64);
        },
    )?;
    progress.finish_and_clear();
    eprintln!(
        "privrank: MovieLens-100k: {} users, {} items, {} ratings; impressions train {} / valid {} / test {}",
        exp.ml.users.len(),
        exp.ml.items.len(),
        exp.ml.ratings.len(),
        exp.train.len(),
        exp.valid.len(),
        exp.test.len()
    );
    Ok(exp)
}

fn ranker_config(embedding_dim: usize, items: usize, max_history: usize) -> RankerConfig {
    RankerConfig {
        embedding_dim,
        projection_dim: 64,
        attention_hidden: 36,
        mlp: vec![128, 64],
        dropout: 0.2,
        attention: true,
        max_history,
        kinds: EventKind::ALL.len(),
        candidate_features: CANDIDATE_FEATURES.map(str::to_owned).to_vec(),
        item_vocab: items,
    }
}

/// Fit a click model with a progress bar and one line per epoch on stderr.
fn fit_logged<M: ClickModel>(
    label: &str,
    model: M,
    examples: &Examples<'_>,
    exp: &Experiment,
    config: &TrainConfig,
    backend: &Backend,
) -> Result<(M, privrank::ranker::train::FitReport)> {
    let progress = bar(0, "{msg} {pos}/{len} batches {bar:30} {elapsed}");
    let device = backend.device.clone().autodiff();
    let out = fit(
        model,
        examples,
        &exp.train,
        &exp.valid,
        config,
        &device,
        |p| match p {
            FitProgress::Step {
                epoch,
                done,
                total,
                loss,
            } => {
                progress.set_length(total as u64);
                progress.set_position(done as u64);
                progress.set_message(format!("{label} epoch {epoch} loss {loss:.4}"));
                if progress.is_hidden() && done % (total / 10).max(1) == 0 {
                    eprintln!(
                        "{label}: epoch {epoch} batch {done}/{total} loss {loss:.4} ({:.0?})",
                        progress.elapsed()
                    );
                }
            }
            FitProgress::Epoch(stats) => {
                let line = format!(
                    "{label}: epoch {} train loss {:.4}, valid AUC {:.4}",
                    stats.epoch, stats.train_loss, stats.valid_auc
                );
                // A hidden bar (stderr not a terminal) drops println; logs still get it.
                if progress.is_hidden() {
                    eprintln!("{line}");
                } else {
                    progress.println(line);
                }
            }
        },
    )?;
    progress.finish_and_clear();
    Ok(out)
}

pub fn train(
    args: &TrainArgs,
    encoder: &SentenceEncoder,
    backend: &Backend,
    encoder_name: &str,
    dir: &Path,
) -> Result<()> {
    let started = Instant::now();
    let exp = experiment(&args.data, encoder)?;
    let config = ranker_config(encoder.dim(), exp.ml.items.len(), args.max_history);
    let train_config = args.train_config();
    let device = backend.device.clone().autodiff();
    device.seed(args.data.seed);
    let examples = exp.examples(config.max_history);
    let (ranker, report) = fit_logged(
        "privrank",
        Ranker::init(&config, &device),
        &examples,
        &exp,
        &train_config,
        backend,
    )?;
    let weights = ranker.to_safetensors()?;
    let manifest = RankerManifest {
        name: "privrank-din-ml100k".into(),
        encoder: EncoderRef {
            name: encoder_name.to_owned(),
            model_hash: encoder.model_hash().to_owned(),
        },
        config,
        weights: FileSpec {
            name: WEIGHTS.into(),
            sha256: sha256_hex(&weights),
        },
        training: serde_json::json!({
            "data": "MovieLens-100k (recbole==1.2.1)",
            "data_hash": exp.ml.data_hash,
            "experiment": exp.config,
            "optimizer": "Adam",
            "learning_rate": train_config.learning_rate,
            "batch_size": train_config.batch_size,
            "seed": train_config.seed,
            "epochs": report.epochs,
            "best_epoch": report.best_epoch,
            "best_valid_auc": report.best_valid_auc,
            "seconds": started.elapsed().as_secs(),
        }),
    };
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join(WEIGHTS), &weights)?;
    std::fs::write(
        dir.join(MANIFEST),
        serde_json::to_string_pretty(&manifest)? + "\n",
    )?;
    eprintln!(
        "privrank: wrote {} and {} (best epoch {}, valid AUC {:.4}) in {:.0?}",
        dir.join(MANIFEST).display(),
        dir.join(WEIGHTS).display(),
        report.best_epoch,
        report.best_valid_auc,
        started.elapsed()
    );
    Ok(())
}

pub fn load_ranker(
    dir: &Path,
    encoder: &SentenceEncoder,
    backend: &Backend,
) -> Result<(RankerManifest, Ranker)> {
    let path = dir.join(MANIFEST);
    let bytes = std::fs::read(&path).map_err(|e| {
        format!(
            "cannot read {}: {e} (run `privrank train` first)",
            path.display()
        )
    })?;
    let manifest = RankerManifest::from_json(&path.display().to_string(), &bytes)?;
    let weights_path = dir.join(&manifest.weights.name);
    let weights = std::fs::read(&weights_path)
        .map_err(|e| format!("cannot read {}: {e}", weights_path.display()))?;
    let ranker = Ranker::load(&manifest, &weights, encoder.model_hash(), &backend.device)?;
    Ok((manifest, ranker))
}

/// Pick the variant with the best validation AUC.
fn tuned<S: Scorer>(
    variants: Vec<S>,
    exp: &Experiment,
    ctx: &privrank::eval::Context<'_>,
    notes: &mut Vec<String>,
) -> Result<S> {
    let mut best: Option<(f64, S)> = None;
    let mut tried = Vec::new();
    for s in variants {
        let a = auc_on(&s, ctx, &exp.valid)?;
        tried.push(format!("{} {a:.4}", s.name()));
        if best.as_ref().is_none_or(|(b, _)| a > *b) {
            best = Some((a, s));
        }
    }
    let (_, s) = best.ok_or("no variants")?;
    notes.push(format!(
        "{}: chosen on validation AUC among [{}]",
        s.name(),
        tried.join(", ")
    ));
    Ok(s)
}

/// Score one method on the experiment's test split, with a progress bar.
fn evaluate_logged(
    scorer: &dyn Scorer,
    exp: &Experiment,
    ctx: &privrank::eval::Context<'_>,
) -> Result<Row> {
    let k = exp.config.k;
    let progress = bar(0, "{msg} {pos}/{len} users {bar:30} {elapsed}");
    progress.set_message(format!("scoring {}", scorer.name()));
    let row = evaluate(scorer, exp, ctx, |done, total| {
        progress.set_length(total as u64);
        progress.set_position(done as u64);
    })?;
    progress.finish_and_clear();
    eprintln!(
        "{}: AUC {:.4} gAUC {:.4} HR@{k} {:.4} NDCG@{k} {:.4}",
        row.method, row.auc, row.gauc, row.hit_rate, row.ndcg
    );
    Ok(row)
}

/// Another model set's encoder and ranker, scored on the same split: the student's
/// ranker against the teacher's, say.
pub struct Comparison {
    /// The set as named on the command line.
    pub set: PathBuf,
    pub encoder: SentenceEncoder,
    pub encoder_name: String,
    pub ranker_dir: PathBuf,
}

/// The privrank row of the other set, on the same test impressions as `exp`.
fn compare_row(
    other: &Comparison,
    args: &TrainArgs,
    exp: &Experiment,
    backend: &Backend,
) -> Result<Row> {
    let (manifest, ranker) = load_ranker(&other.ranker_dir, &other.encoder, backend)?;
    let theirs = experiment(&args.data, &other.encoder)?;
    if theirs.test != exp.test || theirs.train != exp.train {
        return Err(format!(
            "{} was evaluated on another split: the comparison needs the same data and seed",
            other.set.display()
        )
        .into());
    }
    if manifest.training.get("experiment")
        != Some(&serde_json::to_value(&exp.config).map_err(|e| e.to_string())?)
    {
        return Err(format!(
            "the ranker in {} was trained with other experiment settings than {:?}",
            other.ranker_dir.display(),
            exp.config
        )
        .into());
    }
    let examples = theirs.examples(manifest.config.max_history);
    let plain = backend.device.clone();
    let table = examples.table(&plain)?;
    evaluate_logged(
        &Neural {
            name: format!(
                "privrank on {} embeddings (`--models {}`)",
                other.encoder_name,
                other.set.display()
            ),
            model: ranker,
            examples: &examples,
            table,
            device: plain,
        },
        &theirs,
        &theirs.context(),
    )
}

/// `models`: the model set named on the command line, repeated in the card's
/// reproduce line.
pub fn eval(
    args: &TrainArgs,
    encoder: &SentenceEncoder,
    backend: &Backend,
    ranker_dir: &Path,
    models: &Path,
    compare: Option<&Comparison>,
    encoder_card: Option<&Path>,
) -> Result<()> {
    let started = Instant::now();
    let (manifest, ranker) = load_ranker(ranker_dir, encoder, backend)?;
    let exp = experiment(&args.data, encoder)?;
    let ctx = exp.context();
    let mut rows: Vec<Row> = Vec::new();
    let mut notes = Vec::new();
    let k = exp.config.k;
    let run = |scorer: &dyn Scorer, rows: &mut Vec<Row>| -> Result<()> {
        rows.push(evaluate_logged(scorer, &exp, &ctx)?);
        Ok(())
    };

    run(&Popularity, &mut rows)?;
    let content = tuned(
        vec![
            ContentCosine { liked_only: true },
            ContentCosine { liked_only: false },
        ],
        &exp,
        &ctx,
        &mut notes,
    )?;
    run(&content, &mut rows)?;
    let item_cf = tuned(
        vec![ItemCf::fit(&ctx, true), ItemCf::fit(&ctx, false)],
        &exp,
        &ctx,
        &mut notes,
    )?;
    run(&item_cf, &mut rows)?;
    let user_cf = tuned(
        [20, 50, 100].map(|k| UserCf::fit(&ctx, k)).into(),
        &exp,
        &ctx,
        &mut notes,
    )?;
    run(&user_cf, &mut rows)?;

    let config = &manifest.config;
    if config.item_vocab != 0 && config.item_vocab != exp.ml.items.len() {
        return Err(format!(
            "the ranker knows {} items but the catalog has {}: retrain it (`privrank train`)",
            config.item_vocab,
            exp.ml.items.len()
        )
        .into());
    }
    let examples = exp.examples(config.max_history);
    let plain = backend.device.clone();
    let table = examples.table(&plain)?;
    let train_config = args.train_config();
    let autodiff = plain.clone().autodiff();
    autodiff.seed(args.data.seed);
    let (lr, _) = fit_logged(
        "logistic regression",
        LogReg::init(
            config.embedding_dim,
            config.candidate_features.len(),
            &autodiff,
        ),
        &examples,
        &exp,
        &TrainConfig {
            learning_rate: 1e-2,
            ..train_config.clone()
        },
        backend,
    )?;
    run(
        &Neural {
            name: "logistic regression".into(),
            model: lr.valid(),
            examples: &examples,
            table: table.clone(),
            device: plain.clone(),
        },
        &mut rows,
    )?;
    let dnn_config = RankerConfig {
        attention: false,
        ..config.clone()
    };
    let (dnn, _) = fit_logged(
        "DNN 128-64-1",
        Ranker::init(&dnn_config, &autodiff),
        &examples,
        &exp,
        &train_config,
        backend,
    )?;
    run(
        &Neural {
            name: "DNN 128-64-1 (mean history, no attention)".into(),
            model: dnn.valid(),
            examples: &examples,
            table: table.clone(),
            device: plain.clone(),
        },
        &mut rows,
    )?;
    run(
        &Neural {
            name: "privrank".into(),
            model: ranker,
            examples: &examples,
            table,
            device: plain,
        },
        &mut rows,
    )?;

    let ours = rows.last().cloned().ok_or("no rows")?;
    let compared = match compare {
        Some(other) => {
            let row = compare_row(other, args, &exp, backend)?;
            rows.push(row.clone());
            Some((other, row))
        }
        None => None,
    };
    let table = markdown_table(&rows, k);
    println!("{table}");
    let models = if models == Path::new("models/default.json") {
        String::new()
    } else {
        format!("--models {} ", models.display())
    };
    let compared_with = compared
        .as_ref()
        .map(|(other, _)| format!(" --compare-with {}", other.set.display()))
        .unwrap_or_default();
    let card = model_card(
        &manifest,
        &exp,
        &table,
        &notes,
        (&models, &compared_with),
        started.elapsed().as_secs(),
    );
    let path = ranker_dir.join(MODEL_CARD);
    crate::card::write_section(&path, "# privrank ranker — model card\n", "eval", &card)?;
    if let (Some((other, theirs)), Some(card)) = (compared, encoder_card) {
        let section = ranker_comparison(&ours, other, &theirs, ranker_dir, &path);
        crate::card::write_section(card, "# model card\n", "ranker", &section)?;
        eprintln!(
            "privrank: wrote the ranker comparison into {}",
            card.display()
        );
    }
    eprintln!(
        "privrank: wrote {} in {:.0?}",
        path.display(),
        started.elapsed()
    );
    Ok(())
}

/// The encoder card's section: the ranker on this encoder's embeddings against the
/// other set's, same split, same evaluation.
fn ranker_comparison(
    ours: &Row,
    other: &Comparison,
    theirs: &Row,
    ranker_dir: &Path,
    ranker_card: &Path,
) -> String {
    let row = |name: &str, r: &Row| {
        format!(
            "| {name} | {:.4} | {:.4} | {} |\n",
            r.auc,
            r.gauc,
            r.logloss.map_or("–".to_owned(), |l| format!("{l:.4}"))
        )
    };
    format!(
        "## The ranker on this encoder's embeddings\n\n\
         Written by `privrank eval --compare-with {set}` (this section is its output). \
         The same DIN ranker architecture, trained by `privrank train` on each encoder's item \
         embeddings (`{ours_dir}` here, `{theirs_dir}` for {name}), scored on the same \
         MovieLens-100k test impressions; the full table is in `{card}`.\n\n\
         | ranker on | AUC | gAUC | logloss |\n|---|---|---|---|\n{a}{b}\n\
         AUC difference: {diff:+.2} points (this encoder − {name}).\n",
        set = other.set.display(),
        ours_dir = ranker_dir.display(),
        theirs_dir = other.ranker_dir.display(),
        name = other.encoder_name,
        card = ranker_card.display(),
        a = row("this encoder", ours),
        b = row(&other.encoder_name, theirs),
        diff = 100.0 * (ours.auc - theirs.auc),
    )
}

fn model_card(
    manifest: &RankerManifest,
    exp: &Experiment,
    table: &str,
    notes: &[String],
    (models, compared_with): (&str, &str),
    seconds: u64,
) -> String {
    let c = &manifest.config;
    let e = &exp.config;
    let t = &manifest.training;
    format!(
        "Written by `privrank eval` (this section is its output; do not edit by hand). \
         Reproduce with `cargo run --features cli,wgpu -- {models}train` then \
         `cargo run --features cli,wgpu -- {models}eval{compared_with}`, after `bash scripts/setup`.\n\n\
         ## Results on the MovieLens-100k test split\n\n{table}\n\
         - AUC, gAUC (per user, impression-weighted, users with one class skipped) and logloss \
           are over the test impressions: every test rating (label 1 when ≥ 4 stars) plus {neg} \
           never-rated items per rating (label 0), seed {seed}.\n\
         - HR@{k} and NDCG@{k} rank the **full catalog**: for each user with a test click, every \
           item not interacted with before the test period; relevant = that user's test clicks.\n\
         - Baselines are tuned on the validation split; the test split is used once.\n\
         {notes}\
         - Evaluation took {seconds} s on this machine (including fitting the LR and DNN baselines).\n\n\
         ## Data and split\n\n\
         MovieLens-100k from RecBole's atomic files (`recbole==1.2.1`), data hash `{data_hash}`. \
         Per user, events ordered by time: last {test:.0}% test, the {valid:.0}% before validation, \
         the rest training. History for any impression = the user's events strictly earlier in time.\n\n\
         ## Model\n\n\
         DIN-style target attention: item embeddings from `{encoder}` (weights sha256 \
         `{encoder_hash}`) projected to {d} dims, plus a learned id vector per catalog item \
         ({items} items; 0 = content only) and an event-kind embedding (rating ≥ 4 = click, \
         else view); attention MLP over `[c, h, c*h, c-h, ln(1+days)]` → {ah} → 1, masked softmax \
         over the last {l} events; scoring MLP over `[c, interest, c*interest, {feats}]` → {mlp:?} \
         (ReLU, dropout {dropout}) → 1.\n\n\
         Training: Adam, batch {batch}, learning rate {lr}, early stopping on validation AUC; best \
         epoch {best_epoch}, validation AUC {best_auc}. Weights `{weights}` sha256 `{weights_hash}`.\n",
        neg = e.eval_negatives,
        seed = e.seed,
        k = e.k,
        notes = notes.iter().map(|n| format!("- {n}\n")).collect::<String>(),
        data_hash = exp.ml.data_hash,
        test = e.test_fraction * 100.0,
        valid = e.valid_fraction * 100.0,
        encoder = manifest.encoder.name,
        encoder_hash = manifest.encoder.model_hash,
        d = c.projection_dim,
        items = c.item_vocab,
        ah = c.attention_hidden,
        l = c.max_history,
        feats = c.candidate_features.join(", "),
        mlp = c.mlp,
        dropout = c.dropout,
        batch = t["batch_size"],
        lr = t["learning_rate"],
        best_epoch = t["best_epoch"],
        best_auc = t["best_valid_auc"],
        weights = manifest.weights.name,
        weights_hash = manifest.weights.sha256,
    )
}

/// A ranking request as the browser would make it, in one file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RankRequest {
    #[serde(default)]
    history: Vec<privrank::input::Value>,
    candidates: Vec<privrank::input::Value>,
    #[serde(default)]
    options: privrank::rank::RankOptions,
}

/// A file's bytes, or standard input's for `-`.
pub fn read_input(path: &Path) -> Result<Vec<u8>> {
    if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf)?;
        return Ok(buf);
    }
    Ok(std::fs::read(path).map_err(|e| privrank::Error::Io {
        context: format!("reading {}", path.display()),
        source: e,
    })?)
}

/// The given time (ms since the epoch), or the clock's.
pub fn now_or(given: Option<f64>) -> Result<f64> {
    match given {
        Some(now) => Ok(now),
        None => Ok(std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs_f64()
            * 1000.0),
    }
}

/// Check history events; an error names the event's position in the list.
pub fn parse_events(
    values: &[privrank::input::Value],
    now: f64,
) -> Result<Vec<privrank::history::Event>> {
    let mut events = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        match privrank::history::Event::parse(value, now) {
            Ok(e) => events.push(e),
            Err(privrank::Error::BadEvent(mut errors)) => {
                errors.iter_mut().for_each(|e| e.index = i);
                return Err(privrank::Error::BadEvent(errors).into());
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(events)
}

pub fn rank(
    args: &RankArgs,
    encoder: &SentenceEncoder,
    backend: &Backend,
    ranker_dir: &Path,
) -> Result<()> {
    use privrank::history::Event;
    let bytes = read_input(&args.request)?;
    let request: RankRequest = serde_json::from_slice(&bytes)
        .map_err(|e| privrank::Error::BadInput(format!("{}: {e}", args.request.display())))?;
    let manifest_path = ranker_dir.join(MANIFEST);
    let manifest = RankerManifest::from_json(
        &manifest_path.display().to_string(),
        &std::fs::read(&manifest_path).map_err(|e| privrank::Error::Io {
            context: format!("reading {}", manifest_path.display()),
            source: e,
        })?,
    )?;
    let weights_path = ranker_dir.join(&manifest.weights.name);
    let weights = std::fs::read(&weights_path).map_err(|e| privrank::Error::Io {
        context: format!("reading {}", weights_path.display()),
        source: e,
    })?;
    let ranker = Ranker::load(&manifest, &weights, encoder.model_hash(), &backend.device)?;
    let config = &manifest.config;
    let now = now_or(request.options.now)?;
    let events = parse_events(&request.history, now)?;
    let recent: Vec<Event> = privrank::history::recent(&events, config.max_history)
        .into_iter()
        .cloned()
        .collect();
    let candidates = privrank::candidates::parse(
        &request.candidates,
        config,
        privrank::candidates::DEFAULT_MAX_CANDIDATES,
    )?;
    let mut texts: Vec<String> = recent.iter().map(Event::text).collect();
    texts.extend(candidates.iter().map(|c| c.text()));
    texts.extend(candidates.iter().flat_map(|c| c.creative_texts()));
    let mut embedded = encoder.embed(&texts)?.into_iter();
    let history: Vec<_> = recent.into_iter().zip(embedded.by_ref()).collect();
    let candidates: Vec<_> = candidates.into_iter().zip(embedded.by_ref()).collect();
    let creatives = privrank::rank::split_creatives(&candidates, embedded);
    let ranked = privrank::rank::forward(
        &ranker,
        config,
        &backend.device,
        &history,
        &candidates,
        &creatives,
        &privrank::policy::impressions(&events),
        request.options,
        now,
    )?
    .finish_blocking()?;
    println!("{}", serde_json::to_string_pretty(&ranked)?);
    Ok(())
}
