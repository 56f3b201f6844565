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
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const ALICE: &str = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
    const BOB: &str = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=";
    const CAROL: &str = "gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=";
    const DAVE: &str = "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=";

    const WG: &str = "\
# wg0.conf - office gateway
# managed by portcullis

[Interface]
Address = 10.8.0.1/24
ListenPort = 51820
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
; keep the MTU low for the LTE uplink
MTU = 1380

# alice - laptop
[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
# home office
AllowedIPs = 10.8.0.2/32

# bob - phone
[Peer]
PublicKey = TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=
AllowedIPs = 10.8.0.3/32
AllowedIPs = 192.168.50.0/24
PersistentKeepalive = 25

# carol - nas
[Peer]
PublicKey = gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=
AllowedIPs = 10.8.0.4/32
Endpoint = nas.example.net:51820
";

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn by_key(key: &str) -> Selector {
        Selector::Where(pairs(&[("PublicKey", key)]))
    }

    fn parse_error(text: &str) -> (usize, String) {
        match IniDocument::parse(text) {
            Err(IniError::Parse { line, reason }) => (line, reason),
            other => panic!("expected a parse error, got {other:?}"),
        }
    }

    #[test]
    fn round_trips_byte_for_byte() -> Result<(), IniError> {
        let crlf = WG.replace('\n', "\r\n");
        let cases = [
            WG,
            &crlf,
            "",
            "\n",
            "\r\n",
            "# only a comment",
            "# lead\n; lead 2\n\n[A]\nk = v",
            "[A]\r\nk = v\nx=y\r\n",
            "  \t\n[ Spaced ]   # note\n  key=  v = w  \n\n\n",
            "[A]\nk = v\r",
            "[A]\nk =\nbase = abc== # not a comment\n",
        ];
        for text in cases {
            assert_eq!(IniDocument::parse(text)?.render(), text);
        }
        Ok(())
    }

    #[test]
    fn lists_sections_in_file_order() -> Result<(), IniError> {
        let sections = IniDocument::parse(WG)?.sections();
        let names: Vec<(&str, usize)> = sections
            .iter()
            .map(|s| (s.name.as_str(), s.index))
            .collect();
        assert_eq!(
            names,
            [("Interface", 0), ("Peer", 0), ("Peer", 1), ("Peer", 2)]
        );
        assert_eq!(
            sections[2].entries,
            pairs(&[
                ("PublicKey", BOB),
                ("AllowedIPs", "10.8.0.3/32"),
                ("AllowedIPs", "192.168.50.0/24"),
                ("PersistentKeepalive", "25"),
            ])
        );
        Ok(())
    }

    #[test]
    fn values_keep_equals_and_hashes() -> Result<(), IniError> {
        let doc = IniDocument::parse("[A]\nk = abc== # not a comment\ne =\n")?;
        let section = doc.find("A", &Selector::Only)?;
        assert_eq!(
            section.entries,
            pairs(&[("k", "abc== # not a comment"), ("e", "")])
        );
        Ok(())
    }

    #[test]
    fn finds_by_index_and_by_public_key() -> Result<(), IniError> {
        let doc = IniDocument::parse(WG)?;
        let carol = doc.find("Peer", &Selector::Index(2))?;
        assert_eq!(carol.index, 2);
        assert_eq!(carol.entries[0], ("PublicKey".to_owned(), CAROL.to_owned()));
        let bob = doc.find("Peer", &by_key(BOB))?;
        assert_eq!(bob.index, 1);
        assert_eq!(
            bob.entries[1],
            ("AllowedIPs".to_owned(), "10.8.0.3/32".to_owned())
        );
        let both = Selector::Where(pairs(&[
            ("PublicKey", BOB),
            ("AllowedIPs", "192.168.50.0/24"),
        ]));
        assert_eq!(doc.find("Peer", &both)?.index, 1);
        assert_eq!(
            doc.find("Interface", &Selector::Only)?.entries[1].1,
            "51820"
        );
        Ok(())
    }

    #[test]
    fn find_reports_missing_and_ambiguous() -> Result<(), IniError> {
        let doc = IniDocument::parse(WG)?;
        let missing = IniError::NotFound {
            section: "Peer".to_owned(),
        };
        assert_eq!(doc.find("Peer", &Selector::Index(3)), Err(missing.clone()));
        assert_eq!(doc.find("Peer", &by_key(DAVE)), Err(missing));
        let ambiguous = IniError::Ambiguous {
            section: "Peer".to_owned(),
            count: 3,
        };
        assert_eq!(doc.find("Peer", &Selector::Only), Err(ambiguous));
        let two = Selector::Where(pairs(&[("allowedips", "10.8.0.3/32")]));
        assert_eq!(doc.find("Peer", &two)?.index, 1);
        assert_eq!(
            doc.find("Nope", &Selector::Only).map_err(|e| e.to_string()),
            Err("no matching [Nope] section".to_owned())
        );
        Ok(())
    }

    #[test]
    fn matches_names_and_keys_ignoring_case() -> Result<(), IniError> {
        let doc = IniDocument::parse(WG)?;
        let found = doc.find("peer", &Selector::Where(pairs(&[("PUBLICKEY", ALICE)])))?;
        assert_eq!(found.name, "Peer");
        assert_eq!(found.index, 0);
        assert_eq!(found.entries[0].0, "PublicKey");
        assert_eq!(doc.find("INTERFACE", &Selector::Only)?.name, "Interface");
        // Values stay exact: base64 is case-sensitive.
        let lower = Selector::Where(pairs(&[("PublicKey", &ALICE.to_lowercase())]));
        assert!(matches!(
            doc.find("Peer", &lower),
            Err(IniError::NotFound { .. })
        ));
        Ok(())
    }

    #[test]
    fn upsert_replaces_in_place_keeping_comments() -> Result<(), IniError> {
        let mut doc = IniDocument::parse(WG)?;
        let entries = pairs(&[
            ("PublicKey", ALICE),
            ("allowedips", "10.8.0.2/32, 10.8.1.0/24"),
        ]);
        assert_eq!(
            doc.upsert("Peer", &by_key(ALICE), &entries)?,
            Upsert::Replaced
        );
        let expected = WG.replacen(
            "# home office\nAllowedIPs = 10.8.0.2/32\n",
            "# home office\nAllowedIPs = 10.8.0.2/32, 10.8.1.0/24\n",
            1,
        );
        assert_eq!(doc.render(), expected);
        Ok(())
    }

    #[test]
    fn upsert_pairs_repeated_keys_by_occurrence() -> Result<(), IniError> {
        let mut doc = IniDocument::parse(WG)?;
        let entries = pairs(&[
            ("PublicKey", BOB),
            ("AllowedIPs", "10.8.0.3/32"),
            ("AllowedIPs", "192.168.60.0/24"),
            ("AllowedIPs", "10.9.0.0/16"),
        ]);
        assert_eq!(
            doc.upsert("Peer", &Selector::Index(1), &entries)?,
            Upsert::Replaced
        );
        let expected = WG.replacen(
            "AllowedIPs = 10.8.0.3/32\nAllowedIPs = 192.168.50.0/24\nPersistentKeepalive = 25\n",
            "AllowedIPs = 10.8.0.3/32\nAllowedIPs = 192.168.60.0/24\nAllowedIPs = 10.9.0.0/16\n",
            1,
        );
        assert_eq!(doc.render(), expected);
        Ok(())
    }

    #[test]
    fn upsert_keeps_untouched_formatting_and_inserts_after_last_entry() -> Result<(), IniError> {
        let mut doc = IniDocument::parse("[A]\r\nkey=same\r\nold = 1\r\n# tail\r\n")?;
        let entries = pairs(&[("KEY", "same"), ("new", ""), ("more", "x")]);
        assert_eq!(
            doc.upsert("a", &Selector::Only, &entries)?,
            Upsert::Replaced
        );
        assert_eq!(
            doc.render(),
            "[A]\r\nkey=same\r\nnew =\r\nmore = x\r\n# tail\r\n"
        );

        let mut bare = IniDocument::parse("[A]\n# only a comment\n")?;
        bare.upsert("A", &Selector::Only, &pairs(&[("k", "v")]))?;
        assert_eq!(bare.render(), "[A]\nk = v\n# only a comment\n");
        Ok(())
    }

    #[test]
    fn upsert_appends_a_new_peer() -> Result<(), IniError> {
        let mut doc = IniDocument::parse(WG)?;
        let entries = pairs(&[("PublicKey", DAVE), ("AllowedIPs", "10.8.0.5/32")]);
        assert_eq!(doc.upsert("Peer", &by_key(DAVE), &entries)?, Upsert::Added);
        let expected = format!("{WG}\n[Peer]\nPublicKey = {DAVE}\nAllowedIPs = 10.8.0.5/32\n");
        assert_eq!(doc.render(), expected);
        assert_eq!(doc.find("Peer", &by_key(DAVE))?.index, 3);
        // Index equal to the count appends too; beyond it is an error.
        assert_eq!(
            doc.upsert("Peer", &Selector::Index(4), &entries[1..])?,
            Upsert::Added
        );
        assert_eq!(
            doc.upsert("Peer", &Selector::Index(6), &entries),
            Err(IniError::NotFound {
                section: "Peer".to_owned()
            })
        );
        Ok(())
    }

    #[test]
    fn upsert_appends_in_the_file_style() -> Result<(), IniError> {
        let mut empty = IniDocument::parse("")?;
        empty.upsert(
            "Interface",
            &Selector::Only,
            &pairs(&[("PrivateKey", "k=")]),
        )?;
        assert_eq!(empty.render(), "[Interface]\nPrivateKey = k=\n");

        let mut open = IniDocument::parse("[A]\nx = 1")?;
        open.upsert("B", &Selector::Only, &pairs(&[("y", "2")]))?;
        assert_eq!(open.render(), "[A]\nx = 1\n\n[B]\ny = 2");

        let mut crlf = IniDocument::parse("[A]\r\nx = 1\r\n\r\n\r\n")?;
        crlf.upsert("B", &Selector::Index(0), &pairs(&[("y", "2")]))?;
        assert_eq!(crlf.render(), "[A]\r\nx = 1\r\n\r\n[B]\r\ny = 2\r\n");
        Ok(())
    }

    #[test]
    fn upsert_refuses_ambiguity() -> Result<(), IniError> {
        let mut doc = IniDocument::parse(WG)?;
        let result = doc.upsert("Peer", &Selector::Only, &pairs(&[("PublicKey", DAVE)]));
        assert_eq!(
            result,
            Err(IniError::Ambiguous {
                section: "Peer".to_owned(),
                count: 3
            })
        );
        assert_eq!(doc.render(), WG);
        Ok(())
    }

    #[test]
    fn upsert_rejects_injection() -> Result<(), IniError> {
        let mut doc = IniDocument::parse(WG)?;
        let bad_entries = [
            ("Endpoint", "x\n[Interface]"),
            ("Endpoint", "x\r\nPrivateKey = stolen"),
            ("Endpoint", "x\r"),
            ("Endpoint", " padded"),
            ("a]", "v"),
            ("[Interface]", "v"),
            ("a=b", "v"),
            ("#a", "v"),
            (";a", "v"),
            (" a", "v"),
            ("", "v"),
            ("a\nb", "v"),
        ];
        for (key, value) in bad_entries {
            let entries = pairs(&[("PublicKey", ALICE), (key, value)]);
            let result = doc.upsert("Peer", &by_key(ALICE), &entries);
            assert!(
                matches!(&result, Err(IniError::InvalidEntry(r)) if r.starts_with("entry 2: ")),
                "{key:?} = {value:?} gave {result:?}"
            );
        }
        for name in ["Peer]\n[x", "", "Peer ", "a b", "[Peer]", "P#"] {
            let result = doc.upsert(name, &Selector::Only, &pairs(&[("k", "v")]));
            assert!(matches!(result, Err(IniError::InvalidName(_))), "{name:?}");
        }
        assert_eq!(doc.render(), WG);
        Ok(())
    }

    #[test]
    fn edits_read_back_as_written() -> Result<(), IniError> {
        let mut doc = IniDocument::parse(WG)?;
        let entries = pairs(&[
            ("PublicKey", DAVE),
            ("Endpoint", "h:1"),
            ("Note", "a = b # c"),
        ]);
        doc.upsert("Peer", &by_key(CAROL), &entries)?;
        let again = IniDocument::parse(&doc.render())?;
        assert_eq!(again.sections(), doc.sections());
        assert_eq!(again.find("Peer", &Selector::Index(2))?.entries, entries);
        Ok(())
    }

    #[test]
    fn removes_middle_peer_with_its_comment() -> Result<(), IniError> {
        let mut doc = IniDocument::parse(WG)?;
        let removed = doc.remove("Peer", &by_key(BOB))?;
        assert_eq!(removed.index, 1);
        assert_eq!(
            removed.entries[3],
            ("PersistentKeepalive".to_owned(), "25".to_owned())
        );
        let expected = "\
# wg0.conf - office gateway
# managed by portcullis

[Interface]
Address = 10.8.0.1/24
ListenPort = 51820
PrivateKey = yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=
; keep the MTU low for the LTE uplink
MTU = 1380

# alice - laptop
[Peer]
PublicKey = xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=
# home office
AllowedIPs = 10.8.0.2/32

# carol - nas
[Peer]
PublicKey = gN65BkIKy1eCE9pP1wdc8ROUtkHLF2PfAqYdyYBz6EA=
AllowedIPs = 10.8.0.4/32
Endpoint = nas.example.net:51820
";
        assert_eq!(doc.render(), expected);
        Ok(())
    }

    #[test]
    fn removes_first_and_last_sections_cleanly() -> Result<(), IniError> {
        let mut doc = IniDocument::parse(WG)?;
        doc.remove("Peer", &Selector::Index(2))?;
        assert!(doc.render().ends_with("PersistentKeepalive = 25\n"));
        doc.remove("interface", &Selector::Only)?;
        let rendered = doc.render();
        assert!(rendered.starts_with(
            "# wg0.conf - office gateway\n# managed by portcullis\n\n# alice - laptop\n[Peer]\n"
        ));

        let mut plain = IniDocument::parse("[A]\nx = 1\n\n[B]\ny = 2\n")?;
        plain.remove("A", &Selector::Only)?;
        assert_eq!(plain.render(), "[B]\ny = 2\n");
        plain.remove("B", &Selector::Only)?;
        assert_eq!(plain.render(), "");
        Ok(())
    }

    #[test]
    fn remove_keeps_comments_that_belong_to_the_next_section() -> Result<(), IniError> {
        let mut kept = IniDocument::parse("[A]\nx = 1\n# about A\n\n; about B\n[B]\ny = 2\n")?;
        kept.remove("A", &Selector::Only)?;
        assert_eq!(kept.render(), "; about B\n[B]\ny = 2\n");

        let mut trailing = IniDocument::parse("[A]\nx = 1\n# about A\n[B]\ny = 2")?;
        trailing.remove("A", &Selector::Only)?;
        assert_eq!(trailing.render(), "[B]\ny = 2");

        let mut missing = IniDocument::parse(WG)?;
        assert!(matches!(
            missing.remove("Peer", &by_key(DAVE)),
            Err(IniError::NotFound { .. })
        ));
        assert!(matches!(
            missing.remove("Peer", &Selector::Only),
            Err(IniError::Ambiguous { count: 3, .. })
        ));
        assert_eq!(missing.render(), WG);
        Ok(())
    }

    #[test]
    fn parse_errors_name_the_line() {
        assert_eq!(
            parse_error("# ok\nAddress = 10.0.0.1/24\n[Interface]\n"),
            (2, "entry before the first section header".to_owned())
        );
        assert_eq!(
            parse_error("[Interface]\nListenPort = 1\nthis is garbage\n"),
            (
                3,
                "expected `Key = Value`, a `[Section]` header or a comment".to_owned()
            )
        );
        assert_eq!(
            parse_error("# c\n[Peer\nk = v\n"),
            (2, "unterminated section header".to_owned())
        );
        assert_eq!(
            parse_error("\r\n\r\n[ ]\r\n"),
            (3, "empty section name".to_owned())
        );
        assert_eq!(parse_error("[]"), (1, "empty section name".to_owned()));
        assert_eq!(
            parse_error("[A] junk\n"),
            (1, "unexpected text after section header".to_owned())
        );
        assert_eq!(
            parse_error("[A]\n = v\n"),
            (2, "missing key before `=`".to_owned())
        );
        assert_eq!(
            parse_error("garbage before"),
            (
                1,
                "expected `Key = Value`, a `[Section]` header or a comment".to_owned()
            )
        );
    }

    #[test]
    fn errors_never_echo_the_file() {
        let err = IniDocument::parse("[Interface]\nPrivateKeySECRETSECRET\n");
        let message = err.map(|_| ()).map_err(|e| e.to_string());
        assert_eq!(
            message,
            Err("line 2: expected `Key = Value`, a `[Section]` header or a comment".to_owned())
        );
    }

    #[test]
    fn debug_hides_contents() -> Result<(), IniError> {
        let doc = IniDocument::parse(WG)?;
        assert_eq!(
            format!("{doc:?}"),
            "IniDocument { lines: 28, sections: 4, .. }"
        );
        Ok(())
    }
}
