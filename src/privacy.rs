//! Private reports: what a page may learn about an ad's effect without learning
//! what this shopper did. `report` answers with randomized response (ε-local
//! differential privacy) and charges the origin's budget kept on the device: at
//! most [`MAX_DAILY_EPSILON`] over any [`WINDOW_MS`] (a rolling day). Experiment
//! arms are bounded the same way ([`Salts`]), so what pages learn of a device from
//! its arms is a documented number of bits a day. What leaves the device is a
//! [`NoisedReport`]: the noised bit, the page's labels and the day, nothing else.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::history::DAY_MS;
use crate::{Error, Result};

/// The window budgets are counted over: a rolling day.
pub const WINDOW_MS: f64 = DAY_MS;
/// The ε a device spends on reports in a rolling day unless `Ranker.load` says less.
pub const DEFAULT_DAILY_EPSILON: f64 = 4.0;
/// The most a load may configure: no page buys more than this a day.
pub const MAX_DAILY_EPSILON: f64 = 8.0;
/// Most arms an experiment may have: its arm reveals at most log2(16) = 4 bits.
pub const MAX_ARMS: usize = 16;
/// Most distinct experiments (salts) a device is assigned to in a rolling day: with
/// [`MAX_ARMS`], arms reveal at most 4 × 4 = 16 bits of a device a day.
pub const MAX_SALTS_PER_DAY: usize = 4;

/// Randomized response for one bit with privacy parameter ε: the truth with
/// probability e^ε / (1 + e^ε), its opposite otherwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RandomizedResponse {
    pub epsilon: f64,
}

impl RandomizedResponse {
    pub fn new(epsilon: f64) -> Result<Self> {
        if !(epsilon.is_finite() && epsilon > 0.0) {
            return Err(Error::BadOptions(format!(
                "report epsilon must be a positive number, got {epsilon}"
            )));
        }
        Ok(Self { epsilon })
    }

    /// The probability of answering truthfully, e^ε / (1 + e^ε), written as
    /// 1 / (1 + e^−ε) so that a large ε gives 1, not ∞ / ∞.
    pub fn truth(&self) -> f64 {
        1.0 / (1.0 + (-self.epsilon).exp())
    }

    pub fn respond(&self, bit: bool, rng: &mut impl Rng) -> bool {
        if rng.random::<f64>() < self.truth() {
            bit
        } else {
            !bit
        }
    }

    /// The aggregator's unbiased estimate of the true rate from the rate of `true`
    /// answers among many reports.
    pub fn estimate(&self, reported_rate: f64) -> f64 {
        let p = self.truth();
        (reported_rate - (1.0 - p)) / (2.0 * p - 1.0)
    }
}

/// The daily ε a load may configure: finite, above 0, at most [`MAX_DAILY_EPSILON`].
pub fn check_daily_epsilon(total: f64) -> Result<f64> {
    if total.is_finite() && total > 0.0 && total <= MAX_DAILY_EPSILON {
        Ok(total)
    } else {
        Err(Error::BadOptions(format!(
            "privacyBudget (ε per rolling day) must be above 0 and at most \
             {MAX_DAILY_EPSILON}, got {total}"
        )))
    }
}

/// What this device's reports spent, each charge with its time: the budget is what
/// the charges of the last [`WINDOW_MS`] leave of the day's total.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// `(time in ms, ε)`, oldest first, none older than the window.
    pub charges: Vec<(f64, f64)>,
}

impl Budget {
    /// ε spent in the window ending at `now_ms`.
    pub fn spent(&self, now_ms: f64) -> f64 {
        self.charges
            .iter()
            .filter(|(ts, _)| now_ms - ts < WINDOW_MS)
            .map(|(_, e)| e)
            .sum()
    }

    /// Charge ε against `total`, or refuse without charging when it would exceed
    /// it. Charges that left the window are dropped.
    pub fn charge(&mut self, epsilon: f64, total: f64, now_ms: f64) -> Result<()> {
        self.charges.retain(|(ts, _)| now_ms - ts < WINDOW_MS);
        let spent = self.spent(now_ms);
        // A little slack so that e.g. ten charges of 0.1 fit a budget of 1.0.
        if spent + epsilon > total + 1e-9 {
            return Err(Error::BudgetSpent {
                spent,
                total,
                asked: epsilon,
            });
        }
        self.charges.push((now_ms, epsilon));
        Ok(())
    }
}

/// One private report: charge the budget, then randomize. Nothing is charged when
/// the budget refuses.
pub fn report(
    bit: bool,
    rr: RandomizedResponse,
    budget: &mut Budget,
    total: f64,
    now_ms: f64,
    rng: &mut impl Rng,
) -> Result<bool> {
    budget.charge(rr.epsilon, total, now_ms)?;
    Ok(rr.respond(bit, rng))
}

/// The experiments (salts) this device was assigned arms for, each with the time
/// of its first assignment in the window.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Salts {
    pub seen: Vec<(String, f64)>,
}

impl Salts {
    /// Let `salt` be assigned: a salt already seen in the window always is; a new
    /// one only while fewer than [`MAX_SALTS_PER_DAY`] were.
    pub fn admit(&mut self, salt: &str, now_ms: f64) -> Result<()> {
        self.seen.retain(|(_, ts)| now_ms - ts < WINDOW_MS);
        if self.seen.iter().any(|(s, _)| s == salt) {
            return Ok(());
        }
        if self.seen.len() >= MAX_SALTS_PER_DAY {
            return Err(Error::ArmLimit(format!(
                "this device was assigned arms of {MAX_SALTS_PER_DAY} experiments in the \
                 last 24 hours, the most a day allows; `{salt}` must wait"
            )));
        }
        self.seen.push((salt.to_owned(), now_ms));
        Ok(())
    }
}

/// Longest label (experiment, arm, creative, campaign) a report may carry.
pub const MAX_LABEL_CHARS: usize = 64;

/// What is being measured, named by the page: the experiment and the arm this
/// device was assigned, and optionally the creative and campaign shown. The
/// library cannot tell a label from an identifier, so labels are short and
/// plain, and a collector should count only the labels it was configured with.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Labels {
    pub experiment: String,
    pub arm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creative: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
}

impl Labels {
    /// Each label as [`check_label`] wants it.
    pub fn check(&self) -> Result<()> {
        let optional = [("creative", &self.creative), ("campaign", &self.campaign)];
        [("experiment", &self.experiment), ("arm", &self.arm)]
            .into_iter()
            .chain(
                optional
                    .into_iter()
                    .filter_map(|(f, v)| Some((f, v.as_ref()?))),
            )
            .try_for_each(|(field, value)| check_label(field, value))
    }
}

/// A label: 1 to [`MAX_LABEL_CHARS`] letters, digits and `_ - . :` (no spaces, no
/// free text).
pub fn check_label(field: &str, value: &str) -> Result<()> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "_-.:".contains(c);
    if value.is_empty() || value.len() > MAX_LABEL_CHARS || !value.chars().all(plain) {
        return Err(Error::BadOptions(format!(
            "report {field} must be 1 to {MAX_LABEL_CHARS} letters, digits or _-.: \
             characters, got {value:?}"
        )));
    }
    Ok(())
}

/// The whole of what leaves the device for one impression: the noised click bit,
/// the labels of what was shown, the ε it was noised with and the UTC day. No id,
/// no history, no time finer than the day. It spells out [`Labels`]' fields rather
/// than flattening them: serde cannot refuse unknown fields through `flatten`, and
/// the collector must refuse them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NoisedReport {
    pub experiment: String,
    pub arm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creative: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub epsilon: f64,
    /// The randomized answer: whether the shopper clicked, true with probability
    /// [`RandomizedResponse::truth`].
    pub clicked: bool,
}

impl NoisedReport {
    /// What a collector checks before counting a report: the labels, a real day
    /// and an ε a device could have spent.
    pub fn check(&self) -> Result<()> {
        self.labels()
            .check()
            .map_err(|e| Error::BadInput(e.to_string()))?;
        if day_number(&self.day).is_none() {
            return Err(Error::BadInput(format!(
                "report day must be a date YYYY-MM-DD, got {:?}",
                self.day
            )));
        }
        if !(self.epsilon.is_finite() && self.epsilon > 0.0 && self.epsilon <= MAX_DAILY_EPSILON) {
            return Err(Error::BadInput(format!(
                "report epsilon must be above 0 and at most {MAX_DAILY_EPSILON}, got {}",
                self.epsilon
            )));
        }
        Ok(())
    }

    pub fn labels(&self) -> Labels {
        Labels {
            experiment: self.experiment.clone(),
            arm: self.arm.clone(),
            creative: self.creative.clone(),
            campaign: self.campaign.clone(),
        }
    }
}

/// One private report of an impression: the labels checked, the budget charged,
/// the click bit randomized. Nothing is charged when the labels or the budget
/// refuse.
pub fn noised_report(
    clicked: bool,
    labels: Labels,
    rr: RandomizedResponse,
    budget: &mut Budget,
    total: f64,
    now_ms: f64,
    rng: &mut impl Rng,
) -> Result<NoisedReport> {
    labels.check()?;
    let bit = report(clicked, rr, budget, total, now_ms, rng)?;
    Ok(NoisedReport {
        experiment: labels.experiment,
        arm: labels.arm,
        creative: labels.creative,
        campaign: labels.campaign,
        day: day_of(now_ms),
        epsilon: rr.epsilon,
        clicked: bit,
    })
}

/// The UTC date of a time in ms since the epoch, `YYYY-MM-DD` (the proleptic
/// Gregorian calendar, from the day count as in Hinnant's `civil_from_days`).
pub fn day_of(ms: f64) -> String {
    let days = (ms / DAY_MS).floor() as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// The day number of a `YYYY-MM-DD` date, or None when it is not one: the
/// inverse of [`day_of`], used to check a report's day.
pub fn day_number(date: &str) -> Option<i64> {
    let b = date.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |s: &str| {
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse::<i64>().ok())?
    };
    let (y, m, d) = (num(&date[..4])?, num(&date[5..7])?, num(&date[8..])?);
    if !(1..=12).contains(&m) || d < 1 {
        return None;
    }
    let y0 = if m <= 2 { y - 1 } else { y };
    let era = y0.div_euclid(400);
    let yoe = y0 - era * 400;
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    // Day 31 of a 30-day month lands on the next month's first: refuse it.
    (day_of(days as f64 * DAY_MS) == date).then_some(days)
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn answers_are_noisy_at_the_stated_rate_and_the_estimate_is_unbiased() {
        let rr = RandomizedResponse::new(1.0).unwrap();
        assert!((rr.truth() - 0.7310585786).abs() < 1e-9);
        let mut rng = StdRng::seed_from_u64(3);
        let n = 200_000;
        // A population where 30 % clicked.
        let yes = (0..n).filter(|i| rr.respond(i % 10 < 3, &mut rng)).count();
        let reported = yes as f64 / n as f64;
        // Reported rate = 0.3·p + 0.7·(1−p) ≈ 0.4076: individual answers are noisy …
        assert!((reported - 0.4076).abs() < 0.005, "{reported}");
        // … but the aggregate recovers the truth.
        assert!(
            (rr.estimate(reported) - 0.3).abs() < 0.01,
            "{}",
            rr.estimate(reported)
        );
        assert!(RandomizedResponse::new(0.0).is_err());
        assert!(RandomizedResponse::new(f64::NAN).is_err());
    }

    #[test]
    fn the_budget_refuses_once_spent_in_the_window_and_refills_as_charges_age() {
        let rr = RandomizedResponse::new(0.25).unwrap();
        let mut budget = Budget::default();
        let mut rng = StdRng::seed_from_u64(1);
        let t0 = 1_000.0 * DAY_MS;
        for k in 0..4 {
            report(
                true,
                rr,
                &mut budget,
                1.0,
                t0 + f64::from(k) * 1000.0,
                &mut rng,
            )
            .unwrap();
        }
        let err = report(true, rr, &mut budget, 1.0, t0 + 5000.0, &mut rng).unwrap_err();
        assert!(matches!(err, Error::BudgetSpent { .. }), "{err}");
        assert_eq!(err.code(), "PrivacyBudgetSpent");
        assert!(
            (budget.spent(t0 + 5000.0) - 1.0).abs() < 1e-12,
            "a refusal charged"
        );
        // A rolling day: the first charge leaves the window 24 h after it was made.
        assert!(report(true, rr, &mut budget, 1.0, t0 + DAY_MS - 1.0, &mut rng).is_err());
        report(true, rr, &mut budget, 1.0, t0 + DAY_MS, &mut rng).unwrap();
        assert_eq!(budget.charges.len(), 4, "aged charges are dropped");
        for bad in [0.0, -1.0, f64::NAN, MAX_DAILY_EPSILON + 0.1] {
            assert!(check_daily_epsilon(bad).is_err(), "{bad}");
        }
        assert_eq!(
            check_daily_epsilon(MAX_DAILY_EPSILON).unwrap(),
            MAX_DAILY_EPSILON
        );
    }

    #[test]
    fn the_truth_probability_is_stable_for_any_epsilon() {
        for (epsilon, want) in [(1e-9, 0.5), (1.0, 0.7310585786300049), (800.0, 1.0)] {
            let p = RandomizedResponse::new(epsilon).unwrap().truth();
            assert!((p - want).abs() < 1e-9, "ε {epsilon}: {p}");
        }
        // e^800 overflows: the naive e / (1 + e) was NaN there.
        assert!(
            RandomizedResponse::new(800.0)
                .unwrap()
                .estimate(0.3)
                .is_finite()
        );
    }

    #[test]
    fn a_device_joins_at_most_four_experiments_a_day() {
        let mut salts = Salts::default();
        let t0 = 1_000.0 * DAY_MS;
        for (k, salt) in ["a", "b", "c", "d"].iter().enumerate() {
            salts.admit(salt, t0 + k as f64).unwrap();
        }
        let err = salts.admit("e", t0 + 10.0).unwrap_err();
        assert_eq!(err.code(), "ArmLimit", "{err}");
        // A salt already assigned stays assignable; a day after the first, "e" fits.
        salts.admit("b", t0 + 20.0).unwrap();
        salts.admit("e", t0 + DAY_MS).unwrap();
    }

    #[test]
    fn a_report_is_the_noised_bit_labels_and_the_day_only() {
        let labels = Labels {
            experiment: "headline".into(),
            arm: "b".into(),
            creative: Some("tagline".into()),
            campaign: None,
        };
        let mut budget = Budget::default();
        let mut rng = StdRng::seed_from_u64(5);
        let rr = RandomizedResponse::new(1.0).unwrap();
        // 2026-12-06 10:31:07.123 UTC.
        let now = 1_796_553_067_123.0;
        let report =
            noised_report(true, labels.clone(), rr, &mut budget, 4.0, now, &mut rng).unwrap();
        let json = serde_json::to_value(&report).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            ["arm", "clicked", "creative", "day", "epsilon", "experiment"]
        );
        assert_eq!(json["day"], "2026-12-06");
        report.check().unwrap();
        assert_eq!(report.labels(), labels);
        // A refused label charges nothing.
        let spent = budget.spent(now);
        for bad in ["", "has space", "u=42&x", &"x".repeat(MAX_LABEL_CHARS + 1)] {
            let labels = Labels {
                arm: bad.to_owned(),
                ..labels.clone()
            };
            let err = noised_report(true, labels, rr, &mut budget, 4.0, now, &mut rng).unwrap_err();
            assert_eq!(err.code(), "BadOptions", "{bad:?}: {err}");
        }
        assert_eq!(budget.spent(now), spent);
        // The collector's checks: a real day, an ε a device could spend.
        for (field, value) in [
            ("day", serde_json::json!("2026-02-30")),
            ("day", serde_json::json!("2026-12-06T10:31")),
            ("epsilon", serde_json::json!(9.0)),
            ("epsilon", serde_json::json!(0.0)),
        ] {
            let mut bad = json.clone();
            bad[field] = value;
            let bad: NoisedReport = serde_json::from_value(bad).unwrap();
            assert_eq!(bad.check().unwrap_err().code(), "BadInput", "{field}");
        }
        let mut extra = json.clone();
        extra["userId"] = "u-1".into();
        assert!(serde_json::from_value::<NoisedReport>(extra).is_err());
    }

    #[test]
    fn days_are_utc_dates_both_ways() {
        for (ms, date) in [
            (0.0, "1970-01-01"),
            (-1.0, "1969-12-31"),
            (951_782_400_000.0, "2000-02-29"),
            (1_796_601_599_999.0, "2026-12-06"),
            (1_796_601_600_000.0, "2026-12-07"),
        ] {
            assert_eq!(day_of(ms), date, "{ms}");
            assert_eq!(
                day_number(date),
                Some((ms / DAY_MS).floor() as i64),
                "{date}"
            );
        }
        for bad in [
            "2026-13-01",
            "2026-04-31",
            "2025-02-29",
            "26-12-06",
            "2026-12-6 ",
            "+026-12-06",
        ] {
            assert_eq!(day_number(bad), None, "{bad}");
        }
    }
}
