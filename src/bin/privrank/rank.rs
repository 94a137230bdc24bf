//! `privrank rank`: one ranking request from a file, through the library's request.

use std::path::{Path, PathBuf};

use clap::Args;
use privrank::history::Event;
use privrank::input::Value;
use privrank::rank::{self, RankOptions};
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

/// A ranking request as the browser would make it, in one file.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RankRequest {
    #[serde(default)]
    history: Vec<Value>,
    candidates: Vec<Value>,
    #[serde(default)]
    options: RankOptions,
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
pub fn parse_events(values: &[Value], now: f64) -> Result<Vec<Event>> {
    let mut events = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        match Event::parse(value, now) {
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
    let bytes = read_input(&args.request)?;
    let request: RankRequest = serde_json::from_slice(&bytes)
        .map_err(|e| privrank::Error::BadInput(format!("{}: {e}", args.request.display())))?;
    let (manifest, ranker) = Ranker::read(ranker_dir, encoder.model_hash(), &backend.device)?;
    let config = &manifest.config;
    let clock = now_or(None)?;
    let events = parse_events(&request.history, request.options.now.unwrap_or(clock))?;
    let candidates = privrank::candidates::parse(
        &request.candidates,
        config,
        privrank::candidates::DEFAULT_MAX_CANDIDATES,
    )?;
    let ranked = rank::rank_blocking(
        rank::Model {
            ranker: &ranker,
            config,
            device: &backend.device,
            encoder: encoder.model_hash(),
        },
        rank::Request {
            events: &events,
            candidates: &candidates,
            options: &request.options,
            clock_ms: clock,
        },
        encoder,
    )?;
    println!("{}", serde_json::to_string_pretty(&ranked)?);
    Ok(())
}
