//! Behaviour data must never leave the device. The library's only network traffic
//! is the model loader fetching model files and the report sender posting noised
//! reports (a `privacy::NoisedReport`, by its type: labels, day, ε and one noised
//! bit) to the collector the page named, and this audit holds the built npm
//! package (`pkg/`, from `scripts/build-pkg`) to that, for both of its modules (the
//! CPU core and the WebGPU add-on):
//!
//! 1. every import of the wasm module is listed, and each one whose JavaScript glue
//!    touches a network API (fetch, XMLHttpRequest, WebSocket, sendBeacon,
//!    EventSource, WebRTC, WebTransport, importScripts) is found;
//! 2. every wasm function that calls such an import directly must belong to the
//!    model loader (`privrank::web::models`) or the report sender
//!    (`privrank::web::reports`), by the name section;
//! 3. no network API name may appear in the module's data at all (a guard against
//!    reaching one dynamically through `Reflect.get`), except `fetch` inside the
//!    loader's own error messages.
//!
//! The call graph is read from the unstripped wasm-bindgen output that
//! `scripts/build-pkg` keeps in `target/pkg-audit/` (the shipped modules have no
//! name section); the shipped module must be that one, stripped: the same imports
//! and the same data. The package's entry point (`pkg/privrank.js`) makes one
//! request, for the add-on's own code.
//!
//! What it cannot see: calls through function tables (closures, trait objects), so
//! the loader and the sender each keep their one network call in a non-inlined
//! function called directly.

#![cfg(not(target_arch = "wasm32"))]

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use wasmparser::{KnownCustom, Name, Operator, Parser, Payload, TypeRef};

const NETWORK: [&str; 9] = [
    "fetch(",
    "XMLHttpRequest",
    "WebSocket",
    "sendBeacon",
    "EventSource",
    "RTCPeerConnection",
    "RTCDataChannel",
    "WebTransport",
    "importScripts",
];

/// The package's two modules, by their wasm-bindgen names.
const MODULES: [&str; 2] = ["privrank_core", "privrank_webgpu"];

fn pkg() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let built = MODULES.iter().all(|m| {
        root.join("pkg").join(format!("{m}_bg.wasm")).exists()
            && root
                .join(AUDIT)
                .join(m)
                .join(format!("{m}_bg.wasm"))
                .exists()
    });
    if built {
        Some(root)
    } else if std::env::var_os("CI").is_some() || std::env::var_os("PRIVRANK_REQUIRE_PKG").is_some()
    {
        panic!("pkg/ or {AUDIT}/ is missing a module: run `bash scripts/build-pkg` first");
    } else {
        eprintln!("import audit: SKIPPED — pkg/ not built (bash scripts/build-pkg)");
        None
    }
}

/// Where `scripts/build-pkg` keeps the unstripped wasm-bindgen output.
const AUDIT: &str = "target/pkg-audit";

/// The JavaScript body of each `__wbg_*` / `__wbindgen_*` import in wasm-bindgen's
/// glue.
fn glue_bodies(js: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut marks: Vec<usize> = js
        .match_indices("__wbg_")
        .chain(js.match_indices("__wbindgen_"))
        .map(|(i, _)| i)
        .collect();
    marks.sort_unstable();
    let starts: Vec<(usize, String)> = marks
        .into_iter()
        .filter_map(|i| {
            let name: String = js[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let rest = js[i + name.len()..].trim_start();
            (rest.starts_with(':') || rest.starts_with('=')).then_some((i, name))
        })
        .collect();
    for (k, (start, name)) in starts.iter().enumerate() {
        let end = starts.get(k + 1).map_or(js.len(), |(e, _)| *e);
        out.insert(name.clone(), js[*start..end].to_owned());
    }
    out
}

struct Module {
    /// Function index → import field name, for imported functions.
    imports: BTreeMap<u32, String>,
    /// Callee → callers, from direct `call` instructions.
    callers: BTreeMap<u32, BTreeSet<u32>>,
    names: BTreeMap<u32, String>,
    data: Vec<u8>,
}

fn parse(wasm: &[u8]) -> Module {
    let mut m = Module {
        imports: BTreeMap::new(),
        callers: BTreeMap::new(),
        names: BTreeMap::new(),
        data: Vec::new(),
    };
    let mut imported = 0u32;
    let mut body_index = 0u32;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.expect("valid wasm") {
            Payload::ImportSection(section) => {
                for import in section.into_imports() {
                    let import = import.expect("import");
                    if let TypeRef::Func(_) = import.ty {
                        m.imports.insert(imported, import.name.to_owned());
                        imported += 1;
                    }
                }
            }
            Payload::CodeSectionEntry(body) => {
                let caller = imported + body_index;
                body_index += 1;
                let mut ops = body.get_operators_reader().expect("operators");
                while !ops.eof() {
                    if let Operator::Call { function_index } = ops.read().expect("operator") {
                        m.callers.entry(function_index).or_default().insert(caller);
                    }
                }
            }
            Payload::DataSection(section) => {
                for data in section {
                    m.data.extend_from_slice(data.expect("data").data);
                }
            }
            Payload::CustomSection(section) => {
                let KnownCustom::Name(reader) = section.as_known() else {
                    continue;
                };
                for name in reader {
                    if let Ok(Name::Function(map)) = name {
                        for naming in map.into_iter().flatten() {
                            m.names.insert(naming.index, naming.name.to_owned());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    m
}

#[test]
fn only_the_model_loader_and_the_report_sender_reach_the_network() {
    let Some(root) = pkg() else { return };
    for name in MODULES {
        audit(&root, name);
    }
}

#[test]
fn the_entry_point_fetches_only_the_webgpu_add_on() {
    let Some(root) = pkg() else { return };
    let js = std::fs::read_to_string(root.join("pkg/privrank.js")).unwrap();
    let uses: Vec<&str> = NETWORK
        .iter()
        .copied()
        .filter(|api| js.contains(api))
        .collect();
    assert_eq!(uses, ["fetch("], "network APIs in pkg/privrank.js");
    assert_eq!(
        js.matches("fetch(").count(),
        1,
        "one fetch in pkg/privrank.js"
    );
    assert!(
        js.contains("const url = new URL('privrank_webgpu_bg.wasm', import.meta.url);")
            && js.contains("await fetch(url)"),
        "pkg/privrank.js's one fetch is not of the add-on's own module"
    );
    assert!(
        !js.contains("@WEBGPU_ADDON_SHA256@"),
        "the add-on's hash was not filled in"
    );
}

fn audit(root: &std::path::Path, name: &str) {
    let unstripped = root.join(AUDIT).join(name);
    let wasm = std::fs::read(unstripped.join(format!("{name}_bg.wasm"))).unwrap();
    let js = std::fs::read_to_string(unstripped.join(format!("{name}.js"))).unwrap();
    let shipped = parse(&std::fs::read(root.join("pkg").join(format!("{name}_bg.wasm"))).unwrap());
    let shipped_js = std::fs::read_to_string(root.join("pkg").join(format!("{name}.js"))).unwrap();
    let bodies = glue_bodies(&js);
    let module = parse(&wasm);
    assert!(
        !module.names.is_empty(),
        "{name}: the audit copy has no name section"
    );
    assert!(
        shipped.names.is_empty(),
        "{name}: the shipped module has a name section"
    );
    assert_eq!(
        shipped_js, js,
        "{name}: pkg/'s glue is not the audited glue"
    );
    let imported: BTreeSet<&String> = module.imports.values().collect();
    assert!(
        shipped.imports.values().all(|i| imported.contains(i)),
        "{name}: the shipped module imports what the audited one does not"
    );
    println!(
        "import audit: {name}: {} imported functions",
        module.imports.len()
    );

    let mut network = Vec::new();
    for (&index, import) in &module.imports {
        let body = bodies
            .get(import)
            .unwrap_or_else(|| panic!("import {import} has no JavaScript glue in {name}.js"));
        if let Some(api) = NETWORK.iter().find(|api| body.contains(*api)) {
            network.push((index, import.clone(), *api));
        }
    }
    assert!(
        !network.is_empty(),
        "{name}: no fetch import found: the model loader must import fetch (is the glue format recognised?)"
    );
    let mut violations = Vec::new();
    for (index, import, api) in &network {
        // wasm-bindgen wraps imports in generated shims; look through them to the Rust
        // functions that call the shim.
        let mut todo: Vec<u32> = vec![*index];
        let mut seen = BTreeSet::new();
        let mut rust_callers = 0;
        while let Some(callee) = todo.pop() {
            for &caller in module.callers.get(&callee).into_iter().flatten() {
                if !seen.insert(caller) {
                    continue;
                }
                let fname = module
                    .names
                    .get(&caller)
                    .cloned()
                    .unwrap_or(format!("#{caller}"));
                if fname.contains(" shim") {
                    todo.push(caller);
                    continue;
                }
                rust_callers += 1;
                println!("import audit: {name}: {import} ({api}) called from {fname}");
                if !(fname.contains("privrank")
                    && fname.contains("web")
                    && (fname.contains("models") || fname.contains("reports")))
                {
                    violations.push(format!("{name}: {fname} calls {import} ({api})"));
                }
            }
        }
        assert!(
            rust_callers > 0,
            "{name}: {import} ({api}) is imported but never called directly"
        );
    }
    assert!(
        violations.is_empty(),
        "network reachable outside the model loader and the report sender: {violations:#?}"
    );

    assert_eq!(
        shipped.data, module.data,
        "{name}: the shipped module's data differs"
    );
    let data = String::from_utf8_lossy(&module.data);
    for api in NETWORK
        .iter()
        .map(|a| a.trim_end_matches('('))
        .filter(|a| *a != "fetch")
    {
        assert!(
            !data.contains(api),
            "{name}: `{api}` appears in the module's data (dynamic access?)"
        );
    }
}

#[test]
fn the_glue_parser_finds_imports_and_their_bodies() {
    // Both layouts wasm-bindgen has used: object properties and assignments.
    let js = "imports.wbg.__wbg_fetch_ab12 = function(a) { return fetch(a); };\n\
              const x = { __wbg_now_cd34: function() { return Date.now(); } };";
    let bodies = glue_bodies(js);
    assert!(bodies["__wbg_fetch_ab12"].contains("fetch("));
    assert!(!bodies["__wbg_now_cd34"].contains("fetch("));
}
