//! Phone numbers, normalised to E.164 with the full numbering plan (libphonenumber's
//! metadata, through the `phonenumber` crate) and `sms.default_region` for national formats.
//! Before the parser sees a value it is checked here for length and characters: the crate had
//! panics on crafted input in the past, and a spreadsheet cell can hold anything.

use phonenumber::country::Id;
use phonenumber::{Mode, PhoneNumber};

/// Longest cell taken for a phone number, in characters (E.164 has at most 15 digits; spaces,
/// brackets and dashes add some).
const MAX_CHARS: usize = 32;
/// Digits a number may have: the shortest real subscriber numbers have 4 (with a country
/// code, more); E.164 allows 15.
const MIN_DIGITS: usize = 4;
const MAX_DIGITS: usize = 15;

/// Why a value is not a phone number we can send to. The text is safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneError {
    /// Nothing there.
    #[error("no phone number")]
    Empty,
    /// Characters no phone number has.
    #[error("a phone number holds only digits, a leading +, spaces, dashes, dots and brackets")]
    Characters,
    /// Too few or too many digits.
    #[error("a phone number has {MIN_DIGITS} to {MAX_DIGITS} digits; this has {0}")]
    Length(usize),
    /// Not a number of any plan (an unknown country code, no region to read it in).
    #[error("not a number of any numbering plan{0}")]
    Unparsable(&'static str),
    /// It parses but is not a number in use in its plan.
    #[error("{0} is not a valid number in the numbering plan of country code +{1}")]
    Invalid(String, u16),
}

/// The region national numbers are read in (`sms.default_region`, an ISO 3166 code).
pub fn region(code: &str) -> Option<Id> {
    code.trim().to_uppercase().parse().ok()
}

/// `input` as E.164 (`+15551234567`), or why not. A leading `'` (how exported CSV cells
/// are neutralised) is ignored, so an exported file reads back as the same numbers.
pub fn normalize(input: &str, default_region: Option<Id>) -> Result<String, PhoneError> {
    let value = input.trim();
    let value = value.strip_prefix('\'').unwrap_or(value).trim();
    if value.is_empty() {
        return Err(PhoneError::Empty);
    }
    if value.chars().count() > MAX_CHARS {
        return Err(PhoneError::Characters);
    }
    let plus = value.starts_with('+');
    let body = if plus { &value[1..] } else { value };
    if !body
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
    {
        return Err(PhoneError::Characters);
    }
    let digits = body.chars().filter(char::is_ascii_digit).count();
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits) {
        return Err(PhoneError::Length(digits));
    }
    let region = if plus { None } else { default_region };
    if !plus && region.is_none() {
        return Err(PhoneError::Unparsable(
            " (no + and country code, and no sms.default_region to read it in)",
        ));
    }
    let number: PhoneNumber =
        phonenumber::parse(region, value).map_err(|_| PhoneError::Unparsable(""))?;
    let e164 = number.format().mode(Mode::E164).to_string();
    if !phonenumber::is_valid(&number) {
        return Err(PhoneError::Invalid(e164, number.code().value()));
    }
    Ok(e164)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> Option<Id> {
        region("us")
    }

    #[test]
    fn international_and_national_forms_become_e164() {
        assert_eq!(
            normalize("+1 (202) 555-0143", us()).unwrap(),
            "+12025550143"
        );
        assert_eq!(normalize("202.555.0143", us()).unwrap(), "+12025550143");
        assert_eq!(
            normalize("+44 20 7946 0958", us()).unwrap(),
            "+442079460958"
        );
        assert_eq!(normalize("  '+12025550143 ", us()).unwrap(), "+12025550143");
        assert_eq!(
            normalize("030 901820", region("DE")).unwrap(),
            "+4930901820"
        );
    }

    #[test]
    fn the_seeds_own_example_number_is_refused_with_the_reason() {
        // +1 234 567 890: area code 234 exists, but the number is one digit short for NANP.
        let err = normalize("+1234567890", us()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "+1234567890 is not a valid number in the numbering plan of country code +1"
        );
    }

    #[test]
    fn hostile_and_broken_cells_are_refused_before_the_parser() {
        assert_eq!(normalize("", us()), Err(PhoneError::Empty));
        assert_eq!(normalize("'", us()), Err(PhoneError::Empty));
        assert_eq!(
            normalize("=HYPERLINK(\"x\")", us()),
            Err(PhoneError::Characters)
        );
        assert_eq!(
            normalize("+1 202 555 0143 ext 5", us()),
            Err(PhoneError::Characters)
        );
        assert_eq!(
            normalize("++12025550143", us()),
            Err(PhoneError::Characters)
        );
        assert_eq!(
            normalize(&"9".repeat(40), us()),
            Err(PhoneError::Characters)
        );
        assert_eq!(normalize("+1 23", us()), Err(PhoneError::Length(3)));
        assert_eq!(
            normalize("1234567890123456", us()),
            Err(PhoneError::Length(16))
        );
        assert!(matches!(
            normalize("2025550143", None),
            Err(PhoneError::Unparsable(_))
        ));
        assert!(normalize("+999 1234 5678", us()).is_err());
    }

    #[test]
    fn no_input_of_allowed_characters_panics() {
        // A small exhaustive sweep of short shapes the pre-check lets through.
        for a in ["+", ""] {
            for body in ["0", "00", "(0)", "1-", "-", ".", "()", " "] {
                for n in 0..12 {
                    let value = format!("{a}{}{}", body.repeat(n % 4 + 1), "9".repeat(n));
                    let _ = normalize(&value, us());
                }
            }
        }
    }
}
