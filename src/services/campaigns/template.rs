//! Message templates: `{column}` is filled from each recipient's CSV columns (names match
//! without regard to case or surrounding spaces); `{{` and `}}` stand for literal braces.
//! A template is checked when the campaign is made (an unclosed brace is refused) and its
//! placeholders against a file's columns when recipients are uploaded.

use std::collections::BTreeMap;

/// Longest placeholder name.
const MAX_NAME: usize = 64;

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    /// A column name, normalised (see [`column_key`]).
    Field(String),
}

/// Why a template cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// `{` without its `}`.
    #[error("the message has a `{{` at character {0} that is not closed; write `{{{{` for a brace")]
    Unclosed(usize),
    /// `}` without its `{`.
    #[error(
        "the message has a `}}` at character {0} that closes nothing; write `}}}}` for a brace"
    )]
    Stray(usize),
    /// `{}` or a name that is too long or not a name.
    #[error(
        "the placeholder at character {0} is not a column name (letters, digits, `_`, `-`, space; at most 64)"
    )]
    BadName(usize),
}

/// The form column names are compared in: trimmed, lower case.
pub fn column_key(name: &str) -> String {
    name.trim().to_lowercase()
}

impl Template {
    /// Parse `text`.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().enumerate().peekable();
        while let Some((at, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|(_, n)| *n) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|(_, n)| *n) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::Stray(at + 1)),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((_, '{')) | None => return Err(TemplateError::Unclosed(at + 1)),
                            Some((_, ch)) => name.push(ch),
                        }
                    }
                    let key = column_key(&name);
                    let valid = !key.is_empty()
                        && key.chars().count() <= MAX_NAME
                        && key
                            .chars()
                            .all(|ch| ch.is_alphanumeric() || matches!(ch, '_' | '-' | ' '));
                    if !valid {
                        return Err(TemplateError::BadName(at + 1));
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Text(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Field(key));
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Text(literal));
        }
        Ok(Self { parts })
    }

    /// The columns it uses, normalised, each once, in order of first use.
    pub fn placeholders(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for part in &self.parts {
            if let Part::Field(name) = part
                && !out.contains(&name.as_str())
            {
                out.push(name);
            }
        }
        out
    }

    /// The first placeholder that is not among `columns` (normalised keys).
    pub fn missing<'a>(&'a self, columns: &[String]) -> Option<&'a str> {
        self.placeholders()
            .into_iter()
            .find(|name| !columns.iter().any(|c| c == name))
    }

    /// The text for one recipient; `fields` by normalised column name.
    pub fn render(&self, fields: &BTreeMap<String, String>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(name) => out.push_str(fields.get(name).map_or("", String::as_str)),
            }
        }
        out
    }

    /// The template with each placeholder left as `{name}`: the text whose size a campaign
    /// shows before it has recipients.
    pub fn as_written(&self) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => out.push_str(text),
                Part::Field(name) => {
                    out.push('{');
                    out.push_str(name);
                    out.push('}');
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn placeholders_are_filled_by_column_name_whatever_the_case() {
        let t = Template::parse("Hi {First Name}, your code is {code}. {first name}!").unwrap();
        assert_eq!(t.placeholders(), ["first name", "code"]);
        assert_eq!(
            t.render(&fields(&[("first name", "Ana"), ("code", "42")])),
            "Hi Ana, your code is 42. Ana!"
        );
    }

    #[test]
    fn doubled_braces_are_literal_and_lone_ones_are_refused() {
        let t = Template::parse("{{not a field}} and }}").unwrap();
        assert!(t.placeholders().is_empty());
        assert_eq!(t.render(&BTreeMap::new()), "{not a field} and }");
        assert_eq!(
            Template::parse("oops {name"),
            Err(TemplateError::Unclosed(6))
        );
        assert_eq!(Template::parse("a } b"), Err(TemplateError::Stray(3)));
        assert_eq!(Template::parse("x {}"), Err(TemplateError::BadName(3)));
        assert_eq!(Template::parse("x {a=b}"), Err(TemplateError::BadName(3)));
        assert!(Template::parse(&format!("{{{}}}", "n".repeat(65))).is_err());
    }

    #[test]
    fn a_missing_column_is_named() {
        let t = Template::parse("Hello {name}, see {url}").unwrap();
        assert_eq!(t.missing(&["name".into(), "phone".into()]), Some("url"));
        assert_eq!(t.missing(&["url".into(), "name".into()]), None);
    }
}
