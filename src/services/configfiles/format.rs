//! File formats the config service understands. A format validates a whole file before it is
//! written (a write that would not parse is refused) and, if it has sections, edits them.
//! To add TOML or JSON, implement [`FileFormat`] and name it in [`by_name`].

use super::ini::{IniDocument, IniError, Selector, Upsert};
use serde::Serialize;

/// A section as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SectionView {
    /// Its name, as written in the file.
    pub name: String,
    /// Position among sections of the same name, from 0.
    pub index: usize,
    /// Its key/value pairs in file order (keys may repeat).
    pub entries: Vec<(String, String)>,
}

/// Why a format refused an operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// The text does not parse, or an edit is not valid in this format.
    #[error("{0}")]
    Invalid(String),
    /// The selector matches no section.
    #[error("{0}")]
    NotFound(String),
    /// This format has no sections.
    #[error("files in `{0}` format have no sections; read or write the whole file")]
    NoSections(&'static str),
}

impl From<IniError> for FormatError {
    fn from(err: IniError) -> Self {
        match err {
            IniError::NotFound { .. } => Self::NotFound(err.to_string()),
            other => Self::Invalid(other.to_string()),
        }
    }
}

/// A file format.
pub trait FileFormat: Send + Sync + std::fmt::Debug {
    /// Its name in `[files]` and in `list_files`.
    fn name(&self) -> &'static str;

    /// Accept `text` as a whole file, or say why not.
    fn validate(&self, text: &str) -> Result<(), FormatError>;

    /// One section.
    fn read_section(
        &self,
        _text: &str,
        _name: &str,
        _selector: &Selector,
    ) -> Result<SectionView, FormatError> {
        Err(FormatError::NoSections(self.name()))
    }

    /// Replace the selected section's entries, or append a new section; returns the new text.
    fn write_section(
        &self,
        _text: &str,
        _name: &str,
        _selector: &Selector,
        _entries: &[(String, String)],
    ) -> Result<(String, Upsert), FormatError> {
        Err(FormatError::NoSections(self.name()))
    }

    /// Remove the selected section; returns the new text.
    fn delete_section(
        &self,
        _text: &str,
        _name: &str,
        _selector: &Selector,
    ) -> Result<String, FormatError> {
        Err(FormatError::NoSections(self.name()))
    }
}

/// The format named `name`.
pub fn by_name(name: &str) -> Option<&'static dyn FileFormat> {
    match name {
        "ini" => Some(&Ini),
        "text" => Some(&Text),
        _ => None,
    }
}

/// The default format for a path: `ini` for `.conf` and `.ini`, else `text`.
pub fn for_path(path: &std::path::Path) -> &'static dyn FileFormat {
    match path.extension().and_then(|e| e.to_str()) {
        Some("conf" | "ini") => &Ini,
        _ => &Text,
    }
}

/// Plain text, whole file only. Refuses NUL bytes, which no config file holds and which
/// would let a client smuggle binary into a text file.
#[derive(Debug)]
pub struct Text;

impl FileFormat for Text {
    fn name(&self) -> &'static str {
        "text"
    }

    fn validate(&self, text: &str) -> Result<(), FormatError> {
        if text.contains('\0') {
            return Err(FormatError::Invalid("text contains a NUL byte".to_owned()));
        }
        Ok(())
    }
}

/// INI-style sections with repeated names, as WireGuard writes them.
#[derive(Debug)]
pub struct Ini;

impl FileFormat for Ini {
    fn name(&self) -> &'static str {
        "ini"
    }

    fn validate(&self, text: &str) -> Result<(), FormatError> {
        Text.validate(text)?;
        IniDocument::parse(text)?;
        Ok(())
    }

    fn read_section(
        &self,
        text: &str,
        name: &str,
        selector: &Selector,
    ) -> Result<SectionView, FormatError> {
        let section = IniDocument::parse(text)?.find(name, selector)?;
        Ok(SectionView {
            name: section.name,
            index: section.index,
            entries: section.entries,
        })
    }

    fn write_section(
        &self,
        text: &str,
        name: &str,
        selector: &Selector,
        entries: &[(String, String)],
    ) -> Result<(String, Upsert), FormatError> {
        let mut document = IniDocument::parse(text)?;
        let outcome = document.upsert(name, selector, entries)?;
        let rendered = document.render();
        // Belt and braces: whatever the edit did, the result must still parse.
        self.validate(&rendered)?;
        Ok((rendered, outcome))
    }

    fn delete_section(
        &self,
        text: &str,
        name: &str,
        selector: &Selector,
    ) -> Result<String, FormatError> {
        let mut document = IniDocument::parse(text)?;
        document.remove(name, selector)?;
        Ok(document.render())
    }
}
