//! The `privrank` binary as a user runs it.

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
