//! A simulated day of traffic through the device's code and the collector's
//! (issue 19, seed 004): each visit ranks four ads by `Candidate::ecpm` (ctr × bid
//! × pacing), the shown ad's impression becomes a `privacy::noised_report` (ε = 1),
//! the collector counts them (`estimate::tally_of`) and, every five minutes,
//! estimates the paced campaign's spend and moves its pacer (`pacing::step`, what
//! the edge worker's collector calls), whose multiplier the next visits rank with. The campaign must
//! spend within ±10% of its budget and still be shown in the day's last hour;
//! unpaced, the same campaign overspends.
//!   cargo test --features cli,wgpu --lib pacing::simulation -- --nocapture

use std::collections::HashMap;

use crate::RankerConfig;
use crate::candidates::{self, Candidate};
use crate::estimate::{self, Tally};
use crate::history::DAY_MS;
use crate::input::Value;
use crate::pacing::{self, Campaign, Pacer, PacingConfig};
use crate::privacy::{self, Budget, Labels, RandomizedResponse};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Visits in the simulated day, shaped by [`HOURLY`]. Enough that the paced
/// campaign gets ~400,000 impressions: at ε = 1 the debiased click count of n
/// reports has a relative error of about 24 / √n (ctr 0.04), 4% here, and the
/// controller can only steer the spend it estimates.
const VISITS: usize = 2_000_000;
/// A storefront's day: quiet at night, peaking in the evening (UTC hours).
const HOURLY: [f64; 24] = [
    0.3, 0.2, 0.15, 0.1, 0.1, 0.15, 0.3, 0.6, 0.9, 1.0, 1.0, 1.1, 1.2, 1.1, 1.0, 1.0, 1.1, 1.3,
    1.6, 1.8, 1.7, 1.3, 0.9, 0.5,
];
/// The paced campaign's daily budget, in the bids' currency: unpaced it would
/// spend about 2.6 times that.
const BUDGET: f64 = 8_000.0;
const PACED: &str = "spring";
/// How much device-to-device the click rates vary (log-normal σ).
const SPREAD: f64 = 0.6;
const EPSILON: f64 = 1.0;
/// 2026-12-06, midnight UTC.
const DAY0: f64 = 20_428.0 * DAY_MS;

/// The ads: id (= campaign), bid, mean click rate.
const ADS: [(&str, f64, f64); 4] = [
    (PACED, 0.5, 0.04),
    ("house-a", 0.6, 0.03),
    ("house-b", 0.4, 0.045),
    ("house-c", 0.3, 0.05),
];

fn ads() -> Vec<Candidate> {
    let values: Vec<Value> = ADS
        .iter()
        .map(|(id, bid, _)| {
            serde_json::from_value(serde_json::json!({"id": id, "title": id, "bid": bid})).unwrap()
        })
        .collect();
    candidates::parse(&values, &RankerConfig::new(4, vec![]), 10).unwrap()
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut StdRng) -> f64 {
    let (u, v): (f64, f64) = (rng.random::<f64>().max(1e-300), rng.random());
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

struct Day {
    /// True spend of the paced campaign (its real clicks × bid), by hour's end.
    spent_by_hour: [f64; 24],
    impressions_by_hour: [u64; 24],
    /// What the collector estimated at the day's end.
    estimated: f64,
    /// When the true spend first reached the budget, in hours, if it did.
    ran_out_at: Option<f64>,
}

impl Day {
    fn spent(&self) -> f64 {
        self.spent_by_hour[23]
    }
}

/// The visits' times: each hour's share of [`VISITS`], evenly spread in the hour.
fn visit_times() -> Vec<f64> {
    let total: f64 = HOURLY.iter().sum();
    HOURLY
        .iter()
        .enumerate()
        .flat_map(|(h, w)| {
            let n = (VISITS as f64 * w / total).round() as usize;
            (0..n).map(move |i| DAY0 + (h as f64 + (i as f64 + 0.5) / n as f64) * 3_600_000.0)
        })
        .collect()
}

fn simulate(seed: u64, paced: bool) -> Day {
    let mut rng = StdRng::seed_from_u64(seed);
    let rr = RandomizedResponse::new(EPSILON).unwrap();
    let config = PacingConfig {
        hourly: HOURLY.to_vec(),
        ..PacingConfig::default()
    };
    let mut ads = ads();
    let campaign = Campaign {
        campaign: PACED.into(),
        bid: ADS[0].1,
        daily_budget: BUDGET,
    };
    let mut pacer: Option<Pacer> = None;
    // The collector's table: one tally per labels (one day, one ε here).
    let mut tallies: HashMap<(String, bool), Tally> = HashMap::new();
    let mut day = Day {
        spent_by_hour: [0.0; 24],
        impressions_by_hour: [0; 24],
        estimated: 0.0,
        ran_out_at: None,
    };
    let mut spent = 0.0;
    let mut next_update = DAY0;
    for now in visit_times() {
        // The collector's update, at most once per interval (the pacer would
        // keep its multiplier in between anyway).
        if paced && now >= next_update {
            let all: Vec<Tally> = tallies.values().cloned().collect();
            let moved = pacing::step(pacer.take(), &all, &campaign, &config, now).unwrap();
            ads[0].pacing = Some(moved.multiplier);
            pacer = Some(moved);
            next_update = now + config.interval_ms;
        }
        // The device: each ad's click rate for this shopper, ranked by ecpm.
        let ctrs: Vec<f64> = ADS
            .iter()
            .map(|(_, _, mean)| mean * (SPREAD * normal(&mut rng) - SPREAD * SPREAD / 2.0).exp())
            .collect();
        let shown = (0..ads.len())
            .max_by(|&a, &b| ads[a].ecpm(ctrs[a]).total_cmp(&ads[b].ecpm(ctrs[b])))
            .unwrap();
        let clicked = rng.random::<f64>() < ctrs[shown];
        let hour = ((now - DAY0) / 3_600_000.0) as usize;
        if shown == 0 {
            day.impressions_by_hour[hour] += 1;
            if clicked {
                spent += ADS[0].1;
                if spent >= BUDGET && day.ran_out_at.is_none() {
                    day.ran_out_at = Some((now - DAY0) / 3_600_000.0);
                }
            }
        }
        day.spent_by_hour[hour] = spent;
        // Its report: a fresh device's budget, the impression's noised bit.
        let labels = Labels {
            experiment: "pacing-sim".into(),
            arm: "served".into(),
            creative: None,
            campaign: Some(ads[shown].id.clone()),
        };
        let report = privacy::noised_report(
            clicked,
            labels,
            rr,
            &mut Budget::default(),
            4.0,
            now,
            &mut rng,
        )
        .unwrap();
        let tally = estimate::tally_of(&report);
        tallies
            .entry((ads[shown].id.clone(), report.clicked))
            .and_modify(|t| {
                t.reports += 1;
                t.clicked += tally.clicked;
            })
            .or_insert(tally);
    }
    for h in 1..24 {
        day.spent_by_hour[h] = day.spent_by_hour[h].max(day.spent_by_hour[h - 1]);
    }
    let all: Vec<Tally> = tallies.values().cloned().collect();
    day.estimated = pacing::spend_today(&all, &campaign, DAY0 + DAY_MS - 1.0).unwrap();
    day
}

#[test]
fn a_paced_campaign_spends_its_budget_over_the_day_and_an_unpaced_one_overspends() {
    let unpaced = simulate(1, false);
    println!(
        "unpaced: spent {:.1} of {BUDGET} ({:+.0}%), budget reached at {}",
        unpaced.spent(),
        100.0 * (unpaced.spent() / BUDGET - 1.0),
        unpaced
            .ran_out_at
            .map_or("never".into(), |h| format!("{h:.1} h"))
    );
    assert!(
        unpaced.spent() > 1.5 * BUDGET,
        "unpaced spend {}",
        unpaced.spent()
    );
    let mut worst: f64 = 0.0;
    for seed in 1..=5 {
        let day = simulate(seed, true);
        let deviation = day.spent() / BUDGET - 1.0;
        worst = worst.max(deviation.abs());
        let total: f64 = HOURLY.iter().sum();
        let by_18 = HOURLY[..18].iter().sum::<f64>() / total;
        println!(
            "seed {seed}: spent {:.1} ({:+.1}%), estimated {:.1}; at 18:00 {:.1} (target {:.1}); \
             impressions in the last hour {}",
            day.spent(),
            100.0 * deviation,
            day.estimated,
            day.spent_by_hour[17],
            BUDGET * by_18,
            day.impressions_by_hour[23]
        );
        assert!(deviation.abs() <= 0.10, "seed {seed}: {:+.3}", deviation);
        assert!(
            day.impressions_by_hour[23] > 0,
            "seed {seed}: ran out before the last hour"
        );
        assert!(
            (day.spent_by_hour[17] / (BUDGET * by_18) - 1.0).abs() <= 0.15,
            "seed {seed}: off the curve at 18:00"
        );
    }
    println!(
        "paced, 5 seeds: worst deviation from the budget {:.1}%",
        100.0 * worst
    );
}
