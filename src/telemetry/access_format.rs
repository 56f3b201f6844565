//! Text lines: the access line written directly, everything else by tracing-subscriber.
//!
//! The access line is the one event of every request. tracing-subscriber's text formatter
//! costs about 10,000 instructions to write it (`scripts/request_cost.sh`): it formats the
//! timestamp from the calendar each time and sends every field through the formatting
//! machinery. This writer puts out the same line byte for byte. The seconds of the timestamp
//! are kept per thread, and the field values, which the access log passes as plain strings
//! and numbers, are copied in. Any other event, or an access event inside a span, goes to
//! the standard formatter.
//!
//! A value is copied raw only if it holds no control character; otherwise it is written
//! escaped (`{:?}`), so a line can never be split or carry terminal escapes.

use std::cell::RefCell;
use std::fmt::{self, Write as _};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::SystemTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The `tracing` target of access lines (`http::middleware::access_log` writes them). Defined
/// here, with the formatter that recognises them, so that logging does not reach up into the
/// HTTP layer.
pub const TARGET: &str = "portcullis::access";

/// The text formatter: access lines here, the rest by `Format::default()`.
#[derive(Default)]
pub struct TextLines {
    standard: Format<Full, SystemTime>,
}

impl<S, N> FormatEvent<S, N> for TextLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        if meta.target() != TARGET || ctx.lookup_current().is_some() {
            return self.standard.format_event(ctx, writer, event);
        }
        timestamp(&mut writer)?;
        write!(writer, " {:>5} {}: ", meta.level().as_str(), meta.target())?;
        let mut fields = Fields {
            writer: &mut writer,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        writer.write_char('\n')
    }
}

/// Writes fields as `name=value` separated by spaces, the message bare and first.
struct Fields<'a, 'w> {
    writer: &'a mut Writer<'w>,
    first: bool,
    result: fmt::Result,
}

impl Fields<'_, '_> {
    fn name(&mut self, field: &Field) {
        if !self.first {
            self.result = self.result.and_then(|()| self.writer.write_char(' '));
        }
        self.first = false;
        if field.name() != "message" {
            self.result = self
                .result
                .and_then(|()| self.writer.write_str(field.name()))
                .and_then(|()| self.writer.write_char('='));
        }
    }
}

impl Visit for Fields<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.name(field);
        self.result = self.result.and_then(|()| {
            if value.bytes().any(|b| b < 0x20 || b == 0x7f) {
                write!(self.writer, "{value:?}")
            } else {
                self.writer.write_str(value)
            }
        });
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.name(field);
        self.result = self
            .result
            .and_then(|()| self.writer.write_str(itoa::Buffer::new().format(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.name(field);
        let mut escaping = Escaping(&mut *self.writer);
        self.result = self.result.and_then(|()| write!(escaping, "{value:?}"));
    }
}

/// Passes text through, but a control character goes out escaped (`\n`, `\u{1b}`): what a
/// value formats to must not split the line or reach a terminal as an escape sequence.
struct Escaping<'a, 'w>(&'a mut Writer<'w>);

impl fmt::Write for Escaping<'_, '_> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        if !text.bytes().any(|b| b < 0x20 || b == 0x7f) {
            return self.0.write_str(text);
        }
        for c in text.chars() {
            if c.is_ascii_control() {
                write!(self.0, "{}", c.escape_debug())?;
            } else {
                self.0.write_char(c)?;
            }
        }
        Ok(())
    }
}

thread_local! {
    /// The last whole second written by this thread and its `YYYY-MM-DDTHH:MM:SS` text.
    static SECOND: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

/// `2026-12-04T19:40:55.986089Z`, as tracing-subscriber's `SystemTime` writes it.
fn timestamp(writer: &mut Writer<'_>) -> fmt::Result {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let (secs, micros) = (now.as_secs(), now.subsec_micros());
    SECOND.with_borrow_mut(|(cached, text)| {
        if *cached != secs {
            text.clear();
            let at = i64::try_from(secs)
                .ok()
                .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
                .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
            let _ = write!(
                text,
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                at.year(),
                u8::from(at.month()),
                at.day(),
                at.hour(),
                at.minute(),
                at.second()
            );
            *cached = secs;
        }
        writer.write_str(text)
    })?;
    let digits = itoa::Buffer::new().format(micros).len();
    writer.write_char('.')?;
    for _ in digits..6 {
        writer.write_char('0')?;
    }
    writer.write_str(itoa::Buffer::new().format(micros))?;
    writer.write_char('Z')
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// What `standard` emits through the standard formatter, and `ours` through ours.
    fn both(standard: impl Fn(), ours: impl Fn()) -> (String, String) {
        let mut lines = Vec::new();
        for mine in [false, true] {
            let out = Captured::default();
            let builder = tracing_subscriber::fmt().with_writer(out.clone());
            let dispatch = if mine {
                tracing::Dispatch::new(builder.event_format(TextLines::default()).finish())
            } else {
                tracing::Dispatch::new(builder.finish())
            };
            let emit: &dyn Fn() = if mine { &ours } else { &standard };
            tracing::dispatcher::with_default(&dispatch, emit);
            lines.push(String::from_utf8(out.0.lock().unwrap().clone()).unwrap());
        }
        let ours = lines.pop().unwrap();
        (lines.pop().unwrap(), ours)
    }

    /// Lines without their timestamps (taken a moment apart), which are checked on their own.
    fn untimed(line: &str) -> &str {
        line.split_once(' ').map_or(line, |(_, rest)| rest)
    }

    #[test]
    fn an_access_line_is_the_standard_line_byte_for_byte() {
        // The access log used to pass Display values (`%`); it now passes plain strings,
        // which the standard formatter would quote. Ours writes them as the line always was.
        let (standard, ours) = both(
            || {
                tracing::info!(
                    target: TARGET,
                    method = %"GET",
                    route = %"/msg/{id}",
                    status = 200u16,
                    latency_ms = %"0.003",
                    client = %"2001:db8::1",
                    request_id = %"0f1e-2d3c",
                    key_id = %"-",
                    owner_id = %"-",
                    "request"
                );
            },
            || {
                tracing::info!(
                    target: TARGET,
                    method = "GET",
                    route = "/msg/{id}",
                    status = 200u16,
                    latency_ms = "0.003",
                    client = "2001:db8::1",
                    request_id = "0f1e-2d3c",
                    key_id = "-",
                    owner_id = "-",
                    "request"
                );
            },
        );
        assert_eq!(untimed(&ours), untimed(&standard));
        assert_eq!(
            untimed(&ours),
            " INFO portcullis::access: request method=GET route=/msg/{id} status=200 \
             latency_ms=0.003 client=2001:db8::1 request_id=0f1e-2d3c key_id=- owner_id=-\n"
        );
        // 2026-12-04T19:40:55.986089Z: the same shape as the standard timestamp.
        let (ts, std_ts) = (
            ours.split(' ').next().unwrap(),
            standard.split(' ').next().unwrap(),
        );
        assert_eq!(ts.len(), std_ts.len(), "{ts} / {std_ts}");
        assert_eq!(ts[..16], std_ts[..16]);
        assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
    }

    #[test]
    fn a_value_with_control_characters_is_escaped_and_other_events_are_untouched() {
        let (_, ours) = both(
            || {},
            || tracing::info!(target: TARGET, route = "a\nb\x1b[31m", "request"),
        );
        assert!(ours.contains(r#"route="a\nb\u{1b}[31m""#), "{ours}");
        assert_eq!(ours.lines().count(), 1);
        // A value given as Display (`%`) is escaped the same way.
        let (_, ours) = both(
            || {},
            || tracing::info!(target: TARGET, route = %"a\rb\x07", "request"),
        );
        assert!(ours.contains(r#"route=a\rb\u{7}"#), "{ours}");
        assert_eq!(ours.lines().count(), 1);
        let other =
            || tracing::warn!(target: "portcullis::other", detail = "x y", count = 3, "something");
        let (standard, ours) = both(other, other);
        assert_eq!(untimed(&ours), untimed(&standard));
    }
}
