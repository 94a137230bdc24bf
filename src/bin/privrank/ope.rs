//! `privrank ope`: off-policy evaluation of privrank's exploring policy on the Open
//! Bandit Dataset sample; prints the table and writes it into the model card.

use std::path::PathBuf;

use clap::Args;
use privrank::data::{OpenBandit, default_data_dir};
use privrank::eval::ope;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The model card's section, replaced on each run.
const BEGIN: &str = "<!-- privrank ope: begin -->";
const END: &str = "<!-- privrank ope: end -->";

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
    /// Model card to write the table into (`-` to only print).
    #[arg(long, default_value = "models/ranker/MODEL_CARD.md")]
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
        let card = std::fs::read_to_string(&args.model_card).unwrap_or_default();
        let section = format!(
            "{BEGIN}\n## Off-policy evaluation (Open Bandit Dataset)\n\n{table}\n\
             IPS reweights the random log's clicks by π(a|x) / p(a|x); SNIPS divides by the \
             sum of weights (less variance, slightly biased); doubly robust adds the click \
             model's prediction for the whole policy and corrects it with weighted residuals. \
             Intervals are 95 % normal intervals over rounds. Position CTRs on the random log \
             show the position bias a slot-aware policy must account for. Written by \
             `privrank ope`.\n{END}\n"
        );
        let updated = match (card.find(BEGIN), card.find(END)) {
            (Some(b), Some(e)) if e > b => format!(
                "{}{section}{}",
                &card[..b],
                &card[e + END.len()..].trim_start_matches('\n')
            ),
            _ => format!("{card}\n{section}"),
        };
        std::fs::write(&args.model_card, updated)?;
        eprintln!(
            "privrank: wrote the table into {}",
            args.model_card.display()
        );
    }
    Ok(())
}
