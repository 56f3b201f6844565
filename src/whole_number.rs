//! Integers in JSON request bodies, as JSON Schema counts them: `270` and `270.0` are the same
//! integer (a number whose fraction is zero), and a client whose numbers are all floats
//! (Python's `json.dumps(270.0)`) writes the second. serde's `i64` takes only the first, so
//! the document's `"type": "integer"` would promise more than the server takes.

use serde::{Deserialize, Deserializer, de::Error};

/// A JSON number that is a whole number within `i64`.
pub fn i64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    match Number::deserialize(deserializer)? {
        Number::Int(n) => Ok(n),
        Number::Float(f) => whole(f).ok_or_else(|| D::Error::custom("expected a whole number")),
    }
}

/// A JSON number that is a whole number within `u64`.
pub fn u64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
    i64(deserializer)?
        .try_into()
        .map_err(|_| D::Error::custom("expected a whole number, not negative"))
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Number {
    Int(i64),
    Float(f64),
}

/// `f` when it is a whole number that fits; ±2^63 is outside `i64`, so bounds are exclusive
/// of the upper one.
fn whole(f: f64) -> Option<i64> {
    const LIMIT: f64 = 9_223_372_036_854_775_808.0; // 2^63
    (f.fract() == 0.0 && (-LIMIT..LIMIT).contains(&f)).then_some(f as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "i64")]
        n: i64,
    }

    fn parse(text: &str) -> Result<i64, String> {
        serde_json::from_str::<Holder>(text)
            .map(|h| h.n)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn whole_numbers_in_either_spelling_and_nothing_else() {
        assert_eq!(parse(r#"{"n": 270}"#), Ok(270));
        assert_eq!(parse(r#"{"n": 270.0}"#), Ok(270));
        assert_eq!(parse(r#"{"n": -3e2}"#), Ok(-300));
        assert_eq!(parse(r#"{"n": 9223372036854775807}"#), Ok(i64::MAX));
        assert!(parse(r#"{"n": 270.5}"#).is_err());
        assert!(parse(r#"{"n": 1e19}"#).is_err());
        assert!(parse(r#"{"n": 9223372036854775808}"#).is_err());
        assert!(parse(r#"{"n": "270"}"#).is_err());
        assert!(parse(r#"{"n": null}"#).is_err());
    }
}
