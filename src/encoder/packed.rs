//! A dense layer's weights packed for one SIMD micro-kernel, `y = act(x·W + b)` on
//! plain slices: the CPU in wasm runs the encoder's dense layers through it
//! ([`super::dense`]). Pure Rust over `f32` slices, no burn, so that it can be
//! tested and measured on its own.

/// What follows the affine map.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Identity,
    /// BERT's exact GELU, `x/2 · (1 + erf(x/√2))`, erf to 4·10⁻⁷ ([`ERF_P`]).
    Gelu,
}

use std::ops::Range;

/// Columns in a packed panel: two 4-lane vectors in wasm, one 8-lane vector with
/// AVX2.
const PANEL: usize = 8;
/// A tile's rows: the kernel's.
const ROWS: usize = kernel::ROWS;

/// A dense layer's weights and bias laid out for [`PackedDense::forward`].
#[derive(Debug, Clone)]
pub struct PackedDense {
    d_input: usize,
    d_output: usize,
    /// Panel `p` holds `W[p·8 .. p·8+8][k]` for `k` in order, zero past `d_output`.
    panels: Vec<f32>,
    /// The bias, zero-padded to whole panels.
    bias: Vec<f32>,
    activation: Activation,
}

impl PackedDense {
    /// `weight`: `[d_output, d_input]`, row-major (PyTorch's `nn.Linear` layout).
    pub fn pack(
        weight: &[f32],
        bias: &[f32],
        [d_input, d_output]: [usize; 2],
        activation: Activation,
    ) -> Self {
        assert_eq!(
            weight.len(),
            d_input * d_output,
            "weight is [d_output, d_input]"
        );
        assert_eq!(bias.len(), d_output, "bias is [d_output]");
        let n_panels = d_output.div_ceil(PANEL);
        let mut panels = vec![0.0; n_panels * d_input * PANEL];
        for (col, row) in weight.chunks_exact(d_input.max(1)).enumerate() {
            let (p, j) = (col / PANEL, col % PANEL);
            let panel = &mut panels[p * d_input * PANEL..];
            for (k, &w) in row.iter().enumerate() {
                panel[k * PANEL + j] = w;
            }
        }
        let mut padded = vec![0.0; n_panels * PANEL];
        padded[..d_output].copy_from_slice(bias);
        Self {
            d_input,
            d_output,
            panels,
            bias: padded,
            activation,
        }
    }

    pub fn d_input(&self) -> usize {
        self.d_input
    }

    pub fn d_output(&self) -> usize {
        self.d_output
    }

    /// The `[d_output, d_input]` weight and the bias [`Self::pack`] was given.
    pub fn unpack(&self) -> (Vec<f32>, Vec<f32>) {
        let (k, n) = (self.d_input, self.d_output);
        let mut weight = vec![0.0; n * k];
        for (col, row) in weight.chunks_exact_mut(k.max(1)).enumerate() {
            let panel = &self.panels[(col / PANEL) * k * PANEL..];
            for (kk, w) in row.iter_mut().enumerate() {
                *w = panel[kk * PANEL + col % PANEL];
            }
        }
        (weight, self.bias[..n].to_vec())
    }

    /// `x`: rows of `d_input`, row-major → rows of `d_output`.
    pub fn forward(&self, x: &[f32]) -> Vec<f32> {
        let k = self.d_input;
        assert!(
            k > 0 && x.len().is_multiple_of(k),
            "input is rows of d_input = {k}"
        );
        let panels = self.d_output.div_ceil(PANEL);
        #[cfg(not(target_arch = "wasm32"))]
        if x.len() * self.d_output >= PARALLEL_WORK {
            return self.forward_split(x, panels);
        }
        self.columns(x, 0..panels)
    }

    /// [`Self::forward`] with the panels shared out among the pool's threads, so
    /// that each reads its share of the weights: with few rows (a title or two) a
    /// product is as slow as the matrix is to read from memory.
    #[cfg(not(target_arch = "wasm32"))]
    fn forward_split(&self, x: &[f32], panels: usize) -> Vec<f32> {
        use rayon::prelude::*;
        let (m, n) = (x.len() / self.d_input, self.d_output);
        let share = panels.div_ceil(rayon::current_num_threads());
        let parts: Vec<_> = (0..panels)
            .step_by(share)
            .collect::<Vec<_>>()
            .into_par_iter()
            .map(|first| {
                let share = first..(first + share).min(panels);
                (first * PANEL, self.columns(x, share))
            })
            .collect();
        let mut out = vec![0.0; m * n];
        for (first, part) in parts {
            let width = part.len() / m.max(1);
            for (dst, src) in out.chunks_exact_mut(n).zip(part.chunks_exact(width)) {
                dst[first..first + width].copy_from_slice(src);
            }
        }
        out
    }

    /// The output's columns of `panels`, `[rows, their width]`, on one thread.
    fn columns(&self, x: &[f32], panels: Range<usize>) -> Vec<f32> {
        let k = self.d_input;
        let m = x.len() / k;
        let cols = panels.start * PANEL..(panels.end * PANEL).min(self.d_output);
        let width = cols.len();
        let mut out = vec![0.0; m * width];
        let whole = m - m % ROWS;
        // The rows past whole tiles, zero-padded to one: a single kernel for every
        // tile, at the cost of a few zero rows multiplied once per call.
        let mut tail = vec![0.0; if whole < m { ROWS * k } else { 0 }];
        tail[..(m - whole) * k].copy_from_slice(&x[whole * k..]);
        let activate = self.activation == Activation::Gelu;
        // Panel by panel, so that one panel of weights (k × 8) stays in L1 while every
        // row meets it, and the matrix is read from memory once.
        for p in panels.clone() {
            let panel = &self.panels[p * k * PANEL..][..k * PANEL];
            let bias: &[f32; PANEL] = self.bias[p * PANEL..][..PANEL]
                .try_into()
                .expect("the bias is padded to whole panels");
            let at = (p - panels.start) * PANEL;
            let here = at..(at + PANEL).min(width);
            for first in (0..m).step_by(ROWS) {
                let a = match first < whole {
                    true => &x[first * k..][..ROWS * k],
                    false => &tail[..],
                };
                let tile = kernel::tile(a, panel, k, bias, activate);
                for (r, values) in tile.iter().take(m - first).enumerate() {
                    let dst = &mut out[(first + r) * width..][here.clone()];
                    dst.copy_from_slice(&values[..dst.len()]);
                }
            }
        }
        out
    }
}

/// Multiply-adds in a call worth splitting over threads: below it, handing the
/// halves to the pool costs more than it saves.
#[cfg(not(target_arch = "wasm32"))]
const PARALLEL_WORK: usize = 1 << 20;

/// Whether [`PackedDense::forward`] runs a SIMD kernel on this CPU: simd128 in wasm
/// builds that have it, AVX2 with FMA on x86-64. Elsewhere it runs, correctly but
/// slowly, the kernel's scalar form, and callers have faster products to use.
pub fn fast() -> bool {
    kernel::fast()
}

/// `erf(x) ≈ x·P(x²)/Q(x²)` on [−4, 4], and ±1 beyond (erf(4) rounds to 1 in f32):
/// GELU by libm's `erff`, as burn-flex computes it, took as long as the product
/// before it (15–24 ns an element in wasm). A rational fit of our own
/// (Sanathanan–Koerner, then Lawson reweighting, on 4,000 Chebyshev nodes): 5·10⁻⁸
/// from erf in exact arithmetic, 4·10⁻⁷ evaluated in f32; the tests check it.
const ERF_P: [f32; 7] = [
    1.128_378_7,
    2.139_428e-1,
    5.243_321e-2,
    4.292_968e-3,
    1.555_345e-4,
    -1.990_307_8e-6,
    1.921_717_1e-8,
];
const ERF_Q: [f32; 5] = [
    1.0,
    5.229_295_2e-1,
    1.207_988_3e-1,
    1.555_092_4e-2,
    1.098_016_5e-3,
];
/// Where erf is 1 to f32 precision.
const ERF_LIMIT: f32 = 4.0;

/// BERT's exact GELU, `x/2 · (1 + erf(x/√2))`, with [`ERF_P`]/[`ERF_Q`]: the
/// scalar form of the kernel's, lane for lane.
#[cfg_attr(
    all(target_arch = "wasm32", target_feature = "simd128"),
    allow(dead_code)
)]
fn gelu(x: f32) -> f32 {
    let z = (x * std::f32::consts::FRAC_1_SQRT_2).clamp(-ERF_LIMIT, ERF_LIMIT);
    let t = z * z;
    let p = ERF_P.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    let q = ERF_Q.iter().rev().fold(0.0, |acc, &c| acc * t + c);
    let erf = (z * p / q).clamp(-1.0, 1.0);
    0.5 * x * (1.0 + erf)
}

#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod kernel {
    use core::arch::wasm32::*;

    use super::{ERF_LIMIT, ERF_P, ERF_Q, PANEL};

    /// 4 rows × 2 vectors of accumulators, two of weights and one of `x` fit in the
    /// 16 vector registers V8 gives wasm on x86-64. Interleaved in Node on this
    /// machine, 5 rows ran 29–33 GFLOP/s against 36–39 for 4 (6 rows spilled: 21–22).
    pub const ROWS: usize = 4;

    pub fn fast() -> bool {
        true
    }

    /// [`ROWS`] rows of `a` (`ROWS × k`, row-major) times one panel (`k × 8`), plus
    /// `bias`, then GELU if asked.
    #[inline(always)]
    pub fn tile(
        a: &[f32],
        panel: &[f32],
        k: usize,
        bias: &[f32; PANEL],
        gelu: bool,
    ) -> [[f32; PANEL]; ROWS] {
        assert!(a.len() >= ROWS * k && panel.len() >= k * PANEL);
        let (a, w) = (a.as_ptr(), panel.as_ptr());
        let mut acc = [[
            f32x4(bias[0], bias[1], bias[2], bias[3]),
            f32x4(bias[4], bias[5], bias[6], bias[7]),
        ]; ROWS];
        // SAFETY: every load reads `a[r·k + kk]` or `panel[kk·8 .. kk·8 + 8]` with
        // `r < ROWS` and `kk < k`, in bounds by the assert; wasm loads need no
        // alignment.
        unsafe {
            for kk in 0..k {
                let w0 = v128_load(w.add(kk * PANEL) as *const v128);
                let w1 = v128_load(w.add(kk * PANEL + 4) as *const v128);
                for (r, acc) in acc.iter_mut().enumerate() {
                    // One load-and-broadcast: in a register of its own, not a shuffle
                    // on a vector unit the products need (4×8 tiles: 38 GFLOP/s
                    // against 27 with a vector load of 4 k and shuffles).
                    let x = v128_load32_splat(a.add(r * k + kk) as *const u32);
                    acc[0] = f32x4_add(acc[0], f32x4_mul(x, w0));
                    acc[1] = f32x4_add(acc[1], f32x4_mul(x, w1));
                }
            }
        }
        if gelu {
            for acc in &mut acc {
                acc[0] = gelu4(acc[0]);
                acc[1] = gelu4(acc[1]);
            }
        }
        acc.map(|[lo, hi]| {
            [
                f32x4_extract_lane::<0>(lo),
                f32x4_extract_lane::<1>(lo),
                f32x4_extract_lane::<2>(lo),
                f32x4_extract_lane::<3>(lo),
                f32x4_extract_lane::<0>(hi),
                f32x4_extract_lane::<1>(hi),
                f32x4_extract_lane::<2>(hi),
                f32x4_extract_lane::<3>(hi),
            ]
        })
    }

    /// [`super::gelu`] on four lanes.
    #[inline(always)]
    fn gelu4(x: v128) -> v128 {
        let limit = f32x4_splat(ERF_LIMIT);
        let z = f32x4_mul(x, f32x4_splat(std::f32::consts::FRAC_1_SQRT_2));
        let z = f32x4_pmax(f32x4_pmin(z, limit), f32x4_neg(limit));
        let t = f32x4_mul(z, z);
        let mut p = f32x4_splat(ERF_P[ERF_P.len() - 1]);
        for &c in ERF_P.iter().rev().skip(1) {
            p = f32x4_add(f32x4_mul(p, t), f32x4_splat(c));
        }
        let mut q = f32x4_splat(ERF_Q[ERF_Q.len() - 1]);
        for &c in ERF_Q.iter().rev().skip(1) {
            q = f32x4_add(f32x4_mul(q, t), f32x4_splat(c));
        }
        let one = f32x4_splat(1.0);
        let erf = f32x4_div(f32x4_mul(z, p), q);
        let erf = f32x4_pmax(f32x4_pmin(erf, one), f32x4_neg(one));
        f32x4_mul(f32x4_mul(f32x4_splat(0.5), x), f32x4_add(one, erf))
    }
}

/// Natively: on x86-64 with AVX2 and FMA (checked at run time), 8 rows × one panel
/// in 256-bit registers: eight accumulators keep both FMA units busy through their
/// latency, with the weights' vector and the broadcast `x` beside them in 16.
/// Written with intrinsics rather than left to LLVM's vectorizer, which the tests'
/// build (privrank at opt-level 1) does not run. Elsewhere the same tile in scalar
/// arithmetic: correct, for the tests, but slower than gemm, so [`super::fast`] is
/// false and the encoder keeps burn's layers.
#[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
mod kernel {
    use super::{PANEL, gelu};

    pub const ROWS: usize = 8;

    pub fn fast() -> bool {
        #[cfg(target_arch = "x86_64")]
        return std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        #[cfg(not(target_arch = "x86_64"))]
        return false;
    }

    /// [`ROWS`] rows of `a` (`ROWS × k`, row-major) times one panel (`k × 8`), plus
    /// `bias`, then GELU if asked.
    pub fn tile(
        a: &[f32],
        panel: &[f32],
        k: usize,
        bias: &[f32; PANEL],
        activate: bool,
    ) -> [[f32; PANEL]; ROWS] {
        assert!(a.len() >= ROWS * k && panel.len() >= k * PANEL);
        #[cfg(target_arch = "x86_64")]
        if fast() {
            // SAFETY: the CPU has AVX2 and FMA, as `fast` just asked it, and the
            // slices are as long as `fused::tile` reads (the assert).
            return unsafe { fused::tile(a, panel, k, bias, activate) };
        }
        let mut acc = [*bias; ROWS];
        for (kk, w) in panel.chunks_exact(PANEL).take(k).enumerate() {
            for (r, acc) in acc.iter_mut().enumerate() {
                let x = a[r * k + kk];
                for (acc, w) in acc.iter_mut().zip(w) {
                    *acc += x * w;
                }
            }
        }
        if activate {
            acc.iter_mut().flatten().for_each(|v| *v = gelu(*v));
        }
        acc
    }

    #[cfg(target_arch = "x86_64")]
    mod fused {
        use std::arch::x86_64::*;

        use super::super::{ERF_LIMIT, ERF_P, ERF_Q, PANEL};
        use super::ROWS;

        /// [`super::tile`] with one 8-lane fused multiply-add per row and step.
        ///
        /// # Safety
        /// The CPU has AVX2 and FMA; `a` holds `ROWS × k` values and `panel` `k × 8`.
        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn tile(
            a: &[f32],
            panel: &[f32],
            k: usize,
            bias: &[f32; PANEL],
            activate: bool,
        ) -> [[f32; PANEL]; ROWS] {
            let (a, w) = (a.as_ptr(), panel.as_ptr());
            // SAFETY (every load): `a[r·k + kk]` and `panel[kk·8 .. kk·8 + 8]` with
            // `r < ROWS`, `kk < k`, in bounds by the caller's contract; unaligned
            // loads.
            let bias = unsafe { _mm256_loadu_ps(bias.as_ptr()) };
            // Eight named accumulators, not an array: the tests' build (opt-level 1)
            // does not unroll a loop over rows, and kept an array's in memory.
            let [
                mut c0,
                mut c1,
                mut c2,
                mut c3,
                mut c4,
                mut c5,
                mut c6,
                mut c7,
            ] = [bias; ROWS];
            for kk in 0..k {
                let weights = unsafe { _mm256_loadu_ps(w.add(kk * PANEL)) };
                macro_rules! step {
                    ($acc:ident, $r:literal) => {
                        let x = unsafe { _mm256_broadcast_ss(&*a.add($r * k + kk)) };
                        $acc = _mm256_fmadd_ps(x, weights, $acc);
                    };
                }
                step!(c0, 0);
                step!(c1, 1);
                step!(c2, 2);
                step!(c3, 3);
                step!(c4, 4);
                step!(c5, 5);
                step!(c6, 6);
                step!(c7, 7);
            }
            let acc = [c0, c1, c2, c3, c4, c5, c6, c7];
            let mut out = [[0.0; PANEL]; ROWS];
            for (out, acc) in out.iter_mut().zip(acc) {
                let acc = if activate { gelu8(acc) } else { acc };
                // SAFETY: `out` is 8 floats; an unaligned store.
                unsafe { _mm256_storeu_ps(out.as_mut_ptr(), acc) };
            }
            out
        }

        /// [`super::super::gelu`] on eight lanes.
        #[target_feature(enable = "avx2,fma")]
        fn gelu8(x: __m256) -> __m256 {
            let limit = _mm256_set1_ps(ERF_LIMIT);
            let z = _mm256_mul_ps(x, _mm256_set1_ps(std::f32::consts::FRAC_1_SQRT_2));
            let z = _mm256_max_ps(_mm256_min_ps(z, limit), _mm256_set1_ps(-ERF_LIMIT));
            let t = _mm256_mul_ps(z, z);
            let mut p = _mm256_set1_ps(ERF_P[ERF_P.len() - 1]);
            for &c in ERF_P.iter().rev().skip(1) {
                p = _mm256_fmadd_ps(p, t, _mm256_set1_ps(c));
            }
            let mut q = _mm256_set1_ps(ERF_Q[ERF_Q.len() - 1]);
            for &c in ERF_Q.iter().rev().skip(1) {
                q = _mm256_fmadd_ps(q, t, _mm256_set1_ps(c));
            }
            let one = _mm256_set1_ps(1.0);
            let erf = _mm256_div_ps(_mm256_mul_ps(z, p), q);
            let erf = _mm256_max_ps(_mm256_min_ps(erf, one), _mm256_set1_ps(-1.0));
            _mm256_mul_ps(
                _mm256_mul_ps(_mm256_set1_ps(0.5), x),
                _mm256_add_ps(one, erf),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `x·Wᵀ + b` by the definition, in f64.
    fn reference(x: &[f32], weight: &[f32], bias: &[f32], k: usize, n: usize) -> Vec<f32> {
        let m = x.len() / k;
        let mut out = vec![0.0; m * n];
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k)
                    .map(|kk| x[i * k + kk] as f64 * weight[j * k + kk] as f64)
                    .sum();
                out[i * n + j] = (dot + bias[j] as f64) as f32;
            }
        }
        out
    }

    fn values(len: usize, seed: u32) -> Vec<f32> {
        let mut s = seed;
        (0..len)
            .map(|_| {
                s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (s >> 8) as f32 / (1u32 << 24) as f32 - 0.5
            })
            .collect()
    }

    fn exact_gelu(x: f32) -> f32 {
        let x = x as f64;
        (0.5 * x * (1.0 + libm::erf(x / std::f64::consts::SQRT_2))) as f32
    }

    #[test]
    fn gelu_is_within_two_micros_of_the_exact_one_everywhere() {
        // Every 2⁻¹² on [−12, 12], the extremes, and the limits. The worst is in the
        // negative tail, where 1 + erf cancels: 0.5·x times erf's 4·10⁻⁷.
        let grid = (-49_152..=49_152).map(|i| i as f32 / 4096.0);
        let special = [
            f32::MAX,
            f32::MIN,
            1e-30,
            -1e-30,
            0.0,
            -0.0,
            5.6568,
            -5.6569,
        ];
        for x in grid.chain(special) {
            let (got, want) = (gelu(x), exact_gelu(x));
            let tolerance = 2e-6 * (1.0 + want.abs());
            assert!(
                (got - want).abs() <= tolerance,
                "gelu({x}) = {got}, not {want}"
            );
        }
        assert!(gelu(f32::NAN).is_nan());
    }

    #[test]
    fn every_shape_matches_the_definition() {
        // Rows past whole tiles, columns past whole panels.
        for (m, k, n) in [
            (1, 1, 1),
            (3, 5, 7),
            (4, 8, 8),
            (5, 13, 17),
            (9, 32, 24),
            (6, 384, 40),
            // Natively over PARALLEL_WORK: its 12 panels shared out over the threads.
            (37, 384, 96),
        ] {
            let (x, w, b) = (values(m * k, 1), values(n * k, 2), values(n, 3));
            let packed = PackedDense::pack(&w, &b, [k, n], Activation::Identity);
            assert_eq!(packed.unpack(), (w.clone(), b.clone()));
            let got = packed.forward(&x);
            let want = reference(&x, &w, &b, k, n);
            for (g, r) in got.iter().zip(&want) {
                assert!(
                    (g - r).abs() <= 1e-5 * (1.0 + r.abs()),
                    "{m}×{k}×{n}: {g} vs {r}"
                );
            }
            let activated = PackedDense::pack(&w, &b, [k, n], Activation::Gelu).forward(&x);
            for (g, r) in activated.iter().zip(&want) {
                let want = exact_gelu(*r);
                assert!(
                    (g - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "{g} vs {want}"
                );
            }
        }
    }
}
