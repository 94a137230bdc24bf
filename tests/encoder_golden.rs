//! The burn encoder against golden vectors from the independent NumPy reference
//! (tests/reference/), on the CPU backend and on wgpu when an adapter exists: the
//! teacher, the small encoder converted from its ONNX export (whose NumPy reference is
//! itself checked against onnxruntime by tests/reference/onnx_check.py), and the
//! distilled student.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use std::path::PathBuf;

use common::{Golden, max_abs_diff, model_dir, root, teacher_dir, teacher_manifest};
use privrank::encoder::cosine;
use privrank::{Backend, BackendChoice, ModelBundle, SentenceEncoder, TokenBatch};

const MIN_COSINE: f32 = 0.99999;
/// Per element, relative to the reference vector's length: the teacher's vectors are
/// unit length, the small encoder's (not normalised) are 4–9 long.
const MAX_ABS: f32 = 1e-4;

/// A model's manifest and its golden fixture, from the repository root.
struct Model {
    manifest: &'static str,
    fixture: &'static str,
}

const TEACHER: Model = Model {
    manifest: "models/all-minilm-l6-v2.json",
    fixture: "tests/fixtures/encoder_golden.json",
};
const SMALL: Model = Model {
    manifest: "models/paraphrase-minilm-l3-v2.json",
    fixture: "tests/fixtures/encoder_golden_paraphrase-minilm-l3-v2.json",
};
/// The small encoder's int8 weight file (`models/quantize.py`): its fixture comes from
/// the NumPy reference dequantizing the same file.
const SMALL_INT8: Model = Model {
    manifest: "models/paraphrase-minilm-l3-v2-int8.json",
    fixture: "tests/fixtures/encoder_golden_paraphrase-minilm-l3-v2-int8.json",
};

/// The distilled student, int8 (`privrank distill`): its fixture comes from the NumPy
/// reference dequantizing the committed file and applying its factorised embedding.
const STUDENT: Model = Model {
    manifest: "models/student/student.json",
    fixture: "tests/fixtures/encoder_golden_student.json",
};

/// The bilingual student (`privrank distill-zh`): the student's vocabulary with CJK
/// characters appended; its fixture comes from the same NumPy reference.
const STUDENT_ZH: Model = Model {
    manifest: "models/student-zh/student-zh.json",
    fixture: "tests/fixtures/encoder_golden_student-zh.json",
};

fn bundle() -> ModelBundle {
    ModelBundle::read(&teacher_manifest(), &teacher_dir()).expect("teacher loads")
}

fn norm(v: &[f32]) -> f32 {
    v.iter().map(|x| x * x).sum::<f32>().sqrt()
}

/// Compare every golden case, one text per forward pass and in padded batches.
fn check_backend(backend: &Backend, model: &Model) {
    let golden = Golden::load_from(model.fixture);
    let manifest: PathBuf = root().join(model.manifest);
    let bundle = ModelBundle::read(&manifest, &model_dir(&manifest)).expect("model loads");
    assert_eq!(
        golden.weights_sha256,
        bundle.model_hash(),
        "fixture is for other weights"
    );
    assert_eq!(golden.max_tokens, bundle.manifest.max_tokens);
    assert!(
        golden.cases.len() >= 24,
        "fixture must hold at least 24 inputs"
    );
    let encoder = SentenceEncoder::load(&bundle, &backend.device).expect("encoder loads");

    let mut failures = Vec::new();
    let mut worst_cos = 1.0f32;
    let mut worst_abs = 0.0f32;
    let mut compared = 0;
    let mut compare = |name: &str, got: &[f32], want: &[f32], how: &str| {
        let cos = cosine(got, want);
        let abs = max_abs_diff(got, want) / norm(want).max(1.0);
        worst_cos = worst_cos.min(cos);
        worst_abs = worst_abs.max(abs);
        compared += 1;
        if cos < MIN_COSINE || abs > MAX_ABS {
            failures.push(format!(
                "{name} ({how}): cosine {cos:.7}, max |Δ| {abs:.2e}"
            ));
        }
    };

    for case in &golden.cases {
        let batch = encoder.tokenizer().encode_batch(&[&case.text]).unwrap();
        assert_eq!(batch.row(0), case.ids, "token ids differ for {}", case.name);
        let got = encoder.embed_batch(&batch).unwrap();
        compare(&case.name, &got[0], &case.embedding, "alone");
    }
    for group in &golden.batches {
        let cases: Vec<_> = group.iter().map(|n| golden.case(n)).collect();
        let rows: Vec<Vec<i64>> = cases.iter().map(|c| c.ids.clone()).collect();
        let batch = TokenBatch::from_rows(&rows).unwrap();
        let got = encoder.embed_batch(&batch).unwrap();
        for (case, e) in cases.iter().zip(&got) {
            compare(&case.name, e, &case.embedding, "padded batch");
        }
    }
    println!(
        "golden[{}, {}]: compared {compared} embeddings ({} inputs) on {} — min cosine {worst_cos:.7}, max |Δ|/‖ref‖ {worst_abs:.2e}",
        golden.model,
        backend.kind,
        golden.cases.len(),
        backend.adapter
    );
    assert!(
        failures.is_empty(),
        "outside tolerance:\n{}",
        failures.join("\n")
    );
}

#[test]
fn golden_vectors_on_cpu() {
    check_backend(&Backend::cpu(), &TEACHER);
}

#[test]
fn small_encoder_golden_vectors_on_cpu() {
    check_backend(&Backend::cpu(), &SMALL);
}

#[test]
fn int8_encoder_golden_vectors_on_cpu() {
    check_backend(&Backend::cpu(), &SMALL_INT8);
}

#[test]
fn student_golden_vectors_on_cpu() {
    check_backend(&Backend::cpu(), &STUDENT);
}

#[test]
fn bilingual_student_golden_vectors_on_cpu() {
    check_backend(&Backend::cpu(), &STUDENT_ZH);
}

/// Chinese product texts (written for this test, not in any training data) and the
/// teacher fixture's English cases they say the same as: the bilingual student must
/// put each Chinese text nearest the teacher's NumPy reference vector of its own
/// English counterpart, among all of them. The default student, which reads these
/// characters as `[UNK]`s, cannot (`zh_nearest(STUDENT)` is asserted to fail below).
const COUNTERPARTS: [(&str, &str); 7] = [
    ("english_food", "一个男人在吃东西。"),
    ("product_shoes", "红色男士跑步鞋 10码"),
    ("product_headphones", "无线降噪耳机 30小时续航"),
    ("promo", "大减价 所有冬季夹克五折 仅限今天"),
    ("numbers_units", "USB-C 数据线 2米 100W 快充"),
    ("all_caps", "全新手机壳 包邮"),
    ("german", "XL码 男士外套"),
];

/// How many Chinese texts are nearest their counterpart, and their mean cosine to it.
fn zh_nearest(model: &Model) -> (usize, f32) {
    let teacher = Golden::load();
    let manifest = root().join(model.manifest);
    let bundle = ModelBundle::read(&manifest, &model_dir(&manifest)).expect("model loads");
    let encoder = SentenceEncoder::load(&bundle, &Backend::cpu().device).unwrap();
    let texts: Vec<&str> = COUNTERPARTS.iter().map(|(_, zh)| *zh).collect();
    let got = encoder.embed(&texts).unwrap();
    let refs: Vec<&[f32]> = COUNTERPARTS
        .iter()
        .map(|(name, _)| teacher.case(name).embedding.as_slice())
        .collect();
    let mut nearest = 0;
    let mut own = 0.0;
    for (i, v) in got.iter().enumerate() {
        let cosines: Vec<f32> = refs.iter().map(|r| cosine(v, r)).collect();
        own += cosines[i];
        let best = (0..refs.len())
            .max_by(|&a, &b| cosines[a].total_cmp(&cosines[b]))
            .unwrap();
        nearest += usize::from(best == i);
    }
    (nearest, own / refs.len() as f32)
}

#[test]
fn bilingual_student_puts_chinese_next_to_its_english_meaning() {
    let (nearest, mean) = zh_nearest(&STUDENT_ZH);
    let (before, before_mean) = zh_nearest(&STUDENT);
    println!(
        "Chinese texts nearest their English counterpart's teacher vector: {nearest} of {} \
         (mean cosine {mean:.4}); the default student {before} (mean {before_mean:.4})",
        COUNTERPARTS.len()
    );
    // Measured 2026-12-06: 6 of 7, mean 0.440; the default student 2 of 7, mean 0.119.
    let passes = |nearest: usize, mean: f32| nearest >= 5 && mean >= 0.35;
    assert!(passes(nearest, mean), "{nearest} nearest, mean {mean}");
    assert!(
        !passes(before, before_mean),
        "the default student passes too ({before}, {before_mean}): the test tells nothing"
    );
}

/// The student lives in the teacher's space: on the golden inputs a storefront sends
/// (English titles, products, promotions), its vectors, computed here, point where the
/// teacher's NumPy reference vectors do. Measured on the committed student: cosine
/// 0.82–0.94, mean 0.87. (On scripts its corpus never had — Chinese, Japanese, Korean
/// — and on 128+ token inputs it follows the teacher far less; the model card says so.)
#[test]
fn student_points_where_the_teacher_does_on_storefront_texts() {
    let teacher = Golden::load();
    let manifest = root().join(STUDENT.manifest);
    let bundle = ModelBundle::read(&manifest, &model_dir(&manifest)).expect("student loads");
    let student = SentenceEncoder::load(&bundle, &Backend::cpu().device).unwrap();
    let names = [
        "english_food",
        "english_bread",
        "product_shoes",
        "product_headphones",
        "movie_title",
        "movie_genres",
        "promo",
        "accents",
        "all_caps",
    ];
    let texts: Vec<&str> = names
        .iter()
        .map(|n| teacher.case(n).text.as_str())
        .collect();
    let got = student.embed(&texts).unwrap();
    let cosines: Vec<f32> = names
        .iter()
        .zip(&got)
        .map(|(n, e)| cosine(e, &teacher.case(n).embedding))
        .collect();
    let min = cosines.iter().copied().fold(f32::INFINITY, f32::min);
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    println!(
        "student vs teacher reference on {} storefront texts: min {min:.4}, mean {mean:.4}",
        names.len()
    );
    assert!(
        min >= 0.8 && mean >= 0.85,
        "min {min}, mean {mean}: {cosines:?}"
    );
}

/// What quantization costs: the int8 file's embeddings, computed here, against the
/// fp32 model's reference vectors (measured: min cosine 0.9972 over the 26 cases).
#[test]
fn int8_encoder_stays_close_to_fp32() {
    let fp32 = Golden::load_from(SMALL.fixture);
    let manifest = root().join(SMALL_INT8.manifest);
    let bundle = ModelBundle::read(&manifest, &model_dir(&manifest)).expect("int8 model loads");
    let encoder = SentenceEncoder::load(&bundle, &Backend::cpu().device).unwrap();
    let texts: Vec<&str> = fp32.cases.iter().map(|c| c.text.as_str()).collect();
    let got = encoder.embed(&texts).unwrap();
    let cosines: Vec<f32> = got
        .iter()
        .zip(&fp32.cases)
        .map(|(e, c)| cosine(e, &c.embedding))
        .collect();
    let min = cosines.iter().copied().fold(f32::INFINITY, f32::min);
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    println!("int8 vs fp32: min cosine {min:.5}, mean {mean:.5}");
    assert!(min >= 0.99 && mean >= 0.998, "min {min}, mean {mean}");
}

/// Runs when a wgpu adapter exists (a GPU, or Mesa's lavapipe). Otherwise it says so
/// loudly; with `PRIVRANK_REQUIRE_WGPU=1` (set on GPU machines) a missing adapter fails.
fn on_wgpu(model: &Model) {
    match Backend::open(BackendChoice::Wgpu) {
        Ok(backend) => check_backend(&backend, model),
        Err(e) => {
            let msg = format!("golden[wgpu]: SKIPPED — {e}");
            assert!(std::env::var_os("PRIVRANK_REQUIRE_WGPU").is_none(), "{msg}");
            println!("{msg}");
        }
    }
}

#[test]
fn golden_vectors_on_wgpu() {
    on_wgpu(&TEACHER);
}

#[test]
fn small_encoder_golden_vectors_on_wgpu() {
    on_wgpu(&SMALL);
}

#[test]
fn student_golden_vectors_on_wgpu() {
    on_wgpu(&STUDENT);
}

#[test]
fn embed_keeps_input_order_across_length_sorted_batches() {
    let golden = Golden::load();
    let mut encoder = SentenceEncoder::load(&bundle(), &Backend::cpu().device).unwrap();
    encoder.batch_size = 4; // several batches, each reordered by length
    let texts: Vec<&str> = golden.cases.iter().map(|c| c.text.as_str()).collect();
    let mut calls = 0;
    let mut last = 0;
    let got = encoder
        .embed_with_progress(&texts, |done, total| {
            calls += 1;
            assert!(
                last < done && done <= total,
                "{last} then {done} of {total}"
            );
            last = done;
        })
        .unwrap();
    // At least one pass per 4 texts; more where lengths differ enough to run apart.
    assert!(calls >= texts.len().div_ceil(4), "{calls} passes");
    assert_eq!(last, texts.len());
    for (case, e) in golden.cases.iter().zip(&got) {
        assert!(
            cosine(e, &case.embedding) >= MIN_COSINE,
            "{} came back out of order or wrong",
            case.name
        );
    }
}

#[test]
fn reference_pair_cosine() {
    let golden = Golden::load();
    let encoder = SentenceEncoder::load(&bundle(), &Backend::cpu().device).unwrap();
    for pair in &golden.pairs {
        let e = encoder
            .embed(&[&golden.case(&pair.a).text, &golden.case(&pair.b).text])
            .unwrap();
        let got = cosine(&e[0], &e[1]);
        assert!(
            (got - pair.cosine).abs() <= 1e-4,
            "{} vs {}: {got} (reference {})",
            pair.a,
            pair.b,
            pair.cosine
        );
    }
}

#[test]
fn empty_batch_is_a_typed_error() {
    let encoder = SentenceEncoder::load(&bundle(), &Backend::cpu().device).unwrap();
    let none: [&str; 0] = [];
    assert!(matches!(
        encoder.embed(&none),
        Err(privrank::Error::EmptyBatch)
    ));
}
