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

const TINY_CONFIG: &[u8] = br#"{"vocab_size": 30522, "hidden_size": 8, "num_hidden_layers": 1,
        "num_attention_heads": 2, "intermediate_size": 16, "max_position_embeddings": 16,
        "type_vocab_size": 2, "layer_norm_eps": 1e-12, "hidden_act": "gelu"}"#;

/// A tiny model whose files hash correctly but whose tensors do not fit the config.
fn tiny_bundle(tensors: Vec<(&str, Dtype, Vec<usize>)>) -> privrank::Result<ModelBundle> {
    tiny_bundle_with(TINY_CONFIG, tensors)
}

fn tiny_bundle_with(
    config: &[u8],
    tensors: Vec<(&str, Dtype, Vec<usize>)>,
) -> privrank::Result<ModelBundle> {
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

/// Rust's quantized writer (what `privrank distill` ships) against
/// `models/quantize.py`, the NumPy quantizer the small encoder's int8 file comes from:
/// the same float32 tensors must give the same codes and scales, bit for bit — int8
/// and packed int4, ties, zero rows, huge and tiny values, an odd width included.
#[test]
fn quantized_writer_matches_the_numpy_quantizer() {
    use privrank::weights::{NamedTensor, Scheme, to_safetensors};
    let mut rows = Vec::new();
    let mut x = 0x2545_f491u32;
    for _ in 0..64 * 33 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        rows.push((x as f32 / u32::MAX as f32 - 0.5) * 3.0);
    }
    rows[..33].fill(0.0); // a zero row: scale 0
    rows[33..66].copy_from_slice(&[127.0; 33]); // every value exactly at the peak
    for (i, v) in rows[66..99].iter_mut().enumerate() {
        *v = i as f32 - 16.5; // halves: ties to even after scaling
    }
    rows[99] = 1e30;
    rows[100] = 1e-30;
    let tensors = vec![
        NamedTensor {
            name: "m".into(),
            shape: vec![64, 33],
            data: rows,
        },
        NamedTensor {
            name: "n".into(),
            shape: vec![2, 4],
            data: vec![0.5, -1.0, 0.25, 7.0, -3.0, 3.0, 1.5, -0.75],
        },
        NamedTensor {
            name: "b".into(),
            shape: vec![3],
            data: vec![0.25, -1.5, 7.0],
        },
    ];
    let dir = std::env::temp_dir().join(format!("privrank-quant-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let f32_path = dir.join("f32.safetensors");
    std::fs::write(
        &f32_path,
        to_safetensors(&tensors, |_| Scheme::F32).unwrap(),
    )
    .unwrap();
    let python = common::root().join(".cache/venv/bin/python");
    let numpy = |extra: &[&str]| {
        let out = dir.join("py.safetensors");
        let status = std::process::Command::new(&python)
            .arg(common::root().join("models/quantize.py"))
            .args([&f32_path, &out])
            .args(["--scheme", "int8"])
            .args(extra)
            .status()
            .unwrap_or_else(|e| panic!("{} (run scripts/setup): {e}", python.display()));
        assert!(status.success());
        std::fs::read(&out).unwrap()
    };
    let cases = [
        (
            numpy(&[]),
            to_safetensors(&tensors, |_| Scheme::Int8).unwrap(),
        ),
        (
            numpy(&["--int4", "m,n"]),
            to_safetensors(&tensors, |t| {
                if t.name == "b" {
                    Scheme::F32
                } else {
                    Scheme::Int4
                }
            })
            .unwrap(),
        ),
    ];
    std::fs::remove_dir_all(&dir).ok();
    for (theirs, ours) in &cases {
        let (a, b) = (
            safetensors::SafeTensors::deserialize(ours).unwrap(),
            safetensors::SafeTensors::deserialize(theirs).unwrap(),
        );
        let mut names = a.names();
        names.sort();
        let mut other = b.names();
        other.sort();
        assert_eq!(names, other);
        assert_eq!(names, ["b", "m", "m.scale", "n", "n.scale"]);
        for name in names {
            let (x, y) = (a.tensor(name).unwrap(), b.tensor(name).unwrap());
            assert_eq!((x.dtype(), x.shape()), (y.dtype(), y.shape()), "{name}");
            assert!(x.data() == y.data(), "{name}: bytes differ");
        }
    }
    let int4 = safetensors::SafeTensors::deserialize(&cases[1].1).unwrap();
    assert_eq!(
        int4.tensor("m").unwrap().shape(),
        [64, 17],
        "33 columns pack into 17 bytes"
    );
}

/// What an encoder exports is what its file holds: the writer is the loader's inverse.
#[test]
fn an_encoder_exports_exactly_the_tensors_it_loaded() {
    let bundle = ModelBundle::read(&teacher_manifest(), &teacher_dir()).unwrap();
    let encoder = Encoder::load(&bundle, &Backend::cpu().device).unwrap();
    let exported = encoder.tensors().unwrap();
    let source = bundle.tensors().unwrap();
    // 5 embedding tensors + 16 per layer; the file's int64 position_ids is no weight.
    assert_eq!(exported.len(), 5 + 16 * 6);
    for t in &exported {
        assert_eq!(
            source.floats(&t.name, &t.shape).unwrap(),
            t.data,
            "{}",
            t.name
        );
    }
    // The architecture's count is what the encoder holds (the file's pooler is unused).
    assert_eq!(
        bundle.config.parameter_count(),
        exported.iter().map(|t| t.data.len()).sum::<usize>()
    );
}

#[test]
fn a_factorised_vocabulary_needs_its_projection_and_narrow_rows() {
    let config =
        String::from_utf8_lossy(TINY_CONFIG).replace("\"gelu\"", "\"gelu\", \"embedding_size\": 4");
    let c = privrank::BertConfig::from_json("config.json", config.as_bytes()).unwrap();
    assert_eq!(c.word_embedding_dim(), 4);
    let zero = config.replace("\"embedding_size\": 4", "\"embedding_size\": 0");
    assert!(privrank::BertConfig::from_json("config.json", zero.as_bytes()).is_err());

    let table = (
        "embeddings.word_embeddings.weight",
        Dtype::F32,
        vec![30522, 4],
    );
    let bundle = tiny_bundle_with(config.as_bytes(), vec![table.clone()]).unwrap();
    let err = Encoder::load(&bundle, &Backend::cpu().device).unwrap_err();
    assert!(
        matches!(&err, Error::MissingTensor { tensor, .. } if tensor == "embeddings.word_projection.weight"),
        "{err:?}"
    );
    // Rows as wide as the hidden size where the config says 4: a shape mismatch.
    let bundle = tiny_bundle_with(
        config.as_bytes(),
        vec![
            (
                "embeddings.word_embeddings.weight",
                Dtype::F32,
                vec![30522, 8],
            ),
            ("embeddings.word_projection.weight", Dtype::F32, vec![8, 4]),
            ("embeddings.word_projection.bias", Dtype::F32, vec![8]),
        ],
    )
    .unwrap();
    let err = Encoder::load(&bundle, &Backend::cpu().device).unwrap_err();
    assert!(
        matches!(&err, Error::ShapeMismatch { tensor, expected, .. } if tensor == "embeddings.word_embeddings.weight" && expected == &vec![30522, 4]),
        "{err:?}"
    );
}

/// Every committed manifest states each file's length (the browser's loader bounds
/// downloads by it), and it is the file's: the project's own files always, the
/// fetched ones once `scripts/setup` has them.
#[test]
fn committed_manifests_declare_each_files_length() {
    let root = common::root();
    let mut checked = 0;
    let mut specs: Vec<(std::path::PathBuf, privrank::config::FileSpec)> = Vec::new();
    for name in [
        "models/student/student.json",
        "models/student-zh/student-zh.json",
        "models/all-minilm-l6-v2.json",
        "models/paraphrase-minilm-l3-v2.json",
        "models/paraphrase-minilm-l3-v2-int8.json",
    ] {
        let path = root.join(name);
        let manifest = ModelManifest::from_json(name, &std::fs::read(&path).unwrap()).unwrap();
        let dir = privrank::config::default_model_dir(&path);
        let files = manifest.files;
        for spec in [files.config, files.tokenizer, files.weights] {
            specs.push((dir.join(&spec.name), spec));
        }
    }
    for name in [
        "models/student/ranker/ranker.json",
        "models/student-zh/ranker/ranker.json",
        "models/ranker/ranker.json",
    ] {
        let path = root.join(name);
        let manifest =
            privrank::RankerManifest::from_json(name, &std::fs::read(&path).unwrap()).unwrap();
        specs.push((
            path.with_file_name(&manifest.weights.name),
            manifest.weights,
        ));
    }
    for (path, spec) in specs {
        let declared = spec
            .bytes
            .unwrap_or_else(|| panic!("{} declares no length", spec.name));
        let committed = path.starts_with(root.join("models"));
        match std::fs::metadata(&path) {
            Ok(meta) => {
                assert_eq!(meta.len(), declared, "{}", path.display());
                checked += 1;
            }
            Err(e) if !committed => println!("{}: not fetched ({e})", path.display()),
            Err(e) => panic!("{}: {e}", path.display()),
        }
    }
    assert!(checked >= 5, "only {checked} files checked");
}

/// The package pins the manifests of its default set (`src/web/pins.rs` includes
/// them in the wasm): the files it includes must be the ones `models/default.json`
/// names, so that changing the default set cannot leave a stale pin behind.
#[test]
fn the_package_pins_the_manifests_models_default_json_names() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let set: serde_json::Value =
        serde_json::from_slice(&std::fs::read(root.join("models/default.json")).unwrap()).unwrap();
    let pins = std::fs::read_to_string(root.join("src/web/pins.rs")).unwrap();
    let included: Vec<std::path::PathBuf> = pins
        .split("include_bytes!(\"")
        .skip(1)
        .map(|rest| {
            let path = &rest[..rest.find('"').unwrap()];
            std::fs::canonicalize(root.join("src/web").join(path)).unwrap()
        })
        .collect();
    let named: Vec<std::path::PathBuf> = ["encoder", "ranker"]
        .iter()
        .map(|part| {
            let manifest = set[part]["manifest"].as_str().unwrap();
            std::fs::canonicalize(root.join("models").join(manifest)).unwrap()
        })
        .collect();
    assert_eq!(included, named, "src/web/pins.rs vs models/default.json");
}

/// `Ranker::load` builds each weight from the file, after checking the tensor's
/// shape against the config's: absurd dims are a shape error before anything is
/// allocated, with a message that names the tensor (the fuzz target
/// `ranker_weights` keeps such an input in fuzz/regressions/).
#[test]
fn a_ranker_config_larger_than_its_file_is_refused_by_its_shapes() {
    use burn::module::Module;
    use privrank::{Ranker, RankerManifest};
    let dir = common::root().join("models/student/ranker");
    let mut manifest = RankerManifest::from_json(
        "ranker.json",
        &std::fs::read(dir.join("ranker.json")).unwrap(),
    )
    .unwrap();
    let weights = std::fs::read(dir.join(&manifest.weights.name)).unwrap();
    let hash = manifest.encoder.model_hash.clone();
    let device = Backend::cpu().device;
    let ranker = Ranker::load(&manifest, &weights, &hash, &device).unwrap();
    assert_eq!(ranker.num_params(), manifest.config.parameter_count());
    manifest.config.embedding_dim = 1 << 40;
    let err = Ranker::load(&manifest, &weights, &hash, &device).unwrap_err();
    assert!(matches!(err, Error::BadWeights { .. }), "{err}");
    assert!(
        err.to_string().contains("project.weight") && err.to_string().contains("1099511627776"),
        "{err}"
    );
}
