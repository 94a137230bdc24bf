//! Model files are checked before a single byte is interpreted: a model that does
//! not hash to its manifest is refused, so a corrupt download or a swapped file can
//! never silently produce wrong embeddings. The tensor reader then checks every name,
//! dtype and shape against the config, so a mismatched model fails with a message
//! naming the tensor rather than a panic deep inside burn.

use burn::module::Param;
use burn::nn::{LayerNorm, Linear};
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

use crate::backend::read_back;
use crate::config::{BertConfig, FileSpec, ModelManifest};
use crate::{Error, Result};

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

/// A digest in lower-case hex, as manifests write SHA-256s.
pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Refuse bytes whose SHA-256 is not the manifest's.
pub fn verify(spec: &FileSpec, bytes: &[u8]) -> Result<()> {
    matches(spec, &sha256_hex(bytes))
}

/// `HashMismatch` unless `digest` (hex, either case) is the manifest's SHA-256.
fn matches(spec: &FileSpec, digest: &str) -> Result<()> {
    if digest.eq_ignore_ascii_case(&spec.sha256) {
        Ok(())
    } else {
        Err(Error::HashMismatch {
            file: spec.name.clone(),
            expected: spec.sha256.clone(),
            actual: digest.to_ascii_lowercase(),
        })
    }
}

/// A file's bytes with the SHA-256 they were checked against: hashed here
/// ([`Checked::verify`]), or by a digest the host computed ([`Checked::with_digest`]:
/// the browser's WebCrypto, native and off the page's main thread). Models are built
/// from these, so each file is hashed once however many checks it passes through.
#[derive(Clone)]
pub struct Checked {
    sha256: String,
    bytes: Vec<u8>,
}

impl Checked {
    pub fn verify(spec: &FileSpec, bytes: Vec<u8>) -> Result<Self> {
        verify(spec, &bytes)?;
        Ok(Self {
            sha256: spec.sha256.to_ascii_lowercase(),
            bytes,
        })
    }

    /// `digest`: the bytes' SHA-256 in hex, computed by the caller.
    pub fn with_digest(spec: &FileSpec, bytes: Vec<u8>, digest: &str) -> Result<Self> {
        matches(spec, digest)?;
        Ok(Self {
            sha256: spec.sha256.to_ascii_lowercase(),
            bytes,
        })
    }

    /// The bytes, if they were checked against `spec`'s hash; `HashMismatch` if they
    /// were checked against another file's.
    pub fn for_spec(&self, spec: &FileSpec) -> Result<&[u8]> {
        if self.sha256.eq_ignore_ascii_case(&spec.sha256) {
            Ok(&self.bytes)
        } else {
            Err(Error::HashMismatch {
                file: spec.name.clone(),
                expected: spec.sha256.clone(),
                actual: self.sha256.clone(),
            })
        }
    }
}

/// An encoder's manifest, config and tokenizer, checked, before its weights: the
/// page reads its megabytes of weights from the Cache API only when a text first
/// needs embedding, and everything else about the model is known and checked at load.
#[derive(Clone)]
pub struct EncoderParts {
    pub manifest: ModelManifest,
    pub config: BertConfig,
    tokenizer: Vec<u8>,
}

impl EncoderParts {
    pub fn from_checked(
        manifest: ModelManifest,
        config: Checked,
        tokenizer: Checked,
    ) -> Result<Self> {
        let files = &manifest.files;
        let config = config.for_spec(&files.config)?;
        tokenizer.for_spec(&files.tokenizer)?;
        let config = BertConfig::from_json(&files.config.name, config)?;
        if manifest.max_tokens > config.max_position_embeddings {
            return Err(Error::BadManifest {
                file: manifest.name.clone(),
                reason: format!(
                    "max_tokens {} exceeds the model's max_position_embeddings {}",
                    manifest.max_tokens, config.max_position_embeddings
                ),
            });
        }
        Ok(Self {
            manifest,
            config,
            tokenizer: tokenizer.bytes,
        })
    }

    /// Identifies the exact weights, as [`ModelBundle::model_hash`] does.
    pub fn model_hash(&self) -> &str {
        &self.manifest.files.weights.sha256
    }

    pub fn with_weights(self, weights: Checked) -> Result<ModelBundle> {
        weights.for_spec(&self.manifest.files.weights)?;
        Ok(ModelBundle {
            manifest: self.manifest,
            config: self.config,
            tokenizer: self.tokenizer,
            weights: weights.bytes,
        })
    }
}

/// A model's files, each verified against the manifest. The only way to build an
/// encoder, so every encoder runs on checked bytes.
#[derive(Clone)]
pub struct ModelBundle {
    pub manifest: ModelManifest,
    pub config: BertConfig,
    tokenizer: Vec<u8>,
    weights: Vec<u8>,
}

impl std::fmt::Debug for ModelBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelBundle")
            .field("manifest", &self.manifest.name)
            .field("weights_bytes", &self.weights.len())
            .finish()
    }
}

impl ModelBundle {
    /// Build from bytes fetched by any means (disk, `fetch`, Cache API).
    pub fn from_bytes(
        manifest: ModelManifest,
        config: &[u8],
        tokenizer: Vec<u8>,
        weights: Vec<u8>,
    ) -> Result<Self> {
        let files = &manifest.files;
        let config = Checked::verify(&files.config, config.to_vec())?;
        let tokenizer = Checked::verify(&files.tokenizer, tokenizer)?;
        let weights = Checked::verify(&files.weights, weights)?;
        Self::from_checked(manifest, config, tokenizer, weights)
    }

    /// Build from files already checked, each against its own entry of `manifest`.
    pub fn from_checked(
        manifest: ModelManifest,
        config: Checked,
        tokenizer: Checked,
        weights: Checked,
    ) -> Result<Self> {
        EncoderParts::from_checked(manifest, config, tokenizer)?.with_weights(weights)
    }

    /// Read `models/<name>.json` and the files it names from `dir`.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read(manifest_path: &std::path::Path, dir: &std::path::Path) -> Result<Self> {
        let read = |path: std::path::PathBuf| {
            std::fs::read(&path).map_err(|e| Error::MissingFile {
                reason: format!("{e} (run scripts/setup to fetch model files)"),
                path,
            })
        };
        let manifest = ModelManifest::from_json(
            &manifest_path.display().to_string(),
            &read(manifest_path.to_path_buf())?,
        )?;
        let files = manifest.files.clone();
        Self::from_bytes(
            manifest,
            &read(dir.join(&files.config.name))?,
            read(dir.join(&files.tokenizer.name))?,
            read(dir.join(&files.weights.name))?,
        )
    }

    pub fn tokenizer_bytes(&self) -> &[u8] {
        &self.tokenizer
    }

    /// Identifies the exact weights: cache keys and dependent models refer to it.
    pub fn model_hash(&self) -> &str {
        &self.manifest.files.weights.sha256
    }

    pub fn tensors(&self) -> Result<TensorSource<'_>> {
        TensorSource::parse(&self.weights, &self.manifest.files.weights.name)
    }
}

/// Named float tensors out of a safetensors file, checked against expected shapes.
pub struct TensorSource<'a> {
    st: SafeTensors<'a>,
    file: String,
    prefix: &'static str,
}

impl<'a> TensorSource<'a> {
    /// The safetensors file `bytes` (named `file` in errors).
    pub fn parse(bytes: &'a [u8], file: &str) -> Result<Self> {
        let st = SafeTensors::deserialize(bytes).map_err(|e| Error::BadWeights {
            file: file.to_owned(),
            reason: e.to_string(),
        })?;
        // Some exports prefix every tensor with the architecture name.
        let prefix = if st.names().iter().any(|n| n.starts_with("bert.")) {
            "bert."
        } else {
            ""
        };
        Ok(TensorSource {
            st,
            file: file.to_owned(),
            prefix,
        })
    }

    /// Every tensor as float32, a quantized matrix and its `.scale` as one: what a
    /// file of F32, F16 and int8 matrices holds, for readers that want every weight
    /// as float32 (the ranker's tests compare files this way). An int4 matrix is
    /// refused: its stored width does not say whether its last column is padding.
    pub fn all_floats(&self) -> Result<Vec<NamedTensor>> {
        let names = self.weight_names();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let full = format!("{}{name}", self.prefix);
            let view = self.st.tensor(&full).map_err(|e| self.bad(e.to_string()))?;
            if view.dtype() == Dtype::U8 {
                return Err(self.bad(format!("{full} is int4; read it with its column count")));
            }
            let shape = view.shape().to_vec();
            out.push(NamedTensor {
                data: self.floats(name, &shape)?,
                name: name.to_owned(),
                shape,
            });
        }
        Ok(out)
    }

    /// The weights the file holds, sorted, under the names [`TensorSource::floats`]
    /// takes: a quantized matrix's `.scale` is part of its matrix, not a weight.
    pub fn weight_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self
            .st
            .names()
            .into_iter()
            .filter(|full| {
                !full.strip_suffix(".scale").is_some_and(|base| {
                    matches!(
                        self.st.tensor(base).map(|v| v.dtype()),
                        Ok(Dtype::I8 | Dtype::U8)
                    )
                })
            })
            .map(|full| full.strip_prefix(self.prefix).unwrap_or(full))
            .collect();
        names.sort_unstable();
        names
    }

    fn bad(&self, reason: String) -> Error {
        Error::BadWeights {
            file: self.file.clone(),
            reason,
        }
    }

    /// A tensor as float32, whatever its stored format: F32; F16 (widened); or, for a
    /// matrix, I8 with a per-row F32 scale tensor `NAME.scale` (`models/quantize.py`),
    /// read as `q × scale[row]`. Quantization only shrinks the download: the model
    /// computes in float32 either way, on every backend.
    pub fn floats(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let full = format!("{}{name}", self.prefix);
        let view = self.st.tensor(&full).map_err(|_| Error::MissingTensor {
            tensor: full.clone(),
            file: self.file.clone(),
        })?;
        // int4 packs two values a byte, so its stored shape is narrower.
        let stored = match (view.dtype(), expected) {
            (Dtype::U8, &[rows, cols]) => vec![rows, cols.div_ceil(2)],
            _ => expected.to_vec(),
        };
        if view.shape() != stored {
            return Err(Error::ShapeMismatch {
                tensor: full,
                expected: stored,
                found: view.shape().to_vec(),
            });
        }
        match view.dtype() {
            Dtype::F32 => Ok(view
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect()),
            Dtype::F16 => Ok(view
                .data()
                .chunks_exact(2)
                .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
                .collect()),
            Dtype::I8 if expected.len() == 2 => {
                let scales = self.scales(name, expected[0])?;
                let cols = expected[1];
                Ok(view
                    .data()
                    .iter()
                    .enumerate()
                    .map(|(i, &q)| f32::from(q as i8) * scales[i / cols])
                    .collect())
            }
            Dtype::U8 if expected.len() == 2 => {
                let scales = self.scales(name, expected[0])?;
                let (cols, packed) = (expected[1], expected[1].div_ceil(2));
                let mut out = Vec::with_capacity(expected[0] * cols);
                for (row, bytes) in view.data().chunks_exact(packed.max(1)).enumerate() {
                    let values = bytes.iter().flat_map(|&b| [b & 0x0f, b >> 4]);
                    out.extend(values.take(cols).map(|n| f32::from(int4(n)) * scales[row]));
                }
                Ok(out)
            }
            other => Err(Error::BadDtype {
                tensor: full,
                expected: if expected.len() == 2 {
                    "F32, F16, or I8 (or U8-packed int4) with a per-row F32 `.scale`"
                } else {
                    "F32 or F16"
                }
                .to_owned(),
                found: format!("{other:?}"),
            }),
        }
    }

    /// The per-row scales of quantized matrix `name`, checked.
    fn scales(&self, name: &str, rows: usize) -> Result<Vec<f32>> {
        let scales = self.floats(&format!("{name}.scale"), &[rows])?;
        if let Some(bad) = scales.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
            return Err(Error::BadWeights {
                file: self.file.clone(),
                reason: format!(
                    "{}{name}.scale holds {bad}; scales must be finite and ≥ 0",
                    self.prefix
                ),
            });
        }
        Ok(scales)
    }

    pub fn vector(&self, name: &str, len: usize, device: &Device) -> Result<Param<Tensor<1>>> {
        let data = self.floats(name, &[len])?;
        Ok(Param::from_tensor(Tensor::from_data(
            TensorData::new(data, [len]),
            device,
        )))
    }

    pub fn matrix(
        &self,
        name: &str,
        rows: usize,
        cols: usize,
        device: &Device,
    ) -> Result<Param<Tensor<2>>> {
        let data = self.floats(name, &[rows, cols])?;
        Ok(Param::from_tensor(Tensor::from_data(
            TensorData::new(data, [rows, cols]),
            device,
        )))
    }

    /// A PyTorch `nn.Linear` (`weight` is `[out, in]`) as burn's row-major `[in, out]`.
    pub fn linear(&self, name: &str, d_in: usize, d_out: usize, device: &Device) -> Result<Linear> {
        let weight = self.floats(&format!("{name}.weight"), &[d_out, d_in])?;
        // Transposed here, once, rather than kept as a transposed view: burn's
        // `linear` reshapes its weight, and a view is copied into a contiguous matrix
        // on every forward (13% of the student's time in the browser).
        let weight = transposed(&weight, d_out, d_in);
        let weight = Tensor::<2>::from_data(TensorData::new(weight, [d_in, d_out]), device);
        Ok(Linear {
            weight: Param::from_tensor(weight),
            bias: Some(self.vector(&format!("{name}.bias"), d_out, device)?),
        })
    }
}

/// `rows × cols` row-major values as `cols × rows` row-major.
fn transposed(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; values.len()];
    if cols == 0 {
        return out;
    }
    for (r, row) in values.chunks_exact(cols).enumerate() {
        for (c, &v) in row.iter().enumerate() {
            out[c * rows + r] = v;
        }
    }
    out
}

/// A nibble as a signed 4-bit integer (two's complement, −8..=7).
fn int4(nibble: u8) -> i8 {
    ((nibble & 0x0f) ^ 0x08) as i8 - 8
}

/// A weight as a checkpoint stores it: its name, PyTorch layout (`[out, in]` for a
/// linear) and float32 values. What [`TensorSource`] reads, the other way round.
#[derive(Debug, Clone, PartialEq)]
pub struct NamedTensor {
    pub name: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// How [`to_safetensors`] stores a matrix; vectors are always float32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scheme {
    F32,
    /// Symmetric int8 per row with a float32 `NAME.scale`, exactly as
    /// `models/quantize.py --scheme int8` writes it.
    Int8,
    /// Symmetric int4 per row (−7..=7, `scale = max|w| / 7`), two values a byte, low
    /// nibble first, stored as U8 `[rows, ⌈cols/2⌉]` with a float32 `NAME.scale`: as
    /// `models/quantize.py --int4 NAME` writes it. Half of int8's bytes, for the one
    /// table whose size dominates a small model (the vocabulary).
    Int4,
}

impl Scheme {
    /// The largest code of a symmetric per-row scheme (`scale = max|w| / levels`);
    /// `None` for float32.
    fn levels(self) -> Option<i8> {
        match self {
            Scheme::F32 => None,
            Scheme::Int8 => Some(127),
            Scheme::Int4 => Some(7),
        }
    }
}

impl NamedTensor {
    fn of<const D: usize>(name: String, tensor: Tensor<D>) -> Result<Self> {
        let shape = tensor.dims().to_vec();
        Ok(Self {
            name,
            shape,
            data: read_back(tensor)?,
        })
    }

    pub fn matrix(name: &str, param: &Param<Tensor<2>>) -> Result<Self> {
        Self::of(name.to_owned(), param.val())
    }

    pub fn vector(name: &str, param: &Param<Tensor<1>>) -> Result<Self> {
        Self::of(name.to_owned(), param.val())
    }

    /// burn's `[in, out]` linear back to the checkpoint's `[out, in]` plus its bias.
    pub fn linear(name: &str, linear: &Linear) -> Result<Vec<Self>> {
        let mut out = vec![Self::of(
            format!("{name}.weight"),
            linear.weight.val().transpose(),
        )?];
        if let Some(bias) = &linear.bias {
            out.push(Self::of(format!("{name}.bias"), bias.val())?);
        }
        Ok(out)
    }

    pub fn layer_norm(name: &str, norm: &LayerNorm) -> Result<Vec<Self>> {
        let mut out = vec![Self::of(format!("{name}.weight"), norm.gamma.val())?];
        if let Some(beta) = &norm.beta {
            out.push(Self::of(format!("{name}.bias"), beta.val())?);
        }
        Ok(out)
    }
}

/// Symmetric codes in `-levels..=levels` and the scale of one row: `scale = max|w| /
/// levels`, `q = round(w / scale)` with ties to even, all in float32 — the same
/// operations as NumPy's in `models/quantize.py`, so both write the same bytes.
pub fn quantize_row(row: &[f32], levels: i8) -> (Vec<i8>, f32) {
    let peak = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let top = f32::from(levels);
    let scale = peak / top;
    let safe = if scale > 0.0 { scale } else { 1.0 };
    let q = row
        .iter()
        .map(|&w| (w / safe).round_ties_even().clamp(-top, top) as i8)
        .collect();
    (q, scale)
}

/// What a matrix reads back as after being stored as `scheme`: each row quantized and
/// dequantized (the identity for float32).
pub fn round_trip(tensor: &NamedTensor, scheme: Scheme) -> Vec<f32> {
    let (Some(levels), &[_, _]) = (scheme.levels(), tensor.shape.as_slice()) else {
        return tensor.data.clone();
    };
    let cols = tensor.shape[1].max(1);
    tensor
        .data
        .chunks_exact(cols)
        .flat_map(|row| {
            let (q, scale) = quantize_row(row, levels);
            q.into_iter().map(move |v| f32::from(v) * scale)
        })
        .collect()
}

/// A safetensors file of `tensors`, each matrix stored as `scheme(tensor)` says.
/// Names must be unique; a non-finite value is refused (it would poison every row it
/// scales).
pub fn to_safetensors(
    tensors: &[NamedTensor],
    scheme: impl Fn(&NamedTensor) -> Scheme,
) -> Result<Vec<u8>> {
    let bad = |reason: String| Error::BadWeights {
        file: "(writing)".to_owned(),
        reason,
    };
    let mut blobs: Vec<(String, Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for t in tensors {
        if t.shape.iter().product::<usize>() != t.data.len() {
            return Err(bad(format!(
                "{}: {} values for shape {:?}",
                t.name,
                t.data.len(),
                t.shape
            )));
        }
        if let Some(x) = t.data.iter().find(|x| !x.is_finite()) {
            return Err(bad(format!("{} holds {x}", t.name)));
        }
        let f32_bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        let scheme = scheme(t);
        match (scheme.levels(), t.shape.as_slice()) {
            (Some(levels), &[rows, cols]) => {
                let mut codes = Vec::with_capacity(rows * cols);
                let mut scales = Vec::with_capacity(rows);
                for row in t.data.chunks_exact(cols.max(1)).take(rows) {
                    let (q, s) = quantize_row(row, levels);
                    scales.push(s);
                    if scheme == Scheme::Int8 {
                        codes.extend(q.into_iter().map(|b| b as u8));
                    } else {
                        codes.extend(q.chunks(2).map(|pair| {
                            let high = pair.get(1).copied().unwrap_or(0);
                            (pair[0] as u8 & 0x0f) | ((high as u8 & 0x0f) << 4)
                        }));
                    }
                }
                let (dtype, shape) = match scheme {
                    Scheme::Int8 => (Dtype::I8, t.shape.clone()),
                    _ => (Dtype::U8, vec![rows, cols.div_ceil(2)]),
                };
                blobs.push((t.name.clone(), dtype, shape, codes));
                blobs.push((
                    format!("{}.scale", t.name),
                    Dtype::F32,
                    vec![rows],
                    f32_bytes(&scales),
                ));
            }
            _ => blobs.push((
                t.name.clone(),
                Dtype::F32,
                t.shape.clone(),
                f32_bytes(&t.data),
            )),
        }
    }
    blobs.sort_by(|a, b| a.0.cmp(&b.0));
    if let Some(w) = blobs.windows(2).find(|w| w[0].0 == w[1].0) {
        return Err(bad(format!("tensor {} is named twice", w[0].0)));
    }
    let views = blobs
        .iter()
        .map(|(name, dtype, shape, data)| {
            safetensors::tensor::TensorView::new(*dtype, shape.clone(), data)
                .map(|v| (name.clone(), v))
                .map_err(|e| bad(format!("{name}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, None).map_err(|e| bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transposed_swaps_rows_and_columns() {
        let m = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]; // 2 × 3
        assert_eq!(transposed(&m, 2, 3), [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]);
        assert!(transposed(&[], 4, 0).is_empty());
    }

    #[test]
    fn verify_names_file_and_both_hashes() {
        let spec = FileSpec {
            name: "model.safetensors".into(),
            sha256: sha256_hex(b"good"),
            bytes: None,
        };
        assert!(verify(&spec, b"good").is_ok());
        let msg = verify(&spec, b"bad").unwrap_err().to_string();
        assert!(msg.contains("model.safetensors"), "{msg}");
        assert!(msg.contains(&spec.sha256), "{msg}");
        assert!(msg.contains(&sha256_hex(b"bad")), "{msg}");
    }

    #[test]
    fn checked_bytes_serve_only_the_file_they_were_checked_against() {
        let spec = |name: &str, bytes: &[u8]| FileSpec {
            name: name.into(),
            sha256: sha256_hex(bytes),
            bytes: None,
        };
        let (good, other) = (spec("weights", b"good"), spec("tokenizer", b"other"));
        let checked = Checked::verify(&good, b"good".to_vec()).unwrap();
        assert_eq!(checked.for_spec(&good).unwrap(), b"good");
        let msg = checked.for_spec(&other).unwrap_err().to_string();
        assert!(msg.contains("tokenizer"), "{msg}");
        assert!(Checked::verify(&good, b"bad".to_vec()).is_err());
        // A host's digest (WebCrypto's, in hex of either case) stands in for hashing.
        let upper = good.sha256.to_uppercase();
        assert!(Checked::with_digest(&good, b"good".to_vec(), &upper).is_ok());
        let msg = Checked::with_digest(&good, b"bad".to_vec(), &sha256_hex(b"bad"))
            .err()
            .unwrap()
            .to_string();
        assert!(msg.contains(&sha256_hex(b"bad")), "{msg}");
    }

    #[test]
    fn sha256_matches_known_vector() {
        // FIPS 180-2 test vector.
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    fn source(tensors: &[(&str, Dtype, Vec<usize>, Vec<u8>)]) -> Vec<u8> {
        let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = tensors
            .iter()
            .map(|(name, dtype, shape, data)| {
                let view = safetensors::tensor::TensorView::new(*dtype, shape.clone(), data);
                ((*name).to_owned(), view.unwrap())
            })
            .collect();
        safetensors::serialize(views, None).unwrap()
    }

    fn read(bytes: &[u8], name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        TensorSource::parse(bytes, "w.safetensors")?.floats(name, shape)
    }

    fn f32_bytes(v: &[f32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_le_bytes()).collect()
    }

    #[test]
    fn int8_rows_are_scaled_by_their_own_scale() {
        let q: Vec<u8> = [1i8, -2, 127, 0, -127, 5]
            .iter()
            .map(|&x| x as u8)
            .collect();
        let bytes = source(&[
            ("w", Dtype::I8, vec![3, 2], q),
            ("w.scale", Dtype::F32, vec![3], f32_bytes(&[0.5, 2.0, 0.0])),
        ]);
        assert_eq!(
            read(&bytes, "w", &[3, 2]).unwrap(),
            vec![0.5, -1.0, 254.0, 0.0, 0.0, 0.0]
        );
        // Vectors are never quantized: an int8 bias is a bad file.
        let bias = source(&[("b", Dtype::I8, vec![2], vec![1, 2])]);
        assert!(matches!(
            read(&bias, "b", &[2]),
            Err(Error::BadDtype { .. })
        ));
    }

    /// A whole file as float32: each int8 matrix widened by its own scales, the
    /// `.scale` tensors consumed, float32 vectors as stored; int4 is refused, its
    /// width being ambiguous.
    #[test]
    fn all_floats_widens_int8_matrices_and_consumes_their_scales() {
        // Each row uses its full range, as the writer's always does.
        let q: Vec<u8> = [127i8, -4, 127, -1].iter().map(|&x| x as u8).collect();
        let bytes = source(&[
            ("m", Dtype::I8, vec![2, 2], q),
            ("m.scale", Dtype::F32, vec![2], f32_bytes(&[0.25, 2.0])),
            ("v", Dtype::F32, vec![2], f32_bytes(&[1.5, -3.0])),
        ]);
        let all = TensorSource::parse(&bytes, "w.safetensors")
            .unwrap()
            .all_floats()
            .unwrap();
        let got: Vec<_> = all
            .iter()
            .map(|t| (t.name.as_str(), t.shape.clone(), t.data.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                ("m", vec![2, 2], vec![31.75, -1.0, 254.0, -2.0]),
                ("v", vec![2], vec![1.5, -3.0]),
            ]
        );
        // Written back as int8, the same codes and scales come out.
        let again = to_safetensors(&all, |_| Scheme::Int8).unwrap();
        assert_eq!(again, bytes);

        let int4 = source(&[
            ("t", Dtype::U8, vec![1, 1], vec![0x21]),
            ("t.scale", Dtype::F32, vec![1], f32_bytes(&[1.0])),
        ]);
        let err = TensorSource::parse(&int4, "w.safetensors")
            .unwrap()
            .all_floats()
            .unwrap_err();
        assert!(err.to_string().contains("t is int4"), "{err}");
    }

    #[test]
    fn bad_scales_are_refused_with_the_tensor_name() {
        let bytes = source(&[
            ("w", Dtype::I8, vec![2, 1], vec![1, 1]),
            ("w.scale", Dtype::F32, vec![2], f32_bytes(&[1.0, f32::NAN])),
        ]);
        let msg = read(&bytes, "w", &[2, 1]).unwrap_err().to_string();
        assert!(msg.contains("w.scale") && msg.contains("NaN"), "{msg}");
        let bytes = source(&[
            ("w", Dtype::I8, vec![2, 1], vec![1, 1]),
            ("w.scale", Dtype::F32, vec![2], f32_bytes(&[1.0, -1.0])),
        ]);
        assert!(matches!(
            read(&bytes, "w", &[2, 1]),
            Err(Error::BadWeights { .. })
        ));
    }

    #[test]
    fn int4_nibbles_are_signed_low_first_and_scaled_per_row() {
        // Row 0: 1, -2, 7 (+ padding nibble); row 1: -7, 0, 3.
        let packed = vec![0x01 | (0x0e << 4), 0x07, 0x09, 0x03];
        let bytes = source(&[
            ("w", Dtype::U8, vec![2, 2], packed),
            ("w.scale", Dtype::F32, vec![2], f32_bytes(&[0.5, 2.0])),
        ]);
        assert_eq!(
            read(&bytes, "w", &[2, 3]).unwrap(),
            vec![0.5, -1.0, 3.5, -14.0, 0.0, 6.0]
        );
        // The stored width must be ⌈cols / 2⌉.
        assert!(matches!(
            read(&bytes, "w", &[2, 5]),
            Err(Error::ShapeMismatch { .. })
        ));
        let (q, scale) = quantize_row(&[0.875, -0.4375, 0.1875], 7);
        assert_eq!(
            (q, scale),
            (vec![7, -4, 2], 0.125),
            "-3.5 and 1.5 round to even"
        );
    }

    #[test]
    fn fp16_is_widened_exactly() {
        let half: Vec<u8> = [1.5f32, -2.25, 65504.0]
            .iter()
            .flat_map(|&x| half::f16::from_f32(x).to_le_bytes())
            .collect();
        let bytes = source(&[("w", Dtype::F16, vec![1, 3], half)]);
        assert_eq!(
            read(&bytes, "w", &[1, 3]).unwrap(),
            vec![1.5, -2.25, 65504.0]
        );
    }
}
