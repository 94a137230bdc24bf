//! Which device runs the models in this browser. WebGPU is used only when it gives
//! the same answers as the CPU backend (one probe batch, cosine ≥ 0.999), and with
//! `auto` only when it is also faster: for models this small the CPU often wins.

use std::rc::Rc;

use burn::tensor::Device;
use serde::Serialize;

use super::encoder_slot::{self, EncoderSlot};
use super::global;
use super::models::Models;
use crate::encoder::cosine;
use crate::weights::ModelBundle;
use crate::{BackendChoice, Error, Ranker, Result, SentenceEncoder};

/// Texts for the parity check and the timing batch: short product titles, like the
/// real workload.
const PROBE: [&str; 8] = [
    "Red running shoes",
    "Trail running sneakers, waterproof",
    "Wireless noise-cancelling headphones",
    "Toy Story (1995). Animation, Children's, Comedy",
    "Stainless steel chef's knife 20 cm",
    "有机绿茶 250 克",
    "Organic green tea, 250 g",
    "Kids' bicycle helmet with LED light",
];

/// The lowest acceptable cosine between WebGPU and CPU embeddings of the probe.
pub const PARITY: f32 = 0.999;

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// `webgpu` or `cpu`.
    pub backend: String,
    pub adapter: String,
    /// Why WebGPU is not in use, when it was asked for or tried.
    pub fallback_reason: Option<String>,
    /// Lowest WebGPU-vs-CPU cosine over the probe batch.
    pub parity_cosine: Option<f32>,
    /// One warm probe batch on each backend, in ms.
    pub cpu_ms: Option<f64>,
    pub gpu_ms: Option<f64>,
}

pub struct Loaded {
    pub encoder: EncoderSlot,
    pub ranker: Ranker,
    pub report: Report,
}

/// Both models on `device`, built now (WebGPU's probe needs them at once).
async fn on(
    device: &Device,
    bundle: &ModelBundle,
    models: &Models,
) -> Result<(SentenceEncoder, Ranker)> {
    let encoder = encoder_slot::build(bundle, device).await?;
    global::yield_now().await;
    Ok((encoder, ranker_on(device, models)?))
}

fn ranker_on(device: &Device, models: &Models) -> Result<Ranker> {
    Ranker::load_checked(
        &models.ranker,
        &models.ranker_weights,
        models.encoder.parts.model_hash(),
        device,
    )
}

/// Embed the probe twice and time the second (warm) run.
async fn probe(encoder: &SentenceEncoder) -> Result<(Vec<Vec<f32>>, f64)> {
    encoder.embed_async(&PROBE).await?;
    let start = global::now_precise();
    let out = encoder.embed_async(&PROBE).await?;
    Ok((out, global::now_precise() - start))
}

pub async fn choose(choice: BackendChoice, models: &Models) -> Result<Loaded> {
    let cpu = crate::Backend::cpu();
    let ranker = ranker_on(&cpu.device, models)?;
    let mut report = Report {
        backend: "cpu".into(),
        adapter: cpu.adapter.clone(),
        ..Report::default()
    };
    // On the CPU, the encoder waits for the first text to embed (EncoderSlot).
    let on_cpu = |ranker, report| {
        Ok(Loaded {
            encoder: EncoderSlot::pending(Rc::clone(&models.encoder), &cpu.device)?,
            ranker,
            report,
        })
    };
    if choice == BackendChoice::Cpu {
        return on_cpu(ranker, report);
    }
    // `auto` never tries a missing or software adapter: SwiftShader would compile
    // shaders for minutes to lose to the CPU.
    let adapter = global::webgpu_adapter().await;
    if choice == BackendChoice::Auto
        && let Some(reason) = adapter.unusable()
    {
        report.fallback_reason = Some(reason);
        return on_cpu(ranker, report);
    }
    // Both encoders are built now: read the weights once for the two.
    let bundle = models.encoder.bundle().await?;
    let gpu = match webgpu_on(&adapter).await {
        Ok(device) => on(&device, &bundle, models).await,
        Err(e) => Err(e),
    };
    let (gpu_encoder, gpu_ranker) = match gpu {
        Ok(models) => models,
        Err(e) if choice == BackendChoice::Auto => {
            report.fallback_reason = Some(e.to_string());
            return on_cpu(ranker, report);
        }
        Err(e) => return Err(e),
    };
    let encoder = encoder_slot::build(&bundle, &cpu.device).await?;
    let (cpu_out, cpu_ms) = probe(&encoder).await?;
    let (gpu_out, gpu_ms) = probe(&gpu_encoder).await?;
    let parity = cpu_out
        .iter()
        .zip(&gpu_out)
        .map(|(a, b)| cosine(a, b))
        .fold(f32::INFINITY, f32::min);
    report.parity_cosine = Some(parity);
    report.cpu_ms = Some(cpu_ms);
    report.gpu_ms = Some(gpu_ms);
    // NaN (a broken device) fails the check too.
    let agrees = parity >= PARITY;
    let reason = if !agrees {
        let reason = format!(
            "WebGPU disagrees with the CPU backend (lowest cosine {parity:.6} < {PARITY}); using the CPU"
        );
        global::warn(&reason);
        Some(reason)
    } else if choice == BackendChoice::Auto && cpu_ms <= gpu_ms {
        Some(format!(
            "the CPU was faster on a warm batch ({cpu_ms:.1} ms vs WebGPU {gpu_ms:.1} ms)"
        ))
    } else {
        None
    };
    match reason {
        Some(reason) => {
            report.fallback_reason = Some(reason);
            Ok(Loaded {
                encoder: EncoderSlot::ready(encoder),
                ranker,
                report,
            })
        }
        None => {
            report.backend = "webgpu".into();
            report.adapter = match adapter {
                global::Adapter::Hardware { description }
                | global::Adapter::Software { description } => format!("WebGPU ({description})"),
                global::Adapter::None { .. } => "WebGPU".into(),
            };
            Ok(Loaded {
                encoder: EncoderSlot::ready(gpu_encoder),
                ranker: gpu_ranker,
                report,
            })
        }
    }
}

/// burn's wgpu runtime, started once per page or worker and shared after that.
/// Without an adapter the error says so, in every build.
pub async fn webgpu() -> Result<Device> {
    webgpu_on(&global::webgpu_adapter().await).await
}

/// [`webgpu`] with the adapter already asked for (`choose` asks once, for both its
/// `auto` check and this).
async fn webgpu_on(adapter: &global::Adapter) -> Result<Device> {
    if let global::Adapter::None { reason } = adapter {
        return Err(Error::BackendUnavailable(reason.clone()));
    }
    start_wgpu().await
}

#[cfg(feature = "wgpu")]
async fn start_wgpu() -> Result<Device> {
    use std::cell::RefCell;
    thread_local! {
        static DEVICE: RefCell<Option<Device>> = const { RefCell::new(None) };
    }
    if let Some(device) = DEVICE.with(|d| d.borrow().clone()) {
        return Ok(device);
    }
    let device = Device::wgpu_options()
        .init_async()
        .await
        .map_err(|e| Error::BackendUnavailable(format!("WebGPU device: {e}")))?;
    DEVICE.with(|d| *d.borrow_mut() = Some(device.clone()));
    Ok(device)
}

#[cfg(not(feature = "wgpu"))]
async fn start_wgpu() -> Result<Device> {
    Err(Error::BackendUnavailable(
        "this module has no WebGPU (built without the `wgpu` feature; the npm package's \
         privrank.js loads its WebGPU add-on where an adapter is offered)"
            .into(),
    ))
}
