//! Stand-in phones for the campaign manager: small HTTP servers that implement each gateway
//! driver's phone API — the "SMS Gateway for Android" app's local server (`POST /messages`
//! with Basic auth, 409 for a known id, `GET /messages/{id}`, `GET /health`) and seed 000's
//! Termux server (`POST /api/sms/send` with `X-API-Key`) — record what they received, and
//! can refuse, be slow, already know an id, or go away and come back on demand.

#![allow(dead_code)]

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The Basic-auth user and password the android stand-in expects.
pub const USERNAME: &str = "sms";
pub const PASSWORD: &str = "gateway-password";
/// The key the termux stand-in expects.
pub const DEVICE_KEY: &str = "termux-device-key-0123456789abcdef0123456789";

/// Which phone API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    Android,
    Termux,
}

/// One message the phone took.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub id: String,
    pub phone: String,
    pub text: String,
}

#[derive(Default)]
struct Inner {
    /// Messages taken (a known id answered 409 is not taken again).
    received: Vec<Received>,
    /// Every send request seen, taken or not (ids).
    requests: Vec<String>,
    /// The state the phone reports for an id it knows.
    known: HashMap<String, &'static str>,
    /// Refuse the next N sends with this status.
    refuse: Option<(usize, u16)>,
    /// Wait this long before answering a send.
    delay: Duration,
}

/// A running stand-in.
pub struct Phone {
    pub api: Api,
    pub url: String,
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    server: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

type Shared = Arc<Mutex<Inner>>;

fn authorized(api: Api, headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match api {
        Api::Android => {
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{USERNAME}:{PASSWORD}"))
            );
            header("authorization") == Some(expected.as_str())
        }
        Api::Termux => header("x-api-key") == Some(DEVICE_KEY),
    }
}

async fn take(
    api: Api,
    inner: &Shared,
    headers: &HeaderMap,
    id: String,
    phone: String,
    text: String,
) -> Response {
    if !authorized(api, headers) {
        return (StatusCode::UNAUTHORIZED, "unauthorized").into_response();
    }
    let delay = inner.lock().unwrap().delay;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let mut inner = inner.lock().unwrap();
    inner.requests.push(id.clone());
    if let Some((n, status)) = inner.refuse {
        inner.refuse = (n > 1).then_some((n - 1, status));
        return (
            StatusCode::from_u16(status).unwrap(),
            "refused by the stand-in",
        )
            .into_response();
    }
    if inner.known.contains_key(&id) {
        return (
            StatusCode::CONFLICT,
            Json(json!({"message": "message with this id already exists"})),
        )
            .into_response();
    }
    inner.known.insert(id.clone(), "Sent");
    inner.received.push(Received {
        id: id.clone(),
        phone,
        text,
    });
    (
        StatusCode::ACCEPTED,
        Json(json!({"id": id, "state": "Pending"})),
    )
        .into_response()
}

async fn android_send(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    let phone = body["phoneNumbers"][0]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let text = body["textMessage"]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(body["withDeliveryReport"], true);
    take(Api::Android, &inner, &headers, id, phone, text).await
}

async fn android_state(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if !authorized(Api::Android, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match inner.lock().unwrap().known.get(&id) {
        Some(state) => Json(json!({"id": id, "state": state, "recipients": [{"phoneNumber": "+1", "state": state}]})).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn termux_send(
    State(inner): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let id = body["id"].as_str().unwrap_or_default().to_owned();
    let phone = body["phone"].as_str().unwrap_or_default().to_owned();
    let text = body["message"].as_str().unwrap_or_default().to_owned();
    take(Api::Termux, &inner, &headers, id, phone, text).await
}

fn router(api: Api, inner: Shared) -> axum::Router {
    match api {
        Api::Android => axum::Router::new()
            .route("/messages", post(android_send))
            .route("/messages/{id}", get(android_state))
            .route("/health", get(|| async { Json(json!({"status": "pass"})) })),
        Api::Termux => axum::Router::new()
            .route("/api/sms/send", post(termux_send))
            .route("/", get(|| async { "termux sms server" })),
    }
    .with_state(inner)
}

impl Phone {
    /// Start one on a free port.
    pub async fn start(api: Api) -> Phone {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let phone = Phone {
            api,
            url: format!("http://{addr}"),
            addr,
            inner: Arc::default(),
            server: Mutex::new(None),
        };
        phone.serve(listener);
        phone
    }

    fn serve(&self, listener: tokio::net::TcpListener) {
        let app = router(self.api, Arc::clone(&self.inner));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        *self.server.lock().unwrap() = Some(task);
    }

    /// Stop answering: connections are refused until [`Phone::come_back`].
    pub fn go_away(&self) {
        if let Some(task) = self.server.lock().unwrap().take() {
            task.abort();
        }
    }

    /// Listen again on the same port.
    pub async fn come_back(&self) {
        for _ in 0..50 {
            if let Ok(listener) = tokio::net::TcpListener::bind(self.addr).await {
                self.serve(listener);
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the stand-in phone's port is taken");
    }

    /// Refuse the next `n` sends with `status`.
    pub fn refuse_next(&self, n: usize, status: u16) {
        self.inner.lock().unwrap().refuse = Some((n, status));
    }

    /// Answer each send after `delay`.
    pub fn be_slow(&self, delay: Duration) {
        self.inner.lock().unwrap().delay = delay;
    }

    /// Know message `id` already, in `state` (`Sent`, `Delivered`, `Failed`).
    pub fn already_knows(&self, id: &str, state: &'static str) {
        self.inner
            .lock()
            .unwrap()
            .known
            .insert(id.to_owned(), state);
    }

    /// What it took.
    pub fn received(&self) -> Vec<Received> {
        self.inner.lock().unwrap().received.clone()
    }

    /// Every send request's id, taken or not.
    pub fn requests(&self) -> Vec<String> {
        self.inner.lock().unwrap().requests.clone()
    }

    /// Wait until it has taken `n` messages (at most `limit`).
    pub async fn wait_for(&self, n: usize, limit: Duration) -> Vec<Received> {
        let started = std::time::Instant::now();
        loop {
            let received = self.received();
            if received.len() >= n {
                return received;
            }
            assert!(
                started.elapsed() < limit,
                "the phone took {} of {n} messages",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.go_away();
    }
}
