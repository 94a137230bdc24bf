//! `privrank eval`: the served ranker against the seeds' baselines on the same test
//! split, and the focused-session check; writes the ranker's model card.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::Module;
use clap::Args;
use privrank::eval::baselines::{ContentCosine, ItemCf, LogReg, Popularity, UserCf};
use privrank::eval::content_prior;
use privrank::eval::focused::{self, Half, Storefront};
use privrank::eval::served::{Requests, Served};
use privrank::eval::{Context, Experiment, Neural, Row, Scorer, auc_on, evaluate, markdown_table};
use privrank::rank::Model;
use privrank::ranker::train::TrainConfig;
use privrank::{Backend, Ranker, RankerManifest, SentenceEncoder};

use crate::eval_card::{self, CardInputs};
use crate::train::{TrainArgs, bar, experiment, fit_logged};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub train: TrainArgs,
    /// Also score another model set's ranker (e.g. models/teacher.json) on its own
    /// encoder's embeddings, on the same split, as one more row; when this encoder is
    /// a committed model with a MODEL_CARD.md, the two rows go into that card too.
    #[arg(long)]
    pub compare_with: Option<PathBuf>,
    /// The storefront catalog of the cross-domain focused sessions.
    #[arg(long, default_value = "data/storefront.json")]
    pub storefront: PathBuf,
    /// Only the served ranker's validation AUC and the focused sessions drawn from
    /// the development half: for comparing training settings without looking at the
    /// test split or the reported sessions. Writes no card.
    #[arg(long)]
    pub quick: bool,
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

/// Pick the variant with the best validation AUC.
fn tuned<S: Scorer>(
    variants: Vec<S>,
    exp: &Experiment,
    ctx: &Context<'_>,
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
fn evaluate_logged(scorer: &dyn Scorer, exp: &Experiment, ctx: &Context<'_>) -> Result<Row> {
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

/// The ranker must have been trained on this experiment (same data, split,
/// negatives and neighbour lists), or its scores mean something else.
fn check_trained_on(manifest: &RankerManifest, exp: &Experiment, dir: &Path) -> Result<()> {
    let want = serde_json::to_value(&exp.config)?;
    if manifest.training.get("experiment") != Some(&want) {
        return Err(format!(
            "the ranker in {} was trained with other experiment settings than {:?}: retrain it (`privrank train`)",
            dir.display(),
            exp.config
        )
        .into());
    }
    Ok(())
}

/// The privrank row of the other set, on the same test impressions as `exp`.
fn compare_row(
    other: &Comparison,
    args: &TrainArgs,
    exp: &Experiment,
    backend: &Backend,
) -> Result<Row> {
    let (manifest, ranker) = Ranker::read(
        &other.ranker_dir,
        other.encoder.model_hash(),
        &backend.device,
    )?;
    let theirs = experiment(&args.data, &other.encoder)?;
    if theirs.test != exp.test || theirs.train != exp.train {
        return Err(format!(
            "{} was evaluated on another split: the comparison needs the same data and seed",
            other.set.display()
        )
        .into());
    }
    check_trained_on(&manifest, &theirs, &other.ranker_dir)?;
    let requests = Requests::new(&theirs, &manifest.config)?;
    evaluate_logged(
        &Served {
            name: format!(
                "privrank on {} embeddings (`--models {}`)",
                other.encoder_name,
                other.set.display()
            ),
            model: Model {
                ranker: &ranker,
                config: &manifest.config,
                device: &backend.device,
                encoder: &manifest.encoder.model_hash,
            },
            requests: &requests,
        },
        &theirs,
        &theirs.context(),
    )
}

/// `eval --quick`: for each content weight `train` tries, validation AUC through
/// the served request and the focused sessions of the development half.
fn quick(
    exp: &Experiment,
    ctx: &Context<'_>,
    manifest: &RankerManifest,
    ranker: &Ranker,
    backend: &Backend,
    seed: u64,
) -> Result<()> {
    let config = &manifest.config;
    // The same trials `train` chooses the content weight from: settings compared
    // here are judged as they would ship.
    let model = Model {
        ranker,
        config,
        device: &backend.device,
        encoder: &manifest.encoder.model_hash,
    };
    let choice = content_prior::choose(exp, ctx, model, seed, |t| {
        let ours = t.weight == config.content_weight;
        println!("{t}{}", if ours { " (this manifest's)" } else { "" })
    })?;
    println!(
        "content cosine on the same sessions: top-3 share {:.3}; the rule picks weight {}",
        choice.cosine_share, choice.weight
    );
    Ok(())
}

/// `models`: the model set named on the command line, repeated in the card's
/// reproduce line.
pub fn eval(
    args: &EvalArgs,
    encoder: &SentenceEncoder,
    backend: &Backend,
    ranker_dir: &Path,
    models: &Path,
    compare: Option<&Comparison>,
    encoder_card: Option<&Path>,
) -> Result<()> {
    let started = Instant::now();
    let train_args = &args.train;
    let (manifest, ranker) = Ranker::read(ranker_dir, encoder.model_hash(), &backend.device)?;
    let storefront: Storefront = serde_json::from_slice(
        &std::fs::read(&args.storefront)
            .map_err(|e| format!("cannot read {}: {e}", args.storefront.display()))?,
    )
    .map_err(|e| format!("{}: {e}", args.storefront.display()))?;
    let exp = experiment(&train_args.data, encoder)?;
    check_trained_on(&manifest, &exp, ranker_dir)?;
    let ctx = exp.context();
    if args.quick {
        return quick(
            &exp,
            &ctx,
            &manifest,
            &ranker,
            backend,
            train_args.data.seed,
        );
    }
    let mut rows: Vec<Row> = Vec::new();
    let mut notes = Vec::new();
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
    let examples = exp.examples(config);
    let plain = backend.device.clone();
    let table = examples.table(&plain)?;
    let train_config = train_args.train_config();
    let autodiff = plain.clone().autodiff();
    autodiff.seed(train_args.data.seed);
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
            table,
            device: plain.clone(),
        },
        &mut rows,
    )?;
    let requests = Requests::new(&exp, config)?;
    let dnn_config = config.clone().with_attention(false);
    let (dnn, _) = fit_logged(
        "DNN 128-64-1",
        dnn_config.init(&autodiff),
        &examples,
        &exp,
        &train_config,
        backend,
    )?;
    let dnn = dnn.valid();
    run(
        &Served {
            name: "DNN 128-64-1 (privrank without attention: mean history)".into(),
            model: Model {
                ranker: &dnn,
                config: &dnn_config,
                device: &plain,
                encoder: &manifest.encoder.model_hash,
            },
            requests: &requests,
        },
        &mut rows,
    )?;
    let served = Model {
        ranker: &ranker,
        config,
        device: &plain,
        encoder: &manifest.encoder.model_hash,
    };
    run(
        &Served {
            name: "privrank".into(),
            model: served,
            requests: &requests,
        },
        &mut rows,
    )?;

    eprintln!("privrank: focused sessions");
    let genres = focused::movielens(&exp.ml, config, Half::Report, train_args.data.seed)?
        .run(served, &requests.embeddings)?;
    let shop_check = focused::storefront(&storefront, config, train_args.data.seed)?;
    let mut shop = shop_check.run(served, encoder)?;
    let bare = shop_check.without_categories().run(served, encoder)?;
    shop.outcomes.push(focused::Outcome {
        order: "privrank, no categories on the wire (texts without them, no focus, so no prior)"
            .into(),
        in_label_share: bare.outcomes[0].in_label_share,
    });
    for (name, report) in [("MovieLens genres", &genres), ("storefront", &shop)] {
        for o in &report.outcomes {
            eprintln!(
                "{name}: {} in-label share of top {} {:.3}",
                o.order, report.top, o.in_label_share
            );
        }
    }

    let ours = rows.last().cloned().ok_or("no rows")?;
    let compared = match compare {
        Some(other) => {
            let row = compare_row(other, train_args, &exp, backend)?;
            rows.push(row.clone());
            Some((other, row))
        }
        None => None,
    };
    let table = markdown_table(&rows, exp.config.k);
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
    let card = eval_card::model_card(&CardInputs {
        manifest: &manifest,
        exp: &exp,
        table: &table,
        notes: &notes,
        models: &models,
        compared_with: &compared_with,
        genres: &genres,
        storefront: &shop,
        storefront_path: &args.storefront,
        seconds: started.elapsed().as_secs(),
    });
    let path = ranker_dir.join(privrank::ranker::MODEL_CARD);
    crate::card::write_section(&path, "# privrank ranker — model card\n", "eval", &card)?;
    if let (Some((other, theirs)), Some(card)) = (compared, encoder_card) {
        let section = eval_card::ranker_comparison(&ours, other, &theirs, ranker_dir, &path);
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
