//! The floor under `/healthz`: a bare hyper server built from the same crates and the same
//! runtime shape as Portcullis (tokio multi-thread, hyper's HTTP/1 connection builder),
//! answering every request with the same small JSON body and no middleware. The distance
//! between this and Portcullis's `/healthz` is what the stack around a handler costs.
//!
//! `cargo run --release --example hyper_floor [port]` (prints `listening on http://…`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;

async fn answer(
    _request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(b"{\"status\":\"ok\"}")))
        .unwrap())
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    println!("listening on http://{}", listener.local_addr().unwrap());
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service_fn(answer))
                .await;
        });
    }
}
