//! MLflow's JSON conventions: int64 values that may arrive as strings, doubles whose NaN and
//! infinities travel as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`, and key/value
//! pairs for params and tags.

use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A `{key, value}` pair (param or tag).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(default)]
    pub value: String,
}

/// Params or tags as MLflow lists them: `[{"key": ..., "value": ...}]`.
pub fn pairs<'a>(map: impl IntoIterator<Item = (&'a String, &'a String)>) -> Vec<Value> {
    map.into_iter()
        .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
        .collect()
}

/// A double as MLflow writes it.
pub fn number(v: f64) -> Value {
    if v.is_nan() {
        Value::from("NaN")
    } else if v == f64::INFINITY {
        Value::from("Infinity")
    } else if v == f64::NEG_INFINITY {
        Value::from("-Infinity")
    } else {
        Value::from(v)
    }
}

fn double_from(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            other => other.parse().ok(),
        },
        _ => None,
    }
}

/// Deserializes a double given as a number or as one of MLflow's strings.
pub fn double<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let value = Value::deserialize(d)?;
    double_from(&value).ok_or_else(|| de::Error::custom(format!("{value} is not a number")))
}

/// Deserializes an optional int64 given as a number or a numeric string.
pub fn int64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                // Only whole numbers that an int64 holds: 1e300 is an error, not i64::MAX.
                n.as_f64()
                    .filter(|f| {
                        f.fract() == 0.0
                            && (-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(f)
                    })
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("{n} is not an int64"))),
        Some(Value::String(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("{s:?} is not an int64"))),
        Some(other) => Err(de::Error::custom(format!("{other} is not an int64"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Sample {
        #[serde(deserialize_with = "double")]
        value: f64,
        #[serde(default, deserialize_with = "int64")]
        step: Option<i64>,
    }

    #[test]
    fn doubles_round_trip_bit_for_bit_and_non_finite_values_are_strings() {
        for v in [
            0.1 + 0.2,
            1e-300,
            -2.5e17,
            f64::MAX,
            f64::MIN_POSITIVE,
            5e-324,
        ] {
            let text =
                serde_json::to_string(&serde_json::json!({ "value": number(v) })).expect("writes");
            let back: Sample = serde_json::from_str(&text).expect("reads");
            assert_eq!(back.value.to_bits(), v.to_bits(), "{text}");
        }
        assert_eq!(number(f64::NAN), Value::from("NaN"));
        assert_eq!(number(f64::NEG_INFINITY), Value::from("-Infinity"));
        let back: Sample =
            serde_json::from_str(r#"{"value": "Infinity", "step": "42"}"#).expect("reads");
        assert_eq!((back.value, back.step), (f64::INFINITY, Some(42)));
        assert!(serde_json::from_str::<Sample>(r#"{"value": "lots"}"#).is_err());
        assert!(serde_json::from_str::<Sample>(r#"{"value": 1, "step": 1.5}"#).is_err());
        assert!(serde_json::from_str::<Sample>(r#"{"value": 1, "step": 1e300}"#).is_err());
        assert!(serde_json::from_str::<Sample>(r#"{"value": 1, "step": -1e19}"#).is_err());
    }
}
