//! Item embeddings computed once per title and kept on disk (native): a catalog is
//! embedded again only when the encoder or the text changes.
//!
//! One append-only file per encoder, named by its weights hash; each record is the
//! SHA-256 of the text followed by the embedding. A record cut short by a crash is
//! dropped on the next load and recomputed; nothing else is lost.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{Error, Result, SentenceEncoder};

const MAGIC: &[u8; 8] = b"PRVEMB1\n";

pub struct EmbeddingCache {
    path: PathBuf,
    dim: usize,
    vectors: HashMap<[u8; 32], Vec<f32>>,
}

fn text_key(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

fn io(context: String) -> impl FnOnce(std::io::Error) -> Error {
    move |source| Error::Io { context, source }
}

impl EmbeddingCache {
    /// Open (or start) `<dir>/<model_hash>.bin` for embeddings of width `dim`.
    pub fn open(dir: &Path, model_hash: &str, dim: usize) -> Result<Self> {
        let path = dir.join(format!("{model_hash}.bin"));
        let mut vectors = HashMap::new();
        let record = 32 + 4 * dim;
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() >= 12 && &bytes[..8] == MAGIC => {
                let stored_dim = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
                if stored_dim as usize == dim {
                    for rec in bytes[12..].chunks_exact(record) {
                        let key: [u8; 32] = rec[..32].try_into().unwrap_or([0; 32]);
                        let v = rec[32..]
                            .chunks_exact(4)
                            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                            .collect();
                        vectors.insert(key, v);
                    }
                }
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(format!("reading {}", path.display()))(e)),
        }
        let cache = Self { path, dim, vectors };
        // Rewrite so the file holds exactly the valid records (drops a torn tail or
        // a file from another format) before anything is appended.
        cache.rewrite()?;
        Ok(cache)
    }

    pub fn len(&self) -> usize {
        self.vectors.len()
    }

    pub fn is_empty(&self) -> bool {
        self.vectors.is_empty()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn rewrite(&self) -> Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let mut bytes = Vec::with_capacity(12 + self.vectors.len() * (32 + 4 * self.dim));
        bytes.extend_from_slice(MAGIC);
        bytes.extend_from_slice(&(self.dim as u32).to_le_bytes());
        for (key, v) in &self.vectors {
            push_record(&mut bytes, key, v);
        }
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, &bytes).map_err(io(format!("writing {}", tmp.display())))?;
        std::fs::rename(&tmp, &self.path).map_err(io(format!("replacing {}", self.path.display())))
    }

    /// Embeddings of `texts` in order: cached ones read back, the rest computed with
    /// `encoder` (reporting `progress(done, total)` over the missing ones) and appended.
    pub fn embed(
        &mut self,
        encoder: &SentenceEncoder,
        texts: &[String],
        progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Vec<f32>>> {
        if encoder.dim() != self.dim {
            return Err(Error::BadInput(format!(
                "embedding cache {} holds {}-dim vectors, the encoder gives {}",
                self.path.display(),
                self.dim,
                encoder.dim()
            )));
        }
        let mut missing: Vec<&String> = texts
            .iter()
            .filter(|t| !self.vectors.contains_key(&text_key(t)))
            .collect();
        missing.sort();
        missing.dedup();
        if !missing.is_empty() {
            let vectors = encoder.embed_with_progress(&missing, progress)?;
            let mut bytes = Vec::new();
            for (text, v) in missing.iter().zip(vectors) {
                let key = text_key(text);
                push_record(&mut bytes, &key, &v);
                self.vectors.insert(key, v);
            }
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&self.path)
                .map_err(io(format!("opening {}", self.path.display())))?;
            file.write_all(&bytes)
                .map_err(io(format!("appending to {}", self.path.display())))?;
        }
        Ok(texts
            .iter()
            .map(|t| self.vectors[&text_key(t)].clone())
            .collect())
    }
}

fn push_record(bytes: &mut Vec<u8>, key: &[u8; 32], v: &[f32]) {
    bytes.extend_from_slice(key);
    for x in v {
        bytes.extend_from_slice(&x.to_le_bytes());
    }
}
