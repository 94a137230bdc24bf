//! On-device storage in IndexedDB (this origin only): the shopper's events, item
//! embeddings keyed by encoder hash + text so each item is embedded once, and `meta`
//! (the random device id experiments hash); and the origin's privacy ledger
//! ([`Ledger`]), a database of its own.
//! Every write waits for its transaction to commit, so a failed write (full quota)
//! is reported and leaves what was stored before untouched.
//!
//! What is read is what retention keeps: every read of the history deletes the
//! expired events first, with the embeddings of items no kept event names, in one
//! transaction, so an item the shopper browsed months ago leaves the disk with its
//! event. A newer version opening the database in another tab closes this
//! connection instead of waiting on it; calls made after that fail with a typed
//! error.

use std::cell::Cell;
use std::collections::HashSet;
use std::rc::Rc;

use js_sys::{Array, Float32Array, Promise};
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

/// An open database, closed for good when another tab's newer version asks for it.
struct Connection {
    db: IdbDatabase,
    /// Set when another tab's newer version asked for the database and this
    /// connection was closed for it.
    closed: Rc<Cell<bool>>,
    /// Keeps the `versionchange` handler alive as long as the connection.
    _on_version_change: Closure<dyn FnMut(JsValue)>,
}

/// The history database of one `storeName`.
pub struct Store {
    conn: Connection,
}

/// The origin's privacy ledger ([`LEDGER_DB`]): what reports spent and which
/// experiments this device joined. One database per origin whatever `storeName`
/// a page passes, and `forget()` does not touch it, so no page can choose or reset
/// the budget through the API.
pub struct Ledger {
    conn: Connection,
}

/// The ledger's database name, fixed: not the page's to choose.
pub const LEDGER_DB: &str = "privrank-privacy";
const LEDGER: &str = "ledger";

/// How long opening may wait on another tab that holds the database at an older
/// version and does not let go: then `Ranker.load` fails instead of hanging.
const BLOCKED_MS: u32 = 10_000;

/// An event as stored, with the key IndexedDB gave it (its `id` property).
struct Stored {
    id: JsValue,
    event: Event,
}

/// A promise with its two settling functions, and the handlers that settle it,
/// dropped (and so freed) once it has settled: a handler IndexedDB never calls (the
/// `onerror` of a request that succeeded) must not keep the request, and the
/// history it read, alive.
struct Pending {
    promise: Promise,
    handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl Pending {
    /// `arm(resolve, reject)` makes the handlers and installs them.
    fn new(
        arm: impl FnOnce(js_sys::Function, js_sys::Function) -> Vec<Closure<dyn FnMut(JsValue)>>,
    ) -> Self {
        let mut settle = None;
        let promise = Promise::new(&mut |resolve, reject| settle = Some((resolve, reject)));
        // The executor runs before `Promise::new` returns.
        let (resolve, reject) = settle.expect("the promise executor ran");
        Self {
            promise,
            handlers: arm(resolve, reject),
        }
    }

    async fn settled(self) -> std::result::Result<JsValue, JsValue> {
        let out = JsFuture::from(self.promise).await;
        drop(self.handlers);
        out
    }
}

/// The request's outcome as a promise, its handlers held until it settles.
fn watch(req: &IdbRequest) -> Pending {
    Pending::new(|resolve, reject| {
        let r = req.clone();
        let success = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let _ = resolve.call1(&JsValue::NULL, &r.result().unwrap_or(JsValue::UNDEFINED));
        });
        let r = req.clone();
        let failure = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let error = r
                .error()
                .ok()
                .flatten()
                .map_or(JsValue::UNDEFINED, JsValue::from);
            let _ = reject.call1(&JsValue::NULL, &error);
        });
        req.set_onsuccess(Some(success.as_ref().unchecked_ref()));
        req.set_onerror(Some(failure.as_ref().unchecked_ref()));
        vec![success, failure]
    })
}

async fn request(req: &IdbRequest) -> Result<JsValue> {
    let out = watch(req).settled().await;
    req.set_onsuccess(None);
    req.set_onerror(None);
    out.map_err(storage)
}

/// Wait until `tx` commits; an abort (quota, constraint) is the error.
async fn commit(tx: &IdbTransaction) -> Result<()> {
    let pending = Pending::new(|resolve, reject| {
        let complete = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let _ = resolve.call0(&JsValue::NULL);
        });
        let t = tx.clone();
        let abort = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            let error = t
                .error()
                .map_or(JsValue::from_str("transaction aborted"), JsValue::from);
            let _ = reject.call1(&JsValue::NULL, &error);
        });
        tx.set_oncomplete(Some(complete.as_ref().unchecked_ref()));
        tx.set_onabort(Some(abort.as_ref().unchecked_ref()));
        vec![complete, abort]
    });
    let out = pending.settled().await;
    tx.set_oncomplete(None);
    tx.set_onabort(None);
    out.map(|_| ()).map_err(storage)
}

fn js(e: JsValue) -> Error {
    storage(e)
}

impl Connection {
    /// Open `name` at `version`; `create` makes its object stores on an upgrade.
    async fn open(name: &str, version: u32, create: fn(&IdbDatabase)) -> Result<Self> {
        let factory: IdbFactory = global::get("indexedDB")
            .and_then(|f| f.dyn_into().ok())
            .ok_or_else(|| Error::Storage("IndexedDB is not available in this context".into()))?;
        let open: IdbOpenDbRequest = factory.open_with_u32(name, version).map_err(js)?;
        let req = open.clone();
        let upgrade = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            if let Ok(db) = req.result().and_then(|d| d.dyn_into::<IdbDatabase>()) {
                create(&db);
            }
        });
        open.set_onupgradeneeded(Some(upgrade.as_ref().unchecked_ref()));
        // Another tab holds an older version and does not close it: give up after
        // BLOCKED_MS. The open request itself cannot be cancelled; if it succeeds
        // later, the connection is dropped with the request.
        let blocked = Rc::new(Cell::new(false));
        let flag = blocked.clone();
        let on_blocked = Closure::<dyn FnMut(JsValue)>::new(move |_| flag.set(true));
        open.set_onblocked(Some(on_blocked.as_ref().unchecked_ref()));
        let pending = watch(&open);
        let opened = global::within(pending.promise.clone(), BLOCKED_MS).await;
        open.set_onsuccess(None);
        open.set_onerror(None);
        open.set_onupgradeneeded(None);
        open.set_onblocked(None);
        drop(pending);
        if opened.is_err() {
            // Should the other tab let go after all, close what the open request
            // then gets, rather than hold the database with nobody using it.
            let r = open.clone();
            open.set_onsuccess(Some(
                Closure::once_into_js(move |_: JsValue| {
                    if let Ok(db) = r.result().and_then(|d| d.dyn_into::<IdbDatabase>()) {
                        db.close();
                    }
                })
                .unchecked_ref(),
            ));
        }
        let db = match opened {
            Ok(db) => db.dyn_into::<IdbDatabase>().map_err(js)?,
            Err(Some(e)) => return Err(storage(e)),
            Err(None) => {
                let why = if blocked.get() {
                    "another tab keeps an older version of the database open; close it or reload it"
                } else {
                    "opening IndexedDB did not finish"
                };
                return Err(Error::Storage(format!(
                    "database `{name}`: {why} ({} s)",
                    BLOCKED_MS / 1000
                )));
            }
        };
        let closed = Rc::new(Cell::new(false));
        let flag = closed.clone();
        let handle = db.clone();
        let on_version_change = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            // Let the newer version in; this connection is done.
            flag.set(true);
            handle.close();
        });
        db.set_onversionchange(Some(on_version_change.as_ref().unchecked_ref()));
        Ok(Self {
            db,
            closed,
            _on_version_change: on_version_change,
        })
    }

    fn tx(&self, store: &str, mode: IdbTransactionMode) -> Result<IdbTransaction> {
        self.check_open()?;
        self.db
            .transaction_with_str_and_mode(store, mode)
            .map_err(js)
    }

    /// One readwrite transaction over the events and their embeddings, so that the
    /// two change together.
    fn tx_history(&self) -> Result<IdbTransaction> {
        self.check_open()?;
        let stores = Array::of2(&EVENTS.into(), &EMBEDDINGS.into());
        self.db
            .transaction_with_str_sequence_and_mode(&stores, IdbTransactionMode::Readwrite)
            .map_err(js)
    }

    fn check_open(&self) -> Result<()> {
        if self.closed.get() {
            return Err(Error::Storage(
                "a newer version of privrank opened this database in another tab; load \
                 the Ranker again (reload the page)"
                    .into(),
            ));
        }
        Ok(())
    }
}

impl Store {
    pub async fn open(name: &str) -> Result<Self> {
        let create = |db: &IdbDatabase| {
            // Creating a store that exists throws (ConstraintError) and changes
            // nothing, so an upgrade only adds what is missing.
            let params = IdbObjectStoreParameters::new();
            params.set_key_path_opt_str(Some("id"));
            params.set_auto_increment(true);
            let _ = db.create_object_store_with_optional_parameters(EVENTS, &params);
            let _ = db.create_object_store(EMBEDDINGS);
            let _ = db.create_object_store(META);
        };
        Ok(Self {
            conn: Connection::open(name, VERSION, create).await?,
        })
    }

    fn tx(&self, store: &str, mode: IdbTransactionMode) -> Result<IdbTransaction> {
        self.conn.tx(store, mode)
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

    /// The history as `retention` keeps it, oldest first: expired events are
    /// deleted first, and with them every cached embedding that is not of a kept
    /// event's item under `model` (the encoder in use), all in one transaction.
    pub async fn events(
        &self,
        retention: &crate::history::Retention,
        now_ms: f64,
        model: &str,
    ) -> Result<Vec<Event>> {
        let stored = self.stored().await?;
        let ts: Vec<f64> = stored.iter().map(|s| s.event.ts).collect();
        let expired: HashSet<usize> = retention.expired(&ts, now_ms).into_iter().collect();
        if !expired.is_empty() {
            let kept = stored
                .iter()
                .enumerate()
                .filter(|(i, _)| !expired.contains(i))
                .map(|(_, s)| key(model, &s.event.text()).as_string().unwrap_or_default())
                .collect();
            let stale: Vec<&JsValue> = expired.iter().map(|&i| &stored[i].id).collect();
            self.delete(&stale, &kept).await?;
        }
        let mut events: Vec<Event> = stored
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !expired.contains(i))
            .map(|(_, s)| s.event)
            .collect();
        events.sort_by(|a, b| a.ts.total_cmp(&b.ts));
        Ok(events)
    }

    /// Delete the events `ids` and every embedding whose key is not in `kept`.
    async fn delete(&self, ids: &[&JsValue], kept: &HashSet<String>) -> Result<()> {
        let tx = self.conn.tx_history()?;
        let events = tx.object_store(EVENTS).map_err(js)?;
        for id in ids {
            events.delete(id).map_err(js)?;
        }
        let embeddings = tx.object_store(EMBEDDINGS).map_err(js)?;
        let keys: Array = request(&embeddings.get_all_keys().map_err(js)?)
            .await?
            .dyn_into()
            .map_err(js)?;
        for k in keys.iter() {
            if !k.as_string().is_some_and(|k| kept.contains(&k)) {
                embeddings.delete(&k).map_err(js)?;
            }
        }
        commit(&tx).await
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
        let tx = self.conn.tx_history()?;
        tx.object_store(EVENTS).map_err(js)?.clear().map_err(js)?;
        tx.object_store(EMBEDDINGS)
            .map_err(js)?
            .clear()
            .map_err(js)?;
        commit(&tx).await
    }

    pub fn close(&self) {
        self.conn.db.close();
    }
}

impl Ledger {
    pub fn close(&self) {
        self.conn.db.close();
    }

    pub async fn open() -> Result<Self> {
        let create = |db: &IdbDatabase| {
            let _ = db.create_object_store(LEDGER);
        };
        Ok(Self {
            conn: Connection::open(LEDGER_DB, 1, create).await?,
        })
    }

    /// Read the entry `key` (a default when absent), let `decide` change it, and
    /// write it back, atomically: one readwrite transaction, which IndexedDB runs
    /// alone among those on the ledger in every tab of the origin, with the write
    /// issued from the read's own success handler, so nothing runs between them.
    /// `decide`'s error leaves the entry as it was and is the result.
    pub async fn update<T, R>(
        &self,
        key: &str,
        decide: impl FnOnce(&mut T) -> Result<R> + 'static,
    ) -> Result<R>
    where
        T: Serialize + serde::de::DeserializeOwned + Default + 'static,
        R: 'static,
    {
        let tx = self.conn.tx(LEDGER, IdbTransactionMode::Readwrite)?;
        let store = tx.object_store(LEDGER).map_err(js)?;
        let read = store.get(&key.into()).map_err(js)?;
        let outcome: Rc<std::cell::RefCell<Option<Result<R>>>> = Rc::default();
        let out = outcome.clone();
        let (r, key) = (read.clone(), JsValue::from_str(key));
        let on_read = Closure::once(move |_: JsValue| {
            let stored = r.result().unwrap_or(JsValue::UNDEFINED);
            let mut entry: T = if stored.is_undefined() || stored.is_null() {
                T::default()
            } else {
                match serde_wasm_bindgen::from_value(stored) {
                    Ok(entry) => entry,
                    Err(e) => {
                        *out.borrow_mut() =
                            Some(Err(Error::Storage(format!("unreadable ledger entry: {e}"))));
                        return;
                    }
                }
            };
            let decided = decide(&mut entry).and_then(|r| {
                let value = to_js(&entry)?;
                store.put_with_key(&value, &key).map_err(js)?;
                Ok(r)
            });
            *out.borrow_mut() = Some(decided);
        });
        read.set_onsuccess(Some(on_read.as_ref().unchecked_ref()));
        let committed = commit(&tx).await;
        read.set_onsuccess(None);
        drop(on_read);
        let decided = outcome
            .borrow_mut()
            .take()
            .unwrap_or_else(|| Err(Error::Storage("the ledger was not read".into())));
        committed?;
        decided
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
