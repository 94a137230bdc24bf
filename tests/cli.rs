//! The `privrank` binary as a user runs it.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::process::Command;

use common::{Golden, flip_byte, teacher_copy};

fn privrank() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_privrank"));
    cmd.current_dir(common::root()).args(["--backend", "cpu"]);
    cmd
}

/// Runs the command and fails the test with its stderr unless it exited 0.
fn succeeded(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

#[test]
fn embed_similarity_matches_numpy_reference() {
    let golden = Golden::default_set();
    let pair = &golden.pairs[0];
    let (a, b) = (&golden.case(&pair.a).text, &golden.case(&pair.b).text);
    let out = succeeded(privrank().args(["embed", "--similarity", a, b]));
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let got = json["cosine"][0][1].as_f64().unwrap() as f32;
    println!("cli cosine {got:.6}, NumPy reference {:.6}", pair.cosine);
    assert!(
        (got - pair.cosine).abs() <= 1e-3,
        "{got} vs {}",
        pair.cosine
    );
    assert!((json["cosine"][0][0].as_f64().unwrap() - 1.0).abs() < 1e-5);
}

/// The teacher stays selectable natively too: its model set embeds like its NumPy
/// reference.
#[test]
fn the_teacher_model_set_embeds_like_its_reference() {
    let golden = Golden::load();
    let case = golden.case("product_shoes");
    let out = succeeded(privrank().args(["--models", "models/teacher.json", "embed", &case.text]));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e: Vec<f32> = serde_json::from_value(line["embedding"].clone()).unwrap();
    assert!(common::max_abs_diff(&e, &case.embedding) <= 1e-4);
}

#[test]
fn embed_prints_unit_vectors_of_the_model_width() {
    let golden = Golden::default_set();
    let case = golden.case("chinese_title");
    let out = succeeded(privrank().args(["embed", &case.text]));
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e: Vec<f32> = serde_json::from_value(line["embedding"].clone()).unwrap();
    assert_eq!(e.len(), case.embedding.len());
    assert!(common::max_abs_diff(&e, &case.embedding) <= 1e-4);
}

#[test]
fn corrupted_model_is_a_clear_error_not_a_panic() {
    let dir = teacher_copy("cli-corrupt");
    flip_byte(&dir.join("model.safetensors"), 12345);
    let out = privrank()
        .args([
            "--models",
            "models/teacher.json",
            "--model-dir",
            dir.to_str().unwrap(),
        ])
        .args(["embed", "hello"])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("hash mismatch for model.safetensors"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn info_reports_model_dims_and_backend() {
    let out = succeeded(privrank().arg("info"));
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // The default set's encoder, with the dims of its own config.json.
    let manifest = common::default_manifest();
    let dir = privrank::config::default_model_dir(&manifest);
    let bundle = privrank::ModelBundle::read(&manifest, &dir).unwrap();
    assert_eq!(info["model"]["name"], bundle.manifest.name.as_str());
    assert_eq!(info["dims"]["hidden"], bundle.config.hidden_size);
    assert_eq!(info["dims"]["layers"], bundle.config.num_hidden_layers);
    assert_eq!(
        info["dims"]["word_embedding"],
        bundle.config.word_embedding_dim()
    );
    // Counted from the architecture; the loaded encoder's own tensors must agree.
    let encoder = privrank::Encoder::load(&bundle, &privrank::Backend::cpu().device).unwrap();
    let loaded: usize = encoder
        .tensors()
        .unwrap()
        .iter()
        .map(|t| t.data.len())
        .sum();
    assert_eq!(info["dims"]["parameters"], loaded);
    assert_eq!(info["backend"]["kind"], "cpu");
}

#[test]
fn unknown_backend_is_refused() {
    let out = Command::new(env!("CARGO_BIN_EXE_privrank"))
        .args(["--backend", "tpu", "info"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown backend `tpu`"));
}

/// The committed parity fixture is what this build's CLI prints for the committed
/// request; the browser tests (tests/web.rs) check the same request against it. On
/// a deliberate model change, regenerate with
/// `cargo run --features cli,wgpu -- --backend cpu rank tests/fixtures/rank_request.json > tests/fixtures/rank_expected.json`.
#[test]
fn rank_matches_the_parity_fixture() {
    let out = succeeded(privrank().args(["rank", "tests/fixtures/rank_request.json"]));
    let got: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let path = common::root().join("tests/fixtures/rank_expected.json");
    let want: Vec<serde_json::Value> =
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let ids = |v: &[serde_json::Value]| -> Vec<String> {
        v.iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&got), ids(&want));
    for (g, w) in got.iter().zip(&want) {
        let (gs, ws) = (g["score"].as_f64().unwrap(), w["score"].as_f64().unwrap());
        assert!((gs - ws).abs() <= 1e-5, "{}: {gs} vs {ws}", g["id"]);
        let reasons = |r: &serde_json::Value| -> Vec<String> {
            r["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["itemId"].as_str().unwrap().to_owned())
                .collect()
        };
        assert_eq!(reasons(g), reasons(w), "{}", g["id"]);
        // Reasons' weights (attention lifts) are a distribution over the history,
        // best first.
        let weights: Vec<f64> = g["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["weight"].as_f64().unwrap())
            .collect();
        assert!(
            weights.windows(2).all(|w| w[0] >= w[1]) && weights.iter().sum::<f64>() <= 1.0 + 1e-6
        );
    }
}

/// The texts an embedder was asked for, by whose they are.
struct Counting<'a> {
    encoder: &'a privrank::SentenceEncoder,
    candidates: std::cell::Cell<usize>,
}

impl privrank::rank::Embedder for Counting<'_> {
    async fn embed(
        &self,
        texts: &[String],
        whose: privrank::rank::Texts,
    ) -> privrank::Result<Vec<Vec<f32>>> {
        if whose == privrank::rank::Texts::Candidates {
            self.candidates.set(self.candidates.get() + texts.len());
        }
        self.encoder.embed_async(texts).await
    }
}

/// Candidates that arrive embedded (`embed-catalog --format candidates`, the edge
/// worker's `/candidates`) rank as they would embedded on the device, within what
/// int8 packing moves, and the device embeds none of their texts. Another encoder's
/// vectors are refused by default, or embedded again when the request says so.
#[test]
fn attached_embeddings_are_used_as_they_are_and_the_device_embeds_none() {
    let set = common::DefaultSet::load();
    let path = common::root().join("tests/fixtures/rank_request.json");
    let plain: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let values: Vec<privrank::input::Value> =
        serde_json::from_value(plain["candidates"].clone()).unwrap();
    let parsed = privrank::candidates::parse(&values, &set.manifest.config, 100).unwrap();
    let texts: Vec<String> = parsed.iter().map(|c| c.text()).collect();
    let vectors = set.encoder.embed(&texts).unwrap();
    let attach = |encoder: &str| {
        let mut request = plain.clone();
        for (c, v) in request["candidates"]
            .as_array_mut()
            .unwrap()
            .iter_mut()
            .zip(&vectors)
        {
            c["encoder"] = encoder.into();
            c["embedding"] = serde_json::to_value(privrank::packed::pack(v)).unwrap();
        }
        request
    };
    let counting = || Counting {
        encoder: &set.encoder,
        candidates: std::cell::Cell::new(0),
    };
    let (device, edge) = (counting(), counting());
    let want = set.rank_json_with(&plain, &device).unwrap();
    let got = set
        .rank_json_with(&attach(set.encoder.model_hash()), &edge)
        .unwrap();
    assert_eq!(device.candidates.get(), texts.len());
    assert_eq!(
        edge.candidates.get(),
        0,
        "the device embedded attached candidates"
    );
    let ctr = |r: &[serde_json::Value]| -> std::collections::HashMap<String, f64> {
        r.iter()
            .map(|x| {
                (
                    x["id"].as_str().unwrap().to_owned(),
                    x["ctr"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let (want_ctr, got_ctr) = (ctr(&want), ctr(&got));
    let worst = want_ctr
        .iter()
        .map(|(id, p)| (p - got_ctr[id]).abs())
        .fold(0f64, f64::max);
    println!(
        "attached int8 embeddings: max |Δ ctr| {worst:.2e} over {} candidates",
        texts.len()
    );
    // Packing moves each component of a unit vector by at most max|x| / 254 (about
    // 6e-4 here), its cosines by up to about 7e-3; at the full content weight (12)
    // that is up to 0.08 in logit, 0.02 in ctr. A wrong decoding (sign, scale, byte
    // order) moves ctr by tenths.
    assert!(worst < 1e-2, "max |Δ ctr| {worst}");
    assert!(worst > 0.0, "the attached vectors were not used");

    let other = "0".repeat(64);
    let err = set
        .rank_json_with(&attach(&other), &counting())
        .unwrap_err();
    assert!(
        err.contains(&other) && err.contains(set.encoder.model_hash()),
        "{err}"
    );
    let mut again = attach(&other);
    again["options"]["onEncoderMismatch"] = "embed".into();
    let redone = counting();
    let got = set.rank_json_with(&again, &redone).unwrap();
    assert_eq!(redone.candidates.get(), texts.len());
    assert_eq!(ctr(&got), want_ctr);
}

/// `privrank eval`'s privrank row ranks each test impression through the served
/// request; `privrank rank` on the same impressions, written out as request files,
/// prints the same click probabilities. So the card's number is the CLI's (and the
/// browser's, by the parity fixture above).
#[test]
fn eval_scores_exactly_what_rank_serves() {
    use privrank::eval::served::Requests;
    use privrank::eval::{Experiment, ExperimentConfig};
    let set = common::DefaultSet::load();
    let exp = Experiment::load(
        ExperimentConfig::default(),
        &privrank::data::default_data_dir("ml-100k"),
        &set.encoder,
        &common::root().join(".cache/embeddings"),
        |_, _| {},
    )
    .unwrap();
    let requests = Requests::new(&exp, &set.manifest.config).unwrap();
    let groups: Vec<&[privrank::data::Impression]> = exp
        .test
        .chunk_by(|a, b| (a.user, a.ts) == (b.user, b.ts))
        .filter(|g| [0, 300, 700].contains(&g[0].user))
        .take(6)
        .collect();
    assert!(groups.len() >= 3);
    let mut worst = 0f64;
    for (n, group) in groups.iter().enumerate() {
        let served = requests.score(set.model(), group).unwrap();
        let path = std::env::temp_dir().join(format!(
            "privrank-eval-parity-{}-{n}.json",
            std::process::id()
        ));
        std::fs::write(&path, requests.request_json(group).to_string()).unwrap();
        let out = succeeded(privrank().args(["rank", path.to_str().unwrap()]));
        std::fs::remove_file(&path).ok();
        let ranked: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        let ctr: std::collections::HashMap<String, f64> = ranked
            .iter()
            .map(|r| {
                (
                    r["id"].as_str().unwrap().to_owned(),
                    r["ctr"].as_f64().unwrap(),
                )
            })
            .collect();
        for (imp, &score) in group.iter().zip(&served) {
            let id = &requests.candidates[imp.item as usize].id;
            let diff = (ctr[id] - f64::from(score)).abs();
            worst = worst.max(diff);
            assert!(
                diff <= 1e-6,
                "user {} item {id}: rank {} vs eval {score}",
                imp.user,
                ctr[id]
            );
        }
    }
    println!(
        "eval vs privrank rank: {} requests, max |Δ ctr| {worst:.2e}",
        groups.len()
    );
}

#[test]
fn rank_reports_every_bad_candidate_field() {
    let request = r#"{"history": [], "candidates": [
        {"id": "a", "title": "ok"}, {"title": true}, {"id": "c", "title": "t", "bid": -2}]}"#;
    let path = std::env::temp_dir().join("privrank-bad-rank.json");
    std::fs::write(&path, request).unwrap();
    let out = privrank()
        .args(["rank", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    for needle in [
        "[1].id: is required",
        "[1].title: expected a string",
        "[2].bid: must be at least 0",
    ] {
        assert!(stderr.contains(needle), "missing `{needle}` in: {stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn catalog_lines(stdout: &[u8]) -> Vec<privrank::catalog::ItemEmbedding> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `embed-catalog` on the committed catalog: items whose text is a golden case match
/// the NumPy reference, batching does not change a vector, and the output is the
/// committed fixture the edge worker test (tests/edge/edge.test.mjs) is held to.
/// Regenerate on a deliberate model change with
/// `cargo run --features cli -- --backend cpu embed-catalog tests/fixtures/catalog.jsonl > tests/fixtures/catalog_embeddings.jsonl`.
#[test]
fn embed_catalog_matches_the_reference_and_the_edge_fixture() {
    let run = |batch: &str| {
        let out = succeeded(privrank().args([
            "embed-catalog",
            "tests/fixtures/catalog.jsonl",
            "--batch-size",
            batch,
        ]));
        catalog_lines(&out.stdout)
    };
    let got = run("64");
    let golden = Golden::default_set();
    let catalog =
        std::fs::read_to_string(common::root().join("tests/fixtures/catalog.jsonl")).unwrap();
    let items: Vec<serde_json::Value> = catalog
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(got.len(), items.len());
    let mut checked = 0;
    for (line, item) in got.iter().zip(&items) {
        let id = match &item["id"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        assert_eq!(line.id, id);
        assert_eq!(line.encoder, golden.weights_sha256);
        if let Some(case) = golden
            .cases
            .iter()
            .find(|c| Some(c.text.as_str()) == item["title"].as_str())
            && item.get("category").is_none()
        {
            let d = common::max_abs_diff(&line.embedding, &case.embedding);
            assert!(d <= 1e-4, "{id}: |Δ| {d} against the NumPy reference");
            checked += 1;
        }
    }
    assert!(checked >= 5, "only {checked} items had a golden reference");

    // Title with category: the ranker's text, "title. category".
    let last = got.last().unwrap();
    let out = privrank()
        .args(["embed", "GoldenEye (1995). Action, Adventure, Thriller"])
        .output()
        .unwrap();
    let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let e: Vec<f32> = serde_json::from_value(line["embedding"].clone()).unwrap();
    assert!(common::max_abs_diff(&last.embedding, &e) <= 1e-5);

    for (a, b) in got.iter().zip(run("2")) {
        assert!(
            common::max_abs_diff(&a.embedding, &b.embedding) <= 1e-5,
            "{}",
            a.id
        );
    }
    let fixture =
        std::fs::read(common::root().join("tests/fixtures/catalog_embeddings.jsonl")).unwrap();
    let want = catalog_lines(&fixture);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!((&g.id, &g.encoder), (&w.id, &w.encoder));
        assert!(
            common::max_abs_diff(&g.embedding, &w.embedding) <= 1e-5,
            "{}",
            g.id
        );
    }
}

/// `--format candidates` keeps every field of each item and attaches the packed
/// vector of the same text `lines` embeds, within half an int8 step of it; the
/// output is a rank request's candidate list as it stands.
#[test]
fn embed_catalog_writes_ready_embedded_candidates() {
    let out = succeeded(privrank().args([
        "embed-catalog",
        "tests/fixtures/catalog.jsonl",
        "--format",
        "candidates",
    ]));
    let got: Vec<serde_json::Value> = std::str::from_utf8(&out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let fixture =
        std::fs::read(common::root().join("tests/fixtures/catalog_embeddings.jsonl")).unwrap();
    let want = catalog_lines(&fixture);
    let catalog =
        std::fs::read_to_string(common::root().join("tests/fixtures/catalog.jsonl")).unwrap();
    assert_eq!(got.len(), want.len());
    for ((g, w), item) in got.iter().zip(&want).zip(catalog.lines()) {
        let item: serde_json::Value = serde_json::from_str(item).unwrap();
        for (key, value) in item.as_object().unwrap() {
            assert_eq!(&g[key], value, "{}: field {key} changed", w.id);
        }
        assert_eq!(g["encoder"].as_str(), Some(w.encoder.as_str()));
        let packed: privrank::packed::Packed =
            serde_json::from_value(g["embedding"].clone()).unwrap();
        let v = privrank::packed::unpack(&packed.int8, f64::from(packed.scale), w.embedding.len())
            .unwrap();
        let d = common::max_abs_diff(&v, &w.embedding);
        assert!(d <= packed.scale / 2.0 + 1e-6, "{}: |Δ| {d}", w.id);
    }
    let request = serde_json::json!({"history": [], "candidates": got, "options": {"now": 1.7e12}});
    let set = common::DefaultSet::load();
    let ranked = set.rank_json(&request).unwrap();
    assert_eq!(ranked.len(), got.len());
}

#[test]
fn embed_catalog_names_the_bad_line_and_reads_stdin() {
    use std::io::Write;
    let run = |input: &str| {
        let mut child = privrank()
            .args(["embed-catalog", "-"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let ok = run(
        "{\"id\": \"a\", \"title\": \"Toy Story (1995)\"}\n\n{\"id\": \"b\", \"title\": \"Heat (1995)\"}\n",
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let ids: Vec<String> = catalog_lines(&ok.stdout)
        .into_iter()
        .map(|l| l.id)
        .collect();
    assert_eq!(ids, ["a", "b"]);

    for (input, needle) in [
        (
            "{\"id\": \"a\", \"title\": \"x\"}\n{\"id\": \"b\"}\n",
            "stdin: line 2: title is required",
        ),
        (
            "{\"id\": \"a\", \"title\": \"x\"}\n{\"id\": \"a\", \"title\": \"y\"}\n",
            "line 2: id `a` appears more than once",
        ),
        ("not json\n", "stdin: line 1: not JSON"),
        ("\n\n", "the catalog is empty"),
    ] {
        let out = run(input);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{input:?}: {stderr}");
        assert!(stderr.contains(needle), "missing `{needle}` in: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// The demo's files come from the real MovieLens download, and its candidates are
/// what `rank` takes, with features computed as in training.
#[test]
fn demo_data_writes_a_catalog_and_rankable_candidates() {
    let out_dir = std::env::temp_dir().join(format!("privrank-demo-data-{}", std::process::id()));
    succeeded(privrank().args(["demo-data", "--out", out_dir.to_str().unwrap()]));
    let read = |name: &str| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(out_dir.join(name)).unwrap()).unwrap()
    };
    let catalog = read("catalog.json");
    let items = catalog["items"].as_array().unwrap();
    assert_eq!(items.len(), 1682, "MovieLens-100k has 1682 movies");
    let toy = items.iter().find(|i| i["id"] == "ml-1").unwrap();
    assert_eq!(toy["title"], "Toy Story (1995)");
    assert_eq!(toy["category"], "Animation, Children's, Comedy");
    assert!(catalog["source"].as_str().unwrap().contains("research use"));
    let ratings: Vec<u64> = items
        .iter()
        .map(|i| i["ratings"].as_u64().unwrap())
        .collect();
    assert!(ratings.windows(2).all(|w| w[0] >= w[1]), "most-rated first");
    assert_eq!(ratings.iter().sum::<u64>(), 100_000);

    let candidates = read("candidates.json")["candidates"].clone();
    let list = candidates.as_array().unwrap();
    assert!(list.len() >= 18, "{} promotions", list.len());
    for c in list {
        assert!(
            items.iter().any(|i| i["id"] == c["id"]),
            "{} not in the catalog",
            c["id"]
        );
        for (_, v) in c["features"].as_object().unwrap() {
            assert!((0.0..=1.0).contains(&v.as_f64().unwrap()));
        }
    }
    // Star Wars is the most-rated movie: popularity 1.
    let star_wars = list.iter().find(|c| c["id"] == "ml-50").unwrap();
    assert_eq!(star_wars["features"]["popularity"], 1.0);
    // Each promotion carries the generated variants the committed cache holds for it.
    let cache: serde_json::Value = serde_json::from_slice(
        &std::fs::read(common::root().join("data/demo-creatives.json")).unwrap(),
    )
    .unwrap();
    let with_variants = list.iter().filter(|c| c["creatives"].is_array()).count();
    assert_eq!(with_variants, cache["creatives"].as_object().unwrap().len());
    for c in list.iter().filter(|c| c["creatives"].is_array()) {
        assert_eq!(
            c["creatives"],
            cache["creatives"][c["id"].as_str().unwrap()]
        );
    }

    // Ranked after a history, candidates with variants name the one to show.
    let history = serde_json::json!([{"kind": "view", "itemId": "ml-1", "title": "Toy Story (1995)",
        "category": "Animation, Children's, Comedy", "ts": 1_700_000_000_000.0_f64}]);
    let request = serde_json::json!({"history": history, "candidates": candidates,
        "options": {"k": 36, "now": 1_700_000_100_000.0_f64}});
    let path = out_dir.join("request.json");
    std::fs::write(&path, request.to_string()).unwrap();
    let out = succeeded(privrank().args(["rank", path.to_str().unwrap()]));
    let ranked: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    for r in &ranked {
        let offered = list.iter().find(|c| c["id"] == r["id"]).unwrap()["creatives"].clone();
        match offered.as_array() {
            Some(variants) if !variants.is_empty() => assert!(
                variants.iter().any(|v| v["id"] == r["creative"]),
                "{r}: not one of {offered}"
            ),
            _ => assert!(r.get("creative").is_none(), "{r}"),
        }
    }
    std::fs::remove_dir_all(&out_dir).ok();
}

/// `privrank related` on a small log: pairs from fewer users than `--min-users` are
/// left out, the rest come heaviest first, and a bad line names its number.
#[test]
fn related_lists_come_from_co_occurrence_with_a_user_floor() {
    let mut log = String::new();
    // a and b go together for three users; c joins a once.
    for (user, items) in [("u1", "ab"), ("u2", "ab"), ("u3", "abc"), ("u4", "c")] {
        for item in items.chars() {
            log.push_str(&format!(
                "{{\"user\": \"{user}\", \"itemId\": \"{item}\"}}\n"
            ));
        }
    }
    let path = std::env::temp_dir().join(format!("privrank-related-{}.jsonl", std::process::id()));
    std::fs::write(&path, &log).unwrap();
    let out = succeeded(privrank().args(["related", path.to_str().unwrap(), "--min-users", "2"]));
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let of = |id: &str| lines.iter().find(|l| l["itemId"] == id).cloned();
    assert_eq!(
        of("a").unwrap()["related"],
        serde_json::json!([{"itemId": "b", "weight": 1.0}])
    );
    assert!(of("c").is_none(), "c met a in one user only: {lines:?}");
    let out = succeeded(privrank().args(["related", path.to_str().unwrap(), "--min-users", "1"]));
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .contains(r#"{"itemId":"c","related":[{"itemId":"a","weight":0.4082}"#)
    );

    std::fs::write(&path, format!("{log}{{\"user\": \"u5\"}}\n")).unwrap();
    let out = privrank()
        .args(["related", path.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(":9: `itemId` must be"), "{stderr}");
    std::fs::remove_file(&path).ok();
}

/// The demo's promotions carry `related` lists computed from MovieLens, in the wire
/// format `rank()` checks.
#[test]
fn demo_candidates_carry_related_lists() {
    let dir = std::env::temp_dir().join(format!("privrank-demo-{}", std::process::id()));
    succeeded(privrank().args(["demo-data", "--out", dir.to_str().unwrap()]));
    let candidates: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("candidates.json")).unwrap()).unwrap();
    let list = candidates["candidates"].as_array().unwrap();
    assert_eq!(list.len(), 36);
    for c in list {
        let related = c["related"].as_array().unwrap();
        assert!(!related.is_empty() && related.len() <= 50, "{}", c["id"]);
        let weights: Vec<f64> = related
            .iter()
            .map(|r| r["weight"].as_f64().unwrap())
            .collect();
        assert!(
            weights.windows(2).all(|w| w[0] >= w[1])
                && weights.iter().all(|w| (0.0..=1.0).contains(w))
        );
        assert!(
            related
                .iter()
                .all(|r| r["itemId"].as_str().unwrap().starts_with("ml-"))
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// A CLI call on a machine without a GPU says once which backend it uses and why,
/// and passes on no driver noise (Mesa's display errors while probing Vulkan).
#[test]
fn the_backend_probe_is_one_quiet_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_privrank"))
        .current_dir(common::root())
        .env_remove("NODEVICE_SELECT")
        .env_remove("XDG_RUNTIME_DIR")
        .args(["--backend", "auto", "info"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    println!("info stderr: {stderr}");
    assert!(!stderr.contains("error"), "{stderr}");
    assert!(stderr.matches("privrank: backend").count() <= 1, "{stderr}");
}

/// `privrank creatives`: variants written into each candidate, the same under a seed
/// whether the run is whole or resumed after a crash mid-line, and a resume with
/// other settings refused.
#[test]
fn creatives_are_written_resumably_and_deterministically() {
    let dir = std::env::temp_dir().join(format!("privrank-creatives-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let catalog = dir.join("catalog.jsonl");
    std::fs::write(
        &catalog,
        concat!(
            r#"{"id": "shoe", "title": "Trail running shoes, waterproof", "category": "Sports", "bid": 1.2}"#,
            "\n",
            r#"{"id": "tea", "title": "Organic green tea, 100 bags", "category": "Grocery"}"#,
            "\n"
        ),
    )
    .unwrap();
    let run = |out: &std::path::Path, seed: &str| {
        privrank()
            .args([
                "creatives",
                catalog.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
            ])
            .args([
                "--variants",
                "2",
                "--attempts",
                "1",
                "--max-tokens",
                "16",
                "--seed",
                seed,
            ])
            .output()
            .unwrap()
    };
    let whole = dir.join("whole.jsonl");
    let out = run(&whole, "3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tokens/s") && stderr.contains("passed the filters"),
        "{stderr}"
    );
    let text = std::fs::read_to_string(&whole).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["bid"], 1.2, "other fields are kept");
    let written: usize = lines
        .iter()
        .map(|l| l["creatives"].as_array().unwrap().len())
        .sum();
    assert!(written >= 1, "no headline passed the filters: {stderr}");
    for line in &lines {
        let variants = line["creatives"].as_array().unwrap();
        assert!(variants.len() <= 2);
        for v in variants {
            assert!(
                ["family-fun", "thrills"].contains(&v["id"].as_str().unwrap()),
                "{v}"
            );
            assert!(!v["text"].as_str().unwrap().is_empty());
        }
    }

    // A crash after the first line and part of the second: the rerun cuts the
    // partial line off and writes what the whole run wrote.
    let resumed = dir.join("resumed.jsonl");
    let first_line = text.find('\n').unwrap() + 1;
    std::fs::write(&resumed, &text[..first_line + 10]).unwrap();
    std::fs::copy(
        dir.join("whole.jsonl.settings.json"),
        dir.join("resumed.jsonl.settings.json"),
    )
    .unwrap();
    let out = run(&resumed, "3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 already in"));
    assert_eq!(std::fs::read_to_string(&resumed).unwrap(), text);

    // The generator runs on the CPU: asking for wgpu is an error, not ignored.
    let out = Command::new(env!("CARGO_BIN_EXE_privrank"))
        .current_dir(common::root())
        .args(["--backend", "wgpu", "creatives", catalog.to_str().unwrap()])
        .args(["--out", dir.join("gpu.jsonl").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("CPU backend"));

    // Other settings on the same output: refused, nothing changed.
    let out = run(&resumed, "4");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("other settings"));
    assert_eq!(std::fs::read_to_string(&resumed).unwrap(), text);
    std::fs::remove_dir_all(&dir).ok();
}
