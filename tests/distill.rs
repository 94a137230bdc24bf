//! Distillation on the real teacher and real WordNet text, at a size a test can afford:
//! training must raise the student's cosine to the teacher on held-out texts, and the
//! int8 file it writes must load through the ordinary loader and embed like the
//! in-memory model did.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{root, teacher_dir, teacher_manifest};
use privrank::data::{WordNet, default_data_dir};
use privrank::distill::corpus::{Corpus, CorpusLimits};
use privrank::distill::init::{StudentShape, init_student};
use privrank::distill::train::DistillSettings;
use privrank::distill::{Recipe, agreement, bundle_of, distill_student, manifest_for};
use privrank::{Backend, BertConfig, ModelBundle, SentenceEncoder};

fn wordnet() -> WordNet {
    let dir = root().join(default_data_dir("wordnet"));
    WordNet::load(&dir).expect("WordNet is fetched by scripts/setup")
}

fn teacher() -> (ModelBundle, SentenceEncoder) {
    let bundle = ModelBundle::read(&teacher_manifest(), &teacher_dir()).expect("teacher loads");
    let encoder = SentenceEncoder::load(&bundle, &Backend::cpu().device).unwrap();
    (bundle, encoder)
}

const SHAPE: fn() -> StudentShape = || StudentShape {
    layers: vec![0, 5],
    intermediate_size: 256,
    embedding_size: 48,
    max_tokens: 64,
};

#[test]
fn wordnet_gives_the_expected_synsets() {
    let wn = wordnet();
    // WordNet 3.0: 82,115 noun, 13,767 verb, 18,156 adjective and 3,621 adverb synsets.
    assert_eq!(wn.synsets.len(), 117_659);
    let dog = wn
        .synsets
        .iter()
        .find(|s| s.words.first().map(String::as_str) == Some("dog"))
        .expect("dog is in WordNet");
    assert!(
        dog.words.iter().any(|w| w == "domestic dog"),
        "{:?}",
        dog.words
    );
    assert!(dog.definition.contains("Canis"), "{}", dog.definition);
    let corpus = Corpus::build(
        &wn,
        None,
        CorpusLimits {
            max_train: usize::MAX,
            max_valid: usize::MAX,
            max_chars: 300,
        },
    );
    let total = corpus.train.len() + corpus.valid.len() + corpus.test.len();
    assert!(total > 250_000, "{total} distinct texts");
}

#[test]
fn the_cut_student_keeps_the_teacher_s_shape_where_it_should() {
    let (bundle, encoder) = teacher();
    let texts = ["a member of the genus Canis", "Toy Story (1995). Animation"];
    let activity = encoder.ffn_activity(&texts).unwrap();
    assert_eq!(activity.len(), 6);
    assert!(
        activity
            .iter()
            .all(|a| a.len() == 1536 && a.iter().all(|x| *x >= 0.0))
    );
    let init = init_student(&bundle, &SHAPE(), &activity).unwrap();
    let c: &BertConfig = &init.config;
    assert_eq!(
        (
            c.num_hidden_layers,
            c.intermediate_size,
            c.embedding_size,
            c.max_position_embeddings
        ),
        (2, 256, Some(48), 64)
    );
    assert!(init.embedding_energy > 0.2 && init.embedding_energy < 1.0);
    // A shape the teacher cannot give is refused by name.
    let err = init_student(
        &bundle,
        &StudentShape {
            layers: vec![6],
            ..SHAPE()
        },
        &activity,
    )
    .unwrap_err();
    assert!(err.to_string().contains("layer 6"), "{err}");
}

#[test]
fn distilling_raises_the_held_out_cosine_and_the_int8_file_embeds_alike() {
    let (bundle, teacher) = teacher();
    let corpus = Corpus::build(
        &wordnet(),
        None,
        CorpusLimits {
            max_train: 384,
            max_valid: 64,
            max_chars: 120,
        },
    );
    let text = |p: &[privrank::distill::corpus::Text]| -> Vec<String> {
        p.iter().map(|t| t.text.clone()).collect()
    };
    let (train, valid) = (text(&corpus.train), text(&corpus.valid));
    let train_t = teacher.embed(&train).unwrap();
    let valid_t = teacher.embed(&valid).unwrap();
    let recipe = Recipe {
        shape: SHAPE(),
        settings: DistillSettings {
            epochs: 2,
            batch_size: 32,
            learning_rate: 5e-4,
            ..DistillSettings::default()
        },
        ffn_sample: 128,
    };
    let device = Backend::cpu().device.autodiff();
    device.seed(3);
    let out = distill_student(
        &teacher,
        &bundle,
        (&train, &train_t),
        (&valid, &valid_t),
        &recipe,
        &device,
        |_| {},
        |_| {},
    )
    .unwrap();
    let r = &out.report;
    println!(
        "distill: validation cosine {:.4} → {:.4} in {} steps",
        r.initial_valid_cosine, r.best_valid_cosine, r.steps
    );
    assert_eq!(r.steps, 2 * 384usize.div_ceil(32));
    assert!(
        r.best_valid_cosine > r.initial_valid_cosine + 0.01,
        "training did not help: {r:?}"
    );

    // The int8 file through the ordinary loader: unit vectors whose cosine to the
    // teacher is the validation cosine training reported (int8 costs a little).
    let tokenizer = bundle.tokenizer_bytes().to_vec();
    let manifest = manifest_for("student", &out.config, &tokenizer, &out.weights, 64);
    let student_bundle = bundle_of(manifest, &out.config, tokenizer, out.weights.clone()).unwrap();
    let student = SentenceEncoder::load(&student_bundle, &Backend::cpu().device).unwrap();
    let cosines = agreement(&student, &valid_t, &valid).unwrap();
    let mean = cosines.iter().sum::<f64>() / cosines.len() as f64;
    assert!(
        (mean - r.best_valid_cosine).abs() < 0.01,
        "int8 file {mean:.4} vs in-memory {:.4}",
        r.best_valid_cosine
    );
    let v = student.embed(&["Red running shoes"]).unwrap();
    let norm: f32 = v[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
}
