//! Sending a noised report to the collector the page named at load
//! (`Ranker.load({collector})`): with the model loader, the library's only
//! request. It carries a [`NoisedReport`] and nothing else: no cookies
//! (`credentials: 'omit'`), no referrer, a CORS-safelisted content type (so no
//! preflight), and `keepalive`, so a report sent as the page goes away still
//! arrives.

use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Response;

use super::error::describe;
use super::global;
use crate::privacy::NoisedReport;
use crate::{Error, Result};

/// How long the collector may take to answer before `report()` fails (the report
/// may still arrive: keepalive requests outlive their callers).
pub const ANSWER_MS: u32 = 10_000;

/// The collector's URL made absolute against the page's, which must be http(s).
pub fn collector_url(url: &str) -> Result<String> {
    let bad = |reason: String| Error::BadOptions(format!("collector `{url}`: {reason}"));
    let absolute = global::resolve(url, &global::base_url()).map_err(|e| bad(describe(&e)))?;
    if !(absolute.starts_with("https://") || absolute.starts_with("http://")) {
        return Err(bad("must be an http(s) URL".into()));
    }
    Ok(absolute)
}

/// POST `report` to `url`, or say why it was not sent.
pub async fn send(url: &str, report: &NoisedReport) -> Result<()> {
    let fail = |reason: String| Error::ReportNotSent {
        url: url.to_owned(),
        reason,
    };
    let body = serde_json::to_string(report).map_err(|e| fail(e.to_string()))?;
    let headers = Object::new();
    let init = Object::new();
    let fields: [(&Object, &str, JsValue); 7] = [
        (&headers, "content-type", "text/plain;charset=UTF-8".into()),
        (&init, "method", "POST".into()),
        (&init, "body", body.into()),
        (&init, "keepalive", true.into()),
        (&init, "credentials", "omit".into()),
        (&init, "referrerPolicy", "no-referrer".into()),
        (&init, "headers", headers.clone().into()),
    ];
    for (target, key, value) in fields {
        Reflect::set(target, &key.into(), &value).map_err(|e| fail(describe(&e)))?;
    }
    let promise = start_fetch(url, &init).map_err(|e| fail(describe(&e)))?;
    let answer = global::within(promise, ANSWER_MS).await.map_err(|e| {
        e.map_or_else(
            || fail(format!("no answer within {} s", ANSWER_MS / 1000)),
            |e| fail(describe(&e)),
        )
    })?;
    let response: Response = answer
        .dyn_into()
        .map_err(|_| fail("fetch did not return a Response".into()))?;
    if !response.ok() {
        return Err(fail(format!("HTTP {}", response.status())));
    }
    Ok(())
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The global `fetch`, bound by name as the model loader's is, so the import
    /// audit sees this call.
    #[wasm_bindgen(js_name = fetch, catch)]
    fn global_fetch(url: &str, init: &Object) -> std::result::Result<Promise, JsValue>;
}

/// Never inlined: the import audit finds the network reached from here and from
/// the model loader only.
#[inline(never)]
fn start_fetch(url: &str, init: &Object) -> std::result::Result<Promise, JsValue> {
    global_fetch(url, init)
}
