//! The next token from a row of logits: greedy, or nucleus (top-p) sampling from a
//! seeded generator, so that a run is reproducible from its seed.

use rand::Rng;
use rand::rngs::StdRng;

use crate::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Sampling {
    /// The most likely token, every time.
    Greedy,
    /// From the smallest set of most likely tokens whose probability reaches `p`,
    /// after dividing the logits by `temperature`.
    TopP { p: f32, temperature: f32 },
}

impl Sampling {
    pub fn check(&self) -> Result<()> {
        match *self {
            Sampling::Greedy => Ok(()),
            Sampling::TopP { p, temperature } => {
                if !(p > 0.0 && p <= 1.0) {
                    return Err(Error::BadOptions(format!("top-p {p} is not in (0, 1]")));
                }
                if !(temperature.is_finite() && temperature > 0.0) {
                    return Err(Error::BadOptions(format!(
                        "temperature {temperature} is not a positive number"
                    )));
                }
                Ok(())
            }
        }
    }

    /// A token id from `logits`; an error if they hold a NaN (a broken model file
    /// or backend, never a token to pick).
    pub fn pick(&self, logits: &[f32], rng: &mut StdRng) -> Result<u32> {
        if logits.is_empty() || logits.iter().any(|x| x.is_nan()) {
            return Err(Error::Internal(
                "the model's scores are empty or NaN".to_owned(),
            ));
        }
        let best = |row: &[f32]| {
            row.iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(&a.0)))
                .map_or(0, |(i, _)| i as u32)
        };
        match *self {
            Sampling::Greedy => Ok(best(logits)),
            Sampling::TopP { p, temperature } => {
                let top = logits.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
                let mut ranked: Vec<(u32, f64)> = logits
                    .iter()
                    .enumerate()
                    .map(|(i, &x)| (i as u32, f64::from((x - top) / temperature).exp()))
                    .collect();
                // Ties in id order, so that the draw depends on the seed alone.
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                let total: f64 = ranked.iter().map(|r| r.1).sum();
                let mut kept = 0.0;
                let mut cut = ranked.len();
                for (i, r) in ranked.iter().enumerate() {
                    kept += r.1;
                    if kept >= f64::from(p) * total {
                        cut = i + 1;
                        break;
                    }
                }
                let mut draw = rng.random::<f64>() * kept;
                for r in &ranked[..cut] {
                    draw -= r.1;
                    if draw < 0.0 {
                        return Ok(r.0);
                    }
                }
                Ok(ranked[cut - 1].0)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn greedy_takes_the_largest_and_the_first_of_ties() {
        let mut rng = StdRng::seed_from_u64(0);
        assert_eq!(
            Sampling::Greedy
                .pick(&[0.1, 3.0, 3.0, -1.0], &mut rng)
                .unwrap(),
            1
        );
    }

    #[test]
    fn top_p_keeps_only_the_nucleus_and_repeats_under_a_seed() {
        // Probabilities ≈ 0.64, 0.24, 0.09, 0.03: p = 0.8 keeps the first two.
        let logits = [3.0, 2.0, 1.0, 0.0];
        let sampling = Sampling::TopP {
            p: 0.8,
            temperature: 1.0,
        };
        let draws = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..400)
                .map(|_| sampling.pick(&logits, &mut rng).unwrap())
                .collect::<Vec<_>>()
        };
        let a = draws(7);
        assert_eq!(a, draws(7));
        assert_ne!(a, draws(8));
        assert!(a.iter().all(|&t| t < 2), "outside the nucleus: {a:?}");
        let ones = a.iter().filter(|&&t| t == 1).count() as f64 / a.len() as f64;
        // 0.24 / (0.64 + 0.24) = 0.27 of the draws, within sampling noise.
        assert!((0.2..0.35).contains(&ones), "{ones}");
    }

    #[test]
    fn bad_settings_and_nan_are_errors() {
        let mut rng = StdRng::seed_from_u64(0);
        assert!(Sampling::Greedy.pick(&[0.0, f32::NAN], &mut rng).is_err());
        assert!(
            Sampling::TopP {
                p: 0.0,
                temperature: 1.0
            }
            .check()
            .is_err()
        );
        assert!(
            Sampling::TopP {
                p: 0.9,
                temperature: 0.0
            }
            .check()
            .is_err()
        );
    }
}
