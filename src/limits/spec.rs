//! Rate specifications as people write them: `"100/min"`, `"10/s burst 20"`, `"5000/day"`.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A sustained rate with a burst allowance (GCRA / token-bucket parameters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateSpec {
    /// Requests per period, sustained.
    pub count: u32,
    /// The period, in seconds.
    pub period_secs: u32,
    /// Requests allowed at once from an idle start; defaults to `count`.
    pub burst: u32,
}

/// A rate that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a rate such as \"100/min\", \"10/s burst 20\" or \"5000/day\"")]
pub struct SpecError(pub String);

impl RateSpec {
    /// Parse `"<count>/<unit>[ burst <n>]"`; units: s, sec, second, m, min, minute, h, hour, d, day.
    pub fn parse(text: &str) -> Result<Self, SpecError> {
        let err = || SpecError(text.chars().take(64).collect());
        let mut words = text.split_whitespace();
        let rate = words.next().ok_or_else(err)?;
        let (count, unit) = rate.split_once('/').ok_or_else(err)?;
        let count: u32 = count.parse().map_err(|_| err())?;
        let period_secs = match unit {
            "s" | "sec" | "second" => 1,
            "m" | "min" | "minute" => 60,
            "h" | "hour" => 3600,
            "d" | "day" => 86_400,
            _ => return Err(err()),
        };
        let burst = match (words.next(), words.next()) {
            (None, None) => count,
            (Some("burst"), Some(n)) => n.parse().map_err(|_| err())?,
            _ => return Err(err()),
        };
        if words.next().is_some()
            || count == 0
            || burst == 0
            || count > 1_000_000
            || burst > 1_000_000
        {
            return Err(err());
        }
        Ok(Self {
            count,
            period_secs,
            burst,
        })
    }

    /// Time between requests at the sustained rate, in microseconds.
    pub fn interval_us(&self) -> i64 {
        (i64::from(self.period_secs) * 1_000_000 / i64::from(self.count)).max(1)
    }

    /// How far ahead of now the schedule may run: `(burst - 1)` intervals, in microseconds.
    pub fn tolerance_us(&self) -> i64 {
        self.interval_us() * i64::from(self.burst - 1)
    }
}

impl RateSpec {
    /// The unit word of the period, as written in config (`100/min`).
    fn unit(&self) -> &'static str {
        match self.period_secs {
            1 => "s",
            60 => "min",
            3600 => "h",
            _ => "day",
        }
    }

    /// Append the spec as [`Display`](fmt::Display) writes it. Bucket names carry the spec and
    /// are built on every limited request; `itoa` and `push_str` cost a fraction of the
    /// formatting machinery there.
    pub fn push_to(&self, out: &mut String) {
        out.push_str(itoa::Buffer::new().format(self.count));
        out.push('/');
        out.push_str(self.unit());
        if self.burst != self.count {
            out.push_str(" burst ");
            out.push_str(itoa::Buffer::new().format(self.burst));
        }
    }
}

impl fmt::Display for RateSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, self.unit())?;
        if self.burst != self.count {
            write!(f, " burst {}", self.burst)?;
        }
        Ok(())
    }
}

impl Serialize for RateSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for RateSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        RateSpec::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse_and_print_back() {
        for text in ["100/min", "10/s burst 20", "5000/day", "1/h"] {
            let spec = RateSpec::parse(text).unwrap();
            assert_eq!(spec.to_string(), text);
            let mut pushed = String::from("x:");
            spec.push_to(&mut pushed);
            assert_eq!(pushed, format!("x:{text}"));
        }
        let spec = RateSpec::parse("10/s burst 20").unwrap();
        assert_eq!((spec.count, spec.period_secs, spec.burst), (10, 1, 20));
        assert_eq!(spec.interval_us(), 100_000);
        assert_eq!(spec.tolerance_us(), 1_900_000);
    }

    #[test]
    fn nonsense_is_refused() {
        for text in [
            "",
            "100",
            "0/min",
            "10/week",
            "10/s burst",
            "10/s burst 0",
            "10/s extra 1",
            "-1/s",
            "10/s burst 5 more",
        ] {
            assert!(RateSpec::parse(text).is_err(), "{text}");
        }
    }
}
