//! The attack review's hostile requests, each refused as it should be: keys in odd
//! spellings and places, method overrides, path tricks, request framing that could smuggle a
//! second request, parse errors answered by hyper itself, repeated credential headers, and
//! clients that are slow on purpose. Raw sockets where a client library would tidy the
//! request up before sending it.

use crate::helpers::*;
use portcullis::limits::RateSpec;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A server that does not lock out or rate-limit the attacker: each refusal below must be
/// the refusal under test, not a lockout.
async fn patient_app() -> TestApp {
    spawn_app_with(|s| {
        s.auth.lockout_threshold = 100_000;
        s.limits.per_address = RateSpec::parse("10000/s").unwrap();
    })
    .await
}

fn status_of(text: &str) -> u16 {
    text.split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

fn body_of(text: &str) -> Value {
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    serde_json::from_str(body).unwrap_or(Value::Null)
}

#[tokio::test]
async fn keys_in_odd_spellings_or_places_are_refused() {
    let app = patient_app().await;
    let key = app.admin_key.clone();
    let with_value = |value: HeaderValue| {
        app.client
            .get(app.url("/api/whoami"))
            .header("X-API-Key", value)
            .send()
    };
    // Spaces around a header value are not part of it (RFC 9110 §5.5): the same key.
    let text = raw_exchange(
        &app,
        format!("GET /api/whoami HTTP/1.1\r\nHost: x\r\nX-API-Key: \t {key} \t\r\nConnection: close\r\n\r\n").as_bytes(),
        "}",
    )
    .await;
    assert_eq!(status_of(&text), 200, "{text}");
    let fullwidth: String = key
        .chars()
        .map(|c| match c {
            'a'..='z' => char::from_u32(c as u32 - 'a' as u32 + 0xFF41).unwrap(),
            other => other,
        })
        .collect();
    for hostile in [
        format!("{key}\u{200b}").into_bytes(),
        format!("\u{200b}{key}").into_bytes(),
        fullwidth.into_bytes(),
        [key.as_bytes(), b"\xe9"].concat(),
        format!("{key},{key}").into_bytes(),
        format!("{key} {key}").into_bytes(),
    ] {
        assert_401(
            with_value(HeaderValue::from_bytes(&hostile).unwrap())
                .await
                .unwrap(),
        )
        .await;
    }
    // A key where no key is read: the query string, a look-alike header name.
    for path in [
        format!("/api/whoami?api_key={key}"),
        format!("/api/whoami?key={key}"),
        format!("/api/whoami?X-API-Key={key}"),
    ] {
        assert_401(app.get(&path, None).await).await;
    }
    let response = app
        .client
        .get(app.url("/api/whoami"))
        .header("X_API_KEY", &key)
        .send()
        .await
        .unwrap();
    assert_401(response).await;
}

#[tokio::test]
async fn method_overrides_are_ignored() {
    let app = patient_app().await;
    let victim = app.key_with_role("user").await;
    for header in [
        "X-HTTP-Method-Override",
        "X-HTTP-Method",
        "X-Method-Override",
    ] {
        // A GET that asks to be a POST stays a GET: nothing is revoked.
        let response = app
            .client
            .get(app.url(&format!("/api/keys/{}/revoke", victim.id)))
            .header("X-API-Key", &app.admin_key)
            .header(header, "POST")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{header}"
        );
        // A POST that asks to be a GET stays a POST.
        let response = app
            .client
            .post(app.url("/healthz"))
            .header(header, "GET")
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{header}"
        );
    }
    let response = app
        .client
        .get(app.url(&format!("/api/keys/{}/revoke?_method=POST", victim.id)))
        .header("X-API-Key", &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    let response = app
        .client
        .post(app.url(&format!("/api/keys/{}/revoke", victim.id)))
        .header("X-API-Key", &app.admin_key)
        .form(&[("_method", "GET")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "a POST with _method=GET is the POST it is"
    );
    assert_eq!(
        app.whoami(Some(&victim.key)).await.status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn path_tricks_find_no_route() {
    let app = patient_app().await;
    for path in [
        "//api/keys",
        "/api/keys/",
        "/API/keys",
        "/./api/keys",
        "/api/./keys",
        "/api/%6beys",
        "/api/%2e%2e/api/keys",
        "/api/../api/keys",
        "/x/../api/keys",
        "/api%2fkeys",
        "/api/keys%00",
        "/api/keys%2f",
        "/healthz/",
    ] {
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {}\r\nConnection: close\r\n\r\n",
            app.admin_key
        );
        let text = raw_exchange(&app, request.as_bytes(), "}").await;
        assert_eq!(status_of(&text), 404, "{path}: {text}");
        assert_raw_hardened(&text);
        assert_eq!(
            body_of(&text),
            json!({"error": "Not found", "message": "The requested resource does not exist"}),
            "{path}"
        );
    }
    for (request, status) in [
        ("TRACE /healthz HTTP/1.1\r\nHost: x\r\n\r\n", 405),
        ("TRACE /api/keys HTTP/1.1\r\nHost: x\r\n\r\n", 401),
        (
            &*format!(
                "TRACE /api/keys HTTP/1.1\r\nHost: x\r\nX-API-Key: {}\r\n\r\n",
                app.admin_key
            ),
            405,
        ),
        (
            "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            404,
        ),
        ("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n", 404),
    ] {
        let text = raw_exchange(&app, request.as_bytes(), "}").await;
        assert_eq!(status_of(&text), status, "{request}: {text}");
        assert_raw_hardened(&text);
    }
}

/// Send `request`; everything the server answers, and whether it then closed the connection
/// (rather than going quiet for two seconds).
async fn exchange_all(app: &TestApp, request: &[u8]) -> (String, bool) {
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let closed = loop {
        match tokio::time::timeout(Duration::from_secs(2), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Err(_) => break false,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    };
    (String::from_utf8_lossy(&out).into_owned(), closed)
}

#[tokio::test]
async fn ambiguous_framing_is_refused_and_never_smuggles_a_second_request() {
    let app = patient_app().await;
    let smuggled = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let cases: &[(&str, String)] = &[
        (
            "Content-Length and Transfer-Encoding",
            format!(
                "POST /user/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "two different Content-Length",
            format!(
                "POST /user/login HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef{smuggled}"
            ),
        ),
        (
            "Content-Length: 6, 6",
            format!(
                "POST /user/login HTTP/1.1\r\nHost: x\r\nContent-Length: 6, 6\r\n\r\nabcdef{smuggled}"
            ),
        ),
        (
            "Content-Length: +6",
            format!(
                "POST /user/login HTTP/1.1\r\nHost: x\r\nContent-Length: +6\r\n\r\nabcdef{smuggled}"
            ),
        ),
        (
            "Content-Length: -1",
            format!("POST /user/login HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n{smuggled}"),
        ),
        (
            "an overflowing Content-Length",
            format!(
                "POST /user/login HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n{smuggled}"
            ),
        ),
        (
            "Transfer-Encoding: xchunked",
            format!(
                "POST /user/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "Transfer-Encoding: chunked, identity",
            format!(
                "POST /user/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        (
            "a space before the colon",
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length : 30\r\n\r\n{smuggled}"),
        ),
        (
            "an obsolete folded header",
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n{smuggled}"),
        ),
        (
            "a NUL in a header",
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n{smuggled}"),
        ),
        (
            "an overflowing chunk size",
            format!(
                "POST /user/login HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n{smuggled}"
            ),
        ),
        ("an HTTP/0.9 request", "GET /healthz\r\n\r\n".to_owned()),
    ];
    for (name, request) in cases {
        let (text, closed) = exchange_all(&app, request.as_bytes()).await;
        assert_eq!(
            text.matches("HTTP/1.1 ").count(),
            1,
            "{name}: one answer, never one for a smuggled request: {text}"
        );
        let status = status_of(&text);
        assert!(
            status == 400 || (*name == "Content-Length and Transfer-Encoding" && status == 401),
            "{name}: {text}"
        );
        assert_raw_hardened(&text);
        assert!(closed, "{name}: the connection is closed after it: {text}");
    }
    // An HTTP/2 preface on the HTTP/1.1 port is not answered at all.
    let (text, closed) = exchange_all(&app, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await;
    assert_eq!(text, "");
    assert!(closed);
}

#[tokio::test]
async fn parse_errors_answered_by_hyper_carry_our_headers_and_body() {
    let app = patient_app().await;
    let many_headers: String = (0..120).map(|i| format!("X-H{i}: a\r\n")).collect();
    let cases = [
        (
            format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many_headers}\r\n"),
            431,
            json!({"error": "Request Header Fields Too Large", "message": "The request has too many headers, or too large ones"}),
            "request.rejected",
        ),
        (
            format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000)),
            414,
            json!({"error": "URI Too Long", "message": "The request target is too long"}),
            "request.rejected",
        ),
        (
            "GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n".to_owned(),
            400,
            json!({"error": "Bad request", "message": "The request could not be parsed"}),
            "request.invalid",
        ),
    ];
    for (request, status, body, code) in cases {
        let text = raw_exchange(&app, request.as_bytes(), "}").await;
        assert_eq!(status_of(&text), status, "{text}");
        assert_raw_hardened(&text);
        assert_eq!(body_of(&text), body);
        assert!(
            raw_headers(&text)
                .iter()
                .any(|(n, v)| n == "x-error-code" && v == code),
            "{text}"
        );
    }
}

#[tokio::test]
async fn deeply_nested_json_is_a_400_and_creates_nothing() {
    let app = patient_app().await;
    let body = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let response = app
        .client
        .post(app.url("/api/keys"))
        .header("X-API-Key", &app.admin_key)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_hardened(&response);
    let listing: Value = app
        .get("/api/keys", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listing["keys"].as_array().unwrap().len(),
        1,
        "the admin key only"
    );
}

#[tokio::test]
async fn a_repeated_credential_header_is_refused_and_changes_nothing() {
    let app = patient_app().await;
    let user = app.key_with_role("user").await;
    for (name, first, second) in [
        ("X-API-Key", app.admin_key.as_str(), user.key.as_str()),
        ("X-API-Key", user.key.as_str(), app.admin_key.as_str()),
        (
            "Authorization",
            &*format!("Bearer {}", app.admin_key),
            &*format!("Bearer {}", user.key),
        ),
        ("X-Token", app.admin_key.as_str(), user.key.as_str()),
        ("X-Token-Hash", "00", "11"),
        ("Signature", "sig1=:AA==:", "sig1=:AA==:"),
        ("Signature-Input", "sig1=()", "sig1=()"),
        ("Content-Digest", "sha-256=:AA==:", "sha-256=:AA==:"),
        ("X-CSRF-Token", "a", "b"),
    ] {
        let request = format!(
            "POST /api/keys HTTP/1.1\r\nHost: x\r\n{name}: {first}\r\n{name}: {second}\r\nContent-Type: application/json\r\nContent-Length: 31\r\nConnection: close\r\n\r\n{{\"owner\":\"x\",\"role\":\"admin\"}}  "
        );
        let text = raw_exchange(&app, request.as_bytes(), "}").await;
        assert_eq!(status_of(&text), 400, "{name}: {text}");
        assert_raw_hardened(&text);
        assert_eq!(
            body_of(&text),
            json!({"error": "Bad request", "message": format!("The {name} header may appear only once")})
        );
        assert!(
            raw_headers(&text)
                .iter()
                .any(|(n, v)| n == "x-error-code" && v == "request.duplicate_header")
        );
    }
    let listing: Value = app
        .get("/api/keys?owner=x", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listing["keys"], json!([]), "nothing was created");
    // Two session cookies: neither is picked.
    let session = app.login("user owner", &user.key).await;
    let cookie = session.cookie.unwrap();
    let pair = cookie.split(';').next().unwrap().to_owned();
    let response = app
        .client
        .get(app.url("/api/whoami"))
        .header("Cookie", format!("{pair}; portcullis_session=pcs_other"))
        .send()
        .await
        .unwrap();
    assert_401(response).await;
    let response = app
        .client
        .get(app.url("/api/whoami"))
        .header("Cookie", pair)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// The header timer is armed once per connection and re-armed when it fires early
/// (`http::header_timer`): each request's deadline must still run from that request, neither
/// from an earlier one (cut off too soon) nor never (kept open).
#[tokio::test]
async fn each_kept_alive_request_gets_its_own_header_deadline() {
    let app = spawn_app_with(|s| s.limits.header_read_timeout = Duration::from_millis(500)).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut buf = [0u8; 4096];
    for _ in 0..3 {
        // Each request comes 300 ms after the last answer: inside its own deadline, past
        // what would be left of the first one's after the second wait.
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let n = stream.read(&mut buf).await.unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // Now idle: closed at the last request's deadline (500 ms after its answer), not later.
    let idle = std::time::Instant::now() - Duration::from_millis(300);
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "an idle connection was kept open");
    let after = idle.elapsed();
    assert!(
        (Duration::from_millis(450)..Duration::from_millis(1500)).contains(&after),
        "closed {after:?} after the last answer; the deadline is 500 ms"
    );
}

#[tokio::test]
async fn slow_and_idle_clients_are_let_go() {
    let app = spawn_app_with(|s| s.limits.header_read_timeout = Duration::from_millis(500)).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // Headers trickled a byte at a time: the deadline covers the whole head, not each byte.
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let started = std::time::Instant::now();
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut closed_after = None;
    for byte in head {
        if stream.write_all(&[*byte]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        let mut probe = [0u8; 1];
        match tokio::time::timeout(Duration::from_millis(100), stream.read(&mut probe)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                closed_after = Some(started.elapsed());
                break;
            }
            Ok(Ok(_)) => panic!("answered a trickled request"),
            Err(_) => {}
        }
    }
    let closed_after = closed_after.expect("the trickling client was never cut off");
    assert!(
        closed_after >= Duration::from_millis(500),
        "cut off before the deadline: {closed_after:?}"
    );
    // An idle kept-alive connection is closed after the same deadline.
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 4096];
    let n = stream.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let idle = std::time::Instant::now();
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "an idle connection was kept open");
    assert!(
        idle.elapsed() >= Duration::from_millis(450),
        "closed before the deadline: {:?}",
        idle.elapsed()
    );
}
