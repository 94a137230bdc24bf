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

    /// A GGUF model file privrank cannot read: truncated, another format or version,
    /// a tensor type without a dequantiser, or metadata the architecture needs missing.
    #[error("bad GGUF file {file}: {reason}")]
    BadGguf { file: String, reason: String },

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

    #[error("{} bad candidate field(s): {}", .0.len(), FieldError::list(.0))]
    BadCandidate(Vec<FieldError>),

    #[error("bad event: {}", FieldError::list(.0))]
    BadEvent(Vec<FieldError>),

    #[error("{count} {what} is more than the limit of {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },

    #[error(
        "candidate {index} was embedded by encoder {theirs}, but this ranker reads encoder \
         {ours}'s embeddings: re-embed it with that encoder, or rank with \
         onEncoderMismatch: 'embed' to embed it on the device"
    )]
    EncoderMismatch {
        index: usize,
        theirs: String,
        ours: String,
    },

    #[error("bad options: {0}")]
    BadOptions(String),

    #[error(
        "the privacy budget is spent: {spent} of the {total} ε a rolling day allows used, a \
         report needs {asked} more"
    )]
    BudgetSpent { spent: f64, total: f64, asked: f64 },

    #[error("experiment limit: {0}")]
    ArmLimit(String),

    #[error(
        "report not sent to {url}: {reason} (its ε is spent all the same: a report that \
         may have left the device counts)"
    )]
    ReportNotSent { url: String, reason: String },

    #[error("could not fetch model file {url}: {reason}")]
    Fetch { url: String, reason: String },

    #[error("storage quota exceeded: {0} (stored history is unchanged)")]
    StorageQuota(String),

    #[error("on-device storage failed: {0}")]
    Storage(String),

    /// A panic reached the wasm boundary (a bug): the instance is closed.
    #[error("internal error: {0}")]
    Internal(String),
}

/// One invalid field of one input record; all of them are reported at once so the
/// caller can fix a whole batch in one go.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct FieldError {
    /// Position in the input list (0 for a single record).
    pub index: usize,
    pub field: String,
    pub reason: String,
}

impl FieldError {
    fn list(errors: &[FieldError]) -> String {
        let shown: Vec<String> = errors
            .iter()
            .take(10)
            .map(|e| format!("[{}].{}: {}", e.index, e.field, e.reason))
            .collect();
        let more = errors.len().saturating_sub(shown.len());
        if more > 0 {
            format!("{} (and {more} more)", shown.join("; "))
        } else {
            shown.join("; ")
        }
    }
}

impl Error {
    /// A stable name for the kind of failure: JavaScript callers branch on it
    /// (`err.code`) and the CLI prints it, so these strings are part of the API.
    pub fn code(&self) -> &'static str {
        match self {
            Error::HashMismatch { .. } => "ModelHashMismatch",
            Error::MissingFile { .. } | Error::Fetch { .. } => "ModelFetch",
            Error::ShapeMismatch { .. }
            | Error::MissingTensor { .. }
            | Error::BadDtype { .. }
            | Error::BadWeights { .. }
            | Error::BadGguf { .. }
            | Error::BadManifest { .. }
            | Error::BadTokenizer(_) => "BadModel",
            Error::RankerMismatch { .. } => "ModelMismatch",
            Error::BackendUnavailable(_) => "BackendUnavailable",
            Error::ReadBack(_) => "BackendError",
            Error::BadCandidate(_) => "BadCandidate",
            Error::BadEvent(_) => "BadEvent",
            Error::TooMany {
                what: "candidates", ..
            } => "TooManyCandidates",
            Error::TooMany { .. } => "TooManyInputs",
            Error::BadOptions(_) => "BadOptions",
            Error::EncoderMismatch { .. } => "EncoderMismatch",
            Error::BudgetSpent { .. } => "PrivacyBudgetSpent",
            Error::ArmLimit(_) => "ArmLimit",
            Error::ReportNotSent { .. } => "ReportNotSent",
            Error::EmptyBatch | Error::BadInput(_) => "BadInput",
            Error::BadData { .. } => "BadData",
            Error::Io { .. } => "Io",
            Error::StorageQuota(_) => "StorageQuota",
            Error::Storage(_) => "StorageError",
            Error::Internal(_) => "Internal",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
