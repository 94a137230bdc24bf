//! What a `Ranker` does on the device, in plain Rust: load (storage, models,
//! backend), record, rank, forget. The wasm-bindgen class in `mod.rs` only converts
//! values and errors around these calls.

use std::cell::RefCell;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::device::{self, Report};
use super::encoder_slot::EncoderSlot;
use super::global;
use super::models::Loader;
use super::store::{Ledger, Store};
use crate::candidates::{self, DEFAULT_MAX_CANDIDATES};
use crate::history::{Event, Retention};
use crate::input::Value;
use crate::rank::{self, RankOptions, Ranked};
use crate::{BackendChoice, Error, Ranker, RankerManifest, Result};

/// `Ranker.load(options)`, less the progress callback.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LoadOptions {
    /// URL of the model set (`models/default.json`); the package's own by default.
    pub model_url: Option<String>,
    pub backend: String,
    /// IndexedDB database name: one per storefront or per test.
    pub store_name: String,
    pub retention: Retention,
    pub max_candidates: usize,
    /// Re-fetch manifests instead of using the Cache API's copies.
    pub refresh: bool,
    /// How long a model download may go without a response or new bytes
    /// (`models::DEFAULT_STALL_MS`).
    pub fetch_timeout_ms: u32,
    /// The ε this origin's reports may spend on this device in a rolling day
    /// (`privacy::DEFAULT_DAILY_EPSILON`, at most `privacy::MAX_DAILY_EPSILON`).
    pub privacy_budget: f64,
    /// Where `report()` sends its reports (the edge worker's `/report`); none:
    /// reports are returned and not sent.
    pub collector: Option<String>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            model_url: None,
            backend: "auto".into(),
            store_name: "privrank".into(),
            retention: Retention::default(),
            max_candidates: DEFAULT_MAX_CANDIDATES,
            refresh: false,
            fetch_timeout_ms: super::models::DEFAULT_STALL_MS,
            privacy_budget: crate::privacy::DEFAULT_DAILY_EPSILON,
            collector: None,
        }
    }
}

/// `ranker.interests(options)`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct InterestOptions {
    pub half_life_days: f64,
    pub k: usize,
}

impl Default for InterestOptions {
    fn default() -> Self {
        Self {
            half_life_days: crate::interests::DEFAULT_HALF_LIFE_DAYS,
            k: 5,
        }
    }
}

/// `ranker.arm(experiment)`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Experiment {
    pub salt: String,
    pub arms: Vec<crate::policy::Arm>,
}

/// `ranker.report(clicked, options)`: what was shown, and ε. No field names whose
/// budget pays: it is the origin's, on this device ([`super::store::Ledger`]).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ReportOptions {
    pub epsilon: f64,
    pub experiment: String,
    pub arm: String,
    pub creative: Option<String>,
    pub campaign: Option<String>,
}

impl Default for ReportOptions {
    fn default() -> Self {
        Self {
            epsilon: 1.0,
            experiment: String::new(),
            arm: String::new(),
            creative: None,
            campaign: None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReportOut {
    /// Everything that leaves the device, exactly as sent.
    pub report: crate::privacy::NoisedReport,
    /// Whether it went to the collector (`collector` at load).
    pub sent: bool,
    pub spent: f64,
    pub total: f64,
}

const DEVICE_ID: &str = "deviceId";

/// 16 bytes from the browser's CSPRNG.
fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|e| Error::Storage(format!("no randomness: {e}")))?;
    Ok(bytes)
}

fn random_id() -> Result<String> {
    Ok(random_bytes::<16>()?
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn random_seed() -> Result<[u8; 32]> {
    random_bytes::<32>()
}

/// What `modelInfo` shows.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Info {
    pub encoder: String,
    pub encoder_hash: String,
    pub ranker: String,
    pub dim: usize,
    pub max_history: usize,
    pub candidate_features: Vec<String>,
    pub store_name: String,
    pub model_url: String,
    #[serde(flatten)]
    pub backend: Report,
}

/// Embeddings kept in memory between calls (candidates recur across page views);
/// cleared when full rather than tracked per entry.
const MEMO_MAX: usize = 10_000;

pub struct Engine {
    encoder: EncoderSlot,
    ranker: Ranker,
    manifest: RankerManifest,
    store: Store,
    /// The origin's privacy ledger, shared by every `storeName`.
    ledger: Ledger,
    /// See [`LoadOptions::privacy_budget`].
    privacy_budget: f64,
    /// The collector's absolute URL; see [`LoadOptions::collector`].
    collector: Option<String>,
    retention: Retention,
    pub max_candidates: usize,
    memo: RefCell<HashMap<String, Vec<f32>>>,
    /// Texts this engine's encoder has embedded (`Ranker.debugCounters()`), so tests
    /// can tell a cached or attached embedding from a computed one.
    pub texts_encoded: std::cell::Cell<u64>,
    /// Counts `forget()` calls. Work that began before one writes nothing after it:
    /// embeddings it computed are neither stored nor remembered.
    epoch: std::cell::Cell<u64>,
    pub info: Info,
}

/// One call's view of the engine: the embedder `rank::rank` uses, tied to the
/// [`Engine::epoch`] the call began in.
struct Session<'a> {
    engine: &'a Engine,
    epoch: u64,
}

impl Engine {
    pub async fn load(
        options: LoadOptions,
        default_url: String,
        progress: Option<js_sys::Function>,
    ) -> Result<Self> {
        let choice: BackendChoice = match options.backend.as_str() {
            "webgpu" => BackendChoice::Wgpu,
            "auto" | "cpu" => options.backend.parse()?,
            other => {
                return Err(Error::BadOptions(format!(
                    "backend `{other}` (expected 'auto', 'webgpu' or 'cpu')"
                )));
            }
        };
        options.retention.check()?;
        if options.max_candidates == 0 {
            return Err(Error::BadOptions("maxCandidates must be at least 1".into()));
        }
        let max_stall = super::models::MAX_STALL_MS;
        if !(1..=max_stall).contains(&options.fetch_timeout_ms) {
            return Err(Error::BadOptions(format!(
                "fetchTimeoutMs must be within [1, {max_stall}], got {}",
                options.fetch_timeout_ms
            )));
        }
        let privacy_budget = crate::privacy::check_daily_epsilon(options.privacy_budget)?;
        let collector = options
            .collector
            .as_deref()
            .map(super::reports::collector_url)
            .transpose()?;
        let store = Store::open(&options.store_name).await?;
        let ledger = Ledger::open().await?;
        // The package's own set is pinned; a page's own modelUrl is its business.
        let pinned = options.model_url.is_none();
        let url = options.model_url.unwrap_or(default_url);
        let models = Loader::new(progress, options.refresh, options.fetch_timeout_ms)
            .await
            .load(&url, pinned)
            .await?;
        let loaded = device::choose(choice, &models).await?;
        let config = &models.ranker.config;
        let info = Info {
            encoder: models.encoder.parts.manifest.name.clone(),
            encoder_hash: loaded.encoder.model_hash().to_owned(),
            ranker: models.ranker.name.clone(),
            dim: loaded.encoder.dim(),
            max_history: config.max_history,
            candidate_features: config.candidate_features.clone(),
            store_name: options.store_name,
            model_url: url,
            backend: loaded.report,
        };
        Ok(Self {
            encoder: loaded.encoder,
            ranker: loaded.ranker,
            manifest: models.ranker,
            store,
            ledger,
            privacy_budget,
            collector,
            retention: options.retention,
            max_candidates: options.max_candidates,
            memo: RefCell::new(HashMap::new()),
            texts_encoded: std::cell::Cell::new(0),
            epoch: std::cell::Cell::new(0),
            info,
        })
    }

    /// Store the event, apply retention, then embed its item so ranking finds it
    /// cached. The event is committed first: if embedding fails, nothing is lost
    /// (ranking embeds it later).
    pub async fn record(&self, value: Value) -> Result<Event> {
        let now = js_sys::Date::now();
        let event = Event::parse(&value, now)?;
        let session = self.session();
        self.store.add_event(&event).await?;
        self.events(now).await?;
        // Impressions only feed frequency caps; the ranker never reads their text.
        if event.kind.is_signal()
            && let Err(e) = session.embeddings(&[event.text()], true).await
        {
            global::warn(&format!("event stored; its embedding was not cached: {e}"));
        }
        Ok(event)
    }

    fn session(&self) -> Session<'_> {
        Session {
            engine: self,
            epoch: self.epoch.get(),
        }
    }

    /// The history as retention keeps it (applied on every read).
    async fn events(&self, now: f64) -> Result<Vec<Event>> {
        self.store
            .events(&self.retention, now, &self.info.encoder_hash)
            .await
    }

    pub async fn rank(&self, values: Vec<Value>, options: RankOptions) -> Result<Vec<Ranked>> {
        let config = &self.manifest.config;
        let candidates = candidates::parse(&values, config, self.max_candidates)?;
        let session = self.session();
        let now = js_sys::Date::now();
        let events = self.events(now).await?;
        let model = rank::Model {
            ranker: &self.ranker,
            config,
            device: self.encoder.device(),
            encoder: &self.info.encoder_hash,
        };
        let request = rank::Request {
            events: &events,
            candidates: &candidates,
            options: &options,
            clock_ms: now,
        };
        rank::rank(model, request, &session).await
    }

    pub async fn history(&self) -> Result<Vec<Event>> {
        self.events(js_sys::Date::now()).await
    }

    /// Erases the history, the embedding cache and the device id (so experiment
    /// arms are drawn afresh). The privacy ledger stays: forgetting must not buy
    /// the origin new reports or experiments.
    pub async fn forget(&self) -> Result<()> {
        // Before the clear's transaction exists: a write begun earlier either lands
        // before it (and is cleared) or sees the new epoch and is skipped.
        self.epoch.set(self.epoch.get() + 1);
        self.memo.borrow_mut().clear();
        self.store.clear().await?;
        self.store.delete_meta(DEVICE_ID).await
    }

    /// The shopper's top interest tags, from the stored history.
    pub async fn interests(
        &self,
        options: InterestOptions,
    ) -> Result<Vec<crate::interests::Interest>> {
        let now = js_sys::Date::now();
        let events = self.events(now).await?;
        crate::interests::interests(&events, now, options.half_life_days, options.k)
    }

    /// This device's arm of an experiment. The device id is random, made here on
    /// first use, and never leaves IndexedDB; only the arm's label is returned. At
    /// most `privacy::MAX_ARMS` arms and `privacy::MAX_SALTS_PER_DAY` experiments a
    /// rolling day (counted in the origin's ledger), so arms say at most 16 bits of
    /// a device a day.
    pub async fn arm(&self, experiment: Experiment) -> Result<String> {
        // Checked before the ledger counts the salt: a refused experiment costs
        // nothing.
        crate::policy::assign_arm("", &experiment.salt, &experiment.arms)?;
        let salt = experiment.salt.clone();
        let now = js_sys::Date::now();
        self.ledger
            .update("salts", move |salts: &mut crate::privacy::Salts| {
                salts.admit(&salt, now)
            })
            .await?;
        let stored = self.store.meta(DEVICE_ID).await?;
        let id = match stored.as_string() {
            Some(id) => id,
            None => {
                let id = random_id()?;
                self.store.put_meta(DEVICE_ID, &id.clone().into()).await?;
                id
            }
        };
        crate::policy::assign_arm(&id, &experiment.salt, &experiment.arms).map(str::to_owned)
    }

    /// A randomized-response report of `clicked` for one impression, charged to
    /// the origin's budget for the rolling day (refused with `PrivacyBudgetSpent`
    /// once spent), read and charged in one ledger transaction, so concurrent
    /// calls and other tabs cannot overspend; then sent to the collector, when
    /// the load named one.
    pub async fn report(&self, clicked: bool, options: ReportOptions) -> Result<ReportOut> {
        let rr = crate::privacy::RandomizedResponse::new(options.epsilon)?;
        let labels = crate::privacy::Labels {
            experiment: options.experiment,
            arm: options.arm,
            creative: options.creative,
            campaign: options.campaign,
        };
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::from_seed(random_seed()?);
        let (total, now) = (self.privacy_budget, js_sys::Date::now());
        let (report, spent) = self
            .ledger
            .update("epsilon", move |budget: &mut crate::privacy::Budget| {
                let report = crate::privacy::noised_report(
                    clicked, labels, rr, budget, total, now, &mut rng,
                )?;
                Ok((report, budget.spent(now)))
            })
            .await?;
        if let Some(url) = &self.collector {
            super::reports::send(url, &report).await?;
        }
        Ok(ReportOut {
            report,
            sent: self.collector.is_some(),
            spent,
            total,
        })
    }

    /// Whether the encoder is built yet ([`EncoderSlot`]).
    pub fn encoder_built(&self) -> bool {
        self.encoder.is_built()
    }

    /// Embeddings of arbitrary texts, e.g. a catalog at an edge node.
    pub async fn embed(&self, values: Vec<Value>) -> Result<Vec<Vec<f32>>> {
        let texts = candidates::texts(&values, self.max_candidates)?;
        let encoder = self.encoder.get().await?;
        let out = encoder.embed_paced(&texts, global::yield_now).await?;
        self.texts_encoded
            .set(self.texts_encoded.get() + texts.len() as u64);
        Ok(out)
    }
}

impl Session<'_> {
    /// Whether no `forget()` came since this call began.
    fn current(&self) -> bool {
        self.engine.epoch.get() == self.epoch
    }

    /// Embeddings for `texts`, from memory, then IndexedDB (when `persist`), then
    /// the encoder; new ones are written back to the same places. A failed cache
    /// write (full quota) costs a recomputation later, so it is only a warning.
    async fn embeddings(&self, texts: &[String], persist: bool) -> Result<Vec<Vec<f32>>> {
        let engine = self.engine;
        let hash = engine.info.encoder_hash.clone();
        let mut out: Vec<Option<Vec<f32>>> = {
            let memo = engine.memo.borrow();
            texts.iter().map(|t| memo.get(t).cloned()).collect()
        };
        if persist {
            let missing: Vec<String> = missing(texts, &out);
            if !missing.is_empty() {
                let stored = engine.store.embeddings(&hash, &missing).await?;
                let found: HashMap<&String, Vec<f32>> = missing
                    .iter()
                    .zip(stored)
                    .filter_map(|(t, v)| Some((t, v?)))
                    .filter(|(_, v)| v.len() == engine.encoder.dim())
                    .collect();
                fill(texts, &mut out, |t| found.get(t).cloned());
            }
        }
        let missing = missing(texts, &out);
        if !missing.is_empty() {
            let encoder = engine.encoder.get().await?;
            let computed = encoder.embed_paced(&missing, global::yield_now).await?;
            engine
                .texts_encoded
                .set(engine.texts_encoded.get() + missing.len() as u64);
            let fresh: HashMap<&String, Vec<f32>> = missing.iter().zip(computed).collect();
            if persist && self.current() {
                let items: Vec<(String, Vec<f32>)> = fresh
                    .iter()
                    .map(|(t, v)| ((*t).clone(), v.clone()))
                    .collect();
                if let Err(e) = engine.store.put_embeddings(&hash, &items).await {
                    global::warn(&format!("embedding cache not updated: {e}"));
                }
            }
            fill(texts, &mut out, |t| fresh.get(t).cloned());
        }
        let out: Vec<Vec<f32>> = out.into_iter().map(Option::unwrap_or_default).collect();
        if !self.current() {
            return Ok(out);
        }
        let mut memo = engine.memo.borrow_mut();
        if memo.len() + texts.len() > MEMO_MAX {
            memo.clear();
        }
        for (t, v) in texts.iter().zip(&out) {
            memo.insert(t.clone(), v.clone());
        }
        Ok(out)
    }
}

/// History items come from memory, then IndexedDB, then the encoder, and are kept;
/// candidates' texts from memory, then the encoder.
impl rank::Embedder for Session<'_> {
    async fn embed(&self, texts: &[String], whose: rank::Texts) -> Result<Vec<Vec<f32>>> {
        self.embeddings(texts, whose == rank::Texts::History).await
    }

    async fn pause(&self) {
        global::yield_now().await;
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Let another Ranker (or a version upgrade) open the databases at once.
        self.store.close();
        self.ledger.close();
    }
}

/// Distinct texts still without an embedding.
fn missing(texts: &[String], out: &[Option<Vec<f32>>]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    texts
        .iter()
        .zip(out)
        .filter(|(t, v)| v.is_none() && seen.insert(*t))
        .map(|(t, _)| t.clone())
        .collect()
}

fn fill(texts: &[String], out: &mut [Option<Vec<f32>>], get: impl Fn(&String) -> Option<Vec<f32>>) {
    for (t, slot) in texts.iter().zip(out.iter_mut()) {
        if slot.is_none() {
            *slot = get(t);
        }
    }
}
