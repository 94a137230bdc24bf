//! Corrupt, missing and mismatched model files end in typed errors that name the
//! file or tensor — never a panic, never a silently wrong model.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{flip_byte, teacher_copy, teacher_dir, teacher_manifest};
use privrank::weights::sha256_hex;
use privrank::{Backend, Encoder, Error, ModelBundle, ModelManifest};
use safetensors::tensor::{Dtype, TensorView, serialize};

#[test]
fn corrupted_weights_give_hash_mismatch() {
    let dir = teacher_copy("corrupt");
    flip_byte(&dir.join("model.safetensors"), 1000);
    let err = ModelBundle::read(&teacher_manifest(), &dir).unwrap_err();
    std::fs::remove_dir_all(&dir).ok();
    match &err {
        Error::HashMismatch {
            file,
            expected,
            actual,
        } => {
            assert_eq!(file, "model.safetensors");
            assert_ne!(expected, actual);
        }
        other => panic!("expected HashMismatch, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.contains("hash mismatch for model.safetensors"), "{msg}");
}

#[test]
fn missing_file_says_how_to_fetch_it() {
    let dir = std::env::temp_dir().join(format!("privrank-empty-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = ModelBundle::read(&teacher_manifest(), &dir).unwrap_err();
    assert!(matches!(err, Error::MissingFile { .. }), "{err:?}");
    assert!(err.to_string().contains("scripts/setup"), "{err}");
}

/// A tiny model whose files hash correctly but whose tensors do not fit the config.
fn tiny_bundle(tensors: Vec<(&str, Dtype, Vec<usize>)>) -> privrank::Result<ModelBundle> {
    let config = br#"{"vocab_size": 30522, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 16,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}"#;
    let tokenizer = std::fs::read(teacher_dir().join("tokenizer.json")).unwrap();
    let buffers: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, dtype, shape)| vec![0u8; shape.iter().product::<usize>() * dtype.bitsize() / 8])
        .collect();
    let views: Vec<(String, TensorView<'_>)> = tensors
        .iter()
        .zip(&buffers)
        .map(|((name, dtype, shape), buf)| {
            (
                (*name).to_owned(),
                TensorView::new(*dtype, shape.clone(), buf).unwrap(),
            )
        })
        .collect();
    let weights = serialize(views, None).unwrap();
    let manifest = serde_json::json!({
        "name": "tiny",
        "files": {
            "config": {"name": "config.json", "sha256": sha256_hex(config)},
            "tokenizer": {"name": "tokenizer.json", "sha256": sha256_hex(&tokenizer)},
            "weights": {"name": "model.safetensors", "sha256": sha256_hex(&weights)},
        },
        "max_tokens": 16, "pooling": "mean", "normalize": true
    });
    let manifest = ModelManifest::from_json("tiny.json", manifest.to_string().as_bytes()).unwrap();
    ModelBundle::from_bytes(manifest, config, tokenizer, weights)
}

#[test]
fn wrong_shape_names_the_tensor_and_both_shapes() {
    let bundle = tiny_bundle(vec![(
        "embeddings.word_embeddings.weight",
        Dtype::F32,
        vec![30522, 16],
    )])
    .unwrap();
    let err = Encoder::load(&bundle, &Backend::cpu().device).unwrap_err();
    match err {
        Error::ShapeMismatch {
            tensor,
            expected,
            found,
        } => {
            assert_eq!(tensor, "embeddings.word_embeddings.weight");
            assert_eq!(expected, vec![30522, 8]);
            assert_eq!(found, vec![30522, 16]);
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
}

#[test]
fn missing_tensor_and_wrong_dtype_are_reported() {
    let bundle = tiny_bundle(vec![(
        "embeddings.word_embeddings.weight",
        Dtype::F32,
        vec![30522, 8],
    )])
    .unwrap();
    let err = Encoder::load(&bundle, &Backend::cpu().device).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensor { tensor, .. } if tensor == "embeddings.position_embeddings.weight"),
        "{err:?}"
    );

    let bundle = tiny_bundle(vec![(
        "embeddings.word_embeddings.weight",
        Dtype::I32,
        vec![30522, 8],
    )])
    .unwrap();
    let err = Encoder::load(&bundle, &Backend::cpu().device).unwrap_err();
    assert!(matches!(err, Error::BadDtype { .. }), "{err:?}");

    // An int8 matrix is unreadable without its per-row scales.
    let bundle = tiny_bundle(vec![(
        "embeddings.word_embeddings.weight",
        Dtype::I8,
        vec![30522, 8],
    )])
    .unwrap();
    let err = Encoder::load(&bundle, &Backend::cpu().device).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensor { tensor, .. } if tensor == "embeddings.word_embeddings.weight.scale"),
        "{err:?}"
    );
    let bundle = tiny_bundle(vec![
        (
            "embeddings.word_embeddings.weight",
            Dtype::I8,
            vec![30522, 8],
        ),
        (
            "embeddings.word_embeddings.weight.scale",
            Dtype::F32,
            vec![8],
        ),
    ])
    .unwrap();
    let err = Encoder::load(&bundle, &Backend::cpu().device).unwrap_err();
    assert!(
        matches!(&err, Error::ShapeMismatch { tensor, expected, .. } if tensor == "embeddings.word_embeddings.weight.scale" && expected == &vec![30522]),
        "{err:?}"
    );
}

#[test]
fn token_budget_beyond_positions_is_refused() {
    let manifest = std::fs::read_to_string(teacher_manifest())
        .unwrap()
        .replace("\"max_tokens\": 256", "\"max_tokens\": 4096");
    let manifest = ModelManifest::from_json("patched.json", manifest.as_bytes()).unwrap();
    let dir = teacher_dir();
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap();
    let err = ModelBundle::from_bytes(
        manifest,
        &read("config.json"),
        read("tokenizer.json"),
        read("model.safetensors"),
    )
    .unwrap_err();
    assert!(err.to_string().contains("max_position_embeddings"), "{err}");
}
