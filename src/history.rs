//! What the device remembers about the shopper. Kept as small as the ranker needs:
//! the kind of event (its strength as a signal) and when it happened.

use serde::{Deserialize, Serialize};

/// Event kinds, ordered from weakest to strongest signal. The ranker learns one
/// embedding per kind, so the order here is part of the model format: append only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    View,
    Click,
    Cart,
    Purchase,
    Search,
}

impl EventKind {
    pub const ALL: [EventKind; 5] = [
        EventKind::View,
        EventKind::Click,
        EventKind::Cart,
        EventKind::Purchase,
        EventKind::Search,
    ];

    /// Row of the ranker's kind embedding.
    pub fn index(self) -> usize {
        self as usize
    }
}
