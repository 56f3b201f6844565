//! The OpenAPI document: it describes every route the server serves (and nothing it does
//! not), it is served at `/openapi.json` without a key (and not when turned off), printed by
//! `portcullis openapi`, and it is whole: unique operation ids, every `$ref` resolves, every
//! operation lists our error responses, guarded ones their credentials. schemathesis judges
//! it against the live server in `tests/interop/openapi.py`.

use crate::helpers::*;
use portcullis::auth::EnvKeys;
use portcullis::clock::SystemClock;
use portcullis::config::{Posting, Settings};
use portcullis::startup::Application;
use reqwest::StatusCode;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Every route and every service on: the widest router these settings can make.
fn everything(settings: &mut Settings) {
    settings.sms.enabled = true;
    settings.metrics.enabled = true;
    settings.openapi.enabled = true;
}

async fn application(dir: &std::path::Path, configure: impl FnOnce(&mut Settings)) -> Application {
    let mut settings = test_settings(dir);
    configure(&mut settings);
    Application::build(settings, Arc::new(SystemClock), EnvKeys::none())
        .await
        .expect("build app")
}

/// The paths the router serves, read from its `Debug` output (axum lists each route's path
/// there; it offers no other way to enumerate them). The catch-all that axum registers for
/// the fallback (`/{*__private__axum_fallback}`) is the 404, not a route.
fn served_paths(router: &axum::Router) -> BTreeSet<String> {
    let text = format!("{router:?}");
    text.split('"')
        .skip(1)
        .step_by(2)
        .filter(|s| s.starts_with('/') && !s.contains("__private__axum_fallback"))
        .map(str::to_owned)
        .collect()
}

fn document_paths(document: &Value) -> BTreeSet<String> {
    document["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .cloned()
        .collect()
}

fn operations(document: &Value) -> Vec<(String, String, &Value)> {
    let mut all = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                all.push((method.to_uppercase(), path.clone(), operation));
            }
        }
    }
    all
}

#[tokio::test]
async fn every_route_the_server_serves_is_described_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let app = application(dir.path(), everything).await;
    let served = served_paths(&app.router().expect("router"));
    let document = serde_json::to_value(app.openapi()).unwrap();
    let described = document_paths(&document);
    // Not vacuous: the router's routes were found (the health check and a service's at least).
    assert!(
        served.len() >= 45,
        "only {} routes found: {served:?}",
        served.len()
    );
    assert!(served.contains("/healthz") && served.contains("/api/campaign/create"));
    let undescribed: Vec<_> = served.difference(&described).collect();
    assert!(
        undescribed.is_empty(),
        "served but not described: {undescribed:?}"
    );
    let phantom: Vec<_> = described.difference(&served).collect();
    assert!(phantom.is_empty(), "described but not served: {phantom:?}");
}

#[tokio::test]
async fn the_route_check_sees_a_route_added_outside_the_document() {
    // The comparison above would pass vacuously if the router's Debug output stopped
    // listing paths: prove it lists one added by hand.
    let dir = tempfile::tempdir().unwrap();
    let app = application(dir.path(), everything).await;
    let router = app.router().expect("router").route(
        "/api/undescribed",
        axum::routing::get(|| async { "hidden" }),
    );
    assert!(served_paths(&router).contains("/api/undescribed"));
    let document = serde_json::to_value(app.openapi()).unwrap();
    assert!(!document_paths(&document).contains("/api/undescribed"));
}

#[tokio::test]
async fn routes_follow_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let app = application(dir.path(), |s| {
        s.sms.enabled = false;
        s.metrics.enabled = false;
        s.messages.posting = Posting::Key;
    })
    .await;
    let document = serde_json::to_value(app.openapi()).unwrap();
    let paths = document_paths(&document);
    assert!(
        !paths.iter().any(|p| p.starts_with("/api/campaign")),
        "{paths:?}"
    );
    assert!(!paths.contains("/metrics"));
    assert_eq!(paths, served_paths(&app.router().unwrap()));
    // Posting with a key: the drop's POST says so, its GET stays public.
    assert_eq!(
        document["paths"]["/"]["post"]["security"][0],
        serde_json::json!({"api_key": []})
    );
    assert!(document["paths"]["/"]["get"].get("security").is_none());
    assert_eq!(
        document["paths"]["/"]["post"]["responses"]["401"]["$ref"],
        "#/components/responses/Unauthenticated"
    );
}

/// Every `$ref` in `value`, with where it was found.
fn refs<'a>(value: &'a Value, at: &str, found: &mut Vec<(String, &'a str)>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                if key == "$ref" {
                    if let Some(target) = child.as_str() {
                        found.push((at.to_owned(), target));
                    }
                } else {
                    refs(child, &format!("{at}/{key}"), found);
                }
            }
        }
        Value::Array(items) => {
            for (i, child) in items.iter().enumerate() {
                refs(child, &format!("{at}/{i}"), found);
            }
        }
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_whole() {
    let dir = tempfile::tempdir().unwrap();
    let app = application(dir.path(), everything).await;
    let document = serde_json::to_value(app.openapi()).unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    assert_eq!(document["info"]["title"], "Portcullis");
    assert_eq!(document["servers"][0]["url"], "/");
    let all = operations(&document);
    assert!(all.len() >= 49, "{} operations", all.len());

    let mut ids = BTreeSet::new();
    for (method, path, operation) in &all {
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{method} {path} has no operationId");
        assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} has no success response"
        );
        for status in ["400", "408", "413", "429", "500", "503"] {
            assert!(
                responses.contains_key(status),
                "{method} {path} lacks {status}"
            );
        }
        if let Some(security) = operation.get("security") {
            assert!(responses.contains_key("401"), "{method} {path} lacks 401");
            assert!(responses.contains_key("403"), "{method} {path} lacks 403");
            if security[0] == serde_json::json!({"api_key": []}) {
                // Every credential the authenticator takes, as alternatives.
                assert_eq!(
                    security,
                    &serde_json::json!([
                        {"api_key": []},
                        {"bearer": []},
                        {"session_cookie": []},
                        {"signature": []},
                        {"x_token": [], "x_token_hash": []},
                    ]),
                    "{method} {path}"
                );
            }
        }
    }
    // Guarded routes say so; public ones do not.
    let security_of = |method: &str, path: &str| {
        all.iter()
            .find(|(m, p, _)| m == method && p == path)
            .map(|(_, _, op)| op.get("security").is_some())
    };
    assert_eq!(security_of("POST", "/api/keys"), Some(true));
    assert_eq!(security_of("GET", "/metrics"), Some(true));
    assert_eq!(security_of("GET", "/healthz"), Some(false));
    assert_eq!(security_of("POST", "/user/login"), Some(false));
    assert_eq!(security_of("GET", "/openapi.json"), Some(false));
    assert_eq!(security_of("POST", "/api/config"), Some(true));

    // Every reference points at something the document holds.
    let mut found = Vec::new();
    refs(&document, "", &mut found);
    assert!(found.len() > 100, "{} references", found.len());
    for (at, target) in found {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(
            document.pointer(pointer).is_some(),
            "{at} refers to {target}, which is not in the document"
        );
    }
    // The error shape, as every error body has it.
    assert_eq!(
        document["components"]["schemas"]["ErrorBody"]["required"],
        serde_json::json!(["error", "message"])
    );
    let schemes = document["components"]["securitySchemes"]
        .as_object()
        .unwrap();
    let names: Vec<_> = schemes.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "api_key",
            "bearer",
            "envelope",
            "session_cookie",
            "signature",
            "x_token",
            "x_token_hash"
        ]
    );
    assert_eq!(schemes["api_key"]["name"], "X-API-Key");
    assert_eq!(schemes["session_cookie"]["in"], "cookie");
    assert_eq!(schemes["session_cookie"]["name"], "portcullis_session");
}

#[tokio::test]
async fn served_without_a_key_and_the_same_as_built() {
    let app = spawn_app().await;
    let response = app.get("/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_hardened(&response);
    let served: Value = response.json().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let built = application(dir.path(), |_| {}).await;
    assert_eq!(served, serde_json::to_value(built.openapi()).unwrap());
    // Read-only: other methods are refused with the one allowed.
    let response = app.post("/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        response
            .headers()
            .get("allow")
            .and_then(|v| v.to_str().ok()),
        Some("GET,HEAD")
    );
}

#[tokio::test]
async fn turned_off_it_is_not_served() {
    let app = spawn_app_with(|s| s.openapi.enabled = false).await;
    assert_error(
        app.get("/openapi.json", None).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "Not found",
        "The requested resource does not exist",
    )
    .await;
}

#[tokio::test]
async fn under_a_base_url_the_server_is_named_and_paths_stay_relative() {
    let app = spawn_app_with(|s| {
        s.server.base_url = Some("https://api.example.com/portcullis".into());
    })
    .await;
    let response = app.get("/portcullis/openapi.json", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let document: Value = response.json().await.unwrap();
    assert_eq!(
        document["servers"],
        serde_json::json!([{"url": "https://api.example.com/portcullis"}])
    );
    assert!(document["paths"].get("/api/keys").is_some());
    assert!(document["paths"].get("/portcullis/api/keys").is_none());
    assert_eq!(
        app.get("/openapi.json", None).await.status(),
        StatusCode::NOT_FOUND
    );
}

#[test]
fn the_command_line_prints_the_document() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, stdout, stderr) = cli(dir.path(), &["openapi"]);
    assert!(ok, "{stderr}");
    let document: Value = serde_json::from_str(&stdout).expect("JSON on stdout");
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"].get("/api/keys").is_some());
    // It touched nothing where it ran: no data directory appeared.
    assert!(!dir.path().join("data").exists());
    let (ok, pretty, _) = cli(dir.path(), &["openapi", "--pretty"]);
    assert!(ok);
    assert!(
        pretty.starts_with("{\n  \"openapi\": \"3.1.0\""),
        "{}",
        &pretty[..40]
    );
    assert_eq!(serde_json::from_str::<Value>(&pretty).unwrap(), document);
}
