//! What the config service's envelope costs per request, on the server: opening a token
//! (ECDH on P-256, key unwrap, AES-GCM, then an ES256 verification) and sealing a response
//! (AES-GCM and an ES256 signature). These bound how much CPU one token can cost us, which
//! is why `/api/config` is rate-limited per address before any of it runs.
//!
//! Run: `cargo bench --bench envelope`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use p256::ecdsa::SigningKey;
use portcullis::jose::ServerKey;
use portcullis::jose::client::{TokenOptions, prepare};
use portcullis::jose::jwe::{self, Jwe, KeyAlg};
use portcullis::jose::jws::{self, Jws};
use serde_json::json;

fn main() {
    divan::main();
}

fn token(alg: KeyAlg) -> (ServerKey, SigningKey, String) {
    let server = ServerKey::generate().unwrap();
    let client = SigningKey::from(ServerKey::generate().unwrap().secret().clone());
    let prepared = prepare(
        "alice",
        &client,
        &server.public_jwk(),
        alg,
        &json!({"action": "list_files"}),
        1_700_000_000,
        &TokenOptions::default(),
    )
    .unwrap();
    (server, client, prepared.token)
}

#[divan::bench(args = [KeyAlg::EcdhEsA256Kw, KeyAlg::EcdhEs])]
fn open_token(bencher: divan::Bencher, alg: KeyAlg) {
    let (server, client, token) = token(alg);
    bencher.bench_local(|| {
        let inner = Jwe::parse(&token)
            .unwrap()
            .decrypt_ecdh(server.secret())
            .unwrap();
        let text = std::str::from_utf8(&inner).unwrap();
        Jws::parse(text)
            .unwrap()
            .verify(client.verifying_key())
            .unwrap()
            .len()
    });
}

#[divan::bench]
fn seal_response(bencher: divan::Bencher) {
    let server = ServerKey::generate().unwrap();
    let key = [7u8; 32];
    let answer =
        json!({"status": 200, "message": "File read", "content": "x".repeat(1024)}).to_string();
    bencher.bench_local(|| {
        let data = jwe::encrypt_dir(answer.as_bytes(), &key).unwrap();
        jws::sign_raw(data.as_bytes(), server.signing())
    });
}
