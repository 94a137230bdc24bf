//! ggml's tensor types and their dequantisation to float32. Weights are widened once,
//! on load: the model then computes in float32 on burn's CPU backend like every other
//! privrank model, and a quantised file only shrinks what is stored and fetched.

use half::f16;

/// ggml's block-quantised formats store a run of 32 values with one (or two) f16
/// constants.
const BLOCK: usize = 32;

/// The ggml types privrank reads. Others are named in the error so that a user knows
/// which quantisation to ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GgmlType {
    F32,
    F16,
    /// 32 values as a f16 scale `d`, a f16 minimum `m` and 4-bit codes `q`:
    /// `q × d + m`.
    Q4_1,
    /// 32 values as a f16 scale `d` and int8 codes `q`: `q × d`.
    Q8_0,
}

/// ggml's type ids (ggml.h `enum ggml_type`), for errors about those not read here.
const NAMES: [(u32, &str); 30] = [
    (0, "F32"),
    (1, "F16"),
    (2, "Q4_0"),
    (3, "Q4_1"),
    (6, "Q5_0"),
    (7, "Q5_1"),
    (8, "Q8_0"),
    (9, "Q8_1"),
    (10, "Q2_K"),
    (11, "Q3_K"),
    (12, "Q4_K"),
    (13, "Q5_K"),
    (14, "Q6_K"),
    (15, "Q8_K"),
    (16, "IQ2_XXS"),
    (17, "IQ2_XS"),
    (18, "IQ3_XXS"),
    (19, "IQ1_S"),
    (20, "IQ4_NL"),
    (21, "IQ3_S"),
    (22, "IQ2_S"),
    (23, "IQ4_XS"),
    (24, "I8"),
    (25, "I16"),
    (26, "I32"),
    (27, "I64"),
    (28, "F64"),
    (29, "IQ1_M"),
    (30, "BF16"),
    (34, "TQ1_0"),
];

impl GgmlType {
    pub fn from_id(id: u32) -> Result<Self, String> {
        match id {
            0 => Ok(Self::F32),
            1 => Ok(Self::F16),
            3 => Ok(Self::Q4_1),
            8 => Ok(Self::Q8_0),
            _ => {
                let name = NAMES
                    .iter()
                    .find(|(n, _)| *n == id)
                    .map_or("unknown", |(_, name)| name);
                Err(format!(
                    "ggml type {id} ({name}) has no dequantiser here; privrank reads F32, \
                     F16, Q4_1 and Q8_0"
                ))
            }
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "F32",
            Self::F16 => "F16",
            Self::Q4_1 => "Q4_1",
            Self::Q8_0 => "Q8_0",
        }
    }

    /// (values per block, bytes per block)
    fn block(self) -> (usize, usize) {
        match self {
            Self::F32 => (1, 4),
            Self::F16 => (1, 2),
            Self::Q4_1 => (BLOCK, 4 + BLOCK / 2),
            Self::Q8_0 => (BLOCK, 2 + BLOCK),
        }
    }

    /// The stored size of a tensor of these dims; a row must hold whole blocks.
    pub fn bytes_for(self, dims: &[usize]) -> Result<usize, String> {
        let (per_block, block_bytes) = self.block();
        let row = dims.first().copied().unwrap_or(1);
        if !row.is_multiple_of(per_block) {
            return Err(format!(
                "rows of {row} values do not split into {} blocks of {per_block}",
                self.name()
            ));
        }
        dims.iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d))
            .and_then(|n| (n / per_block).checked_mul(block_bytes))
            .ok_or_else(|| "its size overflows".to_owned())
    }

    /// `bytes` holds exactly `elements` values of this type (checked by the caller
    /// through [`Self::bytes_for`]; checked again here).
    pub fn dequantize(self, bytes: &[u8], elements: usize) -> Result<Vec<f32>, String> {
        let (per_block, block_bytes) = self.block();
        if !elements.is_multiple_of(per_block) || bytes.len() != elements / per_block * block_bytes
        {
            return Err(format!(
                "{} bytes do not hold {elements} {} values",
                bytes.len(),
                self.name()
            ));
        }
        let mut out = Vec::with_capacity(elements);
        let blocks = bytes.chunks_exact(block_bytes);
        match self {
            Self::F32 => out.extend(blocks.map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            Self::F16 => out.extend(blocks.map(|b| half(b, 0))),
            Self::Q4_1 => {
                for b in blocks {
                    let (d, m) = (half(b, 0), half(b, 2));
                    let codes = &b[4..];
                    // Low nibbles are the block's first 16 values, high nibbles the rest.
                    out.extend(codes.iter().map(|&q| f32::from(q & 0x0f) * d + m));
                    out.extend(codes.iter().map(|&q| f32::from(q >> 4) * d + m));
                }
            }
            Self::Q8_0 => {
                for b in blocks {
                    let d = half(b, 0);
                    out.extend(b[2..].iter().map(|&q| f32::from(q as i8) * d));
                }
            }
        }
        Ok(out)
    }
}

fn half(bytes: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([bytes[at], bytes[at + 1]]).to_f32()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One Q4_1 block written by hand: d = 0.5, m = -1, codes 0..15 then 15..0.
    #[test]
    fn q4_1_block_reads_low_nibbles_first() {
        let mut block = Vec::new();
        block.extend(f16::from_f32(0.5).to_le_bytes());
        block.extend(f16::from_f32(-1.0).to_le_bytes());
        block.extend((0..16u8).map(|i| i | ((15 - i) << 4)));
        let values = GgmlType::Q4_1.dequantize(&block, 32).unwrap();
        let expected: Vec<f32> = (0..16)
            .chain((0..16).rev())
            .map(|q| q as f32 * 0.5 - 1.0)
            .collect();
        assert_eq!(values, expected);
    }

    #[test]
    fn q8_0_block_is_signed() {
        let mut block = Vec::new();
        block.extend(f16::from_f32(0.25).to_le_bytes());
        block.extend((0..32).map(|i: i32| (i - 16) as i8 as u8));
        let values = GgmlType::Q8_0.dequantize(&block, 32).unwrap();
        assert_eq!(values[0], -4.0);
        assert_eq!(values[31], 3.75);
    }

    #[test]
    fn other_types_are_named_in_the_error() {
        let err = GgmlType::from_id(12).unwrap_err();
        assert!(err.contains("Q4_K"), "{err}");
        assert!(GgmlType::from_id(999).unwrap_err().contains("unknown"));
        assert!(GgmlType::Q8_0.bytes_for(&[33, 2]).is_err());
        assert_eq!(GgmlType::Q4_1.bytes_for(&[64, 3]), Ok(6 * 20));
    }
}
