//! Ad creatives written by a small language model, on the ad server.
//!
//! Generation runs where there is no shopper data: from the catalog alone, the server
//! writes a few variants of each ad, each aimed at an angle (family, bargain, …); the
//! device picks the variant closest to its shopper's history (`policy`'s
//! `best_creative`). Nothing here runs in the browser.
//!
//! The model is SmolLM2-135M-Instruct as one GGUF file: [`gguf`] reads it,
//! [`quant`] widens its Q4_1/Q8_0 blocks to float32, [`llama`] runs it in burn and
//! [`tokenizer`] builds its byte-level BPE from the same file.

pub mod chat;
pub mod creatives;
pub mod gguf;
pub mod llama;
pub mod quant;
pub mod sample;
pub mod tokenizer;

use std::path::Path;

use burn::tensor::Device;
use rand::SeedableRng;
use rand::rngs::StdRng;

pub use chat::Message;
pub use gguf::Gguf;
pub use llama::{KvCache, Llama, LlamaConfig};
pub use sample::Sampling;
pub use tokenizer::BpeTokenizer;

use crate::backend::read_back;
use crate::config::FileSpec;
use crate::weights::verify;
use crate::{Error, Result};

/// `models/<name>.json` for a generator: where its GGUF comes from and its hash.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct GeneratorManifest {
    pub name: String,
    pub files: GeneratorFiles,
}

#[derive(Debug, Clone, serde::Deserialize)]
pub struct GeneratorFiles {
    pub weights: FileSpec,
}

impl GeneratorManifest {
    pub fn read(path: &Path) -> Result<Self> {
        serde_json::from_slice(&read(path)?).map_err(|e| Error::BadManifest {
            file: path.display().to_string(),
            reason: e.to_string(),
        })
    }
}

/// Settings of one generation, bundled as burn bundles a layer's inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerateOptions {
    /// Tokens written at most, `<|im_end|>` not counted. Default 32: a headline.
    pub max_tokens: usize,
    /// Default greedy.
    pub sampling: Sampling,
    /// Seeds top-p sampling; the same seed, prompt and model give the same text.
    pub seed: u64,
    /// Stop at the end of the first line of text (a headline is one line). Default
    /// false.
    pub one_line: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        Self {
            max_tokens: 32,
            sampling: Sampling::Greedy,
            seed: 0,
            one_line: false,
        }
    }
}

impl GenerateOptions {
    pub fn with_max_tokens(mut self, max_tokens: usize) -> Self {
        self.max_tokens = max_tokens;
        self
    }

    pub fn with_sampling(mut self, sampling: Sampling) -> Self {
        self.sampling = sampling;
        self
    }

    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    pub fn with_one_line(mut self, one_line: bool) -> Self {
        self.one_line = one_line;
        self
    }
}

/// Why generation stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Stop {
    /// The model closed its turn.
    EndOfTurn,
    /// `max_tokens` were written first.
    Limit,
    /// With `one_line`: a line of text ended (the newline is not kept).
    LineEnd,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Generation {
    /// The tokens written, without the closing `<|im_end|>`.
    pub ids: Vec<u32>,
    pub text: String,
    pub stop: Stop,
    pub prompt_tokens: usize,
}

/// A loaded model and its tokenizer.
pub struct Generator {
    config: LlamaConfig,
    model: Llama,
    tokenizer: BpeTokenizer,
}

impl Generator {
    /// The model a manifest names, from `dir` (its set-up cache folder), checked
    /// against the manifest's SHA-256 before it is parsed.
    pub fn load(manifest: &GeneratorManifest, dir: &Path, device: &Device) -> Result<Self> {
        let spec = &manifest.files.weights;
        let path = dir.join(&spec.name);
        let bytes = read(&path)?;
        verify(spec, &bytes)?;
        Self::from_gguf(&Gguf::parse(&path.display().to_string(), bytes)?, device)
    }

    pub fn from_gguf(gguf: &Gguf, device: &Device) -> Result<Self> {
        let config = LlamaConfig::from_gguf(gguf)?;
        let tokenizer = BpeTokenizer::from_gguf(gguf)?;
        let model = config.load(gguf, device)?;
        Ok(Self {
            config,
            model,
            tokenizer,
        })
    }

    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    pub fn tokenizer(&self) -> &BpeTokenizer {
        &self.tokenizer
    }

    /// The assistant's reply to `messages` (ChatML), up to `<|im_end|>` or the limit.
    pub fn chat(&self, messages: &[Message], options: &GenerateOptions) -> Result<Generation> {
        let prompt = chat::encode(&self.tokenizer, messages)?;
        self.complete(&prompt, options)
    }

    /// Continues `prompt` (token ids).
    pub fn complete(&self, prompt: &[u32], options: &GenerateOptions) -> Result<Generation> {
        options.sampling.check()?;
        self.check_ids(prompt)?;
        let needed = prompt.len() + options.max_tokens;
        if needed > self.model.context() {
            return Err(Error::TooMany {
                what: "prompt and generated tokens",
                count: needed,
                max: self.model.context(),
            });
        }
        let mut rng = StdRng::seed_from_u64(options.seed);
        let mut cache = KvCache::new();
        let mut next = prompt.to_vec();
        let mut ids = Vec::new();
        let stop = loop {
            if ids.len() == options.max_tokens {
                break Stop::Limit;
            }
            let hidden = self.model.forward(&next, &mut cache);
            let [rows, d] = hidden.dims();
            let last = hidden.slice([rows - 1..rows, 0..d]);
            let logits = read_back(self.model.logits(last))?;
            let token = options.sampling.pick(&logits, &mut rng)?;
            if token == self.tokenizer.end_of_turn {
                break Stop::EndOfTurn;
            }
            ids.push(token);
            if options.one_line {
                let text = self.tokenizer.decode(&ids, true)?;
                if text.trim_start().contains('\n') {
                    break Stop::LineEnd;
                }
            }
            next = vec![token];
        };
        let text = self.tokenizer.decode(&ids, true)?;
        let text = match stop {
            Stop::LineEnd => text.trim_start().lines().next().unwrap_or("").to_owned(),
            _ => text,
        };
        Ok(Generation {
            text,
            ids,
            stop,
            prompt_tokens: prompt.len(),
        })
    }

    /// Scores for the next token after every prefix of `ids`: `[ids.len()][vocab]`.
    /// What the golden test compares with the NumPy reference.
    pub fn logits(&self, ids: &[u32]) -> Result<Vec<Vec<f32>>> {
        self.check_ids(ids)?;
        if ids.len() > self.model.context() {
            return Err(Error::TooMany {
                what: "tokens",
                count: ids.len(),
                max: self.model.context(),
            });
        }
        let hidden = self.model.forward(ids, &mut KvCache::new());
        let scores = read_back(self.model.logits(hidden))?;
        Ok(scores
            .chunks_exact(self.config.vocab_size)
            .map(<[f32]>::to_vec)
            .collect())
    }

    fn check_ids(&self, ids: &[u32]) -> Result<()> {
        if ids.is_empty() {
            return Err(Error::BadInput("an empty prompt".to_owned()));
        }
        match ids.iter().find(|&&t| t as usize >= self.config.vocab_size) {
            Some(t) => Err(Error::BadInput(format!(
                "token id {t} is outside the vocabulary of {}",
                self.config.vocab_size
            ))),
            None => Ok(()),
        }
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| Error::MissingFile {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}
