//! Scroll ordered by a payload key: the key, its direction, the value a point sorts by,
//! and the cursor `(value, id)` that continues an ordered scan.

use std::cmp::Ordering;

use serde_json::Value;

use crate::{Error, Payload, PointId, Result};

/// Longest `order_by.key` accepted, in bytes.
pub const MAX_ORDER_KEY_BYTES: usize = 256;

/// Direction of an ordered scroll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    /// Smallest value first (numbers before strings).
    #[default]
    Asc,
    /// Largest value first (strings before numbers).
    Desc,
}

impl Direction {
    /// Parses `"asc"` or `"desc"`; anything else is `invalid_order_by`.
    pub fn parse(text: &str) -> Result<Self> {
        match text {
            "asc" => Ok(Self::Asc),
            "desc" => Ok(Self::Desc),
            other => Err(bad(format!(
                "order_by.direction must be \"asc\" or \"desc\", got \"{other}\""
            ))),
        }
    }

    /// `"asc"` or `"desc"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Asc => "asc",
            Self::Desc => "desc",
        }
    }
}

/// Order a scroll by the value at a payload key (a dotted path, like filter keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderBy {
    /// The payload key.
    pub key: String,
    /// Ascending or descending.
    pub direction: Direction,
}

fn bad(message: impl Into<String>) -> Error {
    Error::invalid("invalid_order_by", message)
}

impl OrderBy {
    /// A checked order: the key must be 1..=256 bytes (`invalid_order_by`).
    pub fn new(key: impl Into<String>, direction: Direction) -> Result<Self> {
        let key = key.into();
        if key.is_empty() || key.len() > MAX_ORDER_KEY_BYTES {
            return Err(bad(format!(
                "order_by.key must be a payload key of 1..={MAX_ORDER_KEY_BYTES} bytes"
            )));
        }
        if key.split('.').any(str::is_empty) {
            return Err(bad(format!(
                "order_by.key '{key}' has an empty path segment"
            )));
        }
        Ok(Self { key, direction })
    }

    /// Parses `"key"` or `{"key":"…","direction":"asc"|"desc"}` (`invalid_order_by`).
    pub fn from_json(v: &Value) -> Result<Self> {
        match v {
            Value::String(key) => Self::new(key.clone(), Direction::Asc),
            Value::Object(m) => {
                if let Some(k) = m.keys().find(|k| *k != "key" && *k != "direction") {
                    return Err(bad(format!(
                        "order_by has an unknown field '{k}' (allowed: key, direction)"
                    )));
                }
                let key = match m.get("key") {
                    Some(Value::String(k)) => k.clone(),
                    _ => return Err(bad("order_by.key must be a string")),
                };
                let direction = match m.get("direction") {
                    None | Some(Value::Null) => Direction::Asc,
                    Some(Value::String(d)) => Direction::parse(d)?,
                    Some(_) => return Err(bad("order_by.direction must be \"asc\" or \"desc\"")),
                };
                Self::new(key, direction)
            }
            _ => Err(bad(
                "order_by must be a key or {\"key\":…,\"direction\":\"asc\"|\"desc\"}",
            )),
        }
    }

    /// The value `payload` sorts by: among the numbers and strings at the key (arrays
    /// flattened), the first in this direction; `None` (the point is left out) when there
    /// is none.
    pub fn value_of(&self, payload: &Payload) -> Option<OrderValue> {
        let values = crate::filter::values_at(payload, &self.key)
            .into_iter()
            .filter_map(OrderValue::from_json_scalar);
        match self.direction {
            Direction::Asc => values.min(),
            Direction::Desc => values.max(),
        }
    }

    /// Compares two `(value, id)` positions in scroll order: by value in this direction,
    /// then by id ascending.
    pub fn compare(&self, a: (&OrderValue, &PointId), b: (&OrderValue, &PointId)) -> Ordering {
        let by_value = match self.direction {
            Direction::Asc => a.0.cmp(b.0),
            Direction::Desc => b.0.cmp(a.0),
        };
        by_value.then_with(|| a.1.cmp(b.1))
    }
}

/// A value a point sorts by: numbers (compared as f64) before strings (byte order).
#[derive(Debug, Clone)]
pub enum OrderValue {
    /// A JSON number.
    Num(f64),
    /// A JSON string.
    Str(String),
}

impl OrderValue {
    /// A number or string; other JSON values have no order.
    pub fn from_json_scalar(v: &Value) -> Option<Self> {
        match v {
            Value::Number(n) => n
                .as_f64()
                .map(|x| Self::Num(if x == 0.0 { 0.0 } else { x })),
            Value::String(s) => Some(Self::Str(s.clone())),
            _ => None,
        }
    }

    /// As JSON (an integral number within ±2^53 as an integer).
    pub fn to_json(&self) -> Value {
        match self {
            Self::Num(x) if x.fract() == 0.0 && x.abs() <= 9_007_199_254_740_992.0 => {
                Value::from(*x as i64)
            }
            Self::Num(x) => Value::from(*x),
            Self::Str(s) => Value::String(s.clone()),
        }
    }
}

impl PartialEq for OrderValue {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for OrderValue {}

impl PartialOrd for OrderValue {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrderValue {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Num(a), Self::Num(b)) => a.total_cmp(b),
            (Self::Num(_), Self::Str(_)) => Ordering::Less,
            (Self::Str(_), Self::Num(_)) => Ordering::Greater,
            (Self::Str(a), Self::Str(b)) => a.cmp(b),
        }
    }
}

/// Where an ordered scroll continues: after the point `id` whose value was `value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderCursor {
    /// The order value of the last point returned.
    pub value: OrderValue,
    /// Its id (ties in value are broken by id).
    pub id: PointId,
}

impl OrderCursor {
    /// `{"value":…,"id":…}`.
    pub fn to_json(&self) -> Value {
        serde_json::json!({"value": self.value.to_json(), "id": self.id.to_json()})
    }

    /// Parses `{"value":…,"id":…}`; anything else is `invalid_offset`.
    pub fn from_json(v: &Value) -> Result<Self> {
        let bad = |why: &str| {
            Error::invalid(
                "invalid_offset",
                format!(
                    "with order_by, offset must be the next_offset of the previous page \
                     ({{\"value\":…,\"id\":…}}): {why}"
                ),
            )
        };
        let Value::Object(m) = v else {
            return Err(bad("not an object"));
        };
        if m.len() != 2 {
            return Err(bad("exactly the fields value and id are expected"));
        }
        let value = m
            .get("value")
            .and_then(OrderValue::from_json_scalar)
            .ok_or_else(|| bad("value must be a number or a string"))?;
        let id = m
            .get("id")
            .ok_or_else(|| bad("id is missing"))
            .and_then(|id| PointId::from_json(id).map_err(|e| bad(e.message())))?;
        Ok(Self { value, id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(v: Value) -> Payload {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn values_numbers_before_strings_arrays_by_direction() {
        let asc = OrderBy::from_json(&json!("page")).unwrap();
        let desc = OrderBy::from_json(&json!({"key":"page","direction":"desc"})).unwrap();
        assert!(OrderValue::Num(1e9) < OrderValue::Str("0".into()));
        assert_eq!(
            asc.value_of(&p(json!({"page": [3, 1, "x"]}))),
            Some(OrderValue::Num(1.0))
        );
        assert_eq!(
            desc.value_of(&p(json!({"page": [3, 1, "x"]}))),
            Some(OrderValue::Str("x".into()))
        );
        assert_eq!(asc.value_of(&p(json!({"page": true}))), None);
        assert_eq!(asc.value_of(&p(json!({}))), None);
        for bad in [
            json!(""),
            json!(3),
            json!({"key":"a","direction":"up"}),
            json!({"key":"a","dir":"asc"}),
            json!({"key":"a..b"}),
        ] {
            assert_eq!(
                OrderBy::from_json(&bad).unwrap_err().code(),
                "invalid_order_by",
                "{bad}"
            );
        }
    }

    #[test]
    fn cursor_round_trips() {
        for c in [
            OrderCursor {
                value: OrderValue::Num(2.0),
                id: PointId::Num(7),
            },
            OrderCursor {
                value: OrderValue::Num(-0.25),
                id: PointId::Str("a".into()),
            },
            OrderCursor {
                value: OrderValue::Str("x".into()),
                id: PointId::Num(1),
            },
        ] {
            assert_eq!(OrderCursor::from_json(&c.to_json()).unwrap(), c);
        }
        assert_eq!(
            OrderCursor::from_json(&json!(5)).unwrap_err().code(),
            "invalid_offset"
        );
        assert_eq!(
            OrderCursor::from_json(&json!({"value":null,"id":1}))
                .unwrap_err()
                .code(),
            "invalid_offset"
        );
    }
}
