//! Once per instance, before any model work: static constructors, gemm's SIMD, and
//! the panic hook (a last resort: inputs are validated so that nothing panics, but if
//! something does, the console says where instead of `unreachable`, and
//! `super::guard` settles the pending promises and closes the instance).
//!
//! burn's GPU stack (cubecl → pliron) registers its IR types with `inventory`, i.e.
//! with wasm static constructors. When no exported function calls `__wasm_call_ctors`,
//! wasm-ld takes the module for a "command" and wraps *every* export — each
//! `__wbindgen_malloc`, each externref slot, each callback — in a call to all the
//! constructors. That made every value crossing into Rust cost about a millisecond
//! (converting 100 candidates took 700 ms). Calling the constructors from an export
//! makes the module a "reactor", and the wrappers go away — but then they must really
//! be called, or the registry is empty and cubecl's WebGPU compiler panics ("Expected
//! type cube.f32 to implement dyn MaybeVectorizedType"). wasm-bindgen's glue runs the
//! start function after instantiation; hosts that skip it (the wasm-bindgen-test
//! runner) are covered by `Ranker.load` and the `Embedder` constructors calling
//! [`start`] too.
//!
//! It also switches gemm (burn-flex's matmuls) to its WebAssembly SIMD kernels when
//! the module is built with simd128 (`.cargo/config.toml`): gemm does not detect the
//! feature itself and otherwise runs its scalar kernels.

use std::sync::atomic::{AtomicBool, Ordering};

use wasm_bindgen::prelude::*;

unsafe extern "C" {
    fn __wasm_call_ctors();
}

static STARTED: AtomicBool = AtomicBool::new(false);

#[wasm_bindgen(start)]
pub fn start() {
    if STARTED.swap(true, Ordering::SeqCst) {
        return;
    }
    // SAFETY: runs once per instance (guarded above), before the library touches
    // anything the constructors register.
    unsafe { __wasm_call_ctors() }
    gemm_common::set_wasm_simd128(cfg!(target_feature = "simd128"));
    super::guard::install();
}
