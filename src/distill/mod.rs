//! A small student encoder distilled from the teacher, for the browser's download:
//! cut from the teacher's weights ([`init`]), trained to reproduce its sentence
//! embeddings on real short texts ([`corpus`], [`train`]), and written as a quantized
//! model file (int4 or int8 word table, int8 matrices) that the ordinary loader reads
//! (native only: training needs autodiff). [`bilingual`] then teaches a student
//! Chinese, into the same space.

pub mod bilingual;
pub mod corpus;
pub mod init;
pub mod train;

use burn::tensor::Device;
use serde::{Deserialize, Serialize};

use crate::config::{BertConfig, FileSpec, ModelFiles, ModelManifest, Pooling};
use crate::encoder::Encoder;
use crate::weights::{ModelBundle, NamedTensor, Scheme, round_trip, sha256_hex, to_safetensors};
use crate::{Result, SentenceEncoder};
use init::{StudentShape, init_student};
use train::{DistillProgress, DistillReport, DistillSettings, Pairs, distill};

/// The student's file names: written here, read back from its manifest.
pub const CONFIG_FILE: &str = "config.json";
/// The teacher's vocabulary as BERT's `vocab.txt` (`tokenize::vocab_txt`).
pub const TOKENIZER_FILE: &str = crate::tokenize::VOCAB_FILE;
pub const WEIGHTS_FILE: &str = "model.quantized.safetensors";

/// The settling phase's peak learning rate, as a share of the main phase's: the
/// layers only adjust to the quantized table, they are not retrained.
pub const SETTLE_LR: f64 = 0.25;

/// Everything that decides the student, recorded in its manifest.
#[derive(Debug, Clone, Serialize)]
pub struct Recipe {
    pub shape: StudentShape,
    pub settings: DistillSettings,
    /// Training texts the teacher's feed-forward activity is measured on.
    pub ffn_sample: usize,
    /// How the word-embedding table is stored (int4 or int8); every other matrix is
    /// int8, vectors float32.
    pub word_embedding_scheme: Scheme,
    /// Epochs after the main training with the word table fixed at its stored
    /// (quantized) values, so the layers learn to work with what ships; 0 skips it.
    pub settle_epochs: usize,
}

/// What the cuts kept, for the model card.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct InitSummary {
    pub embedding_energy: f64,
    pub ffn_importance_kept: Vec<f64>,
}

pub struct Distilled {
    pub config: BertConfig,
    /// The teacher's tokenizer as the student's [`TOKENIZER_FILE`].
    pub tokenizer: Vec<u8>,
    /// The settling phase after the word table was quantized, when there was one.
    pub settle: Option<DistillReport>,
    /// The quantized weight file, as shipped.
    pub weights: Vec<u8>,
    /// The same weights in float32 (not shipped): what quantization is measured against.
    pub fp32_weights: Vec<u8>,
    pub init: InitSummary,
    pub report: DistillReport,
}

/// A verified bundle from files made in memory: the manifest is written for them, so
/// the student goes through the same loader as any downloaded model.
pub fn bundle_of(
    manifest: ModelManifest,
    config: &BertConfig,
    tokenizer: Vec<u8>,
    weights: Vec<u8>,
) -> Result<ModelBundle> {
    let config_json = config_json(config);
    ModelBundle::from_bytes(manifest, &config_json, tokenizer, weights)
}

/// [`bundle_of`] with the manifest written for the files ([`manifest_for`]).
pub fn in_memory(
    name: &str,
    config: &BertConfig,
    tokenizer: &[u8],
    weights: Vec<u8>,
    max_tokens: usize,
) -> Result<ModelBundle> {
    let manifest = manifest_for(name, config, tokenizer, &weights, max_tokens);
    bundle_of(manifest, config, tokenizer.to_vec(), weights)
}

/// An encoder of `config`'s shape from float32 `tensors`, on `device`, through the
/// ordinary loader: how training builds each stage's student.
pub fn encoder_of(
    name: &str,
    config: &BertConfig,
    (tokenizer, max_tokens): (&[u8], usize),
    tensors: &[NamedTensor],
    device: &Device,
) -> Result<Encoder> {
    let weights = to_safetensors(tensors, |_| Scheme::F32)?;
    Encoder::load(
        &in_memory(name, config, tokenizer, weights, max_tokens)?,
        device,
    )
}

/// The student's `config.json`, byte-stable (serde keeps the struct's field order).
pub fn config_json(config: &BertConfig) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(config).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

/// The manifest of files `config`, `tokenizer`, `weights`.
pub fn manifest_for(
    name: &str,
    config: &BertConfig,
    tokenizer: &[u8],
    weights: &[u8],
    max_tokens: usize,
) -> ModelManifest {
    let spec = |name: &str, bytes: &[u8]| FileSpec {
        name: name.to_owned(),
        sha256: sha256_hex(bytes),
        bytes: Some(bytes.len() as u64),
    };
    ModelManifest {
        name: name.to_owned(),
        description: String::new(),
        license: String::new(),
        source: None,
        files: ModelFiles {
            config: spec(CONFIG_FILE, &config_json(config)),
            tokenizer: spec(TOKENIZER_FILE, tokenizer),
            weights: spec(WEIGHTS_FILE, weights),
        },
        max_tokens,
        pooling: Pooling::Mean,
        normalize: true,
    }
}

/// Cut the student from `teacher`, distil it on `train` (texts with the teacher's
/// embeddings), keep the epoch with the best cosine on `valid`, settle it around its
/// quantized word table, and write its quantized weights. `device` must be an
/// autodiff device.
#[allow(clippy::too_many_arguments)]
pub fn distill_student(
    teacher: &SentenceEncoder,
    teacher_bundle: &ModelBundle,
    train: (&[String], &[Vec<f32>]),
    valid: (&[String], &[Vec<f32>]),
    recipe: &Recipe,
    device: &Device,
    mut on_stage: impl FnMut(&str),
    mut progress: impl FnMut(DistillProgress<'_>),
) -> Result<Distilled> {
    on_stage("measuring the teacher's feed-forward units");
    let sample = &train.0[..recipe.ffn_sample.min(train.0.len())];
    let activity = teacher.ffn_activity(sample)?;
    on_stage("cutting the student from the teacher (layers, units, SVD of the vocabulary)");
    let init = init_student(teacher_bundle, &recipe.shape, &activity)?;
    let tokenizer = crate::tokenize::vocab_txt(
        &teacher_bundle.manifest.files.tokenizer.name,
        teacher_bundle.tokenizer_bytes(),
    )?;
    let max_tokens = recipe.shape.max_tokens;
    let load = |tensors: &[NamedTensor]| {
        encoder_of(
            "student",
            &init.config,
            (&tokenizer, max_tokens),
            tensors,
            device,
        )
    };
    let student = load(&init.tensors)?;

    let (report, stored) = train_and_store(
        student,
        (&tokenizer, max_tokens),
        (train, valid),
        recipe,
        load,
        device,
        &mut on_stage,
        &mut progress,
    )?;
    Ok(Distilled {
        config: init.config,
        tokenizer,
        settle: stored.settle,
        weights: stored.weights,
        fp32_weights: stored.fp32_weights,
        init: InitSummary {
            embedding_energy: init.embedding_energy,
            ffn_importance_kept: init.ffn_importance_kept,
        },
        report,
    })
}

/// What [`settle_and_store`] ends with.
pub struct Stored {
    pub settle: Option<DistillReport>,
    pub weights: Vec<u8>,
    pub fp32_weights: Vec<u8>,
}

/// The name of the word-embedding table, the one matrix stored below int8.
pub const WORD_TABLE: &str = "embeddings.word_embeddings.weight";

/// Texts with the teacher's unit vectors they are trained towards, row for row.
pub type Texts<'a> = (&'a [String], &'a [Vec<f32>]);

/// Every student's training: `start` learns the teacher's vectors of `train` (texts
/// tokenized by `tokenizer` within `max_tokens`), keeping its best epoch on `valid`;
/// then [`settle_and_store`]. `load` builds an encoder of the student's shape from
/// tensors, on the autodiff `device`.
#[allow(clippy::too_many_arguments)]
pub fn train_and_store(
    start: Encoder,
    (tokenizer, max_tokens): (&[u8], usize),
    (train, valid): (Texts<'_>, Texts<'_>),
    recipe: &Recipe,
    load: impl Fn(&[NamedTensor]) -> Result<Encoder>,
    device: &Device,
    on_stage: &mut impl FnMut(&str),
    progress: &mut impl FnMut(DistillProgress<'_>),
) -> Result<(DistillReport, Stored)> {
    on_stage("tokenizing the corpus");
    let words = crate::TextTokenizer::from_file(TOKENIZER_FILE, tokenizer, max_tokens)?;
    let (train_ids, valid_ids) = (words.encode_ids(train.0), words.encode_ids(valid.0));
    let train = Pairs {
        ids: &train_ids,
        targets: train.1,
    };
    let valid = Pairs {
        ids: &valid_ids,
        targets: valid.1,
    };
    on_stage("distilling");
    let (student, report) = distill(
        start,
        &train,
        &valid,
        &recipe.settings,
        device,
        &mut *progress,
    )?;
    let stored = settle_and_store(
        student.tensors()?,
        load,
        (&train, &valid),
        recipe,
        device,
        on_stage,
        progress,
    )?;
    Ok((report, stored))
}

/// Every student ends here: when the recipe asks, the word table is put on its stored
/// grid and frozen while the rest trains `settle_epochs` more at [`SETTLE_LR`] (the
/// layers learn to work with what ships); then the quantized file and, to measure
/// what quantization cost, the float32 one. `load` builds an encoder of the
/// student's shape from tensors, on `device`.
pub fn settle_and_store(
    mut tensors: Vec<NamedTensor>,
    load: impl Fn(&[NamedTensor]) -> Result<Encoder>,
    (train, valid): (&Pairs<'_>, &Pairs<'_>),
    recipe: &Recipe,
    device: &Device,
    on_stage: &mut impl FnMut(&str),
    progress: &mut impl FnMut(DistillProgress<'_>),
) -> Result<Stored> {
    let settle = if recipe.settle_epochs > 0 && recipe.word_embedding_scheme != Scheme::F32 {
        on_stage("settling: the layers trained around the quantized word table");
        for t in tensors.iter_mut().filter(|t| t.name == WORD_TABLE) {
            t.data = round_trip(t, recipe.word_embedding_scheme);
        }
        let student = load(&tensors)?.with_frozen_word_embeddings();
        let settings = DistillSettings {
            epochs: recipe.settle_epochs,
            learning_rate: recipe.settings.learning_rate * SETTLE_LR,
            seed: recipe.settings.seed + 1,
            ..recipe.settings.clone()
        };
        let (student, report) = distill(student, train, valid, &settings, device, progress)?;
        tensors = student.tensors()?;
        Some(report)
    } else {
        None
    };
    let fp32_weights = to_safetensors(&tensors, |_| Scheme::F32)?;
    let weights = to_safetensors(&tensors, |t| {
        if t.name == WORD_TABLE {
            recipe.word_embedding_scheme
        } else {
            Scheme::Int8
        }
    })?;
    Ok(Stored {
        settle,
        weights,
        fp32_weights,
    })
}

/// Per text, the cosine between `a`'s embeddings of `texts` and the vectors `b`.
pub fn agreement(a: &SentenceEncoder, b: &[Vec<f32>], texts: &[String]) -> Result<Vec<f64>> {
    Ok(pairwise_cosines(&a.embed(texts)?, b))
}

/// The cosine of each pair of rows.
pub fn pairwise_cosines(a: &[Vec<f32>], b: &[Vec<f32>]) -> Vec<f64> {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(crate::encoder::cosine(x, y)))
        .collect()
}
