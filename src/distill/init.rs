//! The student before training, cut from the teacher's own weights: a subset of its
//! layers, the feed-forward units those layers use most, and a low-rank
//! factorisation of its word embeddings. Starting in the teacher's embedding space
//! is what lets a short distillation reach it; a random student would need far more
//! text and time than a 2-core machine has.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use crate::config::BertConfig;
use crate::weights::{ModelBundle, NamedTensor};
use crate::{Error, Result};

/// The student's architecture, as cuts of the teacher.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StudentShape {
    /// The teacher layers the student's layers start from, in order.
    pub layers: Vec<usize>,
    /// Feed-forward units kept per layer (the teacher has `intermediate_size`).
    pub intermediate_size: usize,
    /// Width of the factorised word-embedding rows.
    pub embedding_size: usize,
    /// Token budget per text; position embeddings beyond it are dropped.
    pub max_tokens: usize,
}

/// The initial student and what the cuts kept.
pub struct StudentInit {
    pub config: BertConfig,
    pub tensors: Vec<NamedTensor>,
    /// Share of the word embeddings' squared singular values the factorisation keeps.
    pub embedding_energy: f64,
    /// Per student layer, the share of the teacher layer's feed-forward importance
    /// the kept units carry.
    pub ffn_importance_kept: Vec<f64>,
}

impl StudentShape {
    fn check(&self, teacher: &BertConfig) -> Result<()> {
        let bad = |reason: String| Error::BadInput(format!("student shape: {reason}"));
        if self.layers.is_empty() {
            return Err(bad("at least one layer".into()));
        }
        if let Some(l) = self
            .layers
            .iter()
            .find(|&&l| l >= teacher.num_hidden_layers)
        {
            return Err(bad(format!(
                "layer {l} does not exist: the teacher has {} (0-based)",
                teacher.num_hidden_layers
            )));
        }
        if !(1..=teacher.intermediate_size).contains(&self.intermediate_size) {
            return Err(bad(format!(
                "intermediate_size {} must be in 1..={}",
                self.intermediate_size, teacher.intermediate_size
            )));
        }
        if !(1..=teacher.hidden_size).contains(&self.embedding_size) {
            return Err(bad(format!(
                "embedding_size {} must be in 1..={}",
                self.embedding_size, teacher.hidden_size
            )));
        }
        if !(2..=teacher.max_position_embeddings).contains(&self.max_tokens) {
            return Err(bad(format!(
                "max_tokens {} must be in 2..={}",
                self.max_tokens, teacher.max_position_embeddings
            )));
        }
        if teacher.embedding_size.is_some() {
            return Err(bad(
                "the teacher's word embeddings are already factorised".into()
            ));
        }
        Ok(())
    }
}

/// Rows `keep` of a row-major `[rows, cols]` matrix.
fn take_rows(data: &[f32], cols: usize, keep: &[usize]) -> Vec<f32> {
    keep.iter()
        .flat_map(|&r| data[r * cols..(r + 1) * cols].iter().copied())
        .collect()
}

/// Columns `keep` of a row-major `[rows, cols]` matrix.
fn take_cols(data: &[f32], cols: usize, keep: &[usize]) -> Vec<f32> {
    data.chunks_exact(cols)
        .flat_map(|row| keep.iter().map(move |&c| row[c]))
        .collect()
}

/// The `k` most important units, in their original order, and the share of the
/// total importance they carry.
fn top_units(importance: &[f64], k: usize) -> (Vec<usize>, f64) {
    let mut order: Vec<usize> = (0..importance.len()).collect();
    order.sort_by(|&a, &b| importance[b].total_cmp(&importance[a]).then(a.cmp(&b)));
    let mut keep = order[..k.min(order.len())].to_vec();
    keep.sort_unstable();
    let total: f64 = importance.iter().sum();
    let kept: f64 = keep.iter().map(|&i| importance[i]).sum();
    (keep, if total > 0.0 { kept / total } else { 1.0 })
}

/// `W ≈ A·P` with `A = W·Vₑᵀ` (`[vocab, e]`) and `P = Vₑ` (`[e, hidden]`), `Vₑ` the
/// top `e` right singular vectors of `W` — the best rank-`e` approximation. They come
/// from the SVD of the small Gram matrix `WᵀW` (`[hidden, hidden]`), on the CPU
/// backend whatever trains the student (burn's SVD runs on the host anyway).
fn factorise(w: &[f32], rows: usize, cols: usize, e: usize) -> Result<(Vec<f32>, Vec<f32>, f64)> {
    let device = Device::flex();
    let m = Tensor::<2>::from_data(TensorData::new(w.to_vec(), [rows, cols]), &device);
    let gram = m.clone().transpose().matmul(m.clone());
    let (_, s, vt) = burn::linalg::svd::<2, 1>(gram, 100);
    let s = crate::backend::read_back(s)?;
    let top = vt.slice([0..e, 0..cols]);
    let a = m.matmul(top.clone().transpose());
    let total: f64 = s.iter().map(|&x| f64::from(x)).sum();
    let kept: f64 = s[..e].iter().map(|&x| f64::from(x)).sum();
    Ok((
        crate::backend::read_back(a)?,
        crate::backend::read_back(top)?,
        if total > 0.0 { kept / total } else { 1.0 },
    ))
}

/// Cut the student out of `teacher`. `activity[l][j]`: how much teacher layer `l`'s
/// feed-forward unit `j` is used on real text (see `Encoder::ffn_activity`); a
/// unit's importance is that times the norm of its output weights.
pub fn init_student(
    teacher: &ModelBundle,
    shape: &StudentShape,
    activity: &[Vec<f32>],
) -> Result<StudentInit> {
    let tc = &teacher.config;
    shape.check(tc)?;
    if activity.len() != tc.num_hidden_layers
        || activity.iter().any(|a| a.len() != tc.intermediate_size)
    {
        return Err(Error::BadInput(format!(
            "feed-forward activity for {} layers, the teacher has {} of {} units",
            activity.len(),
            tc.num_hidden_layers,
            tc.intermediate_size
        )));
    }
    let src = teacher.tensors()?;
    let (d, ffn) = (tc.hidden_size, tc.intermediate_size);
    let mut tensors = Vec::new();
    let mut push = |name: String, shape: Vec<usize>, data: Vec<f32>| {
        tensors.push(NamedTensor { name, shape, data });
    };

    let word = src.floats("embeddings.word_embeddings.weight", &[tc.vocab_size, d])?;
    let e = shape.embedding_size;
    let (table, projection, embedding_energy) = factorise(&word, tc.vocab_size, d, e)?;
    push(
        "embeddings.word_embeddings.weight".into(),
        vec![tc.vocab_size, e],
        table,
    );
    // PyTorch layout [out, in] = [hidden, e]: the transpose of P.
    let p_t = {
        let mut t = vec![0.0; d * e];
        for (r, row) in projection.chunks_exact(d).enumerate() {
            for (c, &v) in row.iter().enumerate() {
                t[c * e + r] = v;
            }
        }
        t
    };
    push("embeddings.word_projection.weight".into(), vec![d, e], p_t);
    push(
        "embeddings.word_projection.bias".into(),
        vec![d],
        vec![0.0; d],
    );
    let positions = src.floats(
        "embeddings.position_embeddings.weight",
        &[tc.max_position_embeddings, d],
    )?;
    push(
        "embeddings.position_embeddings.weight".into(),
        vec![shape.max_tokens, d],
        positions[..shape.max_tokens * d].to_vec(),
    );
    for (name, dims) in [
        (
            "embeddings.token_type_embeddings.weight",
            vec![tc.type_vocab_size, d],
        ),
        ("embeddings.LayerNorm.weight", vec![d]),
        ("embeddings.LayerNorm.bias", vec![d]),
    ] {
        push(name.into(), dims.clone(), src.floats(name, &dims)?);
    }

    let mut ffn_importance_kept = Vec::new();
    for (i, &t) in shape.layers.iter().enumerate() {
        let from = |n: &str| format!("encoder.layer.{t}.{n}");
        let to = |n: &str| format!("encoder.layer.{i}.{n}");
        for n in [
            "attention.self.query",
            "attention.self.key",
            "attention.self.value",
            "attention.output.dense",
        ] {
            let w = format!("{n}.weight");
            let b = format!("{n}.bias");
            push(to(&w), vec![d, d], src.floats(&from(&w), &[d, d])?);
            push(to(&b), vec![d], src.floats(&from(&b), &[d])?);
        }
        for n in ["attention.output.LayerNorm", "output.LayerNorm"] {
            for p in ["weight", "bias"] {
                let name = format!("{n}.{p}");
                push(to(&name), vec![d], src.floats(&from(&name), &[d])?);
            }
        }
        let w_in = src.floats(&from("intermediate.dense.weight"), &[ffn, d])?;
        let b_in = src.floats(&from("intermediate.dense.bias"), &[ffn])?;
        let w_out = src.floats(&from("output.dense.weight"), &[d, ffn])?;
        let b_out = src.floats(&from("output.dense.bias"), &[d])?;
        let importance: Vec<f64> = (0..ffn)
            .map(|j| {
                let norm = (0..d)
                    .map(|r| f64::from(w_out[r * ffn + j]).powi(2))
                    .sum::<f64>()
                    .sqrt();
                f64::from(activity[t][j]) * norm
            })
            .collect();
        let (keep, share) = top_units(&importance, shape.intermediate_size);
        ffn_importance_kept.push(share);
        let k = keep.len();
        push(
            to("intermediate.dense.weight"),
            vec![k, d],
            take_rows(&w_in, d, &keep),
        );
        push(
            to("intermediate.dense.bias"),
            vec![k],
            keep.iter().map(|&j| b_in[j]).collect(),
        );
        push(
            to("output.dense.weight"),
            vec![d, k],
            take_cols(&w_out, ffn, &keep),
        );
        push(to("output.dense.bias"), vec![d], b_out);
    }

    let config = BertConfig {
        num_hidden_layers: shape.layers.len(),
        intermediate_size: shape.intermediate_size,
        max_position_embeddings: shape.max_tokens,
        embedding_size: Some(e),
        ..tc.clone()
    };
    Ok(StudentInit {
        config,
        tensors,
        embedding_energy,
        ffn_importance_kept,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_units_keep_the_largest_in_order() {
        let (keep, share) = top_units(&[1.0, 5.0, 0.0, 3.0, 1.0], 3);
        assert_eq!(keep, [0, 1, 3], "ties go to the lower index");
        assert!((share - 0.9).abs() < 1e-12);
    }

    #[test]
    fn rows_and_columns_are_cut_from_row_major_matrices() {
        // [[0, 1, 2], [3, 4, 5]]
        let m: Vec<f32> = (0..6).map(|x| x as f32).collect();
        assert_eq!(take_rows(&m, 3, &[1]), [3.0, 4.0, 5.0]);
        assert_eq!(take_cols(&m, 3, &[0, 2]), [0.0, 2.0, 3.0, 5.0]);
    }

    #[test]
    fn factorisation_is_exact_at_full_rank_and_best_below_it() {
        // Rank 2 in 3 columns: the third column is the sum of the first two.
        let w: Vec<f32> = vec![
            1.0, 0.0, 1.0, //
            0.0, 2.0, 2.0, //
            1.0, 1.0, 2.0, //
            3.0, -1.0, 2.0,
        ];
        let (a, p, energy) = factorise(&w, 4, 3, 2).unwrap();
        assert!(
            (energy - 1.0).abs() < 1e-5,
            "rank 2 keeps everything: {energy}"
        );
        for r in 0..4 {
            for c in 0..3 {
                let approx: f32 = (0..2).map(|k| a[r * 2 + k] * p[k * 3 + c]).sum();
                assert!((approx - w[r * 3 + c]).abs() < 1e-4, "({r}, {c}): {approx}");
            }
        }
        let (_, _, one) = factorise(&w, 4, 3, 1).unwrap();
        assert!(one < 0.999 && one > 0.5, "{one}");
    }
}
