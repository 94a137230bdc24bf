//! The package's own model set, pinned. The manifests name every file with its
//! SHA-256, so the manifests are what a tampered or broken server would change: the
//! package carries the ones it was built with, and a load of its default set
//! (no `modelUrl`) refuses any other, cached or downloaded. A page that names its
//! own `modelUrl` is trusted with its own manifests. `tests/model_files.rs` holds
//! these paths to what `models/default.json` names.

/// `models/default.json`'s encoder manifest.
pub const ENCODER_MANIFEST: &[u8] = include_bytes!("../../models/student/student.json");
/// `models/default.json`'s ranker manifest.
pub const RANKER_MANIFEST: &[u8] = include_bytes!("../../models/student/ranker/ranker.json");
