//! `demoData`: the demo storefront's files from the MovieLens-100k download, so that
//! `scripts/demo` serves the demo on the npm package alone, with no native build.
//! Storefronts never call it; it is the demo's ad server (`crate::data::demo`).

use serde::Serialize;
use wasm_bindgen::prelude::*;

use super::error;
use crate::data::MovieLens;
use crate::data::demo::{AdServer, PER_GENRE};

/// The three files' texts in, `catalog.json` and `candidates.json` out, as
/// `privrank demo-data` writes them.
#[wasm_bindgen(js_name = demoData, unchecked_return_type = "DemoData")]
pub fn demo_data(
    inter: &str,
    item: &str,
    user: &str,
    per_genre: Option<usize>,
) -> Result<JsValue, JsValue> {
    super::guard::check()?;
    let ml = MovieLens::parse(inter, item, user).map_err(error::to_js)?;
    let data = AdServer::new(&ml).data(per_genre.unwrap_or(PER_GENRE));
    data.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(|e| error::to_js(crate::Error::BadInput(e.to_string())))
}
