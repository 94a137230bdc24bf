//! What is shown, once the ranker has scored: the placement rules of the seed
//! articles, applied on the device. Each rule is a small function over scores,
//! embeddings and the device's own records, so it can be tested alone and combined
//! in any order by the ranking request.

use std::collections::HashMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Beta, Distribution};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::encoder::cosine;
use crate::{Error, Result};

const HOUR_MS: f64 = 3_600_000.0;

/// How long a frequency cap looks back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    Hour,
    Day,
    Week,
}

impl Window {
    pub fn millis(self) -> f64 {
        match self {
            Window::Hour => HOUR_MS,
            Window::Day => 24.0 * HOUR_MS,
            Window::Week => 7.0 * 24.0 * HOUR_MS,
        }
    }
}

/// What a frequency cap counts: impressions of this ad, or of any ad of its campaign.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Ad,
    Campaign,
}

/// At most `max` impressions per `scope` within `window`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FrequencyCap {
    pub scope: Scope,
    pub window: Window,
    pub max: u32,
}

/// One ad shown on this device, as recorded by `record({kind: 'impression'})`.
#[derive(Clone, Debug, PartialEq)]
pub struct Impression {
    pub ad_id: String,
    pub campaign: Option<String>,
    pub ts: f64,
}

/// Why an ad may not be shown now, or `None`. Counting is done here, on the device,
/// from the device's own impressions: the ad server never learns how often the
/// shopper saw anything.
pub fn capped(
    ad_id: &str,
    campaign: Option<&str>,
    impressions: &[Impression],
    caps: &[FrequencyCap],
    now: f64,
) -> Option<String> {
    caps.iter().find_map(|cap| {
        let since = now - cap.window.millis();
        let key = match cap.scope {
            Scope::Ad => Some(ad_id),
            // An ad without a campaign is not bound by campaign caps.
            Scope::Campaign => campaign,
        }?;
        let seen = impressions
            .iter()
            .filter(|i| i.ts > since && i.ts <= now)
            .filter(|i| match cap.scope {
                Scope::Ad => i.ad_id == key,
                Scope::Campaign => i.campaign.as_deref() == Some(key),
            })
            .count();
        (seen >= cap.max as usize).then(|| {
            format!(
                "{} `{key}` was shown {seen} time(s) in the last {} (cap {})",
                match cap.scope {
                    Scope::Ad => "ad",
                    Scope::Campaign => "campaign",
                },
                match cap.window {
                    Window::Hour => "hour",
                    Window::Day => "day",
                    Window::Week => "week",
                },
                cap.max
            )
        })
    })
}

/// The impressions among stored events.
pub fn impressions(events: &[crate::history::Event]) -> Vec<Impression> {
    events
        .iter()
        .filter(|e| !e.kind.is_signal())
        .map(|e| Impression {
            ad_id: e.item_id.clone(),
            campaign: e.campaign.clone(),
            ts: e.ts,
        })
        .collect()
}

/// `rank(candidates, {policy})`: which rules apply after scoring. All off by default,
/// so a plain `rank` is the ranker's order.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Policy {
    /// Frequency caps, counted from this device's impressions.
    pub caps: Vec<FrequencyCap>,
    /// Show only candidates marked `kAnonymous: true` (house ads marked `fallback`
    /// fill in when none is).
    pub require_k_anonymous: bool,
    /// MMR's λ in [0, 1]: 1 is the plain order, lower trades score for variety.
    pub diversity: Option<f64>,
    pub max_per_advertiser: Option<usize>,
    pub max_per_campaign: Option<usize>,
    /// How slots are filled; anything but greedy logs each shown ad's propensity.
    pub exploration: Exploration,
    /// Seed for exploration (default: derived from `now`), so a slate can be replayed.
    pub seed: Option<u64>,
    /// Cold start: the personal score's weight grows from 0 to 1 over this many
    /// history events; until then the candidate's `prior` (or, without one, its
    /// popularity feature) carries the rest.
    pub cold_start_events: Option<usize>,
}

impl Policy {
    pub fn check(&self) -> Result<()> {
        self.exploration.check()?;
        if let Some(l) = self.diversity
            && !(0.0..=1.0).contains(&l)
        {
            return Err(Error::BadOptions(format!(
                "diversity must be in [0, 1], got {l}"
            )));
        }
        if self.max_per_advertiser == Some(0) || self.max_per_campaign == Some(0) {
            return Err(Error::BadOptions(
                "a per-owner cap must be at least 1".into(),
            ));
        }
        if self.caps.len() > MAX_FREQUENCY_CAPS {
            return Err(Error::BadOptions(format!(
                "{} frequency caps; at most {MAX_FREQUENCY_CAPS}",
                self.caps.len()
            )));
        }
        if self.caps.iter().any(|c| c.max == 0) {
            return Err(Error::BadOptions(
                "a frequency cap of 0 would hide the ad for good; remove the ad instead".into(),
            ));
        }
        let reorders = self.diversity.is_some()
            || self.max_per_advertiser.is_some()
            || self.max_per_campaign.is_some();
        if reorders && self.exploration != Exploration::Greedy {
            return Err(Error::BadOptions(
                "exploration fills slots by itself (its propensities would be wrong after \
                 re-ordering): use it without diversity or per-owner caps"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Frequency caps a policy may list: each is checked against every candidate, so
/// their number is a cost the page must not choose freely.
pub const MAX_FREQUENCY_CAPS: usize = 16;

/// Maximal marginal relevance: each next slot goes to the candidate with the best
/// `λ·relevance − (1−λ)·(largest cosine to a candidate already chosen)`. λ = 1 is the
/// plain ranking; smaller λ trades score for variety. Returns the first `k` indices,
/// best first, in O(k²·n·d): callers pass the slots they fill, not the pool's size
/// (greedy, so the first `k` are the same whatever larger `k` is asked).
pub fn mmr(relevance: &[f64], embeddings: &[Vec<f32>], lambda: f64, k: usize) -> Vec<usize> {
    let mut chosen: Vec<usize> = Vec::with_capacity(k.min(relevance.len()));
    let mut left: Vec<usize> = (0..relevance.len()).collect();
    while chosen.len() < k && !left.is_empty() {
        let value = |i: usize| {
            let redundancy = chosen
                .iter()
                .map(|&j| f64::from(cosine(&embeddings[i], &embeddings[j])))
                .fold(f64::NEG_INFINITY, f64::max);
            let redundancy = if chosen.is_empty() { 0.0 } else { redundancy };
            lambda * relevance[i] - (1.0 - lambda) * redundancy
        };
        let (at, _) = left.iter().enumerate().map(|(at, &i)| (at, value(i))).fold(
            (0, f64::NEG_INFINITY),
            |best, x| if x.1 > best.1 { x } else { best },
        );
        chosen.push(left.remove(at));
    }
    chosen
}

/// Keep an order but let no owner (advertiser or campaign) take more than `max`
/// slots: an owner's further candidates are dropped, not moved down, so the cap
/// holds however few other candidates there are (fewer slots may then be filled).
pub fn cap_per_owner(
    order: &[usize],
    owner: impl Fn(usize) -> Option<String>,
    max: usize,
) -> Vec<usize> {
    let mut taken: HashMap<String, usize> = HashMap::new();
    order
        .iter()
        .copied()
        .filter(|&i| match owner(i) {
            Some(o) => {
                let n = taken.entry(o).or_default();
                *n += 1;
                *n <= max
            }
            None => true,
        })
        .collect()
}

/// How slots are filled from the scores: greedily, or with exploration so that the
/// ranker also learns about ads it currently scores low.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", deny_unknown_fields)]
pub enum Exploration {
    #[default]
    Greedy,
    /// With probability ε a slot goes to a uniformly random remaining candidate.
    EpsilonGreedy { epsilon: f64 },
    /// Each candidate's click rate is drawn from Beta(1 + s·n, 1 + (1 − s)·n), where
    /// s is its score and n = `strength` pseudo-observations; the best draw wins.
    Thompson { strength: f64 },
}

impl Exploration {
    pub fn check(&self) -> Result<()> {
        match self {
            Exploration::EpsilonGreedy { epsilon } if !(0.0..=1.0).contains(epsilon) => {
                Err(Error::BadOptions(format!(
                    "exploration epsilon must be in [0, 1], got {epsilon}"
                )))
            }
            Exploration::Thompson { strength } if !(strength.is_finite() && *strength > 0.0) => {
                Err(Error::BadOptions(format!(
                    "exploration strength must be a positive number, got {strength}"
                )))
            }
            _ => Ok(()),
        }
    }
}

/// Thompson propensities are estimated from this many joint draws per slot; the slot
/// is then filled from that estimate, so the logged propensity is exactly the
/// probability with which the shown ad was picked.
pub const THOMPSON_DRAWS: usize = 2_000;

/// A shown candidate and the probability that it was picked for its slot, given the
/// slots before it: what off-policy evaluation needs (IPS divides by it).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Shown {
    pub index: usize,
    pub propensity: f64,
}

/// The probability of each remaining candidate (by position in `left`) for the next
/// slot. Sums to 1.
pub fn slot_distribution(
    scores: &[f64],
    left: &[usize],
    how: &Exploration,
    rng: &mut StdRng,
) -> Vec<f64> {
    let n = left.len();
    let mut p = vec![0.0; n];
    if n == 0 {
        return p;
    }
    let best = |values: &mut dyn Iterator<Item = f64>| {
        values
            .enumerate()
            .fold((0, f64::NEG_INFINITY), |b, x| if x.1 > b.1 { x } else { b })
            .0
    };
    match how {
        Exploration::Greedy => p[best(&mut left.iter().map(|&i| scores[i]))] = 1.0,
        Exploration::EpsilonGreedy { epsilon } => {
            p.iter_mut().for_each(|x| *x = epsilon / n as f64);
            p[best(&mut left.iter().map(|&i| scores[i]))] += 1.0 - epsilon;
        }
        Exploration::Thompson { strength } => {
            let betas: Vec<Beta<f64>> = left
                .iter()
                .map(|&i| {
                    // A NaN score (one corrupt stored vector is enough) counts as no
                    // evidence of clicks: `Beta::new` refuses NaN, and a panic in wasm
                    // would leave every later Thompson rank's promise pending.
                    let s = if scores[i].is_finite() {
                        scores[i].clamp(0.0, 1.0)
                    } else {
                        0.0
                    };
                    // `strength` is validated finite and > 0, so both are finite and ≥ 1.
                    Beta::new(1.0 + s * strength, 1.0 + (1.0 - s) * strength)
                        .expect("finite parameters ≥ 1")
                })
                .collect();
            for _ in 0..THOMPSON_DRAWS {
                p[best(&mut betas.iter().map(|b| b.sample(rng)))] += 1.0;
            }
            p.iter_mut().for_each(|x| *x /= THOMPSON_DRAWS as f64);
        }
    }
    p
}

/// The candidates Thompson sampling chooses among: the best-scored this many. It
/// draws [`THOMPSON_DRAWS`] per candidate per slot, so a pool of 1,000 with `k`
/// left at all was minutes on a page's main thread; with this bound a slate costs at
/// most 64 × 64 × 2,000 draws. The rest have probability 0, as the logged
/// propensities say (off-policy estimators need nothing else). ε-greedy costs one
/// pass per slot and keeps the whole pool, as `privrank eval`'s off-policy section
/// scores it.
pub const MAX_EXPLORED: usize = 64;

/// Fill up to `k` slots from `scores` among `candidates` (for Thompson sampling, the
/// [`MAX_EXPLORED`] best-scored of them; ties keep the order given),
/// deterministically for a given `seed`.
pub fn explore(
    scores: &[f64],
    candidates: &[usize],
    k: usize,
    how: &Exploration,
    seed: u64,
) -> Vec<Shown> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut left = candidates.to_vec();
    if matches!(how, Exploration::Thompson { .. }) && left.len() > MAX_EXPLORED {
        left.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
        left.truncate(MAX_EXPLORED);
    }
    let mut shown = Vec::new();
    while shown.len() < k && !left.is_empty() {
        let p = slot_distribution(scores, &left, how, &mut rng);
        let mut u: f64 = rng.random();
        let mut at = p.len() - 1;
        for (j, &pj) in p.iter().enumerate() {
            if pj > 0.0 && u < pj {
                at = j;
                break;
            }
            u -= pj;
        }
        // Rounding can leave `u` just past the last non-zero probability.
        if p[at] == 0.0 {
            at = p.iter().rposition(|&x| x > 0.0).unwrap_or(at);
        }
        shown.push(Shown {
            index: left.remove(at),
            propensity: p[at],
        });
    }
    shown
}

/// Cold start: how much the personal score counts after `events` history events. It
/// grows linearly from 0 (no history: the server's prior alone) to 1 at `full_at`.
pub fn personal_weight(events: usize, full_at: usize) -> f64 {
    if full_at == 0 {
        1.0
    } else {
        (events as f64 / full_at as f64).min(1.0)
    }
}

/// The score used for ordering during cold start.
pub fn blend(personal: f64, prior: f64, events: usize, full_at: usize) -> f64 {
    let w = personal_weight(events, full_at);
    w * personal + (1.0 - w) * prior
}

/// The shopper's interest vector: the recency- and kind-weighted mean of history
/// item embeddings (what creatives are matched against).
pub fn interest_vector(embeddings: &[Vec<f32>], weights: &[f64]) -> Option<Vec<f32>> {
    let dim = embeddings.first()?.len();
    let mut v = vec![0.0f32; dim];
    for (e, &w) in embeddings.iter().zip(weights) {
        for (x, y) in v.iter_mut().zip(e) {
            *x += w as f32 * y;
        }
    }
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    (norm > 0.0).then(|| v.iter().map(|x| x / norm).collect())
}

/// The creative (by index) whose text embedding is closest to the interest vector.
pub fn best_creative(interest: &[f32], creatives: &[Vec<f32>]) -> Option<usize> {
    creatives
        .iter()
        .map(|c| cosine(interest, c))
        .enumerate()
        .fold(None, |best: Option<(usize, f32)>, (i, c)| match best {
            Some((_, b)) if b >= c => best,
            _ => Some((i, c)),
        })
        .map(|(i, _)| i)
}

/// One arm of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arm {
    pub label: String,
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

/// The arm of an experiment for this device: SHA-256 of the experiment's salt and a
/// random id that never leaves the device, mapped onto the arms' weights. Stable for
/// a device and salt; independent across salts. Only the label reaches the page.
pub fn assign_arm<'a>(device_id: &str, salt: &str, arms: &'a [Arm]) -> Result<&'a str> {
    let max = crate::privacy::MAX_ARMS;
    if arms.len() > max {
        return Err(Error::BadOptions(format!(
            "an experiment has at most {max} arms (an arm must not say more than 4 bits of \
             a device), got {}",
            arms.len()
        )));
    }
    let total: f64 = arms.iter().map(|a| a.weight).sum();
    if arms.is_empty()
        || arms
            .iter()
            .any(|a| !(a.weight.is_finite() && a.weight >= 0.0))
        || total <= 0.0
    {
        return Err(Error::BadOptions(
            "an experiment needs at least one arm, with finite weights ≥ 0 that are not all 0"
                .into(),
        ));
    }
    let digest = Sha256::digest(format!("{salt}\u{0}{device_id}").as_bytes());
    let top = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    let u = (top >> 11) as f64 / (1u64 << 53) as f64 * total;
    let mut acc = 0.0;
    for arm in arms {
        acc += arm.weight;
        if u < acc {
            return Ok(&arm.label);
        }
    }
    Ok(&arms
        .iter()
        .rfind(|a| a.weight > 0.0)
        .expect("a positive weight")
        .label)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn imp(ad: &str, campaign: Option<&str>, ts: f64) -> Impression {
        Impression {
            ad_id: ad.into(),
            campaign: campaign.map(Into::into),
            ts,
        }
    }

    #[test]
    fn a_cap_of_three_per_hour_blocks_the_fourth_impression() {
        let now = 10.0 * HOUR_MS;
        let caps = [FrequencyCap {
            scope: Scope::Ad,
            window: Window::Hour,
            max: 3,
        }];
        let mut seen: Vec<Impression> = Vec::new();
        for n in 0..3 {
            assert_eq!(capped("a", None, &seen, &caps, now), None, "after {n}");
            seen.push(imp("a", None, now - 60_000.0 * (n + 1) as f64));
        }
        let why = capped("a", None, &seen, &caps, now).unwrap();
        assert!(why.contains("3 time(s) in the last hour"), "{why}");
        // Other ads are not affected; an hour later the cap has lapsed.
        assert_eq!(capped("b", None, &seen, &caps, now), None);
        assert_eq!(capped("a", None, &seen, &caps, now + HOUR_MS), None);
    }

    #[test]
    fn campaign_caps_count_every_ad_of_the_campaign() {
        let now = 100.0 * HOUR_MS;
        let caps = [FrequencyCap {
            scope: Scope::Campaign,
            window: Window::Day,
            max: 2,
        }];
        let seen = [
            imp("a", Some("c1"), now - 5.0 * HOUR_MS),
            imp("b", Some("c1"), now - HOUR_MS),
        ];
        assert!(capped("new-ad", Some("c1"), &seen, &caps, now).is_some());
        assert_eq!(capped("x", Some("c2"), &seen, &caps, now), None);
        assert_eq!(capped("x", None, &seen, &caps, now), None);
        // Week windows reach further back than days.
        let week = [FrequencyCap {
            scope: Scope::Ad,
            window: Window::Week,
            max: 1,
        }];
        let old = [imp("a", None, now - 3.0 * 24.0 * HOUR_MS)];
        assert!(capped("a", None, &old, &week, now).is_some());
    }

    fn unit(v: &[f32]) -> Vec<f32> {
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    fn mean_pairwise(picked: &[usize], e: &[Vec<f32>]) -> f64 {
        let mut sum = 0.0;
        let mut n = 0;
        for a in 0..picked.len() {
            for b in a + 1..picked.len() {
                sum += f64::from(cosine(&e[picked[a]], &e[picked[b]]));
                n += 1;
            }
        }
        sum / n as f64
    }

    #[test]
    fn mmr_lowers_the_mean_pairwise_similarity_of_the_top_k() {
        // Three near-duplicates score highest; two different items score a bit lower.
        let e: Vec<Vec<f32>> = [
            [1.0, 0.0, 0.0],
            [0.98, 0.2, 0.0],
            [0.97, 0.0, 0.24],
            [0.0, 1.0, 0.0],
            [0.0, 0.0, 1.0],
        ]
        .iter()
        .map(|v| unit(v))
        .collect();
        let relevance = [0.9, 0.88, 0.87, 0.7, 0.6];
        let plain = mmr(&relevance, &e, 1.0, 3);
        assert_eq!(plain, [0, 1, 2]);
        let diverse = mmr(&relevance, &e, 0.5, 3);
        assert_eq!(diverse[0], 0, "the best item still comes first");
        assert!(
            mean_pairwise(&diverse, &e) < mean_pairwise(&plain, &e) - 0.5,
            "{diverse:?}"
        );
    }

    #[test]
    fn mmr_for_k_slots_is_the_first_k_of_the_whole_order() {
        let e: Vec<Vec<f32>> = (0..12)
            .map(|i| vec![(i % 3) as f32, (i % 4) as f32 + 0.5, (i / 5) as f32])
            .collect();
        let relevance: Vec<f64> = (0..12).map(|i| 1.0 - i as f64 * 0.05).collect();
        let all = mmr(&relevance, &e, 0.4, 12);
        for k in [1, 3, 7] {
            assert_eq!(mmr(&relevance, &e, 0.4, k), all[..k], "k = {k}");
        }
        assert_eq!(
            mmr(&relevance, &e, 0.4, 40),
            all,
            "k past the pool: the pool"
        );
    }

    #[test]
    fn no_owner_takes_more_than_its_share_of_slots() {
        let owner = |i: usize| Some(["acme", "acme", "acme", "beta", "gamma"][i].to_owned());
        // Hard caps: acme's further ads are not shown at all, even with slots left.
        assert_eq!(cap_per_owner(&[0, 1, 2, 3, 4], owner, 1), [0, 3, 4]);
        assert_eq!(cap_per_owner(&[0, 1, 2, 3, 4], owner, 2), [0, 1, 3, 4]);
        assert_eq!(cap_per_owner(&[2, 0], |_| None, 1), [2, 0]);
    }

    #[test]
    fn slot_probabilities_sum_to_one_and_match_the_rule() {
        let scores = [0.1, 0.5, 0.3, 0.45];
        let left = [0, 1, 2, 3];
        let mut rng = StdRng::seed_from_u64(1);
        // The second set: a NaN score (a corrupt stored vector) is no evidence of
        // clicks, not a panic.
        for scores in [&scores[..], &[f64::NAN, 0.9, 0.2]] {
            for how in [
                Exploration::Greedy,
                Exploration::EpsilonGreedy { epsilon: 0.2 },
                Exploration::Thompson { strength: 20.0 },
            ] {
                let p = slot_distribution(scores, &left[..scores.len()], &how, &mut rng);
                assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9, "{how:?}: {p:?}");
                assert!(
                    p[1] >= p[0] && p[1] >= p[2],
                    "{how:?}: the best score is most likely: {p:?}"
                );
            }
        }
        let p = slot_distribution(
            &scores,
            &left,
            &Exploration::EpsilonGreedy { epsilon: 0.2 },
            &mut rng,
        );
        for (got, want) in p.iter().zip([0.05, 0.85, 0.05, 0.05]) {
            assert!((got - want).abs() < 1e-12, "{p:?}");
        }
        // Thompson with close scores explores: 0.45 wins a fair share against 0.5.
        let p = slot_distribution(
            &scores,
            &left,
            &Exploration::Thompson { strength: 20.0 },
            &mut rng,
        );
        assert!(p[3] > 0.2 && p[0] < 0.05, "{p:?}");
    }

    #[test]
    fn thompson_chooses_among_the_best_scored_max_explored() {
        // 200 candidates, scores rising with the index, given in a shuffled order.
        let scores: Vec<f64> = (0..200).map(|i| f64::from(i) / 200.0).collect();
        let order: Vec<usize> = (0..200).map(|i| (i * 77) % 200).collect();
        let shown = explore(
            &scores,
            &order,
            200,
            &Exploration::Thompson { strength: 1.0 },
            5,
        );
        assert_eq!(shown.len(), MAX_EXPLORED);
        assert!(
            shown.iter().all(|s| s.index >= 200 - MAX_EXPLORED),
            "only the best-scored 64 are shown"
        );
        // ε-greedy keeps the whole pool: a uniform first slot has propensity 1/200.
        let epsilon = Exploration::EpsilonGreedy { epsilon: 1.0 };
        let shown = explore(&scores, &order, 1, &epsilon, 5);
        assert!(
            (shown[0].propensity - 1.0 / 200.0).abs() < 1e-12,
            "{shown:?}"
        );
        assert_eq!(explore(&scores, &order, 200, &epsilon, 5).len(), 200);
    }

    #[test]
    fn exploration_is_deterministic_per_seed_and_logs_propensities() {
        let scores = [0.1, 0.5, 0.3, 0.45, 0.2];
        let all = [0, 1, 2, 3, 4];
        let greedy = explore(&scores, &all, 3, &Exploration::Greedy, 7);
        let picked: Vec<usize> = greedy.iter().map(|s| s.index).collect();
        assert_eq!(picked, [1, 3, 2]);
        assert!(greedy.iter().all(|s| s.propensity == 1.0));

        let how = Exploration::EpsilonGreedy { epsilon: 0.5 };
        let a = explore(&scores, &all, 3, &how, 42);
        assert_eq!(a, explore(&scores, &all, 3, &how, 42));
        let mut distinct = std::collections::HashSet::new();
        let mut top_counts = [0usize; 5];
        for seed in 0..2_000 {
            let shown = explore(&scores, &all, 3, &how, seed);
            assert_eq!(shown.len(), 3);
            let first = &shown[0];
            // The logged propensity is the rule's probability for that slot.
            let want = if first.index == 1 {
                0.5 + 0.5 / 5.0
            } else {
                0.5 / 5.0
            };
            assert!((first.propensity - want).abs() < 1e-12);
            top_counts[first.index] += 1;
            distinct.insert(shown.iter().map(|s| s.index).collect::<Vec<_>>());
        }
        // Empirical frequencies follow the propensities (0.6 for the best, 0.1 others).
        assert!(
            (top_counts[1] as f64 / 2_000.0 - 0.6).abs() < 0.05,
            "{top_counts:?}"
        );
        assert!(top_counts.iter().all(|&c| c > 100), "{top_counts:?}");
        assert!(distinct.len() > 10);
    }

    #[test]
    fn cold_start_moves_from_the_prior_to_the_personal_score() {
        assert_eq!(blend(0.9, 0.2, 0, 10), 0.2);
        assert!((blend(0.9, 0.2, 5, 10) - 0.55).abs() < 1e-12);
        assert_eq!(blend(0.9, 0.2, 10, 10), 0.9);
        assert_eq!(blend(0.9, 0.2, 50, 10), 0.9);
        assert_eq!(personal_weight(3, 0), 1.0);
    }

    #[test]
    fn the_creative_closest_to_the_interests_is_chosen() {
        let history = [unit(&[1.0, 0.1, 0.0]), unit(&[0.9, 0.0, 0.2])];
        let interest = interest_vector(&history, &[1.0, 0.5]).unwrap();
        let creatives = [
            unit(&[0.0, 1.0, 0.0]),
            unit(&[1.0, 0.0, 0.1]),
            unit(&[0.0, 0.0, 1.0]),
        ];
        assert_eq!(best_creative(&interest, &creatives), Some(1));
        assert_eq!(best_creative(&interest, &[]), None);
        assert_eq!(interest_vector(&[], &[]), None);
    }

    #[test]
    fn arms_are_stable_per_device_and_follow_the_weights() {
        let arms = [
            Arm {
                label: "control".into(),
                weight: 3.0,
            },
            Arm {
                label: "treatment".into(),
                weight: 1.0,
            },
        ];
        let a = assign_arm("device-1", "exp-1", &arms).unwrap();
        assert_eq!(a, assign_arm("device-1", "exp-1", &arms).unwrap());
        let n = 20_000;
        let treated = (0..n)
            .filter(|i| assign_arm(&format!("d{i}"), "exp-1", &arms).unwrap() == "treatment")
            .count();
        assert!(
            (treated as f64 / n as f64 - 0.25).abs() < 0.015,
            "{treated}"
        );
        // Another salt re-draws: about a quarter of the treated are treated again.
        let both = (0..n)
            .filter(|i| {
                let d = format!("d{i}");
                assign_arm(&d, "exp-1", &arms).unwrap() == "treatment"
                    && assign_arm(&d, "exp-2", &arms).unwrap() == "treatment"
            })
            .count();
        assert!(
            (both as f64 / treated as f64 - 0.25).abs() < 0.03,
            "{both} of {treated}"
        );
        assert!(assign_arm("d", "s", &[]).is_err());
        // At most 16 arms: 17 would say more than 4 bits of the device.
        let many = |n: usize| -> Vec<Arm> {
            (0..n)
                .map(|i| Arm {
                    label: format!("a{i}"),
                    weight: 1.0,
                })
                .collect()
        };
        assert!(assign_arm("d", "s", &many(16)).is_ok());
        let err = assign_arm("d", "s", &many(17)).unwrap_err();
        assert!(err.to_string().contains("at most 16 arms"), "{err}");
        assert!(
            assign_arm(
                "d",
                "s",
                &[Arm {
                    label: "x".into(),
                    weight: f64::NAN
                }]
            )
            .is_err()
        );
    }
}
