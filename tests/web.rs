//! The JavaScript API in a real browser (headless Chromium through
//! wasm-bindgen-test-runner; `scripts/test` runs it). The test server serves the
//! repository root, so the models load from `/models/default.json` exactly as a
//! storefront loads them from `pkg/`, and the fixtures are the native ones.

#![cfg(target_arch = "wasm32")]

use js_sys::{Array, Float32Array, Object, Promise, Reflect};
use privrank::web::Ranker;
use serde_json::{Value, json};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use wasm_bindgen_test::*;

wasm_bindgen_test_configure!(run_in_browser);

const MODELS: &str = "/models/default.json";
/// Same tolerances as the native golden test (tests/encoder_golden.rs).
const MIN_COSINE: f32 = 0.99999;
const MAX_ABS: f32 = 1e-4;

fn js(value: &Value) -> JsValue {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .unwrap()
}

use serde::Serialize;

async fn fetch_json(path: &str) -> Value {
    let window = web_sys_window();
    let fetch: js_sys::Function = Reflect::get(&window, &"fetch".into())
        .unwrap()
        .unchecked_into();
    let response = JsFuture::from(
        fetch
            .call1(&window, &path.into())
            .unwrap()
            .unchecked_into::<Promise>(),
    )
    .await
    .unwrap();
    let text: js_sys::Function = Reflect::get(&response, &"text".into())
        .unwrap()
        .unchecked_into();
    let body = JsFuture::from(text.call0(&response).unwrap().unchecked_into::<Promise>())
        .await
        .unwrap();
    serde_json::from_str(&body.as_string().unwrap()).unwrap()
}

fn web_sys_window() -> JsValue {
    js_sys::global().into()
}

async fn load(options: Value) -> Result<Ranker, JsValue> {
    loaded(Ranker::load(js(&options))).await
}

/// The `Ranker` a `Ranker.load` promise resolves to.
async fn loaded(promise: Promise) -> Result<Ranker, JsValue> {
    use wasm_bindgen::convert::TryFromJsValue;
    Ranker::try_from_js_value(JsFuture::from(promise).await?)
}

async fn load_cpu(store: &str) -> Ranker {
    load(json!({"modelUrl": MODELS, "backend": "cpu", "storeName": store}))
        .await
        .unwrap_or_else(|e| panic!("load failed: {}", describe(&e)))
}

async fn wait(promise: Promise) -> Result<JsValue, JsValue> {
    JsFuture::from(promise).await
}

fn to_json(value: JsValue) -> Value {
    serde_wasm_bindgen::from_value(value).unwrap()
}

fn code(error: &JsValue) -> String {
    Reflect::get(error, &"code".into())
        .ok()
        .and_then(|c| c.as_string())
        .unwrap_or_else(|| format!("<no code: {}>", describe(error)))
}

fn describe(error: &JsValue) -> String {
    error
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| format!("{error:?}"))
}

async fn history(ranker: &Ranker) -> Vec<Value> {
    match to_json(wait(ranker.history()).await.unwrap()) {
        Value::Array(list) => list,
        other => panic!("history is not an array: {other}"),
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    let n = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
    dot / (n(a) * n(b))
}

/// The NumPy reference's fixture for the default model set's encoder (named as
/// tests/reference/make_golden.py names it), checked to be for the same weights.
async fn default_encoder_fixture() -> Value {
    let set = fetch_json(MODELS).await;
    let manifest_url = format!("/models/{}", set["encoder"]["manifest"].as_str().unwrap());
    let manifest = fetch_json(&manifest_url).await;
    let name = manifest["name"].as_str().unwrap();
    let path = if name == "all-minilm-l6-v2" {
        "/tests/fixtures/encoder_golden.json".to_owned()
    } else {
        format!("/tests/fixtures/encoder_golden_{name}.json")
    };
    let golden = fetch_json(&path).await;
    assert_eq!(
        golden["weights_sha256"], manifest["files"]["weights"]["sha256"],
        "{path} is for other weights than {manifest_url}"
    );
    golden
}

/// Embed the golden cases of at most `max_tokens` tokens and compare with the NumPy
/// reference's vectors.
async fn check_golden(ranker: &Ranker, label: &str, max_tokens: usize) {
    let golden = default_encoder_fixture().await;
    let all = golden["cases"].as_array().unwrap();
    let cases: Vec<&Value> = all
        .iter()
        .filter(|c| c["ids"].as_array().unwrap().len() <= max_tokens)
        .collect();
    let texts: Vec<Value> = cases.iter().map(|c| c["text"].clone()).collect();
    let out: Array = wait(ranker.embed(js(&Value::Array(texts))))
        .await
        .unwrap()
        .unchecked_into();
    assert_eq!(out.length() as usize, cases.len());
    let (mut min_cos, mut max_abs) = (f32::INFINITY, 0f32);
    for (case, got) in cases.iter().zip(out.iter()) {
        let got = got.unchecked_into::<Float32Array>().to_vec();
        let want: Vec<f32> = serde_json::from_value(case["embedding"].clone()).unwrap();
        assert_eq!(got.len(), want.len());
        let abs = got
            .iter()
            .zip(&want)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        let cos = cosine(&got, &want);
        assert!(
            cos >= MIN_COSINE && abs <= MAX_ABS,
            "{label}: case {} cosine {cos} max|Δ| {abs}",
            case["name"]
        );
        min_cos = min_cos.min(cos);
        max_abs = max_abs.max(abs);
    }
    let which = if cases.len() == all.len() {
        "all".to_owned()
    } else {
        format!("{} of {} (≤ {max_tokens} tokens)", cases.len(), all.len())
    };
    console_log!("golden[{label}]: {which} cases, min cosine {min_cos:.7}, max |Δ| {max_abs:.2e}");
}

#[wasm_bindgen_test]
async fn encoder_matches_the_golden_fixture_on_cpu() {
    let ranker = load_cpu("test-golden").await;
    assert_eq!(ranker.backend(), "cpu");
    check_golden(&ranker, "browser cpu", usize::MAX).await;
}

/// The SIMD kernel the CPU runs the encoder's dense layers with (its tiles of 4 rows,
/// steps of 4 in k, panels of 8 columns and their remainders; GELU on four lanes)
/// against the definition in f64. Natively only its scalar twin runs.
#[wasm_bindgen_test]
fn packed_dense_layers_match_the_definition_in_wasm_simd() {
    use privrank::encoder::packed::{Activation, PackedDense};
    let mut seed = 9u32;
    let mut values = |len: usize| -> Vec<f32> {
        (0..len)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (seed >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    };
    for (m, k, n) in [
        (1, 1, 1),
        (3, 5, 7),
        (4, 8, 8),
        (5, 13, 17),
        (7, 384, 40),
        (9, 64, 24),
    ] {
        let (x, w, b) = (values(m * k), values(n * k), values(n));
        let plain = PackedDense::pack(&w, &b, [k, n], Activation::Identity).forward(&x);
        let gelu = PackedDense::pack(&w, &b, [k, n], Activation::Gelu).forward(&x);
        for i in 0..m {
            for j in 0..n {
                let dot: f64 = (0..k)
                    .map(|kk| x[i * k + kk] as f64 * w[j * k + kk] as f64)
                    .sum();
                let want = dot + b[j] as f64;
                let got = plain[i * n + j] as f64;
                assert!(
                    (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "{m}×{k}×{n} [{i},{j}]: {got} vs {want}"
                );
                let want = 0.5 * want * (1.0 + libm::erf(want / std::f64::consts::SQRT_2));
                let got = gelu[i * n + j] as f64;
                assert!(
                    (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                    "gelu {m}×{k}×{n} [{i},{j}]: {got} vs {want}"
                );
            }
        }
    }
}

/// WebGPU where the browser offers an adapter (SwiftShader here, with
/// `--enable-unsafe-webgpu` in webdriver.json); otherwise says why it was skipped.
/// The teacher stays selectable: its model set (`models/teacher.json`) loads in the
/// same page and embeds like its own NumPy reference.
#[wasm_bindgen_test]
async fn the_teacher_model_set_is_still_selectable() {
    let ranker = load(
        json!({"modelUrl": "/models/teacher.json", "backend": "cpu", "storeName": "test-teacher"}),
    )
    .await
    .unwrap_or_else(|e| panic!("teacher set: {}", describe(&e)));
    let golden = fetch_json("/tests/fixtures/encoder_golden.json").await;
    let cases: Vec<&Value> = golden["cases"].as_array().unwrap().iter().take(6).collect();
    let texts: Vec<Value> = cases.iter().map(|c| c["text"].clone()).collect();
    let out: Array = wait(ranker.embed(js(&Value::Array(texts))))
        .await
        .unwrap()
        .unchecked_into();
    for (case, got) in cases.iter().zip(out.iter()) {
        let got = got.unchecked_into::<Float32Array>().to_vec();
        let want: Vec<f32> = serde_json::from_value(case["embedding"].clone()).unwrap();
        let cos = cosine(&got, &want);
        assert!(
            cos >= MIN_COSINE,
            "teacher: case {} cosine {cos}",
            case["name"]
        );
    }
    console_log!("teacher set: {} golden cases match", cases.len());
}

#[wasm_bindgen_test]
async fn encoder_matches_the_golden_fixture_on_webgpu() {
    let ranker =
        match load(json!({"modelUrl": MODELS, "backend": "webgpu", "storeName": "test-gpu"})).await
        {
            Ok(r) => r,
            Err(e)
                if code(&e) == "BackendUnavailable"
                    && option_env!("PRIVRANK_REQUIRE_WEBGPU").is_none() =>
            {
                console_log!("golden[browser webgpu]: SKIPPED — {}", describe(&e));
                return;
            }
            Err(e) => panic!("webgpu load: {} ({})", describe(&e), code(&e)),
        };
    let info = to_json(ranker.model_info());
    console_log!("webgpu model info: {info}");
    // Asked for WebGPU explicitly, the ranker only falls back when WebGPU disagreed
    // with the CPU: that is a failure of the WebGPU path.
    assert_eq!(
        ranker.backend(),
        "webgpu",
        "fell back: {}",
        info["fallbackReason"]
    );
    assert!(info["parityCosine"].as_f64().unwrap() >= 0.999);
    // Software WebGPU (SwiftShader) takes minutes per 256-token batch, so the browser
    // checks the short cases on WebGPU; all cases run on wgpu natively
    // (tests/encoder_golden.rs) and on the CPU here.
    check_golden(&ranker, "browser webgpu", 32).await;
}

#[wasm_bindgen_test]
async fn history_persists_in_indexeddb_and_forget_erases_it() {
    let store = "test-persist";
    let first = load_cpu(store).await;
    wait(first.forget()).await.unwrap();
    let now = js_sys::Date::now();
    let events = [
        json!({"kind": "view", "itemId": "1", "title": "Toy Story (1995)", "category": "Animation", "ts": now - 3000.0}),
        json!({"kind": "cart", "itemId": "95", "title": "Aladdin (1992)", "ts": now - 2000.0}),
        json!({"kind": "search", "title": "猫 玩具", "ts": now - 1000.0}),
    ];
    for e in &events {
        wait(first.record(js(e))).await.unwrap();
    }
    drop(first);

    let second = load_cpu(store).await;
    let stored = history(&second).await;
    assert_eq!(stored.len(), 3);
    assert_eq!(stored[0]["title"], "Toy Story (1995)");
    assert_eq!(stored[0]["category"], "Animation");
    assert_eq!(stored[1]["kind"], "cart");
    assert_eq!(
        stored[2]["itemId"], "猫 玩具",
        "a search keeps its query as the id"
    );
    wait(second.forget()).await.unwrap();
    assert!(history(&second).await.is_empty());
    drop(second);
    assert!(
        history(&load_cpu(store).await).await.is_empty(),
        "forget is persistent"
    );
}

#[wasm_bindgen_test]
async fn retention_limits_drop_the_oldest_events() {
    let ranker = load(
        json!({"modelUrl": MODELS, "backend": "cpu", "storeName": "test-retention",
                             "retention": {"maxEvents": 2}}),
    )
    .await
    .unwrap();
    wait(ranker.forget()).await.unwrap();
    let now = js_sys::Date::now();
    for (i, title) in ["A", "B", "C"].iter().enumerate() {
        let e =
            json!({"kind": "view", "itemId": title, "title": title, "ts": now - 10.0 + i as f64});
        wait(ranker.record(js(&e))).await.unwrap();
    }
    let titles: Vec<Value> = history(&ranker)
        .await
        .iter()
        .map(|e| e["title"].clone())
        .collect();
    assert_eq!(titles, [json!("B"), json!("C")]);
}

/// Run a JavaScript snippet (an async function body over `name`) and await it.
async fn js_async(name: &str, body: &str) -> Result<JsValue, JsValue> {
    let f =
        js_sys::Function::new_with_args("name", &format!("return (async () => {{ {body} }})();"));
    let promise: Promise = f.call1(&JsValue::NULL, &name.into())?.unchecked_into();
    JsFuture::from(promise).await
}

/// Entries in a store's `embeddings` object store, read through a connection of
/// its own as another tab would.
async fn count_embeddings(store: &str) -> f64 {
    js_async(
        store,
        "const db = await new Promise((ok, no) => { const r = indexedDB.open(name); \
         r.onsuccess = () => ok(r.result); r.onerror = () => no(r.error); }); \
         const n = await new Promise((ok, no) => { const c = db.transaction('embeddings') \
         .objectStore('embeddings').count(); c.onsuccess = () => ok(c.result); \
         c.onerror = () => no(c.error); }); db.close(); return n;",
    )
    .await
    .unwrap()
    .as_f64()
    .unwrap()
}

async fn sleep_ms(ms: u32) {
    js_async(
        "",
        &format!("await new Promise((ok) => setTimeout(ok, {ms}));"),
    )
    .await
    .unwrap();
}

/// Retention holds on every read, not only on `record`, and an item's cached
/// embedding leaves the disk with its last event.
#[wasm_bindgen_test]
async fn retention_applies_on_every_read_and_trims_embeddings() {
    let store = "test-retention-read";
    // 1e-5 days: 0.864 s.
    let ranker = load(
        json!({"modelUrl": MODELS, "backend": "cpu", "storeName": store,
                             "retention": {"maxEvents": 2, "maxAgeDays": 1e-5}}),
    )
    .await
    .unwrap();
    wait(ranker.forget()).await.unwrap();
    for title in ["Heat (1995)", "Fargo (1996)", "Casino (1995)"] {
        let e = json!({"kind": "view", "itemId": title, "title": title});
        wait(ranker.record(js(&e))).await.unwrap();
    }
    assert_eq!(history(&ranker).await.len(), 2);
    assert_eq!(
        count_embeddings(store).await,
        2.0,
        "the dropped item's embedding stayed"
    );
    sleep_ms(1_200).await;
    assert!(
        history(&ranker).await.is_empty(),
        "expired events were read back"
    );
    assert_eq!(count_embeddings(store).await, 0.0);
}

/// `forget()` called while a `record()` is in flight: when both have resolved,
/// nothing of the event is stored, not even the embedding the record computed
/// after the forget began.
#[wasm_bindgen_test]
async fn forget_is_ordered_after_work_in_flight() {
    let store = "test-forget-race";
    let ranker = load_cpu(store).await;
    wait(ranker.forget()).await.unwrap();
    let e = json!({"kind": "view", "itemId": "x", "title": "Sense and Sensibility (1995)"});
    let recording = ranker.record(js(&e));
    let forgetting = ranker.forget();
    wait(recording).await.unwrap();
    wait(forgetting).await.unwrap();
    assert!(history(&ranker).await.is_empty());
    assert_eq!(
        count_embeddings(store).await,
        0.0,
        "an embedding was written after forget"
    );
}

/// Another tab opening the database at a newer version is let in at once (this
/// connection closes), and this ranker's calls then fail with a typed error.
#[wasm_bindgen_test]
async fn a_newer_version_in_another_tab_is_let_in_and_calls_fail_typed() {
    let store = "test-upgrade";
    let ranker = load_cpu(store).await;
    let outcome = js_async(
        store,
        "return await new Promise((ok, no) => { const r = indexedDB.open(name, 3); \
         r.onsuccess = () => { r.result.close(); ok('opened'); }; \
         r.onblocked = () => setTimeout(() => ok('blocked'), 3000); \
         r.onerror = () => no(r.error); });",
    )
    .await
    .unwrap();
    assert_eq!(outcome.as_string().as_deref(), Some("opened"));
    let e = wait(ranker.history()).await.unwrap_err();
    assert_eq!(code(&e), "StorageError");
    assert!(describe(&e).contains("newer version"), "{}", describe(&e));
}

/// A tab holding an older version that never lets go makes `Ranker.load` fail
/// after a bounded wait instead of leaving its promise pending.
#[wasm_bindgen_test]
async fn an_older_tab_that_never_lets_go_fails_the_load() {
    let store = "test-blocked";
    js_async(
        store,
        "globalThis.heldOpen = await new Promise((ok, no) => { \
         const r = indexedDB.open(name, 1); r.onsuccess = () => ok(r.result); \
         r.onerror = () => no(r.error); });",
    )
    .await
    .unwrap();
    let started = js_sys::Date::now();
    let e = load(json!({"modelUrl": MODELS, "backend": "cpu", "storeName": store}))
        .await
        .err()
        .expect("the load must fail while the old connection is held");
    let seconds = (js_sys::Date::now() - started) / 1000.0;
    js_async(store, "globalThis.heldOpen.close();")
        .await
        .unwrap();
    assert_eq!(code(&e), "StorageError");
    assert!(describe(&e).contains("older version"), "{}", describe(&e));
    assert!(seconds < 30.0, "took {seconds} s");
}

/// Same request as `privrank rank tests/fixtures/rank_request.json` natively; the
/// CLI's output is the committed fixture (tests/cli.rs keeps it current).
#[wasm_bindgen_test]
async fn ranking_matches_the_native_cli() {
    let request = fetch_json("/tests/fixtures/rank_request.json").await;
    let want = fetch_json("/tests/fixtures/rank_expected.json").await;
    // The fixture's events are from 2023: keep them despite the default 90-day limit.
    let ranker = load(
        json!({"modelUrl": MODELS, "backend": "cpu", "storeName": "test-parity",
                             "retention": {"maxAgeDays": 36500}}),
    )
    .await
    .unwrap();
    wait(ranker.forget()).await.unwrap();
    for e in request["history"].as_array().unwrap() {
        wait(ranker.record(js(e))).await.unwrap();
    }
    let got = to_json(
        wait(ranker.rank(js(&request["candidates"]), js(&request["options"])))
            .await
            .unwrap_or_else(|e| panic!("rank: {}", describe(&e))),
    );
    let (got, want) = (got.as_array().unwrap(), want.as_array().unwrap());
    let ids = |v: &[Value]| v.iter().map(|r| r["id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(got), ids(want));
    let mut max_diff = 0f64;
    for (g, w) in got.iter().zip(want) {
        let d = (g["score"].as_f64().unwrap() - w["score"].as_f64().unwrap()).abs();
        max_diff = max_diff.max(d);
        assert!(
            d <= 1e-4,
            "{}: browser {} vs native {}",
            g["id"],
            g["score"],
            w["score"]
        );
        let reasons = |r: &Value| {
            r["reasons"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x["itemId"].clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(reasons(g), reasons(w));
    }
    console_log!(
        "rank parity: same order of {} candidates, max |Δscore| {max_diff:.2e}",
        got.len()
    );
}

fn encoder_built(ranker: &Ranker) -> bool {
    to_json(ranker.debug_counters())["encoderBuilt"]
        .as_bool()
        .expect("debugCounters().encoderBuilt")
}

#[wasm_bindgen_test]
async fn the_cpu_encoder_is_built_once_and_only_when_a_text_needs_it() {
    let store = "test-lazy-encoder";
    let ranker = load_cpu(store).await;
    wait(ranker.forget()).await.unwrap();
    assert!(!encoder_built(&ranker), "Ranker.load built the encoder");
    // Three callers before any build: each is served, by one build.
    let event = |id: &str, title: &str| {
        js(&json!({"kind": "view", "itemId": id, "title": title, "ts": 1.7e12}))
    };
    let calls = [
        ranker.record(event("a", "Heat (1995)")),
        ranker.record(event("b", "Casino (1995)")),
        ranker.embed(js(&json!(["Jumanji (1995)"]))),
    ];
    let mut results = Vec::new();
    for call in calls {
        results.push(
            wait(call)
                .await
                .unwrap_or_else(|e| panic!("{}", describe(&e))),
        );
    }
    assert!(encoder_built(&ranker));
    assert_eq!(to_json(ranker.debug_counters())["textsEncoded"], json!(3));
    let vector = Array::from(&results[2])
        .get(0)
        .unchecked_into::<Float32Array>()
        .to_vec();
    let hash = to_json(ranker.model_info())["encoderHash"].clone();
    drop(ranker);

    // The next visit: its history is embedded in IndexedDB and its candidate arrives
    // embedded, so ranking needs no encoder.
    let again = load_cpu(store).await;
    let candidate = json!([{"id": "j", "title": "Jumanji (1995)", "encoder": hash,
                            "embedding": privrank::packed::pack(&vector)}]);
    let ranked = wait(again.rank(js(&candidate), js(&json!({"now": 1.7e12}))))
        .await
        .unwrap_or_else(|e| panic!("rank: {}", describe(&e)));
    assert_eq!(to_json(ranked).as_array().map(Vec::len), Some(1));
    assert!(
        !encoder_built(&again),
        "a ranking of embedded candidates built the encoder"
    );
    assert_eq!(to_json(again.debug_counters())["textsEncoded"], json!(0));
    wait(again.forget()).await.unwrap();
}

fn performance() -> web_sys::Performance {
    Reflect::get(&js_sys::global(), &"performance".into())
        .unwrap()
        .unchecked_into()
}

/// Model requests since the last [`clear_requests`].
fn model_requests() -> Vec<String> {
    performance()
        .get_entries_by_type("resource")
        .iter()
        .filter_map(|e| Reflect::get(&e, &"name".into()).ok()?.as_string())
        .filter(|n| n.contains("/models/") || n.contains("/.cache/"))
        .collect()
}

fn clear_requests() {
    performance().clear_resource_timings();
}

/// On a cached load the encoder's weights are read when it is built, not at load;
/// a cached copy that no longer matches its hash is then fetched again and cached,
/// as a load would have done.
#[wasm_bindgen_test]
async fn cached_weights_are_read_at_build_and_a_corrupt_copy_is_fetched_again() {
    let store = "test-later-weights";
    let first = load_cpu(store).await;
    let texts = js(&json!(["Jumanji (1995)"]));
    let expected = Array::from(&wait(first.embed(texts.clone())).await.unwrap())
        .get(0)
        .unchecked_into::<Float32Array>()
        .to_vec();
    drop(first);

    let corrupt = "const cache = await caches.open('privrank-models-v1'); \
         const key = (await cache.keys()).find((r) => r.url.includes(name)); \
         await cache.put(key, new Response(new Uint8Array([1, 2, 3]))); return key.url;";
    let key = js_async("model.quantized.safetensors", corrupt)
        .await
        .unwrap_or_else(|e| panic!("{}", describe(&e)))
        .as_string()
        .unwrap();

    clear_requests();
    let ranker = load_cpu(store).await;
    assert!(!encoder_built(&ranker));
    assert_eq!(
        model_requests(),
        Vec::<String>::new(),
        "the load downloaded"
    );
    let got = Array::from(
        &wait(ranker.embed(texts))
            .await
            .unwrap_or_else(|e| panic!("embed after a corrupt cache entry: {}", describe(&e))),
    )
    .get(0)
    .unchecked_into::<Float32Array>()
    .to_vec();
    assert_eq!(got, expected);
    let requests = model_requests();
    assert!(
        requests.len() == 1 && requests[0].contains("model.quantized.safetensors"),
        "the build should fetch the weights once: {requests:?}"
    );
    let cached = js_async(
        &key,
        "const r = await (await caches.open('privrank-models-v1')).match(name); \
         return (await r.arrayBuffer()).byteLength;",
    )
    .await
    .unwrap()
    .as_f64()
    .unwrap();
    assert!(cached > 1e6, "the cache still holds {cached} bytes");
    wait(ranker.forget()).await.unwrap();
}

#[wasm_bindgen_test]
async fn bad_inputs_are_typed_errors_and_history_survives() {
    let ranker = load_cpu("test-bad").await;
    wait(ranker.forget()).await.unwrap();
    let kept = json!({"kind": "view", "itemId": "1", "title": "Toy Story (1995)"});
    wait(ranker.record(js(&kept))).await.unwrap();

    let rank_err = |candidates: JsValue, options: JsValue| {
        let what = format!("{candidates:.80?} with options {options:?}");
        let p = ranker.rank(candidates, options);
        async move {
            wait(p)
                .await
                .map(|ok| panic!("{what} should be refused, got {}", describe(&ok)))
                .unwrap_or_else(|e| e)
        }
    };
    let details = |e: &JsValue| -> Vec<(u64, String)> {
        to_json(Reflect::get(e, &"details".into()).unwrap())
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d["index"].as_u64().unwrap(),
                    d["field"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    // Missing fields, all reported at once.
    let e = rank_err(
        js(&json!([{"id": "a"}, {"title": "no id"}, {"id": "c", "title": "ok"}])),
        JsValue::UNDEFINED,
    )
    .await;
    assert_eq!(code(&e), "BadCandidate");
    assert_eq!(details(&e), [(0, "title".to_owned()), (1, "id".to_owned())]);
    assert!(e.is_instance_of::<js_sys::Error>());

    // NaN bid: built in JS, since JSON has no NaN.
    let c = Object::new();
    Reflect::set(&c, &"id".into(), &"n".into()).unwrap();
    Reflect::set(&c, &"title".into(), &"Fargo (1996)".into()).unwrap();
    Reflect::set(&c, &"bid".into(), &f64::NAN.into()).unwrap();
    let e = rank_err(Array::of1(&c).into(), JsValue::UNDEFINED).await;
    assert_eq!(code(&e), "BadCandidate");
    assert_eq!(details(&e), [(0, "bid".to_owned())]);

    // A 100 kB title.
    let e = rank_err(
        js(&json!([{"id": "big", "title": "x".repeat(100_000)}])),
        JsValue::UNDEFINED,
    )
    .await;
    assert_eq!(code(&e), "BadCandidate");

    // A misspelt field is named, not dropped; a page's own data under `extras` passes.
    let e = rank_err(
        js(
            &json!([{"id": "m", "title": "Heat (1995)", "advertizer": "acme",
                    "extras": {"price": 3}}]),
        ),
        JsValue::UNDEFINED,
    )
    .await;
    assert_eq!(code(&e), "BadCandidate");
    assert_eq!(details(&e), [(0, "advertizer".to_owned())]);

    // 10,000 candidates.
    let many: Vec<Value> = (0..10_000)
        .map(|i| json!({"id": i, "title": format!("item {i}")}))
        .collect();
    let e = rank_err(js(&Value::Array(many)), JsValue::UNDEFINED).await;
    assert_eq!(code(&e), "TooManyCandidates");

    // Not an array; unknown option; bad event.
    assert_eq!(
        code(&rank_err("nope".into(), JsValue::UNDEFINED).await),
        "BadInput"
    );
    let ok = js(&json!([{"id": "a", "title": "Heat (1995)"}]));
    assert_eq!(
        code(&rank_err(ok.clone(), js(&json!({"topK": 3}))).await),
        "BadOptions"
    );
    let e = wait(ranker.record(js(&json!({"kind": "teleport", "title": "?"}))))
        .await
        .unwrap_err();
    assert_eq!(code(&e), "BadEvent");
    let e = wait(ranker.record(js(
        &json!({"kind": "view", "itemId": "x", "title": "?", "price": 3}),
    )))
    .await
    .unwrap_err();
    assert_eq!(code(&e), "BadEvent");

    // The ranker still works, and the history is intact.
    let ranked = to_json(wait(ranker.rank(ok, JsValue::UNDEFINED)).await.unwrap());
    assert_eq!(ranked[0]["id"], "a");
    let stored = history(&ranker).await;
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0]["title"], "Toy Story (1995)");

    // Misspelt or invalid load options.
    for options in [
        json!({"modelUrl": MODELS, "backnd": "cpu"}),
        json!({"modelUrl": MODELS, "backend": "tpu"}),
        json!({"modelUrl": MODELS, "retention": {"maxEvents": 0}}),
    ] {
        let e = load(options.clone())
            .await
            .err()
            .expect("bad options must be refused");
        assert_eq!(code(&e), "BadOptions", "{options}: {}", describe(&e));
    }

    // A model file that does not match its manifest's hash.
    let e = load(
        json!({"modelUrl": "/tests/fixtures/web/bad_hash.json", "backend": "cpu",
                        "storeName": "test-bad", "refresh": true}),
    )
    .await
    .err()
    .expect("a bad hash must refuse to load");
    assert_eq!(code(&e), "ModelHashMismatch", "{}", describe(&e));
    assert_eq!(history(&ranker).await.len(), 1);
}

/// Models come from the Cache API on the second load: no request for any model
/// file, and the progress callback says each file was cached.
#[wasm_bindgen_test]
async fn second_load_uses_the_cache_api() {
    drop(load_cpu("test-cache").await);
    clear_requests();
    let files = Array::new();
    let sink = files.clone();
    let progress = wasm_bindgen::closure::Closure::<dyn Fn(JsValue)>::new(move |p: JsValue| {
        sink.push(&p);
    });
    let options = js(&json!({"modelUrl": MODELS, "backend": "cpu", "storeName": "test-cache"}));
    Reflect::set(&options, &"onProgress".into(), progress.as_ref()).unwrap();
    let _ranker = loaded(Ranker::load(options)).await.unwrap();
    let requested = model_requests();
    assert!(
        requested.is_empty(),
        "model requests on a cached load: {requested:?}"
    );
    let reports: Vec<Value> = files.iter().map(to_json).collect();
    assert_eq!(
        reports.len(),
        4,
        "config, tokenizer, weights, ranker: {reports:?}"
    );
    assert!(reports.iter().all(|r| r["cached"] == true), "{reports:?}");
}
