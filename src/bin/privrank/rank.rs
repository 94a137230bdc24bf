//! `privrank rank`: one ranking request from a file, through the library's request.

use std::path::{Path, PathBuf};

use clap::Args;
use privrank::rank::{self, RequestFile};
use privrank::{Backend, Ranker, SentenceEncoder};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

#[derive(Args, Clone)]
pub struct RankArgs {
    /// The request: `{"history": [...], "candidates": [...], "options": {...}}`.
    pub request: PathBuf,
    /// The ranker's folder; default: the model set's (`--models`).
    #[arg(long)]
    pub ranker_dir: Option<PathBuf>,
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

pub fn rank(
    args: &RankArgs,
    encoder: &SentenceEncoder,
    backend: &Backend,
    ranker_dir: &Path,
) -> Result<()> {
    let bytes = read_input(&args.request)?;
    let (manifest, ranker) = Ranker::read(ranker_dir, encoder.model_hash(), &backend.device)?;
    let config = &manifest.config;
    let request = RequestFile::from_json(
        &args.request.display().to_string(),
        &bytes,
        config,
        now_or(None)?,
    )?;
    let ranked = rank::rank_blocking(
        rank::Model {
            ranker: &ranker,
            config,
            device: &backend.device,
            encoder: encoder.model_hash(),
        },
        request.request(),
        encoder,
    )?;
    println!("{}", serde_json::to_string_pretty(&ranked)?);
    Ok(())
}
