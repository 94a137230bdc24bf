//! A trap cannot wedge an instance. In this build a panic aborts: the wasm call
//! traps, and a promise whose future was running (or waiting) would never settle,
//! while the instance keeps running on whatever state the panic left. Inputs are
//! validated so that nothing panics; this is the last line behind that. The panic
//! hook rejects every pending promise with `Internal` and closes the instance:
//! every later call rejects (or throws) `Internal` at once, without running. A
//! page recovers by loading the package again (a new page or worker; see
//! `www/worker.js`).
//!
//! Not covered: traps that are not panics (a stack overflow, running out of
//! memory) run no hook; the depth limit on inputs and the bounds on work are what
//! keep those away.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use js_sys::{Function, Promise};
use wasm_bindgen::JsValue;

use super::error;
use crate::Error;

static TRAPPED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The reject function of every promise not yet settled, by call.
    static PENDING: RefCell<BTreeMap<u64, Function>> = const { RefCell::new(BTreeMap::new()) };
    static NEXT: Cell<u64> = const { Cell::new(0) };
    /// What the panic said, for the later calls' message.
    static CAUSE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Installs the hook (once per instance, from `start`): the console's message
/// first, then the pending promises rejected.
pub fn install() {
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        close(&info.to_string());
    }));
}

fn close(cause: &str) {
    TRAPPED.store(true, Ordering::SeqCst);
    let _ = CAUSE.try_with(|c| c.try_borrow_mut().map(|mut c| *c = cause.to_owned()));
    // try_: the panic may have happened while these were borrowed.
    let pending = PENDING
        .try_with(|p| p.try_borrow_mut().map(|mut p| std::mem::take(&mut *p)))
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    let error = error::to_js(Error::Internal(format!(
        "privrank trapped ({cause}); this call's work is lost and the instance is \
         closed: load the package again (a new page or worker)"
    )));
    for reject in pending.values() {
        let _ = reject.call1(&JsValue::NULL, &error);
    }
}

/// `Internal` when an earlier call trapped: checked first by every export.
pub fn check() -> Result<(), JsValue> {
    if !TRAPPED.load(Ordering::SeqCst) {
        return Ok(());
    }
    let cause = CAUSE
        .try_with(|c| c.try_borrow().map(|c| c.clone()).unwrap_or_default())
        .unwrap_or_default();
    Err(error::to_js(Error::Internal(format!(
        "an earlier call trapped ({cause}); this instance is closed: load the package \
         again (a new page or worker)"
    ))))
}

/// The future's outcome as a promise that settles even if a panic stops it: the
/// hook rejects it. After a trap it rejects at once, without running.
pub fn run<F, T>(f: F) -> Promise
where
    F: std::future::Future<Output = Result<T, JsValue>> + 'static,
    T: Into<JsValue>,
{
    if let Err(e) = check() {
        return Promise::reject(&e);
    }
    let id = NEXT.with(|n| {
        n.set(n.get() + 1);
        n.get()
    });
    let mut future = Some(f);
    Promise::new(&mut |resolve, reject| {
        PENDING.with(|p| p.borrow_mut().insert(id, reject.clone()));
        let Some(f) = future.take() else { return };
        wasm_bindgen_futures::spawn_local(async move {
            let out = f.await;
            // Gone from the table: the hook rejected it already.
            if PENDING.with(|p| p.borrow_mut().remove(&id)).is_none() {
                return;
            }
            let _ = match out {
                Ok(value) => resolve.call1(&JsValue::NULL, &value.into()),
                Err(e) => reject.call1(&JsValue::NULL, &e),
            };
        });
    })
}
