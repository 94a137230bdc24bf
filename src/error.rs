use std::path::PathBuf;

/// Everything that can go wrong with input the library does not control: files,
/// model bytes, text, devices. Each variant names what was wrong so the message
/// alone is enough to fix it; none of these paths panic.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("missing file {path}: {reason}")]
    MissingFile { path: PathBuf, reason: String },

    #[error("hash mismatch for {file}: expected sha256 {expected}, found {actual}")]
    HashMismatch {
        file: String,
        expected: String,
        actual: String,
    },

    #[error("shape mismatch for tensor `{tensor}`: expected {expected:?}, found {found:?}")]
    ShapeMismatch {
        tensor: String,
        expected: Vec<usize>,
        found: Vec<usize>,
    },

    #[error("tensor `{tensor}` is missing from {file}")]
    MissingTensor { tensor: String, file: String },

    #[error("tensor `{tensor}` has dtype {found}, expected {expected}")]
    BadDtype {
        tensor: String,
        expected: String,
        found: String,
    },

    #[error("bad weights file {file}: {reason}")]
    BadWeights { file: String, reason: String },

    #[error("bad manifest or config {file}: {reason}")]
    BadManifest { file: String, reason: String },

    #[error("bad tokenizer: {0}")]
    BadTokenizer(String),

    #[error("empty batch: at least one text is needed")]
    EmptyBatch,

    #[error("backend unavailable: {0}")]
    BackendUnavailable(String),

    #[error("tensor read-back failed: {0}")]
    ReadBack(String),

    #[error("{file}:{line}: column `{column}`: {reason}")]
    BadData {
        file: String,
        line: usize,
        column: String,
        reason: String,
    },

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("ranker {file} does not fit: {reason}")]
    RankerMismatch { file: String, reason: String },

    #[error("bad input: {0}")]
    BadInput(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
