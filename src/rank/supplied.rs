//! Candidate embeddings the request brought along (`crate::packed`): used as they
//! are when the encoder that made them is the device's, so only the rest reach the
//! embedder.

use serde::{Deserialize, Serialize};

use crate::candidates::Candidate;
use crate::{Error, Result};

/// What `rank` does with an embedding made by another encoder than the device's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OnEncoderMismatch {
    /// Refuse the request with [`Error::EncoderMismatch`]: vectors of another model
    /// would rank silently wrong.
    #[default]
    Error,
    /// Ignore the attached vectors and embed those texts on the device.
    Embed,
}

/// Per candidate text, in the order `rank` embeds them (every title, then every
/// creative in candidate order), the attached vector to use, if any.
pub fn supplied(
    candidates: &[Candidate],
    encoder: &str,
    on_mismatch: OnEncoderMismatch,
) -> Result<Vec<Option<Vec<f32>>>> {
    let mut usable = Vec::with_capacity(candidates.len());
    for (index, c) in candidates.iter().enumerate() {
        let attached = c.embedding.is_some() || c.creatives.iter().any(|cr| cr.embedding.is_some());
        let ours = match c.encoder.as_deref() {
            Some(theirs) if attached && theirs != encoder => match on_mismatch {
                OnEncoderMismatch::Error => {
                    return Err(Error::EncoderMismatch {
                        index,
                        theirs: theirs.to_owned(),
                        ours: encoder.to_owned(),
                    });
                }
                OnEncoderMismatch::Embed => false,
            },
            _ => true,
        };
        usable.push(ours);
    }
    let titles = candidates
        .iter()
        .zip(&usable)
        .map(|(c, &ok)| c.embedding.clone().filter(|_| ok));
    let creatives = candidates.iter().zip(&usable).flat_map(|(c, &ok)| {
        c.creatives
            .iter()
            .map(move |cr| cr.embedding.clone().filter(|_| ok))
    });
    Ok(titles.chain(creatives).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RankerConfig;
    use crate::input::Value;

    fn candidates(encoder: &str) -> Vec<Candidate> {
        let p = serde_json::to_value(crate::packed::pack(&[0.1, 0.2, 0.3, 0.4])).unwrap();
        let list: Vec<Value> = serde_json::from_value(serde_json::json!([
            {"id": "plain", "title": "a", "creatives": [{"id": "x", "text": "x"}]},
            {"id": "ready", "title": "b", "encoder": encoder, "embedding": p,
             "creatives": [{"id": "y", "text": "y", "embedding": p}, {"id": "z", "text": "z"}]}
        ]))
        .unwrap();
        crate::candidates::parse(&list, &RankerConfig::new(4, vec![]), 10).unwrap()
    }

    #[test]
    fn matching_vectors_are_used_in_embedding_order_and_others_are_left_to_embed() {
        let got = supplied(&candidates("ours"), "ours", OnEncoderMismatch::Error).unwrap();
        let present: Vec<bool> = got.iter().map(Option::is_some).collect();
        // Titles (plain, ready), then creatives (x; y, z).
        assert_eq!(present, [false, true, false, true, false]);
    }

    #[test]
    fn another_encoders_vectors_are_refused_or_embedded_again() {
        let list = candidates("theirs");
        let err = supplied(&list, "ours", OnEncoderMismatch::Error).unwrap_err();
        let Error::EncoderMismatch {
            index,
            theirs,
            ours,
        } = &err
        else {
            panic!("{err}");
        };
        assert_eq!(
            (*index, theirs.as_str(), ours.as_str()),
            (1, "theirs", "ours")
        );
        assert!(err.to_string().contains("onEncoderMismatch"), "{err}");
        assert_eq!(err.code(), "EncoderMismatch");
        let got = supplied(&list, "ours", OnEncoderMismatch::Embed).unwrap();
        assert!(got.iter().all(Option::is_none));
    }
}
