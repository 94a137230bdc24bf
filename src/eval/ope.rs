//! Off-policy evaluation on the Open Bandit Dataset: how often would shoppers click
//! if privrank's policy had chosen the ads, estimated from logs of another policy
//! (uniform random) without showing anyone anything. The click model is trained on
//! the `bts` log and evaluated on the `random` log, so nothing is scored on the data
//! it was fitted to.

use std::collections::HashMap;

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde::Serialize;

use crate::data::OpenBandit;
use crate::data::obd::Impression;
use crate::{Error, Result};

/// Sparse features: (index, value).
type Features = Vec<(usize, f32)>;

/// One-hot vocabularies for OBD's hashed categorical columns, built from the
/// training log; unseen values get no feature.
#[derive(Debug, Default)]
pub struct Encoding {
    index: HashMap<String, usize>,
    items: HashMap<u32, usize>,
    dims: usize,
}

impl Encoding {
    fn slot(&mut self, key: String) -> usize {
        let next = self.index.len();
        *self.index.entry(key).or_insert(next)
    }

    /// Vocabulary from the training log and the item table.
    pub fn fit(log: &OpenBandit) -> Self {
        let mut e = Encoding::default();
        for item in &log.items {
            let at = e.items.len();
            e.items.insert(item.item, at);
            e.slot(format!("item={}", item.item));
            for (k, c) in item.categories.iter().enumerate() {
                e.slot(format!("cat{k}={c}"));
            }
        }
        for p in 1..=3 {
            e.slot(format!("pos={p}"));
        }
        for imp in &log.impressions {
            for (k, f) in imp.user_features.iter().enumerate() {
                e.slot(format!("user{k}={f}"));
                // User × position: where a shopper looks depends on who they are.
                e.slot(format!("user{k}={f}|pos={}", imp.position));
            }
        }
        e.slot("affinity".into());
        e.slot("price".into());
        e.dims = e.index.len();
        e
    }

    /// Features of showing `item` to the user of `imp` at `imp`'s position.
    pub fn features(&self, imp: &Impression, item: u32, log: &OpenBandit) -> Features {
        let mut x = Vec::new();
        let mut push = |key: String, v: f32| {
            if let Some(&i) = self.index.get(&key) {
                x.push((i, v));
            }
        };
        push(format!("item={item}"), 1.0);
        push(format!("pos={}", imp.position), 1.0);
        for (k, f) in imp.user_features.iter().enumerate() {
            push(format!("user{k}={f}"), 1.0);
            push(format!("user{k}={f}|pos={}", imp.position), 1.0);
        }
        if let Some(ctx) = log.items.iter().find(|c| c.item == item) {
            for (k, c) in ctx.categories.iter().enumerate() {
                push(format!("cat{k}={c}"), 1.0);
            }
            push("price".into(), ctx.price);
        }
        let affinity = self
            .items
            .get(&item)
            .and_then(|&i| imp.affinity.get(i))
            .copied()
            .unwrap_or(0.0);
        push("affinity".into(), affinity);
        x
    }
}

/// A logistic click model over sparse features, fitted by SGD with L2.
#[derive(Debug, Clone)]
pub struct ClickModel {
    pub weights: Vec<f64>,
    pub bias: f64,
}

impl ClickModel {
    pub fn predict(&self, x: &[(usize, f32)]) -> f64 {
        let z = self.bias
            + x.iter()
                .map(|&(i, v)| self.weights[i] * f64::from(v))
                .sum::<f64>();
        1.0 / (1.0 + (-z).exp())
    }

    pub fn fit(examples: &[(Features, bool)], dims: usize, epochs: usize, seed: u64) -> Self {
        let (lr, l2) = (0.05, 1e-4);
        let rate =
            examples.iter().filter(|(_, y)| *y).count() as f64 / examples.len().max(1) as f64;
        let rate = rate.clamp(1e-6, 1.0 - 1e-6);
        let mut model = ClickModel {
            weights: vec![0.0; dims],
            bias: (rate / (1.0 - rate)).ln(),
        };
        let mut order: Vec<usize> = (0..examples.len()).collect();
        let mut rng = StdRng::seed_from_u64(seed);
        for _ in 0..epochs {
            order.shuffle(&mut rng);
            for &n in &order {
                let (x, y) = &examples[n];
                let g = model.predict(x) - if *y { 1.0 } else { 0.0 };
                model.bias -= lr * g;
                for &(i, v) in x {
                    model.weights[i] -= lr * (g * f64::from(v) + l2 * model.weights[i]);
                }
            }
        }
        model
    }
}

/// An estimate with its 95 % normal confidence interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Estimate {
    /// Mean of per-round terms, with ±1.96 standard errors.
    pub fn of_terms(terms: &[f64]) -> Self {
        let n = terms.len().max(1) as f64;
        let mean = terms.iter().sum::<f64>() / n;
        let var = terms.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        let half = 1.96 * (var / n).sqrt();
        Estimate {
            value: mean,
            low: mean - half,
            high: mean + half,
        }
    }
}

/// One logged round as the estimators see it: the target policy's probabilities of
/// every action, the model's click predictions for every action, what was logged.
pub struct Round {
    pub target: Vec<f64>,
    pub predicted: Vec<f64>,
    pub action: usize,
    pub logged_propensity: f64,
    pub click: bool,
}

/// Inverse propensity scoring: unbiased when the logging propensities are right.
pub fn ips(rounds: &[Round]) -> Estimate {
    let terms: Vec<f64> = rounds
        .iter()
        .map(|r| f64::from(u8::from(r.click)) * r.target[r.action] / r.logged_propensity)
        .collect();
    Estimate::of_terms(&terms)
}

/// Self-normalised IPS: divides by the sum of weights; a little biased, much less
/// variance. Interval by the delta method.
pub fn snips(rounds: &[Round]) -> Estimate {
    let w: Vec<f64> = rounds
        .iter()
        .map(|r| r.target[r.action] / r.logged_propensity)
        .collect();
    let sum_w: f64 = w.iter().sum();
    if sum_w <= 0.0 {
        return Estimate::of_terms(&[0.0]);
    }
    let value = rounds
        .iter()
        .zip(&w)
        .map(|(r, w)| w * f64::from(u8::from(r.click)))
        .sum::<f64>()
        / sum_w;
    let mean_w = sum_w / rounds.len() as f64;
    let terms: Vec<f64> = rounds
        .iter()
        .zip(&w)
        .map(|(r, w)| w * (f64::from(u8::from(r.click)) - value) / mean_w)
        .collect();
    let spread = Estimate::of_terms(&terms);
    let half = (spread.high - spread.low) / 2.0;
    Estimate {
        value,
        low: value - half,
        high: value + half,
    }
}

/// Doubly robust: the model's estimate of the target policy's value, corrected by
/// importance-weighted residuals on the logged actions.
pub fn doubly_robust(rounds: &[Round]) -> Estimate {
    let terms: Vec<f64> = rounds
        .iter()
        .map(|r| {
            let direct: f64 = r.target.iter().zip(&r.predicted).map(|(p, q)| p * q).sum();
            let w = r.target[r.action] / r.logged_propensity;
            direct + w * (f64::from(u8::from(r.click)) - r.predicted[r.action])
        })
        .collect();
    Estimate::of_terms(&terms)
}

/// Expected calibration error over `bins` equal-width bins of predicted probability.
pub fn ece(predicted: &[f64], clicked: &[bool], bins: usize) -> f64 {
    let mut sum_p = vec![0.0; bins];
    let mut sum_y = vec![0.0; bins];
    let mut count = vec![0usize; bins];
    for (&p, &y) in predicted.iter().zip(clicked) {
        let b = ((p * bins as f64) as usize).min(bins - 1);
        sum_p[b] += p;
        sum_y[b] += f64::from(u8::from(y));
        count[b] += 1;
    }
    let n = predicted.len().max(1) as f64;
    (0..bins)
        .filter(|&b| count[b] > 0)
        .map(|b| count[b] as f64 / n * ((sum_p[b] - sum_y[b]) / count[b] as f64).abs())
        .sum()
}

/// ε-greedy over predicted clicks, the shape of privrank's exploring policy.
pub fn epsilon_greedy(predicted: &[f64], epsilon: f64) -> Vec<f64> {
    let n = predicted.len();
    let best = predicted
        .iter()
        .enumerate()
        .fold(
            (0, f64::NEG_INFINITY),
            |b, (i, &p)| if p > b.1 { (i, p) } else { b },
        )
        .0;
    let mut p = vec![epsilon / n as f64; n];
    p[best] += 1.0 - epsilon;
    p
}

/// Everything `privrank ope` prints.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub rounds: usize,
    pub epsilon: f64,
    pub random_ctr: f64,
    pub bts_ctr: f64,
    pub ips: Estimate,
    pub snips: Estimate,
    pub dr: Estimate,
    /// IPS of the uniform policy on its own log: must equal `random_ctr` (a check of
    /// the propensities and the estimator).
    pub uniform_ips: Estimate,
    /// Rounds where the logged ad is the one privrank's policy would pick greedily:
    /// the data the estimate really rests on.
    pub agreeing_rounds: usize,
    pub ece: f64,
    /// Observed CTR at positions 1, 2, 3 of the random log.
    pub ctr_by_position: Vec<(u8, f64, usize)>,
}

/// Train on `train` (the bts log), evaluate an ε-greedy policy on `eval` (the random
/// log).
pub fn evaluate(train: &OpenBandit, eval: &OpenBandit, epsilon: f64, seed: u64) -> Result<Report> {
    if !(0.0..=1.0).contains(&epsilon) {
        return Err(Error::BadOptions(format!(
            "epsilon must be in [0, 1], got {epsilon}"
        )));
    }
    if eval.impressions.is_empty() {
        return Err(Error::BadInput("the evaluation log is empty".into()));
    }
    let encoding = Encoding::fit(train);
    let examples: Vec<(Features, bool)> = train
        .impressions
        .iter()
        .map(|imp| (encoding.features(imp, imp.item, train), imp.click))
        .collect();
    let model = ClickModel::fit(&examples, encoding.dims, 3, seed);
    let actions: Vec<u32> = eval.items.iter().map(|c| c.item).collect();
    let rounds: Vec<Round> = eval
        .impressions
        .iter()
        .map(|imp| {
            let predicted: Vec<f64> = actions
                .iter()
                .map(|&a| model.predict(&encoding.features(imp, a, eval)))
                .collect();
            Round {
                target: epsilon_greedy(&predicted, epsilon),
                action: actions.iter().position(|&a| a == imp.item).unwrap_or(0),
                predicted,
                logged_propensity: f64::from(imp.propensity),
                click: imp.click,
            }
        })
        .collect();
    let agreeing_rounds = rounds
        .iter()
        .filter(|r| r.target[r.action] > epsilon / r.target.len() as f64 + 1e-12)
        .count();
    let uniform: Vec<Round> = rounds
        .iter()
        .map(|r| Round {
            target: vec![1.0 / r.target.len() as f64; r.target.len()],
            predicted: Vec::new(),
            action: r.action,
            logged_propensity: r.logged_propensity,
            click: r.click,
        })
        .collect();
    let logged: Vec<f64> = rounds.iter().map(|r| r.predicted[r.action]).collect();
    let clicks: Vec<bool> = rounds.iter().map(|r| r.click).collect();
    let ctr_by_position = (1..=3u8)
        .map(|p| {
            let at: Vec<&Impression> = eval
                .impressions
                .iter()
                .filter(|i| i.position == p)
                .collect();
            let clicks = at.iter().filter(|i| i.click).count();
            (p, clicks as f64 / at.len().max(1) as f64, at.len())
        })
        .collect();
    Ok(Report {
        rounds: rounds.len(),
        epsilon,
        random_ctr: eval.ctr(),
        bts_ctr: train.ctr(),
        ips: ips(&rounds),
        snips: snips(&rounds),
        dr: doubly_robust(&rounds),
        uniform_ips: ips(&uniform),
        agreeing_rounds,
        ece: ece(&logged, &clicks, 10),
        ctr_by_position,
    })
}

impl Report {
    pub fn markdown(&self) -> String {
        let est = |e: &Estimate| format!("{:.4} [{:.4}, {:.4}]", e.value, e.low, e.high);
        let mut s = String::new();
        s.push_str(&format!(
            "Open Bandit Dataset sample (campaign `all`): click model trained on the `bts` log, \
             policy evaluated on the `random` log ({} rounds). privrank's policy: ε-greedy \
             (ε = {}) over the model's predicted click rates for the slot.\n\n",
            self.rounds, self.epsilon
        ));
        s.push_str("| policy / estimator | CTR (95 % CI) |\n|---|---|\n");
        s.push_str(&format!(
            "| logged `random` (observed) | {:.4} |\n",
            self.random_ctr
        ));
        s.push_str(&format!(
            "| logged `bts` (observed) | {:.4} |\n",
            self.bts_ctr
        ));
        s.push_str(&format!("| privrank, IPS | {} |\n", est(&self.ips)));
        s.push_str(&format!("| privrank, SNIPS | {} |\n", est(&self.snips)));
        s.push_str(&format!(
            "| privrank, doubly robust | {} |\n",
            est(&self.dr)
        ));
        s.push_str(&format!(
            "| check: uniform policy, IPS (must match the observed `random` CTR) | {} |\n",
            est(&self.uniform_ips)
        ));
        s.push_str(&format!(
            "\nThe logged ad is the one privrank's policy would pick greedily in {} of {} \
             rounds; the estimates rest on those rounds' clicks, so their intervals \
             understate the uncertainty when those rounds hold few or no clicks.\n",
            self.agreeing_rounds, self.rounds
        ));
        let verdict = if self.dr.high < self.random_ctr {
            "below the uniform logging policy: the click model, fitted on the `bts` log's \
             few clicks, does not find better ads than chance here"
        } else if self.dr.low > self.random_ctr {
            "above the uniform logging policy"
        } else {
            "not distinguishable from the uniform logging policy"
        };
        s.push_str(&format!(
            "Verdict (doubly robust interval against the observed `random` CTR): {verdict}.\n"
        ));
        s.push_str(&format!(
            "\nCalibration of the click model on the random log: ECE {:.4} (10 bins).\n\n",
            self.ece
        ));
        s.push_str("| position | CTR (random log) | impressions |\n|---|---|---|\n");
        for (p, ctr, n) in &self.ctr_by_position {
            s.push_str(&format!("| {p} | {ctr:.4} | {n} |\n"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic bandit with known click rates: 3 actions, uniform logging.
    fn rounds(target: impl Fn() -> Vec<f64>, n: usize, model_error: f64) -> (Vec<Round>, f64) {
        let truth = [0.05, 0.2, 0.1];
        let mut rng = StdRng::seed_from_u64(9);
        let rounds: Vec<Round> = (0..n)
            .map(|_| {
                let action = rand::Rng::random_range(&mut rng, 0..3);
                let click = rand::Rng::random::<f64>(&mut rng) < truth[action];
                Round {
                    target: target(),
                    predicted: truth.iter().map(|t| t + model_error).collect(),
                    action,
                    logged_propensity: 1.0 / 3.0,
                    click,
                }
            })
            .collect();
        let pi = target();
        let value = pi.iter().zip(truth).map(|(p, t)| p * t).sum();
        (rounds, value)
    }

    #[test]
    fn estimators_recover_a_known_policy_value() {
        // Always action 1: true value 0.2.
        let (r, truth) = rounds(|| vec![0.0, 1.0, 0.0], 30_000, 0.05);
        for (name, e) in [
            ("ips", ips(&r)),
            ("snips", snips(&r)),
            ("dr", doubly_robust(&r)),
        ] {
            assert!(
                e.low <= truth && truth <= e.high,
                "{name}: {e:?} vs {truth}"
            );
            assert!(e.high - e.low < 0.03, "{name}: {e:?}");
        }
        // The logging policy itself: IPS is the observed click rate.
        let (r, _) = rounds(|| vec![1.0 / 3.0; 3], 5_000, 0.0);
        let observed = r.iter().filter(|x| x.click).count() as f64 / r.len() as f64;
        assert!((ips(&r).value - observed).abs() < 1e-12);
        // A perfect model makes DR's correction average out to ~0 and narrows it.
        let (r, truth) = rounds(|| vec![0.0, 1.0, 0.0], 30_000, 0.0);
        let (dr, raw) = (doubly_robust(&r), ips(&r));
        assert!((dr.value - truth).abs() < 0.01);
        assert!(dr.high - dr.low < raw.high - raw.low);
    }

    #[test]
    fn ece_and_epsilon_greedy_by_hand() {
        // Bin [0.1, 0.2): p 0.15 ×2, one click → |0.15 − 0.5| = 0.35 on half the data;
        // bin [0.9, 1.0]: p 0.95 ×2, two clicks → 0.05 on the other half.
        let e = ece(&[0.15, 0.15, 0.95, 0.95], &[true, false, true, true], 10);
        assert!((e - (0.5 * 0.35 + 0.5 * 0.05)).abs() < 1e-12, "{e}");
        let p = epsilon_greedy(&[0.1, 0.3, 0.2, 0.0], 0.2);
        assert_eq!(p.len(), 4);
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
        assert!((p[1] - 0.85).abs() < 1e-12 && (p[0] - 0.05).abs() < 1e-12);
    }
}
