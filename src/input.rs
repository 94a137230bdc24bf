//! Records arrive from JavaScript and from JSON files, and either may hold anything:
//! NaN, `null`, a number where a string belongs, megabytes of text. They are first
//! read into this loose [`Value`] (which, unlike `serde_json::Value`, keeps NaN and
//! infinities so they can be reported), then checked field by field, so every bad
//! field is named in one error instead of the first one failing a strict parse.

use std::cell::RefCell;
use std::collections::BTreeMap;

use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::FieldError;

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    List(Vec<Value>),
    Map(BTreeMap<String, Value>),
}

/// How deep arrays and objects may nest. No record the library reads nests past a
/// handful of levels (a candidate's `creatives[j].embedding`); the limit keeps a
/// hostile body (a million nested arrays fit in 2 MB) from overflowing the stack,
/// which in wasm is a trap that leaves the call's promise pending for ever.
/// serde_wasm_bindgen, unlike serde_json, has no limit of its own.
pub const MAX_DEPTH: usize = 32;

/// JavaScript's `Number.MAX_SAFE_INTEGER`, 2^53 − 1.
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// Read with one `deserialize_any` pass instead of serde's `untagged`, which tries
/// each variant in turn and builds an error for every miss: across the wasm boundary
/// each of those errors is a JavaScript `Error` with a stack trace, and they made up
/// over half of a cached `rank()` of 100 candidates (21 ms before, 9 ms after).
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Depth(0).deserialize(deserializer)
    }
}

/// The nesting level of the value being read (0 at the top).
#[derive(Clone, Copy)]
struct Depth(usize);

impl<'de> DeserializeSeed<'de> for Depth {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor(self.0))
    }
}

impl Depth {
    /// The level of a container's elements, or an error past [`MAX_DEPTH`].
    fn inner<E: de::Error>(self) -> Result<Depth, E> {
        if self.0 >= MAX_DEPTH {
            return Err(E::custom(format!(
                "arrays and objects nest deeper than {MAX_DEPTH} levels"
            )));
        }
        Ok(Depth(self.0 + 1))
    }
}

struct ValueVisitor(usize);

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("null, a boolean, a number, a string, an array or an object")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        Depth(self.0).deserialize(deserializer)
    }

    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n as f64))
    }

    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Number(n))
    }

    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::Text(s.to_owned()))
    }

    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::Text(s))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let inner = Depth(self.0).inner()?;
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = seq.next_element_seed(inner)? {
            items.push(item);
        }
        Ok(Value::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let inner = Depth(self.0).inner()?;
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(inner)?;
            out.insert(key, value);
        }
        Ok(Value::Map(out))
    }
}

impl Value {
    fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::Text(_) => "a string",
            Value::List(_) => "an array",
            Value::Map(_) => "an object",
        }
    }
}

impl Value {
    /// As strict JSON, for option objects parsed with serde's own checks (unknown
    /// fields, types); NaN and infinities have no JSON form and are refused here.
    pub fn to_json(&self) -> Result<serde_json::Value, String> {
        Ok(match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            // JavaScript has only doubles: whole numbers become JSON integers, so
            // they can fill integer fields (`k: 3`).
            Value::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => {
                serde_json::Value::Number((*n as i64).into())
            }
            Value::Number(n) => serde_json::Number::from_f64(*n)
                .map(serde_json::Value::Number)
                .ok_or_else(|| format!("{n} is not a finite number"))?,
            Value::Text(s) => serde_json::Value::String(s.clone()),
            Value::List(items) => serde_json::Value::Array(
                items.iter().map(Value::to_json).collect::<Result<_, _>>()?,
            ),
            Value::Map(map) => serde_json::Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), v.to_json()?)))
                    .collect::<Result<_, String>>()?,
            ),
        })
    }
}

/// Collects the field errors of one record at position `index`.
pub struct Checker<'a> {
    index: usize,
    record: Option<&'a BTreeMap<String, Value>>,
    /// Every field asked for so far, present or not: the record's fields as its
    /// reader knows them ([`Checker::refuse_unknown`]).
    asked: RefCell<Vec<String>>,
    pub errors: Vec<FieldError>,
}

/// How alike two field names look, in `[0, 1]`, ignoring case: 1 minus the edit
/// distance over the longer length, or 1 when one starts the other (`item` for
/// `itemId`). A misspelling (`advertizer`, `fallbak`, `txt`) scores 0.75 or more; two
/// short words two letters apart (`price`, `prior`) 0.6.
fn likeness(a: &str, b: &str) -> f64 {
    let (a, b) = (a.to_lowercase(), b.to_lowercase());
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    if short.chars().count() >= 3 && long.starts_with(short.as_str()) {
        return 1.0;
    }
    strsim::normalized_levenshtein(&a, &b)
}

/// How much of an unknown field's name an error repeats: a name can be as long as
/// the record.
const MAX_NAME_SHOWN: usize = 64;

impl<'a> Checker<'a> {
    pub fn new(index: usize, value: &'a Value) -> Self {
        let mut checker = Self {
            index,
            record: None,
            asked: RefCell::new(Vec::new()),
            errors: Vec::new(),
        };
        match value {
            Value::Map(map) => checker.record = Some(map),
            other => checker.fail(
                "",
                format!("expected an object, found {}", other.type_name()),
            ),
        }
        checker
    }

    pub fn fail(&mut self, field: &str, reason: impl Into<String>) {
        self.errors.push(FieldError {
            index: self.index,
            field: field.to_owned(),
            reason: reason.into(),
        });
    }

    fn get(&self, field: &str) -> Option<&'a Value> {
        let mut asked = self.asked.borrow_mut();
        if !asked.iter().any(|a| a == field) {
            asked.push(field.to_owned());
        }
        drop(asked);
        match self.record?.get(field) {
            None | Some(Value::Null) => None,
            Some(v) => Some(v),
        }
    }

    /// The raw value of `field` (none when absent or `null`), for a nested record
    /// another module checks with a [`Checker`] of its own.
    pub fn value(&self, field: &str) -> Option<&'a Value> {
        self.get(field)
    }

    /// A non-empty string of at most `max_chars` characters.
    pub fn text(&mut self, field: &str, required: bool, max_chars: usize) -> Option<String> {
        match self.get(field) {
            None if required && self.record.is_some() => {
                self.fail(field, "is required");
                None
            }
            None => None,
            Some(Value::Text(s)) if s.trim().is_empty() => {
                self.fail(field, "is empty");
                None
            }
            Some(Value::Text(s)) => {
                let chars = s.chars().count();
                if chars > max_chars {
                    self.fail(
                        field,
                        format!("is {chars} characters long; the limit is {max_chars}"),
                    );
                    None
                } else {
                    Some(s.clone())
                }
            }
            // Numeric ids are common in catalogs; accept integers as ids and names, up
            // to the largest a JavaScript number holds exactly: past it two ids can be
            // one double, and `1e300` would become a 301-digit id that no length limit
            // saw.
            Some(Value::Number(n)) if n.fract() == 0.0 && n.abs() <= MAX_SAFE_INTEGER => {
                Some(format!("{n}"))
            }
            Some(Value::Number(n)) if n.is_finite() && n.fract() == 0.0 => {
                self.fail(
                    field,
                    format!(
                        "{n:e} is past 2^53 − 1, the largest whole number JavaScript holds \
                         exactly: send it as a string"
                    ),
                );
                None
            }
            Some(other) => {
                self.fail(
                    field,
                    format!("expected a string, found {}", other.type_name()),
                );
                None
            }
        }
    }

    /// A finite number within `[min, max]`.
    pub fn number(&mut self, field: &str, required: bool, min: f64, max: f64) -> Option<f64> {
        let value = self.get(field);
        self.check_number(field, value, required, min, max)
    }

    fn check_number(
        &mut self,
        field: &str,
        value: Option<&Value>,
        required: bool,
        min: f64,
        max: f64,
    ) -> Option<f64> {
        match value {
            None if required && self.record.is_some() => {
                self.fail(field, "is required");
                None
            }
            None => None,
            Some(Value::Number(n)) if !n.is_finite() => {
                self.fail(field, format!("must be a finite number, found {n}"));
                None
            }
            Some(Value::Number(n)) if *n < min || *n > max => {
                let range = if max.is_infinite() {
                    format!("at least {min}")
                } else {
                    format!("within [{min}, {max}]")
                };
                self.fail(field, format!("must be {range}, found {n}"));
                None
            }
            Some(Value::Number(n)) => Some(*n),
            Some(other) => {
                self.fail(
                    field,
                    format!("expected a number, found {}", other.type_name()),
                );
                None
            }
        }
    }

    /// A boolean; absent or `null` is `false`.
    pub fn flag(&mut self, field: &str) -> bool {
        match self.get(field) {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(other) => {
                self.fail(
                    field,
                    format!("expected true or false, found {}", other.type_name()),
                );
                false
            }
        }
    }

    /// An array of at most `max` items; absent or `null` is empty. The items are
    /// checked by the caller, each as a record of its own.
    pub fn list(&mut self, field: &str, max: usize) -> &'a [Value] {
        match self.get(field) {
            None => &[],
            Some(Value::List(items)) if items.len() > max => {
                self.fail(
                    field,
                    format!("has {} items; the limit is {max}", items.len()),
                );
                &[]
            }
            Some(Value::List(items)) => items,
            Some(other) => {
                self.fail(
                    field,
                    format!("expected an array, found {}", other.type_name()),
                );
                &[]
            }
        }
    }

    /// The fields asked for so far, in order.
    pub fn asked(&self) -> Vec<String> {
        self.asked.borrow().clone()
    }

    /// Fail each field of the record that nothing asked for and `also` does not
    /// name: a misspelt field (`advertizer`) would otherwise be dropped without a
    /// word, and the ad served without what it meant to say. `what` names the
    /// record in the message ("candidate"); the closest known name is suggested.
    /// Call it after every field was read.
    pub fn refuse_unknown(&mut self, what: &str, also: &[&str]) {
        let Some(record) = self.record else {
            return;
        };
        let known: Vec<String> = self
            .asked
            .borrow()
            .iter()
            .cloned()
            .chain(also.iter().map(|f| (*f).to_owned()))
            .collect();
        for name in record.keys().filter(|k| !known.contains(k)) {
            let shown: String = name.chars().take(MAX_NAME_SHOWN).collect();
            let nearest = known
                .iter()
                .map(|k| (likeness(name, k), k))
                .filter(|(l, _)| *l >= 0.7)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            let reason = match nearest {
                Some((_, k)) => format!("is not a {what} field; did you mean `{k}`?"),
                None => {
                    let mut fields: Vec<&str> = known.iter().map(String::as_str).collect();
                    fields.sort_unstable();
                    format!("is not a {what} field (they are {})", fields.join(", "))
                }
            };
            self.fail(&shown, reason);
        }
    }

    /// Adopt the errors of a nested record checked on its own, under `prefix`.
    pub fn adopt(&mut self, prefix: &str, nested: Checker<'_>) {
        for mut e in nested.errors {
            e.index = self.index;
            e.field = if e.field.is_empty() {
                prefix.to_owned()
            } else {
                format!("{prefix}.{}", e.field)
            };
            self.errors.push(e);
        }
    }

    /// An object of named numbers, each within `[min, max]`, restricted to `known`.
    pub fn numbers(
        &mut self,
        field: &str,
        known: &[String],
        min: f64,
        max: f64,
    ) -> BTreeMap<String, f64> {
        let mut out = BTreeMap::new();
        match self.get(field) {
            None => {}
            Some(Value::Map(map)) => {
                for (name, value) in map {
                    let path = format!("{field}.{name}");
                    if !known.contains(name) {
                        self.fail(
                            &path,
                            format!(
                                "is not a feature of this model (known: {})",
                                known.join(", ")
                            ),
                        );
                    } else if let Some(n) = self.check_number(&path, Some(value), true, min, max) {
                        out.insert(name.clone(), n);
                    }
                }
            }
            Some(other) => self.fail(
                field,
                format!("expected an object, found {}", other.type_name()),
            ),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_keep_their_unknown_fields_through_json() {
        let v: Value = serde_json::from_str(r#"{"topK": 3, "explain": true}"#).unwrap();
        assert!(matches!(&v, Value::Map(m) if m.len() == 2), "{v:?}");
        let json = v.to_json().unwrap();
        assert!(serde_json::from_value::<crate::rank::RankOptions>(json).is_err());
        assert!(Value::Number(f64::NAN).to_json().is_err());
        // Integers arrive from JavaScript as doubles.
        let v = Value::Map([("k".to_owned(), Value::Number(4.0))].into());
        let options: crate::rank::RankOptions =
            serde_json::from_value(v.to_json().unwrap()).unwrap();
        assert_eq!(options.k, Some(4));
        let v = Value::Map([("k".to_owned(), Value::Number(-1.0))].into());
        assert!(serde_json::from_value::<crate::rank::RankOptions>(v.to_json().unwrap()).is_err());
    }

    #[test]
    fn every_json_kind_reads_into_its_variant() {
        let v: Value = serde_json::from_str(
            r#"{"n": null, "b": false, "i": -3, "u": 18446744073709551615, "f": 0.5,
                "s": "héllo", "l": [1, "x", [], {}], "m": {"a": {"b": [true]}}}"#,
        )
        .unwrap();
        let expected = Value::Map(
            [
                ("n", Value::Null),
                ("b", Value::Bool(false)),
                ("i", Value::Number(-3.0)),
                ("u", Value::Number(u64::MAX as f64)),
                ("f", Value::Number(0.5)),
                ("s", Value::Text("héllo".into())),
                (
                    "l",
                    Value::List(vec![
                        Value::Number(1.0),
                        Value::Text("x".into()),
                        Value::List(vec![]),
                        Value::Map(BTreeMap::new()),
                    ]),
                ),
                (
                    "m",
                    Value::Map(
                        [(
                            "a".to_owned(),
                            Value::Map(
                                [("b".to_owned(), Value::List(vec![Value::Bool(true)]))].into(),
                            ),
                        )]
                        .into(),
                    ),
                ),
            ]
            .map(|(k, v)| (k.to_owned(), v))
            .into(),
        );
        assert_eq!(v, expected);
        // A broken document is still an error, not a partial value.
        assert!(serde_json::from_str::<Value>(r#"{"a": [1, 2"#).is_err());
    }

    #[test]
    fn numeric_ids_are_whole_numbers_javascript_holds_exactly() {
        let v: Value = serde_json::from_str(
            r#"{"a": 42, "b": -9007199254740991, "c": 1e300, "d": 9007199254740992, "e": 1.5}"#,
        )
        .unwrap();
        let mut c = Checker::new(0, &v);
        assert_eq!(c.text("a", true, 256).as_deref(), Some("42"));
        assert_eq!(c.text("b", true, 256).as_deref(), Some("-9007199254740991"));
        for field in ["c", "d", "e"] {
            assert_eq!(c.text(field, true, 256), None, "{field}");
        }
        let failed: Vec<(&str, bool)> = c
            .errors
            .iter()
            .map(|e| (e.field.as_str(), e.reason.contains("2^53")))
            .collect();
        assert_eq!(failed, [("c", true), ("d", true), ("e", false)]);
    }

    /// `depth` arrays, each inside the previous one, around `inner`.
    fn nested(depth: usize, inner: &str) -> String {
        format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn nesting_is_read_to_the_limit_and_refused_past_it() {
        // MAX_DEPTH containers around a scalar read; one more is refused, arrays and
        // objects alike, well before serde_json's own limit (128) would.
        let deepest = nested(MAX_DEPTH, "1");
        assert!(serde_json::from_str::<Value>(&deepest).is_ok());
        let err = serde_json::from_str::<Value>(&nested(MAX_DEPTH + 1, "1")).unwrap_err();
        assert!(err.to_string().contains("deeper than 32 levels"), "{err}");
        let objects = format!(
            "{}1{}",
            r#"{"a":"#.repeat(MAX_DEPTH + 1),
            "}".repeat(MAX_DEPTH + 1)
        );
        assert!(serde_json::from_str::<Value>(&objects).is_err());
        // Depth counts through objects and arrays together.
        let mixed = format!(r#"{{"a": {}}}"#, nested(MAX_DEPTH, "1"));
        assert!(serde_json::from_str::<Value>(&mixed).is_err());
    }
}
