//! Configuration errors in the operator's words: one sentence per problem, naming where the
//! value came from (the file or the environment variable), the setting, the value given and
//! what is expected — never a Rust type name, never the same error twice.
//!
//! figment's own `Display` prints `expected u16 for key "default.server.port" in a.toml TOML
//! file`, and its error chain repeats itself when printed with its sources; this module
//! rewrites each of its errors into one line.

use super::ENV_PREFIX;
use figment::error::{Actual, Kind};
use figment::{Error, Source};

/// One line per problem in `error` (figment collects several).
pub fn describe(error: Error) -> Vec<String> {
    error.into_iter().map(|e| line(&e)).collect()
}

/// Where a setting came from, as an operator would look for it.
pub fn origin(metadata: Option<&figment::Metadata>, path: &[String]) -> Origin {
    match metadata {
        Some(md) => match &md.source {
            Some(Source::File(file)) => Origin::File(file.display().to_string()),
            _ if md.name.contains("environment") => Origin::Env(format!(
                "{ENV_PREFIX}{}",
                path.join("__").to_ascii_uppercase()
            )),
            _ => Origin::Other,
        },
        None => Origin::Other,
    }
}

/// Where a value came from.
pub enum Origin {
    /// A TOML file, by its path as given.
    File(String),
    /// An environment variable, by its full name.
    Env(String),
    /// The built-in defaults or a flag.
    Other,
}

/// The problem without where it came from: "`client_keys.alice.files` = 3: expected …",
/// for settings read from a value already taken out of its source.
pub fn problem(error: &Error) -> String {
    let line = line(error);
    match line.split_once(": ") {
        Some((_, rest)) => rest.to_owned(),
        None => line,
    }
}

fn line(error: &Error) -> String {
    let mut path = error.path.clone();
    // figment puts an unknown field in the path already; a missing one is not there.
    if let Kind::MissingField(field) = &error.kind {
        path.push(field.to_string());
    }
    let key = path.join(".");
    let origin = origin(error.metadata.as_ref(), &path);
    let (place, setting) = match &origin {
        Origin::File(file) => (format!("in {file}"), format!("`{key}`")),
        Origin::Env(var) => ("in the environment".to_owned(), var.clone()),
        Origin::Other => (String::new(), format!("`{key}`")),
    };
    let head = if place.is_empty() {
        "configuration error".to_owned()
    } else {
        format!("configuration error {place}")
    };
    match &error.kind {
        Kind::InvalidType(actual, expected) | Kind::InvalidValue(actual, expected) => format!(
            "{head}: {setting} = {}: expected {}",
            value(actual, &path),
            in_words(expected)
        ),
        Kind::InvalidLength(length, expected) => format!(
            "{head}: {setting} has {length} entries: expected {}",
            in_words(expected)
        ),
        Kind::UnknownVariant(given, known) => format!(
            "{head}: {setting} = {given:?}: expected one of {}",
            quoted(known)
        ),
        Kind::UnknownField(_, []) => {
            format!("{head}: {setting} is not a setting")
        }
        Kind::UnknownField(_, known) => format!(
            "{head}: {setting} is not a setting; the settings here are {}",
            known.join(", ")
        ),
        Kind::MissingField(_) => format!("{head}: {setting} is required but missing"),
        Kind::DuplicateField(field) => format!("{head}: `{field}` is given twice"),
        Kind::ISizeOutOfRange(n) => format!("{head}: {setting} = {n}: out of range"),
        Kind::USizeOutOfRange(n) => format!("{head}: {setting} = {n}: out of range"),
        Kind::Unsupported(actual) => {
            format!(
                "{head}: {setting} = {}: not supported",
                value(actual, &path)
            )
        }
        Kind::UnsupportedKey(actual, _) => {
            format!(
                "{head}: {setting} has a key that is not a name: {}",
                value(actual, &path)
            )
        }
        Kind::Message(message) if path.is_empty() => file_level(&head, &origin, message),
        // Already names its setting (see `problem`).
        Kind::Message(message) if message.starts_with(&format!("`{key}.")) => {
            format!("{head}: {message}")
        }
        Kind::Message(message) => format!("{head}: {setting}: {message}"),
    }
}

/// A message with no key: the file could not be read or is not TOML.
fn file_level(head: &str, origin: &Origin, message: &str) -> String {
    let message = message.trim_end();
    match origin {
        Origin::File(file) if message.starts_with("TOML parse error") => {
            format!("{head}: {file} is not valid TOML: {message}")
        }
        Origin::File(file) => format!("{head}: cannot read {file}: {message}"),
        _ => format!("{head}: {message}"),
    }
}

/// Settings whose values are secrets: an error names the setting, never what was given.
const SECRET_SETTINGS: [&str; 7] = [
    "session_secret",
    "audit_secret",
    "private_key",
    "previous_private_key",
    "password",
    "webhook_secret",
    "device_key",
];

/// The value as the error shows it: a secret setting's value is never shown, and a URL's
/// password is masked (`storage.redis_url = "redis://:pw@h"`).
fn value(actual: &Actual, path: &[String]) -> String {
    let name = path.last().map(String::as_str).unwrap_or_default();
    if SECRET_SETTINGS.contains(&name) {
        return "(a value, not shown: this setting is a secret)".to_owned();
    }
    match actual {
        Actual::Str(text) if name.ends_with("url") => {
            format!("{:?}", crate::redis_client::redacted(text))
        }
        Actual::Str(text) => format!("{text:?}"),
        Actual::Unsigned(n) => n.to_string(),
        Actual::Signed(n) => n.to_string(),
        Actual::Float(n) => n.to_string(),
        Actual::Bool(b) => b.to_string(),
        Actual::Char(c) => format!("{:?}", c.to_string()),
        Actual::Seq => "a list".to_owned(),
        Actual::Map => "a table".to_owned(),
        Actual::Unit | Actual::Option => "nothing".to_owned(),
        other => other.to_string(),
    }
}

fn quoted(names: &[&str]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// serde's `expected` strings (Rust type names) in words.
fn in_words(expected: &str) -> String {
    let words = match expected {
        "u8" => "a whole number from 0 to 255",
        "u16" => "a whole number from 0 to 65535",
        "u32" | "u64" | "u128" | "usize" => "a whole number, 0 or more",
        "i8" | "i16" | "i32" | "i64" | "i128" | "isize" => "a whole number",
        "f32" | "f64" => "a number",
        "a boolean" | "bool" => "true or false",
        "a string" | "a borrowed string" | "string" => "a string in quotes",
        "a sequence" => "a list, e.g. [\"a\", \"b\"]",
        "a map" => "a table",
        "a character" | "char" => "a single character",
        other if other.starts_with("struct ") => {
            return "a table (a [section] or { key = value, … })".to_owned();
        }
        other if other.starts_with("enum ") => "one of the documented values",
        other => return other.trim_matches('`').to_owned(),
    };
    words.to_owned()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::Settings;

    fn error_for(file: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        std::fs::write(&path, file).unwrap();
        let shown = path.display().to_string();
        Settings::load(Some(&path))
            .unwrap_err()
            .to_string()
            .replace(&shown, "p.toml")
    }

    #[test]
    fn a_wrong_type_is_said_once_in_words_with_file_key_and_value() {
        assert_eq!(
            error_for("[server]\nport = \"abc\"\n"),
            "configuration error in p.toml: `server.port` = \"abc\": expected a whole number from 0 to 65535"
        );
        assert_eq!(
            error_for("[server]\nport = 70000\n"),
            "configuration error in p.toml: `server.port` = 70000: expected a whole number from 0 to 65535"
        );
    }

    #[test]
    fn an_unknown_key_lists_the_known_ones() {
        let err = error_for("[server]\nprot = 9000\n");
        assert!(
            err.starts_with(
                "configuration error in p.toml: `server.prot` is not a setting; the settings here are host, port,"
            ),
            "{err}"
        );
    }

    #[test]
    fn an_unknown_choice_lists_the_choices() {
        assert_eq!(
            error_for("[logging]\nformat = \"xml\"\n"),
            "configuration error in p.toml: `logging.format` = \"xml\": expected one of \"text\", \"json\""
        );
    }

    #[test]
    fn a_bad_duration_says_how_to_write_one() {
        assert_eq!(
            error_for("[limits]\nrequest_timeout = \"abc\"\n"),
            "configuration error in p.toml: `limits.request_timeout`: \"abc\" is not a duration; \
             write e.g. \"30s\", \"5m\", \"1h 30m\" or \"90d\""
        );
    }

    #[test]
    fn broken_toml_names_the_file_and_the_place() {
        let err = error_for("[server\nport = 1\n");
        assert!(
            err.starts_with(
                "configuration error in p.toml: p.toml is not valid TOML: TOML parse error at line 1, column 8"
            ),
            "{err}"
        );
        assert_eq!(err.matches("TOML parse error").count(), 1, "{err}");
    }

    #[test]
    fn a_secret_given_with_the_wrong_type_is_not_echoed() {
        let err = error_for("[auth]\nsession_secret = 123456789012345678\n");
        assert_eq!(
            err,
            "configuration error in p.toml: `auth.session_secret` = (a value, not shown: this \
             setting is a secret): expected a string in quotes"
        );
        let err = error_for("[envelope]\nprivate_key = [\"-----BEGIN PRIVATE KEY-----\"]\n");
        assert!(!err.contains("BEGIN"), "{err}");
    }

    #[test]
    fn a_missing_file_is_named() {
        let err = Settings::load(Some(std::path::Path::new("/nonexistent/p.toml")))
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "configuration error in /nonexistent/p.toml: cannot read /nonexistent/p.toml: No such file or directory (os error 2)"
        );
    }
}
