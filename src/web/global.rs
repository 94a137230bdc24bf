//! The same code runs on a page and in a Web Worker, whose global objects differ;
//! the few globals the library needs are looked up by name on whichever it is.

use js_sys::{Function, Reflect};
use serde::Serialize;
use wasm_bindgen::{JsCast, JsValue};

pub fn get(name: &str) -> Option<JsValue> {
    Reflect::get(&js_sys::global(), &name.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

/// Milliseconds from `performance.now()` (high resolution, monotonic).
pub fn now_precise() -> f64 {
    get("performance")
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

/// The document's (or worker script's) URL, to resolve relative model URLs against.
pub fn base_url() -> String {
    get("location")
        .and_then(|l| Reflect::get(&l, &"href".into()).ok())
        .and_then(|h| h.as_string())
        .unwrap_or_default()
}

/// `setTimeout(callback, ms, argument)` on this global; its id, or `None` where
/// there is no timer (then nothing fires).
pub fn set_timeout(callback: &Function, argument: &JsValue, ms: u32) -> Option<f64> {
    let set = get("setTimeout")?.dyn_into::<Function>().ok()?;
    let args = js_sys::Array::of3(callback, &ms.into(), argument);
    set.apply(&js_sys::global(), &args).ok()?.as_f64()
}

/// `clearTimeout(id)`.
pub fn clear_timeout(id: f64) {
    if let Some(clear) = get("clearTimeout").and_then(|f| f.dyn_into::<Function>().ok()) {
        let _ = clear.call1(&js_sys::global(), &id.into());
    }
}

/// `promise`'s value, or its rejection (`Some`), or `None` when it has not settled
/// within `ms`.
pub async fn within(
    promise: js_sys::Promise,
    ms: u32,
) -> std::result::Result<JsValue, Option<JsValue>> {
    let timed_out = JsValue::from(js_sys::Object::new());
    let mut timer = None;
    let sentinel = timed_out.clone();
    let deadline = js_sys::Promise::new(&mut |resolve, _| {
        timer = set_timeout(&resolve, &sentinel, ms);
    });
    let winner = wasm_bindgen_futures::JsFuture::from(js_sys::Promise::race(&js_sys::Array::of2(
        &promise, &deadline,
    )))
    .await;
    if let Some(id) = timer {
        clear_timeout(id);
    }
    match winner {
        Ok(value) if js_sys::Object::is(&value, &timed_out) => Err(None),
        Ok(value) => Ok(value),
        Err(e) => Err(Some(e)),
    }
}

/// Ends the current task, so that the page can paint and handle input before the
/// rest runs: `scheduler.yield()` where the browser has it (the rest keeps its
/// place ahead of other work), else a zero-delay timer.
pub async fn yield_now() {
    let scheduled = get("scheduler").and_then(|scheduler| {
        let f = Reflect::get(&scheduler, &"yield".into()).ok()?;
        let promise = f.dyn_into::<Function>().ok()?.call0(&scheduler).ok()?;
        promise.dyn_into::<js_sys::Promise>().ok()
    });
    let promise = scheduled.unwrap_or_else(|| {
        js_sys::Promise::new(&mut |resolve, _| {
            if set_timeout(&resolve, &JsValue::UNDEFINED, 0).is_none() {
                let _ = resolve.call0(&JsValue::NULL);
            }
        })
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

pub fn warn(message: &str) {
    web_sys::console::warn_1(&format!("privrank: {message}").into());
}

/// What `navigator.gpu.requestAdapter()` offers this page or worker. Asked before
/// burn's wgpu runtime is started (and, in the npm package, before its WebGPU add-on
/// is even downloaded), so a browser without a usable GPU costs nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Adapter {
    /// No `navigator.gpu`, or `requestAdapter()` gave null or failed.
    None {
        reason: String,
    },
    /// A CPU rasteriser behind the WebGPU API (SwiftShader, llvmpipe, WARP): slower
    /// than the CPU backend for these models, and minutes of shader compilation.
    Software {
        description: String,
    },
    Hardware {
        description: String,
    },
}

impl Adapter {
    /// The reason `auto` keeps to the CPU, or `None` for a hardware adapter.
    pub fn unusable(&self) -> Option<String> {
        match self {
            Adapter::None { reason } => Some(reason.clone()),
            Adapter::Software { description } => Some(format!(
                "the WebGPU adapter is a software renderer ({description}), slower than the CPU backend"
            )),
            Adapter::Hardware { .. } => None,
        }
    }

    /// Classify an adapter from its `GPUAdapterInfo` strings and fallback flags.
    fn classify(info: &[String], fallback: bool) -> Adapter {
        let description = info
            .iter()
            .filter(|s| !s.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let description = if description.is_empty() {
            "no adapter info".to_owned()
        } else {
            description
        };
        if fallback || crate::backend::is_software_renderer(&description) {
            let description = if fallback {
                format!("{description}; isFallbackAdapter")
            } else {
                description
            };
            Adapter::Software { description }
        } else {
            Adapter::Hardware { description }
        }
    }
}

fn string_at(value: &JsValue, key: &str) -> String {
    Reflect::get(value, &key.into())
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}

fn flag_at(value: &JsValue, key: &str) -> bool {
    Reflect::get(value, &key.into())
        .ok()
        .and_then(|v| v.as_bool())
        .unwrap_or(false)
}

/// Ask `navigator.gpu` for an adapter and classify it by `GPUAdapterInfo` (vendor,
/// architecture, device, description) and `isFallbackAdapter` (on the info in
/// current browsers, on the adapter in older ones).
pub async fn webgpu_adapter() -> Adapter {
    let none = |reason: &str| Adapter::None {
        reason: reason.to_owned(),
    };
    let Some(gpu) = get("navigator").and_then(|n| Reflect::get(&n, &"gpu".into()).ok()) else {
        return none("this browser offers no WebGPU (no navigator)");
    };
    if gpu.is_undefined() || gpu.is_null() {
        return none("this browser offers no WebGPU (navigator.gpu is missing)");
    }
    let Some(request) = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
    else {
        return none("navigator.gpu.requestAdapter is not a function");
    };
    let Ok(promise) = request.call0(&gpu) else {
        return none("navigator.gpu.requestAdapter() threw");
    };
    let adapter = match wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&promise))
        .await
    {
        Ok(adapter) if !adapter.is_null() && !adapter.is_undefined() => adapter,
        Ok(_) => return none("this browser offers no WebGPU adapter (requestAdapter() gave null)"),
        Err(_) => return none("navigator.gpu.requestAdapter() failed"),
    };
    let info = Reflect::get(&adapter, &"info".into()).unwrap_or(JsValue::UNDEFINED);
    let strings: Vec<String> = ["vendor", "architecture", "device", "description"]
        .iter()
        .map(|key| {
            if info.is_object() {
                string_at(&info, key)
            } else {
                String::new()
            }
        })
        .collect();
    let fallback = flag_at(&adapter, "isFallbackAdapter")
        || (info.is_object() && flag_at(&info, "isFallbackAdapter"));
    Adapter::classify(&strings, fallback)
}

/// Resolve `url` against `base` (WHATWG URL rules). An empty base (a global with
/// no `location`) leaves only absolute URLs resolvable.
pub fn resolve(url: &str, base: &str) -> Result<String, JsValue> {
    if base.is_empty() {
        web_sys::Url::new(url)
    } else {
        web_sys::Url::new_with_base(url, base)
    }
    .map(|u| u.href())
}
