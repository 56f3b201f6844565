//! Hardened HTTP: headers on every response, uniform JSON errors, limits.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn healthz_answers_ok_without_credentials() {
    let app = spawn_app().await;
    let response = app.healthz().await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_hardened(&response);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({ "status": "ok" })
    );
}

#[tokio::test]
async fn healthz_is_503_when_the_store_is_gone() {
    let app = spawn_app().await;
    assert_eq!(app.healthz().await.status(), StatusCode::OK);
    // The data directory wiped under a running server: its connections would go on writing
    // to a file nobody will see again.
    for file in app.db_files() {
        std::fs::remove_file(file).unwrap();
    }
    // Store health is cached for a second; the next check after that says so.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let response = loop {
        let response = app.healthz().await;
        if response.status() != StatusCode::OK {
            break response;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still healthy after 5 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_hardened(&response);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "unavailable", "error": "Service unavailable", "message": "The store is unreachable"})
    );
}

#[tokio::test]
async fn every_status_carries_the_security_headers() {
    let app = spawn_app().await;
    let user = app.key_with_role("user").await;
    // 200
    assert_hardened(&app.whoami(Some(&app.admin_key)).await);
    // 201
    let created = app
        .post_json(
            "/api/keys",
            Some(&app.admin_key),
            &json!({"owner": "o", "role": "user"}),
        )
        .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    assert_hardened(&created);
    // 401, 403, 404, 405, 413 each assert the headers in assert_error.
    assert_401(app.whoami(None).await).await;
    assert_403_admin(app.get("/api/keys", Some(&user.key)).await).await;
    assert_error(
        app.get("/no/such/path", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "Not found",
        "The requested resource does not exist",
    )
    .await;
    let big = vec![b'a'; 2 * 1024 * 1024];
    let response = app
        .client
        .post(app.url("/api/keys"))
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::PAYLOAD_TOO_LARGE,
        "request.too_large",
        "Payload too large",
        "The request body exceeds the size limit",
    )
    .await;
}

#[tokio::test]
async fn a_wrong_method_gets_405_json_with_allow() {
    let app = spawn_app().await;
    let response = app.client.delete(app.url("/healthz")).send().await.unwrap();
    assert_eq!(response.headers().get("allow").unwrap(), "GET,HEAD");
    assert_error(
        response,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "Method not allowed",
        "This method is not allowed on this resource; see the Allow header",
    )
    .await;

    let response = app
        .client
        .put(app.url("/api/keys"))
        .header("X-API-Key", &app.admin_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers().get("allow").unwrap(), "POST,GET,HEAD");
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn a_request_id_is_generated_or_a_safe_one_is_kept() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "trace-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers().get("x-request-id").unwrap(),
        "trace-abc.123"
    );

    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id <script>")
        .send()
        .await
        .unwrap();
    let id = response
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(id.len(), 36, "a fresh UUID replaces the hostile id: {id}");

    let a = app.healthz().await;
    let b = app.healthz().await;
    assert_ne!(
        a.headers().get("x-request-id"),
        b.headers().get("x-request-id")
    );
}

#[tokio::test]
async fn malformed_json_is_a_400_in_our_shape_and_creates_nothing() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/keys"))
        .header("X-API-Key", &app.admin_key)
        .header("content-type", "application/json")
        .body("{\"owner\": ")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "request.invalid",
        "Bad request",
        "The body is not valid JSON",
    )
    .await;

    let response = app
        .post_json(
            "/api/keys",
            Some(&app.admin_key),
            &json!({"owner": "x", "role": "user", "colour": "red"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "Bad request");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("unknown field `colour`"),
        "{body}"
    );

    let response = app
        .post_json(
            "/api/keys",
            Some(&app.admin_key),
            &json!({"owner": 5, "role": "user"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);

    let response = app
        .client
        .post(app.url("/api/keys"))
        .header("X-API-Key", &app.admin_key)
        .body("{\"owner\":\"x\",\"role\":\"user\"}")
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "request.media_type",
        "Unsupported media type",
        "Send the body as application/json",
    )
    .await;

    let listing: Value = app
        .get("/api/keys", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        listing["keys"].as_array().unwrap().len(),
        1,
        "only the initial admin key exists"
    );
}

#[tokio::test]
async fn an_oversized_chunked_body_is_refused_with_413() {
    let app = spawn_app_with(|s| s.limits.max_body_bytes = 1024).await;
    let chunk = format!("200\r\n{}\r\n", " ".repeat(512));
    let request = format!(
        "POST /api/keys HTTP/1.1\r\nHost: x\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
        app.admin_key,
        chunk.repeat(4)
    );
    let text = raw_exchange(&app, request.as_bytes(), "}").await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(
        text.contains(
            r#"{"error":"Payload too large","message":"The request body exceeds the size limit"}"#
        ),
        "{text}"
    );
}

#[tokio::test]
async fn a_request_slower_than_the_timeout_gets_408_json() {
    let app = spawn_app_with(|s| s.limits.request_timeout = Duration::from_millis(300)).await;
    let head = format!(
        "POST /api/keys HTTP/1.1\r\nHost: x\r\nX-API-Key: {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{",
        app.admin_key
    );
    let text = raw_exchange(&app, head.as_bytes(), "}").await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert_raw_hardened(&text);
    assert!(
        raw_headers(&text)
            .iter()
            .any(|(n, v)| n == "x-error-code" && v == "request.timeout"),
        "{text}"
    );
    assert!(
        text.contains(r#"{"error":"Request timeout","message":"The request took too long"}"#),
        "{text}"
    );
    assert!(
        text.to_ascii_lowercase().contains("x-frame-options: deny"),
        "{text}"
    );
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    let app = spawn_app_with(|s| s.limits.header_read_timeout = Duration::from_millis(300)).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .unwrap();
    let mut buf = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut buf)).await;
    assert!(closed.is_ok(), "the connection was still open after 5 s");
}

#[tokio::test]
async fn connections_beyond_the_limit_wait_instead_of_being_served_at_once() {
    let app = spawn_app_with(|s| s.limits.max_connections = 1).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    // The first connection takes the only slot and sits idle.
    let mut first = tokio::net::TcpStream::connect(&address).await.unwrap();
    first
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = first.read(&mut buf).await.unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // A second one is accepted by the kernel but not served while the first is open...
    let second = tokio::time::timeout(Duration::from_millis(300), app.healthz()).await;
    assert!(second.is_err(), "served beyond max_connections");
    // ...and is served once the first goes away.
    drop(first);
    let response = tokio::time::timeout(Duration::from_secs(5), app.healthz())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

/// Send `GET /healthz` on `stream`; the response head's first line, or "" if closed.
async fn healthz_on(stream: &mut tokio::net::TcpStream) -> String {
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .is_err()
    {
        return String::new();
    }
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
        Ok(Ok(n)) => String::from_utf8_lossy(&buf[..n])
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned(),
        Ok(Err(_)) => String::new(),
        Err(_) => panic!("neither served nor closed within 5 s"),
    }
}

#[tokio::test]
async fn one_address_cannot_hold_more_than_its_share_of_connections() {
    let app = spawn_app_with(|s| s.limits.max_connections_per_address = 2).await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut first = tokio::net::TcpStream::connect(&address).await.unwrap();
    let mut second = tokio::net::TcpStream::connect(&address).await.unwrap();
    assert_eq!(healthz_on(&mut first).await, "HTTP/1.1 200 OK");
    assert_eq!(healthz_on(&mut second).await, "HTTP/1.1 200 OK");
    // A third from the same address is closed at once, unserved.
    let mut third = tokio::net::TcpStream::connect(&address).await.unwrap();
    assert_eq!(healthz_on(&mut third).await, "");
    // The two it holds still work; when one goes, a new one is served.
    assert_eq!(healthz_on(&mut first).await, "HTTP/1.1 200 OK");
    drop(second);
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let mut again = tokio::net::TcpStream::connect(&address).await.unwrap();
        if healthz_on(&mut again).await == "HTTP/1.1 200 OK" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the slot never came back"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_trusted_proxy_is_not_held_to_one_address_share() {
    let app = spawn_app_with(|s| {
        s.limits.max_connections_per_address = 1;
        s.server.trusted_proxies = vec!["127.0.0.1".to_owned()];
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let mut streams = Vec::new();
    for _ in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
        assert_eq!(healthz_on(&mut stream).await, "HTTP/1.1 200 OK");
        streams.push(stream);
    }
}

#[tokio::test]
async fn a_refusal_that_leaves_the_body_unread_says_connection_close() {
    let app = spawn_app().await;
    // Headers only: the request is refused (no key) before its body is read, and hyper will
    // not keep a connection with unread bytes on it; the answer says so.
    let text = raw_exchange(
        &app,
        b"POST /api/keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n",
        "}",
    )
    .await;
    assert!(text.starts_with("HTTP/1.1 401 "), "{text}");
    let headers = raw_headers(&text);
    assert!(
        headers
            .iter()
            .any(|(n, v)| n == "connection" && v == "close"),
        "{text}"
    );
    // A body the server did read keeps the connection open: no such header.
    let response = app
        .post_json(
            "/api/keys",
            Some(&app.admin_key),
            &json!({"owner": "o", "role": "user"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.headers().get("connection").is_none());
    // A bodiless request is left alone too.
    let response = app.whoami(None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(response.headers().get("connection").is_none());
}
