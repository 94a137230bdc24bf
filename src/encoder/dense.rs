//! The encoder's dense layers, `y = act(x·W + b)`. On burn's CPU backend (wasm with
//! simd128, x86-64 with AVX2 and FMA) the weights are packed once, when the encoder
//! is built, for one SIMD micro-kernel that applies the bias and GELU while each tile
//! is in registers ([`super::packed`]). burn-flex ran the product through gemm, then
//! the bias and GELU as passes of their own, GELU's scalar erf taking as long as the
//! product in wasm. Packed, and with each layer run on the real tokens only
//! (`EncoderLayer::forward_rows`), MiniLM-L3 in the browser went from 7.7 to 3.8 ms a
//! title and from 65.7 to 36.1 ms a batch of 16, natively from 20.8 to 13.3 ms a
//! batch of 16 (BENCHMARKS.md, 2026-12-07). Elsewhere (WebGPU, training, other
//! CPUs) a dense layer is burn's own `Linear`.

use std::sync::Arc;

use burn::module::Module;
use burn::nn::Linear;
use burn::tensor::activation::gelu;
use burn::tensor::{Device, Tensor, TensorData};

pub use super::packed::Activation;
use super::packed::{self, PackedDense};
use crate::Result;
use crate::weights::{NamedTensor, TensorSource};

/// One dense layer, with the weights in the layout of the backend that runs it.
#[derive(Module, Debug)]
pub struct Dense {
    /// burn's layer: the trainable one, and the one every non-packed device runs.
    linear: Option<Linear>,
    #[module(skip)]
    packed: Option<Arc<PackedDense>>,
    #[module(skip)]
    activation: Activation,
}

impl Dense {
    /// A PyTorch `nn.Linear` checkpoint entry (`NAME.weight` `[out, in]`, `NAME.bias`).
    pub fn load(
        w: &TensorSource<'_>,
        name: &str,
        [d_in, d_out]: [usize; 2],
        activation: Activation,
        device: &Device,
    ) -> Result<Self> {
        if !packs(device) {
            let linear = w.linear(name, d_in, d_out, device)?;
            return Ok(Self {
                linear: Some(linear),
                packed: None,
                activation,
            });
        }
        let weight = w.floats(&format!("{name}.weight"), &[d_out, d_in])?;
        let bias = w.floats(&format!("{name}.bias"), &[d_out])?;
        Ok(Self {
            linear: None,
            packed: Some(Arc::new(PackedDense::pack(
                &weight,
                &bias,
                [d_in, d_out],
                activation,
            ))),
            activation,
        })
    }

    /// `[batch, seq, d_in]` → `[batch, seq, d_out]`.
    pub fn forward(&self, x: Tensor<3>) -> Tensor<3> {
        match (&self.packed, &self.linear) {
            (Some(packed), _) => {
                let [batch, seq, _] = x.dims();
                let device = x.device();
                let data = x.into_data();
                // The CPU backend's float tensors are f32: `packs` says so.
                let input = data.as_slice::<f32>().expect("burn-flex floats are f32");
                let out = packed.forward(input);
                Tensor::from_data(
                    TensorData::new(out, [batch, seq, packed.d_output()]),
                    &device,
                )
            }
            (None, Some(linear)) => {
                let y = linear.forward(x);
                match self.activation {
                    Activation::Identity => y,
                    Activation::Gelu => gelu(y),
                }
            }
            (None, None) => unreachable!("a Dense holds burn's layer or the packed one"),
        }
    }

    /// The packed layer, where this device runs one: a caller that keeps its
    /// activations on plain slices (an encoder layer's real tokens) skips the tensor
    /// round trips.
    pub fn packed(&self) -> Option<&PackedDense> {
        self.packed.as_deref()
    }

    /// The checkpoint entries [`Self::load`] reads.
    pub fn tensors(&self, name: &str, out: &mut Vec<NamedTensor>) -> Result<()> {
        match (&self.packed, &self.linear) {
            (Some(packed), _) => {
                let (weight, bias) = packed.unpack();
                out.push(NamedTensor {
                    name: format!("{name}.weight"),
                    shape: vec![packed.d_output(), packed.d_input()],
                    data: weight,
                });
                out.push(NamedTensor {
                    name: format!("{name}.bias"),
                    shape: vec![packed.d_output()],
                    data: bias,
                });
            }
            (None, Some(linear)) => out.extend(NamedTensor::linear(name, linear)?),
            (None, None) => unreachable!("a Dense holds burn's layer or the packed one"),
        }
        Ok(())
    }
}

/// Whether layers on `device` run packed: burn's CPU backend, where the packed
/// kernel is SIMD ([`packed::fast`]: wasm's simd128, x86-64's AVX2 with FMA), and
/// not for training (an autodiff device compares equal to its inner one). Natively
/// too burn-flex ran GELU as a pass of libm `erff` after gemm: 14% of a batch of 16
/// in `perf`. A GPU has its own matmul.
fn packs(device: &Device) -> bool {
    *device == Device::flex() && !device.is_autodiff() && packed::fast()
}
