//! Format-aware editing of INI-style config files such as WireGuard's `wg0.conf`.
//!
//! The config-file API lets a client change one section (say, add or replace a `[Peer]`)
//! without clobbering the operator's comments, blank lines or ordering. So every line is kept
//! verbatim and only the lines an edit actually changes are rewritten:
//! `IniDocument::parse(x)?.render() == x`, byte for byte, for every valid `x`.
//!
//! # Grammar (WireGuard-compatible)
//!
//! * Lines end in `\n` or `\r\n`. Each line keeps its own ending, and whether the file ends
//!   with a newline is kept; lines we add use the ending of the file's first line.
//! * After trimming whitespace a line is one of:
//!   - empty;
//!   - a comment, starting with `#` or `;`;
//!   - a header `[Name]`: the name is non-empty and has no `]`; only whitespace or a comment
//!     may follow the `]`;
//!   - an entry `Key = Value`, split on the *first* `=`. Key and value are trimmed; the key
//!     is non-empty, the value may be empty or hold `=` (base64 keys) and `#`, which is part
//!     of the value, not a comment.
//! * Before the first header only blank and comment lines may appear.
//! * Section names and keys match ignoring ASCII case, as WireGuard does; their spelling in
//!   the file is kept. Names may repeat: a section is picked with a [`Selector`].
//!
//! Errors never quote the file: its lines may hold private keys.

use std::fmt;

/// A parsed file that can be edited without disturbing what the edit does not touch.
///
/// `Debug` shows only sizes, because the lines may hold private keys.
#[derive(Clone, PartialEq, Eq)]
pub struct IniDocument {
    lines: Vec<Line>,
    /// Line ending for lines we add, taken from the file so it stays consistent.
    crlf: bool,
    /// Whether the last line is terminated; kept so a render changes no more than asked.
    final_newline: bool,
}

/// One section, detached from the file, so callers can read it without holding the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The name as spelled in the file, so answers show what the operator wrote.
    pub name: String,
    /// Position among sections of the same name (from 0), since names repeat (`[Peer]`).
    pub index: usize,
    /// Key/value pairs in file order; a list, because keys repeat (`AllowedIPs`).
    pub entries: Vec<(String, String)>,
}

/// Which of the sections with a given name an operation means, since names repeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// The one section of that name; for names that must be unique, like `[Interface]`.
    Only,
    /// The n-th section of that name (from 0); positional, so fragile across edits.
    Index(usize),
    /// The section holding all these pairs (key ignoring case, value exact), e.g. a peer's
    /// `PublicKey`, which stays stable while other peers come and go.
    Where(Vec<(String, String)>),
}

/// What an upsert did, so the caller can tell the client whether it created something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upsert {
    /// No section matched, so a new one was appended.
    Added,
    /// One section matched and its entries were replaced in place.
    Replaced,
}

/// Why the file or an edit was refused; each variant maps to a distinct client answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IniError {
    /// The text is not valid; the line (from 1) and reason let the operator find it without
    /// the line being echoed.
    Parse {
        /// 1-based line number.
        line: usize,
        /// Short description of the problem.
        reason: String,
    },
    /// The selector matched no section (or the index is too large to append at).
    NotFound {
        /// The section name asked for.
        section: String,
    },
    /// The selector matched several sections; we refuse to guess which to change.
    Ambiguous {
        /// The section name asked for.
        section: String,
        /// How many sections matched.
        count: usize,
    },
    /// The section name could not be written safely as a header.
    InvalidName(String),
    /// An entry could not be written as exactly one `Key = Value` line.
    InvalidEntry(String),
}

impl fmt::Display for IniError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Parse { line, reason } => write!(f, "line {line}: {reason}"),
            Self::NotFound { section } => write!(f, "no matching [{section}] section"),
            Self::Ambiguous { section, count } => {
                write!(f, "{count} [{section}] sections match; select one")
            }
            Self::InvalidName(reason) => write!(f, "invalid section name: {reason}"),
            Self::InvalidEntry(reason) => write!(f, "invalid entry: {reason}"),
        }
    }
}

impl std::error::Error for IniError {}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    /// The text without its line ending, exactly as read (or as we wrote it).
    raw: String,
    /// Whether this line ends in `\r\n` rather than `\n` (when it ends at all).
    crlf: bool,
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Blank,
    Comment,
    Header(String),
    Entry { key: String, value: String },
}

/// A section's place in `lines`: the header and everything up to the next header.
#[derive(Debug, Clone)]
struct Span {
    name: String,
    index: usize,
    header: usize,
    end: usize,
}

enum Lookup {
    Found(Span),
    Missing { count: usize },
}

impl fmt::Debug for IniDocument {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IniDocument")
            .field("lines", &self.lines.len())
            .field("sections", &self.spans().len())
            .finish_non_exhaustive()
    }
}

impl IniDocument {
    /// Reads a whole file, refusing anything WireGuard would not accept, so that edits start
    /// from (and `render` reproduces) a known-good file.
    pub fn parse(text: &str) -> Result<Self, IniError> {
        let final_newline = text.is_empty() || text.ends_with('\n');
        let body = text.strip_suffix('\n').unwrap_or(text);
        let pieces: Vec<&str> = if text.is_empty() {
            Vec::new()
        } else {
            body.split('\n').collect()
        };
        let count = pieces.len();
        let mut lines = Vec::with_capacity(count);
        let mut in_section = false;
        for (i, piece) in pieces.into_iter().enumerate() {
            let terminated = i + 1 < count || final_newline;
            let (content, crlf) = match piece.strip_suffix('\r') {
                Some(content) if terminated => (content, true),
                _ => (piece, false),
            };
            let kind = classify(content, i + 1, in_section)?;
            in_section |= matches!(kind, Kind::Header(_));
            lines.push(Line {
                raw: content.to_owned(),
                crlf,
                kind,
            });
        }
        let crlf = lines.first().is_some_and(|line| line.crlf);
        if !final_newline && let Some(last) = lines.last_mut() {
            // Unterminated, so its ending is only used if we append after it.
            last.crlf = crlf;
        }
        Ok(Self {
            lines,
            crlf,
            final_newline,
        })
    }

    /// Lists every section in file order, for clients that browse before they edit.
    pub fn sections(&self) -> Vec<Section> {
        self.spans().iter().map(|span| self.section(span)).collect()
    }

    /// Reads the one section a selector means, failing rather than guessing when it is
    /// missing or ambiguous.
    pub fn find(&self, name: &str, selector: &Selector) -> Result<Section, IniError> {
        match self.locate(name, selector)? {
            Lookup::Found(span) => Ok(self.section(&span)),
            Lookup::Missing { .. } => Err(not_found(name)),
        }
    }

    /// Sets a section's entries, replacing them in place (keeping comments, blank lines and
    /// the order of surviving keys) or appending a new section, so one call serves both
    /// "add peer" and "change peer".
    ///
    /// The n-th old line of key K takes the n-th new value of K (an unchanged value keeps its
    /// line byte for byte); old lines without a counterpart are dropped; leftover new entries
    /// go after the last remaining entry line, or right after the header. With no match
    /// (`Only`/`Where`, or `Index(i)` where `i` equals the number of such sections) the
    /// section is appended after one blank line. Names and entries are validated first, so an
    /// upsert can never add a header or line of its own.
    pub fn upsert(
        &mut self,
        name: &str,
        selector: &Selector,
        entries: &[(String, String)],
    ) -> Result<Upsert, IniError> {
        validate_name(name)?;
        validate_entries(entries)?;
        match self.locate(name, selector)? {
            Lookup::Found(span) => {
                self.replace_entries(&span, entries);
                Ok(Upsert::Replaced)
            }
            Lookup::Missing { count } => {
                if matches!(selector, Selector::Index(i) if *i != count) {
                    return Err(not_found(name));
                }
                self.append_section(name, entries);
                Ok(Upsert::Added)
            }
        }
    }

    /// Deletes a section and what belongs to it, returning it so the caller can report or
    /// undo. The rule, chosen to match how people comment `wg0.conf`:
    ///
    /// * a run of comment lines directly above a header, with a blank line above the run,
    ///   belongs to that header: it goes with the removed section, and it stays with the next;
    /// * everything else from the header to the next header (or end of file) goes, except
    ///   blank lines separating it from the next section;
    /// * where the section was, at most one blank line is then dropped, so no double blank
    ///   line (nor a leading or trailing one) is left behind.
    pub fn remove(&mut self, name: &str, selector: &Selector) -> Result<Section, IniError> {
        let span = match self.locate(name, selector)? {
            Lookup::Found(span) => span,
            Lookup::Missing { .. } => return Err(not_found(name)),
        };
        let removed = self.section(&span);
        let start = self.attached_start(span.header);
        let mut stop = if span.end < self.lines.len() {
            self.attached_start(span.end)
        } else {
            span.end
        };
        while stop > span.header + 1 && self.is_blank(stop - 1) {
            stop -= 1;
        }
        self.lines.drain(start..stop);
        self.close_seam(start);
        Ok(removed)
    }

    /// Produces the file text: the original bytes wherever nothing was edited.
    pub fn render(&self) -> String {
        let capacity = self.lines.iter().map(|line| line.raw.len() + 2).sum();
        let mut out = String::with_capacity(capacity);
        let last = self.lines.len().saturating_sub(1);
        for (i, line) in self.lines.iter().enumerate() {
            out.push_str(&line.raw);
            if i < last || self.final_newline {
                out.push_str(if line.crlf { "\r\n" } else { "\n" });
            }
        }
        out
    }

    fn spans(&self) -> Vec<Span> {
        let headers: Vec<(usize, &str)> = self
            .lines
            .iter()
            .enumerate()
            .filter_map(|(i, line)| match &line.kind {
                Kind::Header(name) => Some((i, name.as_str())),
                _ => None,
            })
            .collect();
        let mut spans: Vec<Span> = Vec::with_capacity(headers.len());
        for (n, &(header, name)) in headers.iter().enumerate() {
            let end = headers.get(n + 1).map_or(self.lines.len(), |&(i, _)| i);
            let index = spans.iter().filter(|s| same(&s.name, name)).count();
            spans.push(Span {
                name: name.to_owned(),
                index,
                header,
                end,
            });
        }
        spans
    }

    fn entries(&self, span: &Span) -> Vec<(String, String)> {
        self.lines
            .get(span.header + 1..span.end)
            .unwrap_or_default()
            .iter()
            .filter_map(|line| match &line.kind {
                Kind::Entry { key, value } => Some((key.clone(), value.clone())),
                _ => None,
            })
            .collect()
    }

    fn section(&self, span: &Span) -> Section {
        Section {
            name: span.name.clone(),
            index: span.index,
            entries: self.entries(span),
        }
    }

    fn locate(&self, name: &str, selector: &Selector) -> Result<Lookup, IniError> {
        let candidates: Vec<Span> = self
            .spans()
            .into_iter()
            .filter(|span| same(&span.name, name))
            .collect();
        let count = candidates.len();
        let matched: Vec<Span> = match selector {
            Selector::Only => candidates,
            Selector::Index(i) => candidates.into_iter().nth(*i).into_iter().collect(),
            Selector::Where(pairs) => candidates
                .into_iter()
                .filter(|span| {
                    let entries = self.entries(span);
                    pairs
                        .iter()
                        .all(|(key, value)| entries.iter().any(|(k, v)| same(k, key) && v == value))
                })
                .collect(),
        };
        if matched.len() > 1 {
            return Err(IniError::Ambiguous {
                section: name.to_owned(),
                count: matched.len(),
            });
        }
        Ok(match matched.into_iter().next() {
            Some(span) => Lookup::Found(span),
            None => Lookup::Missing { count },
        })
    }

    fn replace_entries(&mut self, span: &Span, entries: &[(String, String)]) {
        let old = self
            .lines
            .get(span.header + 1..span.end)
            .unwrap_or_default();
        let mut used = vec![false; entries.len()];
        let mut seen: Vec<&str> = Vec::new();
        let mut body: Vec<Line> = Vec::with_capacity(old.len() + entries.len());
        let mut insert_at = 0;
        for line in old {
            let Kind::Entry { key, value } = &line.kind else {
                body.push(line.clone());
                continue;
            };
            let nth = seen.iter().filter(|k| same(k, key)).count();
            seen.push(key);
            let counterpart = entries
                .iter()
                .enumerate()
                .filter(|(_, (k, _))| same(k, key))
                .nth(nth);
            let Some((j, (_, new_value))) = counterpart else {
                continue;
            };
            if let Some(flag) = used.get_mut(j) {
                *flag = true;
            }
            if new_value == value {
                body.push(line.clone());
            } else {
                body.push(self.entry_line(key, new_value));
            }
            insert_at = body.len();
        }
        let tail = body.split_off(insert_at);
        for ((key, value), _) in entries.iter().zip(&used).filter(|(_, used)| !**used) {
            body.push(self.entry_line(key, value));
        }
        body.extend(tail);
        self.lines.splice(span.header + 1..span.end, body);
    }

    fn append_section(&mut self, name: &str, entries: &[(String, String)]) {
        let blanks = self
            .lines
            .iter()
            .rev()
            .take_while(|l| l.kind == Kind::Blank)
            .count();
        if blanks == self.lines.len() {
            self.lines.clear();
        } else if blanks == 0 {
            self.lines.push(self.line(String::new(), Kind::Blank));
        } else {
            self.lines.truncate(self.lines.len() - blanks + 1);
        }
        let header = self.line(format!("[{name}]"), Kind::Header(name.to_owned()));
        self.lines.push(header);
        for (key, value) in entries {
            self.lines.push(self.entry_line(key, value));
        }
    }

    /// Where the comment run attached to the header at `header` starts (or `header` itself).
    fn attached_start(&self, header: usize) -> usize {
        let above = self.lines.get(..header).unwrap_or_default();
        let comments = above
            .iter()
            .rev()
            .take_while(|l| l.kind == Kind::Comment)
            .count();
        let first = header - comments;
        if comments > 0 && first > 0 && self.is_blank(first - 1) {
            first
        } else {
            header
        }
    }

    /// After deleting lines before index `at`, drops one blank line if the cut left two
    /// adjacent ones, or one at the start or end of the file.
    fn close_seam(&mut self, at: usize) {
        let before = at > 0 && self.is_blank(at - 1);
        let after = self.is_blank(at);
        if after && (before || at == 0) {
            self.lines.remove(at);
        } else if before && at == self.lines.len() {
            self.lines.remove(at - 1);
        }
    }

    fn is_blank(&self, i: usize) -> bool {
        self.lines.get(i).is_some_and(|l| l.kind == Kind::Blank)
    }

    fn line(&self, raw: String, kind: Kind) -> Line {
        Line {
            raw,
            crlf: self.crlf,
            kind,
        }
    }

    fn entry_line(&self, key: &str, value: &str) -> Line {
        let raw = if value.is_empty() {
            format!("{key} =")
        } else {
            format!("{key} = {value}")
        };
        let kind = Kind::Entry {
            key: key.to_owned(),
            value: value.to_owned(),
        };
        self.line(raw, kind)
    }
}

fn classify(content: &str, line: usize, in_section: bool) -> Result<Kind, IniError> {
    let fail = |reason: &str| {
        Err(IniError::Parse {
            line,
            reason: reason.to_owned(),
        })
    };
    let trimmed = content.trim();
    if trimmed.is_empty() {
        return Ok(Kind::Blank);
    }
    if trimmed.starts_with(['#', ';']) {
        return Ok(Kind::Comment);
    }
    if let Some(rest) = trimmed.strip_prefix('[') {
        let Some((name, after)) = rest.split_once(']') else {
            return fail("unterminated section header");
        };
        let name = name.trim();
        if name.is_empty() {
            return fail("empty section name");
        }
        let after = after.trim_start();
        if !(after.is_empty() || after.starts_with(['#', ';'])) {
            return fail("unexpected text after section header");
        }
        return Ok(Kind::Header(name.to_owned()));
    }
    let Some((key, value)) = trimmed.split_once('=') else {
        return fail("expected `Key = Value`, a `[Section]` header or a comment");
    };
    let key = key.trim();
    if key.is_empty() {
        return fail("missing key before `=`");
    }
    if !in_section {
        return fail("entry before the first section header");
    }
    Ok(Kind::Entry {
        key: key.to_owned(),
        value: value.trim().to_owned(),
    })
}

fn validate_name(name: &str) -> Result<(), IniError> {
    let ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(IniError::InvalidName(
            "use one or more of A-Z, a-z, 0-9, `_`, `.`, `-`".to_owned(),
        ))
    }
}

fn validate_entries(entries: &[(String, String)]) -> Result<(), IniError> {
    for (n, (key, value)) in entries.iter().enumerate() {
        if let Some(reason) = entry_problem(key, value) {
            return Err(IniError::InvalidEntry(format!("entry {}: {reason}", n + 1)));
        }
    }
    Ok(())
}

/// Why `key = value` would not read back as exactly this one entry, if it would not.
fn entry_problem(key: &str, value: &str) -> Option<&'static str> {
    if key.is_empty() {
        Some("key is empty")
    } else if key.trim() != key {
        Some("key has leading or trailing whitespace")
    } else if key.contains(['=', '[', ']', '#', ';']) {
        Some("key contains one of `=`, `[`, `]`, `#`, `;`")
    } else if key.chars().any(char::is_control) {
        Some("key contains a line break or control character")
    } else if value.chars().any(|c| c.is_control() && c != '\t') {
        Some("value contains a line break or control character")
    } else if value.trim() != value {
        Some("value has leading or trailing whitespace")
    } else {
        None
    }
}

fn same(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

fn not_found(name: &str) -> IniError {
    IniError::NotFound {
        section: name.to_owned(),
    }
}

#[cfg(test)]
mod tests;
