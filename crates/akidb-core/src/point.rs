//! Points: an id, a vector and a JSON payload, with their validation.

use serde::{Deserialize, Deserializer, Serialize};

use crate::{Error, PointId, Result};

/// Default upper bound of one point's payload, in bytes of compact JSON.
pub const DEFAULT_MAX_PAYLOAD_BYTES: usize = 64 * 1024;

/// Reads a JSON array of numbers as f32. A number beyond the f32 range becomes ±infinity
/// here, so that validation refuses it as `invalid_vector` naming the component, rather than
/// the JSON parser refusing the whole body (which it does for f32 with exact float parsing).
pub fn deserialize_vector<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> std::result::Result<Vec<f32>, D::Error> {
    let wide: Vec<f64> = serde::Deserialize::deserialize(d)?;
    Ok(wide.into_iter().map(|x| x as f32).collect())
}

/// A point's payload: a JSON object.
pub type Payload = serde_json::Map<String, serde_json::Value>;

/// A stored point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Unique id within the collection.
    pub id: PointId,
    /// The vector, `dimension` finite f32 values.
    #[serde(deserialize_with = "deserialize_vector")]
    pub vector: Vec<f32>,
    /// Arbitrary JSON object; absent or `null` means empty.
    #[serde(default, deserialize_with = "payload_or_null")]
    pub payload: Payload,
}

fn payload_or_null<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Payload, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(Payload::new()),
        serde_json::Value::Object(map) => Ok(map),
        other => Err(serde::de::Error::custom(format!(
            "payload must be a JSON object, got {}",
            json_type(&other)
        ))),
    }
}

/// The JSON type name of a value, for error messages.
pub fn json_type(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

/// Checks that a vector has `dimension` finite components.
pub fn validate_vector(vector: &[f32], dimension: usize) -> Result<()> {
    if vector.len() != dimension {
        return Err(Error::invalid(
            "dimension_mismatch",
            format!(
                "vector has {} dimensions, the collection expects {dimension}",
                vector.len()
            ),
        ));
    }
    if let Some(i) = vector.iter().position(|x| !x.is_finite()) {
        return Err(Error::invalid(
            "invalid_vector",
            format!(
                "vector component {i} is {} (only finite values are allowed)",
                vector[i]
            ),
        ));
    }
    Ok(())
}

impl Point {
    /// Builds a point.
    pub fn new(id: impl Into<PointId>, vector: Vec<f32>, payload: Payload) -> Self {
        Self {
            id: id.into(),
            vector,
            payload,
        }
    }

    /// Checks the vector against `dimension` and the payload against `max_payload_bytes`.
    pub fn validate(&self, dimension: usize, max_payload_bytes: usize) -> Result<()> {
        validate_vector(&self.vector, dimension).map_err(|e| {
            Error::new(
                e.kind(),
                e.code(),
                format!("point {}: {}", self.id, e.message()),
            )
        })?;
        let size = serde_json::to_vec(&self.payload)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if size > max_payload_bytes {
            return Err(Error::payload_too_large(format!(
                "point {}: payload is {size} bytes, the limit is {max_payload_bytes} (limits.max_payload_bytes)",
                self.id
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_range_numbers_reach_validation_as_infinity() {
        let p: Point = serde_json::from_str(r#"{"id":1,"vector":[1e39,0.1,-2.5e-3]}"#).unwrap();
        assert_eq!(p.vector[0], f32::INFINITY);
        assert_eq!(&p.vector[1..], &[0.1f32, -2.5e-3f32]);
        assert_eq!(
            validate_vector(&p.vector, 3).unwrap_err().code(),
            "invalid_vector"
        );
        let finite = Point::new(1, p.vector[1..].to_vec(), Payload::new());
        let back: Point = serde_json::from_str(&serde_json::to_string(&finite).unwrap()).unwrap();
        assert_eq!(back, finite);
    }

    #[test]
    fn vectors_are_checked() {
        assert_eq!(
            validate_vector(&[1.0, 2.0], 3).unwrap_err().code(),
            "dimension_mismatch"
        );
        assert_eq!(
            validate_vector(&[1.0, f32::NAN], 2).unwrap_err().code(),
            "invalid_vector"
        );
        assert_eq!(
            validate_vector(&[f32::INFINITY], 1).unwrap_err().code(),
            "invalid_vector"
        );
        assert_eq!(
            validate_vector(&[], 2).unwrap_err().code(),
            "dimension_mismatch"
        );
        validate_vector(&[0.5, 1.0], 2).unwrap();
    }

    #[test]
    fn payload_must_be_an_object_and_small() {
        assert!(serde_json::from_str::<Point>(r#"{"id":1,"vector":[1],"payload":[1]}"#).is_err());
        let p: Point = serde_json::from_str(r#"{"id":1,"vector":[1],"payload":null}"#).unwrap();
        assert!(p.payload.is_empty());
        let mut big = Payload::new();
        big.insert("t".into(), "x".repeat(100).into());
        let p = Point::new(1, vec![1.0], big);
        assert_eq!(p.validate(1, 50).unwrap_err().code(), "payload_too_large");
        p.validate(1, 1000).unwrap();
    }
}
