//! What the device remembers about the shopper. Kept as small as the ranker needs:
//! the kind of event (its strength as a signal) and when it happened.

use serde::{Deserialize, Serialize};

/// Event kinds, ordered from weakest to strongest signal. The ranker's kind
/// embedding is indexed by [`EventKind::row`], which is part of the model format.
/// `Impression` (an ad shown) is not a signal of interest: it is kept for frequency
/// caps and never reaches the ranker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    View,
    Click,
    Cart,
    Purchase,
    Search,
    Impression,
}

impl EventKind {
    /// Every kind the API accepts, in the order of the enum.
    pub const ALL: [EventKind; 6] = [
        EventKind::View,
        EventKind::Click,
        EventKind::Cart,
        EventKind::Purchase,
        EventKind::Search,
        EventKind::Impression,
    ];

    /// The kinds with a trained row of the ranker's kind embedding, in row order.
    /// The training data produces exactly these (MovieLens stars mapped by
    /// [`EventKind::from_stars`]); every other signal kind borrows one of their rows
    /// ([`EventKind::row`]), so no untrained row is ever read.
    pub const TRAINED: [EventKind; 4] = [
        EventKind::View,
        EventKind::Click,
        EventKind::Cart,
        EventKind::Purchase,
    ];

    /// Row of the ranker's kind embedding. A search is read as a view: the query
    /// text is embedded like a product title and shows interest the shopper has not
    /// acted on yet, which is what a view means; the training data has no searches
    /// to learn a row of their own from. Impressions never reach the ranker
    /// ([`EventKind::is_signal`]); they map to the view row only so the function is
    /// total.
    pub fn row(self) -> usize {
        match self {
            EventKind::View | EventKind::Search | EventKind::Impression => 0,
            EventKind::Click => 1,
            EventKind::Cart => 2,
            EventKind::Purchase => 3,
        }
    }

    /// A MovieLens rating as the device event it stands for. Every rating is a film
    /// the user chose and watched; the stars say how far the interest went, so they
    /// map onto the device's funnel from weakest to strongest signal: 1–2 stars a
    /// view (looked, went no further), 3 a click, 4 a cart, 5 a purchase. A device
    /// event is never a dislike, and neither is a low rating read this way: it still
    /// says which films the user picked.
    pub fn from_stars(stars: f32) -> Self {
        if stars >= 5.0 {
            EventKind::Purchase
        } else if stars >= 4.0 {
            EventKind::Cart
        } else if stars >= 3.0 {
            EventKind::Click
        } else {
            EventKind::View
        }
    }

    /// Whether the ranker reads events of this kind.
    pub fn is_signal(self) -> bool {
        self != EventKind::Impression
    }
}

impl std::str::FromStr for EventKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("`{s}` is not one of view, click, cart, purchase, search, impression")
            })
    }
}

impl EventKind {
    pub fn name(self) -> &'static str {
        match self {
            EventKind::View => "view",
            EventKind::Click => "click",
            EventKind::Cart => "cart",
            EventKind::Purchase => "purchase",
            EventKind::Search => "search",
            EventKind::Impression => "impression",
        }
    }
}

/// One thing the shopper did, as stored on the device. Field names are the
/// JavaScript API's (camelCase), since this is what `history()` returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub kind: EventKind,
    /// The product's id; for a search, the query itself.
    pub item_id: String,
    /// Product title, or the search query.
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    /// For impressions: the ad's campaign, which campaign frequency caps count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub ts: f64,
}

impl Event {
    /// What the encoder embeds for this event (see [`crate::candidates::item_text`]).
    pub fn text(&self) -> String {
        crate::candidates::item_text(&self.title, self.category.as_deref())
    }

    /// Check an event from the page. `now_ms` fills a missing `ts`; events from more
    /// than a day in the future are refused (a clock or unit bug: seconds vs ms).
    pub fn parse(value: &crate::input::Value, now_ms: f64) -> crate::Result<Self> {
        use crate::candidates::{MAX_ID_CHARS, MAX_TITLE_CHARS};
        let mut c = crate::input::Checker::new(0, value);
        let kind = c
            .text("kind", true, 16)
            .and_then(|k| match k.parse::<EventKind>() {
                Ok(kind) => Some(kind),
                Err(reason) => {
                    c.fail("kind", reason);
                    None
                }
            });
        let title = c.text("title", true, MAX_TITLE_CHARS);
        let item_id = c.text("itemId", kind != Some(EventKind::Search), MAX_ID_CHARS);
        let category = c.text("category", false, MAX_ID_CHARS);
        let campaign = c.text("campaign", false, MAX_ID_CHARS);
        let ts = c
            .number("ts", false, 0.0, now_ms + DAY_MS)
            .unwrap_or(now_ms);
        c.refuse_unknown("event", &[]);
        match (kind, title, c.errors.is_empty()) {
            (Some(kind), Some(title), true) => Ok(Event {
                kind,
                item_id: item_id.unwrap_or_else(|| title.clone()),
                title,
                category,
                campaign,
                ts,
            }),
            _ => Err(crate::Error::BadEvent(c.errors)),
        }
    }
}

/// Check a list of events; an error names each bad event's position in the list.
pub fn parse_events(values: &[crate::input::Value], now_ms: f64) -> crate::Result<Vec<Event>> {
    let mut events = Vec::with_capacity(values.len());
    for (i, value) in values.iter().enumerate() {
        match Event::parse(value, now_ms) {
            Ok(e) => events.push(e),
            Err(crate::Error::BadEvent(mut errors)) => {
                errors.iter_mut().for_each(|e| e.index = i);
                return Err(crate::Error::BadEvent(errors));
            }
            Err(e) => return Err(e),
        }
    }
    Ok(events)
}

pub const DAY_MS: f64 = 86_400_000.0;

/// How much history the device keeps. Older and surplus events are deleted, so the
/// store cannot grow without bound and stale interests fade out.
#[derive(Clone, Copy, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Retention {
    pub max_events: usize,
    pub max_age_days: f64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_events: 1_000,
            max_age_days: 90.0,
        }
    }
}

impl Retention {
    pub fn check(&self) -> crate::Result<()> {
        let age_ok = self.max_age_days.is_finite() && self.max_age_days > 0.0;
        if self.max_events == 0 || !age_ok {
            return Err(crate::Error::BadOptions(format!(
                "retention needs maxEvents ≥ 1 and a finite maxAgeDays > 0, got {self:?}"
            )));
        }
        Ok(())
    }

    /// Positions (into `ts`, in any order) of the events to delete: those older than
    /// `max_age_days`, then the oldest beyond `max_events`.
    pub fn expired(&self, ts: &[f64], now_ms: f64) -> Vec<usize> {
        let cutoff = now_ms - self.max_age_days * DAY_MS;
        let mut order: Vec<usize> = (0..ts.len()).collect();
        order.sort_by(|&a, &b| ts[a].total_cmp(&ts[b]));
        let too_old = order.iter().take_while(|&&i| ts[i] < cutoff).count();
        let surplus = ts.len().saturating_sub(self.max_events);
        order.truncate(too_old.max(surplus));
        order
    }
}

/// The most recent `max` events, oldest first: what the ranker attends over.
pub fn recent(events: &[Event], max: usize) -> Vec<&Event> {
    // Impressions are for frequency caps; they must not push interests out.
    let mut sorted: Vec<&Event> = events.iter().filter(|e| e.kind.is_signal()).collect();
    sorted.sort_by(|a, b| a.ts.total_cmp(&b.ts));
    let skip = sorted.len().saturating_sub(max);
    sorted.split_off(skip)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::Value;

    #[test]
    fn events_are_checked_and_defaulted() {
        let v: Value = serde_json::from_str(r#"{"kind": "search", "title": "red shoes"}"#).unwrap();
        let e = Event::parse(&v, 1000.0).unwrap();
        assert_eq!(
            (e.kind, e.item_id.as_str(), e.ts),
            (EventKind::Search, "red shoes", 1000.0)
        );

        let v: Value =
            serde_json::from_str(r#"{"kind": "like", "itemId": 3, "ts": 1e30}"#).unwrap();
        let Err(crate::Error::BadEvent(errors)) = Event::parse(&v, 1000.0) else {
            panic!("expected BadEvent");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["kind", "title", "ts"]);

        // An unknown field is named, with the field it was likely meant to be.
        let v: Value =
            serde_json::from_str(r#"{"kind": "view", "title": "t", "itemid": "x", "price": 3}"#)
                .unwrap();
        let Err(crate::Error::BadEvent(errors)) = Event::parse(&v, 1000.0) else {
            panic!("expected BadEvent");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["itemId", "itemid", "price"]);
        assert!(
            errors[1].reason.contains("did you mean `itemId`?"),
            "{}",
            errors[1].reason
        );
    }

    #[test]
    fn retention_drops_old_then_surplus_events() {
        let keep = Retention {
            max_events: 2,
            max_age_days: 1.0,
        };
        let now = 10.0 * DAY_MS;
        // Two too old (index 0, 3); of the three left, the oldest (index 1) is surplus.
        let ts = [0.0, 9.5 * DAY_MS, 9.9 * DAY_MS, 8.0 * DAY_MS, 9.8 * DAY_MS];
        let mut gone = keep.expired(&ts, now);
        gone.sort();
        assert_eq!(gone, [0, 1, 3]);
        assert!(Retention::default().expired(&ts, now).is_empty());
        assert!(
            Retention {
                max_events: 0,
                ..keep
            }
            .check()
            .is_err()
        );
    }

    #[test]
    fn every_signal_kind_reads_a_trained_row() {
        for (row, kind) in EventKind::TRAINED.into_iter().enumerate() {
            assert_eq!(kind.row(), row, "{kind:?}");
        }
        for kind in EventKind::ALL.into_iter().filter(|k| k.is_signal()) {
            assert!(kind.row() < EventKind::TRAINED.len(), "{kind:?}");
        }
        assert_eq!(EventKind::Search.row(), EventKind::View.row());
        let kinds: Vec<EventKind> = [1.0, 2.0, 3.0, 4.0, 5.0]
            .into_iter()
            .map(EventKind::from_stars)
            .collect();
        use EventKind::*;
        assert_eq!(kinds, [View, View, Click, Cart, Purchase]);
        // The training data reaches every trained row.
        for kind in EventKind::TRAINED {
            assert!(kinds.contains(&kind), "{kind:?}");
        }
    }
}
