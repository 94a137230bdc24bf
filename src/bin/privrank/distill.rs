//! `privrank distill`: the student encoder, from the teacher and the set-up data to the
//! committed files (`models/student/`): config, tokenizer, int8 weights, manifest and
//! model card.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use privrank::data::{MovieLens, WordNet, default_data_dir};
use privrank::distill::corpus::{Corpus, CorpusLimits, Source, Text};
use privrank::distill::init::StudentShape;
use privrank::distill::train::{DistillProgress, DistillReport, DistillSettings};
use privrank::distill::{
    CONFIG_FILE, Recipe, TOKENIZER_FILE, WEIGHTS_FILE, agreement, config_json, distill_student,
    in_memory, manifest_for, pairwise_cosines,
};
use privrank::embed_cache::EmbeddingCache;
use privrank::weights::Scheme;
use privrank::{Backend, ModelBundle, SentenceEncoder};

use crate::card;

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

pub const MANIFEST: &str = "student.json";
pub const MODEL_CARD: &str = "MODEL_CARD.md";

/// The teacher and the English texts every student learns from.
#[derive(Args)]
pub struct TeacherArgs {
    /// The teacher's manifest (its files from the set-up script's cache).
    #[arg(long, default_value = "models/all-minilm-l6-v2.json")]
    pub teacher: PathBuf,
    /// WordNet's data files (default: the set-up script's cache).
    #[arg(long)]
    pub wordnet_dir: Option<PathBuf>,
    /// MovieLens-100k folder (default: the set-up script's cache).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Teacher embeddings are cached here per text, so a second run skips them.
    #[arg(long, default_value = ".cache/embeddings")]
    pub embedding_cache: PathBuf,
}

/// The teacher (its bundle and encoder) and the English sources, read once.
pub struct Teaching {
    pub bundle: ModelBundle,
    pub teacher: SentenceEncoder,
    pub wordnet: WordNet,
    pub movielens: MovieLens,
}

impl TeacherArgs {
    pub fn load(&self, backend: &Backend) -> Result<Teaching> {
        let bundle = ModelBundle::read(
            &self.teacher,
            &privrank::config::default_model_dir(&self.teacher),
        )?;
        let mut teacher = SentenceEncoder::load(&bundle, &backend.device)?;
        teacher.batch_size = 64;
        let dir =
            |given: &Option<PathBuf>, name| given.clone().unwrap_or_else(|| default_data_dir(name));
        Ok(Teaching {
            bundle,
            teacher,
            wordnet: WordNet::load(&dir(&self.wordnet_dir, "wordnet"))?,
            movielens: MovieLens::load(&dir(&self.data_dir, "ml-100k"))?,
        })
    }
}

#[derive(Args)]
pub struct DistillArgs {
    #[command(flatten)]
    pub sources: TeacherArgs,
    /// Where the student's files go.
    #[arg(long, default_value = "models/student")]
    pub out: PathBuf,
    /// Teacher layers the student starts from (0-based, comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "3,5")]
    pub layers: Vec<usize>,
    /// Feed-forward units kept per layer.
    #[arg(long, default_value_t = 768)]
    pub intermediate_size: usize,
    /// Width of the factorised word-embedding rows.
    #[arg(long, default_value_t = 128)]
    pub embedding_size: usize,
    /// Bits per stored word-embedding value: 4 stores int4 (half the bytes), more
    /// stores int8.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u8).range(4..=8))]
    pub word_embedding_bits: u8,
    /// Token budget per text.
    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,
    /// Training texts (the whole catalog, then a uniform sample of WordNet).
    #[arg(long, default_value_t = 56_000)]
    pub max_train: usize,
    #[arg(long, default_value_t = 2_000)]
    pub max_valid: usize,
    #[arg(long, default_value_t = 4)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    #[arg(long, default_value_t = 2e-3)]
    pub learning_rate: f64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Epochs after the main ones with the word table fixed at its quantized values
    /// (the layers adapt to what ships); 0 skips them.
    #[arg(long, default_value_t = 1)]
    pub settle_epochs: usize,
    /// Training texts the teacher's feed-forward activity is measured on (to choose
    /// the units the student keeps).
    #[arg(long, default_value_t = 1024)]
    pub ffn_sample: usize,
    /// Also compare the new student with this committed one (its manifest) on the test
    /// texts, and fail when they disagree beyond the tolerance: checks that a run
    /// reproduces the committed model.
    #[arg(long)]
    pub compare_with: Option<PathBuf>,
}

impl DistillArgs {
    fn recipe(&self) -> Recipe {
        Recipe {
            shape: StudentShape {
                layers: self.layers.clone(),
                intermediate_size: self.intermediate_size,
                embedding_size: self.embedding_size,
                max_tokens: self.max_tokens,
            },
            settings: DistillSettings {
                epochs: self.epochs,
                batch_size: self.batch_size,
                learning_rate: self.learning_rate,
                seed: self.seed,
                ..DistillSettings::default()
            },
            ffn_sample: self.ffn_sample,
            settle_epochs: self.settle_epochs,
            word_embedding_scheme: if self.word_embedding_bits <= 4 {
                Scheme::Int4
            } else {
                Scheme::Int8
            },
        }
    }

    fn limits(&self) -> CorpusLimits {
        CorpusLimits {
            max_train: self.max_train,
            max_valid: self.max_valid,
            max_chars: 300,
        }
    }
}

pub fn bar(len: u64, template: &str) -> ProgressBar {
    ProgressBar::new(len)
        .with_style(ProgressStyle::with_template(template).expect("static template"))
}

/// Say what is happening on stderr, above a progress bar if one is drawn.
fn say(line: &str) {
    eprintln!("privrank distill: {line}");
}

/// The teacher's embeddings of `texts`, through the on-disk cache, saved every few
/// thousand texts so an interrupted run keeps what it computed.
pub fn teacher_targets(
    teacher: &SentenceEncoder,
    cache_dir: &Path,
    texts: &[String],
) -> Result<Vec<Vec<f32>>> {
    let mut cache = EmbeddingCache::open(cache_dir, teacher.model_hash(), teacher.dim())?;
    let progress = bar(
        texts.len() as u64,
        "teacher embeddings {pos}/{len} {bar:30} {elapsed} (eta {eta})",
    );
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(4096) {
        let base = out.len() as u64;
        out.extend(cache.embed(teacher, chunk, |done, _| {
            progress.set_position(base + done as u64)
        })?);
        progress.set_position(out.len() as u64);
        if progress.is_hidden() {
            say(&format!(
                "teacher embeddings {}/{} ({:.0?})",
                out.len(),
                texts.len(),
                progress.elapsed()
            ));
        }
    }
    progress.finish_and_clear();
    Ok(out)
}

pub fn gzip_len(bytes: &[u8]) -> Result<usize> {
    let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(bytes)?;
    Ok(z.finish()?.len())
}

/// Mean, 5th percentile and minimum.
pub fn summary(values: &[f64]) -> (f64, f64, f64) {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let mean = v.iter().sum::<f64>() / v.len().max(1) as f64;
    let p5 = v.get(v.len() / 20).copied().unwrap_or(f64::NAN);
    (mean, p5, v.first().copied().unwrap_or(f64::NAN))
}

/// Name, bytes and gzip bytes of a student's three files, for its card.
pub fn file_sizes(
    config: &[u8],
    tokenizer: &[u8],
    weights: &[u8],
) -> Result<Vec<(String, usize, usize)>> {
    [
        (CONFIG_FILE, config),
        (TOKENIZER_FILE, tokenizer),
        (WEIGHTS_FILE, weights),
    ]
    .iter()
    .map(|(n, b)| Ok(((*n).to_owned(), b.len(), gzip_len(b)?)))
    .collect()
}

/// A distillation's progress on stderr, under `privrank COMMAND:`: the steps on
/// `steps` (or a line every 5% where stderr is not a terminal), then each epoch's
/// record.
pub fn progress_printer<'a>(
    command: &'a str,
    started: Instant,
    steps: &'a ProgressBar,
) -> impl FnMut(DistillProgress<'_>) + 'a {
    move |p| match p {
        DistillProgress::Step {
            epoch,
            done,
            total,
            loss,
        } => {
            steps.set_length(total as u64);
            steps.set_position(done as u64);
            steps.set_message(format!("epoch {epoch} loss {loss:.4}"));
            if steps.is_hidden() && done % (total / 20).max(1) == 0 {
                eprintln!(
                    "privrank {command}: epoch {epoch} batch {done}/{total} loss {loss:.4} ({:.0?})",
                    started.elapsed()
                );
            }
        }
        DistillProgress::Epoch(r) => {
            let line = format!(
                "privrank {command}: epoch {}: train loss {:.4}, validation cosine {:.4} ({} s)",
                r.epoch, r.train_loss, r.valid_cosine, r.seconds
            );
            if steps.is_hidden() {
                eprintln!("{line}");
            } else {
                steps.println(line);
            }
        }
    }
}

pub fn distill(args: &DistillArgs, backend: &Backend) -> Result<()> {
    let started = Instant::now();
    let Teaching {
        bundle: teacher_bundle,
        teacher,
        wordnet,
        movielens,
    } = args.sources.load(backend)?;
    let corpus = Corpus::build(&wordnet, Some(&movielens), args.limits());
    say(&format!(
        "corpus: {} WordNet synsets, {} MovieLens items → {} training, {} validation, {} test texts",
        wordnet.synsets.len(),
        movielens.items.len(),
        corpus.train.len(),
        corpus.valid.len(),
        corpus.test.len()
    ));

    let (train, valid, test) = corpus.texts();
    let all: Vec<String> = train.iter().chain(&valid).chain(&test).cloned().collect();
    let targets = teacher_targets(&teacher, &args.sources.embedding_cache, &all)?;
    let (train_t, rest) = targets.split_at(train.len());
    let (valid_t, test_t) = rest.split_at(valid.len());
    let teacher_seconds = started.elapsed().as_secs();

    let recipe = args.recipe();
    let device = backend.device.clone().autodiff();
    device.seed(args.seed);
    let steps = bar(
        0,
        "{msg} {pos}/{len} batches {bar:30} {elapsed} (eta {eta})",
    );
    let distilled = distill_student(
        &teacher,
        &teacher_bundle,
        (&train, train_t),
        (&valid, valid_t),
        &recipe,
        &device,
        say,
        progress_printer("distill", started, &steps),
    )?;
    steps.finish_and_clear();
    say(&format!(
        "validation cosine {:.4} before training, {:.4} after (epoch {})",
        distilled.report.initial_valid_cosine,
        distilled.report.best_valid_cosine,
        distilled.report.best_epoch
    ));

    // The files, then everything measured on them through the ordinary loader.
    let tokenizer = distilled.tokenizer.clone();
    let config = config_json(&distilled.config);
    let mut manifest = manifest_for(
        "student",
        &distilled.config,
        &tokenizer,
        &distilled.weights,
        args.max_tokens,
    );
    let out = &args.out;
    std::fs::create_dir_all(out)?;
    let write = |name: &str, bytes: &[u8]| card::replace_file(&out.join(name), bytes);
    write(CONFIG_FILE, &config)?;
    write(TOKENIZER_FILE, &tokenizer)?;
    write(WEIGHTS_FILE, &distilled.weights)?;
    manifest.description = format!(
        "privrank's student: {} layers cut from {} (layers {:?}), {} feed-forward units, \
         word embeddings factorised to {} dims; distilled on WordNet and MovieLens texts by \
         `privrank distill`; quantized weights (word table int4 or int8, other matrices int8, \
         one float32 scale per row), dequantized on load.",
        distilled.config.num_hidden_layers,
        teacher_bundle.manifest.name,
        args.layers,
        distilled.config.intermediate_size,
        args.embedding_size,
    );
    manifest.license = "Apache-2.0 (weights derived from all-MiniLM-L6-v2)".to_owned();
    let counts = |part: &[Text]| -> BTreeMap<&'static str, usize> {
        Source::ALL
            .iter()
            .map(|&s| (s.label(), Corpus::count(part, s)))
            .collect()
    };
    manifest.source = Some(serde_json::json!({
        "distill": {
            "command": "privrank distill",
            "teacher": {
                "name": teacher_bundle.manifest.name,
                "model_hash": teacher_bundle.model_hash(),
            },
            "data": {
                "wordnet": wordnet.data_hash,
                "movielens": movielens.data_hash,
            },
            "corpus": {
                "limits": args.limits(),
                "train": counts(&corpus.train),
                "valid": counts(&corpus.valid),
                "test": counts(&corpus.test),
            },
            "recipe": recipe,
            "init": distilled.init,
            "report": distilled.report,
            "settle": distilled.settle,
            "seconds": {
                "teacher_embeddings": teacher_seconds,
                "total": started.elapsed().as_secs(),
            },
        }
    }));
    let manifest_json = serde_json::to_string_pretty(&manifest)? + "\n";
    write(MANIFEST, manifest_json.as_bytes())?;

    let manifest_path = out.join(MANIFEST);
    let bundle = ModelBundle::read(&manifest_path, out)?;
    let student = SentenceEncoder::load(&bundle, &backend.device)?;
    let student_vectors = student.embed(&test)?;
    let cosines = pairwise_cosines(&student_vectors, test_t);
    // What quantization cost: the same weights in float32, same texts.
    let fp32 = {
        let b = in_memory(
            "student-fp32",
            &distilled.config,
            &tokenizer,
            distilled.fp32_weights.clone(),
            args.max_tokens,
        )?;
        agreement(&SentenceEncoder::load(&b, &backend.device)?, test_t, &test)?
    };
    let files = file_sizes(&config, &tokenizer, &distilled.weights)?;
    let params = bundle.config.parameter_count();
    let teacher_params = teacher_bundle.config.parameter_count();
    let section = encoder_section(&EncoderFacts {
        manifest: &manifest,
        teacher: &teacher_bundle,
        corpus: &corpus,
        cosines: &cosines,
        fp32_cosines: &fp32,
        distilled: &distilled,
        files: &files,
        params,
        teacher_params,
        seconds: started.elapsed().as_secs(),
        args,
    });
    card::write_section(
        &out.join(MODEL_CARD),
        "# privrank student encoder — model card\n",
        "distill",
        &section,
    )?;
    let (mean, _, _) = summary(&cosines);
    let (fp32_mean, _, _) = summary(&fp32);
    say(&format!(
        "wrote {} ({} bytes, {} gzip): test cosine to the teacher {mean:.4} (float32 {fp32_mean:.4}) over {} texts, in {:.0?}",
        out.join(WEIGHTS_FILE).display(),
        distilled.weights.len(),
        files[2].2,
        test.len(),
        started.elapsed()
    ));

    if let Some(committed) = &args.compare_with {
        compare(
            committed,
            &student_vectors,
            &test,
            test_t,
            &cosines,
            backend,
        )?;
    }
    Ok(())
}

/// Tolerance of a rerun against the committed student, on the test texts.
const RERUN_MIN_AGREEMENT: f64 = 0.98;
const RERUN_MAX_COSINE_GAP: f64 = 0.01;

/// `fresh`: the new student's embeddings of `test`, `fresh_cosines` theirs to the
/// teacher's `test_t`; the committed student embeds the same texts once.
fn compare(
    committed: &Path,
    fresh: &[Vec<f32>],
    test: &[String],
    test_t: &[Vec<f32>],
    fresh_cosines: &[f64],
    backend: &Backend,
) -> Result<()> {
    let dir = privrank::config::default_model_dir(committed);
    let bundle = ModelBundle::read(committed, &dir)?;
    let old = SentenceEncoder::load(&bundle, &backend.device)?;
    let old_vectors = old.embed(test)?;
    let between = pairwise_cosines(fresh, &old_vectors);
    let old_cosines = pairwise_cosines(&old_vectors, test_t);
    let (agree, agree_p5, _) = summary(&between);
    let (fresh_mean, _, _) = summary(fresh_cosines);
    let (old_mean, _, _) = summary(&old_cosines);
    say(&format!(
        "against {}: cosine between the two students {agree:.4} mean ({agree_p5:.4} at the 5th \
         percentile); test cosine to the teacher {fresh_mean:.4} now, {old_mean:.4} committed",
        committed.display()
    ));
    if agree < RERUN_MIN_AGREEMENT || (fresh_mean - old_mean).abs() > RERUN_MAX_COSINE_GAP {
        return Err(format!(
            "the new student does not reproduce {}: agreement {agree:.4} (need ≥ \
             {RERUN_MIN_AGREEMENT}), cosine gap {:.4} (need ≤ {RERUN_MAX_COSINE_GAP})",
            committed.display(),
            (fresh_mean - old_mean).abs()
        )
        .into());
    }
    say("reproduces the committed student within tolerance");
    Ok(())
}

struct EncoderFacts<'a> {
    manifest: &'a privrank::ModelManifest,
    teacher: &'a ModelBundle,
    corpus: &'a Corpus,
    cosines: &'a [f64],
    fp32_cosines: &'a [f64],
    distilled: &'a privrank::distill::Distilled,
    files: &'a [(String, usize, usize)],
    params: usize,
    teacher_params: usize,
    seconds: u64,
    args: &'a DistillArgs,
}

fn encoder_section(f: &EncoderFacts<'_>) -> String {
    let c = &f.distilled.config;
    let t = &f.teacher.config;
    let r = &f.distilled.report;
    let mut s = String::new();
    s.push_str(&format!(
        "Written by `privrank distill` (this section is its output; do not edit by hand). \
         Reproduce with `bash scripts/setup` then `cargo run --features cli,wgpu -- distill` \
         (add `--compare-with models/student/student.json --out target/student` to check a \
         rerun against the committed files). This run took {} s on this machine.\n\n",
        f.seconds
    ));
    s.push_str("## The model\n\n");
    s.push_str(&format!(
        "A {}-layer BERT (hidden {}, {} heads, {} feed-forward units, word embeddings {} × {} \
         projected to {}, {} positions), {} parameters against the teacher's {} \
         (`{}`, weights sha256 `{}`). Mean pooling and L2 normalisation, like the teacher, so its \
         vectors live in the teacher's space. The teacher's uncased WordPiece vocabulary is \
         kept unchanged, written as BERT's `vocab.txt` (the same tokens and pipeline as its \
         `tokenizer.json`, in fewer bytes).\n\n",
        c.num_hidden_layers,
        c.hidden_size,
        c.num_attention_heads,
        c.intermediate_size,
        c.vocab_size,
        c.word_embedding_dim(),
        c.hidden_size,
        c.max_position_embeddings,
        f.params,
        f.teacher_params,
        f.teacher.manifest.name,
        f.teacher.model_hash(),
    ));
    s.push_str(&format!(
        "Cut from the teacher before training: layers {:?} of its {}; in each, the {} of {} \
         feed-forward units with the largest mean |activation| × output-weight norm on {} \
         training texts (they carry {} of that importance); the word embeddings replaced by \
         their best rank-{} factorisation (SVD; {:.1}% of the squared singular values kept). \
         That cut alone has validation cosine {:.4} to the teacher.\n\n",
        f.args.layers,
        t.num_hidden_layers,
        c.intermediate_size,
        t.intermediate_size,
        f.args.recipe().ffn_sample,
        f.distilled
            .init
            .ffn_importance_kept
            .iter()
            .map(|x| format!("{:.1}%", 100.0 * x))
            .collect::<Vec<_>>()
            .join(", "),
        c.word_embedding_dim(),
        100.0 * f.distilled.init.embedding_energy,
        r.initial_valid_cosine,
    ));
    s.push_str(&files_table(f.files));
    let table = match f.args.recipe().word_embedding_scheme {
        Scheme::Int4 => "int4 (two values a byte)",
        Scheme::Int8 => "int8",
        Scheme::F32 => "float32",
    };
    s.push_str(&format!(
        "Weights: the word-embedding table {table} with one float32 scale per token, every \
         other matrix int8 with one float32 scale per output unit, dequantized to float32 on \
         load; biases and LayerNorm float32. `{}` sha256 `{}`.\n\n",
        f.manifest.files.weights.name, f.manifest.files.weights.sha256
    ));
    s.push_str("## Cosine to the teacher on held-out texts\n\n");
    s.push_str(
        "The test texts were never trained or validated on (the split is by a hash of the \
         text). Measured on the quantized file as shipped, through the crate's loader.\n\n",
    );
    s.push_str("| texts | count | mean | 5th percentile | min |\n|---|---|---|---|---|\n");
    let mut rows: Vec<(String, Vec<f64>)> = Source::ALL
        .iter()
        .map(|&src| {
            let v = f
                .corpus
                .test
                .iter()
                .zip(f.cosines)
                .filter(|(t, _)| t.source == src)
                .map(|(_, &c)| c)
                .collect();
            (src.label().to_owned(), v)
        })
        .collect();
    rows.push(("all test texts".to_owned(), f.cosines.to_vec()));
    for (label, v) in rows {
        let (mean, p5, min) = summary(&v);
        s.push_str(&format!(
            "| {label} | {} | {mean:.4} | {p5:.4} | {min:.4} |\n",
            v.len()
        ));
    }
    let (q, _, _) = summary(f.cosines);
    let (fp, _, _) = summary(f.fp32_cosines);
    s.push_str(&format!(
        "\nQuantization cost: the same weights in float32 give mean {fp:.4} on these texts, \
         the shipped file {q:.4} ({:+.4}).\n",
        q - fp
    ));
    s.push_str("\n## Training\n\n");
    s.push_str(&format!(
        "Corpus (`scripts/setup` fetches both): Princeton WordNet 3.0 from Debian's \
         `wordnet-base` 1:3.0-37 — definitions, example sentences and synonym sets (WordNet 3.0 \
         licence: use, copy, modify and distribute with its notice) — and the MovieLens-100k item \
         texts (title, year, genres; GroupLens research-use terms; only weights trained on them \
         are committed, not the data). Training texts: {} (the whole catalog share of the split \
         first, then a uniform sample of WordNet), validation {}, test {}.\n\n",
        f.corpus.train.len(),
        f.corpus.valid.len(),
        f.corpus.test.len(),
    ));
    let settings = &f.distilled.report;
    let rs = f.args.recipe().settings;
    s.push_str(&format!(
        "Loss 1 − cosine between the student's and the teacher's unit embeddings; Adam, batch {}, \
         peak learning rate {} after a {}% warm-up then linear decay to 0, gradient norm clipped \
         at {}, seed {}, {} steps; the epoch with the best validation cosine is kept (epoch {}).\n\n",
        rs.batch_size,
        rs.learning_rate,
        rs.warmup * 100.0,
        rs.clip_norm,
        rs.seed,
        settings.steps,
        settings.best_epoch,
    ));
    s.push_str(&epoch_table(
        "the cut",
        r,
        f.distilled.settle.as_ref(),
        table,
    ));
    s
}

/// The card's per-epoch record: the row before training (`start`), each epoch, each
/// settling epoch (seconds counted on from the last), and what settling did to the
/// word table, stored as `table`.
pub fn epoch_table(
    start: &str,
    r: &DistillReport,
    settle: Option<&DistillReport>,
    table: &str,
) -> String {
    let mut s = String::from(
        "| epoch | train loss | validation cosine | seconds (cumulative) |\n|---|---|---|---|\n",
    );
    s.push_str(&format!(
        "| 0 ({start}) | – | {:.4} | – |\n",
        r.initial_valid_cosine
    ));
    for e in &r.epochs {
        s.push_str(&format!(
            "| {} | {:.4} | {:.4} | {} |\n",
            e.epoch, e.train_loss, e.valid_cosine, e.seconds
        ));
    }
    if let Some(settle) = settle {
        let last = r.epochs.last().map_or(0, |e| e.seconds);
        for e in &settle.epochs {
            s.push_str(&format!(
                "| settle {} | {:.4} | {:.4} | {} |\n",
                e.epoch,
                e.train_loss,
                e.valid_cosine,
                last + e.seconds
            ));
        }
        s.push_str(&format!(
            "\nThen the word table was quantized to {} and frozen, and the rest trained \
             around it for {} epoch(s) at {}× the peak learning rate (\"settle\"); validation \
             cosine {:.4} with the table quantized, before those epochs; the best settle \
             epoch is kept.\n",
            table,
            settle.epochs.len(),
            privrank::distill::SETTLE_LR,
            settle.initial_valid_cosine,
        ));
    }
    s
}

/// The card's table of [`file_sizes`], with their total.
pub fn files_table(files: &[(String, usize, usize)]) -> String {
    let mut s = String::from("| file | bytes | gzip bytes (flate2, best) |\n|---|---|---|\n");
    let (mut raw, mut gz) = (0, 0);
    for (name, bytes, gzip) in files {
        s.push_str(&format!("| `{name}` | {bytes} | {gzip} |\n"));
        raw += bytes;
        gz += gzip;
    }
    s.push_str(&format!("| all | {raw} | {gz} |\n\n"));
    s
}
