//! What each request is: the clients, their credentials, and the bytes of request number n,
//! signed at the moment it is built.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::{Sha256, Sha512};
use std::io::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::time::{SystemTime, UNIX_EPOCH};

/// How each request authenticates.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// `X-API-Key`.
    Key,
    /// seed 001's `X-Token` + `X-Token-Hash`.
    TokenHash,
    /// An RFC 9421 signature with a fresh nonce.
    Rfc9421,
}

/// One client's credentials: a key, and for the signed modes its session.
pub struct Client {
    pub key: String,
    pub session_id: String,
    pub token: String,
}

/// The whole run, shared by every connection.
pub struct Plan {
    pub addr: SocketAddr,
    pub authority: String,
    pub path: String,
    pub mode: Mode,
    pub clients: Vec<Client>,
    pub addresses: u64,
    /// Requests sent so far in all (picks the client and the address).
    pub sent: AtomicU64,
    pub limit: u64,
    pub stop: AtomicBool,
    /// Connections in all (to stagger the open loop's senders).
    pub connections: u64,
    /// This run's start in nanoseconds since the epoch, to keep nonces unique across runs.
    pub run: u128,
}

fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl Plan {
    /// The bytes of request number `n`, signed now.
    pub fn request(&self, n: u64, nonce_seed: u64, out: &mut Vec<u8>) {
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
