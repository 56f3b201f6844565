//! The floor under `/healthz`: a bare hyper server built from the same crates and the same
//! runtime shape as Portcullis (tokio multi-thread, hyper's HTTP/1 connection builder),
//! answering every request with the same small JSON body and no middleware. The distance
//! between this and Portcullis's `/healthz` is what the stack around a handler costs.
//!
//! Three shapes, so that distance can be taken apart:
//! - `bare` (the default): hyper and a `service_fn`, `content-type` only;
//! - `headers`: the same, answering with every header Portcullis's `/healthz` sends (the
//!   security headers and a fresh `X-Request-Id`), so the bytes on the wire match;
//! - `axum`: those headers again, through an axum `Router` with the one route and no
//!   middleware, served as `serve` serves Portcullis (`TowerToHyperService`).
//!
//! `cargo run --release --example hyper_floor [port] [bare|headers|axum]`
//! (prints `listening on http://…`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::response::IntoResponse;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use portcullis::http::middleware::request_id;
use portcullis::http::middleware::security_headers::HEADERS;
use std::convert::Infallible;

const BODY: &[u8] = b"{\"status\":\"ok\"}";

/// Portcullis's `/healthz` headers, a fresh request id among them.
fn same_headers(headers: &mut HeaderMap) {
    headers.reserve(HEADERS.len() + 2);
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (name, value) in &HEADERS {
        headers.insert(name.clone(), value.clone());
    }
    let id = request_id::assign(&HeaderMap::new());
    headers.insert(request_id::X_REQUEST_ID.clone(), id.value().clone());
}

async fn bare(
    _request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(BODY)))
        .unwrap())
}

async fn with_headers(
    _request: Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(BODY)));
    same_headers(response.headers_mut());
    Ok(response)
}

async fn axum_health() -> axum::response::Response {
    let mut response = BODY.into_response();
    same_headers(response.headers_mut());
    response
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let shape = args.next().unwrap_or_else(|| "bare".to_owned());
    let router = axum::Router::new().route("/", axum::routing::get(axum_health));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    println!("listening on http://{}", listener.local_addr().unwrap());
    loop {
        let (stream, _) = listener.accept().await.unwrap();
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        let builder = hyper::server::conn::http1::Builder::new();
        match shape.as_str() {
            "headers" => {
                tokio::spawn(builder.serve_connection(io, service_fn(with_headers)));
            }
            "axum" => {
                let service = TowerToHyperService::new(router.clone());
                tokio::spawn(async move { builder.serve_connection(io, service).await });
            }
            _ => {
                tokio::spawn(builder.serve_connection(io, service_fn(bare)));
            }
        }
    }
}
