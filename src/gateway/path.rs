//! A request path as the rules see it: split into segments, each percent-decoded, with the
//! tricks that make a proxy and its upstream disagree about which path was asked for refused
//! outright (`..`, `.`, an encoded `/` or `\`, an empty segment, control characters).
//!
//! The upstream decodes `%72oute1` to `route1`; a rule written `/route1/**` must see the
//! same. So rules match decoded segments, and anything whose decoding could mean something
//! else to the upstream (a segment that decodes to a separator or a dot segment) is a 400,
//! never a guess.

use percent_encoding::percent_decode_str;
use smallvec::SmallVec;
use std::borrow::Cow;

/// A path's segments: on the stack for paths of up to 16 (every request decides once).
pub type Segments<'a> = SmallVec<[Cow<'a, str>; 16]>;

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathRefused {
    /// Not an absolute path.
    #[error("the path must start with /")]
    NotAbsolute,
    /// `.` or `..`, written or encoded.
    #[error("the path holds a dot segment")]
    DotSegment,
    /// `//` inside the path.
    #[error("the path holds an empty segment")]
    EmptySegment,
    /// `%2F`, `%5C` or a raw backslash: a separator the upstream may split on.
    #[error("the path holds an encoded or backslash separator")]
    Separator,
    /// A control character, raw or encoded; or bytes that are not UTF-8 once decoded.
    #[error("the path holds a control character or is not UTF-8")]
    Unreadable,
    /// Longer than any rule needs to look at.
    #[error("the path is too long")]
    TooLong,
}

/// Most bytes of a path the rules read.
pub const MAX_PATH: usize = 4096;

/// The decoded segments of `path` (no query). `/` is no segment; a trailing `/` gives a final
/// empty segment (`/a/` is `["a", ""]`), which `**` matches and `*` does not.
pub fn segments(path: &str) -> Result<Segments<'_>, PathRefused> {
    if path.len() > MAX_PATH {
        return Err(PathRefused::TooLong);
    }
    let rest = path.strip_prefix('/').ok_or(PathRefused::NotAbsolute)?;
    let mut segments = Segments::new();
    if rest.is_empty() {
        return Ok(segments);
    }
    let mut raw = rest.split('/').peekable();
    while let Some(segment) = raw.next() {
        if segment.is_empty() && raw.peek().is_some() {
            return Err(PathRefused::EmptySegment);
        }
        segments.push(decode(segment)?);
    }
    Ok(segments)
}

fn decode(segment: &str) -> Result<Cow<'_, str>, PathRefused> {
    if segment.contains('\\') {
        return Err(PathRefused::Separator);
    }
    let decoded = percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| PathRefused::Unreadable)?;
    if decoded.contains(['/', '\\']) {
        return Err(PathRefused::Separator);
    }
    if decoded.chars().any(char::is_control) {
        return Err(PathRefused::Unreadable);
    }
    if decoded == "." || decoded == ".." {
        return Err(PathRefused::DotSegment);
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(path: &str) -> Vec<String> {
        segments(path)
            .unwrap_or_else(|e| panic!("{path}: {e}"))
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn segments_are_decoded() {
        assert!(ok("/").is_empty());
        assert_eq!(ok("/route1"), ["route1"]);
        assert_eq!(ok("/route1/"), ["route1", ""]);
        assert_eq!(ok("/%72oute1/a%20b"), ["route1", "a b"]);
        assert_eq!(ok("/caf%C3%A9"), ["café"]);
    }

    #[test]
    fn tricks_are_refused() {
        for (path, why) in [
            ("route1", PathRefused::NotAbsolute),
            ("/a/../admin", PathRefused::DotSegment),
            ("/a/%2e%2E/admin", PathRefused::DotSegment),
            ("/./a", PathRefused::DotSegment),
            ("/a//b", PathRefused::EmptySegment),
            ("//a", PathRefused::EmptySegment),
            ("/a%2Fb", PathRefused::Separator),
            ("/a%5cb", PathRefused::Separator),
            ("/a\\b", PathRefused::Separator),
            ("/a%00", PathRefused::Unreadable),
            ("/a%0d%0aX: y", PathRefused::Unreadable),
            ("/%FF", PathRefused::Unreadable),
        ] {
            assert_eq!(segments(path), Err(why), "{path}");
        }
        assert_eq!(
            segments(&format!("/{}", "a".repeat(MAX_PATH))),
            Err(PathRefused::TooLong)
        );
    }
}
