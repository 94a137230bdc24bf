//! The same code runs on a page and in a Web Worker, whose global objects differ;
//! the few globals the library needs are looked up by name on whichever it is.

use js_sys::{Function, Reflect};
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

pub fn warn(message: &str) {
    web_sys::console::warn_1(&format!("privrank: {message}").into());
}

/// `navigator.gpu.requestAdapter()` resolved to something: asked before burn's
/// wgpu runtime is started, so a browser without WebGPU is a clean fallback.
#[cfg(feature = "wgpu")]
pub async fn has_webgpu_adapter() -> bool {
    let Some(gpu) = get("navigator").and_then(|n| Reflect::get(&n, &"gpu".into()).ok()) else {
        return false;
    };
    if gpu.is_undefined() || gpu.is_null() {
        return false;
    }
    let Some(request) = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()
        .and_then(|f| f.dyn_into::<Function>().ok())
    else {
        return false;
    };
    let Ok(promise) = request.call0(&gpu) else {
        return false;
    };
    match wasm_bindgen_futures::JsFuture::from(js_sys::Promise::resolve(&promise)).await {
        Ok(adapter) => !adapter.is_null() && !adapter.is_undefined(),
        Err(_) => false,
    }
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
