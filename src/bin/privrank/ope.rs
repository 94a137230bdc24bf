//! `privrank ope`: off-policy evaluation of privrank's exploring policy on the Open
//! Bandit Dataset sample; prints the table and writes it into the model card.

use std::path::PathBuf;

use clap::Args;
use privrank::data::{OpenBandit, default_data_dir};
use privrank::eval::ope;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The model card's section, replaced on each run.

#[derive(Args)]
pub struct OpeArgs {
    /// Open Bandit Dataset folder (default: the set-up script's cache).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// `all`, `men` or `women`.
    #[arg(long, default_value = "all")]
    pub campaign: String,
    /// Exploration rate of the evaluated policy.
    #[arg(long, default_value_t = 0.1)]
    pub epsilon: f64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Model card to write the table into (`-` to only print); default: the default
    /// model set's ranker card.
    #[arg(long, default_value = "models/student/ranker/MODEL_CARD.md")]
    pub model_card: PathBuf,
}

pub fn ope(args: &OpeArgs) -> Result<()> {
    let dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| default_data_dir("obd"));
    let train = OpenBandit::load(&dir, "bts", &args.campaign)?;
    let eval = OpenBandit::load(&dir, "random", &args.campaign)?;
    eprintln!(
        "privrank: fitting on {} bts impressions, evaluating on {} random impressions",
        train.impressions.len(),
        eval.impressions.len()
    );
    let report = ope::evaluate(&train, &eval, args.epsilon, args.seed)?;
    let table = report.markdown();
    println!("{table}");
    if args.model_card.as_os_str() != "-" {
        let section = format!(
            "## Off-policy evaluation (Open Bandit Dataset)\n\n{table}\n\
             IPS reweights the random log's clicks by π(a|x) / p(a|x); SNIPS divides by the \
             sum of weights (less variance, slightly biased); doubly robust adds the click \
             model's prediction for the whole policy and corrects it with weighted residuals. \
             Intervals are 95 % normal intervals over rounds. Position CTRs on the random log \
             show the position bias a slot-aware policy must account for. Written by \
             `privrank ope`.\n"
        );
        crate::card::write_section(
            &args.model_card,
            "# privrank ranker — model card\n",
            "ope",
            &section,
        )?;
        eprintln!(
            "privrank: wrote the table into {}",
            args.model_card.display()
        );
    }
    Ok(())
}
