//! Errors cross into JavaScript as `Error` objects with a stable `code` (and the bad
//! fields in `details`), so pages can branch without parsing messages.

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};

use crate::Error;

pub fn to_js(error: Error) -> JsValue {
    let js = js_sys::Error::new(&error.to_string());
    js.set_name("PrivrankError");
    let _ = Reflect::set(&js, &"code".into(), &error.code().into());
    if let Error::BadCandidate(details) | Error::BadEvent(details) = &error
        && let Ok(details) = serde_wasm_bindgen::to_value(details)
    {
        let _ = Reflect::set(&js, &"details".into(), &details);
    }
    js.into()
}

/// A rejected browser promise or thrown exception, as text.
pub fn describe(value: &JsValue) -> String {
    if let Some(e) = value.dyn_ref::<js_sys::Error>() {
        format!("{}: {}", String::from(e.name()), String::from(e.message()))
    } else if let Some(s) = value.as_string() {
        s
    } else {
        format!("{value:?}")
    }
}

/// Storage failures: a full quota is its own error, because the page can act on it
/// (ask the shopper to free space, or lower the retention limits).
pub fn storage(value: JsValue) -> Error {
    let name = value
        .dyn_ref::<web_sys::DomException>()
        .map(|e| e.name())
        .unwrap_or_default();
    if name == "QuotaExceededError" {
        Error::StorageQuota(describe(&value))
    } else {
        Error::Storage(describe(&value))
    }
}
