//! The connections: closed loop (the next request as soon as the last is answered, on tokio)
//! and open loop (each request when it is due, on its own thread), and what they count.

use crate::plan::Plan;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The status and total length of the response at the start of `buffer`, once its head
/// is complete; `Err` when it is not HTTP.
fn response_head(buffer: &[u8]) -> Result<Option<(u16, usize)>, ()> {
    let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let head = std::str::from_utf8(&buffer[..end]).map_err(|_| ())?;
    let status: u16 = head.get(9..12).ok_or(())?.parse().map_err(|_| ())?;
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .unwrap_or(0);
    Ok(Some((status, end + 4 + length)))
}

/// Read one response; `Some(status)` or `None` when the connection broke.
async fn read_response(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<u16> {
    loop {
        if let Some((status, total)) = response_head(buffer).ok()? {
            while buffer.len() < total {
                if stream.read_buf(buffer).await.ok()? == 0 {
                    return None;
                }
            }
            buffer.drain(..total);
            return Some(status);
        }
        if stream.read_buf(buffer).await.ok()? == 0 {
            return None;
        }
    }
}

/// The same on a blocking socket, for the open loop's sender threads.
fn read_response_blocking(stream: &mut std::net::TcpStream, buffer: &mut Vec<u8>) -> Option<u16> {
    use std::io::Read;
    let mut chunk = [0u8; 8192];
    loop {
        if let Some((status, total)) = response_head(buffer).ok()?
            && buffer.len() >= total
        {
            buffer.drain(..total);
            return Some(status);
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
    }
}

impl Tally {
    fn new() -> Self {
        Self {
            latencies_us: Vec::with_capacity(1 << 16),
            errors: 0,
            first_bad_status: None,
        }
    }

    /// Count one answer (`None`: the connection broke) and its latency since `since`;
    /// whether the connection can go on.
    fn record(&mut self, answer: Option<u16>, since: Instant) -> bool {
        match answer {
            Some(200) => {}
            Some(status) => {
                self.errors += 1;
                self.first_bad_status.get_or_insert(status);
            }
            None => {
                self.errors += 1;
                return false;
            }
        }
        let took = since.elapsed().as_micros();
        self.latencies_us
            .push(u32::try_from(took).unwrap_or(u32::MAX));
        true
    }
}

/// One open-loop connection on its own thread: each request is sent when it is due
/// (`thread::sleep`, precise to tens of microseconds, where tokio's timer rounds to a
/// millisecond) and its latency counted from then, so a slow answer delays no schedule
/// without being counted.
pub fn open_loop_connection(plan: &Plan, index: u64, step: Duration, start: Instant) -> Tally {
    use std::io::Write;
    let mut tally = Tally::new();
    let Ok(mut stream) = std::net::TcpStream::connect(plan.addr) else {
        tally.errors += 1;
        return tally;
    };
    stream.set_nodelay(true).ok();
    let mut request = Vec::with_capacity(1024);
    let mut buffer = Vec::with_capacity(8192);
    let connections = plan.connections.max(1);
    let mut due = start + step.mul_f64(index as f64 / connections as f64);
    while !plan.stop.load(Ordering::Relaxed) {
        let n = plan.sent.fetch_add(1, Ordering::Relaxed);
        if n >= plan.limit {
            break;
        }
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        plan.request(n, index, &mut request);
        if stream.write_all(&request).is_err() {
            tally.errors += 1;
            break;
        }
        if !tally.record(read_response_blocking(&mut stream, &mut buffer), due) {
            break;
        }
        due += step;
    }
    tally
}

pub struct Tally {
    /// Latency of every answered request.
    pub latencies_us: Vec<u32>,
    /// Answers other than 200, and connections lost.
    pub errors: u64,
    /// The first status other than 200, to say what the errors were.
    pub first_bad_status: Option<u16>,
}

/// One closed-loop connection: the next request as soon as the last is answered.
pub async fn connection(plan: Arc<Plan>, index: u64) -> Tally {
    let mut tally = Tally::new();
    let mut stream = match TcpStream::connect(plan.addr).await {
        Ok(s) => s,
        Err(_) => {
            tally.errors += 1;
            return tally;
        }
    };
    stream.set_nodelay(true).ok();
    let mut request = Vec::with_capacity(1024);
    let mut buffer = Vec::with_capacity(8192);
    while !plan.stop.load(Ordering::Relaxed) {
        let n = plan.sent.fetch_add(1, Ordering::Relaxed);
        if n >= plan.limit {
            break;
        }
        let began = Instant::now();
        plan.request(n, index, &mut request);
        if stream.write_all(&request).await.is_err() {
            tally.errors += 1;
            break;
        }
        if !tally.record(read_response(&mut stream, &mut buffer).await, began) {
            break;
        }
    }
    tally
}
