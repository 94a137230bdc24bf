//! Interest tags (seed 004): the shopper's top categories with weights, computed on
//! the device from the history for the page to use locally — personalised headings,
//! filters — without the history itself being read by page code or sent anywhere.

use serde::Serialize;

use crate::history::{DAY_MS, Event, EventKind};
use crate::{Error, Result};

/// One tag and its share of the decayed, kind-weighted history (shares sum to 1).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Interest {
    pub tag: String,
    pub weight: f64,
}

/// A week: interests drift with seasons and gifts; last month's browsing should
/// count for little.
pub const DEFAULT_HALF_LIFE_DAYS: f64 = 7.0;

/// How much one event says about interest: acting on an item says more than seeing it.
pub fn kind_weight(kind: EventKind) -> f64 {
    match kind {
        EventKind::View | EventKind::Search => 1.0,
        EventKind::Click => 2.0,
        EventKind::Cart => 3.0,
        EventKind::Purchase => 4.0,
        EventKind::Impression => 0.0,
    }
}

/// Each event's weight: its kind's, halved every `half_life_days` of age.
pub fn event_weight(event: &Event, now: f64, half_life_days: f64) -> f64 {
    let age_days = ((now - event.ts) / DAY_MS).max(0.0);
    kind_weight(event.kind) * 0.5f64.powf(age_days / half_life_days)
}

/// The top `k` tags. An event's category may hold several comma-separated tags
/// ("Action, Comedy"); its weight is split evenly among them. Ties keep the tag
/// seen first, so the result is deterministic.
/// A half-life that is not a positive number (0, negative, NaN) is `BadOptions`:
/// it would turn every weight into 0, ∞ or NaN.
pub fn interests(
    events: &[Event],
    now: f64,
    half_life_days: f64,
    k: usize,
) -> Result<Vec<Interest>> {
    if !(half_life_days.is_finite() && half_life_days > 0.0) {
        return Err(Error::BadOptions(format!(
            "the half-life (halfLifeDays, --half-life-days) must be a positive number of days, got {half_life_days}"
        )));
    }
    let weighted = events
        .iter()
        .filter(|e| e.kind.is_signal())
        .filter_map(|e| {
            let category = e.category.as_deref()?;
            Some((category, event_weight(e, now, half_life_days)))
        });
    let mut totals = shares(weighted);
    if totals.is_empty() {
        return Ok(Vec::new());
    }
    // Stable sort: equal weights stay in first-seen order.
    totals.sort_by(|a, b| b.1.total_cmp(&a.1));
    Ok(totals
        .into_iter()
        .take(k)
        .map(|(tag, weight)| Interest { tag, weight })
        .collect())
}

/// The tags of a category string: comma-separated, trimmed ("Action, Sci-Fi").
pub fn tags(category: &str) -> impl Iterator<Item = &str> {
    category.split(',').map(str::trim).filter(|t| !t.is_empty())
}

/// Each tag's share of the weighted categories, in first-seen order, summing to 1
/// (empty when no weight is positive). A category's weight is split evenly among
/// its tags.
pub fn shares<'a>(weighted: impl IntoIterator<Item = (&'a str, f64)>) -> Vec<(String, f64)> {
    let mut totals: Vec<(String, f64)> = Vec::new();
    for (category, weight) in weighted {
        let list: Vec<&str> = tags(category).collect();
        let share = weight / list.len().max(1) as f64;
        for tag in list {
            match totals.iter_mut().find(|(t, _)| t == tag) {
                Some((_, w)) => *w += share,
                None => totals.push((tag.to_owned(), share)),
            }
        }
    }
    let sum: f64 = totals.iter().map(|(_, w)| w).sum();
    if sum <= 0.0 {
        return Vec::new();
    }
    for (_, w) in &mut totals {
        *w /= sum;
    }
    totals
}

/// The largest share of the weight that the events of one tag carry: per tag, the
/// weight of the events whose category holds it (each event once, whatever else it
/// is tagged), over the weight of every event, those without a category included.
/// Unlike [`shares`] a weight is not split among an event's tags, so a history of
/// one genre covers it fully however many other genres its films have. 0 when no
/// weight is positive.
pub fn top_coverage<'a>(weighted: impl IntoIterator<Item = (Option<&'a str>, f64)>) -> f64 {
    let mut covered: Vec<(&str, f64)> = Vec::new();
    let mut total = 0.0;
    for (category, weight) in weighted {
        total += weight;
        let mut seen: Vec<&str> = Vec::new();
        for tag in category.into_iter().flat_map(tags) {
            if seen.contains(&tag) {
                continue;
            }
            seen.push(tag);
            match covered.iter_mut().find(|(t, _)| *t == tag) {
                Some((_, w)) => *w += weight,
                None => covered.push((tag, weight)),
            }
        }
    }
    if total <= 0.0 {
        return 0.0;
    }
    covered.iter().map(|(_, w)| w / total).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: EventKind, category: &str, days_ago: f64, now: f64) -> Event {
        Event {
            kind,
            item_id: "i".into(),
            title: "t".into(),
            category: Some(category.into()),
            campaign: None,
            ts: now - days_ago * DAY_MS,
        }
    }

    #[test]
    fn tags_are_weighted_by_kind_and_recency_and_sum_to_one() {
        let now = 1_000.0 * DAY_MS;
        let events = [
            event(EventKind::View, "Comedy", 0.0, now),
            event(EventKind::Purchase, "Horror, Thriller", 0.0, now),
            // Seven days old at a seven-day half-life: half the weight.
            event(EventKind::Cart, "Comedy", 7.0, now),
        ];
        let tags = interests(&events, now, 7.0, 10).unwrap();
        let names: Vec<&str> = tags.iter().map(|t| t.tag.as_str()).collect();
        assert_eq!(names, ["Comedy", "Horror", "Thriller"]);
        // Comedy 1 + 1.5 = 2.5; Horror 2; Thriller 2; total 6.5.
        assert!((tags[0].weight - 2.5 / 6.5).abs() < 1e-12);
        assert!((tags[1].weight - 2.0 / 6.5).abs() < 1e-12);
        assert!((tags.iter().map(|t| t.weight).sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(interests(&events, now, 7.0, 1).unwrap().len(), 1);
        assert!(interests(&[], now, 7.0, 5).unwrap().is_empty());
        for bad in [0.0, -1.0, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                interests(&events, now, bad, 5),
                Err(Error::BadOptions(_))
            ));
        }
    }
}
