//! The content prior's weight (`RankerConfig::content_weight`), chosen after
//! fitting on data the card's numbers never see: the validation impressions and the
//! development half of the focused MovieLens sessions. Every trial runs the served
//! request, so the weight is judged as a shopper's device would apply it.

use serde::{Deserialize, Serialize};

use super::focused::{self, Half};
use super::served::{Requests, Served};
use super::{Context, Experiment, auc_on};
use crate::rank::Model;
use crate::{RankerConfig, Result};

/// The weights tried, smallest first, in logits per spread of the pull over a
/// request's candidates (`rank::blend`): from "no pull" to "the session decides"
/// (the model's logits spread over a few units).
pub const GRID: [f32; 8] = [0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0];

/// How much validation AUC (absolute) the prior may cost against the fitted model
/// alone. The sampled-negative AUC rewards popularity, so some loss is the price of
/// following a focused shopper; past half a point the development sessions
/// gained little more (2026-12-06: 0.863 → 0.871 for another 0.0034 of AUC).
pub const AUC_TOLERANCE: f64 = 0.005;

/// One weight, as the served request scored it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Trial {
    pub weight: f32,
    /// AUC on the validation impressions.
    pub valid_auc: f64,
    /// In-genre share of the top 3 on the development half's focused sessions.
    pub genre_share: f64,
}

impl std::fmt::Display for Trial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "content weight {:>4}: validation AUC (served request) {:.4}, focused in-genre \
             share of the top 3 (development half) {:.3}",
            self.weight, self.valid_auc, self.genre_share
        )
    }
}

/// The trials and the weight they chose.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Choice {
    pub weight: f32,
    /// Content cosine's in-genre share on the same development sessions, for
    /// comparison.
    pub cosine_share: f64,
    pub auc_tolerance: f64,
    pub trials: Vec<Trial>,
}

/// The rule: among weights whose validation AUC is within [`AUC_TOLERANCE`] of
/// the unblended model's, the one with the highest focused share (the smaller on
/// ties). `trials` start with weight 0; without it, no prior.
pub fn pick(trials: &[Trial]) -> f32 {
    let Some(base) = trials.iter().find(|t| t.weight == 0.0) else {
        return 0.0;
    };
    trials
        .iter()
        .filter(|t| t.valid_auc >= base.valid_auc - AUC_TOLERANCE)
        .max_by(|a, b| {
            a.genre_share
                .total_cmp(&b.genre_share)
                .then(b.weight.total_cmp(&a.weight))
        })
        .map_or(0.0, |t| t.weight)
}

/// Score every weight of [`GRID`] through the served request and pick one;
/// `progress(trial)` after each.
pub fn choose(
    exp: &Experiment,
    ctx: &Context<'_>,
    model: Model<'_>,
    seed: u64,
    mut progress: impl FnMut(&Trial),
) -> Result<Choice> {
    let requests = Requests::new(exp, model.config)?;
    let sessions = focused::movielens(&exp.ml, model.config, Half::Tune, seed)?;
    let mut trials = Vec::with_capacity(GRID.len());
    let mut cosine_share = 0.0;
    for weight in GRID {
        let config = RankerConfig {
            content_weight: weight,
            ..model.config.clone()
        };
        let model = Model {
            config: &config,
            ..model
        };
        let served = Served {
            name: "privrank".into(),
            model,
            requests: &requests,
        };
        let report = sessions.run(model, &requests.embeddings)?;
        cosine_share = report.outcomes[1].in_label_share;
        let trial = Trial {
            weight,
            valid_auc: auc_on(&served, ctx, &exp.valid)?,
            genre_share: report.outcomes[0].in_label_share,
        };
        progress(&trial);
        trials.push(trial);
    }
    Ok(Choice {
        weight: pick(&trials),
        cosine_share,
        auc_tolerance: AUC_TOLERANCE,
        trials,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(weight: f32, valid_auc: f64, genre_share: f64) -> Trial {
        Trial {
            weight,
            valid_auc,
            genre_share,
        }
    }

    #[test]
    fn the_best_share_within_the_auc_tolerance_wins() {
        let trials = [
            trial(0.0, 0.900, 0.50),
            trial(1.0, 0.899, 0.70),
            trial(2.0, 0.896, 0.76),
            trial(4.0, 0.894, 0.80),
            trial(8.0, 0.850, 0.90),
        ];
        // 4 costs 0.006, more than the tolerance; 8 would reach 0.9 but costs five
        // points.
        assert_eq!(pick(&trials), 2.0);
        // Nothing but the model within the tolerance: no prior.
        assert_eq!(pick(&[trial(0.0, 0.9, 0.5), trial(1.0, 0.89, 0.9)]), 0.0);
    }

    #[test]
    fn ties_in_share_keep_the_smaller_weight_and_no_base_means_no_prior() {
        let trials = [
            trial(0.0, 0.9, 0.5),
            trial(1.0, 0.9, 0.6),
            trial(2.0, 0.9, 0.6),
        ];
        assert_eq!(pick(&trials), 1.0);
        assert_eq!(pick(&[trial(1.0, 0.9, 0.9)]), 0.0);
    }
}
