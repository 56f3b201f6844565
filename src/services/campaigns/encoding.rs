//! How an SMS is encoded and how many segments it takes, as SMS tools show it: GSM-7 when
//! every character is in the GSM 03.38 default alphabet or its extension table (which costs
//! two septets a character), else UCS-2 (UTF-16 code units). One segment holds 160 septets
//! (GSM-7) or 70 units (UCS-2); a longer message is split into segments of 153 or 67, the
//! rest being the concatenation header, and an escape pair or a surrogate pair is never split
//! across two segments.

use serde::Serialize;

/// The alphabet a message is sent in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum Encoding {
    /// The GSM 03.38 7-bit default alphabet.
    #[serde(rename = "GSM-7")]
    Gsm7,
    /// UCS-2 (UTF-16), for any character outside it.
    #[serde(rename = "UCS-2")]
    Ucs2,
}

/// A message's encoding and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Size {
    /// The alphabet.
    pub encoding: Encoding,
    /// Septets (GSM-7) or UTF-16 units (UCS-2).
    pub units: usize,
    /// Segments the message is sent as.
    pub segments: usize,
}

/// The default alphabet, by code point (GSM 03.38 table 6.2.1; 0x1B is the escape).
const BASIC: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\u{1b}ÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?\
                     ¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// The extension table: each is sent as the escape and one more septet.
const EXTENSION: &str = "\u{c}^{}\\[~]|€";

/// Septets `c` takes in GSM-7, or `None` when it is not in the alphabet.
fn septets(c: char) -> Option<usize> {
    if c != '\u{1b}' && BASIC.contains(c) {
        Some(1)
    } else if EXTENSION.contains(c) {
        Some(2)
    } else {
        None
    }
}

/// Segments for units of `widths`, `single` fitting one segment and `part` per segment
/// otherwise, never splitting a unit group (an escape pair, a surrogate pair).
fn segments(widths: &[usize], single: usize, part: usize) -> usize {
    let total: usize = widths.iter().sum();
    if total <= single {
        return 1;
    }
    let (mut count, mut used) = (1, 0);
    for &w in widths {
        if used + w > part {
            count += 1;
            used = 0;
        }
        used += w;
    }
    count
}

/// The encoding and size of `text`.
pub fn size(text: &str) -> Size {
    let gsm: Option<Vec<usize>> = text.chars().map(septets).collect();
    match gsm {
        Some(widths) => Size {
            encoding: Encoding::Gsm7,
            units: widths.iter().sum(),
            segments: segments(&widths, 160, 153),
        },
        None => {
            let widths: Vec<usize> = text.chars().map(char::len_utf16).collect();
            Size {
                encoding: Encoding::Ucs2,
                units: widths.iter().sum(),
                segments: segments(&widths, 70, 67),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_gsm7_in_one_segment_up_to_160_septets() {
        assert_eq!(
            size(&"a".repeat(160)),
            Size {
                encoding: Encoding::Gsm7,
                units: 160,
                segments: 1
            }
        );
        assert_eq!(size(&"a".repeat(161)).segments, 2);
        assert_eq!(size(&"a".repeat(306)).segments, 2);
        assert_eq!(size(&"a".repeat(307)).segments, 3);
    }

    #[test]
    fn extension_characters_cost_two_septets_and_are_not_split() {
        let euro = size("€10");
        assert_eq!((euro.encoding, euro.units), (Encoding::Gsm7, 4));
        // 152 septets, then a two-septet character that does not fit the first segment.
        let text = format!("{}€{}", "a".repeat(152), "a".repeat(10));
        let s = size(&text);
        assert_eq!((s.units, s.segments), (164, 2));
        assert_eq!(size(&"{}".repeat(80)).units, 320);
    }

    #[test]
    fn anything_outside_the_alphabet_makes_it_ucs2() {
        let s = size("Grüße, Zoë — ok");
        assert_eq!(s.encoding, Encoding::Ucs2, "the em dash is not GSM-7");
        assert_eq!(size(&"é".repeat(160)).encoding, Encoding::Gsm7, "é is");
        assert_eq!(size(&"ж".repeat(70)).segments, 1);
        assert_eq!(size(&"ж".repeat(71)).segments, 2);
        assert_eq!(size(&"ж".repeat(135)).segments, 3);
    }

    #[test]
    fn an_emoji_is_two_units_and_never_split() {
        let s = size("🙂");
        assert_eq!((s.encoding, s.units), (Encoding::Ucs2, 2));
        // 134 units would fill two segments of 67 exactly, but the pair may not straddle
        // the first boundary, so it takes three.
        let text = format!("{}🙂{}", "ж".repeat(66), "ж".repeat(66));
        assert_eq!((size(&text).units, size(&text).segments), (134, 3));
    }

    #[test]
    fn the_escape_character_itself_is_not_text() {
        assert_eq!(size("\u{1b}").encoding, Encoding::Ucs2);
    }
}
