//! Budget pacing (seed 004): a campaign's daily budget spread over the day. The
//! collector knows only its noised reports, so spend is estimated (clicks debiased
//! by [`crate::estimate`], times the bid), compared with a target curve, and a PI
//! controller turns the gap into a multiplier in [0, 1] that `/candidates` attaches
//! to the campaign's ads and the `ecpm` objective multiplies their value by: under
//! target the campaign bids harder, over target it steps back.

use serde::{Deserialize, Serialize};

use crate::estimate::Tally;
use crate::history::DAY_MS;
use crate::{Error, Result};

/// How the controller reacts. The defaults were tuned on the simulated day of
/// `simulation.rs` (ε = 1 reports).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PacingConfig {
    /// Multiplier per unit of error, the error being (target − spent) / budget.
    /// Default 4: 5% of the budget behind target adds 0.2.
    pub kp: f64,
    /// Multiplier per unit of error × day: it holds the multiplier that keeps
    /// spend on the curve once the error is gone. Default 40.
    pub ki: f64,
    /// How often the multiplier may change, in ms. Default 5 minutes: fast against
    /// a day, slow against report noise.
    pub interval_ms: f64,
    /// The share of a day's traffic expected in each UTC hour (any positive
    /// weights; normalised). Empty: a uniform day.
    pub hourly: Vec<f64>,
}

impl Default for PacingConfig {
    fn default() -> Self {
        Self {
            kp: 4.0,
            ki: 40.0,
            interval_ms: 5.0 * 60_000.0,
            hourly: Vec::new(),
        }
    }
}

impl PacingConfig {
    pub fn check(&self) -> Result<()> {
        let finite = [self.kp, self.ki, self.interval_ms]
            .iter()
            .all(|x| x.is_finite() && *x >= 0.0);
        let hourly = self.hourly.is_empty()
            || (self.hourly.len() == 24
                && self.hourly.iter().all(|w| w.is_finite() && *w >= 0.0)
                && self.hourly.iter().sum::<f64>() > 0.0);
        if finite && hourly {
            Ok(())
        } else {
            Err(Error::BadOptions(
                "pacing: kp, ki and intervalMs must be finite and ≥ 0, hourly empty or 24 \
                 non-negative weights with a positive sum"
                    .into(),
            ))
        }
    }

    /// The share of the day's budget that should be spent by `ms` after midnight.
    pub fn target_share(&self, ms_into_day: f64) -> f64 {
        let hours = (ms_into_day / 3_600_000.0).clamp(0.0, 24.0);
        if self.hourly.is_empty() {
            return hours / 24.0;
        }
        let total: f64 = self.hourly.iter().sum();
        let whole = hours.floor() as usize;
        let done: f64 = self.hourly[..whole.min(24)].iter().sum();
        let part = self
            .hourly
            .get(whole)
            .map_or(0.0, |w| w * (hours - whole as f64));
        (done + part) / total
    }
}

/// A campaign's controller state for one UTC day; the collector stores it between
/// updates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pacer {
    /// The UTC day (`YYYY-MM-DD`) this state is for; a new day starts afresh.
    pub day: String,
    /// What `/candidates` attaches to the campaign's ads.
    pub multiplier: f64,
    /// The integral of the error over the day (error × day).
    pub integral: f64,
    /// When the multiplier last changed (ms since the epoch).
    pub updated_ms: f64,
    /// The spend estimated at that update, and the target then.
    pub spent: f64,
    pub target: f64,
}

impl Pacer {
    /// A day's start: the multiplier at 1 until the first update.
    pub fn new(now_ms: f64) -> Self {
        Self {
            day: crate::privacy::day_of(now_ms),
            multiplier: 1.0,
            integral: 0.0,
            updated_ms: (now_ms / DAY_MS).floor() * DAY_MS,
            spent: 0.0,
            target: 0.0,
        }
    }

    /// The multiplier at `now_ms`, given the spend estimated so far today and the
    /// day's budget. It changes at most once per `config.interval_ms`; a budget
    /// estimated spent stops the campaign for the rest of the day.
    pub fn update(
        &mut self,
        config: &PacingConfig,
        spent: f64,
        budget: f64,
        now_ms: f64,
    ) -> Result<f64> {
        if !(budget.is_finite() && budget > 0.0 && spent.is_finite()) {
            return Err(Error::BadInput(format!(
                "pacing needs a positive daily budget and a finite spend, got {budget} and {spent}"
            )));
        }
        if crate::privacy::day_of(now_ms) != self.day {
            *self = Self::new(now_ms);
        }
        let elapsed = now_ms - self.updated_ms;
        if elapsed < config.interval_ms {
            return Ok(self.multiplier);
        }
        let into_day = now_ms.rem_euclid(DAY_MS);
        let target = budget * config.target_share(into_day);
        let error = (target - spent) / budget;
        let output = |integral: f64| config.kp * error + config.ki * integral;
        let grown = self.integral + error * elapsed / DAY_MS;
        // Anti-windup: the integral grows only while the output is not pinned at a
        // bound it would push further past.
        let proposed = output(grown);
        let pinned = (proposed > 1.0 && error > 0.0) || (proposed < 0.0 && error < 0.0);
        if !pinned {
            self.integral = grown;
        }
        self.multiplier = if spent >= budget {
            0.0
        } else {
            output(self.integral).clamp(0.0, 1.0)
        };
        self.updated_ms = now_ms;
        self.spent = spent;
        self.target = target;
        Ok(self.multiplier)
    }
}

/// A paced campaign as the collector knows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Campaign {
    pub campaign: String,
    /// Cost per click.
    pub bid: f64,
    pub daily_budget: f64,
}

/// The campaign's spend so far on `now_ms`'s UTC day, estimated from the
/// collector's tallies: debiased clicks × bid.
pub fn spend_today(tallies: &[Tally], campaign: &Campaign, now_ms: f64) -> Result<f64> {
    let today = crate::privacy::day_of(now_ms);
    let mine: Vec<&Tally> = tallies
        .iter()
        .filter(|t| t.campaign == campaign.campaign && t.day == today)
        .collect();
    if mine.iter().all(|t| t.reports == 0) {
        return Ok(0.0);
    }
    Ok(crate::estimate::rate(mine)?.clicks() * campaign.bid)
}

/// One collector update: today's spend estimated from the tallies, and the
/// campaign's pacer (a new day's when there is none) moved on to `now_ms`.
pub fn step(
    pacer: Option<Pacer>,
    tallies: &[Tally],
    campaign: &Campaign,
    config: &PacingConfig,
    now_ms: f64,
) -> Result<Pacer> {
    config.check()?;
    let mut pacer = pacer.unwrap_or_else(|| Pacer::new(now_ms));
    let spent = spend_today(tallies, campaign, now_ms)?;
    pacer.update(config, spent, campaign.daily_budget, now_ms)?;
    Ok(pacer)
}

/// A simulated day through the device's ranking and reports and this module.
#[cfg(test)]
mod simulation;

#[cfg(test)]
mod tests {
    use super::*;

    const DAY0: f64 = 20_000.0 * DAY_MS;

    #[test]
    fn the_target_follows_the_hourly_shape() {
        let uniform = PacingConfig::default();
        assert!((uniform.target_share(DAY_MS / 2.0) - 0.5).abs() < 1e-12);
        let mut shaped = PacingConfig {
            hourly: (0..24).map(|h| if h < 12 { 1.0 } else { 3.0 }).collect(),
            ..PacingConfig::default()
        };
        assert!((shaped.target_share(DAY_MS / 2.0) - 0.25).abs() < 1e-12);
        assert!((shaped.target_share(DAY_MS) - 1.0).abs() < 1e-12);
        assert!((shaped.target_share(12.5 * 3_600_000.0) - 13.5 / 48.0).abs() < 1e-12);
        shaped.hourly.pop();
        assert!(shaped.check().is_err());
    }

    #[test]
    fn behind_target_it_opens_ahead_it_closes_spent_it_stops() {
        let config = PacingConfig::default();
        let budget = 100.0;
        let mut pacer = Pacer::new(DAY0);
        let noon = DAY0 + DAY_MS / 2.0;
        // Half the day gone, a fifth of the budget spent: fully open.
        assert_eq!(pacer.update(&config, 20.0, budget, noon).unwrap(), 1.0);
        // Within the interval nothing changes, whatever the spend.
        assert_eq!(
            pacer.update(&config, 90.0, budget, noon + 1000.0).unwrap(),
            1.0
        );
        // Far ahead of target: closed.
        let later = noon + config.interval_ms;
        assert_eq!(pacer.update(&config, 90.0, budget, later).unwrap(), 0.0);
        // The budget spent: stopped, however far behind the curve.
        let mut spent = Pacer::new(DAY0);
        assert_eq!(spent.update(&config, 100.0, budget, noon).unwrap(), 0.0);
        // A new day starts afresh.
        let next = DAY0 + DAY_MS + config.interval_ms;
        assert!(spent.update(&config, 0.0, budget, next).unwrap() > 0.0);
        assert_eq!(spent.day, crate::privacy::day_of(next));
        assert!(pacer.update(&config, 1.0, 0.0, later).is_err());
    }

    #[test]
    fn the_integral_does_not_wind_up_while_pinned() {
        let config = PacingConfig::default();
        let mut pacer = Pacer::new(DAY0);
        // Nothing spent all morning: the output sits at 1 …
        for k in 1..=144 {
            pacer
                .update(&config, 0.0, 100.0, DAY0 + k as f64 * config.interval_ms)
                .unwrap();
        }
        assert_eq!(pacer.multiplier, 1.0);
        // … and once spend reaches the curve it comes down at once, not after
        // unwinding half a day of error.
        let noon = DAY0 + 145.0 * config.interval_ms;
        let share = config.target_share(noon - DAY0);
        let m = pacer
            .update(&config, 100.0 * share + 2.0, 100.0, noon)
            .unwrap();
        assert!(m < 0.5, "multiplier {m}");
    }
}
