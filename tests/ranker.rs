//! The ranker's data, model and training, on real MovieLens and on a tiny fixture.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::collections::HashSet;

use burn::module::Module;
use burn::tensor::{Device, Int, Tensor, TensorData};
use privrank::config::{EncoderRef, FileSpec};
use privrank::data::{MovieLens, Part, Split, default_data_dir};
use privrank::eval::served::Requests;
use privrank::eval::{Experiment, ExperimentConfig};
use privrank::history::EventKind;
use privrank::metrics::{auc, logloss};
use privrank::rank::Model;
use privrank::ranker::train::{FitReport, Neighbours, TrainConfig, fit, predict};
use privrank::ranker::{RankBatch, Ranker, Scored};
use privrank::weights::{TensorSource, sha256_hex};
use privrank::{Backend, BackendChoice, Error, RankerConfig, RankerManifest};

fn movielens() -> MovieLens {
    let dir = default_data_dir("ml-100k");
    MovieLens::load(&dir).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn movielens_loads_the_full_dataset() {
    let ml = movielens();
    assert_eq!(
        (ml.users.len(), ml.items.len(), ml.ratings.len()),
        (943, 1682, 100_000)
    );
    assert_eq!(
        ml.items[0].text(),
        "Toy Story (1995). Animation, Children's, Comedy"
    );
}

#[test]
fn time_split_has_no_leakage_and_is_deterministic() {
    let ml = movielens();
    let split = Split::by_time(&ml, 0.2, 0.1);
    let (mut n_test, mut n_valid) = (0usize, 0usize);
    for user in 0..ml.users.len() as u32 {
        let ts =
            |part| -> Vec<i64> { split.events(user, part).map(|e| ml.ratings[e].ts).collect() };
        let (train, valid, test) = (ts(Part::Train), ts(Part::Valid), ts(Part::Test));
        assert!(!train.is_empty() && !test.is_empty(), "user {user}");
        let last_train = *train.iter().max().unwrap();
        let first_valid = valid.iter().min().copied().unwrap_or(i64::MAX);
        let last_valid = valid.iter().max().copied().unwrap_or(last_train);
        let first_test = *test.iter().min().unwrap();
        assert!(
            last_train <= first_valid && last_valid <= first_test,
            "user {user} leaks"
        );
        n_test += test.len();
        n_valid += valid.len();
    }
    let frac = |n: usize| n as f64 / ml.ratings.len() as f64;
    assert!(
        (frac(n_test) - 0.2).abs() < 0.005,
        "test fraction {}",
        frac(n_test)
    );
    assert!(
        (frac(n_valid) - 0.1).abs() < 0.005,
        "valid fraction {}",
        frac(n_valid)
    );

    let again = Split::by_time(&ml, 0.2, 0.1);
    assert_eq!(split.part, again.part);
    let test = split.impressions(&ml, Part::Test, 4, 7);
    assert_eq!(test, again.impressions(&ml, Part::Test, 4, 7));
    assert_ne!(
        test,
        split.impressions(&ml, Part::Test, 4, 8),
        "the seed must matter"
    );

    // Every impression's history is strictly earlier than it; negatives were never rated.
    let neighbours = Neighbours::fit(&ml, &split, 10, 3);
    let config = RankerConfig::new(1, Vec::new()).with_max_history(30);
    let examples = privrank::ranker::train::Examples::new(&ml, &split, &[], &neighbours, &config);
    for imp in &test {
        for &e in examples.history(imp) {
            assert!(
                ml.ratings[e].ts < imp.ts,
                "history event after the impression"
            );
        }
        if imp.label == 0.0 {
            let rated: HashSet<u32> = split.by_user[imp.user as usize]
                .iter()
                .map(|&e| ml.ratings[e].item)
                .collect();
            let is_rating = split
                .events(imp.user, Part::Test)
                .any(|e| ml.ratings[e].item == imp.item && ml.ratings[e].ts == imp.ts);
            assert!(is_rating || !rated.contains(&imp.item));
        }
    }
}

/// Ten users, twenty items in two taste clusters: users rate items of their own
/// cluster 4 or 5 stars and the others 2 or 3, so every trained event kind occurs.
/// Item embeddings are the cluster direction plus noise, so a model that reads the
/// history can learn the task.
fn tiny_fixture() -> (MovieLens, Vec<Vec<f32>>) {
    let mut items =
        String::from("item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n");
    for i in 0..20 {
        // Each cluster has its genre; every fifth item also has a shared one, so
        // category matches differ between candidates.
        let genres = match (i % 2, i % 5) {
            (0, 0) => "Drama Romance",
            (0, _) => "Drama",
            (_, 0) => "Comedy Romance",
            _ => "Comedy",
        };
        items.push_str(&format!("{i}\tItem {i}\t{}\t{genres}\n", 1950 + i));
    }
    let mut users =
        String::from("user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n");
    let mut inter = String::from("user_id:token\titem_id:token\trating:float\ttimestamp:float\n");
    for u in 0..10 {
        users.push_str(&format!("{u}\t30\tF\tother\t00000\n"));
        for step in 0..15 {
            let item = (u * 7 + step * 3) % 20;
            // In-cluster items come at even steps, the others at odd ones.
            let rating = match (item % 2 == u % 2, step % 4) {
                (true, 0) => 5,
                (true, _) => 4,
                (false, 1) => 3,
                (false, _) => 2,
            };
            inter.push_str(&format!(
                "{u}\t{item}\t{rating}\t{}\n",
                1000 + step * 86_400
            ));
        }
    }
    let ml = MovieLens::parse(&inter, &items, &users).unwrap();
    let embeddings = (0..20)
        .map(|i: usize| {
            (0..8)
                .map(|k| {
                    let cluster = if i.is_multiple_of(2) == (k < 4) {
                        1.0
                    } else {
                        -1.0
                    };
                    cluster + ((i * 31 + k * 17) % 11) as f32 / 11.0 - 0.5
                })
                .collect()
        })
        .collect();
    (ml, embeddings)
}

fn tiny_config(attention: bool) -> RankerConfig {
    RankerConfig::new(8, vec!["popularity".into(), "release_year".into()])
        .with_projection_dim(8)
        .with_attention_hidden(8)
        .with_mlp(vec![16, 8])
        .with_dropout(0.0)
        .with_attention(attention)
        .with_max_history(6)
        .with_match_history(10)
}

/// The tiny fixture as an experiment: rated items only (the low ratings as the
/// negatives), whose labels follow the taste clusters exactly; neighbours from pairs
/// of two users or more.
fn tiny_experiment() -> Experiment {
    tiny_experiment_with(0)
}

/// The tiny fixture with `eval_negatives` sampled negatives beside each held-out
/// rating (so that a request ranks several candidates).
fn tiny_experiment_with(eval_negatives: usize) -> Experiment {
    let (ml, embeddings) = tiny_fixture();
    let config = ExperimentConfig {
        train_negatives: 0,
        train_popular_negatives: 0,
        train_low_ratings: true,
        eval_negatives,
        seed: 1,
        related_top: 10,
        related_min_users: 2,
        ..ExperimentConfig::default()
    };
    Experiment::new(config, ml, embeddings)
}

fn tiny_fit(exp: &Experiment, config: &RankerConfig, epochs: usize) -> (Ranker, Ranker, FitReport) {
    let examples = exp.examples(config);
    let device = Device::flex().autodiff();
    device.seed(3);
    let ranker = config.init(&device);
    let config = TrainConfig {
        max_epochs: epochs,
        patience: epochs,
        batch_size: 32,
        learning_rate: 1e-2,
        seed: 1,
        ..TrainConfig::default()
    };
    let initial = ranker.clone();
    let (ranker, report) = fit(
        ranker,
        &examples,
        &exp.train,
        &exp.valid,
        &config,
        &device,
        |_| {},
    )
    .unwrap();
    (initial.valid(), ranker.valid(), report)
}

#[test]
fn a_tiny_training_run_reduces_loss_and_learns_the_task() {
    let exp = tiny_experiment();
    let config = tiny_config(true);
    let examples = exp.examples(&config);
    let plain = Device::flex();
    let table = examples.table(&plain).unwrap();
    let labels: Vec<f32> = exp.train.iter().map(|i| i.label).collect();
    let (initial, ranker, report) = tiny_fit(&exp, &config, 40);
    let before = logloss(
        &predict(&initial, &examples, &table, &exp.train, &plain).unwrap(),
        &labels,
    );
    let scores = predict(&ranker, &examples, &table, &exp.train, &plain).unwrap();
    let after = logloss(&scores, &labels);
    println!(
        "tiny fixture: train logloss {before:.4} → {after:.4}, best valid AUC {:.3}",
        report.best_valid_auc
    );
    // The kept weights (best validation AUC) fit better than the initial ones, and
    // training kept lowering the loss well past them.
    assert!(after < before, "loss {before} → {after}");
    assert!(auc(&scores, &labels).unwrap() > 0.9);
    assert!(report.best_valid_auc > 0.8, "{report:?}");
    let first = report.epochs.first().unwrap().train_loss;
    let last = report.epochs.last().unwrap().train_loss;
    assert!(last < 0.5 * first, "epoch losses {first} → {last}");
}

/// The named tensors of a ranker's weights file, as flat f32 vectors with shapes.
fn tensors(ranker: &Ranker) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = ranker.to_safetensors().unwrap();
    let file = TensorSource::parse(&bytes, "ranker").unwrap();
    let mut out: Vec<_> = file
        .all_floats()
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.shape, t.data))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// No parameter a request can reach keeps its initial value: every tensor moved,
/// and every row of the kind embedding (one per kind the API accepts, searches
/// reading the view row) was trained.
#[test]
fn training_reaches_every_parameter_and_every_event_kind() {
    let exp = tiny_experiment();
    let config = tiny_config(true);
    let (initial, trained, _) = tiny_fit(&exp, &config, 3);
    let (before, after) = (tensors(&initial), tensors(&trained));
    assert_eq!(before.len(), after.len());
    let mut kind_rows = 0;
    for ((name, shape, a), (_, _, b)) in before.iter().zip(&after) {
        assert!(a != b, "{name} is still at its initial value");
        if name.starts_with("kind.") {
            let width = shape[1];
            for (row, (ra, rb)) in a.chunks(width).zip(b.chunks(width)).enumerate() {
                assert!(
                    ra != rb,
                    "kind row {row} ({:?}) was never trained",
                    EventKind::TRAINED[row]
                );
                kind_rows += 1;
            }
        }
    }
    assert_eq!(kind_rows, EventKind::TRAINED.len());
    for kind in EventKind::ALL.into_iter().filter(|k| k.is_signal()) {
        assert!(kind.row() < kind_rows, "{kind:?}");
    }
}

/// Training reads impressions from its own batches; eval and the device read them
/// through `rank::rank`. For the same impressions both give the same scores, so the
/// model that was trained and measured is the model that is served.
#[test]
fn training_batches_and_the_served_request_score_alike() {
    let exp = tiny_experiment();
    let config = tiny_config(true);
    let (_, ranker, _) = tiny_fit(&exp, &config, 5);
    let examples = exp.examples(&config);
    let device = Device::flex();
    let table = examples.table(&device).unwrap();
    let imps = &exp.valid;
    let trained = predict(&ranker, &examples, &table, imps, &device).unwrap();
    let requests = Requests::new(&exp, &config).unwrap();
    let model = Model {
        ranker: &ranker,
        config: &config,
        device: &device,
        encoder: "tiny",
    };
    let served = requests.score(model, imps).unwrap();
    let diff = common::max_abs_diff(&trained, &served);
    println!(
        "tiny fixture: {} impressions, training vs served max |Δ| {diff:.2e}",
        imps.len()
    );
    assert!(diff <= 1e-6, "max |Δ| {diff}");
    // The fixture's histories do match neighbour lists, so the related inputs are
    // exercised, not zero.
    assert!(
        imps.iter()
            .any(|i| requests.candidates[i.item as usize].related.len() > 1)
    );
}

/// The served score is the model's logit plus the content weight, scaled by the
/// history's focus, times the sum of the candidate's mean cosine to the attended
/// events and its category match, each standardized over the request's
/// candidates: checked against cosines, tag weights and focus computed here from
/// the fixture's items and ratings, through the request a device makes.
#[test]
fn the_content_prior_adds_the_standardized_content_and_category_pull_to_the_served_logit() {
    let exp = tiny_experiment_with(3);
    // From a focus of 0 the gate is the focus itself: the fixture's histories mix
    // both clusters, so a shipped threshold would leave most of them at zero.
    let config = tiny_config(true).with_content_focus_from(0.0);
    let (_, ranker, _) = tiny_fit(&exp, &config, 2);
    let device = Device::flex();
    let requests = Requests::new(&exp, &config).unwrap();
    let imps = &exp.valid;
    let weight = 1.5;
    let score = |w: f32| {
        let config = RankerConfig {
            content_weight: w,
            ..config.clone()
        };
        let model = Model {
            ranker: &ranker,
            config: &config,
            device: &device,
            encoder: "tiny",
        };
        requests.score(model, imps).unwrap()
    };
    let (alone, blended) = (score(0.0), score(weight));
    let examples = exp.examples(&config);
    let logit = |p: f32| f64::from(p / (1.0 - p)).ln();
    let unit = |v: &[f32]| {
        let n = v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
        v.iter().map(|x| f64::from(*x) / n).collect::<Vec<f64>>()
    };
    let genres = |item: u32| exp.ml.items[item as usize].genres.clone();
    // (value - mean) / root mean square of the centred values, over the request.
    let standardized = |values: &[f64]| -> Vec<f64> {
        let mean = values.iter().sum::<f64>() / values.len() as f64;
        let spread =
            (values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / values.len() as f64).sqrt();
        values
            .iter()
            .map(|v| {
                if spread < 1e-6 {
                    0.0
                } else {
                    (v - mean) / spread
                }
            })
            .collect()
    };
    let (mut worst, mut moved, mut k) = (0f64, 0f64, 0);
    let mut category_moved = false;
    // One request per (user, moment), as the device makes it.
    for group in
        imps.chunk_by(|a, b| (a.user, a.history_len, a.ts) == (b.user, b.history_len, b.ts))
    {
        let now_days = group[0].ts as f64 / 86_400.0;
        let events: Vec<(u32, f64)> = examples
            .history(&group[0])
            .iter()
            .map(|&r| {
                let r = exp.ml.ratings[r];
                // Kind weights: 1-2 stars a view (1), 3 a click (2), 4 a cart (3),
                // 5 a purchase (4); halved every 180 days of age.
                let kind = match r.rating as u32 {
                    5 => 4.0,
                    4 => 3.0,
                    3 => 2.0,
                    _ => 1.0,
                };
                let age = (now_days - r.ts as f64 / 86_400.0).max(0.0);
                (r.item, kind * 0.5f64.powf(age / 180.0))
            })
            .collect();
        let total: f64 = events.iter().map(|e| e.1).sum();
        let mut tags: Vec<String> = events.iter().flat_map(|e| genres(e.0)).collect();
        tags.sort();
        tags.dedup();
        let focus = tags
            .iter()
            .map(|t| {
                events
                    .iter()
                    .filter(|e| genres(e.0).contains(t))
                    .map(|e| e.1)
                    .sum::<f64>()
                    / total
            })
            .fold(0.0, f64::max);
        // A tag's share: each event's weight split among its genres.
        let share = |tag: &String| {
            events
                .iter()
                .filter(|e| genres(e.0).contains(tag))
                .map(|e| e.1 / genres(e.0).len() as f64)
                .sum::<f64>()
                / total
        };
        let history: Vec<Vec<f64>> = events
            .iter()
            .map(|e| unit(&exp.embeddings[e.0 as usize]))
            .collect();
        let mut items: Vec<u32> = group.iter().map(|i| i.item).collect();
        items.sort_unstable();
        items.dedup();
        let cosines: Vec<f64> = items
            .iter()
            .map(|&i| {
                let c = unit(&exp.embeddings[i as usize]);
                history
                    .iter()
                    .map(|h| h.iter().zip(&c).map(|(a, b)| a * b).sum::<f64>())
                    .sum::<f64>()
                    / history.len() as f64
            })
            .collect();
        let matches: Vec<f64> = items
            .iter()
            .map(|&i| genres(i).iter().map(share).sum::<f64>().min(1.0))
            .collect();
        let (cz, mz) = (standardized(&cosines), standardized(&matches));
        category_moved |= mz.iter().any(|z| z.abs() > 0.1);
        for imp in group {
            let j = items.binary_search(&imp.item).unwrap();
            let want = logit(alone[k]) + f64::from(weight) * focus * (cz[j] + mz[j]);
            worst = worst.max((logit(blended[k]) - want).abs());
            moved = moved.max((logit(blended[k]) - logit(alone[k])).abs());
            k += 1;
        }
    }
    println!(
        "tiny fixture: {} impressions, content weight {weight}: max |Δ logit| {worst:.2e} \
         (the prior moved logits by up to {moved:.2e})",
        imps.len()
    );
    assert!(moved > 0.5, "the prior hardly moved a score: {moved}");
    assert!(
        category_moved,
        "no request had category matches that differ"
    );
    assert!(worst < 1e-4, "max |Δ logit| {worst}");
}

/// A hand-built batch: 3 candidates, history of up to 4 events (row 2 has none).
fn batch(device: &Device, config: &RankerConfig) -> (Tensor<2>, RankBatch) {
    let e = config.embedding_dim;
    let values = |n: usize, salt: f32| -> Vec<f32> {
        (0..n).map(|i| (i as f32 * 0.37 + salt).sin()).collect()
    };
    let pairs = |salt: f32| {
        Tensor::<2>::from_data(
            TensorData::new(
                values(12, salt).iter().map(|x| x.abs()).collect::<Vec<_>>(),
                [3, 4],
            ),
            device,
        )
    };
    let candidates = Tensor::<2>::from_data(TensorData::new(values(3 * e, 0.1), [3, e]), device);
    let history =
        Tensor::<3>::from_data(TensorData::new(values(3 * 4 * e, 0.7), [3, 4, e]), device);
    let mask = vec![1., 1., 1., 0., 1., 1., 1., 1., 0., 0., 0., 0.];
    let kinds = vec![0i64, 1, 3, 0, 1, 1, 2, 0, 0, 0, 0, 0];
    (
        candidates.clone(),
        RankBatch {
            candidates,
            features: Tensor::from_data(
                TensorData::new(vec![0.2f32, 0.5, 0.9, 0.1, 0.0, 0.7], [3, 2]),
                device,
            ),
            history,
            kinds: Tensor::<2, Int>::from_data(TensorData::new(kinds, [3, 4]), device),
            recency: pairs(2.0),
            order: pairs(5.0),
            similarity: pairs(3.0),
            related: pairs(4.0),
            matched: Tensor::from_data(
                TensorData::new(vec![0.3f32, 0.1, 0.5, 0.0, 0.0, 0.2, 0.0, 0.0, 0.0], [3, 3]),
                device,
            ),
            mask: Tensor::from_data(TensorData::new(mask, [3, 4]), device),
        },
    )
}

/// The ranker on the hand-built [`batch`], its items projected first.
fn scored(ranker: &Ranker, device: &Device, config: &RankerConfig) -> Scored {
    let (_, mut b) = batch(device, config);
    b.candidates = ranker.project(b.candidates);
    b.history = ranker.project(b.history);
    ranker.forward(b)
}

fn forward(ranker: &Ranker, device: &Device, config: &RankerConfig) -> (Vec<f32>, Vec<f32>) {
    let out = scored(ranker, device, config);
    (
        out.logits.into_data().try_into_vec::<f32>().unwrap(),
        out.weights.into_data().try_into_vec::<f32>().unwrap(),
    )
}

#[test]
fn attention_weights_cover_real_events_only() {
    let config = tiny_config(true);
    let device = Device::flex();
    device.seed(5);
    let ranker = config.init(&device);
    let (logits, weights) = forward(&ranker, &device, &config);
    assert!(logits.iter().all(|l| l.is_finite()));
    let rows: Vec<&[f32]> = weights.chunks(4).collect();
    assert!((rows[0][..3].iter().sum::<f32>() - 1.0).abs() < 1e-5 && rows[0][3] == 0.0);
    assert!((rows[1].iter().sum::<f32>() - 1.0).abs() < 1e-5);
    assert!(
        rows[2].iter().all(|&w| w == 0.0),
        "no history, no weights: {:?}",
        rows[2]
    );
}

/// The content term is the mean cosine over real events only: padding never
/// counts, and no history means no term.
#[test]
fn the_content_term_averages_real_events_only() {
    let config = tiny_config(true);
    let device = Device::flex();
    device.seed(5);
    let ranker = config.init(&device);
    let (_, b) = batch(&device, &config);
    let read = |t: Tensor<2>| t.into_data().try_into_vec::<f32>().unwrap();
    let (similarity, mask) = (read(b.similarity), read(b.mask));
    let content = scored(&ranker, &device, &config)
        .content
        .into_data()
        .try_into_vec::<f32>()
        .unwrap();
    for row in 0..3 {
        let (s, m) = (&similarity[row * 4..][..4], &mask[row * 4..][..4]);
        let n: f32 = m.iter().sum();
        let want = if n == 0.0 {
            0.0
        } else {
            s.iter().zip(m).map(|(s, m)| s * m).sum::<f32>() / n
        };
        assert!(
            (content[row] - want).abs() < 1e-6,
            "row {row}: {} vs {want}",
            content[row]
        );
    }
    assert_eq!(content[2], 0.0);
}

fn manifest_for(ranker: &Ranker, config: RankerConfig) -> (RankerManifest, Vec<u8>) {
    let weights = ranker.to_safetensors().unwrap();
    let manifest = RankerManifest {
        name: "test".into(),
        encoder: EncoderRef {
            name: "enc".into(),
            model_hash: "abc".into(),
        },
        config,
        weights: FileSpec {
            name: "ranker.safetensors".into(),
            sha256: sha256_hex(&weights),
            bytes: Some(weights.len() as u64),
        },
        training: serde_json::Value::Null,
    };
    (manifest, weights)
}

#[test]
fn saved_weights_reload_exactly_and_mismatches_are_refused() {
    let config = tiny_config(true);
    let device = Device::flex();
    device.seed(9);
    let ranker = config.init(&device);
    let (manifest, weights) = manifest_for(&ranker, config.clone());
    let reloaded = Ranker::load(&manifest, &weights, "abc", &device).unwrap();
    // The file holds int8 matrices: the reloaded ranker is the quantized one, close
    // to the float32 one and, saved again, the same file.
    let (exact, shipped) = (
        forward(&ranker, &device, &config),
        forward(&reloaded, &device, &config),
    );
    assert_ne!(exact, shipped, "the matrices were stored as float32");
    for (a, b) in exact.0.iter().zip(&shipped.0) {
        assert!((a - b).abs() < 1e-2, "logit {a} reloads as {b}");
    }
    assert_eq!(reloaded.to_safetensors().unwrap(), weights);
    let file = safetensors::SafeTensors::deserialize(&weights).unwrap();
    for (name, view) in file.tensors() {
        let expected = match view.shape().len() {
            2 => safetensors::Dtype::I8,
            _ => safetensors::Dtype::F32,
        };
        assert_eq!(view.dtype(), expected, "{name}");
    }

    let err = Ranker::load(&manifest, &weights, "another-encoder", &device).unwrap_err();
    assert!(matches!(err, Error::RankerMismatch { .. }), "{err}");
    assert!(
        err.to_string().contains("trained on encoder `enc`"),
        "{err}"
    );

    let mut corrupt = weights.clone();
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let err = Ranker::load(&manifest, &corrupt, "abc", &device).unwrap_err();
    assert!(matches!(err, Error::HashMismatch { .. }), "{err}");

    // Weights of a different architecture under an honest hash: a shape error, no panic.
    let wider = config.clone().with_projection_dim(12);
    let (other, other_weights) = manifest_for(&wider.init(&device), wider);
    let lying = RankerManifest {
        config: config.clone(),
        ..other
    };
    let err = Ranker::load(&lying, &other_weights, "abc", &device).unwrap_err();
    assert!(matches!(err, Error::BadWeights { .. }), "{err}");
    // A file with weights the config has no place for (an attention unit the config
    // turned off) is refused, not loaded as a different model.
    let plain = RankerManifest {
        config: RankerConfig {
            attention: false,
            ..config
        },
        ..manifest
    };
    let err = Ranker::load(&plain, &weights, "abc", &device).unwrap_err();
    assert!(
        matches!(&err, Error::BadWeights { reason, .. } if reason.contains("attention.hidden.weight")),
        "{err}"
    );
}

#[test]
fn ranker_on_wgpu_matches_cpu() {
    let backend = match Backend::open(BackendChoice::Wgpu) {
        Ok(b) => b,
        Err(e) => {
            if std::env::var_os("PRIVRANK_REQUIRE_WGPU").is_some() {
                panic!("wgpu required but unavailable: {e}");
            }
            println!("ranker[wgpu]: SKIPPED — {e}");
            return;
        }
    };
    let config = tiny_config(true);
    let cpu = Device::flex();
    cpu.seed(11);
    let ranker = config.init(&cpu);
    let (manifest, weights) = manifest_for(&ranker, config.clone());
    // The same file on both: its int8 matrices are what either device runs.
    let on_cpu = Ranker::load(&manifest, &weights, "abc", &cpu).unwrap();
    let on_gpu = Ranker::load(&manifest, &weights, "abc", &backend.device).unwrap();
    let (l_cpu, w_cpu) = forward(&on_cpu, &cpu, &config);
    let (l_gpu, w_gpu) = forward(&on_gpu, &backend.device, &config);
    let diff = common::max_abs_diff(&l_cpu, &l_gpu).max(common::max_abs_diff(&w_cpu, &w_gpu));
    println!(
        "ranker[wgpu]: {} vs CPU, max |Δ| {diff:.2e}",
        backend.adapter
    );
    assert!(diff <= 1e-4, "max |Δ| {diff}");
}

/// Every committed model set (the student's default, the teacher's) pairs a ranker
/// with the encoder it was trained on, and its weights load.
#[test]
fn committed_model_sets_pair_each_ranker_with_its_encoder() {
    for set in ["default.json", "teacher.json"] {
        let models = common::root().join("models");
        let set_bytes = std::fs::read(models.join(set)).unwrap();
        let set = privrank::config::ModelSet::from_json(set, &set_bytes).unwrap();
        let ranker_path = models.join(&set.ranker.manifest);
        let manifest =
            RankerManifest::from_json("ranker.json", &std::fs::read(&ranker_path).unwrap())
                .unwrap();
        let encoder = privrank::ModelManifest::from_json(
            &set.encoder.manifest,
            &std::fs::read(models.join(&set.encoder.manifest)).unwrap(),
        )
        .unwrap();
        assert_eq!(
            manifest.encoder.name,
            encoder.name,
            "{}",
            ranker_path.display()
        );
        let weights =
            std::fs::read(models.join(&set.ranker.files).join(&manifest.weights.name)).unwrap();
        let device = Device::flex();
        Ranker::load(&manifest, &weights, &encoder.files.weights.sha256, &device).unwrap();
        // The manifest records how it was made.
        let training = &manifest.training;
        assert!(
            training["best_valid_auc"].as_f64().unwrap() > 0.5,
            "{training}"
        );
        assert!(
            training["data_hash"]
                .as_str()
                .is_some_and(|h| h.len() == 64)
        );
    }
}
