//! The filter language (Qdrant-shaped): `must` / `should` / `must_not` clauses of
//! conditions on payload keys and ids, nestable.
//!
//! ```
//! use akidb_core::{Filter, PointId};
//! let f: Filter = serde_json::from_value(serde_json::json!({
//!     "must": [{"key": "section", "match": {"value": "library"}}],
//!     "must_not": [{"key": "page.depth", "range": {"gt": 3}}]
//! })).unwrap();
//! let payload = serde_json::json!({"section": "library", "page": {"depth": 2}});
//! assert!(f.matches(&PointId::Num(1), payload.as_object().unwrap()));
//! ```

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use crate::point::json_type;
use crate::text::TextIndexConfig;
use crate::{Error, Payload, PointId, Result};

/// A boolean combination of conditions. An empty filter matches everything.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Every condition must hold.
    pub must: Vec<Condition>,
    /// At least one condition must hold (when non-empty).
    pub should: Vec<Condition>,
    /// No condition may hold.
    pub must_not: Vec<Condition>,
}

/// One test on a point.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// `{"key":k,"match":{"value":v}}`: some value at `key` equals `v`.
    MatchValue {
        /// Dotted payload path.
        key: String,
        /// A string, number or boolean.
        value: Value,
    },
    /// `{"key":k,"match":{"any":[…]}}`: some value at `key` equals one of these.
    MatchAny {
        /// Dotted payload path.
        key: String,
        /// Strings, numbers or booleans.
        any: Vec<Value>,
    },
    /// `{"key":k,"range":{"gt","gte","lt","lte"}}`: some number at `key` is in range.
    Range {
        /// Dotted payload path.
        key: String,
        /// The bounds; at least one is set.
        range: Range,
    },
    /// `{"has_id":[…]}`: the point's id is one of these.
    HasId(Vec<PointId>),
    /// `{"is_null":{"key":k}}`: `key` exists and is `null`.
    IsNull(String),
    /// `{"is_empty":{"key":k}}`: `key` is missing, `null` or `[]`.
    IsEmpty(String),
    /// A nested filter.
    Nested(Box<Filter>),
    /// `{"text":{"key":k,"query":"…"}}`: the text at `key` contains every word of `query`
    /// (full-text match, words as the collection's text index analyses them).
    Text {
        /// Dotted payload path; must be the collection's text index key.
        key: String,
        /// The words, at least one.
        query: String,
        /// How words are found: the collection's text index settings once the engine
        /// has bound the filter to a collection (`None` = `word` tokenizer, lowercase).
        analyzer: Option<Box<TextIndexConfig>>,
    },
}

/// Numeric bounds of a range condition.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Range {
    /// Strictly greater than.
    pub gt: Option<f64>,
    /// Greater than or equal.
    pub gte: Option<f64>,
    /// Strictly less than.
    pub lt: Option<f64>,
    /// Less than or equal.
    pub lte: Option<f64>,
}

impl Range {
    fn contains(&self, x: f64) -> bool {
        self.gt.is_none_or(|b| x > b)
            && self.gte.is_none_or(|b| x >= b)
            && self.lt.is_none_or(|b| x < b)
            && self.lte.is_none_or(|b| x <= b)
    }
}

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("invalid_filter", message)
}

impl Filter {
    /// True when the filter has no clause and so matches every point.
    pub fn is_empty(&self) -> bool {
        self.must.is_empty() && self.should.is_empty() && self.must_not.is_empty()
    }

    /// Whether a point with this id and payload passes the filter.
    pub fn matches(&self, id: &PointId, payload: &Payload) -> bool {
        self.must.iter().all(|c| c.matches(id, payload))
            && (self.should.is_empty() || self.should.iter().any(|c| c.matches(id, payload)))
            && !self.must_not.iter().any(|c| c.matches(id, payload))
    }

    /// Parses a filter from JSON, naming the offending part on error.
    pub fn from_json(value: &Value) -> Result<Self> {
        let obj = value.as_object().ok_or_else(|| {
            bad(format!(
                "a filter is a JSON object, got {}",
                json_type(value)
            ))
        })?;
        let mut f = Filter::default();
        for (k, v) in obj {
            let list = match k.as_str() {
                "must" => &mut f.must,
                "should" => &mut f.should,
                "must_not" => &mut f.must_not,
                other => {
                    return Err(bad(format!(
                        "unknown filter clause '{other}': use must, should or must_not"
                    )))
                }
            };
            // Qdrant accepts a single condition in place of a list.
            match v {
                Value::Array(items) => {
                    for item in items {
                        list.push(Condition::from_json(item)?);
                    }
                }
                Value::Object(_) => list.push(Condition::from_json(v)?),
                Value::Null => {}
                other => {
                    return Err(bad(format!(
                        "'{k}' must be a list of conditions, got {}",
                        json_type(other)
                    )))
                }
            }
        }
        Ok(f)
    }

    /// The filter as JSON, in the same shape it is parsed from.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        for (name, list) in [
            ("must", &self.must),
            ("should", &self.should),
            ("must_not", &self.must_not),
        ] {
            if !list.is_empty() {
                obj.insert(
                    name.into(),
                    Value::Array(list.iter().map(Condition::to_json).collect()),
                );
            }
        }
        Value::Object(obj)
    }
}

fn scalar(v: &Value, what: &str) -> Result<Value> {
    match v {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(v.clone()),
        other => Err(bad(format!(
            "{what} must be a string, number or boolean, got {}",
            json_type(other)
        ))),
    }
}

fn key_of(obj: &Map<String, Value>) -> Result<String> {
    match obj.get("key") {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        Some(other) => Err(bad(format!(
            "'key' must be a non-empty string, got {other}"
        ))),
        None => Err(bad("condition lacks 'key'")),
    }
}

fn only_keys(obj: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<()> {
    match obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(bad(format!(
            "unknown field '{k}' in {what} (allowed: {})",
            allowed.join(", ")
        ))),
        None => Ok(()),
    }
}

impl Condition {
    /// Parses one condition (or a nested filter) from JSON.
    pub fn from_json(value: &Value) -> Result<Self> {
        let obj = value.as_object().ok_or_else(|| {
            bad(format!(
                "a condition is a JSON object, got {}",
                json_type(value)
            ))
        })?;
        if obj.contains_key("must") || obj.contains_key("should") || obj.contains_key("must_not") {
            return Ok(Condition::Nested(Box::new(Filter::from_json(value)?)));
        }
        if let Some(ids) = obj.get("has_id") {
            only_keys(obj, &["has_id"], "has_id condition")?;
            let ids = ids
                .as_array()
                .ok_or_else(|| bad("'has_id' must be a list of ids"))?
                .iter()
                .map(|v| PointId::from_json(v).map_err(|e| bad(format!("has_id: {}", e.message()))))
                .collect::<Result<_>>()?;
            return Ok(Condition::HasId(ids));
        }
        for (name, empty) in [("is_null", false), ("is_empty", true)] {
            if let Some(inner) = obj.get(name) {
                only_keys(obj, &[name], &format!("{name} condition"))?;
                let inner = inner
                    .as_object()
                    .ok_or_else(|| bad(format!("'{name}' must be an object {{\"key\": …}}")))?;
                only_keys(inner, &["key"], name)?;
                let key = key_of(inner)?;
                return Ok(if empty {
                    Condition::IsEmpty(key)
                } else {
                    Condition::IsNull(key)
                });
            }
        }
        if let Some(m) = obj.get("match") {
            only_keys(obj, &["key", "match"], "match condition")?;
            let key = key_of(obj)?;
            let m = m
                .as_object()
                .ok_or_else(|| bad("'match' must be an object with 'value' or 'any'"))?;
            only_keys(m, &["value", "any"], "match")?;
            return match (m.get("value"), m.get("any")) {
                (Some(v), None) => Ok(Condition::MatchValue {
                    key,
                    value: scalar(v, "match.value")?,
                }),
                (None, Some(Value::Array(items))) => Ok(Condition::MatchAny {
                    key,
                    any: items
                        .iter()
                        .map(|v| scalar(v, "match.any item"))
                        .collect::<Result<_>>()?,
                }),
                (None, Some(_)) => Err(bad("'match.any' must be a list")),
                _ => Err(bad("'match' takes exactly one of 'value' or 'any'")),
            };
        }
        if let Some(t) = obj.get("text") {
            only_keys(obj, &["text"], "text condition")?;
            let t = t
                .as_object()
                .ok_or_else(|| bad("'text' must be an object {\"key\": …, \"query\": …}"))?;
            only_keys(t, &["key", "query"], "text")?;
            let key = key_of(t)?;
            let query = match t.get("query") {
                Some(Value::String(q)) => q.clone(),
                Some(other) => {
                    return Err(bad(format!(
                        "text.query must be a string, got {}",
                        json_type(other)
                    )))
                }
                None => return Err(bad("text condition lacks 'query'")),
            };
            if TextIndexConfig::new(key.as_str())
                .tokenize(&query)
                .is_empty()
            {
                return Err(bad("text.query has no words"));
            }
            return Ok(Condition::Text {
                key,
                query,
                analyzer: None,
            });
        }
        if let Some(r) = obj.get("range") {
            only_keys(obj, &["key", "range"], "range condition")?;
            let key = key_of(obj)?;
            let r = r
                .as_object()
                .ok_or_else(|| bad("'range' must be an object"))?;
            only_keys(r, &["gt", "gte", "lt", "lte"], "range")?;
            let bound = |name: &str| -> Result<Option<f64>> {
                match r.get(name) {
                    None | Some(Value::Null) => Ok(None),
                    Some(Value::Number(n)) => Ok(n.as_f64()),
                    Some(other) => Err(bad(format!(
                        "range.{name} must be a number, got {}",
                        json_type(other)
                    ))),
                }
            };
            let range = Range {
                gt: bound("gt")?,
                gte: bound("gte")?,
                lt: bound("lt")?,
                lte: bound("lte")?,
            };
            if range == Range::default() {
                return Err(bad("'range' needs at least one of gt, gte, lt, lte"));
            }
            return Ok(Condition::Range { key, range });
        }
        Err(bad(format!(
            "unrecognised condition {value}: expected match, range, has_id, is_null, is_empty, text or a nested filter"
        )))
    }

    /// The condition as JSON.
    pub fn to_json(&self) -> Value {
        use serde_json::json;
        match self {
            Condition::MatchValue { key, value } => json!({"key": key, "match": {"value": value}}),
            Condition::MatchAny { key, any } => json!({"key": key, "match": {"any": any}}),
            Condition::Range { key, range } => {
                let mut r = Map::new();
                for (n, b) in [
                    ("gt", range.gt),
                    ("gte", range.gte),
                    ("lt", range.lt),
                    ("lte", range.lte),
                ] {
                    if let Some(b) = b {
                        r.insert(n.into(), json!(b));
                    }
                }
                json!({"key": key, "range": r})
            }
            Condition::HasId(ids) => {
                json!({"has_id": ids.iter().map(PointId::to_json).collect::<Vec<_>>()})
            }
            Condition::IsNull(key) => json!({"is_null": {"key": key}}),
            Condition::IsEmpty(key) => json!({"is_empty": {"key": key}}),
            Condition::Text { key, query, .. } => json!({"text": {"key": key, "query": query}}),
            // `{}` is not a condition: an empty nested filter keeps one (empty) clause so
            // that the output parses again (found by the `filter_parse` fuzz target).
            Condition::Nested(f) if f.is_empty() => json!({"must": []}),
            Condition::Nested(f) => f.to_json(),
        }
    }

    /// Whether a point passes this condition.
    pub fn matches(&self, id: &PointId, payload: &Payload) -> bool {
        match self {
            Condition::MatchValue { key, value } => {
                values_at(payload, key).iter().any(|v| json_eq(v, value))
            }
            Condition::MatchAny { key, any } => values_at(payload, key)
                .iter()
                .any(|v| any.iter().any(|a| json_eq(v, a))),
            Condition::Range { key, range } => values_at(payload, key)
                .iter()
                .any(|v| v.as_f64().is_some_and(|x| range.contains(x))),
            Condition::HasId(ids) => ids.contains(id),
            Condition::IsNull(key) => values_at(payload, key).iter().any(|v| v.is_null()),
            Condition::IsEmpty(key) => values_at(payload, key).iter().all(|v| v.is_null()),
            Condition::Nested(f) => f.matches(id, payload),
            Condition::Text {
                key,
                query,
                analyzer,
            } => {
                let default;
                let a = match analyzer {
                    Some(a) => a.as_ref(),
                    None => {
                        default = TextIndexConfig::new(key.as_str());
                        &default
                    }
                };
                let mut words = Vec::new();
                for v in values_at(payload, key) {
                    if let Value::String(s) = v {
                        a.tokenize_into(s, &mut words);
                    }
                }
                let words: std::collections::HashSet<String> = words.into_iter().collect();
                a.query_terms(query).iter().all(|t| words.contains(t))
            }
        }
    }
}

impl Filter {
    /// Every `text` condition, nested ones included (to check or bind them).
    pub fn text_conditions_mut(&mut self) -> Vec<&mut Condition> {
        let mut out = Vec::new();
        for c in self
            .must
            .iter_mut()
            .chain(self.should.iter_mut())
            .chain(self.must_not.iter_mut())
        {
            match c {
                Condition::Nested(f) => out.extend(f.text_conditions_mut()),
                Condition::Text { .. } => out.push(c),
                _ => {}
            }
        }
        out
    }
}

/// Equality of scalars where numbers compare by value (`1` equals `1.0`).
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_u64(), y.as_u64()) {
            (Some(x), Some(y)) => x == y,
            _ => match (x.as_i64(), y.as_i64()) {
                (Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            },
        },
        _ => a == b,
    }
}

/// Every value found at a dotted path; arrays along the way and at the end are flattened.
pub fn values_at<'a>(payload: &'a Payload, key: &str) -> Vec<&'a Value> {
    let mut parts = key.split('.');
    let first = parts.next().unwrap_or_default();
    let mut current: Vec<&Value> = payload.get(first).into_iter().collect();
    for part in parts {
        let mut next = Vec::new();
        for v in current {
            collect_field(v, part, &mut next);
        }
        current = next;
    }
    let mut flat = Vec::with_capacity(current.len());
    for v in current {
        match v {
            Value::Array(items) => flat.extend(items.iter()),
            other => flat.push(other),
        }
    }
    flat
}

fn collect_field<'a>(v: &'a Value, field: &str, out: &mut Vec<&'a Value>) {
    match v {
        Value::Object(m) => out.extend(m.get(field)),
        Value::Array(items) => items.iter().for_each(|i| collect_field(i, field, out)),
        _ => {}
    }
}

impl Serialize for Filter {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Filter::from_json(&v).map_err(|e| serde::de::Error::custom(e.message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Payload {
        v.as_object().unwrap().clone()
    }

    fn f(v: Value) -> Filter {
        Filter::from_json(&v).unwrap()
    }

    #[test]
    fn conditions_evaluate_like_qdrant() {
        let doc = p(
            json!({"section":"library","n":5,"tags":["a","b"],"meta":{"x":null,"list":[]},"items":[{"k":1},{"k":2}]}),
        );
        let id = PointId::Num(9);
        assert!(
            f(json!({"must":[{"key":"section","match":{"value":"library"}}]})).matches(&id, &doc)
        );
        assert!(!f(json!({"must":[{"key":"section","match":{"value":"faq"}}]})).matches(&id, &doc));
        assert!(f(json!({"must":[{"key":"tags","match":{"value":"b"}}]})).matches(&id, &doc));
        assert!(f(json!({"must":[{"key":"tags","match":{"any":["z","a"]}}]})).matches(&id, &doc));
        assert!(f(json!({"must":[{"key":"n","match":{"value":5.0}}]})).matches(&id, &doc));
        assert!(f(json!({"must":[{"key":"n","range":{"gt":4,"lte":5}}]})).matches(&id, &doc));
        assert!(!f(json!({"must":[{"key":"n","range":{"gt":5}}]})).matches(&id, &doc));
        assert!(f(json!({"must":[{"key":"items.k","match":{"value":2}}]})).matches(&id, &doc));
        assert!(f(json!({"must":[{"is_null":{"key":"meta.x"}}]})).matches(&id, &doc));
        assert!(!f(json!({"must":[{"is_null":{"key":"missing"}}]})).matches(&id, &doc));
        assert!(f(json!({"must":[{"is_empty":{"key":"missing"}}]})).matches(&id, &doc));
        assert!(f(json!({"must":[{"is_empty":{"key":"meta.list"}}]})).matches(&id, &doc));
        assert!(!f(json!({"must":[{"is_empty":{"key":"tags"}}]})).matches(&id, &doc));
        assert!(f(json!({"must":[{"has_id":[1,9]}]})).matches(&id, &doc));
        assert!(
            f(json!({"should":[{"has_id":[1]},{"key":"n","match":{"value":5}}]}))
                .matches(&id, &doc)
        );
        assert!(
            !f(json!({"must_not":[{"key":"section","match":{"value":"library"}}]}))
                .matches(&id, &doc)
        );
        assert!(
            f(json!({"must":[{"must_not":[{"key":"n","range":{"lt":0}}]}]})).matches(&id, &doc)
        );
        assert!(f(json!({})).matches(&id, &doc));
    }

    #[test]
    fn bad_filters_name_the_problem() {
        for (v, needle) in [
            (json!([]), "JSON object"),
            (json!({"maybe":[]}), "unknown filter clause"),
            (json!({"must":[{"key":"a"}]}), "unrecognised condition"),
            (json!({"must":[{"key":"a","match":{}}]}), "exactly one"),
            (
                json!({"must":[{"key":"a","match":{"value":[1]}}]}),
                "match.value",
            ),
            (json!({"must":[{"key":"a","range":{}}]}), "at least one"),
            (json!({"must":[{"key":"a","range":{"gt":"x"}}]}), "range.gt"),
            (json!({"must":[{"match":{"value":1}}]}), "lacks 'key'"),
            (json!({"must":[{"has_id":[-1]}]}), "has_id"),
            (
                json!({"must":[{"key":"a","match":{"value":1},"extra":1}]}),
                "unknown field",
            ),
            (json!({"must":3}), "list of conditions"),
        ] {
            let e = Filter::from_json(&v).unwrap_err();
            assert_eq!(e.code(), "invalid_filter");
            assert!(e.message().contains(needle), "{v}: {}", e.message());
        }
    }

    #[test]
    fn text_condition_matches_every_word() {
        let doc = p(json!({"text":"The Quick brown fox","tags":["lazy dog"]}));
        let id = PointId::Num(1);
        assert!(
            f(json!({"must":[{"text":{"key":"text","query":"quick FOX"}}]})).matches(&id, &doc)
        );
        assert!(
            !f(json!({"must":[{"text":{"key":"text","query":"quick cat"}}]})).matches(&id, &doc)
        );
        assert!(f(json!({"must":[{"text":{"key":"tags","query":"dog"}}]})).matches(&id, &doc));
        assert!(!f(json!({"must":[{"text":{"key":"missing","query":"dog"}}]})).matches(&id, &doc));
        for bad in [
            json!({"must":[{"text":{"key":"text","query":" ,. "}}]}),
            json!({"must":[{"text":{"key":"text"}}]}),
            json!({"must":[{"text":{"key":"text","query":1}}]}),
            json!({"must":[{"text":{"query":"a"}}]}),
        ] {
            assert_eq!(
                Filter::from_json(&bad).unwrap_err().code(),
                "invalid_filter"
            );
        }
        let parsed = f(json!({"must":[{"text":{"key":"text","query":"quick fox"}}]}));
        assert_eq!(Filter::from_json(&parsed.to_json()).unwrap(), parsed);
    }

    #[test]
    fn json_round_trip() {
        let v = json!({"must":[{"key":"a","range":{"gte":1.0}},{"has_id":[1,"x"]}],"must_not":[{"is_empty":{"key":"b"}}]});
        let parsed = f(v);
        assert_eq!(Filter::from_json(&parsed.to_json()).unwrap(), parsed);
    }
}
