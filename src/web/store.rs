//! On-device storage in IndexedDB (this origin only): the shopper's events, item
//! embeddings keyed by encoder hash + text so each item is embedded once, and `meta`
//! (the random device id experiments hash, privacy budgets per site).
//! Every write waits for its transaction to commit, so a failed write (full quota)
//! is reported and leaves what was stored before untouched.

use js_sys::{Float32Array, Function, Promise};
use serde::Serialize;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    IdbDatabase, IdbFactory, IdbObjectStoreParameters, IdbOpenDbRequest, IdbRequest,
    IdbTransaction, IdbTransactionMode,
};

use super::error::storage;
use super::global;
use crate::history::Event;
use crate::{Error, Result};

const EVENTS: &str = "events";
const EMBEDDINGS: &str = "embeddings";
const META: &str = "meta";
/// Bump when the stores change; opening creates whichever stores are missing, so
/// version 1 databases gain `meta` and keep their history.
const VERSION: u32 = 2;

pub struct Store {
    db: IdbDatabase,
}

/// An event as stored, with the key IndexedDB gave it (its `id` property).
struct Stored {
    id: JsValue,
    event: Event,
}

/// A callback that resolves or rejects a promise once, from a request or transaction
/// event. Leaked if never called, which is a few bytes per failed request.
fn once(f: impl FnOnce() + 'static) -> Function {
    Closure::once_into_js(move |_: JsValue| f()).unchecked_into()
}

async fn request(req: &IdbRequest) -> Result<JsValue> {
    let promise = Promise::new(&mut |resolve, reject| {
        let r = req.clone();
        req.set_onsuccess(Some(&once(move || {
            let _ = resolve.call1(&JsValue::NULL, &r.result().unwrap_or(JsValue::UNDEFINED));
        })));
        let r = req.clone();
        req.set_onerror(Some(&once(move || {
            let error = r
                .error()
                .ok()
                .flatten()
                .map_or(JsValue::UNDEFINED, JsValue::from);
            let _ = reject.call1(&JsValue::NULL, &error);
        })));
    });
    JsFuture::from(promise).await.map_err(storage)
}

/// Wait until `tx` commits; an abort (quota, constraint) is the error.
async fn commit(tx: &IdbTransaction) -> Result<()> {
    let promise = Promise::new(&mut |resolve, reject| {
        tx.set_oncomplete(Some(&once(move || {
            let _ = resolve.call0(&JsValue::NULL);
        })));
        let t = tx.clone();
        let reject2 = reject.clone();
        tx.set_onabort(Some(&once(move || {
            let error = t
                .error()
                .map_or(JsValue::from_str("transaction aborted"), JsValue::from);
            let _ = reject2.call1(&JsValue::NULL, &error);
        })));
    });
    JsFuture::from(promise).await.map(|_| ()).map_err(storage)
}

fn js(e: JsValue) -> Error {
    storage(e)
}

impl Store {
    pub async fn open(name: &str) -> Result<Self> {
        let factory: IdbFactory = global::get("indexedDB")
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| Error::Storage("IndexedDB is not available in this context".into()))?;
        let open: IdbOpenDbRequest = factory.open_with_u32(name, VERSION).map_err(js)?;
        let req = open.clone();
        open.set_onupgradeneeded(Some(&once(move || {
            if let Ok(db) = req.result().and_then(|d| d.dyn_into::<IdbDatabase>()) {
                // Creating a store that exists throws (ConstraintError) and changes
                // nothing, so an upgrade only adds what is missing.
                let params = IdbObjectStoreParameters::new();
                params.set_key_path_opt_str(Some("id"));
                params.set_auto_increment(true);
                let _ = db.create_object_store_with_optional_parameters(EVENTS, &params);
                let _ = db.create_object_store(EMBEDDINGS);
                let _ = db.create_object_store(META);
            }
        })));
        let db = request(&open)
            .await?
            .dyn_into::<IdbDatabase>()
            .map_err(js)?;
        Ok(Self { db })
    }

    fn tx(&self, store: &str, mode: IdbTransactionMode) -> Result<IdbTransaction> {
        self.db
            .transaction_with_str_and_mode(store, mode)
            .map_err(js)
    }

    pub async fn add_event(&self, event: &Event) -> Result<()> {
        let value = to_js(event)?;
        let tx = self.tx(EVENTS, IdbTransactionMode::Readwrite)?;
        tx.object_store(EVENTS)
            .map_err(js)?
            .add(&value)
            .map_err(js)?;
        commit(&tx).await
    }

    /// All events with their keys, in insertion order.
    async fn stored(&self) -> Result<Vec<Stored>> {
        let tx = self.tx(EVENTS, IdbTransactionMode::Readonly)?;
        let all = request(&tx.object_store(EVENTS).map_err(js)?.get_all().map_err(js)?).await?;
        // A record this version cannot read (written by a page, or a future
        // version) is skipped, not fatal: the rest of the history still counts.
        let list: js_sys::Array = all.dyn_into().map_err(js)?;
        let mut out = Vec::with_capacity(list.length() as usize);
        for value in list.iter() {
            let id = js_sys::Reflect::get(&value, &"id".into()).unwrap_or(JsValue::UNDEFINED);
            match serde_wasm_bindgen::from_value::<Event>(value) {
                Ok(event) => out.push(Stored { id, event }),
                Err(e) => global::warn(&format!("skipping an unreadable stored event: {e}")),
            }
        }
        Ok(out)
    }

    pub async fn events(&self) -> Result<Vec<Event>> {
        let mut events: Vec<Event> = self.stored().await?.into_iter().map(|s| s.event).collect();
        events.sort_by(|a, b| a.ts.total_cmp(&b.ts));
        Ok(events)
    }

    /// Delete what `retention` says is too old or too much; returns how many.
    pub async fn apply(&self, retention: &crate::history::Retention, now_ms: f64) -> Result<usize> {
        let stored = self.stored().await?;
        let ts: Vec<f64> = stored.iter().map(|s| s.event.ts).collect();
        let expired = retention.expired(&ts, now_ms);
        if expired.is_empty() {
            return Ok(0);
        }
        let tx = self.tx(EVENTS, IdbTransactionMode::Readwrite)?;
        let events = tx.object_store(EVENTS).map_err(js)?;
        for &i in &expired {
            events.delete(&stored[i].id).map_err(js)?;
        }
        commit(&tx).await?;
        Ok(expired.len())
    }

    /// Cached embeddings for `texts` (None where missing), in order.
    pub async fn embeddings(&self, model: &str, texts: &[String]) -> Result<Vec<Option<Vec<f32>>>> {
        let tx = self.tx(EMBEDDINGS, IdbTransactionMode::Readonly)?;
        let store = tx.object_store(EMBEDDINGS).map_err(js)?;
        // All requests are issued before the first await, as one transaction.
        let requests: Vec<IdbRequest> = texts
            .iter()
            .map(|t| store.get(&key(model, t)))
            .collect::<std::result::Result<_, _>>()
            .map_err(js)?;
        let mut out = Vec::with_capacity(texts.len());
        for req in &requests {
            let value = request(req).await?;
            out.push(value.dyn_into::<Float32Array>().ok().map(|a| a.to_vec()));
        }
        Ok(out)
    }

    pub async fn put_embeddings(&self, model: &str, items: &[(String, Vec<f32>)]) -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let tx = self.tx(EMBEDDINGS, IdbTransactionMode::Readwrite)?;
        let store = tx.object_store(EMBEDDINGS).map_err(js)?;
        for (text, embedding) in items {
            let value = Float32Array::from(embedding.as_slice());
            store.put_with_key(&value, &key(model, text)).map_err(js)?;
        }
        commit(&tx).await
    }

    pub async fn meta(&self, key: &str) -> Result<JsValue> {
        let tx = self.tx(META, IdbTransactionMode::Readonly)?;
        let req = tx
            .object_store(META)
            .map_err(js)?
            .get(&key.into())
            .map_err(js)?;
        request(&req).await
    }

    pub async fn put_meta(&self, key: &str, value: &JsValue) -> Result<()> {
        let tx = self.tx(META, IdbTransactionMode::Readwrite)?;
        tx.object_store(META)
            .map_err(js)?
            .put_with_key(value, &key.into())
            .map_err(js)?;
        commit(&tx).await
    }

    pub async fn delete_meta(&self, key: &str) -> Result<()> {
        let tx = self.tx(META, IdbTransactionMode::Readwrite)?;
        tx.object_store(META)
            .map_err(js)?
            .delete(&key.into())
            .map_err(js)?;
        commit(&tx).await
    }

    /// Erase the history and every cached embedding.
    pub async fn clear(&self) -> Result<()> {
        let stores = js_sys::Array::of2(&EVENTS.into(), &EMBEDDINGS.into());
        let tx = self
            .db
            .transaction_with_str_sequence_and_mode(&stores, IdbTransactionMode::Readwrite)
            .map_err(js)?;
        tx.object_store(EVENTS).map_err(js)?.clear().map_err(js)?;
        tx.object_store(EMBEDDINGS)
            .map_err(js)?
            .clear()
            .map_err(js)?;
        commit(&tx).await
    }

    pub fn close(&self) {
        self.db.close();
    }
}

fn key(model: &str, text: &str) -> JsValue {
    format!("{model}\u{1f}{text}").into()
}

fn to_js<T: Serialize>(value: &T) -> Result<JsValue> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| Error::Storage(e.to_string()))
}
