//! The npm package's WebGPU add-on: the library with the `wgpu` feature.
//! Everything it exports (the `#[wasm_bindgen]` API in `privrank::web`) comes from
//! the library; this crate only links it into a module of its own.

pub use privrank::*;
