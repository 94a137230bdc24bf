//! `privrank bilingual-check`: shoppers who browse in one language, ranked against
//! products in the other, in their own, and in both, through the device's request on
//! the selected model set. Only the encoder can tell that 跑步鞋 and "Running shoes"
//! are one category: categories are matched by the check, never sent across.

use std::path::{Path, PathBuf};

use clap::Args;
use privrank::eval::focused::{self, Check, Storefront};
use privrank::rank::Model;
use privrank::{Backend, SentenceEncoder};

use crate::card;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Args)]
pub struct BilingualCheckArgs {
    /// The English catalog (also the eval's storefront check).
    #[arg(long, default_value = "data/storefront.json")]
    pub english: PathBuf,
    /// The Chinese catalog: the same categories, each with its `local_name`.
    #[arg(long, default_value = "data/storefront-zh.json")]
    pub chinese: PathBuf,
    /// Seeds the sessions, as `privrank eval --seed` does.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Also write the table as a section of this model card, named after the
    /// encoder; `-` only prints.
    #[arg(long, default_value = "-")]
    pub model_card: PathBuf,
}

fn read(path: &Path) -> Result<Storefront> {
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))?)
}

pub fn bilingual_check(
    args: &BilingualCheckArgs,
    encoder: &SentenceEncoder,
    backend: &Backend,
    ranker_dir: &Path,
    encoder_name: &str,
) -> Result<()> {
    let en = read(&args.english)?;
    let zh = read(&args.chinese)?;
    let (manifest, ranker) =
        privrank::Ranker::read(ranker_dir, encoder.model_hash(), &backend.device)?;
    let model = Model {
        ranker: &ranker,
        config: &manifest.config,
        device: &backend.device,
        encoder: encoder.model_hash(),
    };
    let config = &manifest.config;
    let checks: [(&str, Check); 5] = [
        (
            "Chinese → English products",
            focused::across(&zh, &[&en], config, args.seed)?,
        ),
        (
            "Chinese → Chinese products",
            focused::across(&zh, &[&zh], config, args.seed)?,
        ),
        (
            "Chinese → both",
            focused::across(&zh, &[&en, &zh], config, args.seed)?,
        ),
        (
            "English → Chinese products",
            focused::across(&en, &[&zh], config, args.seed)?,
        ),
        (
            "English → English products",
            focused::across(&en, &[&en], config, args.seed)?,
        ),
    ];
    let mut s = format!(
        "`privrank --models <set> bilingual-check` on encoder `{encoder_name}` (weights sha256 \
         `{}`) and its ranker: {} and {}, {} sessions of {} views per category, ranked through \
         the device's request (top {}); in-label share of the top, by chance {:.3} (one \
         category of {}). Events and candidates carry their own language's category name \
         (跑步鞋, Running shoes): a focused history turns on the content prior, which adds \
         the encoder's cosine and the category-tag match, and tags match only within a \
         language, so across languages only the encoder can lift the category. With no \
         categories on the wire there is no focus and no prior: the MovieLens-trained model \
         orders alone. Content cosine (mean history embedding) is the encoder by itself.\n\n\
         | sessions → candidates | candidates | privrank | privrank, no categories on the wire | content cosine | empty history |\n\
         |---|---|---|---|---|---|\n",
        encoder.model_hash(),
        args.english.display(),
        args.chinese.display(),
        focused::SESSIONS,
        focused::STOREFRONT_EVENTS,
        checks[0].1.top,
        1.0 / en.categories.len() as f64,
        en.categories.len(),
    );
    for (name, check) in &checks {
        let r = check.run(model, encoder)?;
        let bare = check.without_categories().run(model, encoder)?;
        s.push_str(&format!(
            "| {name} | {} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
            r.candidates,
            r.outcomes[0].in_label_share,
            bare.outcomes[0].in_label_share,
            r.outcomes[1].in_label_share,
            r.outcomes[2].in_label_share
        ));
    }
    // One session in full: what a Chinese shopper's device would show from both
    // catalogs, deep enough to hold the category's products in both languages.
    let [_, _, (_, mut both), ..] = checks;
    both.top = 2 * focused::STOREFRONT_CANDIDATES;
    let both = &both;
    let session = &both.sessions[0];
    s.push_str(&format!(
        "\nExample: the first `{}` session of \"Chinese → both\". Viewed: {}. Top {}:\n\n",
        session.label,
        session
            .events
            .iter()
            .map(|e| e.title.as_str())
            .collect::<Vec<_>>()
            .join(" · "),
        both.top
    ));
    for (k, r) in both
        .ranked(model, encoder, &session.events)?
        .iter()
        .enumerate()
    {
        let c = both
            .candidates
            .iter()
            .find(|c| c.id == r.id)
            .ok_or("a ranked id is not a candidate")?;
        s.push_str(&format!(
            "{}. {} ({}), click probability {:.4}\n",
            k + 1,
            c.title,
            c.category.as_deref().unwrap_or("-"),
            r.ctr
        ));
    }
    print!("{s}");
    if args.model_card.as_os_str() != "-" {
        card::write_section(
            &args.model_card,
            "# model card\n",
            &format!("bilingual-check {encoder_name}"),
            &s,
        )?;
        eprintln!(
            "privrank: wrote its section of {}",
            args.model_card.display()
        );
    }
    Ok(())
}
