//! A per-user split by time, and the impressions every method is judged on.
//!
//! Each user's events are ordered by (timestamp, item); the last 20% are test, the
//! 10% before them validation, the rest training. A model only ever sees, for a target
//! event, the user's events strictly earlier in time — exactly what a device would hold.

use std::collections::HashSet;

use rand::distr::Distribution;
use rand::distr::weighted::WeightedIndex;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::MovieLens;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Part {
    Train,
    Valid,
    Test,
}

#[derive(Debug)]
pub struct Split {
    /// Per user: rating indices ordered by (ts, item).
    pub by_user: Vec<Vec<usize>>,
    /// Per rating index.
    pub part: Vec<Part>,
}

/// One (user, candidate) pair with its label and the history the device had then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Impression {
    pub user: u32,
    pub item: u32,
    /// 1 = clicked (rated ≥ 4), 0 = rated lower or never rated.
    pub label: f32,
    pub ts: i64,
    /// The history is `split.by_user[user][..history_len]`: every event before `ts`.
    pub history_len: usize,
}

impl Impression {
    /// An item the user never rated, shown at `ts` (label 0).
    fn negative(user: u32, item: u32, ts: i64, history_len: usize) -> Self {
        Self {
            user,
            item,
            label: 0.0,
            ts,
            history_len,
        }
    }
}

/// Draws until the item is one the user never rated (the caller checked that one
/// exists).
fn unrated(rated: &HashSet<u32>, mut draw: impl FnMut() -> u32) -> u32 {
    loop {
        let c = draw();
        if !rated.contains(&c) {
            return c;
        }
    }
}

impl Split {
    pub fn by_time(ml: &MovieLens, test_fraction: f64, valid_fraction: f64) -> Self {
        let mut by_user = vec![Vec::new(); ml.users.len()];
        for (i, r) in ml.ratings.iter().enumerate() {
            by_user[r.user as usize].push(i);
        }
        let mut part = vec![Part::Train; ml.ratings.len()];
        for events in &mut by_user {
            events.sort_by_key(|&i| (ml.ratings[i].ts, ml.ratings[i].item));
            let n = events.len() as f64;
            let n_test = (n * test_fraction).round() as usize;
            let n_valid = (n * valid_fraction).round() as usize;
            let test_start = events.len().saturating_sub(n_test);
            let valid_start = test_start.saturating_sub(n_valid);
            for (k, &i) in events.iter().enumerate() {
                part[i] = if k >= test_start {
                    Part::Test
                } else if k >= valid_start {
                    Part::Valid
                } else {
                    Part::Train
                };
            }
        }
        Self { by_user, part }
    }

    /// How many of the user's events happened strictly before `ts`.
    pub fn history_len(&self, ml: &MovieLens, user: u32, ts: i64) -> usize {
        self.by_user[user as usize].partition_point(|&i| ml.ratings[i].ts < ts)
    }

    /// The user's events in `part`, in time order.
    pub fn events(&self, user: u32, part: Part) -> impl Iterator<Item = usize> + '_ {
        self.by_user[user as usize]
            .iter()
            .copied()
            .filter(move |&i| self.part[i] == part)
    }

    /// Interactions per item in the training part: the popularity every method may use.
    pub fn train_counts(&self, ml: &MovieLens) -> Vec<u32> {
        let mut counts = vec![0; ml.items.len()];
        for (r, p) in ml.ratings.iter().zip(&self.part) {
            if *p == Part::Train {
                counts[r.item as usize] += 1;
            }
        }
        counts
    }

    /// Every rated event of `part` as an impression (label from its rating), plus
    /// `negatives` items per event that the user never rated (label 0), drawn with a
    /// fixed seed so every run and every method sees the same impressions.
    pub fn impressions(
        &self,
        ml: &MovieLens,
        part: Part,
        negatives: usize,
        seed: u64,
    ) -> Vec<Impression> {
        let mut rng = StdRng::seed_from_u64(seed ^ (part as u64).wrapping_mul(0x9E37_79B9));
        let n_items = ml.items.len() as u32;
        let mut out = Vec::new();
        for (user, events) in self.by_user.iter().enumerate() {
            let rated: HashSet<u32> = events.iter().map(|&i| ml.ratings[i].item).collect();
            let user = user as u32;
            for &i in events.iter().filter(|&&i| self.part[i] == part) {
                let r = ml.ratings[i];
                let history_len = self.history_len(ml, user, r.ts);
                let label = if r.is_positive() { 1.0 } else { 0.0 };
                out.push(Impression {
                    user,
                    item: r.item,
                    label,
                    ts: r.ts,
                    history_len,
                });
                if rated.len() as u32 >= n_items {
                    continue;
                }
                for _ in 0..negatives {
                    let item = unrated(&rated, || rng.random_range(0..n_items));
                    out.push(Impression::negative(user, item, r.ts, history_len));
                }
            }
        }
        out
    }

    /// For every rated event of `part`, `negatives` items the user never rated, drawn
    /// in proportion to their training popularity (label 0). Uniform negatives are
    /// mostly films nobody watches, which popularity alone tells apart; these are
    /// films many others chose and this user did not, which only the user's own
    /// history can tell apart.
    pub fn popular_negatives(
        &self,
        ml: &MovieLens,
        part: Part,
        negatives: usize,
        seed: u64,
    ) -> Vec<Impression> {
        let mut out = Vec::new();
        if negatives == 0 {
            return out;
        }
        let counts = self.train_counts(ml);
        let Ok(popular) = WeightedIndex::new(counts.iter().map(|&c| f64::from(c) + 1.0)) else {
            return out;
        };
        let mut rng = StdRng::seed_from_u64(seed ^ 0x005E_ED0F_9091 ^ (part as u64));
        let n_items = ml.items.len();
        for (user, events) in self.by_user.iter().enumerate() {
            let rated: HashSet<u32> = events.iter().map(|&i| ml.ratings[i].item).collect();
            if rated.len() >= n_items {
                continue;
            }
            let user = user as u32;
            for &i in events.iter().filter(|&&i| self.part[i] == part) {
                let r = ml.ratings[i];
                let history_len = self.history_len(ml, user, r.ts);
                for _ in 0..negatives {
                    let item = unrated(&rated, || popular.sample(&mut rng) as u32);
                    out.push(Impression::negative(user, item, r.ts, history_len));
                }
            }
        }
        out
    }

    /// The items `user` interacted with in `part`.
    pub fn items(&self, ml: &MovieLens, user: u32, part: Part) -> Vec<u32> {
        self.events(user, part)
            .map(|e| ml.ratings[e].item)
            .collect()
    }
}
