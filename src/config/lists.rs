//! Lists in settings, written the way each source makes easy: `["keys", "audit"]` in TOML,
//! and in an environment variable `keys,audit`, `keys` or `["keys","audit"]`.
//!
//! figment reads `PORTCULLIS_AUTH__SIGNED_GROUPS=keys` as the string `"keys"`, which a
//! `Vec` refuses as a type error; an operator setting one value should not need TOML array
//! syntax in a shell.

use serde::de::{self, Deserialize, Deserializer, IntoDeserializer, SeqAccess, Visitor};
use std::fmt;
use std::marker::PhantomData;

/// A list, or one string holding comma-separated entries (blank entries skipped).
pub fn one_or_many<'de, D, T>(deserializer: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    deserializer.deserialize_any(OneOrMany(PhantomData))
}

/// As [`one_or_many`], for a list that may be left out.
pub fn optional_one_or_many<'de, D, T>(deserializer: D) -> Result<Option<Vec<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    one_or_many(deserializer).map(Some)
}

struct OneOrMany<T>(PhantomData<T>);

impl<'de, T: Deserialize<'de>> Visitor<'de> for OneOrMany<T> {
    type Value = Vec<T>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list, e.g. [\"a\", \"b\"], or \"a,b\"")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(items)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Vec<T>, E> {
        text.split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(|item| T::deserialize(item.to_owned().into_deserializer()))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Holder {
        #[serde(deserialize_with = "one_or_many")]
        items: Vec<String>,
    }

    fn read(value: serde_json::Value) -> Vec<String> {
        serde_json::from_value::<Holder>(serde_json::json!({ "items": value }))
            .unwrap()
            .items
    }

    #[test]
    fn a_list_a_single_value_and_comma_separated_values_are_all_lists() {
        assert_eq!(
            read(serde_json::json!(["keys", "audit"])),
            ["keys", "audit"]
        );
        assert_eq!(read(serde_json::json!("keys")), ["keys"]);
        assert_eq!(read(serde_json::json!("keys, audit,")), ["keys", "audit"]);
        assert!(read(serde_json::json!("")).is_empty());
    }

    #[test]
    fn a_number_is_not_a_list() {
        let err = serde_json::from_value::<Holder>(serde_json::json!({ "items": 3 })).unwrap_err();
        assert!(err.to_string().contains("a list"), "{err}");
    }
}
