//! The log file's writer: lines gathered in memory, written by one thread on a short tick.
//!
//! Written by hand instead of using `tracing_appender::non_blocking`. That worker blocks on a
//! channel, so on a busy server it does one of two things. It spins: crossbeam's backoff
//! yields the CPU thousands of times a second. Or a request that sends a line has to wake
//! it. Both happen on the cores the requests need. Here a request appends its formatted
//! line to a shared buffer under a mutex that is held only for a copy: no allocation, no
//! channel, no wake-up. Every [`TICK`] the thread swaps the buffer out and writes it in one
//! call, so lines reach the file within a tick. Measured side by side (README, Performance):
//! the access log at `info` took about a fifth of `/api/whoami`'s throughput with the
//! channel worker.
//!
//! Lossy, but never silently: when the file falls so far behind that [`MAX_PENDING`] bytes
//! wait, further lines are dropped rather than stalling requests (a slow disk must not become
//! an outage), counted, and the count is logged.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tracing_subscriber::fmt::MakeWriter;

/// How often gathered lines are written: the most a line waits before it is in the file.
pub const TICK: Duration = Duration::from_millis(10);

/// Bytes that may wait for the file before lines are dropped (about 70,000 access lines,
/// a second of the fastest load measured).
pub const MAX_PENDING: usize = 16 * 1024 * 1024;

/// How often dropped lines are reported.
const REPORT_EVERY: Duration = Duration::from_secs(10);

/// A buffer that outgrew this after a burst is given back rather than kept.
const KEEP_CAPACITY: usize = 1024 * 1024;

struct Shared {
    pending: Mutex<Vec<u8>>,
    dropped: AtomicU64,
    stop: AtomicBool,
    /// Syncs asked for (`FlushGuard::sync`), and the last one whose lines are written.
    asked: AtomicU64,
    synced: Mutex<u64>,
    synced_changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Vec<u8>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The writer the subscriber formats into (`MakeWriter`); cheap to share.
pub struct TickWriter {
    shared: Arc<Shared>,
}

/// Keep alive for the life of the process: dropping it writes what is pending and stops the
/// thread.
pub struct FlushGuard {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

/// Start the writer thread on `file`.
pub fn spawn<W: Write + Send + 'static>(file: W) -> std::io::Result<(TickWriter, FlushGuard)> {
    let shared = Arc::new(Shared {
        pending: Mutex::new(Vec::with_capacity(64 * 1024)),
        dropped: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        asked: AtomicU64::new(0),
        synced: Mutex::new(0),
        synced_changed: Condvar::new(),
    });
    let thread = std::thread::Builder::new()
        .name("log-writer".to_owned())
        .spawn({
            let shared = Arc::clone(&shared);
            move || run(&shared, file)
        })?;
    Ok((
        TickWriter {
            shared: Arc::clone(&shared),
        },
        FlushGuard {
            shared,
            thread: Some(thread),
        },
    ))
}

fn run<W: Write>(shared: &Shared, mut file: W) {
    let mut out = Vec::with_capacity(64 * 1024);
    let (mut reported, mut last_report) = (0, Instant::now());
    let (mut failed_writes, mut last_failure) = (0u64, None);
    loop {
        let stopping = shared.stop.load(Ordering::Acquire);
        let asked = shared.asked.load(Ordering::Acquire);
        std::mem::swap(&mut *shared.lock(), &mut out);
        if !out.is_empty() {
            if let Err(err) = file.write_all(&out).and_then(|()| file.flush()) {
                // The log is where this would go; stderr is what is left. Said once per
                // report period, not on every tick of a full disk.
                failed_writes += 1;
                if last_failure.is_none_or(|at: Instant| at.elapsed() >= REPORT_EVERY) {
                    eprintln!(
                        "portcullis: cannot write the log file ({failed_writes} batches of \
                         lines lost so far): {err}"
                    );
                    last_failure = Some(Instant::now());
                }
            }
            out.clear();
            if out.capacity() > KEEP_CAPACITY {
                out = Vec::with_capacity(64 * 1024);
            }
        }
        let mut synced = shared.synced.lock().unwrap_or_else(|p| p.into_inner());
        if asked > *synced {
            *synced = asked;
            shared.synced_changed.notify_all();
        }
        drop(synced);
        if stopping {
            return;
        }
        if last_report.elapsed() >= REPORT_EVERY {
            let dropped = shared.dropped.load(Ordering::Relaxed);
            if dropped > reported {
                tracing::warn!(
                    dropped = dropped - reported,
                    total = dropped,
                    "the log file fell behind; lines were dropped"
                );
                reported = dropped;
            }
            last_report = Instant::now();
        }
        std::thread::park_timeout(TICK);
    }
}

impl FlushGuard {
    /// Wait until every line logged before this call is in the file (at most `within`).
    /// For the moments where the file must already say something: before the server
    /// announces that it listens, start-up warnings are in the log.
    pub fn sync(&self, within: Duration) {
        let ticket = self.shared.asked.fetch_add(1, Ordering::AcqRel) + 1;
        if let Some(thread) = &self.thread {
            thread.thread().unpark();
        }
        let synced = self.shared.synced.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self
            .shared
            .synced_changed
            .wait_timeout_while(synced, within, |synced| *synced < ticket);
    }
}

impl Drop for FlushGuard {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(thread) = self.thread.take() {
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// One event's line on its way into the buffer.
pub struct Line<'a>(&'a Shared);

impl Write for Line<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut pending = self.0.lock();
        if pending.len() + buf.len() > MAX_PENDING {
            drop(pending);
            self.0.dropped.fetch_add(1, Ordering::Relaxed);
        } else {
            pending.extend_from_slice(buf);
        }
        // Reported as written either way: a dropped line is counted, never an error that
        // would make the subscriber print to stderr on every request.
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for TickWriter {
    type Writer = Line<'a>;

    fn make_writer(&'a self) -> Line<'a> {
        Line(&self.shared)
    }
}

impl TickWriter {
    /// Lines dropped so far because the file fell behind.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file stand-in that records what was written and can stall.
    #[derive(Clone, Default)]
    struct Sink {
        written: Arc<Mutex<Vec<u8>>>,
        stall: Arc<Mutex<()>>,
    }

    impl Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let _stalled = self.stall.lock().unwrap();
            self.written.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn text(sink: &Sink) -> String {
        String::from_utf8(sink.written.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn lines_reach_the_file_within_a_tick_and_all_of_them_at_the_end() {
        let sink = Sink::default();
        let (writer, guard) = spawn(sink.clone()).unwrap();
        writer.make_writer().write_all(b"first\n").unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while !text(&sink).contains("first") {
            assert!(Instant::now() < deadline, "the line never reached the file");
            std::thread::sleep(TICK);
        }
        for i in 0..1000 {
            writer
                .make_writer()
                .write_all(format!("line {i}\n").as_bytes())
                .unwrap();
        }
        guard.sync(Duration::from_secs(5));
        assert_eq!(
            text(&sink).lines().count(),
            1001,
            "sync returned before the lines were in"
        );
        drop(guard);
        let text = text(&sink);
        assert_eq!(text.lines().count(), 1001);
        assert!(text.ends_with("line 999\n"), "{text}");
        assert_eq!(writer.dropped(), 0);
    }

    /// A file that refuses its first writes (a full disk), then takes them.
    struct Refusing {
        refusals: usize,
        sink: Sink,
    }

    impl Write for Refusing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if self.refusals > 0 {
                self.refusals -= 1;
                return Err(std::io::Error::other("no space left on device"));
            }
            self.sink.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_file_that_fails_for_a_while_loses_those_batches_and_takes_later_lines() {
        let sink = Sink::default();
        let (writer, guard) = spawn(Refusing {
            refusals: 3,
            sink: sink.clone(),
        })
        .unwrap();
        for i in 0..3 {
            writer
                .make_writer()
                .write_all(format!("lost {i}\n").as_bytes())
                .unwrap();
            guard.sync(Duration::from_secs(5));
        }
        writer.make_writer().write_all(b"kept\n").unwrap();
        drop(guard);
        assert_eq!(text(&sink), "kept\n");
    }

    #[test]
    fn a_stalled_file_drops_and_counts_lines_instead_of_blocking_requests() {
        let sink = Sink::default();
        let stalled = sink.stall.lock().unwrap();
        let (writer, guard) = spawn(sink.clone()).unwrap();
        // The thread takes what is pending and blocks writing it; then the buffer fills.
        writer.make_writer().write_all(b"taken\n").unwrap();
        std::thread::sleep(TICK * 5);
        let line = vec![b'x'; 1024];
        let fits = MAX_PENDING / line.len();
        for _ in 0..fits + 10 {
            writer.make_writer().write_all(&line).unwrap();
        }
        assert_eq!(writer.dropped(), 10);
        drop(stalled);
        drop(guard);
        assert_eq!(
            sink.written.lock().unwrap().len(),
            "taken\n".len() + fits * line.len()
        );
    }
}
