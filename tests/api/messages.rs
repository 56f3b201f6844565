//! The message drop (seed 004): one suite, run against SQLite, against Redis
//! (`PORTCULLIS_TEST_REDIS_URL`) and against PostgreSQL (`PORTCULLIS_TEST_POSTGRES_URL`);
//! where a URL is unset that run says so on stderr and passes (under CI it fails).

use crate::backends::{Backend, on};
use crate::engines::on_database;
use crate::helpers::*;
use crate::postgres::TestDatabase;
use portcullis::clock::Clock;
use portcullis::config::{Posting, Settings};
use portcullis::limits::RateSpec;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

/// A server on `backend` (a fresh Redis prefix per test), or `None` after saying so.
async fn app_on(
    backend: Backend,
    test: &str,
    configure: impl FnOnce(&mut Settings),
) -> Option<(TestApp, Store)> {
    let run = on(backend, test)?;
    let database = match backend {
        Backend::Postgres => Some(TestDatabase::create(test).await?),
        _ => None,
    };
    let store = match (&run.redis_url, &database) {
        (Some(url), _) => Store::Redis {
            url: url.clone(),
            prefix: run.prefix.clone(),
        },
        (None, Some(database)) => Store::Postgres {
            url: database.url.clone(),
        },
        (None, None) => Store::Sql,
    };
    let mut app = spawn_app_with(|s| {
        run.apply(s);
        if let Some(database) = &database {
            on_database(s, database);
        }
        s.messages.purge_interval = Duration::from_millis(100);
        configure(s);
    })
    .await;
    app.database = database;
    Some((app, store))
}

/// Where the messages of a test server are, to look behind the API.
enum Store {
    Sql,
    Postgres { url: String },
    Redis { url: String, prefix: String },
}

impl Store {
    /// Every stored message as raw bytes (all columns or fields).
    async fn dump(&self, app: &TestApp) -> Vec<Vec<u8>> {
        match self {
            Store::Sql => {
                let url = format!(
                    "sqlite://{}?mode=ro",
                    app.dir.path().join("data/portcullis.db").display()
                );
                let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                let rows: Vec<(String, Vec<u8>, String)> =
                    sqlx::query_as("SELECT lookup, sealed, delete_hash FROM messages")
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                pool.close().await;
                rows.into_iter()
                    .map(|(lookup, sealed, hash)| {
                        let mut all = lookup.into_bytes();
                        all.extend(sealed);
                        all.extend(hash.into_bytes());
                        all
                    })
                    .collect()
            }
            Store::Postgres { url } => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                let rows: Vec<(String, Vec<u8>, String)> =
                    sqlx::query_as("SELECT lookup, sealed, delete_hash FROM messages")
                        .fetch_all(&pool)
                        .await
                        .unwrap();
                pool.close().await;
                rows.into_iter()
                    .map(|(lookup, sealed, hash)| {
                        let mut all = lookup.into_bytes();
                        all.extend(sealed);
                        all.extend(hash.into_bytes());
                        all
                    })
                    .collect()
            }
            Store::Redis { url, prefix } => {
                let (mut connection, keys) = redis_message_keys(url, prefix).await;
                let mut all = Vec::new();
                for key in keys {
                    let fields: Vec<Vec<u8>> = redis::cmd("HGETALL")
                        .arg(&key)
                        .query_async(&mut connection)
                        .await
                        .unwrap();
                    let mut bytes = key.into_bytes();
                    bytes.extend(fields.concat());
                    all.push(bytes);
                }
                all
            }
        }
    }

    /// Delete every message behind the server's back.
    async fn delete_all_by_hand(&self, app: &TestApp) {
        match self {
            Store::Sql => {
                let url = format!(
                    "sqlite://{}",
                    app.dir.path().join("data/portcullis.db").display()
                );
                let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
                sqlx::query("DELETE FROM messages")
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
            Store::Postgres { url } => {
                let pool = sqlx::PgPool::connect(url).await.unwrap();
                sqlx::query("DELETE FROM messages")
                    .execute(&pool)
                    .await
                    .unwrap();
                pool.close().await;
            }
            Store::Redis { url, prefix } => {
                let (mut connection, keys) = redis_message_keys(url, prefix).await;
                for key in keys {
                    let _: i64 = redis::cmd("DEL")
                        .arg(&key)
                        .query_async(&mut connection)
                        .await
                        .unwrap();
                }
            }
        }
    }

    async fn count(&self, app: &TestApp) -> usize {
        self.dump(app).await.len()
    }
}

/// A connection to the test Redis and the keys of the messages stored under `prefix`.
async fn redis_message_keys(
    url: &str,
    prefix: &str,
) -> (redis::aio::MultiplexedConnection, Vec<String>) {
    let client = redis::Client::open(url).unwrap();
    let mut connection = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}msg:*"))
        .query_async(&mut connection)
        .await
        .unwrap();
    (connection, keys)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

async fn post_message(app: &TestApp, body: &Value) -> reqwest::Response {
    app.post_json("/", None, body).await
}

async fn create(app: &TestApp, body: Value) -> Value {
    let response = post_message(app, &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    response.json().await.unwrap()
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.replace_nanosecond(0)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap()
}

crate::on_each_store!(
    a_posted_message_is_read_back_by_its_url,
    burn_after_reading_gives_the_message_to_exactly_one_reader,
    a_message_is_gone_when_it_expires,
    lifetimes_outside_the_configured_range_are_refused,
    the_size_limit_is_64_kib_of_text,
    the_poster_deletes_with_the_token_and_nobody_else_can,
    unknown_and_malformed_ids_get_the_same_404,
    bad_input_gets_a_clear_4xx_and_stores_nothing,
    the_store_holds_neither_ids_nor_text,
    posting_can_require_a_key_with_messages_create,
    posting_is_rate_limited_per_address,
    a_full_drop_refuses_posts_until_messages_go,
    the_count_follows_messages_deleted_by_hand,
    posts_have_their_own_default_limit_apart_from_reads,
);

async fn a_posted_message_is_read_back_by_its_url(backend: Backend) {
    let Some((app, store)) = app_on(backend, "read back", |_| {}).await else {
        return;
    };
    let now = app.clock.now();
    let response = post_message(&app, &json!({"message": "Hello, world"})).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_hardened(&response);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    let token = created["delete_token"].as_str().unwrap().to_owned();
    assert_eq!(
        created,
        json!({
            "id": id,
            "url": format!("/msg/{id}"),
            "created_at": rfc3339(now),
            "expires_at": rfc3339(now + Duration::from_secs(86_400)),
            "burn_after_reading": false,
            "delete_token": token,
            "delete_url": format!("/msg/{id}/delete"),
        })
    );
    assert_eq!(location, format!("/msg/{id}"));
    // A UUID4 in canonical form; a 256-bit delete token.
    let parsed = uuid::Uuid::parse_str(&id).unwrap();
    assert_eq!(parsed.get_version_num(), 4);
    assert_eq!(parsed.hyphenated().to_string(), id);
    assert_eq!(token.len(), 43);
    assert_eq!(store.count(&app).await, 1);

    for _ in 0..2 {
        let response = app.get(&format!("/msg/{id}"), None).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_hardened(&response);
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body,
            json!({
                "id": id,
                "message": "Hello, world",
                "created_at": rfc3339(now),
                "expires_at": rfc3339(now + Duration::from_secs(86_400)),
                "burn_after_reading": false,
            })
        );
    }
    // Ids are not sequential or related.
    let second = create(&app, json!({"message": "again"})).await;
    assert_ne!(second["id"], id);
    // `GET /` describes the service.
    let response = app.get("/", None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["posting"], "open");
    assert_eq!(body["max_message_bytes"], 65536);
    assert_eq!(body["default_expires_in"], "1day");
    assert_eq!(body["max_expires_in"], "7days");
}

async fn burn_after_reading_gives_the_message_to_exactly_one_reader(backend: Backend) {
    let Some((app, store)) = app_on(backend, "burn after reading", |s| {
        s.limits.enabled = false;
    })
    .await
    else {
        return;
    };
    let created = create(
        &app,
        json!({"message": "read me once", "burn_after_reading": true}),
    )
    .await;
    assert_eq!(created["burn_after_reading"], true);
    let path = format!("/msg/{}", created["id"].as_str().unwrap());
    let response = app.get(&path, None).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["message"], "read me once");
    assert_eq!(body["burn_after_reading"], true);
    assert_eq!(store.count(&app).await, 0);
    assert_error(
        app.get(&path, None).await,
        StatusCode::NOT_FOUND,
        "not_found",
        "Not found",
        "The requested resource does not exist",
    )
    .await;

    // Many readers at once: exactly one gets it, every time.
    for round in 0..5 {
        let created = create(
            &app,
            json!({"message": format!("race {round}"), "burn_after_reading": true}),
        )
        .await;
        let url = app.url(&format!("/msg/{}", created["id"].as_str().unwrap()));
        let readers = (0..16).map(|_| {
            let client = app.client.clone();
            let url = url.clone();
            tokio::spawn(async move { client.get(url).send().await.unwrap().status() })
        });
        let mut statuses = Vec::new();
        for reader in readers {
            statuses.push(reader.await.unwrap());
        }
        let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
        let gone = statuses
            .iter()
            .filter(|s| **s == StatusCode::NOT_FOUND)
            .count();
        assert_eq!((ok, gone), (1, 15), "round {round}: {statuses:?}");
    }
}

async fn a_message_is_gone_when_it_expires(backend: Backend) {
    let Some((app, store)) = app_on(backend, "expiry", |_| {}).await else {
        return;
    };
    let now = app.clock.now();
    let posted = std::time::Instant::now();
    let hour = create(&app, json!({"message": "an hour", "expires_in": "1h"})).await;
    assert_eq!(hour["expires_at"], rfc3339(now + Duration::from_secs(3600)));
    let seconds = create(&app, json!({"message": "90 s", "expires_in": 90})).await;
    assert_eq!(
        seconds["expires_at"],
        rfc3339(now + Duration::from_secs(90))
    );
    let day = create(&app, json!({"message": "a day"})).await;
    let read = |v: &Value| format!("/msg/{}", v["id"].as_str().unwrap());

    app.clock.advance(Duration::from_secs(89));
    assert_eq!(
        app.get(&read(&seconds), None).await.status(),
        StatusCode::OK
    );
    app.clock.advance(Duration::from_secs(1));
    assert_eq!(
        app.get(&read(&seconds), None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(&read(&hour), None).await.status(), StatusCode::OK);
    app.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        app.get(&read(&hour), None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get(&read(&day), None).await.status(), StatusCode::OK);

    match backend {
        // Expired rows are purged from the SQL store.
        Backend::Local | Backend::Postgres => {
            let deadline = std::time::Instant::now() + Duration::from_secs(10);
            while store.count(&app).await != 1 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "expired rows not purged"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        // Redis keys carry a TTL that ends with the message.
        Backend::Redis => {
            let Store::Redis { url, prefix } = &store else {
                unreachable!()
            };
            let (mut connection, keys) = redis_message_keys(url, prefix).await;
            assert_eq!(keys.len(), 3);
            let mut ttls = Vec::new();
            for key in keys {
                let ttl: i64 = redis::cmd("TTL")
                    .arg(&key)
                    .query_async(&mut connection)
                    .await
                    .unwrap();
                ttls.push(ttl);
            }
            ttls.sort_unstable();
            // Each TTL is its lifetime less the (real) time since posting, whole seconds.
            let elapsed = i64::try_from(posted.elapsed().as_secs()).unwrap() + 1;
            for (ttl, lifetime) in ttls.iter().zip([90, 3600, 86_400]) {
                assert!(
                    *ttl <= lifetime && *ttl >= lifetime - elapsed,
                    "{ttls:?}, {elapsed} s after posting"
                );
            }
        }
    }
}

async fn lifetimes_outside_the_configured_range_are_refused(backend: Backend) {
    let Some((app, store)) = app_on(backend, "lifetimes", |s| {
        s.messages.max_expires_in = Duration::from_secs(2 * 86_400);
        s.messages.default_expires_in = Duration::from_secs(3600);
    })
    .await
    else {
        return;
    };
    for expires_in in [json!("3d"), json!(172_801), json!("0s"), json!(0)] {
        assert_error(
            post_message(&app, &json!({"message": "x", "expires_in": expires_in})).await,
            StatusCode::BAD_REQUEST,
            "request.invalid",
            "Bad request",
            "expires_in must be between 1s and 2days",
        )
        .await;
    }
    for expires_in in [
        json!("soon"),
        json!(-5),
        json!(1.5),
        json!(""),
        json!("18446744073709551615s 1000000000ns"),
        json!("10ms"),
    ] {
        let response = post_message(&app, &json!({"message": "x", "expires_in": expires_in})).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{expires_in}");
    }
    assert_eq!(store.count(&app).await, 0);
    let exactly_max = create(&app, json!({"message": "x", "expires_in": "2d"})).await;
    let default = create(&app, json!({"message": "x"})).await;
    let at = |v: &Value| {
        time::OffsetDateTime::parse(
            v["expires_at"].as_str().unwrap(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap()
    };
    assert_eq!(at(&exactly_max) - at(&default), time::Duration::hours(47));
}

async fn the_size_limit_is_64_kib_of_text(backend: Backend) {
    let Some((app, store)) = app_on(backend, "size limit", |_| {}).await else {
        return;
    };
    // 65,536 bytes of UTF-8 (multi-byte characters count as their bytes).
    let exactly = "é".repeat(32 * 1024);
    let created = create(&app, json!({"message": exactly})).await;
    let body: Value = app
        .get(&format!("/msg/{}", created["id"].as_str().unwrap()), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["message"].as_str().unwrap(), exactly);
    assert_error(
        post_message(&app, &json!({"message": format!("{exactly}x")})).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "request.too_large",
        "Payload too large",
        "The message exceeds 65536 bytes",
    )
    .await;
    // A body beyond the server's body limit is cut off while it streams in.
    assert_error(
        post_message(&app, &json!({"message": "x".repeat(2 * 1024 * 1024)})).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "request.too_large",
        "Payload too large",
        "The request body exceeds the size limit",
    )
    .await;
    assert_eq!(store.count(&app).await, 1);
}

async fn the_poster_deletes_with_the_token_and_nobody_else_can(backend: Backend) {
    let Some((app, store)) = app_on(backend, "delete", |_| {}).await else {
        return;
    };
    let created = create(&app, json!({"message": "regrettable"})).await;
    let other = create(&app, json!({"message": "someone else's"})).await;
    let id = created["id"].as_str().unwrap();
    let token = created["delete_token"].as_str().unwrap();
    let delete = format!("/msg/{id}/delete");
    // Someone else's token, a near miss, an empty one: all 404, nothing deleted.
    let mut near = token.to_owned();
    near.replace_range(..1, if token.starts_with('A') { "B" } else { "A" });
    for wrong in [other["delete_token"].as_str().unwrap(), near.as_str(), ""] {
        assert_error(
            app.post_json(&delete, None, &json!({"delete_token": wrong}))
                .await,
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "The requested resource does not exist",
        )
        .await;
    }
    // The token of one message does not delete another.
    assert_eq!(
        app.post_json(
            &format!("/msg/{}/delete", other["id"].as_str().unwrap()),
            None,
            &json!({"delete_token": token})
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(store.count(&app).await, 2);
    let response = app
        .post_json(&delete, None, &json!({"delete_token": token}))
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_hardened(&response);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"deleted": true})
    );
    assert_eq!(
        app.get(&format!("/msg/{id}"), None).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.post_json(&delete, None, &json!({"delete_token": token}))
            .await
            .status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(store.count(&app).await, 1);
}

async fn unknown_and_malformed_ids_get_the_same_404(backend: Backend) {
    let Some((app, _store)) = app_on(backend, "unknown ids", |s| {
        s.limits.enabled = false;
    })
    .await
    else {
        return;
    };
    let created = create(&app, json!({"message": "x"})).await;
    let id = created["id"].as_str().unwrap();
    let unknown = uuid::Uuid::new_v4().to_string();
    for path in [
        format!("/msg/{unknown}"),
        format!("/msg/{}", id.to_uppercase()),
        format!("/msg/{}", id.replace('-', "")),
        format!("/msg/{id}x"),
        format!("/msg/{}", &id[..35]),
        "/msg/00000000-0000-0000-0000-000000000000".to_owned(),
        "/msg/..%2f..%2fetc%2fpasswd".to_owned(),
        "/msg/%00".to_owned(),
        "/msg/%FF".to_owned(),
        "/msg/%C0%AF".to_owned(),
        format!("/msg/{}", "a".repeat(4000)),
        "/msg/".to_owned(),
        format!("/msg/{id}/"),
        format!("/msg/{id}/extra"),
    ] {
        let response = app.get(&path, None).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert_hardened(&response);
        assert_eq!(
            response.json::<Value>().await.unwrap(),
            json!({"error": "Not found", "message": "The requested resource does not exist"}),
            "{path}"
        );
    }
    // The real one is still there.
    assert_eq!(
        app.get(&format!("/msg/{id}"), None).await.status(),
        StatusCode::OK
    );
}

async fn bad_input_gets_a_clear_4xx_and_stores_nothing(backend: Backend) {
    let Some((app, store)) = app_on(backend, "bad input", |s| {
        s.limits.enabled = false;
    })
    .await
    else {
        return;
    };
    let raw = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_error(
        raw("{\"message\": ", "application/json").await.unwrap(),
        StatusCode::BAD_REQUEST,
        "request.invalid",
        "Bad request",
        "The body is not valid JSON",
    )
    .await;
    assert_error(
        raw("message=hi", "application/x-www-form-urlencoded")
            .await
            .unwrap(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "request.media_type",
        "Unsupported media type",
        "Send the body as application/json",
    )
    .await;
    for body in [
        json!({}),
        json!({"message": 42}),
        json!({"message": null}),
        json!({"message": ["a"]}),
        json!({"message": "x", "burn_after_reading": "yes"}),
        json!({"message": "x", "admin": true}),
        json!(["message"]),
    ] {
        let response = post_message(&app, &body).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "Bad request", "{body}");
    }
    assert_error(
        post_message(&app, &json!({"message": ""})).await,
        StatusCode::BAD_REQUEST,
        "request.invalid",
        "Bad request",
        "The message must not be empty",
    )
    .await;
    // Methods outside the seed's allow list: 405 with Allow, HEAD and OPTIONS included.
    let id = uuid::Uuid::new_v4();
    for (path, allow, methods) in [
        (
            "/".to_owned(),
            "GET, POST",
            &["PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"][..],
        ),
        (
            format!("/msg/{id}"),
            "GET",
            &["POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"][..],
        ),
        (
            format!("/msg/{id}/delete"),
            "POST",
            &["GET", "PUT", "DELETE"][..],
        ),
    ] {
        for method in methods {
            let response = app
                .client
                .request(method.parse().unwrap(), app.url(&path))
                .send()
                .await
                .unwrap();
            assert_eq!(
                response.status(),
                StatusCode::METHOD_NOT_ALLOWED,
                "{method} {path}"
            );
            assert_eq!(response.headers()["allow"], allow, "{method} {path}");
            if *method != "HEAD" {
                assert_error(
                    response,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "method_not_allowed",
                    "Method not allowed",
                    "This method is not allowed on this resource; see the Allow header",
                )
                .await;
            }
        }
    }
    // Deleting needs a JSON body with the token.
    assert_eq!(
        app.post_json(&format!("/msg/{id}/delete"), None, &json!({}))
            .await
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(store.count(&app).await, 0);
}

async fn the_store_holds_neither_ids_nor_text(backend: Backend) {
    let Some((app, store)) = app_on(backend, "encrypted at rest", |_| {}).await else {
        return;
    };
    let text = "the launch code is 0000-swordfish";
    let created = create(&app, json!({"message": text})).await;
    let id = created["id"].as_str().unwrap();
    let token = created["delete_token"].as_str().unwrap();
    let rows = store.dump(&app).await;
    assert_eq!(rows.len(), 1);
    for needle in [text, "swordfish", id, &id.replace('-', ""), token] {
        assert!(!contains(&rows[0], needle), "{needle} is stored in clear");
    }
    if let Backend::Local | Backend::Postgres = backend {
        let files = String::from_utf8_lossy(&app.stored_bytes().await).into_owned()
            + &all_text_under(&app.dir.path().join("data"));
        assert!(!files.contains("swordfish"));
        assert!(!files.contains(id));
    }
    // And it still reads back.
    let body: Value = app
        .get(&format!("/msg/{id}"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(body["message"], text);
}

async fn posting_can_require_a_key_with_messages_create(backend: Backend) {
    let Some((app, store)) = app_on(backend, "keyed posting", |s| {
        s.messages.posting = Posting::Key;
    })
    .await
    else {
        return;
    };
    let body = json!({"message": "members only"});
    assert_401(post_message(&app, &body).await).await;
    let device = app.key_with_role("device").await;
    assert_error(
        app.post_json("/", Some(&device.key), &body).await,
        StatusCode::FORBIDDEN,
        "auth.forbidden",
        "Insufficient permissions",
        "User role required",
    )
    .await;
    assert_eq!(store.count(&app).await, 0);
    let user = app.key_with_role("user").await;
    let response = app.post_json("/", Some(&user.key), &body).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    let created: Value = response.json().await.unwrap();
    // Reading stays public to whoever holds the URL.
    let read = app
        .get(&format!("/msg/{}", created["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(read.status(), StatusCode::OK);
    let described: Value = app.get("/", None).await.json().await.unwrap();
    assert_eq!(described["posting"], "key");
    // whoami lists the permission for users.
    let me: Value = app.whoami(Some(&user.key)).await.json().await.unwrap();
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .contains(&json!("messages.create"))
    );
}

async fn posting_is_rate_limited_per_address(backend: Backend) {
    let Some((app, store)) = app_on(backend, "posting rate", |s| {
        s.limits.per_address = RateSpec::parse("3/min").unwrap();
    })
    .await
    else {
        return;
    };
    for _ in 0..3 {
        create(&app, json!({"message": "flood"})).await;
    }
    let response = post_message(&app, &json!({"message": "flood"})).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert_error(
        response,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        "Too many requests",
        "Rate limit exceeded; retry later",
    )
    .await;
    assert_eq!(store.count(&app).await, 3);
    // Reading counts against the same address budget: guessing ids is throttled too.
    assert_eq!(
        app.get(&format!("/msg/{}", uuid::Uuid::new_v4()), None)
            .await
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn redis_that_accepts_but_never_answers_is_a_503_within_2_s() {
    // A server that takes connections and says nothing: the worst Redis to wait for.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("redis://{}", silent.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming() {
            held.push(stream);
        }
    });
    let app = spawn_app_with(|s| s.storage.redis_url = Some(url)).await;
    for _ in 0..2 {
        let started = std::time::Instant::now();
        let response = post_message(&app, &json!({"message": "x"})).await;
        let waited = started.elapsed();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            waited <= Duration::from_millis(2500),
            "the README promises 503 within 2 s; waited {waited:?}"
        );
    }
}

#[tokio::test]
async fn redis_that_does_not_answer_is_a_503_not_a_hang() {
    let app = spawn_app_with(|s| {
        s.storage.redis_url = Some("redis://127.0.0.1:1".to_owned());
    })
    .await;
    let started = std::time::Instant::now();
    let response = post_message(&app, &json!({"message": "x"})).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "Service Unavailable");
    assert!(
        started.elapsed() <= Duration::from_millis(2500),
        "the README promises 503 within 2 s; waited {:?}",
        started.elapsed()
    );
    assert_eq!(
        app.get(&format!("/msg/{}", uuid::Uuid::new_v4()), None)
            .await
            .status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

async fn a_full_drop_refuses_posts_until_messages_go(backend: Backend) {
    let Some((app, store)) = app_on(backend, "full drop", |s| {
        s.messages.max_live = 3;
        s.limits.enabled = false;
    })
    .await
    else {
        return;
    };
    let burn = create(&app, json!({"message": "a", "burn_after_reading": true})).await;
    let short = create(&app, json!({"message": "b", "expires_in": 60})).await;
    let kept = create(&app, json!({"message": "c"})).await;
    let refused = post_message(&app, &json!({"message": "d"})).await;
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "60");
    assert_eq!(refused.headers()["x-error-code"], "messages.full");
    assert_error(
        refused,
        StatusCode::SERVICE_UNAVAILABLE,
        "messages.full",
        "Service unavailable",
        "The message drop is full; try again later",
    )
    .await;
    assert_eq!(store.count(&app).await, 3);

    // A burned message frees its place...
    let path = format!("/msg/{}", burn["id"].as_str().unwrap());
    assert_eq!(app.get(&path, None).await.status(), StatusCode::OK);
    let fourth = create(&app, json!({"message": "d"})).await;
    assert_eq!(
        post_message(&app, &json!({"message": "e"})).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // ...so does a deleted one...
    let delete = format!("/msg/{}/delete", kept["id"].as_str().unwrap());
    let response = app
        .post_json(
            &delete,
            None,
            &json!({"delete_token": kept["delete_token"]}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    create(&app, json!({"message": "e"})).await;
    assert_eq!(
        post_message(&app, &json!({"message": "f"})).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // ...and an expired one (on SQL once the purge has run).
    app.clock.advance(Duration::from_secs(61));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let response = post_message(&app, &json!({"message": "f"})).await;
        if response.status() == StatusCode::CREATED {
            break;
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(
            std::time::Instant::now() < deadline,
            "the expired message kept its place"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = (short, fourth);
    assert_eq!(
        post_message(&app, &json!({"message": "g"})).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

async fn the_count_follows_messages_deleted_by_hand(backend: Backend) {
    let Some((app, store)) = app_on(backend, "hand delete", |s| s.messages.max_live = 2).await
    else {
        return;
    };
    create(&app, json!({"message": "a"})).await;
    create(&app, json!({"message": "b"})).await;
    assert_eq!(
        post_message(&app, &json!({"message": "c"})).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    // An operator clears the store behind the server's back (or Redis evicts).
    store.delete_all_by_hand(&app).await;
    assert_eq!(store.count(&app).await, 0);
    // SQL counts by trigger at once; Redis notices at its next purge (every 100 ms here).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while post_message(&app, &json!({"message": "c"})).await.status() != StatusCode::CREATED {
        assert!(
            std::time::Instant::now() < deadline,
            "the count never followed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    create(&app, json!({"message": "d"})).await;
    assert_eq!(
        post_message(&app, &json!({"message": "e"})).await.status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
}

async fn posts_have_their_own_default_limit_apart_from_reads(backend: Backend) {
    let Some((app, _store)) = app_on(backend, "post limit", |s| {
        s.limits.per_address = RateSpec::parse("6000/min burst 1000").unwrap();
    })
    .await
    else {
        return;
    };
    // The default `message_posts` group: 100/hour, burst 20.
    let mut last = Value::Null;
    for _ in 0..20 {
        last = create(&app, json!({"message": "x"})).await;
    }
    let refused = post_message(&app, &json!({"message": "x"})).await;
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.headers()["ratelimit-policy"],
        "\"message_posts\";q=100;w=3600"
    );
    // Reading is not held back by posting.
    let read = app
        .get(&format!("/msg/{}", last["id"].as_str().unwrap()), None)
        .await;
    assert_eq!(read.status(), StatusCode::OK);
}
