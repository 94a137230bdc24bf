//! Item embeddings are computed once per encoder and text, and survive a torn write.

#![cfg(not(target_arch = "wasm32"))]

mod common;

use common::{Golden, teacher_dir, teacher_manifest};
use privrank::embed_cache::EmbeddingCache;
use privrank::{Backend, ModelBundle, SentenceEncoder};

#[test]
fn embeddings_are_computed_once_and_survive_a_torn_tail() {
    let bundle = ModelBundle::read(&teacher_manifest(), &teacher_dir()).unwrap();
    let encoder = SentenceEncoder::load(&bundle, &Backend::cpu().device).unwrap();
    let dir = std::env::temp_dir().join(format!("privrank-cache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let golden = Golden::load();
    let case = golden.case(&golden.cases[0].name);
    let texts = vec![
        case.text.clone(),
        "Wireless headphones".to_owned(),
        case.text.clone(),
    ];

    let mut cache = EmbeddingCache::open(&dir, encoder.model_hash(), encoder.dim()).unwrap();
    let mut computed = 0;
    let first = cache
        .embed(&encoder, &texts, |done, _| computed = done)
        .unwrap();
    assert_eq!(
        computed, 2,
        "two distinct texts are embedded, the duplicate is not"
    );
    assert_eq!(first[0], first[2]);
    // The cached vector is the encoder's, which matches the NumPy reference.
    let cos = privrank::encoder::cosine(&first[0], &case.embedding);
    assert!(cos > 0.99999, "cosine {cos}");

    // Reopened: nothing is recomputed and the vectors are bit-identical.
    let mut cache = EmbeddingCache::open(&dir, encoder.model_hash(), encoder.dim()).unwrap();
    assert_eq!(cache.len(), 2);
    let mut recomputed = 0;
    let again = cache
        .embed(&encoder, &texts, |done, _| recomputed = done)
        .unwrap();
    assert_eq!(recomputed, 0);
    assert_eq!(again, first);

    // A crash mid-append leaves a partial record: it is dropped, the rest is kept.
    let path = cache.path().to_owned();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() - 100]).unwrap();
    let cache = EmbeddingCache::open(&dir, encoder.model_hash(), encoder.dim()).unwrap();
    assert_eq!(cache.len(), 1);

    // Another encoder (another hash) does not see these vectors.
    let other = EmbeddingCache::open(&dir, "another-encoder", encoder.dim()).unwrap();
    assert!(other.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}
