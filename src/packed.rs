//! Embeddings on the wire. An edge node or ad server that embedded a candidate
//! attaches the vector, packed, so the device ranks it without running its encoder:
//! `"embedding": {"int8": "<base64>", "scale": s}` beside `"encoder": "<hash>"`.
//! Each component is an int8 code times the one scale, so a 384-wide vector is 384
//! bytes (512 base64 characters) against 768 for float16, and no component is off
//! by more than half a scale step. One function packs, one unpacks; the CLI, the
//! edge worker and the browser all go through them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};

use crate::input::Checker;

/// The largest code: codes run over `[-LEVELS, LEVELS]`, symmetric about zero.
pub const LEVELS: f32 = 127.0;

/// The largest scale accepted. The encoders' vectors are unit length, so their
/// scale is at most `1 / LEVELS`; anything above 1 (components past 127) is a bug
/// on the sending side, not an embedding.
pub const MAX_SCALE: f64 = 1.0;

/// A packed vector as it travels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Packed {
    /// Base64 (standard alphabet, padded) of one signed byte per component.
    pub int8: String,
    /// What one code step is worth.
    pub scale: f32,
}

/// Pack a vector: the scale puts its largest component on code ±127. A zero or
/// non-finite vector has no such scale; it packs to scale 0, which [`unpack`]
/// refuses, so it cannot pass for an embedding.
pub fn pack(vector: &[f32]) -> Packed {
    let max = vector.iter().fold(0f32, |m, x| m.max(x.abs()));
    let finite = vector.iter().all(|x| x.is_finite());
    let scale = if finite && max > 0.0 {
        max / LEVELS
    } else {
        0.0
    };
    let codes: Vec<u8> = vector
        .iter()
        .map(|x| {
            let code = if scale > 0.0 {
                (x / scale).round().clamp(-LEVELS, LEVELS)
            } else {
                0.0
            };
            (code as i8) as u8
        })
        .collect();
    Packed {
        int8: STANDARD.encode(codes),
        scale,
    }
}

/// The vector back, checked: `dim` components, a scale in `(0, MAX_SCALE]`, not
/// all zero. `Err` holds the sub-field at fault and why.
pub fn unpack(int8: &str, scale: f64, dim: usize) -> Result<Vec<f32>, (&'static str, String)> {
    if !(scale.is_finite() && scale > 0.0 && scale <= MAX_SCALE) {
        return Err((
            "scale",
            format!("must be a finite number within (0, {MAX_SCALE}], found {scale}"),
        ));
    }
    // Bound the decoder's work before it runs: a correct field is this long.
    let expected_chars = dim.div_ceil(3) * 4;
    if int8.len() != expected_chars {
        return Err((
            "int8",
            format!(
                "is {} base64 characters long; {dim} components take {expected_chars}",
                int8.len()
            ),
        ));
    }
    let codes = STANDARD
        .decode(int8)
        .map_err(|e| ("int8", format!("is not base64: {e}")))?;
    if codes.len() != dim {
        return Err((
            "int8",
            format!(
                "holds {} components; the encoder's vectors have {dim}",
                codes.len()
            ),
        ));
    }
    if codes.iter().all(|&c| c == 0) {
        return Err(("int8", "is the zero vector, which no text embeds to".into()));
    }
    let scale = scale as f32;
    Ok(codes.iter().map(|&c| f32::from(c as i8) * scale).collect())
}

/// Read a packed vector from `field` of the record `c` checks; every problem is a
/// field error (`embedding`, `embedding.int8`, `embedding.scale`).
pub fn read(c: &mut Checker<'_>, field: &str, dim: usize) -> Option<Vec<f32>> {
    let value = c.value(field)?;
    let mut nested = Checker::new(0, value);
    let int8 = nested.text("int8", true, usize::MAX);
    let scale = nested.number("scale", true, f64::NEG_INFINITY, f64::INFINITY);
    nested.refuse_unknown("packed embedding", &[]);
    let vector = match (int8, scale, nested.errors.is_empty()) {
        (Some(int8), Some(scale), true) => match unpack(&int8, scale, dim) {
            Ok(v) => Some(v),
            Err((sub, reason)) => {
                nested.fail(sub, reason);
                None
            }
        },
        _ => None,
    };
    c.adopt(field, nested);
    vector
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(dim: usize, salt: f32) -> Vec<f32> {
        let v: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.61 + salt).sin()).collect();
        let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        v.iter().map(|x| x / n).collect()
    }

    #[test]
    fn a_round_trip_is_within_half_a_step_and_384_components_take_512_characters() {
        let v = unit(384, 0.3);
        let p = pack(&v);
        assert_eq!(p.int8.len(), 512);
        let back = unpack(&p.int8, f64::from(p.scale), 384).unwrap();
        let worst = v
            .iter()
            .zip(&back)
            .map(|(a, b)| (a - b).abs())
            .fold(0f32, f32::max);
        assert!(worst <= p.scale / 2.0 + 1e-7, "{worst} vs step {}", p.scale);
        // The largest component lands on a full code.
        let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!((p.scale * LEVELS - max).abs() < 1e-7);
    }

    #[test]
    fn bad_packings_name_the_sub_field() {
        let p = pack(&unit(8, 1.0));
        let s = f64::from(p.scale);
        assert_eq!(unpack(&p.int8, s, 9).unwrap_err().0, "int8");
        assert_eq!(unpack(&p.int8, s, 8).map(|v| v.len()), Ok(8));
        assert_eq!(unpack("!!!!!!!!!!!!", s, 8).unwrap_err().0, "int8");
        for bad in [0.0, -0.1, 2.0, f64::NAN, f64::INFINITY] {
            assert_eq!(unpack(&p.int8, bad, 8).unwrap_err().0, "scale");
        }
        let zero = pack(&[0.0; 8]);
        assert_eq!(zero.scale, 0.0);
        let err = unpack(&zero.int8, 0.01, 8).unwrap_err();
        assert!(err.1.contains("zero vector"), "{err:?}");
        let nan = pack(&[f32::NAN, 1.0]);
        assert_eq!(nan.scale, 0.0);
    }
}
