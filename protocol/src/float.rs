//! Floats that survive JSON. serde_json writes NaN and ±infinity as `null`, which no `f64`
//! reads back, so one infinite number in a stored record made it unreadable for good. Fields
//! marked `#[serde(with = "crate::float")]` (or [`option`], [`vec`], [`pairs`], [`map`], [`maps`]) write
//! a non-finite value as `"NaN"`, `"Infinity"` or `"-Infinity"` (MLflow's spelling) in
//! human-readable formats and read numbers, those strings and `null` (as NaN: what earlier
//! releases wrote). Binary formats (bincode on the wire) keep the plain `f64`.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// One `f64` with the encoding above.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Float(pub f64);

impl Serialize for Float {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_finite() || !s.is_human_readable() {
            s.serialize_f64(v)
        } else if v.is_nan() {
            s.serialize_str("NaN")
        } else if v > 0.0 {
            s.serialize_str("Infinity")
        } else {
            s.serialize_str("-Infinity")
        }
    }
}

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            d.deserialize_any(FloatVisitor).map(Float)
        } else {
            f64::deserialize(d).map(Float)
        }
    }
}

struct FloatVisitor;

impl Visitor<'_> for FloatVisitor {
    type Value = f64;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, \"NaN\", \"Infinity\" or \"-Infinity\"")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
        Ok(v as f64)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<f64, E> {
        match v {
            "NaN" | "nan" => Ok(f64::NAN),
            "Infinity" | "inf" => Ok(f64::INFINITY),
            "-Infinity" | "-inf" => Ok(f64::NEG_INFINITY),
            _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
        }
    }

    fn visit_unit<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }

    fn visit_none<E: de::Error>(self) -> Result<f64, E> {
        Ok(f64::NAN)
    }
}

/// `#[serde(with = "crate::float")]` on an `f64`.
pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    Float(*v).serialize(s)
}

/// `#[serde(with = "crate::float")]` on an `f64`.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Float::deserialize(d).map(|f| f.0)
}

/// On an `Option<f64>`: `null` stays `None`, so a stored NaN is `"NaN"`.
pub mod option {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
        v.map(Float).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        Ok(Option::<Float>::deserialize(d)?.map(|f| f.0))
    }
}

/// On a `Vec<f64>`.
pub mod vec {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[f64], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|x| Float(*x)))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
        Ok(Vec::<Float>::deserialize(d)?
            .into_iter()
            .map(|f| f.0)
            .collect())
    }
}

/// On a `BTreeMap<String, f64>` (metrics by name).
pub mod map {
    use super::*;

    pub fn serialize<S: Serializer>(m: &BTreeMap<String, f64>, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(m.iter().map(|(k, v)| (k, Float(*v))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, f64>, D::Error> {
        Ok(BTreeMap::<String, Float>::deserialize(d)?
            .into_iter()
            .map(|(k, f)| (k, f.0))
            .collect())
    }
}

/// On a `Vec<(f64, f64)>` (quantiles and their values).
pub mod pairs {
    use super::*;

    pub fn serialize<S: Serializer>(v: &[(f64, f64)], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(|(a, b)| (Float(*a), Float(*b))))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(f64, f64)>, D::Error> {
        Ok(Vec::<(Float, Float)>::deserialize(d)?
            .into_iter()
            .map(|(a, b)| (a.0, b.0))
            .collect())
    }
}

/// On a `Vec<BTreeMap<String, f64>>` (metrics of each fold).
pub mod maps {
    use super::*;

    #[derive(Deserialize)]
    #[serde(transparent)]
    struct Metrics(#[serde(with = "super::map")] BTreeMap<String, f64>);

    /// One map as it is written, borrowed.
    struct Written<'a>(&'a BTreeMap<String, f64>);

    impl Serialize for Written<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            super::map::serialize(self.0, s)
        }
    }

    pub fn serialize<S: Serializer>(v: &[BTreeMap<String, f64>], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(v.iter().map(Written))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<BTreeMap<String, f64>>, D::Error> {
        Ok(Vec::<Metrics>::deserialize(d)?
            .into_iter()
            .map(|m| m.0)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Row {
        #[serde(with = "super")]
        v: f64,
        #[serde(with = "super::option")]
        o: Option<f64>,
        #[serde(with = "super::vec")]
        l: Vec<f64>,
        #[serde(with = "super::map")]
        m: BTreeMap<String, f64>,
    }

    /// Equal, with NaN equal to NaN.
    fn same(a: f64, b: f64) -> bool {
        a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
    }

    fn any_float() -> impl Strategy<Value = f64> {
        prop_oneof![
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(f64::MIN_POSITIVE / 2.0),
            Just(f64::MAX),
            Just(f64::MIN),
            Just(-0.0),
            any::<f64>(),
        ]
    }

    proptest! {
        #[test]
        fn every_float_reads_back_from_json_and_bincode(v in any_float(), o in any_float(), l in any_float()) {
            let row = Row { v, o: Some(o), l: vec![l, 1.5], m: BTreeMap::from([("k".into(), v)]) };
            let text = serde_json::to_string(&row).expect("json");
            let back: Row = serde_json::from_str(&text).expect("reads back");
            prop_assert!(same(back.v, v) && same(back.o.expect("some"), o) && same(back.l[0], l));
            prop_assert!(same(back.m["k"], v));
            let bytes = bincode::serde::encode_to_vec(&row, bincode::config::standard()).expect("encode");
            let (wire, _): (Row, usize) = bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).expect("decode");
            prop_assert!(same(wire.v, v) && same(wire.l[0], l));
        }
    }

    #[test]
    fn what_earlier_releases_wrote_reads_as_nan() {
        let back: Row = serde_json::from_str(r#"{"v":null,"o":null,"l":[null,2],"m":{"k":null}}"#)
            .expect("reads");
        assert!(back.v.is_nan() && back.l[0].is_nan() && back.m["k"].is_nan());
        assert_eq!(back.o, None);
        let text = serde_json::to_string(&Row {
            v: f64::INFINITY,
            o: Some(f64::NAN),
            l: vec![f64::NEG_INFINITY],
            m: BTreeMap::new(),
        })
        .expect("json");
        assert_eq!(
            text,
            r#"{"v":"Infinity","o":"NaN","l":["-Infinity"],"m":{}}"#
        );
    }
}
