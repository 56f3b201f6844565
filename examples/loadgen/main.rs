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

mod connections;
mod plan;

use connections::{Tally, connection, open_loop_connection};
use plan::{Client, Mode, Plan};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

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
