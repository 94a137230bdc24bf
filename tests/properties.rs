//! Properties of the rules that decide what a shopper's device keeps, shows and
//! reports, checked with proptest over generated inputs (NaN and infinite scores
//! included), and the fuzz targets replayed over their committed corpora.
//!
//! The properties restate each rule's contract independently of its code: which
//! events retention may delete, that slot probabilities are a distribution, that a
//! cap is never exceeded, that randomized response inverts, that the ε budget and
//! the arm bounds hold over any sequence of calls.

#![cfg(not(target_arch = "wasm32"))]

#[path = "../fuzz/targets.rs"]
mod targets;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use privrank::history::{DAY_MS, Retention};
use privrank::policy::{self, Arm, Exploration, MAX_EXPLORED};
use privrank::privacy::{
    Budget, MAX_ARMS, MAX_SALTS_PER_DAY, RandomizedResponse, Salts, WINDOW_MS,
};
use proptest::prelude::*;
use proptest::sample::select;
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Scores as the ranker, a corrupt stored vector or a page may produce them.
fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        6 => 0.0..=1.0f64,
        1 => -1e3..1e3f64,
        1 => select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, 1.0]),
    ]
}

fn exploration() -> impl Strategy<Value = Exploration> {
    prop_oneof![
        Just(Exploration::Greedy),
        (0.0..=1.0f64).prop_map(|epsilon| Exploration::EpsilonGreedy { epsilon }),
        (1e-3..1e4f64).prop_map(|strength| Exploration::Thompson { strength }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Retention deletes exactly what it must: every event past the age limit, then
    /// the oldest until `max_events` remain, and nothing newer than what it keeps.
    #[test]
    fn retention_deletes_the_old_and_the_oldest_surplus_only(
        ts in prop::collection::vec(1.0e12..1.9e12f64, 0..120),
        max_events in 1usize..60,
        max_age_days in 0.01..400.0f64,
        now in 1.7e12..1.9e12f64,
    ) {
        let retention = Retention { max_events, max_age_days };
        let expired = retention.expired(&ts, now);
        let gone: HashSet<usize> = expired.iter().copied().collect();
        prop_assert_eq!(gone.len(), expired.len(), "an index deleted twice");
        prop_assert!(expired.iter().all(|&i| i < ts.len()));
        let cutoff = now - max_age_days * DAY_MS;
        let kept: Vec<f64> = (0..ts.len()).filter(|i| !gone.contains(i)).map(|i| ts[i]).collect();
        prop_assert!(kept.len() <= max_events);
        prop_assert!(kept.iter().all(|&t| t >= cutoff), "kept an event past the age limit");
        let newest_gone = expired.iter().map(|&i| ts[i]).fold(f64::NEG_INFINITY, f64::max);
        let oldest_kept = kept.iter().copied().fold(f64::INFINITY, f64::min);
        prop_assert!(newest_gone <= oldest_kept, "deleted {newest_gone} but kept {oldest_kept}");
        let young_gone = expired.iter().filter(|&&i| ts[i] >= cutoff).count();
        if young_gone > 0 {
            prop_assert_eq!(kept.len(), max_events, "deleted a young event with room left");
        }
        prop_assert!(retention.expired(&kept, now).is_empty(), "a second pass deletes more");
    }

    /// Each slot's probabilities form a distribution over the remaining candidates,
    /// whatever the scores; greedy puts all of it on one, ε-greedy at least ε/n on each.
    #[test]
    fn slot_probabilities_are_a_distribution(
        scores in prop::collection::vec(score(), 1..40),
        how in exploration(),
        seed in any::<u64>(),
    ) {
        let left: Vec<usize> = (0..scores.len()).collect();
        let p = policy::slot_distribution(&scores, &left, &how, &mut StdRng::seed_from_u64(seed));
        prop_assert_eq!(p.len(), left.len());
        prop_assert!(p.iter().all(|x| (0.0..=1.0).contains(x)), "{:?}", p);
        prop_assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-9, "sums to {}", p.iter().sum::<f64>());
        match how {
            Exploration::Greedy => prop_assert_eq!(p.iter().filter(|&&x| x == 1.0).count(), 1),
            Exploration::EpsilonGreedy { epsilon } => {
                let floor = epsilon / p.len() as f64;
                prop_assert!(p.iter().all(|&x| x >= floor - 1e-12));
            }
            Exploration::Thompson { .. } => {}
        }
    }

    /// Exploration fills `min(k, pool)` slots with distinct candidates from the pool
    /// (Thompson's pool: the best-scored `MAX_EXPLORED`), each with a propensity in
    /// (0, 1], the same for the same seed.
    #[test]
    fn exploration_fills_distinct_slots_with_logged_propensities(
        scores in prop::collection::vec(score(), 1..90),
        k in 0usize..6,
        how in exploration(),
        seed in any::<u64>(),
    ) {
        let candidates: Vec<usize> = (0..scores.len()).rev().collect();
        let shown = policy::explore(&scores, &candidates, k, &how, seed);
        let thompson = matches!(how, Exploration::Thompson { .. });
        let pool = if thompson { scores.len().min(MAX_EXPLORED) } else { scores.len() };
        prop_assert_eq!(shown.len(), k.min(pool));
        let distinct: HashSet<usize> = shown.iter().map(|s| s.index).collect();
        prop_assert_eq!(distinct.len(), shown.len());
        prop_assert!(shown.iter().all(|s| s.index < scores.len()));
        prop_assert!(shown.iter().all(|s| s.propensity > 0.0 && s.propensity <= 1.0), "{:?}", shown);
        if thompson && scores.len() > MAX_EXPLORED {
            let mut sorted = scores.clone();
            sorted.sort_by(|a, b| b.total_cmp(a));
            let bar = sorted[MAX_EXPLORED - 1];
            prop_assert!(shown.iter().all(|s| scores[s.index].total_cmp(&bar).is_ge()));
        }
        prop_assert_eq!(policy::explore(&scores, &candidates, k, &how, seed), shown);
    }

    /// MMR returns `min(k, n)` distinct candidates; asking for more slots only
    /// appends; λ = 1 is the plain ranking by relevance.
    #[test]
    fn mmr_is_greedy_distinct_and_plain_at_lambda_one(
        items in prop::collection::vec((score(), prop::collection::vec(-1.0..1.0f32, 4)), 1..30),
        lambda in 0.0..=1.0f64,
        k in 0usize..12,
    ) {
        let (relevance, embeddings): (Vec<f64>, Vec<Vec<f32>>) = items.into_iter().unzip();
        let order = policy::mmr(&relevance, &embeddings, lambda, k);
        prop_assert_eq!(order.len(), k.min(relevance.len()));
        prop_assert_eq!(order.iter().collect::<HashSet<_>>().len(), order.len());
        let longer = policy::mmr(&relevance, &embeddings, lambda, k + 3);
        prop_assert_eq!(&longer[..order.len()], &order[..]);
        if relevance.iter().all(|r| r.is_finite()) {
            let plain = policy::mmr(&relevance, &embeddings, 1.0, relevance.len());
            prop_assert!(plain.windows(2).all(|w| relevance[w[0]] >= relevance[w[1]]), "{:?}", plain);
        }
    }

    /// No owner takes more than `max` slots; the rest keep their order, and only an
    /// owner's surplus is dropped.
    #[test]
    fn owner_caps_are_hard_and_drop_only_the_surplus(
        owners in prop::collection::vec(prop::option::of(0u8..4), 0..40),
        max in 1usize..4,
    ) {
        let order: Vec<usize> = (0..owners.len()).collect();
        let owner = |i: usize| owners[i].map(|o| format!("advertiser-{o}"));
        let kept = policy::cap_per_owner(&order, owner, max);
        prop_assert!(kept.windows(2).all(|w| w[0] < w[1]), "order changed");
        let mut taken: HashMap<u8, usize> = HashMap::new();
        for &i in &kept {
            if let Some(o) = owners[i] {
                *taken.entry(o).or_default() += 1;
            }
        }
        prop_assert!(taken.values().all(|&n| n <= max));
        for i in order.iter().filter(|i| !kept.contains(i)) {
            let o = owners[*i];
            prop_assert!(o.is_some(), "dropped a candidate with no owner");
            let before = kept.iter().filter(|&&j| j < *i && owners[j] == o).count();
            prop_assert_eq!(before, max, "dropped {} with room under its cap", i);
        }
    }

    /// Randomized response: truthful with probability in (½, 1] that grows with ε,
    /// and the aggregator's estimate inverts the noise exactly.
    #[test]
    fn randomized_response_is_calibrated_and_invertible(
        epsilon in 1e-3..50.0f64,
        more in 0.0..5.0f64,
        rate in 0.0..=1.0f64,
    ) {
        let rr = RandomizedResponse::new(epsilon).unwrap();
        let p = rr.truth();
        prop_assert!(p > 0.5 && p <= 1.0);
        prop_assert!(RandomizedResponse::new(epsilon + more).unwrap().truth() >= p);
        let reported = p * rate + (1.0 - p) * (1.0 - rate);
        let back = rr.estimate(reported);
        prop_assert!((back - rate).abs() < 1e-9 / (2.0 * p - 1.0), "{rate} came back as {back}");
    }

    /// No ε that is not a positive finite number makes a report.
    #[test]
    fn randomized_response_refuses_what_is_not_a_positive_number(
        epsilon in select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, 0.0, -0.0, -1.0, -1e-300]),
    ) {
        prop_assert!(RandomizedResponse::new(epsilon).is_err());
    }

    /// Over any sequence of reports, the ε spent in any rolling day stays within
    /// the total; a refused charge changes nothing, and a charge is refused only
    /// when it would not fit.
    #[test]
    fn the_epsilon_budget_holds_over_any_day(
        calls in prop::collection::vec((0.0..6.0 * 3_600_000.0f64, 0.01..3.0f64), 1..80),
        total in 0.1..=8.0f64,
    ) {
        let mut budget = Budget::default();
        let mut granted: Vec<(f64, f64)> = Vec::new();
        let mut now = 1.8e12;
        for (dt, epsilon) in calls {
            now += dt;
            let before = budget.clone();
            let spent = budget.spent(now);
            match budget.charge(epsilon, total, now) {
                Ok(()) => granted.push((now, epsilon)),
                Err(_) => {
                    prop_assert!(spent + epsilon > total, "refused {epsilon} with {spent} of {total} spent");
                    prop_assert_eq!(budget.spent(now), before.spent(now));
                }
            }
            let in_window: f64 = granted.iter().filter(|(t, _)| now - t < WINDOW_MS).map(|(_, e)| e).sum();
            prop_assert!(in_window <= total + 1e-6, "{in_window} spent in a day of {total}");
            prop_assert!((budget.spent(now) - in_window).abs() < 1e-9);
        }
    }

    /// However many experiments a page asks for, at most `MAX_SALTS_PER_DAY` are
    /// assigned in any rolling day, and one already assigned stays assigned.
    #[test]
    fn at_most_four_experiments_a_day(
        calls in prop::collection::vec((0.0..4.0 * 3_600_000.0f64, 0u8..10), 1..80),
    ) {
        let mut salts = Salts::default();
        let mut admitted: Vec<(u8, f64)> = Vec::new();
        let mut now = 1.8e12;
        for (dt, salt) in calls {
            now += dt;
            // Each experiment's latest assignment: it holds for a day from then.
            let last: HashMap<u8, f64> = admitted.iter().copied().collect();
            let held = last.get(&salt).is_some_and(|t| now - t < WINDOW_MS);
            let ok = salts.admit(&format!("experiment-{salt}"), now).is_ok();
            if held {
                prop_assert!(ok, "experiment-{salt} was assigned and is still in its day");
            } else if ok {
                admitted.push((salt, now));
            }
            let distinct: HashSet<u8> = admitted.iter().filter(|(_, t)| now - t < WINDOW_MS).map(|(s, _)| *s).collect();
            prop_assert!(distinct.len() <= MAX_SALTS_PER_DAY, "{} experiments in a day", distinct.len());
        }
    }

    /// A device's arm is one of the experiment's arms with a positive weight, the
    /// same every time; more than `MAX_ARMS` arms, or a weight that is not a finite
    /// number ≥ 0, is refused.
    #[test]
    fn arms_are_stable_weighted_and_bounded(
        weights in prop::collection::vec(
            prop_oneof![
                6 => 0.0..10.0f64,
                1 => Just(0.0),
                1 => Just(f64::MAX),
                1 => select(vec![f64::NAN, f64::INFINITY, -1.0]),
            ],
            0..20,
        ),
        device in "[a-f0-9]{8,32}",
        salt in "[a-z-]{1,16}",
    ) {
        let arms: Vec<Arm> = weights
            .iter()
            .enumerate()
            .map(|(i, &weight)| Arm { label: format!("arm-{i}"), weight })
            .collect();
        let valid = !arms.is_empty()
            && arms.len() <= MAX_ARMS
            && weights.iter().all(|w| w.is_finite() && *w >= 0.0)
            && weights.iter().any(|&w| w > 0.0);
        match policy::assign_arm(&device, &salt, &arms) {
            Ok(label) => {
                prop_assert!(valid, "assigned {label} among {weights:?}");
                let arm = arms.iter().find(|a| a.label == label).unwrap();
                prop_assert!(arm.weight > 0.0, "assigned {label} of weight 0");
                prop_assert_eq!(policy::assign_arm(&device, &salt, &arms).unwrap(), label);
            }
            Err(_) => prop_assert!(!valid, "refused valid arms {weights:?}"),
        }
    }
}

/// A fuzz target's body: true when it accepted the input.
type Target = fn(&[u8]) -> bool;

/// The targets in `fuzz/targets.rs`, by the name their folders have.
const TARGETS: [(&str, Target); 6] = [
    ("request", targets::request),
    ("catalog", targets::catalog),
    ("manifests", targets::manifests),
    ("encoder_weights", targets::encoder_weights),
    ("ranker_weights", targets::ranker_weights),
    ("tokenizer", targets::tokenizer),
];

/// A folder's files, sorted; none when it does not exist.
fn inputs(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Every committed input of every fuzz target runs through it without a panic:
/// the seeds (`fuzz/seeds/`), which must also be accepted so that the fuzzer starts
/// past the parsers, and each crash found (`fuzz/regressions/`), kept as a test.
#[test]
fn fuzz_targets_pass_their_committed_inputs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (name, target) in TARGETS {
        let seeds = inputs(&root.join("seeds").join(name));
        assert!(!seeds.is_empty(), "fuzz/seeds/{name}: no seeds");
        for file in &seeds {
            let data = std::fs::read(file).unwrap();
            assert!(
                target(&data),
                "fuzz target {name} refuses its seed {}",
                file.display()
            );
        }
        let regressions = inputs(&root.join("regressions").join(name));
        for file in &regressions {
            let data = std::fs::read(file).unwrap();
            let run = std::panic::catch_unwind(|| target(&data));
            assert!(
                run.is_ok(),
                "fuzz target {name} panicked on {}",
                file.display()
            );
        }
        println!(
            "fuzz target {name}: {} seeds accepted, {} regression inputs pass",
            seeds.len(),
            regressions.len()
        );
    }
}

/// Writes the weight targets' seeds: tiny models that load, so the fuzzer starts
/// from inputs that reach the tensor reader and the forward pass. Run it after a
/// change to the weights format:
/// `cargo test --features cli,wgpu --test properties -- --ignored write_fuzz_seeds`.
#[test]
#[ignore = "writes fuzz/seeds/"]
fn write_fuzz_seeds() {
    use privrank::weights::{NamedTensor, Scheme, to_safetensors};
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/seeds");
    let (v, d, f, p) = (8, 4, 8, 4);
    let config = format!(
        r#"{{"vocab_size": {v}, "hidden_size": {d}, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": {f}, "max_position_embeddings": {p}, "type_vocab_size": 1, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}}"#
    );
    let mut x = 0.1f32;
    let mut tensor = |name: &str, shape: Vec<usize>| {
        let data = (0..shape.iter().product::<usize>())
            .map(|_| {
                x = (x * 3.7 + 0.3) % 1.0;
                x - 0.5
            })
            .collect();
        NamedTensor {
            name: name.to_owned(),
            shape,
            data,
        }
    };
    let mut tensors = vec![
        tensor("embeddings.word_embeddings.weight", vec![v, d]),
        tensor("embeddings.position_embeddings.weight", vec![p, d]),
        tensor("embeddings.token_type_embeddings.weight", vec![1, d]),
        tensor("embeddings.LayerNorm.weight", vec![d]),
        tensor("embeddings.LayerNorm.bias", vec![d]),
    ];
    let l = "encoder.layer.0";
    for (name, out, inp) in [
        ("attention.self.query", d, d),
        ("attention.self.key", d, d),
        ("attention.self.value", d, d),
        ("attention.output.dense", d, d),
        ("intermediate.dense", f, d),
        ("output.dense", d, f),
    ] {
        tensors.push(tensor(&format!("{l}.{name}.weight"), vec![out, inp]));
        tensors.push(tensor(&format!("{l}.{name}.bias"), vec![out]));
    }
    for name in ["attention.output.LayerNorm", "output.LayerNorm"] {
        tensors.push(tensor(&format!("{l}.{name}.weight"), vec![d]));
        tensors.push(tensor(&format!("{l}.{name}.bias"), vec![d]));
    }
    let dir = root.join("encoder_weights");
    std::fs::create_dir_all(&dir).unwrap();
    for (label, scheme) in [
        ("f32", Scheme::F32),
        ("int8", Scheme::Int8),
        ("int4", Scheme::Int4),
    ] {
        let weights = to_safetensors(&tensors, |_| scheme).unwrap();
        let seed = targets::framed(config.as_bytes(), &weights);
        std::fs::write(dir.join(format!("tiny-{label}")), seed).unwrap();
    }

    let shipped: privrank::RankerManifest = serde_json::from_slice(
        &std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("models/student/ranker/ranker.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let mut manifest = shipped.clone();
    manifest.config = privrank::RankerConfig::new(4, shipped.config.candidate_features.clone())
        .with_projection_dim(2)
        .with_attention_hidden(2)
        .with_mlp(vec![2]);
    manifest.training = serde_json::Value::Null;
    let ranker = manifest.config.init(&privrank::Backend::cpu().device);
    let weights = ranker.to_safetensors().unwrap();
    let seed = targets::framed(&serde_json::to_vec(&manifest).unwrap(), &weights);
    let dir = root.join("ranker_weights");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("tiny"), seed).unwrap();
}
