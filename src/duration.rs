//! Durations written by clients in requests: `"90d"`, `"12h"`, `"1h 30m"`, `"7days"`.
//!
//! Written by hand because `humantime::parse_duration` (2.4) panics on some inputs an
//! unauthenticated client can send (a seconds part of `u64::MAX` plus a full second of
//! nanoseconds overflows `Duration::new`). This parser takes whole units from seconds up,
//! bounds the text, and does its arithmetic checked, so it answers `None`, never panics.
//! Settings written by the operator still use `humantime`.

use std::time::Duration;

/// Longest accepted text.
const MAX_LEN: usize = 64;

/// Parse a sequence of `<number><unit>` parts, optionally separated by spaces. Units:
/// `s`/`sec`/`second(s)`, `m`/`min`/`minute(s)`, `h`/`hr`/`hour(s)`, `d`/`day(s)`,
/// `w`/`week(s)`, `M`/`month(s)` (30.44 days), `y`/`year(s)` (365.25 days), as `humantime`
/// reads them. Numbers have at most nine digits.
pub fn parse(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_LEN {
        return None;
    }
    let mut total: u64 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 || digits > 9 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = rest[digits..].trim_start();
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let seconds = unit_seconds(&rest[..unit_len])?;
        rest = rest[unit_len..].trim_start();
        total = total.checked_add(number.checked_mul(seconds)?)?;
    }
    Some(Duration::from_secs(total))
}

fn unit_seconds(unit: &str) -> Option<u64> {
    Some(match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3_600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        "M" | "month" | "months" => 2_630_016,
        "y" | "year" | "years" => 31_557_600,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_people_write_and_what_humantime_prints() {
        let cases = [
            ("30s", 30),
            ("5m", 300),
            ("12h", 43_200),
            ("90d", 7_776_000),
            ("1h 30m", 5_400),
            ("1h30m", 5_400),
            ("1day", 86_400),
            ("7days", 604_800),
            ("2w", 1_209_600),
            ("1y", 31_557_600),
            (" 10 min ", 600),
        ];
        for (text, seconds) in cases {
            assert_eq!(parse(text), Some(Duration::from_secs(seconds)), "{text}");
        }
    }

    #[test]
    fn refuses_hostile_and_odd_input_without_panicking() {
        for text in [
            "",
            " ",
            "18446744073709551615s 1000000000ns",
            "1000000000s",
            "5",
            "s",
            "1.5h",
            "-1h",
            "1ms",
            "10ns",
            "1h-",
            "1 h 2",
            "h1",
            "1fortnight",
            &"1s".repeat(40),
            "１h",
        ] {
            assert_eq!(parse(text), None, "{text:?}");
        }
    }
}
