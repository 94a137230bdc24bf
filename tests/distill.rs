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
use privrank::weights::Scheme;
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
    let Err(err) = init_student(
        &bundle,
        &StudentShape {
            layers: vec![6],
            ..SHAPE()
        },
        &activity,
    ) else {
        panic!("a seventh layer was cut from a six-layer teacher");
    };
    assert!(err.to_string().contains("layer 6"), "{err}");
}

#[test]
fn distilling_raises_the_held_out_cosine_and_the_quantized_file_embeds_alike() {
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
        word_embedding_scheme: Scheme::Int4,
        settle_epochs: 1,
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
    // Settling starts from the trained student with its word table on the int4 grid
    // (so near where training ended, not from the cut) and leaves that table frozen:
    // every row of the float32 weights still holds at most 15 distinct values.
    let settle = out
        .settle
        .as_ref()
        .expect("int4 with settle_epochs 1 settles");
    assert_eq!(settle.steps, 384usize.div_ceil(32));
    assert!(
        (settle.initial_valid_cosine - r.best_valid_cosine).abs() < 0.05,
        "settling started at {:.4}, training ended at {:.4}",
        settle.initial_valid_cosine,
        r.best_valid_cosine
    );
    // The teacher's vocabulary as the student ships it (`vocab.txt`).
    let tokenizer = out.tokenizer.clone();
    let fp32 = bundle_of(
        manifest_for("fp32", &out.config, &tokenizer, &out.fp32_weights, 64),
        &out.config,
        tokenizer.clone(),
        out.fp32_weights.clone(),
    )
    .unwrap();
    let e = out.config.embedding_size.unwrap();
    let table = fp32
        .tensors()
        .unwrap()
        .floats(
            "embeddings.word_embeddings.weight",
            &[out.config.vocab_size, e],
        )
        .unwrap();
    for row in table.chunks(e).step_by(997) {
        let mut levels: Vec<u32> = row.iter().map(|x| x.to_bits()).collect();
        levels.sort_unstable();
        levels.dedup();
        assert!(
            levels.len() <= 15,
            "{} distinct values in a row",
            levels.len()
        );
    }

    // The shipped file (int4 word table, int8 matrices) through the ordinary loader:
    // unit vectors whose cosine to the teacher is the validation cosine settling
    // reported (int8 on the other matrices costs a little).
    let manifest = manifest_for("student", &out.config, &tokenizer, &out.weights, 64);
    let student_bundle = bundle_of(manifest, &out.config, tokenizer, out.weights.clone()).unwrap();
    let student = SentenceEncoder::load(&student_bundle, &Backend::cpu().device).unwrap();
    let cosines = agreement(&student, &valid_t, &valid).unwrap();
    let mean = cosines.iter().sum::<f64>() / cosines.len() as f64;
    assert!(
        (mean - settle.best_valid_cosine).abs() < 0.01,
        "quantized file {mean:.4} vs in-memory {:.4}",
        settle.best_valid_cosine
    );
    let v = student.embed(&["Red running shoes"]).unwrap();
    let norm: f32 = v[0].iter().map(|x| x * x).sum::<f32>().sqrt();
    assert!((norm - 1.0).abs() < 1e-5, "{norm}");
}

/// Cross-lingual distillation at test size, on real CC-CEDICT words and the committed
/// student: the tokenizer gains the words' characters after every English id (the
/// golden English inputs tokenize exactly as before), and training on Chinese words
/// with their glosses' teacher vectors raises held-out Chinese words' cosine to the
/// teacher's vectors of their meanings.
#[test]
fn bilingual_distillation_teaches_held_out_chinese_words_and_keeps_english_ids() {
    use privrank::TextTokenizer;
    use privrank::data::cedict::Cedict;
    use privrank::distill::bilingual::{BilingualData, ParallelSplit, distill_bilingual};

    let (_, teacher) = teacher();
    let cedict = Cedict::load(&root().join(default_data_dir("cedict")))
        .expect("CC-CEDICT is fetched by scripts/setup");
    let split = ParallelSplit::of(&cedict);
    let (train, valid) = (&split.train[..768], &split.valid[..128]);
    let chinese = |p: &[privrank::distill::bilingual::Parallel]| -> Vec<String> {
        p.iter().map(|x| x.chinese.clone()).collect()
    };
    let english = |p: &[privrank::distill::bilingual::Parallel]| -> Vec<String> {
        p.iter().map(|x| x.english.clone()).collect()
    };
    let train_t = teacher.embed(&english(train)).unwrap();
    let valid_t = teacher.embed(&english(valid)).unwrap();
    let manifest = root().join("models/student/student.json");
    let student = ModelBundle::read(&manifest, &privrank::config::default_model_dir(&manifest))
        .expect("the committed student loads");
    let recipe = Recipe {
        shape: StudentShape {
            layers: Vec::new(),
            intermediate_size: student.config.intermediate_size,
            embedding_size: 128,
            max_tokens: student.manifest.max_tokens,
        },
        settings: DistillSettings {
            epochs: 2,
            batch_size: 32,
            learning_rate: 2e-3,
            ..DistillSettings::default()
        },
        ffn_sample: 0,
        word_embedding_scheme: Scheme::Int4,
        settle_epochs: 0,
    };
    let device = Backend::cpu().device.autodiff();
    device.seed(5);
    let out = distill_bilingual(
        &student,
        &BilingualData {
            train: (&chinese(train), &train_t),
            valid: (&chinese(valid), &valid_t),
            parallel_train: train,
        },
        1,
        &recipe,
        &device,
        |_| {},
        |_| {},
    )
    .unwrap();

    let old = TextTokenizer::from_file(
        &student.manifest.files.tokenizer.name,
        student.tokenizer_bytes(),
        128,
    )
    .unwrap();
    let new =
        TextTokenizer::from_file(privrank::tokenize::VOCAB_FILE, &out.tokenizer, 128).unwrap();
    assert_eq!(out.extension.first_id, old.vocab_size());
    assert_eq!(new.vocab_size(), out.config.vocab_size);
    assert!(
        out.extension.characters.len() > 300,
        "{}",
        out.extension.characters.len()
    );
    let golden = common::Golden::load();
    let english_cases: Vec<&str> = golden
        .cases
        .iter()
        .map(|c| c.text.as_str())
        .filter(|t| !t.chars().any(privrank::tokenize::is_chinese_char))
        .collect();
    assert!(english_cases.len() >= 20);
    assert_eq!(
        old.encode_ids(&english_cases),
        new.encode_ids(&english_cases)
    );

    // The written file, through the ordinary loader, on the held-out words.
    let bundle = bundle_of(
        manifest_for("zh", &out.config, &out.tokenizer, &out.stored.weights, 128),
        &out.config,
        out.tokenizer.clone(),
        out.stored.weights.clone(),
    )
    .unwrap();
    let trained = SentenceEncoder::load(&bundle, &Backend::cpu().device).unwrap();
    let before = SentenceEncoder::load(&student, &Backend::cpu().device).unwrap();
    let after = agreement(&trained, &valid_t, &chinese(valid)).unwrap();
    let start = agreement(&before, &valid_t, &chinese(valid)).unwrap();
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    println!(
        "bilingual distill: held-out Chinese words → teacher's English {:.4} before, {:.4} after \
         ({} characters added, {} steps)",
        mean(&start),
        mean(&after),
        out.extension.characters.len(),
        out.report.steps
    );
    assert!(
        mean(&after) > mean(&start) + 0.03,
        "{} → {}",
        mean(&start),
        mean(&after)
    );
}
