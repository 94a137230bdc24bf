//! The JavaScript API (`pkg/`): the `Ranker` class for pages and workers, and the
//! `Embedder` class for edge workers. This layer converts values and errors and holds
//! no logic; see `engine.rs` and `crate::catalog` for what each call does.

mod demo;
mod device;
mod encoder_slot;
mod engine;
mod error;
mod global;
mod guard;
mod models;
mod pins;
mod reports;
mod start;
mod store;

use std::collections::HashMap;
use std::rc::Rc;

use js_sys::{Function, Promise, Reflect};
use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::candidates;
use crate::input::Value;
use crate::rank::RankOptions;
pub use device::PARITY;
use engine::{Engine, Experiment, InterestOptions, LoadOptions, ReportOptions};
use guard::run;
pub use models::CACHE_NAME;

#[wasm_bindgen(typescript_custom_section)]
const TS_TYPES: &'static str = r#"
export type Backend = 'auto' | 'webgpu' | 'cpu';
export type EventKind = 'view' | 'click' | 'cart' | 'purchase' | 'search' | 'impression';

export interface LoadOptions {
  /** URL of the model set; default: the package's own `models/default.json`. */
  modelUrl?: string;
  backend?: Backend;
  /** Called while model files download (and once per file served from the cache). */
  onProgress?: (p: { file: string; loaded: number; total?: number; cached: boolean }) => void;
  /** IndexedDB database name (default 'privrank'). */
  storeName?: string;
  retention?: { maxEvents?: number; maxAgeDays?: number };
  /** Most candidates one rank() call accepts (default 1000). */
  maxCandidates?: number;
  /** Re-fetch the manifests instead of using cached copies. */
  refresh?: boolean;
  /**
   * How long a model download may wait for a response, or for its next bytes,
   * before it fails with `ModelFetch` (ms; default 30000, at most 600000).
   */
  fetchTimeoutMs?: number;
  /**
   * The ε this origin's `report()`s may spend on this device in a rolling day
   * (default 4, at most 8). The budget is the origin's, whatever `storeName`.
   */
  privacyBudget?: number;
  /**
   * Where `report()` sends each report (the edge worker's `/report`), relative to
   * the page or absolute; none: reports are returned, not sent. The report is the
   * library's only request besides model files: a `NoisedReport` as text/plain,
   * keepalive, without cookies or referrer.
   */
  collector?: string;
}

export interface ShopperEvent {
  kind: EventKind;
  /** Product id; optional for 'search' (the query is used). */
  itemId?: string;
  /** Product title, or the search query. */
  title: string;
  category?: string;
  /** For 'impression': the ad's campaign (campaign frequency caps count by it). */
  campaign?: string;
  /** ms since the epoch; default now. */
  ts?: number;
  // No other field: an unknown one is a `BadEvent` naming it.
}

export interface Candidate {
  id: string;
  title: string;
  category?: string;
  /** Price per click, for the 'ecpm' objective. */
  bid?: number;
  /** Named features in [0, 1]; see modelInfo.candidateFeatures. */
  features?: Record<string, number>;
  campaign?: string;
  advertiser?: string;
  /** The ad server vouches this ad targets no group smaller than k shoppers. */
  kAnonymous?: boolean;
  /** Server click-rate prior in [0, 1], blended in during cold start. */
  prior?: number;
  /**
   * The campaign's budget pacing multiplier in [0, 1], set by the collector's
   * `/candidates`: the 'ecpm' objective ranks by ctr × bid × pacing (default 1).
   */
  pacing?: number;
  /** A house ad, shown only when no other candidate may be. */
  fallback?: boolean;
  /** Up to 8 ways to present the ad; the one closest to the shopper's interests is picked. */
  creatives?: Creative[];
  /**
   * The ad's item-to-item neighbours from the ad server's aggregate co-occurrence
   * (`privrank related`), matched on the device against the history's item ids.
   * At most 100, distinct item ids, weights in [0, 1].
   */
  related?: Related[];
  /**
   * SHA-256 of the encoder that made `embedding` (and the creatives' embeddings);
   * required with them. Matching `modelInfo.encoderHash`, they are used as they
   * are and the device embeds nothing for this candidate (about 630 bytes each
   * with the hash); otherwise `rank()` fails with `EncoderMismatch`, or embeds the
   * texts itself under `onEncoderMismatch: 'embed'`.
   */
  encoder?: string;
  /** The embedding of the title (with its category), as the device would make it. */
  embedding?: PackedEmbedding;
  /**
   * The page's own data about the ad (price, image, link): any JSON, never read.
   * Every other field must be one of the above; an unknown one (`advertizer`) is
   * a `BadCandidate` naming it, with the field it was likely meant to be.
   */
  extras?: unknown;
}

export interface Related { itemId: string; weight: number; }

/**
 * An embedding packed for the wire: one signed byte per component (base64, 512
 * characters for 384 components) times one scale; no component is off by more than
 * half a step. Made by `Embedder.embedPacked`, the edge worker's `/candidates` and
 * `privrank embed-catalog --format candidates`.
 */
export interface PackedEmbedding { int8: string; scale: number; }

export interface Creative {
  id: string; text: string;
  /** The text's embedding, made by the candidate's `encoder`. */
  embedding?: PackedEmbedding;
}

export interface FrequencyCap { scope: 'ad' | 'campaign'; window: 'hour' | 'day' | 'week'; max: number; }

export type Exploration =
  | { kind: 'greedy' }
  | { kind: 'epsilonGreedy'; epsilon: number }
  | { kind: 'thompson'; strength: number };

/** Placement rules applied on the device after scoring; all off by default. */
export interface Policy {
  /** Counted from this device's `impression` events. */
  caps?: FrequencyCap[];
  /** Show only `kAnonymous` candidates (a `fallback` one when none is). */
  requireKAnonymous?: boolean;
  /** MMR λ in [0, 1]: 1 = plain order, lower = more variety. */
  diversity?: number;
  maxPerAdvertiser?: number;
  maxPerCampaign?: number;
  /** Not combinable with diversity or per-owner caps. */
  exploration?: Exploration;
  /** Exploration seed (default: from `now`). */
  seed?: number;
  /** The personal score's weight grows 0 → 1 over this many history events. */
  coldStartEvents?: number;
}

export interface RankOptions {
  k?: number;
  explain?: boolean;
  objective?: 'ctr' | 'ecpm';
  /** Ranking time in ms since the epoch (default now). */
  now?: number;
  policy?: Policy;
  /** Candidates embedded by another encoder: refuse (default) or embed on the device. */
  onEncoderMismatch?: 'error' | 'embed';
}

/** `Ranker.debugCounters()`: work done since the ranker was loaded. */
export interface DebugCounters {
  /** Texts the encoder embedded (history items, candidates, `embed()`); attached and
   *  cached embeddings do not count. */
  textsEncoded: number;
  /** Whether the encoder is built: on the CPU not until a text needs embedding, so a
   *  visit whose history and candidates come embedded never builds it. */
  encoderBuilt: boolean;
}

/**
 * A history event behind an ad: `weight` is how much more this ad attended to it than
 * the request's ads did on average, as a share (the weights sum to 1 over the history).
 */
export interface Reason { itemId: string; title: string; kind: EventKind; weight: number; }
export interface Ranked {
  id: string; score: number; ctr: number; reasons?: Reason[];
  /** With exploration: the probability this ad was picked for its slot. */
  propensity?: number;
  /** A house ad shown because nothing else was allowed. */
  fallback?: boolean;
  /** The id of the creative to show, when the candidate offered creatives. */
  creative?: string;
}

export interface ModelInfo {
  encoder: string; encoderHash: string; ranker: string; dim: number; maxHistory: number;
  candidateFeatures: string[]; storeName: string; modelUrl: string;
  backend: 'webgpu' | 'cpu'; adapter: string;
  /** Why WebGPU is not in use, when it was asked for or tried; else null. */
  fallbackReason: string | null;
  /** The parity check, when WebGPU was tried; else null. */
  parityCosine: number | null; cpuMs: number | null; gpuMs: number | null;
}

export interface Interest { tag: string; weight: number; }
export interface InterestOptions { halfLifeDays?: number; k?: number; }
export interface Experiment { salt: string; arms: { label: string; weight?: number }[]; }
/**
 * What one impression's report is about. Labels are 1 to 64 letters, digits or
 * `_-.:` (no free text). The budget that pays is this origin's on this device
 * (`privacyBudget` at load).
 */
export interface ReportOptions {
  experiment: string;
  /** The arm this device was assigned (`arm()`). */
  arm: string;
  creative?: string;
  campaign?: string;
  /** Privacy parameter of this report (default 1). */
  epsilon?: number;
}
/**
 * Everything that leaves the device for one impression: the labels, the UTC day,
 * ε and the noised click bit (the truth with probability e^ε / (1 + e^ε)).
 */
export interface NoisedReport {
  experiment: string; arm: string; creative?: string; campaign?: string;
  /** `YYYY-MM-DD`, UTC. */
  day: string;
  epsilon: number;
  clicked: boolean;
}
/** `sent`: whether it went to the collector; `spent`, `total`: ε over the rolling day. */
export interface Report { report: NoisedReport; sent: boolean; spent: number; total: number; }
/** A collector's count of the reports with one set of labels, day and ε. */
export interface Tally {
  experiment: string; arm: string; creative: string; campaign: string; day: string;
  epsilon: number; reports: number; clicked: number;
}
export interface RateEstimate {
  /** The debiased click rate (unbiased, so it may leave [0, 1] on few reports). */
  ctr: number;
  /** The 95% interval, clipped to [0, 1]. */
  low: number; high: number; stderr: number; reports: number; epsilon: number[];
}
/** A campaign the collector paces: its cost per click and budget for a UTC day. */
export interface PacedCampaign { campaign: string; bid: number; dailyBudget: number; }
/** A campaign's pacing state for one UTC day, as the collector stores it. */
export interface Pacer {
  day: string;
  /** In [0, 1]: what `/candidates` attaches to the campaign's ads as `pacing`. */
  multiplier: number;
  integral: number; updatedMs: number;
  /** The spend estimated at the last update, and the target then. */
  spent: number; target: number;
}
export interface Estimates {
  experiment: string;
  arms: ({ arm: string; creative: string | null } & RateEstimate)[];
  campaigns: { campaign: string; reports: number; clicks: number; clicksLow: number;
    clicksHigh: number; bid: number | null; spend: number | null }[];
}

/** `Embedder.load` options; the default backend is 'cpu'. */
export type WebGpuAdapter =
  | { kind: 'none'; reason: string }
  | { kind: 'software' | 'hardware'; description: string };

export interface EmbedderOptions { backend?: 'cpu' | 'webgpu'; }
/** One line of `Embedder.embedCatalog`, as `privrank embed-catalog` prints it. */
export interface ItemEmbedding { id: string; encoder: string; embedding: number[]; }

/** `demoData(inter, item, user, perGenre?)`: the demo storefront's `www/data/` files
 *  from MovieLens-100k's `.inter`, `.item` and `.user` texts (scripts/demo-data.mjs). */
export interface DemoData {
  files: { 'catalog.json': string; 'candidates.json': string };
  movies: number; promotions: number; genres: number;
}

/** Thrown by every method: `code` is stable, `message` is for people. */
export interface PrivrankError extends Error {
  code: 'BadCandidate' | 'BadEvent' | 'BadInput' | 'BadOptions' | 'TooManyCandidates'
    | 'TooManyInputs' | 'ModelHashMismatch' | 'ModelFetch' | 'BadModel' | 'ModelMismatch'
    | 'BackendUnavailable' | 'BackendError' | 'StorageQuota' | 'StorageError'
    | 'PrivacyBudgetSpent' | 'ArmLimit' | 'ReportNotSent' | 'BadData' | 'EncoderMismatch'
    | 'Internal';
  details?: { index: number; field: string; reason: string }[];
}
"#;

// The package's one inline JavaScript snippet. One, not one per function: the CPU
// core and the WebGPU add-on share `pkg/snippets/`, and wasm-bindgen numbers
// several inline snippets in whatever order each build emits them.
#[wasm_bindgen(inline_js = "export function default_model_url() { \
    return new URL('../../models/default.json', import.meta.url).href; } \
    export function stringify(value) { \
    return JSON.stringify(value, (key, x) => \
        typeof x === 'number' && !Number.isFinite(x) ? '\\u0000privrank:' + x : x); }")]
extern "C" {
    /// `pkg/models/default.json`, found from this module's own URL (wasm-bindgen puts
    /// inline snippets two folders below the package root).
    fn default_model_url() -> String;
    /// `JSON.stringify` with non-finite numbers kept as [`NON_FINITE`] strings; its
    /// exceptions come back as `Err` (the only way the package touches an argument).
    #[wasm_bindgen(catch)]
    fn stringify(value: &JsValue) -> Result<JsValue, JsValue>;
}

/// Ranks ad candidates against the shopper's history, on this device.
#[wasm_bindgen]
pub struct Ranker {
    engine: Rc<Engine>,
}

/// An options object, with serde's checks (unknown fields, types, ranges) applied:
/// it goes through JSON because reading a JS object straight into a struct only looks
/// at the struct's own fields, so a misspelt option would pass unnoticed.
fn from_js<T: serde::de::DeserializeOwned + Default>(
    value: JsValue,
    what: &str,
) -> Result<T, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(T::default());
    }
    read(value, what, crate::Error::BadOptions)
}

/// A value read as [`from_js`] reads options, where there is no default (so
/// `undefined` is an error too), failing as `kind`.
fn read<T: serde::de::DeserializeOwned>(
    value: JsValue,
    what: &str,
    kind: fn(String) -> crate::Error,
) -> Result<T, JsValue> {
    let bad = |e: String| error::to_js(kind(format!("{what}: {e}")));
    let loose = loose(&value, what, kind)?;
    serde_json::from_value(loose.to_json().map_err(bad)?).map_err(|e| bad(e.to_string()))
}

/// The longest JSON text one argument may make, in UTF-16 units: checked before the
/// text is copied into wasm memory, whose pages never shrink.
const MAX_INPUT_CHARS: u32 = 32 * 1024 * 1024;

/// A JS value as loose data. The value is touched only by the engine's
/// `JSON.stringify`, whose exceptions (a throwing getter or Proxy, a BigInt, a
/// cycle, nesting deeper than the engine's stack) come back as errors: a JS
/// exception must never unwind through wasm frames, which leaves the instance's
/// stack pointer and borrows wrong and a pending promise unsettled. As in JSON,
/// functions, Symbols and `undefined` fields are dropped; NaN and ±Infinity stay
/// numbers (for the checks to refuse). The text's length is checked before it is
/// copied into wasm memory, and its nesting by [`Value`]'s reader.
fn loose(value: &JsValue, what: &str, kind: fn(String) -> crate::Error) -> Result<Value, JsValue> {
    let bad = |e: String| error::to_js(kind(format!("{what}: {e}")));
    let json = stringify(value).map_err(|e| {
        bad(if e.is_instance_of::<js_sys::RangeError>() {
            // The engine's own stack ran out: nesting far past what is read anyway.
            format!(
                "nested deeper than {} levels (JSON.stringify ran out of stack)",
                crate::input::MAX_DEPTH
            )
        } else {
            format!("not JSON data ({})", error::describe(&e))
        })
    })?;
    let Some(json) = json.dyn_ref::<js_sys::JsString>() else {
        return Ok(Value::Null); // undefined, or a function alone
    };
    let chars = json.length();
    if chars > MAX_INPUT_CHARS {
        return Err(bad(format!(
            "{chars} characters of JSON, over the limit of {MAX_INPUT_CHARS}"
        )));
    }
    let mut value: Value =
        serde_json::from_str(&String::from(json)).map_err(|e| bad(e.to_string()))?;
    restore_non_finite(&mut value);
    Ok(value)
}

/// Marks a number JSON cannot hold, so that a NaN bid is refused as NaN rather
/// than read as a missing field.
const NON_FINITE: &str = "\u{0}privrank:";

/// The [`NON_FINITE`] strings back into numbers.
fn restore_non_finite(value: &mut Value) {
    match value {
        Value::Text(text) => {
            let number = match text.strip_prefix(NON_FINITE) {
                Some("NaN") => f64::NAN,
                Some("Infinity") => f64::INFINITY,
                Some("-Infinity") => f64::NEG_INFINITY,
                _ => return,
            };
            *value = Value::Number(number);
        }
        Value::List(items) => items.iter_mut().for_each(restore_non_finite),
        Value::Map(fields) => fields.values_mut().for_each(restore_non_finite),
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// Vectors as an array of `Float32Array`s (copies, not views of wasm memory).
fn float_arrays(vectors: Vec<Vec<f32>>) -> JsValue {
    let array = js_sys::Array::new();
    for v in vectors {
        array.push(&js_sys::Float32Array::from(v.as_slice()));
    }
    JsValue::from(array)
}

/// Results as plain JS objects, through one JSON string: serde-wasm-bindgen's
/// serializer crosses into JS per field, and took 150 ms for 100 ranked candidates
/// (this takes 1 ms; the ranking itself about 15 ms).
fn to_js<T: Serialize>(value: &T) -> Result<JsValue, JsValue> {
    let json = serde_json::to_string(value)
        .map_err(|e| error::to_js(crate::Error::BadInput(e.to_string())))?;
    js_sys::JSON::parse(&json)
        .map_err(|_| error::to_js(crate::Error::BadInput("result is not JSON".into())))
}

/// A JS array of anything, as loose values to be checked field by field (read by
/// [`loose`], so the array's size in bytes is bounded before it is copied).
fn list(value: JsValue, what: &'static str, max: usize) -> Result<Vec<Value>, JsValue> {
    match loose(&value, what, crate::Error::BadInput)? {
        Value::List(items) if items.len() > max => Err(error::to_js(crate::Error::TooMany {
            what,
            count: items.len(),
            max,
        })),
        Value::List(items) => Ok(items),
        _ => Err(error::to_js(crate::Error::BadInput(format!(
            "{what} must be an array"
        )))),
    }
}

#[wasm_bindgen]
impl Ranker {
    /// Fetch (or take from the Cache API) and verify the models, open the history
    /// store, and pick the backend.
    #[wasm_bindgen(unchecked_return_type = "Promise<Ranker>")]
    pub fn load(
        #[wasm_bindgen(unchecked_optional_param_type = "LoadOptions")] options: JsValue,
    ) -> Promise {
        start::start();
        // The callback is not data: JSON leaves it out of the options read below.
        let progress = options
            .is_object()
            .then(|| Reflect::get(&options, &"onProgress".into()).ok())
            .flatten()
            .and_then(|f| f.dyn_into::<Function>().ok());
        let options: Result<LoadOptions, JsValue> = from_js(options, "Ranker.load options");
        run(async move {
            let engine = Engine::load(options?, default_model_url(), progress)
                .await
                .map_err(error::to_js)?;
            Ok(Ranker {
                engine: Rc::new(engine),
            })
        })
    }

    /// Append an event to the on-device history; resolves to the stored event.
    #[wasm_bindgen(unchecked_return_type = "Promise<ShopperEvent>")]
    pub fn record(
        &self,
        #[wasm_bindgen(unchecked_param_type = "ShopperEvent")] event: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        run(async move {
            let value = loose(&event, "event", crate::Error::BadInput)?;
            to_js(&engine.record(value).await.map_err(error::to_js)?)
        })
    }

    /// Score and order candidates, best first.
    #[wasm_bindgen(unchecked_return_type = "Promise<Ranked[]>")]
    pub fn rank(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Candidate[]")] candidates: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "RankOptions")] options: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        run(async move {
            let candidates = list(candidates, "candidates", engine.max_candidates)?;
            let options: RankOptions = from_js(options, "rank options")?;
            to_js(
                &engine
                    .rank(candidates, options)
                    .await
                    .map_err(error::to_js)?,
            )
        })
    }

    /// The stored events, oldest first.
    #[wasm_bindgen(unchecked_return_type = "Promise<ShopperEvent[]>")]
    pub fn history(&self) -> Promise {
        let engine = self.engine.clone();
        run(async move { to_js(&engine.history().await.map_err(error::to_js)?) })
    }

    /// Erase the history and the embedding cache.
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn forget(&self) -> Promise {
        let engine = self.engine.clone();
        run(async move {
            engine.forget().await.map_err(error::to_js)?;
            Ok::<_, JsValue>(JsValue::UNDEFINED)
        })
    }

    /// Unit-length sentence embeddings, interchangeable with the native CLI's.
    #[wasm_bindgen(unchecked_return_type = "Promise<Float32Array[]>")]
    pub fn embed(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        run(async move {
            let texts = list(texts, "texts", engine.max_candidates)?;
            let out = engine.embed(texts).await.map_err(error::to_js)?;
            Ok(float_arrays(out))
        })
    }

    /// The shopper's top interest tags from the stored history (recency- and
    /// kind-weighted; shares sum to 1), for the page to use locally.
    #[wasm_bindgen(unchecked_return_type = "Promise<Interest[]>")]
    pub fn interests(
        &self,
        #[wasm_bindgen(unchecked_optional_param_type = "InterestOptions")] options: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        run(async move {
            let options: InterestOptions = from_js(options, "interests options")?;
            to_js(&engine.interests(options).await.map_err(error::to_js)?)
        })
    }

    /// This device's arm of an experiment: only the label leaves the library.
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn arm(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Experiment")] experiment: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        run(async move {
            let experiment: Experiment = from_js(experiment, "experiment")?;
            let label = engine.arm(experiment).await.map_err(error::to_js)?;
            Ok(JsValue::from_str(&label))
        })
    }

    /// A randomized-response report of whether the shopper clicked an impression,
    /// charged to the origin's privacy budget on this device and sent to the
    /// collector named at load.
    #[wasm_bindgen(unchecked_return_type = "Promise<Report>")]
    pub fn report(
        &self,
        clicked: bool,
        #[wasm_bindgen(unchecked_param_type = "ReportOptions")] options: JsValue,
    ) -> Promise {
        let engine = self.engine.clone();
        run(async move {
            let options: ReportOptions = from_js(options, "report options")?;
            to_js(
                &engine
                    .report(clicked, options)
                    .await
                    .map_err(error::to_js)?,
            )
        })
    }

    /// Work counted since load, for tests and benchmarks (not timing).
    #[wasm_bindgen(js_name = debugCounters, unchecked_return_type = "DebugCounters")]
    pub fn debug_counters(&self) -> JsValue {
        let counters = serde_json::json!({
            "textsEncoded": self.engine.texts_encoded.get(),
            "encoderBuilt": self.engine.encoder_built(),
        });
        to_js(&counters).unwrap_or(JsValue::UNDEFINED)
    }

    /// `'webgpu'` or `'cpu'`.
    #[wasm_bindgen(getter)]
    pub fn backend(&self) -> String {
        self.engine.info.backend.backend.clone()
    }

    #[wasm_bindgen(getter, js_name = modelInfo, unchecked_return_type = "ModelInfo")]
    pub fn model_info(&self) -> JsValue {
        to_js(&self.engine.info).unwrap_or(JsValue::NULL)
    }
}

/// Embeds catalogs where there is no page and no IndexedDB: edge workers (workerd),
/// Node, Deno. It is built from model bytes the host already holds (bundled modules,
/// object storage), so it makes no request of its own. It runs on the CPU unless
/// `Embedder.load` asks for WebGPU.
#[wasm_bindgen]
pub struct Embedder {
    encoder: Rc<crate::SentenceEncoder>,
}

#[wasm_bindgen]
impl Embedder {
    /// `manifest`: the encoder manifest (`student.json`) as text or bytes;
    /// `files`: the bytes of each file it names, by name. Every file is checked
    /// against the manifest's SHA-256 before use.
    #[wasm_bindgen(js_name = fromFiles)]
    pub fn from_files(
        #[wasm_bindgen(unchecked_param_type = "string | ArrayBuffer | Uint8Array")]
        manifest: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Record<string, ArrayBuffer | Uint8Array>")]
        files: JsValue,
    ) -> Result<Embedder, JsValue> {
        start::start();
        let bundle = bundle_from_files(&manifest, &files)?;
        Embedder::on(&bundle, &crate::Backend::cpu().device)
    }

    /// As `fromFiles`, on the backend asked for: `{ backend: 'webgpu' }` runs on the
    /// browser's GPU and is refused (`BackendUnavailable`) where no WebGPU adapter is
    /// offered; `'cpu'` (the default) is `fromFiles`.
    #[wasm_bindgen(unchecked_return_type = "Promise<Embedder>")]
    pub fn load(
        #[wasm_bindgen(unchecked_param_type = "string | ArrayBuffer | Uint8Array")]
        manifest: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Record<string, ArrayBuffer | Uint8Array>")]
        files: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "EmbedderOptions")] options: JsValue,
    ) -> Promise {
        start::start();
        let bundle = bundle_from_files(&manifest, &files);
        let options: Result<EmbedderOptions, JsValue> = from_js(options, "Embedder.load options");
        run(async move {
            let (bundle, options) = (bundle?, options?);
            let device = match options.backend {
                EmbedderBackend::Cpu => crate::Backend::cpu().device,
                EmbedderBackend::Webgpu => device::webgpu().await.map_err(error::to_js)?,
            };
            Embedder::on(&bundle, &device)
        })
    }

    /// `[{id, title, category?, creatives?}]` (other fields ignored) → one line per item, in
    /// order; every bad field is reported at once (`BadCandidate` with `details`).
    #[wasm_bindgen(js_name = embedCatalog, unchecked_return_type = "Promise<ItemEmbedding[]>")]
    pub fn embed_catalog(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Candidate[]")] items: JsValue,
    ) -> Promise {
        let encoder = self.encoder.clone();
        run(async move {
            let max = candidates::DEFAULT_MAX_CANDIDATES;
            let values = list(items, "catalog items", max)?;
            let out = crate::catalog::embed(&encoder, &values, max)
                .await
                .map_err(error::to_js)?;
            to_js(&out)
        })
    }

    /// The distinct texts the device would embed for these candidates (titles with
    /// their category, then creatives), checked as `embedCatalog` checks them: what
    /// an edge looks up in its cache before `embedPacked` embeds the rest.
    #[wasm_bindgen(js_name = candidateTexts, unchecked_return_type = "string[]")]
    pub fn candidate_texts(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Candidate[]")] items: JsValue,
    ) -> Result<JsValue, JsValue> {
        guard::check()?;
        let (_, items) = catalog_items(items)?;
        to_js(&crate::catalog::distinct_texts(&items))
    }

    /// Texts embedded and packed for the wire, in order.
    #[wasm_bindgen(js_name = embedPacked, unchecked_return_type = "Promise<PackedEmbedding[]>")]
    pub fn embed_packed(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue,
    ) -> Promise {
        let encoder = self.encoder.clone();
        run(async move {
            let max = candidates::DEFAULT_MAX_CANDIDATES * (1 + candidates::MAX_CREATIVES);
            let values = list(texts, "texts", max)?;
            let texts = candidates::texts(&values, max).map_err(error::to_js)?;
            let out = crate::catalog::embed_packed(&encoder, &texts)
                .await
                .map_err(error::to_js)?;
            to_js(&out)
        })
    }

    /// The candidates as `rank()` takes them, every field kept, with this encoder's
    /// hash and the packed embedding of each text attached (`packed`: by text, as
    /// `candidateTexts` listed them).
    #[wasm_bindgen(js_name = attachEmbeddings, unchecked_return_type = "Candidate[]")]
    pub fn attach_embeddings(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Candidate[]")] items: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Record<string, PackedEmbedding>")] packed: JsValue,
    ) -> Result<JsValue, JsValue> {
        guard::check()?;
        let (values, items) = catalog_items(items)?;
        let packed: HashMap<String, crate::packed::Packed> =
            read(packed, "packed embeddings", crate::Error::BadInput)?;
        let out = crate::catalog::attach(&values, &items, self.encoder.model_hash(), |t| {
            packed.get(t).cloned()
        })
        .map_err(error::to_js)?;
        to_js(&out)
    }

    /// Sentence embeddings of free texts, as `Ranker.embed` (normalised or not as
    /// the model's manifest says).
    #[wasm_bindgen(unchecked_return_type = "Promise<Float32Array[]>")]
    pub fn embed(
        &self,
        #[wasm_bindgen(unchecked_param_type = "string[]")] texts: JsValue,
    ) -> Promise {
        let encoder = self.encoder.clone();
        run(async move {
            let max = candidates::DEFAULT_MAX_CANDIDATES;
            let values = list(texts, "texts", max)?;
            let texts = candidates::texts(&values, max).map_err(error::to_js)?;
            let out = encoder.embed_async(&texts).await.map_err(error::to_js)?;
            Ok(float_arrays(out))
        })
    }

    /// SHA-256 of the encoder's weights: vectors from different hashes do not mix.
    #[wasm_bindgen(getter)]
    pub fn encoder(&self) -> String {
        self.encoder.model_hash().to_owned()
    }

    #[wasm_bindgen(getter)]
    pub fn dim(&self) -> usize {
        self.encoder.dim()
    }
}

impl Embedder {
    fn on(bundle: &crate::ModelBundle, device: &burn::tensor::Device) -> Result<Embedder, JsValue> {
        let encoder = crate::SentenceEncoder::load(bundle, device).map_err(error::to_js)?;
        Ok(Embedder {
            encoder: Rc::new(encoder),
        })
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EmbedderOptions {
    #[serde(default)]
    backend: EmbedderBackend,
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
enum EmbedderBackend {
    #[default]
    Cpu,
    Webgpu,
}

/// Candidates to embed at the edge: the records as sent and each one checked.
fn catalog_items(
    items: JsValue,
) -> Result<(Vec<Value>, Vec<crate::catalog::CatalogItem>), JsValue> {
    let max = candidates::DEFAULT_MAX_CANDIDATES;
    let values = list(items, "candidates", max)?;
    let checked = crate::catalog::parse(&values, max, crate::catalog::Purpose::Candidates)
        .map_err(error::to_js)?;
    Ok((values, checked))
}

/// The encoder manifest and the bytes of each file it names, checked against the
/// manifest's SHA-256s.
fn bundle_from_files(manifest: &JsValue, files: &JsValue) -> Result<crate::ModelBundle, JsValue> {
    guard::check()?;
    let manifest =
        crate::config::ModelManifest::from_json("manifest", &bytes(manifest, "manifest")?)
            .map_err(error::to_js)?;
    let names = manifest.files.clone();
    let file = |name: &str| -> Result<Vec<u8>, JsValue> {
        let value = Reflect::get(files, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED);
        if value.is_undefined() || value.is_null() {
            return Err(error::to_js(crate::Error::BadInput(format!(
                "files has no `{name}`, which the manifest names"
            ))));
        }
        bytes(&value, name)
    };
    let config = file(&names.config.name)?;
    crate::ModelBundle::from_bytes(
        manifest,
        &config,
        file(&names.tokenizer.name)?,
        file(&names.weights.name)?,
    )
    .map_err(error::to_js)
}

/// Text or binary, as bytes: a string, an ArrayBuffer or a Uint8Array (a Node
/// Buffer is one). Anything else is refused before it is read: `new
/// Uint8Array(x)` of an arbitrary object would run its getters inside a wasm call.
fn bytes(value: &JsValue, what: &str) -> Result<Vec<u8>, JsValue> {
    if let Some(text) = value.as_string() {
        Ok(text.into_bytes())
    } else if let Some(buffer) = value.dyn_ref::<js_sys::ArrayBuffer>() {
        Ok(js_sys::Uint8Array::new(buffer).to_vec())
    } else if let Some(array) = value.dyn_ref::<js_sys::Uint8Array>() {
        Ok(array.to_vec())
    } else {
        Err(error::to_js(crate::Error::BadInput(format!(
            "{what} must be text, an ArrayBuffer or a Uint8Array"
        ))))
    }
}

/// The collector's check of one received report (`POST /report`): the tally it
/// adds to, or a `BadInput` error naming what is wrong.
#[wasm_bindgen(js_name = checkReport, unchecked_return_type = "Tally")]
pub fn check_report(
    #[wasm_bindgen(unchecked_param_type = "unknown")] value: JsValue,
) -> Result<JsValue, JsValue> {
    guard::check()?;
    let report: crate::privacy::NoisedReport = read(value, "report", crate::Error::BadInput)?;
    report.check().map_err(error::to_js)?;
    to_js(&crate::estimate::tally_of(&report))
}

/// Per-arm rates and per-campaign spend of one experiment from the collector's
/// tallies; `bids`: campaign → cost per click.
#[wasm_bindgen(unchecked_return_type = "Estimates")]
pub fn estimates(
    #[wasm_bindgen(unchecked_param_type = "string")] experiment: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Tally[]")] tallies: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Record<string, number>")] bids: JsValue,
) -> Result<JsValue, JsValue> {
    guard::check()?;
    let experiment: String = read(experiment, "experiment", crate::Error::BadInput)?;
    let tallies: Vec<crate::estimate::Tally> = read(tallies, "tallies", crate::Error::BadInput)?;
    let bids: std::collections::BTreeMap<String, f64> = read(bids, "bids", crate::Error::BadInput)?;
    to_js(&crate::estimate::estimates(&experiment, &tallies, &bids).map_err(error::to_js)?)
}

/// The collector's pacing update for one campaign: today's spend estimated from
/// its tallies, and its pacer (`null` for a new one) moved on to `now`
/// (`crate::pacing::step`, with the default controller).
#[wasm_bindgen(unchecked_return_type = "Pacer")]
pub fn pace(
    #[wasm_bindgen(unchecked_param_type = "Pacer | null")] state: JsValue,
    #[wasm_bindgen(unchecked_param_type = "Tally[]")] tallies: JsValue,
    #[wasm_bindgen(unchecked_param_type = "PacedCampaign")] campaign: JsValue,
    #[wasm_bindgen(unchecked_param_type = "number")] now: JsValue,
) -> Result<JsValue, JsValue> {
    guard::check()?;
    let state: Option<crate::pacing::Pacer> = if state.is_null() || state.is_undefined() {
        None
    } else {
        Some(read(state, "pacer", crate::Error::BadInput)?)
    };
    let tallies: Vec<crate::estimate::Tally> = read(tallies, "tallies", crate::Error::BadInput)?;
    let campaign: crate::pacing::Campaign = read(campaign, "campaign", crate::Error::BadInput)?;
    let now: f64 = read(now, "now", crate::Error::BadInput)?;
    let config = crate::pacing::PacingConfig::default();
    to_js(&crate::pacing::step(state, &tallies, &campaign, &config, now).map_err(error::to_js)?)
}

/// What WebGPU this page or worker offers, as `backend: 'auto'` judges it: only a
/// `'hardware'` adapter is worth the WebGPU add-on's download; `'software'` is a
/// CPU rasteriser (SwiftShader, llvmpipe), slower than the CPU backend.
#[wasm_bindgen(js_name = webgpuAdapter, unchecked_return_type = "Promise<WebGpuAdapter>")]
pub fn webgpu_adapter() -> Promise {
    run(async { to_js(&global::webgpu_adapter().await) })
}

/// For tests of the trap guard only (not in the TypeScript declarations): panics,
/// which closes this instance as any panic would.
#[wasm_bindgen(js_name = __privrankPanicForTests, skip_typescript)]
pub fn panic_for_tests(message: String) {
    panic!("{message}");
}
