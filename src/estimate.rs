//! What a collector may learn from noised reports: per arm and creative, the click
//! rate with a 95% interval, and per campaign the clicks and spend they imply. The
//! collector only ever counts reports (how many, how many said "clicked"), grouped
//! by their labels and ε, so this works on those counts and nothing finer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::privacy::{NoisedReport, RandomizedResponse};
use crate::{Error, Result};

/// The normal quantile of a two-sided 95% interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The collector's count of the reports sharing one set of labels, one day and one
/// ε: the only thing it stores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Tally {
    pub experiment: String,
    pub arm: String,
    /// `""` when the reports named no creative.
    pub creative: String,
    /// `""` when the reports named no campaign.
    pub campaign: String,
    pub day: String,
    pub epsilon: f64,
    pub reports: u64,
    /// Reports whose noised bit said "clicked".
    pub clicked: u64,
}

/// A debiased click rate. `ctr` is the unbiased estimate itself, so it may fall
/// outside [0, 1] on few reports; the interval is clipped to [0, 1].
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rate {
    pub ctr: f64,
    pub low: f64,
    pub high: f64,
    /// The estimate's standard error (the interval is ctr ± 1.96 of it, clipped).
    pub stderr: f64,
    pub reports: u64,
    /// The distinct ε the reports were sent with, ascending.
    pub epsilon: Vec<f64>,
}

impl Rate {
    /// The clicks the reports imply: the rate times the impressions reported.
    pub fn clicks(&self) -> f64 {
        self.ctr * self.reports as f64
    }
}

/// One arm × creative of an experiment.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArmEstimate {
    pub arm: String,
    pub creative: Option<String>,
    #[serde(flatten)]
    pub rate: Rate,
}

/// One campaign: its impressions (reports), the clicks they imply with a 95%
/// interval, and so its spend at a cost-per-click bid.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CampaignEstimate {
    pub campaign: String,
    pub reports: u64,
    pub clicks: f64,
    pub clicks_low: f64,
    pub clicks_high: f64,
    /// `clicks × bid`, when the collector knows the campaign's bid.
    pub bid: Option<f64>,
    pub spend: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimates {
    pub experiment: String,
    pub arms: Vec<ArmEstimate>,
    pub campaigns: Vec<CampaignEstimate>,
}

/// The rate behind `tallies`, which may mix ε. Each ε group is debiased on its
/// own, (r − (1 − p)) / (2p − 1) with p the truth probability, and the groups are
/// averaged weighted by their reports, so the estimate stays unbiased; its
/// variance is the groups' binomial variances through the same weights.
pub fn rate<'a>(tallies: impl IntoIterator<Item = &'a Tally>) -> Result<Rate> {
    let mut groups: BTreeMap<u64, (f64, u64, u64)> = BTreeMap::new();
    for t in tallies {
        RandomizedResponse::new(t.epsilon)?;
        if t.clicked > t.reports {
            return Err(Error::BadInput(format!(
                "a tally of {} reports cannot have {} clicked",
                t.reports, t.clicked
            )));
        }
        let group = groups
            .entry(t.epsilon.to_bits())
            .or_insert((t.epsilon, 0, 0));
        group.1 += t.reports;
        group.2 += t.clicked;
    }
    let total: u64 = groups.values().map(|g| g.1).sum();
    if total == 0 {
        return Err(Error::BadInput("no reports to estimate from".into()));
    }
    let (mut ctr, mut variance) = (0.0, 0.0);
    for &(epsilon, n, yes) in groups.values().filter(|g| g.1 > 0) {
        let rr = RandomizedResponse::new(epsilon)?;
        let (n, share) = (n as f64, n as f64 / total as f64);
        let reported = yes as f64 / n;
        let gain = 2.0 * rr.truth() - 1.0;
        ctr += share * rr.estimate(reported);
        // The variance at a rate nudged off 0 and 1 (by half a report each way), so
        // that a handful of identical reports does not claim certainty.
        let nudged = (yes as f64 + 0.5) / (n + 1.0);
        variance += share * share * nudged * (1.0 - nudged) / (n * gain * gain);
    }
    let stderr = variance.sqrt();
    let half = Z95 * stderr;
    let mut epsilon: Vec<f64> = groups.values().map(|g| g.0).collect();
    epsilon.sort_by(f64::total_cmp);
    Ok(Rate {
        ctr,
        low: (ctr - half).clamp(0.0, 1.0),
        high: (ctr + half).clamp(0.0, 1.0),
        stderr,
        reports: total,
        epsilon,
    })
}

/// Every arm × creative and every campaign of one experiment, from the
/// collector's tallies (all days); `bids` gives campaigns their cost per click.
pub fn estimates(
    experiment: &str,
    tallies: &[Tally],
    bids: &BTreeMap<String, f64>,
) -> Result<Estimates> {
    crate::privacy::check_label("experiment", experiment)
        .map_err(|e| Error::BadInput(e.to_string()))?;
    let mine: Vec<&Tally> = tallies
        .iter()
        .filter(|t| t.experiment == experiment)
        .collect();
    let mut by_arm: BTreeMap<(&str, &str), Vec<&Tally>> = BTreeMap::new();
    let mut by_campaign: BTreeMap<&str, Vec<&Tally>> = BTreeMap::new();
    for t in &mine {
        by_arm.entry((&t.arm, &t.creative)).or_default().push(t);
        if !t.campaign.is_empty() {
            by_campaign.entry(&t.campaign).or_default().push(t);
        }
    }
    let arms = by_arm
        .into_iter()
        .map(|((arm, creative), group)| {
            Ok(ArmEstimate {
                arm: arm.to_owned(),
                creative: (!creative.is_empty()).then(|| creative.to_owned()),
                rate: rate(group)?,
            })
        })
        .collect::<Result<_>>()?;
    let campaigns = by_campaign
        .into_iter()
        .map(|(campaign, group)| {
            let rate = rate(group)?;
            let n = rate.reports as f64;
            let bid = bids.get(campaign).copied();
            // Clicks are the rate times the impressions; so are the interval's ends.
            let half = Z95 * rate.stderr;
            let clicks = rate.clicks();
            Ok(CampaignEstimate {
                campaign: campaign.to_owned(),
                reports: rate.reports,
                clicks,
                clicks_low: ((rate.ctr - half) * n).clamp(0.0, n),
                clicks_high: ((rate.ctr + half) * n).clamp(0.0, n),
                bid,
                spend: bid.map(|b| clicks * b),
            })
        })
        .collect::<Result<_>>()?;
    Ok(Estimates {
        experiment: experiment.to_owned(),
        arms,
        campaigns,
    })
}

/// The tally a single report adds to (the collector's upsert key and increment).
pub fn tally_of(report: &NoisedReport) -> Tally {
    Tally {
        experiment: report.experiment.clone(),
        arm: report.arm.clone(),
        creative: report.creative.clone().unwrap_or_default(),
        campaign: report.campaign.clone().unwrap_or_default(),
        day: report.day.clone(),
        epsilon: report.epsilon,
        reports: 1,
        clicked: u64::from(report.clicked),
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    fn tally(arm: &str, epsilon: f64, reports: u64, clicked: u64) -> Tally {
        Tally {
            experiment: "x".into(),
            arm: arm.into(),
            creative: String::new(),
            campaign: "c".into(),
            day: "2026-12-06".into(),
            epsilon,
            reports,
            clicked,
        }
    }

    /// `n` devices with true click rate `truth` each send one report at ε.
    fn simulate(rng: &mut StdRng, truth: f64, epsilon: f64, n: u64) -> Tally {
        let rr = RandomizedResponse::new(epsilon).unwrap();
        let clicked = (0..n)
            .filter(|_| rr.respond(rng.random::<f64>() < truth, rng))
            .count() as u64;
        tally("a", epsilon, n, clicked)
    }

    #[test]
    fn the_interval_covers_the_truth_in_95_percent_of_seeds() {
        // The criterion: ε = 1, 20,000 reports, ≥ 93% of 200 seeds covered.
        let truth = 0.05;
        let (mut covered, mut sum) = (0, 0.0);
        for seed in 0..200 {
            let mut rng = StdRng::seed_from_u64(seed);
            let rate = rate([&simulate(&mut rng, truth, 1.0, 20_000)]).unwrap();
            covered += usize::from(rate.low <= truth && truth <= rate.high);
            sum += rate.ctr;
        }
        let mean = sum / 200.0;
        println!("coverage {covered}/200, mean estimate {mean:.5} (truth {truth})");
        assert!(covered >= 186, "covered in {covered} of 200 seeds");
        // Unbiased: the mean of 200 estimates (each with s.e. ≈ 0.0075) is within
        // 4 standard errors of the mean (0.0021) of the truth.
        assert!((mean - truth).abs() < 0.0021, "mean {mean}");
    }

    #[test]
    fn mixed_epsilons_are_debiased_apart_and_pooled_by_reports() {
        let mut rng = StdRng::seed_from_u64(7);
        let (low_eps, high_eps) = (
            simulate(&mut rng, 0.2, 0.5, 30_000),
            simulate(&mut rng, 0.2, 3.0, 10_000),
        );
        let pooled = rate([&low_eps, &high_eps]).unwrap();
        let (a, b) = (rate([&low_eps]).unwrap(), rate([&high_eps]).unwrap());
        assert!((pooled.ctr - (0.75 * a.ctr + 0.25 * b.ctr)).abs() < 1e-12);
        assert_eq!(pooled.epsilon, vec![0.5, 3.0]);
        assert_eq!(pooled.reports, 40_000);
        assert!(pooled.low <= 0.2 && 0.2 <= pooled.high, "{pooled:?}");
        // Pooling ε = 3's precise reports narrows the ε = 0.5 interval.
        assert!(
            pooled.stderr < a.stderr,
            "{} vs {}",
            pooled.stderr,
            a.stderr
        );
    }

    #[test]
    fn a_few_identical_reports_get_a_wide_interval_not_a_point() {
        let one = rate(&[tally("a", 0.5, 1, 1)]).unwrap();
        assert!(one.ctr > 1.0, "unbiased, so beyond 1 here: {}", one.ctr);
        assert!(
            one.stderr > 0.5 && one.low == 0.0 && one.high == 1.0,
            "{one:?}"
        );
        let bids = BTreeMap::from([("c".to_owned(), 1.0)]);
        let out = estimates("x", &[tally("a", 0.5, 1, 1)], &bids).unwrap();
        let c = &out.campaigns[0];
        assert!(
            c.clicks_low <= c.clicks_high && c.clicks_high <= 1.0,
            "{c:?}"
        );
    }

    #[test]
    fn estimates_group_arms_and_price_campaigns_at_their_bid() {
        let tallies = [
            tally("a", 1.0, 100, 40),
            tally("b", 1.0, 50, 30),
            Tally {
                experiment: "other".into(),
                ..tally("a", 1.0, 999, 999)
            },
        ];
        let bids = BTreeMap::from([("c".to_owned(), 0.5)]);
        let out = estimates("x", &tallies, &bids).unwrap();
        assert_eq!(out.arms.len(), 2, "another experiment's tallies leaked in");
        assert_eq!(out.arms[0].arm, "a");
        assert_eq!(out.arms[0].creative, None);
        let [campaign] = &out.campaigns[..] else {
            panic!("{:?}", out.campaigns)
        };
        assert_eq!(campaign.reports, 150);
        let want = rate(&tallies[..2]).unwrap().ctr * 150.0;
        assert!((campaign.clicks - want).abs() < 1e-9);
        assert_eq!(campaign.spend, Some(want * 0.5));
        assert!(
            rate(&[tally("a", 1.0, 1, 2)]).is_err(),
            "more clicks than reports"
        );
        assert!(rate(&[tally("a", 0.0, 1, 0)]).is_err(), "ε of 0");
        assert!(rate(&[] as &[Tally]).is_err());
    }
}
