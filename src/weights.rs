//! Model files are checked before a single byte is interpreted: a model that does
//! not hash to its manifest is refused, so a corrupt download or a swapped file can
//! never silently produce wrong embeddings. The tensor reader then checks every name,
//! dtype and shape against the config, so a mismatched model fails with a message
//! naming the tensor rather than a panic deep inside burn.

use burn::module::Param;
use burn::nn::Linear;
use burn::tensor::{Device, Tensor, TensorData};
use safetensors::{Dtype, SafeTensors};
use sha2::{Digest, Sha256};

use crate::config::{BertConfig, FileSpec, ModelManifest};
use crate::{Error, Result};

pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Refuse bytes whose SHA-256 is not the manifest's.
pub fn verify(spec: &FileSpec, bytes: &[u8]) -> Result<()> {
    let actual = sha256_hex(bytes);
    if actual.eq_ignore_ascii_case(&spec.sha256) {
        Ok(())
    } else {
        Err(Error::HashMismatch {
            file: spec.name.clone(),
            expected: spec.sha256.clone(),
            actual,
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
        verify(&files.config, config)?;
        verify(&files.tokenizer, &tokenizer)?;
        verify(&files.weights, &weights)?;
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
            tokenizer,
            weights,
        })
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
        let file = self.manifest.files.weights.name.clone();
        let st = SafeTensors::deserialize(&self.weights).map_err(|e| Error::BadWeights {
            file: file.clone(),
            reason: e.to_string(),
        })?;
        // Some exports prefix every tensor with the architecture name.
        let prefix = if st.names().iter().any(|n| n.starts_with("bert.")) {
            "bert."
        } else {
            ""
        };
        Ok(TensorSource { st, file, prefix })
    }
}

/// Named float tensors out of a safetensors file, checked against expected shapes.
pub struct TensorSource<'a> {
    st: SafeTensors<'a>,
    file: String,
    prefix: &'static str,
}

impl TensorSource<'_> {
    /// A tensor as float32, whatever its stored format: F32; F16 (widened); or, for a
    /// matrix, I8 with a per-row F32 scale tensor `NAME.scale` (`models/quantize.py`),
    /// read as `q × scale[row]`. Quantization only shrinks the download: the model
    /// computes in float32 either way, on every backend.
    fn floats(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let full = format!("{}{name}", self.prefix);
        let view = self.st.tensor(&full).map_err(|_| Error::MissingTensor {
            tensor: full.clone(),
            file: self.file.clone(),
        })?;
        if view.shape() != expected {
            return Err(Error::ShapeMismatch {
                tensor: full,
                expected: expected.to_vec(),
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
                let scales = self.floats(&format!("{name}.scale"), &expected[..1])?;
                if let Some(bad) = scales.iter().find(|s| !(s.is_finite() && **s >= 0.0)) {
                    return Err(Error::BadWeights {
                        file: self.file.clone(),
                        reason: format!("{full}.scale holds {bad}; scales must be finite and ≥ 0"),
                    });
                }
                let cols = expected[1];
                Ok(view
                    .data()
                    .iter()
                    .enumerate()
                    .map(|(i, &q)| f32::from(q as i8) * scales[i / cols])
                    .collect())
            }
            other => Err(Error::BadDtype {
                tensor: full,
                expected: if expected.len() == 2 {
                    "F32, F16, or I8 with a per-row F32 `.scale`"
                } else {
                    "F32 or F16"
                }
                .to_owned(),
                found: format!("{other:?}"),
            }),
        }
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
        let weight = Tensor::<2>::from_data(TensorData::new(weight, [d_out, d_in]), device);
        Ok(Linear {
            weight: Param::from_tensor(weight.transpose()),
            bias: Some(self.vector(&format!("{name}.bias"), d_out, device)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_names_file_and_both_hashes() {
        let spec = FileSpec {
            name: "model.safetensors".into(),
            sha256: sha256_hex(b"good"),
        };
        assert!(verify(&spec, b"good").is_ok());
        let msg = verify(&spec, b"bad").unwrap_err().to_string();
        assert!(msg.contains("model.safetensors"), "{msg}");
        assert!(msg.contains(&spec.sha256), "{msg}");
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
        let src = TensorSource {
            st: SafeTensors::deserialize(bytes).unwrap(),
            file: "w.safetensors".into(),
            prefix: "",
        };
        src.floats(name, shape)
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
