//! Small models are often as fast on the CPU as on a GPU, and a GPU adapter may be
//! missing or broken, so the backend is a runtime choice with a CPU fallback rather
//! than a compile-time type. burn 0.22 carries the backend in the [`Device`].

use std::fmt;
use std::str::FromStr;

use burn::tensor::{Device, Tensor};

use crate::{Error, Result};

/// Copy a float tensor back to host memory, in row-major order. The one place a
/// device read can fail, so every caller reports it the same way.
pub fn read_back<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .try_into_data()
        .map_err(|e| Error::ReadBack(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| Error::ReadBack(format!("{e:?}")))
}

/// The same copy without blocking: the only kind a browser allows for WebGPU, where
/// a blocking read would freeze the page.
pub async fn read_back_async<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>> {
    tensor
        .into_data_async()
        .await
        .map_err(|e| Error::ReadBack(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| Error::ReadBack(format!("{e:?}")))
}

/// Names (lower case) by which GPU adapters that rasterise on the CPU identify
/// themselves: Chrome's SwiftShader, Mesa's llvmpipe, lavapipe and softpipe,
/// Windows' WARP ("Microsoft Basic Render Driver").
const SOFTWARE_RENDERERS: [&str; 5] = [
    "swiftshader",
    "llvmpipe",
    "lavapipe",
    "softpipe",
    "microsoft basic render driver",
];

/// Whether an adapter's vendor/architecture/device/description text names a
/// software renderer. Browsers report no device type, only these strings.
pub fn is_software_renderer(description: &str) -> bool {
    let lower = description.to_lowercase();
    SOFTWARE_RENDERERS.iter().any(|name| lower.contains(name))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendChoice {
    /// wgpu when an adapter is found, else the CPU.
    Auto,
    Cpu,
    Wgpu,
}

impl FromStr for BackendChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "wgpu" | "webgpu" | "gpu" => Ok(Self::Wgpu),
            other => Err(Error::BackendUnavailable(format!(
                "unknown backend `{other}` (expected auto, cpu or wgpu)"
            ))),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendKind {
    /// burn-flex: pure-Rust CPU backend, also SIMD in wasm.
    Cpu,
    Wgpu,
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Cpu => "cpu",
            Self::Wgpu => "wgpu",
        })
    }
}

/// A device ready to load models on, and what it is.
#[derive(Debug, Clone)]
pub struct Backend {
    pub device: Device,
    pub kind: BackendKind,
    /// Adapter name, type and driver for wgpu; the CPU backend's name otherwise.
    pub adapter: String,
    /// A CPU-emulated GPU adapter (e.g. Mesa lavapipe).
    pub software: bool,
    /// Why `Auto` fell back to the CPU, when it did.
    pub fallback_reason: Option<String>,
}

impl Backend {
    pub fn cpu() -> Self {
        Self {
            device: Device::flex(),
            kind: BackendKind::Cpu,
            adapter: "burn-flex (pure-Rust CPU)".to_owned(),
            software: false,
            fallback_reason: None,
        }
    }

    pub fn open(choice: BackendChoice) -> Result<Self> {
        match choice {
            BackendChoice::Cpu => Ok(Self::cpu()),
            BackendChoice::Wgpu => wgpu(),
            // A software adapter (lavapipe, SwiftShader) emulates a GPU on the CPU and
            // is slower than the CPU backend itself: auto only takes real GPUs.
            BackendChoice::Auto => match wgpu() {
                Ok(b) if !b.software => Ok(b),
                Ok(b) => Ok(Self {
                    fallback_reason: Some(format!(
                        "auto uses a hardware GPU only; wgpu found a software rasterizer: {}",
                        b.adapter
                    )),
                    ..Self::cpu()
                }),
                Err(e) => Ok(Self {
                    fallback_reason: Some(e.to_string()),
                    ..Self::cpu()
                }),
            },
        }
    }
}

/// wgpu's runtime can be initialised once per process; later callers share it.
#[cfg(all(feature = "wgpu", not(target_arch = "wasm32")))]
fn wgpu() -> Result<Backend> {
    use std::sync::OnceLock;
    type Init = std::result::Result<(Device, String, bool), String>;
    static WGPU: OnceLock<Init> = OnceLock::new();
    let init = WGPU.get_or_init(|| {
        let options = Device::wgpu_options();
        // Linux GPUs are reached through Vulkan. burn's automatic choice goes on to
        // probe OpenGL through EGL when Vulkan offers only a software rasterizer,
        // which prints Mesa's display errors (`XDG_RUNTIME_DIR is invalid…`) several
        // times on a machine without a display, and finds only another software
        // rasterizer.
        #[cfg(target_os = "linux")]
        let options = options.graphics_api(burn::tensor::wgpu::WgpuBackend::Vulkan);
        let (device, setup) = options.init_with_setup().map_err(|e| e.to_string())?;
        let info = setup.adapter.get_info();
        let adapter = format!(
            "{} ({:?}, {:?}, driver {} {})",
            info.name, info.device_type, info.backend, info.driver, info.driver_info
        );
        let software = info.device_type == burn::tensor::wgpu::wgpu::DeviceType::Cpu;
        Ok((device, adapter, software))
    });
    match init {
        Ok((device, adapter, software)) => Ok(Backend {
            device: device.clone(),
            kind: BackendKind::Wgpu,
            adapter: adapter.clone(),
            software: *software,
            fallback_reason: None,
        }),
        Err(e) => Err(Error::BackendUnavailable(format!("no wgpu adapter: {e}"))),
    }
}

#[cfg(not(all(feature = "wgpu", not(target_arch = "wasm32"))))]
fn wgpu() -> Result<Backend> {
    Err(Error::BackendUnavailable(
        if cfg!(target_arch = "wasm32") {
            "WebGPU is initialised asynchronously in the browser; use the CPU backend here"
        } else {
            "this build has no `wgpu` feature (rebuild with --features wgpu)"
        }
        .to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::is_software_renderer;

    #[test]
    fn software_renderers_are_recognised_by_their_adapter_strings() {
        // What Chrome's headless SwiftShader and Mesa report, and real GPUs.
        for software in [
            "google, swiftshader, , ",
            "Google, SwiftShader Device (Subzero)",
            "mesa, llvmpipe (LLVM 19.1.7, 256 bits)",
            "Microsoft Basic Render Driver",
        ] {
            assert!(is_software_renderer(software), "{software}");
        }
        for hardware in [
            "nvidia, ampere, , ",
            "apple, metal-3, , Apple M2",
            "intel, gen-12lp, , Intel(R) UHD Graphics 620",
            "no adapter info",
        ] {
            assert!(!is_software_renderer(hardware), "{hardware}");
        }
    }
}
