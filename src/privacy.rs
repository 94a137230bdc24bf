//! Private reports: what a page may learn about an ad's effect without learning
//! what this shopper did. `report` answers with randomized response (ε-local
//! differential privacy) and charges a per-site budget kept on the device; once the
//! budget is spent it refuses. The library never sends a report: the host decides.

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

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

    /// The probability of answering truthfully.
    pub fn truth(&self) -> f64 {
        let e = self.epsilon.exp();
        e / (1.0 + e)
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

/// A site's privacy budget: the total ε its reports may spend on this device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    pub total: f64,
    pub spent: f64,
}

impl Budget {
    pub fn new(total: f64) -> Result<Self> {
        if !(total.is_finite() && total > 0.0) {
            return Err(Error::BadOptions(format!(
                "a privacy budget must be a positive number, got {total}"
            )));
        }
        Ok(Self { total, spent: 0.0 })
    }

    /// Charge ε, or refuse without charging when it would exceed the budget.
    pub fn charge(&mut self, epsilon: f64) -> Result<()> {
        // A little slack so that e.g. ten charges of 0.1 fit a budget of 1.0.
        if self.spent + epsilon > self.total + 1e-9 {
            return Err(Error::BudgetSpent {
                spent: self.spent,
                total: self.total,
                asked: epsilon,
            });
        }
        self.spent += epsilon;
        Ok(())
    }
}

/// One private report: charge the budget, then randomize. Nothing is charged when
/// the budget refuses.
pub fn report(
    bit: bool,
    rr: RandomizedResponse,
    budget: &mut Budget,
    rng: &mut impl Rng,
) -> Result<bool> {
    budget.charge(rr.epsilon)?;
    Ok(rr.respond(bit, rng))
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
    fn the_budget_refuses_once_spent_and_charges_nothing_then() {
        let rr = RandomizedResponse::new(0.25).unwrap();
        let mut budget = Budget::new(1.0).unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        for _ in 0..4 {
            report(true, rr, &mut budget, &mut rng).unwrap();
        }
        let err = report(true, rr, &mut budget, &mut rng).unwrap_err();
        assert!(matches!(err, Error::BudgetSpent { .. }), "{err}");
        assert_eq!(err.code(), "PrivacyBudgetSpent");
        assert!((budget.spent - 1.0).abs() < 1e-12);
        assert!(Budget::new(-1.0).is_err());
    }
}
