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

#[test]
fn embed_similarity_matches_numpy_reference() {
    let golden = Golden::load();
    let pair = &golden.pairs[0];
    let (a, b) = (&golden.case(&pair.a).text, &golden.case(&pair.b).text);
    let out = privrank()
        .args(["embed", "--similarity", a, b])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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

#[test]
fn embed_prints_unit_vectors_of_the_model_width() {
    let golden = Golden::load();
    let case = golden.case("chinese_title");
    let out = privrank().args(["embed", &case.text]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
        .args(["--model-dir", dir.to_str().unwrap(), "embed", "hello"])
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
    let out = privrank().arg("info").output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let info: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(info["model"]["name"], "all-minilm-l6-v2");
    assert_eq!(info["dims"]["hidden"], 384);
    assert_eq!(info["dims"]["layers"], 6);
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
/// `cargo run --features cli -- --backend cpu rank tests/fixtures/rank_request.json > tests/fixtures/rank_expected.json`.
#[test]
fn rank_matches_the_parity_fixture() {
    let out = privrank()
        .args(["rank", "tests/fixtures/rank_request.json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
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
        // Attention weights are a distribution over the history, best first.
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
