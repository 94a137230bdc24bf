//! Public datasets the ranker is trained and judged on. Loaders report malformed rows
//! as `file:line: column`, and every dataset carries the hash of the bytes it was read
//! from, so a trained model can name its data. Files are read natively only; the
//! MovieLens parser and the demo's ad server also build for wasm32, so the npm package
//! writes the demo's data without a native build (`scripts/demo-data.mjs`). A shopper's
//! device never sees these datasets.

#[cfg(not(target_arch = "wasm32"))]
pub mod cedict;
pub mod demo;
pub mod movielens;
#[cfg(not(target_arch = "wasm32"))]
pub mod obd;
#[cfg(not(target_arch = "wasm32"))]
pub mod split;
#[cfg(not(target_arch = "wasm32"))]
pub mod wordnet;

pub use movielens::{CANDIDATE_FEATURES, Item, MovieLens, Rating};
#[cfg(not(target_arch = "wasm32"))]
pub use obd::OpenBandit;
#[cfg(not(target_arch = "wasm32"))]
pub use split::{Impression, Part, Split};
#[cfg(not(target_arch = "wasm32"))]
pub use wordnet::WordNet;

#[cfg(not(target_arch = "wasm32"))]
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// `.cache/data/<name>/` (or under `$PRIVRANK_CACHE`), where `scripts/setup` puts the
/// fetched files; relative to the working directory, like the CLI's other defaults.
#[cfg(not(target_arch = "wasm32"))]
pub fn default_data_dir(name: &str) -> PathBuf {
    let cache = std::env::var_os("PRIVRANK_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("data").join(name)
}

#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::MissingFile {
        path: path.to_owned(),
        reason: format!("{e} (run `bash scripts/setup` to fetch the datasets)"),
    })
}

/// One field of one row, parsed with an error that points at it.
#[derive(Clone, Copy)]
pub(crate) struct Field<'a> {
    pub file: &'a str,
    pub line: usize,
    pub column: &'a str,
    pub value: &'a str,
}

impl Field<'_> {
    pub fn parse<T: std::str::FromStr>(&self) -> Result<T>
    where
        T::Err: std::fmt::Display,
    {
        self.value
            .trim()
            .parse::<T>()
            .map_err(|e| self.error(format!("{e}: {:?}", self.value)))
    }

    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::BadData {
            file: self.file.to_owned(),
            line: self.line,
            column: self.column.to_owned(),
            reason: reason.into(),
        }
    }
}
