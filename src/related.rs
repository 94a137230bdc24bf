//! Item-to-item neighbours (seeds 001 and 003: item-based collaborative filtering).
//! The ad server computes them from aggregate co-occurrence — which items the same
//! shoppers took — and sends each candidate with its list, `related: [{itemId,
//! weight}]`. The device matches the list against its own history's item ids, so the
//! collaborative signal reaches the ranker without any history leaving the device.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::history::{DAY_MS, EventKind};

/// Most neighbours one candidate may carry: each is matched against the history.
pub const MAX_RELATED: usize = 100;

/// Neighbours kept per item by default (`privrank related --top`).
pub const DEFAULT_TOP: usize = 50;

/// A pair of items is a neighbour only when at least this many users took both: a
/// pair seen in one or two users' histories would describe those users, not the
/// audience, and is noise besides.
pub const DEFAULT_MIN_USERS: u32 = 3;

/// One neighbour of a candidate, as it travels on the wire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Neighbour {
    pub item_id: String,
    /// Co-occurrence cosine in `[0, 1]`: 1 when exactly the same users took both.
    pub weight: f32,
}

/// Co-occurrence counts over users: each user adds one to every pair of distinct
/// items they interacted with, and one to each item's own count.
pub struct Cooccurrence {
    counts: Vec<u32>,
    pairs: Vec<HashMap<u32, u32>>,
}

impl Cooccurrence {
    /// `users`: per user, the items they interacted with (indices below `n_items`,
    /// repeats ignored).
    pub fn count(n_items: usize, users: impl IntoIterator<Item = Vec<u32>>) -> Self {
        let mut counts = vec![0u32; n_items];
        let mut pairs = vec![HashMap::new(); n_items];
        for mut items in users {
            items.sort_unstable();
            items.dedup();
            for &i in &items {
                counts[i as usize] += 1;
                for &j in &items {
                    if i != j {
                        *pairs[i as usize].entry(j).or_insert(0) += 1;
                    }
                }
            }
        }
        Self { counts, pairs }
    }

    pub fn items(&self) -> usize {
        self.counts.len()
    }

    /// Users who took `item`.
    pub fn users(&self, item: u32) -> u32 {
        self.counts[item as usize]
    }

    /// Users who took both.
    pub fn both(&self, a: u32, b: u32) -> u32 {
        self.pairs[a as usize].get(&b).copied().unwrap_or(0)
    }

    /// The co-occurrence cosine `both / sqrt(users(a) · users(b))`, 0 for an item
    /// with itself or one nobody took.
    pub fn cosine(&self, a: u32, b: u32) -> f32 {
        cosine(self.both(a, b), self.users(a), self.users(b))
    }

    /// `item`'s `top` neighbours by cosine, among items that at least `min_users`
    /// users took together with it; ties go to the lower index, so the lists are
    /// deterministic.
    pub fn neighbours(&self, item: u32, top: usize, min_users: u32) -> Vec<(u32, f32)> {
        let mut out: Vec<(u32, f32)> = self.pairs[item as usize]
            .iter()
            .filter(|&(_, &n)| n >= min_users)
            .map(|(&j, _)| (j, self.cosine(item, j)))
            .collect();
        out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        out.truncate(top);
        out
    }
}

/// The co-occurrence cosine from counts (see [`Cooccurrence::cosine`]).
pub fn cosine(both: u32, users_a: u32, users_b: u32) -> f32 {
    let d = (f64::from(users_a) * f64::from(users_b)).sqrt();
    if d == 0.0 {
        0.0
    } else {
        (f64::from(both) / d) as f32
    }
}

/// Events beyond the ranker's attention window still count for the related match:
/// matching ids is cheap, and item-CF is at its best on the whole history.
pub const MATCH_HISTORY: usize = 500;

/// How much one history event counts in the related match: acting on an item says
/// more than seeing it (the interest tags' kind weights), and the match fades with
/// a half-life of [`MATCH_HALF_LIFE_DAYS`].
pub fn event_weight(kind: EventKind, event_ms: f64, now_ms: f64) -> f32 {
    let age_days = ((now_ms - event_ms) / DAY_MS).max(0.0);
    (crate::interests::kind_weight(kind) * 0.5f64.powf(age_days / MATCH_HALF_LIFE_DAYS)) as f32
}

/// Tastes in films and products last for months; a year-old purchase still says
/// something, a week-old one more.
pub const MATCH_HALF_LIFE_DAYS: f64 = 180.0;

/// The two candidate-level inputs the ranker reads from the match: `ln(1 + Σ w·e)`
/// (how much related history there is, weighted per event by [`event_weight`]) and
/// `Σ w / n` (item-CF's own score: the mean neighbour weight over the `n` events).
pub fn match_features(matches: impl IntoIterator<Item = (f32, f32)>) -> [f32; 2] {
    let (mut weighted, mut plain, mut n) = (0f32, 0f32, 0usize);
    for (weight, event) in matches {
        weighted += weight * event;
        plain += weight;
        n += 1;
    }
    [weighted.ln_1p(), plain / n.max(1) as f32]
}

/// A candidate's neighbour list as a lookup by item id.
pub fn lookup(related: &[Neighbour]) -> HashMap<&str, f32> {
    related
        .iter()
        .map(|n| (n.item_id.as_str(), n.weight))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_pairs_once_per_user_and_ranks_neighbours() {
        // Items 0 and 1 go together for three users; item 2 joins once.
        let co = Cooccurrence::count(3, [vec![0, 1], vec![1, 0, 0], vec![0, 1, 2], vec![2]]);
        assert_eq!((co.users(0), co.users(1), co.users(2)), (3, 3, 2));
        assert_eq!((co.both(0, 1), co.both(1, 0), co.both(0, 2)), (3, 3, 1));
        assert!((co.cosine(0, 1) - 1.0).abs() < 1e-6);
        assert!((co.cosine(0, 2) - 1.0 / 6f32.sqrt()).abs() < 1e-6);
        assert_eq!(co.cosine(0, 0), 0.0);
        assert_eq!(co.neighbours(0, 5, 1), [(1, 1.0), (2, cosine(1, 3, 2))]);
        assert_eq!(co.neighbours(0, 1, 1), [(1, 1.0)]);
        // Item 2 met item 0 in one user only: below a floor of 2 it is dropped.
        assert_eq!(co.neighbours(0, 5, 2), [(1, 1.0)]);
    }

    #[test]
    fn match_features_weigh_events_and_average_weights() {
        let [weighted, mean] = match_features([(0.5, 2.0), (0.0, 1.0), (1.0, 1.0)]);
        assert!((weighted - 2f32.ln_1p()).abs() < 1e-6);
        assert!((mean - 0.5).abs() < 1e-6);
        assert_eq!(match_features([]), [0.0, 0.0]);
    }
}
