//! A small HTTP/1.1 load generator for what wrk cannot send: a fresh RFC 9421 signature (new
//! nonce, current `created`) or seed 001 `X-Token-Hash` on every request, a different key and
//! `X-Forwarded-For` address per request, and an open-loop fixed rate that measures latency
//! from when each request was due (wrk2's correction for coordinated omission), so a stalled
//! server shows up in the percentiles instead of slowing the generator down.
//!
//! Hand-written on tokio's TCP stream because the tools that do this (wrk2, oha with its
//! `-q` rate) either are not packaged here or cannot sign each request.
//!
//! ```text
//! cargo run --release --example loadgen -- URL MODE CREDENTIALS [options]
//!   MODE         key | token-hash | rfc9421
//!   CREDENTIALS  a file with one line per client: `KEY` (key mode) or
//!                `KEY SESSION_ID SESSION_TOKEN` (the signed modes)
//!   --connections N   kept-alive connections (default 32)
//!   --duration SECS   how long to send (default 5)
//!   --rate N          open loop: N requests/s in all, latency from when each was due
//!   --requests N      stop after N requests instead of a duration
//!   --addresses N     send X-Forwarded-For with N distinct addresses, in turn (default none)
//! ```
//!
//! Prints one line: `requests=… seconds=… rps=… p50_us=… p90_us=… p99_us=… p999_us=… max_us=…
//! errors=…` (`errors` counts responses other than 200 and connections lost).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Sha256, Sha512};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Key,
    TokenHash,
    Rfc9421,
}

struct Client {
    key: String,
    session_id: String,
    token: String,
}

struct Plan {
    addr: SocketAddr,
    authority: String,
    path: String,
    mode: Mode,
    clients: Vec<Client>,
    addresses: u64,
    /// Requests sent so far in all (picks the client and the address).
    sent: AtomicU64,
    limit: u64,
    stop: AtomicBool,
    /// Connections in all (to stagger the open loop's senders).
    connections: u64,
    /// This run's start in nanoseconds since the epoch, to keep nonces unique across runs.
    run: u128,
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Plan {
    /// The bytes of request number `n`, signed now.
    fn request(&self, n: u64, nonce_seed: u64, out: &mut Vec<u8>) {
        let client = &self.clients[(n % self.clients.len() as u64) as usize];
        out.clear();
        write!(
            out,
            "GET {} HTTP/1.1\r\nHost: {}\r\n",
            self.path, self.authority
        )
        .unwrap();
        if self.addresses > 0 {
            // 10.0.0.0/8 and onwards: distinct IPv4 addresses, each its own limit bucket.
            let a = (n % self.addresses) as u32 + (10 << 24);
            let ip = std::net::Ipv4Addr::from(a);
            write!(out, "X-Forwarded-For: {ip}\r\n").unwrap();
        }
        match self.mode {
            Mode::Key => write!(out, "X-API-Key: {}\r\n", client.key).unwrap(),
            Mode::TokenHash => {
                let mut mac = <Hmac<Sha512> as KeyInit>::new_from_slice(
                    format!("{}{}", client.token, unix_secs()).as_bytes(),
                )
                .unwrap();
                mac.update(b"");
                let hash = hex::encode(mac.finalize().into_bytes());
                write!(out, "X-Token: {}\r\nX-Token-Hash: {hash}\r\n", client.key).unwrap();
            }
            Mode::Rfc9421 => {
                // Unique across runs too: the server refuses a nonce it has seen (replay).
                let nonce = format!("n{:x}x{nonce_seed:x}x{n:x}", self.run);
                let params = format!(
                    "(\"@method\" \"@target-uri\");created={};keyid=\"{}\";nonce=\"{nonce}\";alg=\"hmac-sha256\"",
                    unix_secs(),
                    client.session_id
                );
                let base = format!(
                    "\"@method\": GET\n\"@target-uri\": http://{}{}\n\"@signature-params\": {params}",
                    self.authority, self.path
                );
                let mut mac =
                    <Hmac<Sha256> as KeyInit>::new_from_slice(client.token.as_bytes()).unwrap();
                mac.update(base.as_bytes());
                let signature =
                    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes());
                write!(
                    out,
                    "Signature-Input: sig1={params}\r\nSignature: sig1=:{signature}:\r\n"
                )
                .unwrap();
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

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
fn open_loop_connection(plan: &Plan, index: u64, step: Duration, start: Instant) -> Tally {
    use std::io::Write;
    let mut tally = Tally {
        latencies_us: Vec::with_capacity(1 << 16),
        errors: 0,
        first_bad_status: None,
    };
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

struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
    /// The first status other than 200, to say what the errors were.
    first_bad_status: Option<u16>,
}

/// One closed-loop connection: the next request as soon as the last is answered.
async fn connection(plan: Arc<Plan>, index: u64) -> Tally {
    let mut tally = Tally {
        latencies_us: Vec::with_capacity(1 << 16),
        errors: 0,
        first_bad_status: None,
    };
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: loadgen URL key|token-hash|rfc9421 CREDENTIALS [--connections N] [--duration SECS] [--rate N] [--requests N] [--addresses N]";
    if args.len() < 4 {
        eprintln!("{usage}");
        std::process::exit(2);
    }
    let url = args[1].strip_prefix("http://").expect("an http:// URL");
    let (authority, path) = url.split_at(url.find('/').unwrap_or(url.len()));
    let path = if path.is_empty() { "/" } else { path };
    let mode = match args[2].as_str() {
        "key" => Mode::Key,
        "token-hash" => Mode::TokenHash,
        "rfc9421" => Mode::Rfc9421,
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    let clients: Vec<Client> = std::fs::read_to_string(&args[3])
        .expect("credentials file")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut words = l.split_whitespace();
            Client {
                key: words.next().unwrap().to_owned(),
                session_id: words.next().unwrap_or_default().to_owned(),
                token: words.next().unwrap_or_default().to_owned(),
            }
        })
        .collect();
    assert!(!clients.is_empty(), "no credentials");
    let mut connections = 32u64;
    let mut duration = 5.0f64;
    let mut rate: Option<f64> = None;
    let mut limit = u64::MAX;
    let mut addresses = 0;
    let mut rest = args[4..].iter();
    while let Some(flag) = rest.next() {
        let value = rest.next().expect(usage);
        match flag.as_str() {
            "--connections" => connections = value.parse().expect(usage),
            "--duration" => duration = value.parse().expect(usage),
            "--rate" => rate = Some(value.parse().expect(usage)),
            "--requests" => limit = value.parse().expect(usage),
            "--addresses" => addresses = value.parse().expect(usage),
            _ => {
                eprintln!("{usage}");
                std::process::exit(2);
            }
        }
    }
    let addr: SocketAddr = authority.parse().expect("URL host must be IP:port");
    let plan = Arc::new(Plan {
        run: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
        connections,
        addr,
        authority: authority.to_owned(),
        path: path.to_owned(),
        mode,
        clients,
        addresses,
        sent: AtomicU64::new(0),
        limit,
        stop: AtomicBool::new(false),
    });
    if let Some(rate) = rate {
        // Open loop: a thread per connection, each sending its share of the rate on time.
        let step = Duration::from_secs_f64(connections as f64 / rate);
        let start = Instant::now();
        let senders: Vec<_> = (0..connections)
            .map(|i| {
                let plan = Arc::clone(&plan);
                std::thread::spawn(move || open_loop_connection(&plan, i, step, start))
            })
            .collect();
        if limit == u64::MAX {
            std::thread::sleep(Duration::from_secs_f64(duration));
            plan.stop.store(true, Ordering::Relaxed);
        }
        let tallies: Vec<Tally> = senders.into_iter().map(|t| t.join().unwrap()).collect();
        report(tallies, start.elapsed().as_secs_f64());
        return;
    }
    // Closed loop on one thread: the generator's own CPU stays on one core, as wrk -t1's does.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (tallies, seconds) = runtime.block_on(async {
        let start = Instant::now();
        let tasks: Vec<_> = (0..connections)
            .map(|i| tokio::spawn(connection(Arc::clone(&plan), i)))
            .collect();
        if limit == u64::MAX {
            let stopper = Arc::clone(&plan);
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs_f64(duration)).await;
                stopper.stop.store(true, Ordering::Relaxed);
            });
        }
        let mut tallies = Vec::new();
        for task in tasks {
            tallies.push(task.await.unwrap());
        }
        (tallies, start.elapsed().as_secs_f64())
    });
    report(tallies, seconds);
}

/// Print the one result line (and, on errors, what they were).
fn report(tallies: Vec<Tally>, seconds: f64) {
    let errors: u64 = tallies.iter().map(|t| t.errors).sum();
    if let Some(status) = tallies.iter().find_map(|t| t.first_bad_status) {
        eprintln!("first status other than 200: {status}");
    }
    let mut all: Vec<u32> = tallies.into_iter().flat_map(|t| t.latencies_us).collect();
    all.sort_unstable();
    let at = |q: f64| {
        all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0)
    };
    println!(
        "requests={} seconds={seconds:.2} rps={:.0} p50_us={} p90_us={} p99_us={} p999_us={} max_us={} errors={errors}",
        all.len(),
        all.len() as f64 / seconds,
        at(0.5),
        at(0.9),
        at(0.99),
        at(0.999),
        all.last().copied().unwrap_or(0),
    );
}
