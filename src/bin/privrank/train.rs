//! `privrank train`: the model set's ranker on MovieLens-100k.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use privrank::config::{EncoderRef, FileSpec};
use privrank::data::CANDIDATE_FEATURES;
use privrank::eval::{Experiment, ExperimentConfig, content_prior};
use privrank::ranker::train::{ClickModel, Examples, FitProgress, FitReport, TrainConfig, fit};
use privrank::ranker::{MANIFEST, Ranker, WEIGHTS};
use privrank::weights::sha256_hex;
use privrank::{Backend, RankerConfig, RankerManifest, SentenceEncoder};

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
    /// Never-rated films drawn uniformly per training rating as negatives.
    #[arg(long, default_value_t = ExperimentConfig::default().train_negatives)]
    pub negatives: usize,
    /// Never-rated films drawn by popularity per training rating as negatives.
    #[arg(long, default_value_t = ExperimentConfig::default().train_popular_negatives)]
    pub popular_negatives: usize,
    /// Also train on ratings below 4 stars as negatives (by default they are left
    /// out: training tells the films a user took and liked from those they did not
    /// take, which is what a device's click is).
    #[arg(long)]
    pub low_ratings: bool,
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
    /// Most recent events the ranker attends over (default:
    /// `RankerConfig::max_history`'s).
    #[arg(long)]
    pub max_history: Option<usize>,
    /// Share of training impressions whose candidate comes without its `related`
    /// list (as a storefront without an ad server's statistics sends it).
    #[arg(long, default_value_t = TrainConfig::default().drop_related)]
    pub drop_related: f64,
    /// Share of training impressions whose candidate comes without its features.
    #[arg(long, default_value_t = TrainConfig::default().drop_features)]
    pub drop_features: f64,
}

impl TrainArgs {
    pub fn train_config(&self) -> TrainConfig {
        TrainConfig {
            max_epochs: self.max_epochs,
            patience: self.patience,
            learning_rate: self.learning_rate,
            seed: self.data.seed,
            drop_related: self.drop_related,
            drop_features: self.drop_features,
            ..TrainConfig::default()
        }
    }

    /// The architecture: `RankerConfig`'s defaults, this encoder's width, the
    /// training data's features.
    pub fn ranker_config(&self, embedding_dim: usize) -> RankerConfig {
        let config = RankerConfig::new(
            embedding_dim,
            CANDIDATE_FEATURES.map(str::to_owned).to_vec(),
        );
        match self.max_history {
            Some(n) => config.with_max_history(n),
            None => config,
        }
    }
}

pub fn bar(len: u64, template: &str) -> ProgressBar {
    ProgressBar::new(len)
        .with_style(ProgressStyle::with_template(template).expect("static template"))
}

/// The experiment (data, split, impressions, item embeddings), with progress.
pub fn experiment(args: &DataArgs, encoder: &SentenceEncoder) -> Result<Experiment> {
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| privrank::data::default_data_dir("ml-100k"));
    let progress = bar(0, "embedding item titles {pos}/{len} {bar:30} {elapsed}");
    let exp = Experiment::load(
        ExperimentConfig {
            seed: args.seed,
            train_negatives: args.negatives,
            train_popular_negatives: args.popular_negatives,
            train_low_ratings: args.low_ratings,
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

/// Fit a click model with a progress bar and one line per epoch on stderr.
pub fn fit_logged<M: ClickModel>(
    label: &str,
    model: M,
    examples: &Examples<'_>,
    exp: &Experiment,
    config: &TrainConfig,
    backend: &Backend,
) -> Result<(M, FitReport)> {
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
    let config = args.ranker_config(encoder.dim());
    let train_config = args.train_config();
    let device = backend.device.clone().autodiff();
    device.seed(args.data.seed);
    let examples = exp.examples(&config);
    let (ranker, report) = fit_logged(
        "privrank",
        config.init(&device),
        &examples,
        &exp,
        &train_config,
        backend,
    )?;
    // From here on the ranker is the file that ships (int8 matrices), read back.
    let weights = ranker.valid().to_safetensors()?;
    let ranker = Ranker::from_safetensors(&config, &weights, WEIGHTS, &backend.device)?;
    let ctx = exp.context();
    eprintln!(
        "privrank: choosing the content prior's weight on validation data ({} weights)",
        content_prior::GRID.len()
    );
    let model = privrank::rank::Model {
        ranker: &ranker,
        config: &config,
        device: &backend.device,
        encoder: encoder.model_hash(),
    };
    let choice = content_prior::choose(&exp, &ctx, model, args.data.seed, |t| {
        eprintln!("privrank: {t}")
    })?;
    eprintln!(
        "privrank: content weight {} (content cosine's share on the same sessions {:.3})",
        choice.weight, choice.cosine_share
    );
    let config = RankerConfig {
        content_weight: choice.weight,
        ..config
    };
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
            bytes: Some(weights.len() as u64),
        },
        training: serde_json::json!({
            "data": "MovieLens-100k (recbole==1.2.1)",
            "data_hash": exp.ml.data_hash,
            "experiment": exp.config,
            "events": "stars 1-2 view, 3 click, 4 cart, 5 purchase (EventKind::from_stars); search reads the view row",
            "optimizer": "Adam",
            "learning_rate": train_config.learning_rate,
            "drop_related": train_config.drop_related,
            "drop_features": train_config.drop_features,
            "batch_size": train_config.batch_size,
            "seed": train_config.seed,
            "epochs": report.epochs,
            "best_epoch": report.best_epoch,
            "best_valid_auc": report.best_valid_auc,
            "content_prior": choice,
            "seconds": started.elapsed().as_secs(),
        }),
    };
    std::fs::create_dir_all(dir)?;
    // Weights first, then the manifest that names their hash: a run stopped between
    // the two leaves a folder that refuses to load, not a mismatched pair that loads.
    crate::card::replace_file(&dir.join(WEIGHTS), &weights)?;
    crate::card::replace_file(
        &dir.join(MANIFEST),
        (serde_json::to_string_pretty(&manifest)? + "\n").as_bytes(),
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
