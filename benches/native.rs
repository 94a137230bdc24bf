//! Native benchmarks (criterion): the sentence encoder at batch 1, 16 and 64 on real
//! MovieLens titles, and one `rank` of 100 candidates against 50 history events with
//! their embeddings already computed (what a server or edge node does per request).
//! The peer is onnxruntime on the same model and texts (`benches/onnx_peer.py`);
//! `scripts/bench-native` runs both and prints the ratios.
//!
//! Models: the manifests in `PRIVRANK_BENCH_MODELS` (comma-separated), default the
//! small encoder, the teacher and the distilled student (its target: ≥ 4× the
//! teacher's speed at batch 16); a model whose files are not fetched is skipped
//! with a message. Everything runs on the CPU backend, threaded over all cores, as
//! onnxruntime's default is.

#[cfg(not(target_arch = "wasm32"))]
criterion::criterion_main!(bench::benches);

/// Native only: the browser side is `www/bench.html`.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod bench {
    use std::hint::black_box;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};
    use privrank::config::{ModelSet, default_model_dir};
    use privrank::data::{MovieLens, default_data_dir};
    use privrank::eval::served::Table;
    use privrank::history::{DAY_MS, Event, EventKind};
    use privrank::input::Value;
    use privrank::rank::{self, RankOptions};
    use privrank::{Backend, ModelBundle, Ranker, RankerManifest, SentenceEncoder};

    /// As many texts as the peer's default (`onnx_peer.py --n`).
    const TEXTS: usize = 200;
    const BATCHES: [usize; 3] = [1, 16, 64];
    const HISTORY: usize = 50;
    const CANDIDATES: usize = 100;

    fn root() -> PathBuf {
        // This package lives in benches/; the models and data are the repository's.
        PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
    }

    fn manifests() -> Vec<PathBuf> {
        let list = std::env::var("PRIVRANK_BENCH_MODELS").unwrap_or_else(|_| {
            "models/paraphrase-minilm-l3-v2.json,models/all-minilm-l6-v2.json,models/student/student.json".into()
        });
        list.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| root().join(s.trim()))
            .collect()
    }

    fn movielens() -> MovieLens {
        // Relative to the repository (criterion runs this in benches/), unless
        // PRIVRANK_CACHE names an absolute folder.
        MovieLens::load(&root().join(default_data_dir("ml-100k")))
            .unwrap_or_else(|e| panic!("MovieLens-100k: {e} (run scripts/setup)"))
    }

    fn encoder(manifest: &Path, backend: &Backend) -> Option<SentenceEncoder> {
        let bundle = match ModelBundle::read(manifest, &default_model_dir(manifest)) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("bench: skipping {}: {e}", manifest.display());
                return None;
            }
        };
        Some(SentenceEncoder::load(&bundle, &backend.device).expect("encoder loads"))
    }

    /// Batch `i` of size `bs`: texts i·bs … i·bs+bs−1, wrapping round, so every batch is
    /// full and consecutive batches differ (as in the peer).
    fn batch(texts: &[String], bs: usize, i: usize) -> Vec<&str> {
        (0..bs)
            .map(|j| texts[(i * bs + j) % texts.len()].as_str())
            .collect()
    }

    fn encoders(c: &mut Criterion) {
        let backend = Backend::cpu();
        let data = movielens();
        let titles: Vec<String> = data
            .items
            .iter()
            .take(TEXTS)
            .map(|i| i.title.clone())
            .collect();
        for manifest in manifests() {
            let Some(encoder) = encoder(&manifest, &backend) else {
                continue;
            };
            let name = manifest.file_stem().unwrap().to_string_lossy().into_owned();
            let mut group = c.benchmark_group(format!("encoder/{name}"));
            group.sample_size(20).warm_up_time(Duration::from_secs(2));
            for bs in BATCHES {
                group.throughput(Throughput::Elements(bs as u64));
                group.bench_with_input(BenchmarkId::new("batch", bs), &bs, |b, &bs| {
                    let mut i = 0;
                    b.iter(|| {
                        let texts = batch(&titles, bs, i);
                        i += 1;
                        black_box(encoder.embed(&texts).expect("embeds"))
                    })
                });
            }
            group.finish();
        }
    }

    /// 100 candidates against 50 events, embeddings cached: only the ranker and the
    /// policy run, with the default set's ranker and its encoder (the student).
    fn ranking(c: &mut Criterion) {
        let backend = Backend::cpu();
        // The browser's default set says which ranker goes with which encoder.
        let models = root().join("models");
        let set_bytes = std::fs::read(models.join("default.json")).expect("models/default.json");
        let set = ModelSet::from_json("default.json", &set_bytes).expect("model set");
        let manifest_path = models.join(&set.ranker.manifest);
        let manifest_bytes = std::fs::read(&manifest_path).expect("ranker manifest");
        let manifest =
            RankerManifest::from_json("ranker", &manifest_bytes).expect("ranker manifest");
        let weights = std::fs::read(models.join(&set.ranker.files).join(&manifest.weights.name))
            .expect("ranker weights");
        let bundle = ModelBundle::read(
            &models.join(&set.encoder.manifest),
            &models.join(&set.encoder.files),
        )
        .expect("the default encoder (run scripts/setup)");
        let encoder = SentenceEncoder::load(&bundle, &backend.device).expect("encoder loads");
        let ranker = Ranker::load(&manifest, &weights, encoder.model_hash(), &backend.device)
            .expect("ranker loads");
        let config = &manifest.config;
        let data = movielens();
        let now = 1_700_000_000_000.0;
        let events: Vec<Event> = data.items[..HISTORY]
            .iter()
            .enumerate()
            .map(|(n, item)| Event {
                kind: EventKind::View,
                item_id: item.id.clone(),
                title: item.title.clone(),
                category: Some(item.genres.join(", ")),
                campaign: None,
                ts: now - n as f64 * DAY_MS / 4.0,
            })
            .collect();
        let raw: Vec<Value> = data.items[HISTORY..HISTORY + CANDIDATES]
            .iter()
            .map(|item| {
                Value::Map(
                    [
                        ("id".to_owned(), Value::Text(item.id.clone())),
                        ("title".to_owned(), Value::Text(item.title.clone())),
                        ("category".to_owned(), Value::Text(item.genres.join(", "))),
                    ]
                    .into(),
                )
            })
            .collect();
        let candidates = privrank::candidates::parse(&raw, config, CANDIDATES).expect("candidates");
        // Every text embedded once, as a device's cache holds them after a first visit.
        let mut texts: Vec<String> = events.iter().map(Event::text).collect();
        texts.extend(candidates.iter().map(|c| c.text()));
        let table = Table(
            texts
                .iter()
                .cloned()
                .zip(encoder.embed(&texts).expect("embeds"))
                .collect(),
        );
        let model = rank::Model {
            ranker: &ranker,
            config,
            device: &backend.device,
            encoder: encoder.model_hash(),
        };
        let options = RankOptions {
            now: Some(now),
            ..RankOptions::default()
        };
        let mut group = c.benchmark_group("rank");
        group.sample_size(50);
        group.bench_function(
            BenchmarkId::new("cached", format!("{CANDIDATES}x{HISTORY}")),
            |b| {
                b.iter(|| {
                    let request = rank::Request {
                        events: &events,
                        candidates: &candidates,
                        options: &options,
                        clock_ms: now,
                    };
                    black_box(rank::rank_blocking(model, request, &table).expect("ranks"))
                })
            },
        );
        group.finish();
    }

    criterion_group!(benches, encoders, ranking);
}
