//! The model loader: the only code in the library that touches the network, and it
//! only fetches model files (the import audit in `tests/import_audit.rs` holds it to
//! that). Files are fetched manifest first, checked against the manifest's SHA-256
//! before use, and kept in the Cache API, so a second page load downloads nothing.
//!
//! A load is a transaction: manifests are parsed and files hashed first, and only a
//! set that verified whole goes into the cache, so one bad response (an HTML
//! fallback page, a captive portal, a truncated body) costs one failed load, not
//! every later one. A cached entry that no longer parses or verifies is a miss.
//! The encoder's weights, when cached, are the exception: they are read and hashed
//! when the encoder is built ([`LaterFile`]), with the same miss rule then.

use std::cell::RefCell;
use std::rc::Rc;

use js_sys::{Function, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Cache, CacheStorage, ReadableStreamDefaultReader, Response};

use super::error::describe;
use super::global;
use crate::config::{FileSpec, ModelManifest, ModelSet, RankerManifest};
use crate::weights::{Checked, EncoderParts, ModelBundle};
use crate::{Error, Result};

/// Cache API cache holding model files. Versioned so a format change can start over.
pub const CACHE_NAME: &str = "privrank-models-v1";

/// The most a download reserves before its bytes arrive: the largest model file
/// (the teacher's 90 MB weights) fits, a lying Content-Length does not.
const PREALLOCATE_MAX: usize = 128 << 20;

/// How long a download may wait for its response, or for its next bytes, before it
/// fails (`fetchTimeoutMs`): a stalled server must not leave `Ranker.load` pending
/// for ever. Only silence counts, so a slow network that keeps streaming is fine.
pub const DEFAULT_STALL_MS: u32 = 30_000;
/// The longest `fetchTimeoutMs` accepted: ten minutes of silence.
pub const MAX_STALL_MS: u32 = 600_000;

/// Everything a [`super::engine::Engine`] is built from, verified.
pub struct Models {
    /// Shared with the page's encoder slot, which builds from it later.
    pub encoder: Rc<EncoderFiles>,
    pub ranker: RankerManifest,
    pub ranker_weights: Checked,
}

/// The encoder's files: the small ones read and checked at load, the weights read
/// when the encoder is built. A return visit whose candidates come embedded by the
/// edge and whose history embeddings are stored never builds it, and reading and
/// hashing the 4.6 MB weights from the Cache API was a third of its `Ranker.load`.
pub struct EncoderFiles {
    pub parts: EncoderParts,
    weights: LaterFile,
}

impl EncoderFiles {
    /// The encoder's files with their weights, which are read now unless they were
    /// read at load (a download).
    pub async fn bundle(&self) -> Result<ModelBundle> {
        let weights = self.weights.read().await?;
        self.parts.clone().with_weights(weights)
    }

    /// Parse the weights' header if they are in memory (downloaded by this load), so
    /// that a file that does not parse is refused at load. A cached file is parsed
    /// when the encoder is built; its bytes are the ones the manifest's hash names.
    pub fn check_downloaded(&self) -> Result<()> {
        let in_hand = self.weights.in_hand.borrow();
        if let Some(weights) = &*in_hand {
            let spec = &self.parts.manifest.files.weights;
            crate::weights::TensorSource::parse(weights.for_spec(spec)?, &spec.name)?;
        }
        Ok(())
    }
}

/// A model file in the Cache API, read and hash-checked when asked for: a copy that no
/// longer matches its hash is fetched again then, as at load.
struct LaterFile {
    /// Bytes this load downloaded, handed over once.
    in_hand: RefCell<Option<Checked>>,
    /// [`Loader::detached`].
    loader: Loader,
    folder: String,
    spec: FileSpec,
}

impl LaterFile {
    async fn read(&self) -> Result<Checked> {
        if let Some(checked) = self.in_hand.borrow_mut().take() {
            return Ok(checked);
        }
        let checked = self.loader.file(&self.folder, &self.spec).await?;
        self.loader.commit().await;
        Ok(checked)
    }
}

pub struct Loader {
    cache: Option<Cache>,
    progress: Option<Function>,
    /// Re-fetch manifests instead of using cached copies (files are addressed by
    /// hash, so they are only fetched when a manifest names new ones).
    refresh: bool,
    /// See [`DEFAULT_STALL_MS`].
    stall_ms: u32,
    /// What this load downloaded and checked, by cache key: written to the cache
    /// only once the whole set verified ([`Loader::load`]).
    fetched: RefCell<Vec<(String, Vec<u8>)>>,
}

impl Loader {
    pub async fn new(progress: Option<Function>, refresh: bool, stall_ms: u32) -> Self {
        // No Cache API (insecure context, some private modes): load without caching.
        let cache = match global::get("caches").and_then(|c| c.dyn_into::<CacheStorage>().ok()) {
            Some(caches) => match JsFuture::from(caches.open(CACHE_NAME)).await {
                Ok(c) => c.dyn_into::<Cache>().ok(),
                Err(e) => {
                    global::warn(&format!(
                        "Cache API unavailable ({}); models will be downloaded on every load",
                        describe(&e)
                    ));
                    None
                }
            },
            None => None,
        };
        Self {
            cache,
            progress,
            refresh,
            stall_ms,
            fetched: RefCell::new(Vec::new()),
        }
    }

    /// Fetch the model set at `url` and every file it names; cache what was
    /// downloaded once all of it verified. `pinned`: this is the package's own set,
    /// whose manifests must be the ones it was built with ([`super::pins`]).
    pub async fn load(&self, url: &str, pinned: bool) -> Result<Models> {
        let pin = |bytes: &'static [u8]| pinned.then_some(bytes);
        let base = global::base_url();
        let set_url = resolve(url, &base)?;
        let set = self
            .manifest(&set_url, None, |b| ModelSet::from_json(&set_url, b))
            .await?;

        let enc_url = resolve(&set.encoder.manifest, &set_url)?;
        let encoder = self
            .manifest(&enc_url, pin(super::pins::ENCODER_MANIFEST), |b| {
                ModelManifest::from_json(&enc_url, b)
            })
            .await?;
        let enc_files = resolve(&set.encoder.files, &set_url)?;
        let files = encoder.files.clone();
        let config = self.file(&enc_files, &files.config).await?;
        let tokenizer = self.file(&enc_files, &files.tokenizer).await?;
        let weights = self.later(&enc_files, &files.weights).await?;
        let encoder = EncoderFiles {
            parts: EncoderParts::from_checked(encoder, config, tokenizer)?,
            weights,
        };

        let rank_url = resolve(&set.ranker.manifest, &set_url)?;
        let ranker = self
            .manifest(&rank_url, pin(super::pins::RANKER_MANIFEST), |b| {
                RankerManifest::from_json(&rank_url, b)
            })
            .await?;
        ranker.check_encoder(encoder.parts.model_hash())?;
        let rank_files = resolve(&set.ranker.files, &set_url)?;
        let ranker_weights = self.file(&rank_files, &ranker.weights).await?;
        self.commit().await;
        Ok(Models {
            encoder: Rc::new(encoder),
            ranker,
            ranker_weights,
        })
    }

    /// A manifest, parsed: the cached copy when it parses (a copy that does not is
    /// a miss), else a download, kept for [`Loader::commit`] once it parsed. With a
    /// `pin`, only those exact bytes are accepted (a cached copy that differs is a
    /// miss, a download that differs is `HashMismatch`).
    async fn manifest<T>(
        &self,
        url: &str,
        pin: Option<&[u8]>,
        parse: impl Fn(&[u8]) -> Result<T>,
    ) -> Result<T> {
        let pinned = |bytes: &[u8]| match pin {
            Some(pin) if pin != bytes => Err(Error::HashMismatch {
                file: format!("{url} (the package's pinned default manifest)"),
                expected: crate::weights::sha256_hex(pin),
                actual: crate::weights::sha256_hex(bytes),
            }),
            _ => Ok(()),
        };
        if !self.refresh
            && let Some(bytes) = self.cached(url).await
        {
            match pinned(&bytes).and_then(|()| parse(&bytes)) {
                Ok(parsed) => return Ok(parsed),
                Err(e) => global::warn(&format!(
                    "cached {url} is unusable ({e}); fetching it again"
                )),
            }
        }
        let bytes = self.download(url, url, None).await?;
        pinned(&bytes)?;
        let parsed = parse(&bytes)?;
        self.fetched.borrow_mut().push((url.to_owned(), bytes));
        Ok(parsed)
    }

    /// Write what this load downloaded into the cache.
    async fn commit(&self) {
        let fetched = std::mem::take(&mut *self.fetched.borrow_mut());
        for (key, bytes) in fetched {
            self.store(&key, &bytes).await;
        }
    }

    /// A file named by a manifest, keyed in the cache by its hash: a cached copy that
    /// no longer matches (storage corruption) is thrown away and fetched again.
    async fn file(&self, folder: &str, spec: &FileSpec) -> Result<Checked> {
        let url = resolve(&spec.name, folder)?;
        let key = file_key(&url, spec);
        if let Some(bytes) = self.cached(&key).await {
            let len = bytes.len() as f64;
            if let Ok(checked) = check(spec, bytes).await {
                self.report(&spec.name, len, len, true);
                return Ok(checked);
            }
            global::warn(&format!(
                "cached {} is corrupt; fetching it again",
                spec.name
            ));
        }
        let bytes = self.download(&url, &spec.name, spec.bytes).await?;
        let checked = check(spec, bytes.clone()).await?;
        self.fetched.borrow_mut().push((key, bytes));
        Ok(checked)
    }

    /// A file named by a manifest, read now if it has to be downloaded (this load
    /// commits it to the cache), else when first asked for ([`LaterFile`]).
    async fn later(&self, folder: &str, spec: &FileSpec) -> Result<LaterFile> {
        let url = resolve(&spec.name, folder)?;
        let in_cache = self.matches(&file_key(&url, spec)).await;
        let in_hand = if in_cache {
            let len = spec.bytes.map_or(f64::NAN, |b| b as f64);
            self.report(&spec.name, len, len, true);
            None
        } else {
            Some(self.file(folder, spec).await?)
        };
        Ok(LaterFile {
            in_hand: RefCell::new(in_hand),
            loader: self.detached(),
            folder: folder.to_owned(),
            spec: spec.clone(),
        })
    }

    /// This loader's cache and timeout for a read after the load has ended: no
    /// progress callback (the page was told the load is done), nothing pending.
    fn detached(&self) -> Loader {
        Loader {
            cache: self.cache.clone(),
            progress: None,
            refresh: false,
            stall_ms: self.stall_ms,
            fetched: RefCell::new(Vec::new()),
        }
    }

    /// Whether the cache holds `key`, without reading its body.
    async fn matches(&self, key: &str) -> bool {
        let Some(cache) = &self.cache else {
            return false;
        };
        JsFuture::from(cache.match_with_str(key))
            .await
            .is_ok_and(|hit| hit.is_instance_of::<Response>())
    }

    async fn cached(&self, key: &str) -> Option<Vec<u8>> {
        let cache = self.cache.as_ref()?;
        let hit = JsFuture::from(cache.match_with_str(key)).await.ok()?;
        let response = hit.dyn_into::<Response>().ok()?;
        let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
        Some(Uint8Array::new(&buffer).to_vec())
    }

    /// Caching is best effort: a full quota costs a re-download next time, nothing
    /// else, so it is a warning rather than an error.
    async fn store(&self, key: &str, bytes: &[u8]) {
        let Some(cache) = &self.cache else { return };
        let mut copy = bytes.to_vec();
        let stored = match Response::new_with_opt_u8_array(Some(&mut copy)) {
            Ok(response) => JsFuture::from(cache.put_with_str(key, &response))
                .await
                .map(|_| ()),
            Err(e) => Err(e),
        };
        if let Err(e) = stored {
            global::warn(&format!("could not cache {key}: {}", describe(&e)));
        }
    }

    /// GET `url`, reading the body in chunks to report progress. `declared`: the
    /// length the manifest states, if it does.
    async fn download(&self, url: &str, name: &str, declared: Option<u64>) -> Result<Vec<u8>> {
        let fail = |reason: String| Error::Fetch {
            url: url.to_owned(),
            reason,
        };
        let stalled = || {
            fail(format!(
                "nothing arrived for {} s (fetchTimeoutMs)",
                f64::from(self.stall_ms) / 1000.0
            ))
        };
        let promise = start_fetch(url).map_err(|e| fail(describe(&e)))?;
        let response: Response = global::within(promise, self.stall_ms)
            .await
            .map_err(|e| e.map_or_else(stalled, |e| fail(describe(&e))))?
            .dyn_into()
            .map_err(|_| fail("fetch did not return a Response".into()))?;
        if !response.ok() {
            return Err(fail(format!("HTTP {}", response.status())));
        }
        // Content-Length counts the bytes on the wire; with a Content-Encoding
        // (gzip, br from a CDN) the body read here is the decoded one, larger, so the
        // total is unknown rather than wrong.
        let headers = response.headers();
        let header = |name: &str| headers.get(name).ok().flatten();
        let encoded =
            header("content-encoding").is_some_and(|e| !e.eq_ignore_ascii_case("identity"));
        let announced = header("content-length")
            .filter(|_| !encoded)
            .and_then(|v| v.parse::<f64>().ok());
        if let (Some(announced), Some(declared)) = (announced, declared)
            && announced != declared as f64
        {
            return Err(fail(format!(
                "the server announces {announced} bytes; the manifest declares {declared}"
            )));
        }
        let total = announced.or(declared.map(|d| d as f64)).unwrap_or(f64::NAN);
        let Some(body) = response.body() else {
            return Ok(Vec::new());
        };
        let reader: ReadableStreamDefaultReader = body
            .get_reader()
            .dyn_into()
            .map_err(|_| fail("no stream reader".into()))?;
        // The header is the server's word, not a fact: reserve at most PREALLOCATE_MAX
        // up front (a Content-Length of 1e15 would otherwise abort the instance).
        let reserve = if total.is_finite() && total > 0.0 {
            (total as usize).min(PREALLOCATE_MAX)
        } else {
            0
        };
        let mut bytes = Vec::with_capacity(reserve);
        loop {
            let chunk = match global::within(reader.read(), self.stall_ms).await {
                Ok(chunk) => chunk,
                Err(e) => {
                    // Stop the stream; the error below is what the caller sees.
                    let _ = reader.cancel();
                    return Err(e.map_or_else(stalled, |e| fail(describe(&e))));
                }
            };
            if Reflect::get(&chunk, &"done".into())
                .ok()
                .and_then(|d| d.as_bool())
                .unwrap_or(true)
            {
                break;
            }
            let value = Reflect::get(&chunk, &"value".into()).map_err(|e| fail(describe(&e)))?;
            bytes.extend(Uint8Array::new(&value).to_vec());
            if let Some(declared) = declared
                && bytes.len() as u64 > declared
            {
                let _ = reader.cancel();
                return Err(fail(format!(
                    "the body runs past the {declared} bytes the manifest declares"
                )));
            }
            self.report(name, bytes.len() as f64, total, false);
        }
        Ok(bytes)
    }

    fn report(&self, file: &str, loaded: f64, total: f64, cached: bool) {
        let Some(callback) = &self.progress else {
            return;
        };
        let info = Object::new();
        let _ = Reflect::set(&info, &"file".into(), &file.into());
        let _ = Reflect::set(&info, &"loaded".into(), &loaded.into());
        let total = if total.is_finite() {
            total.into()
        } else {
            JsValue::UNDEFINED
        };
        let _ = Reflect::set(&info, &"total".into(), &total);
        let _ = Reflect::set(&info, &"cached".into(), &cached.into());
        // A throwing progress callback must not break loading.
        if let Err(e) = callback.call1(&JsValue::NULL, &info) {
            global::warn(&format!("onProgress threw: {}", describe(&e)));
        }
    }
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// The global `fetch` (on pages and in workers alike), bound by name so that it
    /// shows up in the wasm module's import table where the audit can find it.
    #[wasm_bindgen(js_name = fetch, catch)]
    fn global_fetch(input: &str) -> std::result::Result<js_sys::Promise, JsValue>;
}

/// The library's only network call. Never inlined, so the import audit sees it
/// called from this function and nowhere else.
#[inline(never)]
fn start_fetch(url: &str) -> std::result::Result<js_sys::Promise, JsValue> {
    global_fetch(url)
}

/// A model file's cache key: its URL and its hash, so a new file never meets an old
/// copy.
fn file_key(url: &str, spec: &FileSpec) -> String {
    format!(
        "{url}{}privrank-sha256={}",
        if url.contains('?') { '&' } else { '?' },
        spec.sha256
    )
}

fn resolve(url: &str, base: &str) -> Result<String> {
    global::resolve(url, base).map_err(|e| {
        Error::BadOptions(format!(
            "model URL `{url}` (relative to `{base}`): {}",
            describe(&e)
        ))
    })
}

/// `bytes` checked against `spec`'s SHA-256, hashed by the browser's WebCrypto where
/// it has one (every secure context): natively and off the page's main thread, where
/// hashing the weights in wasm was a long task on every load. Elsewhere, in wasm.
async fn check(spec: &FileSpec, bytes: Vec<u8>) -> Result<Checked> {
    match web_digest(&bytes).await {
        Some(digest) => Checked::with_digest(spec, bytes, &digest),
        None => Checked::verify(spec, bytes),
    }
}

/// `crypto.subtle.digest('SHA-256', bytes)` in hex, or `None` without WebCrypto.
async fn web_digest(bytes: &[u8]) -> Option<String> {
    let crypto = global::get("crypto")?.dyn_into::<web_sys::Crypto>().ok()?;
    let subtle = Reflect::get(&crypto, &"subtle".into()).ok()?;
    if subtle.is_undefined() || subtle.is_null() {
        return None;
    }
    let subtle: web_sys::SubtleCrypto = subtle.unchecked_into();
    let data = Uint8Array::from(bytes);
    let promise = subtle
        .digest_with_str_and_buffer_source("SHA-256", &data)
        .ok()?;
    let digest = JsFuture::from(promise).await.ok()?;
    Some(crate::weights::hex(&Uint8Array::new(&digest).to_vec()))
}
