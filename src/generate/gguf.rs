//! GGUF, llama.cpp's single-file model format: a header of typed metadata, a table of
//! tensors, then their data. Read from bytes already in memory; every count, length
//! and offset is checked against the bytes that are there before anything is
//! allocated for it, so a truncated or hostile file is a [`Error::BadGguf`], never a
//! panic or a huge allocation.

use std::collections::BTreeMap;

use super::quant::GgmlType;
use crate::{Error, Result};

const MAGIC: &[u8; 4] = b"GGUF";
/// Version 1 stored counts as u32; 2 and 3 differ only in byte order support (3 may
/// be big-endian, which the magic then reads backwards).
const VERSIONS: [u32; 2] = [2, 3];
const DEFAULT_ALIGNMENT: u64 = 32;
/// ggml tensors have at most four dimensions.
const MAX_DIMS: u32 = 4;

/// One metadata value, as typed in the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    U64(u64),
    I64(i64),
    F32(f32),
    F64(f64),
    Bool(bool),
    String(String),
    Array(Vec<Value>),
}

impl Value {
    fn kind(&self) -> &'static str {
        match self {
            Value::U8(_) => "u8",
            Value::I8(_) => "i8",
            Value::U16(_) => "u16",
            Value::I16(_) => "i16",
            Value::U32(_) => "u32",
            Value::I32(_) => "i32",
            Value::U64(_) => "u64",
            Value::I64(_) => "i64",
            Value::F32(_) => "f32",
            Value::F64(_) => "f64",
            Value::Bool(_) => "bool",
            Value::String(_) => "string",
            Value::Array(_) => "array",
        }
    }

    /// Any integer type that fits, as the spec lets writers choose the width.
    fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
}

/// Where one tensor's data is and how it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the contiguous one (a row's length).
    pub dims: Vec<usize>,
    pub kind: GgmlType,
    /// From the start of the file.
    offset: usize,
    bytes: usize,
}

impl TensorInfo {
    pub fn elements(&self) -> usize {
        self.dims.iter().product()
    }
}

/// A parsed GGUF file: metadata and tensor table, with the bytes they point into.
pub struct Gguf {
    file: String,
    pub version: u32,
    metadata: BTreeMap<String, Value>,
    tensors: Vec<TensorInfo>,
    data: Vec<u8>,
}

impl std::fmt::Debug for Gguf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gguf")
            .field("file", &self.file)
            .field("version", &self.version)
            .field("metadata", &self.metadata.len())
            .field("tensors", &self.tensors.len())
            .finish()
    }
}

impl Gguf {
    /// `file` names the bytes in errors.
    pub fn parse(file: &str, data: Vec<u8>) -> Result<Self> {
        let mut r = Reader {
            data: &data,
            at: 0,
            file,
        };
        let magic = r.take(4, "the magic")?.to_vec();
        if magic != MAGIC {
            return Err(r.error(format!(
                "starts with {magic:02x?}, not the GGUF magic \"GGUF\" (47 47 55 46)"
            )));
        }
        let version = r.u32("the version")?;
        if !VERSIONS.contains(&version) {
            return Err(r.error(format!(
                "GGUF version {version}; privrank reads versions {VERSIONS:?} (little-endian)"
            )));
        }
        let tensor_count = r.u64("the tensor count")?;
        let kv_count = r.u64("the metadata count")?;
        let mut metadata = BTreeMap::new();
        for index in 0..kv_count {
            let key = r.string(&format!("metadata key {index}"))?;
            let value = r.value(&key, 0)?;
            if metadata.insert(key.clone(), value).is_some() {
                return Err(r.error(format!("metadata key `{key}` appears twice")));
            }
        }
        let mut infos = Vec::new();
        for index in 0..tensor_count {
            let name = r.string(&format!("the name of tensor {index}"))?;
            let n_dims = r.u32(&format!("the dimensions of `{name}`"))?;
            if n_dims == 0 || n_dims > MAX_DIMS {
                return Err(r.error(format!(
                    "tensor `{name}` has {n_dims} dimensions; ggml allows 1 to {MAX_DIMS}"
                )));
            }
            let mut dims = Vec::new();
            for _ in 0..n_dims {
                let d = r.u64(&format!("a dimension of `{name}`"))?;
                dims.push(
                    usize::try_from(d)
                        .map_err(|_| r.error(format!("tensor `{name}` has a dimension of {d}")))?,
                );
            }
            let type_id = r.u32(&format!("the type of `{name}`"))?;
            let kind = GgmlType::from_id(type_id)
                .map_err(|reason| r.error(format!("tensor `{name}`: {reason}")))?;
            let offset = r.u64(&format!("the offset of `{name}`"))?;
            infos.push((name, dims, kind, offset));
        }
        let alignment = match metadata.get("general.alignment") {
            None => DEFAULT_ALIGNMENT,
            Some(v) => match v.as_u64() {
                Some(a) if a > 0 && a.is_power_of_two() => a,
                _ => return Err(r.error(format!("general.alignment is {v:?}"))),
            },
        };
        let start = (r.at as u64).div_ceil(alignment) * alignment;
        let mut tensors = Vec::with_capacity(infos.len());
        for (name, dims, kind, offset) in infos {
            if tensors.iter().any(|t: &TensorInfo| t.name == name) {
                return Err(r.error(format!("tensor `{name}` appears twice")));
            }
            if !offset.is_multiple_of(alignment) {
                return Err(r.error(format!(
                    "tensor `{name}` starts at offset {offset}, not a multiple of the \
                     alignment {alignment}"
                )));
            }
            let bytes = kind
                .bytes_for(&dims)
                .map_err(|reason| r.error(format!("tensor `{name}` {dims:?}: {reason}")))?;
            let begin = start.checked_add(offset);
            let end = begin.and_then(|b| b.checked_add(bytes as u64));
            match (begin, end) {
                (Some(begin), Some(end)) if end <= data.len() as u64 => tensors.push(TensorInfo {
                    name,
                    dims,
                    kind,
                    offset: begin as usize,
                    bytes,
                }),
                _ => {
                    return Err(r.error(format!(
                        "tensor `{name}` ({bytes} bytes at data offset {offset}) runs past the \
                         end of the file ({} bytes): the file is truncated",
                        data.len()
                    )));
                }
            }
        }
        Ok(Self {
            file: file.to_owned(),
            version,
            metadata,
            tensors,
            data,
        })
    }

    pub fn file(&self) -> &str {
        &self.file
    }

    pub fn tensors(&self) -> &[TensorInfo] {
        &self.tensors
    }

    pub fn tensor_info(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.get(key)
    }

    /// An error about this file, for callers that find its contents unusable.
    pub fn error(&self, reason: impl Into<String>) -> Error {
        Error::BadGguf {
            file: self.file.clone(),
            reason: reason.into(),
        }
    }

    fn required(&self, key: &str) -> Result<&Value> {
        self.get(key)
            .ok_or_else(|| self.error(format!("metadata `{key}` is missing")))
    }

    fn wrong_type(&self, key: &str, value: &Value, expected: &str) -> Error {
        self.error(format!(
            "metadata `{key}` is a {}, expected {expected}",
            value.kind()
        ))
    }

    /// An integer of any width that fits a `usize`.
    pub fn usize(&self, key: &str) -> Result<usize> {
        let value = self.required(key)?;
        value
            .as_u64()
            .and_then(|v| usize::try_from(v).ok())
            .ok_or_else(|| self.wrong_type(key, value, "a non-negative integer"))
    }

    pub fn f32(&self, key: &str) -> Result<f32> {
        match self.required(key)? {
            Value::F32(v) => Ok(*v),
            Value::F64(v) => Ok(*v as f32),
            other => Err(self.wrong_type(key, other, "a float")),
        }
    }

    pub fn str(&self, key: &str) -> Result<&str> {
        match self.required(key)? {
            Value::String(v) => Ok(v),
            other => Err(self.wrong_type(key, other, "a string")),
        }
    }

    pub fn bool(&self, key: &str) -> Result<bool> {
        match self.required(key)? {
            Value::Bool(v) => Ok(*v),
            other => Err(self.wrong_type(key, other, "a bool")),
        }
    }

    fn array(&self, key: &str) -> Result<&[Value]> {
        match self.required(key)? {
            Value::Array(v) => Ok(v),
            other => Err(self.wrong_type(key, other, "an array")),
        }
    }

    pub fn strings(&self, key: &str) -> Result<Vec<&str>> {
        self.array(key)?
            .iter()
            .map(|v| match v {
                Value::String(s) => Ok(s.as_str()),
                other => Err(self.wrong_type(key, other, "an array of strings")),
            })
            .collect()
    }

    pub fn integers(&self, key: &str) -> Result<Vec<u64>> {
        self.array(key)?
            .iter()
            .map(|v| {
                v.as_u64()
                    .ok_or_else(|| self.wrong_type(key, v, "an array of integers"))
            })
            .collect()
    }

    /// A tensor dequantised to float32, in ggml order (rows of `dims[0]` values),
    /// checked against the dims the caller expects.
    pub fn floats(&self, name: &str, expected: &[usize]) -> Result<Vec<f32>> {
        let info = self.tensor_info(name).ok_or_else(|| Error::MissingTensor {
            tensor: name.to_owned(),
            file: self.file.clone(),
        })?;
        if info.dims != expected {
            return Err(Error::ShapeMismatch {
                tensor: name.to_owned(),
                expected: expected.to_vec(),
                found: info.dims.clone(),
            });
        }
        let bytes = &self.data[info.offset..info.offset + info.bytes];
        info.kind
            .dequantize(bytes, info.elements())
            .map_err(|reason| self.error(format!("tensor `{name}`: {reason}")))
    }
}

/// A cursor over the header; every read checks that the bytes are there.
struct Reader<'a> {
    data: &'a [u8],
    at: usize,
    file: &'a str,
}

/// Arrays nest (an array of arrays); the spec sets no limit, privrank does.
const MAX_NESTING: usize = 4;
/// Elements of one metadata array: a vocabulary (the largest array a model carries)
/// of 256k tokens fits sixteen times. Each element costs a `Value` (32 bytes) in
/// memory, so a file claiming 90 million one-byte elements would otherwise ask for
/// gigabytes.
const MAX_ARRAY: u64 = 1 << 22;

impl Reader<'_> {
    fn error(&self, reason: String) -> Error {
        Error::BadGguf {
            file: self.file.to_owned(),
            reason,
        }
    }

    fn take(&mut self, n: usize, what: &str) -> Result<&[u8]> {
        let left = self.data.len() - self.at;
        if n > left {
            return Err(self.error(format!(
                "truncated: {what} needs {n} bytes at offset {}, {left} are left",
                self.at
            )));
        }
        let out = &self.data[self.at..self.at + n];
        self.at += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let bytes = self.take(N, what)?;
        let mut out = [0; N];
        out.copy_from_slice(bytes);
        Ok(out)
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let bytes = self.take(len, what)?;
        String::from_utf8(bytes.to_vec())
            .map_err(|e| self.error(format!("{what} is not UTF-8: {e}")))
    }

    fn value(&mut self, key: &str, depth: usize) -> Result<Value> {
        let type_id = self.u32(&format!("the type of `{key}`"))?;
        self.typed(key, type_id, depth)
    }

    fn typed(&mut self, key: &str, type_id: u32, depth: usize) -> Result<Value> {
        let what = format!("the value of `{key}`");
        Ok(match type_id {
            0 => Value::U8(u8::from_le_bytes(self.array(&what)?)),
            1 => Value::I8(i8::from_le_bytes(self.array(&what)?)),
            2 => Value::U16(u16::from_le_bytes(self.array(&what)?)),
            3 => Value::I16(i16::from_le_bytes(self.array(&what)?)),
            4 => Value::U32(u32::from_le_bytes(self.array(&what)?)),
            5 => Value::I32(i32::from_le_bytes(self.array(&what)?)),
            6 => Value::F32(f32::from_le_bytes(self.array(&what)?)),
            7 => match self.array::<1>(&what)?[0] {
                0 => Value::Bool(false),
                1 => Value::Bool(true),
                b => return Err(self.error(format!("`{key}` is a bool stored as {b}"))),
            },
            8 => Value::String(self.string(&what)?),
            9 => {
                if depth >= MAX_NESTING {
                    return Err(
                        self.error(format!("`{key}` nests arrays more than {MAX_NESTING} deep"))
                    );
                }
                let element = self.u32(&format!("the element type of `{key}`"))?;
                let len = self.u64(&format!("the length of `{key}`"))?;
                // Every element takes at least one byte: a length beyond the bytes
                // left is a truncated or corrupt file, found before allocating.
                let left = (self.data.len() - self.at) as u64;
                if len > left {
                    return Err(self.error(format!(
                        "truncated: `{key}` claims {len} elements, {left} bytes are left"
                    )));
                }
                if len > MAX_ARRAY {
                    return Err(self.error(format!(
                        "`{key}` has {len} elements; privrank reads arrays of at most \
                         {MAX_ARRAY}"
                    )));
                }
                let mut items = Vec::with_capacity(len as usize);
                for _ in 0..len {
                    items.push(self.typed(key, element, depth + 1)?);
                }
                Value::Array(items)
            }
            10 => Value::U64(u64::from_le_bytes(self.array(&what)?)),
            11 => Value::I64(i64::from_le_bytes(self.array(&what)?)),
            12 => Value::F64(f64::from_le_bytes(self.array(&what)?)),
            other => {
                return Err(self.error(format!(
                    "`{key}` has metadata type {other}; GGUF defines 0 to 12"
                )));
            }
        })
    }
}
