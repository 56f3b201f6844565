//! Key requests refused by field.

use super::*;

#[test]
fn lifetimes_parse_from_human_text_within_bounds() {
    assert_eq!(parse_lifetime("x", "90d").unwrap(), 90 * 86_400);
    assert_eq!(parse_lifetime("x", "1h 30m").unwrap(), 5_400);
    assert!(parse_lifetime("x", "0s").is_err());
    assert!(parse_lifetime("x", "11years").is_err());
    assert!(parse_lifetime("x", "soon").is_err());
    assert!(parse_lifetime("x", "-5d").is_err());
}

#[test]
fn names_must_be_short_and_printable() {
    assert_eq!(validate_name("owner", "  App 1 ").unwrap(), "App 1");
    assert!(validate_name("owner", "").is_err());
    assert!(validate_name("owner", "a\nb").is_err());
    assert!(validate_name("owner", &"x".repeat(129)).is_err());
}
