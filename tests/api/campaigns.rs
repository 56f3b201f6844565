//! The SMS campaign manager (seed 000) through HTTP, against stand-in phones for both
//! gateway drivers, on SQLite and on PostgreSQL: the routes and their roles, per-owner data,
//! the state machine, uploads and their report, the phone's reports and signed webhooks,
//! STOP replies, retries, a phone that goes away, a phone that already knows a message.

use crate::engines::{Engine, spawn_on};
use crate::helpers::*;
use crate::phones::{Api, DEVICE_KEY, PASSWORD, Phone, USERNAME};
use portcullis::config::{GatewayKind, Settings};
use portcullis::limits::RateSpec;
use portcullis::secret::SecretString;
use portcullis::services::campaigns::webhook;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

pub const WEBHOOK_SECRET: &str = "webhook-secret-of-the-phone";

/// Point `settings` at `phone`, sending as fast as it likes.
pub fn with_phone(s: &mut Settings, phone: &Phone) {
    s.sms.device_url = Some(phone.url.clone());
    s.sms.default_region = Some("US".into());
    s.sms.webhook_secret = Some(SecretString::new(WEBHOOK_SECRET.into()));
    s.sms.rate = RateSpec::parse("1000/s burst 1000").unwrap();
    s.sms.device_rate = RateSpec::parse("1000/s burst 1000").unwrap();
    s.sms.send_timeout = Duration::from_secs(1);
    s.sms.lease = Duration::from_secs(2);
    match phone.api {
        Api::Android => {
            s.sms.gateway = GatewayKind::AndroidSmsGateway;
            s.sms.username = Some(USERNAME.into());
            s.sms.password = Some(SecretString::new(PASSWORD.into()));
        }
        Api::Termux => {
            s.sms.gateway = GatewayKind::Termux;
            s.sms.device_key = Some(SecretString::new(DEVICE_KEY.into()));
        }
    }
}

async fn app_with(
    engine: Engine,
    api: Api,
    test: &str,
    configure: impl FnOnce(&mut Settings),
) -> Option<(TestApp, Phone)> {
    let phone = Phone::start(api).await;
    let app = spawn_on(engine, test, |s| {
        with_phone(s, &phone);
        configure(s);
    })
    .await?;
    Some((app, phone))
}

/// A valid US number (555-01xx: fictional, valid in the plan).
pub fn number(n: u32) -> String {
    format!("+1202555{:04}", 100 + n)
}

/// A multipart/form-data body of `parts` (`(name, filename, bytes)`).
pub fn multipart(parts: &[(&str, Option<&str>, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----portcullis-test-boundary";
    let mut body = Vec::new();
    for (name, filename, bytes) in parts {
        body.extend(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(file) => body.extend(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{file}\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
            ),
            None => body.extend(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        body.extend(*bytes);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

impl TestApp {
    pub async fn post_campaign(&self, key: &str, body: Value) -> Value {
        let response = self
            .post_json("/api/campaign/create", Some(key), &body)
            .await;
        assert_eq!(response.status(), StatusCode::CREATED);
        response.json().await.unwrap()
    }

    pub async fn upload_recipients(
        &self,
        key: &str,
        campaign: &str,
        csv: &[u8],
    ) -> reqwest::Response {
        let (content_type, body) = multipart(&[
            ("campaign_id", None, campaign.as_bytes()),
            ("file", Some("list.csv"), csv),
        ]);
        self.client
            .post(self.url("/api/campaign/upload"))
            .header("x-api-key", key)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn campaign_action(&self, key: &str, action: &str, id: &str) -> reqwest::Response {
        self.post_json(
            &format!("/api/campaign/{action}"),
            Some(key),
            &json!({"id": id}),
        )
        .await
    }

    pub async fn campaign_status(&self, key: &str, id: &str) -> Value {
        let response = self
            .get(&format!("/api/campaign/status?id={id}"), Some(key))
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// Wait until the campaign's status satisfies `done`.
    pub async fn wait_for_status(
        &self,
        key: &str,
        id: &str,
        done: impl Fn(&Value) -> bool,
    ) -> Value {
        let started = std::time::Instant::now();
        loop {
            let status = self.campaign_status(key, id).await;
            if done(&status) {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "campaign status: {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A signed webhook from the phone.
    pub async fn webhook(&self, body: &Value, at: i64) -> reqwest::Response {
        let body = body.to_string();
        let timestamp = at.to_string();
        let signature = webhook::sign(WEBHOOK_SECRET.as_bytes(), body.as_bytes(), &timestamp);
        self.client
            .post(self.url("/api/device/webhook"))
            .header("content-type", "application/json")
            .header("x-signature", signature)
            .header("x-timestamp", timestamp)
            .body(body)
            .send()
            .await
            .unwrap()
    }
}

fn now(app: &TestApp) -> i64 {
    use portcullis::clock::Clock;
    app.clock.unix()
}

crate::on_each_engine!(
    a_campaign_goes_from_upload_to_delivered_through_the_android_phone,
    the_upload_report_names_each_bad_line_and_counts_repeats,
    each_owner_sees_only_its_own_campaigns_and_admins_see_all,
    impossible_moves_are_409_and_pausing_stops_new_sends,
    refused_messages_are_retried_with_back_off_then_failed_with_the_reason,
    a_phone_that_goes_away_pauses_sending_without_spending_attempts,
    a_resend_of_a_message_the_phone_knows_records_its_state_without_sending_twice,
    a_stop_reply_suppresses_the_number_for_every_owner,
    the_termux_phone_sends_with_the_device_key_and_reports_with_the_device_role,
    single_messages_database_stats_and_reset,
);

async fn a_campaign_goes_from_upload_to_delivered_through_the_android_phone(engine: Engine) {
    let Some((app, phone)) = app_with(engine, Api::Android, "campaign to delivered", |_| {}).await
    else {
        return;
    };
    let user = app.key_with_role("user").await;
    let campaign = app
        .post_campaign(
            &user.key,
            json!({"name": "Spring fair", "message": "Hi {name}, see you at the fair!"}),
        )
        .await;
    assert_eq!(campaign["state"], "draft");
    assert_eq!(campaign["encoding"], "GSM-7");
    assert_eq!(campaign["segments"], 1);
    assert_eq!(campaign["rate"], "1000/s");
    let id = campaign["id"].as_str().unwrap();
    let csv = format!("name,phone\nAna,{}\nBo,{}\n", number(1), number(2));
    let report: Value = app
        .upload_recipients(&user.key, id, csv.as_bytes())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(report["accepted"], 2, "{report}");
    assert_eq!(
        app.campaign_action(&user.key, "start", id).await.status(),
        StatusCode::OK
    );
    let received = phone.wait_for(2, Duration::from_secs(10)).await;
    let mut texts: Vec<_> = received
        .iter()
        .map(|r| (r.phone.clone(), r.text.clone()))
        .collect();
    texts.sort();
    assert_eq!(
        texts,
        [
            (number(1), "Hi Ana, see you at the fair!".to_owned()),
            (number(2), "Hi Bo, see you at the fair!".to_owned()),
        ]
    );
    let status = app
        .wait_for_status(&user.key, id, |s| s["state"] == "completed")
        .await;
    assert_eq!(status["counts"]["sent"], 2);
    assert_eq!(status["progress"], 1.0);
    // The phone's delivery report, signed; a repeat is applied once.
    let delivered = json!({"deviceId": "d1", "event": "sms:delivered", "id": "evt-1", "webhookId": "w",
                           "payload": {"messageId": received[0].id, "phoneNumber": received[0].phone}});
    let first: Value = app
        .webhook(&delivered, now(&app))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(first["applied"], true);
    let again: Value = app
        .webhook(&delivered, now(&app))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["applied"], false);
    let status = app.campaign_status(&user.key, id).await;
    assert_eq!(
        (
            status["counts"]["delivered"].as_i64(),
            status["counts"]["sent"].as_i64()
        ),
        (Some(1), Some(1))
    );
    // A webhook that is not the phone's changes nothing.
    let forged =
        json!({"event": "sms:failed", "id": "evt-2", "payload": {"messageId": received[1].id}});
    let response = app
        .client
        .post(app.url("/api/device/webhook"))
        .header("x-signature", "00".repeat(32))
        .header("x-timestamp", now(&app).to_string())
        .body(forged.to_string())
        .send()
        .await
        .unwrap();
    assert_error(
        response,
        StatusCode::UNAUTHORIZED,
        "device.webhook",
        "Authentication required",
        "the webhook's signature does not verify",
    )
    .await;
    let stale = app.webhook(&forged, now(&app) - 301).await;
    assert_error(
        stale,
        StatusCode::UNAUTHORIZED,
        "device.webhook",
        "Authentication required",
        "the webhook's timestamp is not within five minutes of the server's clock",
    )
    .await;
    assert_eq!(
        app.campaign_status(&user.key, id).await["counts"]["failed"],
        0
    );
    // The export has every recipient with its state.
    let export = app
        .get(&format!("/api/campaign/export?id={id}"), Some(&user.key))
        .await;
    assert_eq!(export.status(), StatusCode::OK);
    assert_eq!(export.headers()["content-type"], "text/csv; charset=utf-8");
    let text = export.text().await.unwrap();
    assert!(
        text.starts_with("phone,state,attempts,error,sent_at,delivered_at,name\n"),
        "{text}"
    );
    assert!(text.contains(&format!("'{},", number(1))), "{text}");
}

async fn the_upload_report_names_each_bad_line_and_counts_repeats(engine: Engine) {
    let Some((app, _phone)) = app_with(engine, Api::Android, "upload report", |s| {
        s.sms.max_rows = 10;
        s.sms.max_upload_bytes = 4096;
    })
    .await
    else {
        return;
    };
    let user = app.key_with_role("user").await;
    let campaign = app
        .post_campaign(&user.key, json!({"name": "c", "message": "Hello {first}"}))
        .await;
    let id = campaign["id"].as_str().unwrap();
    let csv = format!(
        "First,Phone,Note\nAna,{a},=HYPERLINK(\"http://evil\")\nBo,+1234567890,x\nCy,(202) 555-0101,dup\nDi,call me,x\nEd,{c},@SUM(A1)\n",
        a = number(1),
        c = number(3)
    );
    let report: Value = app
        .upload_recipients(&user.key, id, csv.as_bytes())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        report,
        json!({
            "accepted": 2,
            "rejected": [
                {"line": 3, "reason": "+1234567890 is not a valid number in the numbering plan of country code +1", "column": "Phone"},
                {"line": 5, "reason": "a phone number holds only digits, a leading +, spaces, dashes, dots and brackets", "column": "Phone"},
            ],
            "duplicates": 1,
            "suppressed": 0,
            "rejected_count": 2,
        })
    );
    // Uploading the same numbers again: duplicates of the campaign's.
    let again: Value = app
        .upload_recipients(&user.key, id, csv.as_bytes())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(3))
    );
    assert_eq!(
        app.campaign_status(&user.key, id).await["counts"]["duplicate"],
        4
    );
    // Hostile cells are neutralised in the export, and the export reads back as the same
    // numbers.
    let export = app
        .get(&format!("/api/campaign/export?id={id}"), Some(&user.key))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        export.contains("\"'=HYPERLINK(\"\"http://evil\"\")\""),
        "{export}"
    );
    assert!(export.contains("'@SUM(A1)"), "{export}");
    let other = app
        .post_campaign(&user.key, json!({"name": "d", "message": "Hello {first}"}))
        .await;
    let back: Value = app
        .upload_recipients(&user.key, other["id"].as_str().unwrap(), export.as_bytes())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(back["accepted"], 2, "{back}");
    // Files that cannot be read are refused whole, with the line.
    let refusals: [(&[u8], StatusCode, &str); 5] = [
        (
            b"phone,first\n+12025550101,\xff\xfe\n",
            StatusCode::BAD_REQUEST,
            "line 2 is not UTF-8 text; save the file as UTF-8 CSV",
        ),
        (
            b"phone,first\n+12025550101\n",
            StatusCode::BAD_REQUEST,
            "line 2: 1 fields where the header has 2",
        ),
        (
            b"name,email\na,b\n",
            StatusCode::BAD_REQUEST,
            "no phone column: name one of phone, phone_number, mobile or number",
        ),
        (
            b"phone,last\n+12025550101,x\n",
            StatusCode::BAD_REQUEST,
            "the message uses {first}, which is not a column of this file (its columns: phone, last)",
        ),
        (
            b"phone,first\n1,a\n2,a\n3,a\n4,a\n5,a\n6,a\n7,a\n8,a\n9,a\n10,a\n11,a\n",
            StatusCode::BAD_REQUEST,
            "the file has more than 10 rows",
        ),
    ];
    for (file, status, message) in refusals {
        let response = app.upload_recipients(&user.key, id, file).await;
        assert_error(response, status, "request.invalid", "Bad request", message).await;
    }
    let big = vec![b'a'; 5000];
    let response = app.upload_recipients(&user.key, id, &big).await;
    assert_error_code(response, StatusCode::PAYLOAD_TOO_LARGE, "request.too_large").await;
    // Not multipart at all.
    let response = app
        .post_json(
            "/api/campaign/upload",
            Some(&user.key),
            &json!({"file": "x"}),
        )
        .await;
    assert_error(
        response,
        StatusCode::BAD_REQUEST,
        "request.invalid",
        "Bad request",
        "Send multipart/form-data with a campaign_id part and a file part",
    )
    .await;
    // Nothing of the refused uploads was stored.
    assert_eq!(app.campaign_status(&user.key, id).await["total"], 2);
    // The address book: upserted by number.
    let (content_type, body) = multipart(&[(
        "file",
        Some("c.csv"),
        format!("mobile,name\n{},Ana\n{},Ana again\n", number(1), number(1)).as_bytes(),
    )]);
    let contacts: Value = app
        .client
        .post(app.url("/api/csv/upload"))
        .header("x-api-key", &user.key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            contacts["accepted"].as_u64(),
            contacts["duplicates"].as_u64()
        ),
        (Some(1), Some(1))
    );
    let stats: Value = app
        .get("/api/database/stats", Some(&user.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats["contacts"], 1);
}

async fn each_owner_sees_only_its_own_campaigns_and_admins_see_all(engine: Engine) {
    let Some((app, _phone)) = app_with(engine, Api::Android, "per owner", |_| {}).await else {
        return;
    };
    let alice = app
        .create_key(json!({"owner": "alice", "role": "user"}))
        .await;
    let bob = app
        .create_key(json!({"owner": "bob", "role": "user"}))
        .await;
    let campaign = app
        .post_campaign(&alice.key, json!({"name": "alice's", "message": "hi"}))
        .await;
    let id = campaign["id"].as_str().unwrap();
    assert!(
        campaign.get("owner").is_none(),
        "a user's view carries no owner"
    );
    let csv = format!("phone\n{}\n", number(1));
    assert_eq!(
        app.upload_recipients(&alice.key, id, csv.as_bytes())
            .await
            .status(),
        StatusCode::OK
    );
    // Bob: every route on alice's id answers 404, as for an id that does not exist.
    for path in [
        format!("/api/campaign/status?id={id}"),
        format!("/api/campaign/export?id={id}"),
    ] {
        assert_error(
            app.get(&path, Some(&bob.key)).await,
            StatusCode::NOT_FOUND,
            "not_found",
            "Not found",
            "The requested resource does not exist",
        )
        .await;
    }
    for action in ["start", "pause", "resume", "cancel"] {
        assert_error_code(
            app.campaign_action(&bob.key, action, id).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    assert_error_code(
        app.upload_recipients(&bob.key, id, csv.as_bytes()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let list: Value = app
        .get("/api/campaign/list", Some(&bob.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["campaigns"], json!([]));
    let stats: Value = app
        .get("/api/database/stats", Some(&bob.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (stats["campaigns"].as_i64(), stats["recipients"].as_i64()),
        (Some(0), Some(0))
    );
    // Alice sees hers; the admin sees it with its owner.
    let list: Value = app
        .get("/api/campaign/list", Some(&alice.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["campaigns"][0]["id"], id);
    let all: Value = app
        .get("/api/campaign/list", Some(&app.admin_key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(all["campaigns"][0]["owner"]["name"], "alice");
    let export = app
        .get(
            &format!("/api/campaign/export?id={id}"),
            Some(&app.admin_key),
        )
        .await;
    assert_eq!(export.status(), StatusCode::OK);
    // Paging: newest first, with a cursor.
    for n in 0..3 {
        app.post_campaign(&bob.key, json!({"name": format!("b{n}"), "message": "hi"}))
            .await;
    }
    let page: Value = app
        .get("/api/campaign/list?limit=2", Some(&bob.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        page["campaigns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].clone())
            .collect::<Vec<_>>(),
        ["b2", "b1"]
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let rest: Value = app
        .get(
            &format!("/api/campaign/list?limit=2&cursor={cursor}"),
            Some(&bob.key),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(rest["campaigns"][0]["name"], "b0");
    assert_eq!(rest["next_cursor"], Value::Null);
    // Roles: a device key is not a user; a user is not an admin; a user is not the phone.
    let device = app.key_with_role("device").await;
    assert_error(
        app.get("/api/campaign/list", Some(&device.key)).await,
        StatusCode::FORBIDDEN,
        "auth.forbidden",
        "Insufficient permissions",
        "User role required",
    )
    .await;
    assert_error(
        app.post_json(
            "/api/database/reset",
            Some(&alice.key),
            &json!({"confirm": "RESET"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "auth.forbidden",
        "Insufficient permissions",
        "Admin role required",
    )
    .await;
    for key in [&alice.key, &app.admin_key] {
        assert_error(
            app.post_json(
                "/api/device/delivery",
                Some(key),
                &json!({"id": "x", "state": "sent"}),
            )
            .await,
            StatusCode::FORBIDDEN,
            "auth.forbidden",
            "Insufficient permissions",
            "Device role required",
        )
        .await;
    }
    assert_401(app.get("/api/campaign/list", None).await).await;
}

async fn impossible_moves_are_409_and_pausing_stops_new_sends(engine: Engine) {
    let Some((app, phone)) = app_with(engine, Api::Android, "state machine", |_| {}).await else {
        return;
    };
    let user = app.key_with_role("user").await;
    // Two at once, then one a minute: the injected clock decides when the next may go.
    let campaign = app
        .post_campaign(
            &user.key,
            json!({"name": "slow", "message": "hi", "rate": "1/min burst 2"}),
        )
        .await;
    let id = campaign["id"].as_str().unwrap();
    let csv: String = std::iter::once("phone\n".to_owned())
        .chain((0..6).map(|n| format!("{}\n", number(n))))
        .collect();
    app.upload_recipients(&user.key, id, csv.as_bytes()).await;
    for (action, message) in [
        ("pause", "Campaign is draft; it cannot be paused"),
        ("resume", "Campaign is draft; it cannot be resumed"),
    ] {
        assert_error(
            app.campaign_action(&user.key, action, id).await,
            StatusCode::CONFLICT,
            "campaign.state",
            "Invalid state",
            message,
        )
        .await;
    }
    assert_eq!(
        app.campaign_action(&user.key, "start", id).await.status(),
        StatusCode::OK
    );
    assert_error(
        app.campaign_action(&user.key, "start", id).await,
        StatusCode::CONFLICT,
        "campaign.state",
        "Invalid state",
        "Campaign is running; it cannot be started",
    )
    .await;
    phone.wait_for(2, Duration::from_secs(5)).await;
    let paused = app.campaign_action(&user.key, "pause", id).await;
    assert_eq!(paused.status(), StatusCode::OK);
    let paused: Value = paused.json().await.unwrap();
    assert_eq!(paused["state"], "paused");
    // A paused campaign sends nothing more, however much time passes.
    app.clock.advance(Duration::from_secs(600));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(phone.received().len(), 2);
    assert_eq!(
        app.campaign_action(&user.key, "resume", id).await.status(),
        StatusCode::OK
    );
    phone.wait_for(4, Duration::from_secs(5)).await;
    let status = app.campaign_status(&user.key, id).await;
    assert_eq!(status["state"], "running");
    assert!(status["eta_seconds"].as_i64().unwrap() > 0, "{status}");
    let cancelled: Value = app
        .campaign_action(&user.key, "cancel", id)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(cancelled["state"], "cancelled");
    app.clock.advance(Duration::from_secs(600));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        phone.received().len(),
        4,
        "a cancelled campaign sends nothing"
    );
    assert_error(
        app.campaign_action(&user.key, "resume", id).await,
        StatusCode::CONFLICT,
        "campaign.state",
        "Invalid state",
        "Campaign is cancelled; it cannot be resumed",
    )
    .await;
    // A campaign with nothing to send completes; a completed one cannot be paused.
    let empty = app
        .post_campaign(&user.key, json!({"name": "empty", "message": "hi"}))
        .await;
    let empty_id = empty["id"].as_str().unwrap();
    app.campaign_action(&user.key, "start", empty_id).await;
    app.wait_for_status(&user.key, empty_id, |s| s["state"] == "completed")
        .await;
    assert_error(
        app.campaign_action(&user.key, "pause", empty_id).await,
        StatusCode::CONFLICT,
        "campaign.state",
        "Invalid state",
        "Campaign is completed; it cannot be paused",
    )
    .await;
    // Bad requests.
    let bad = [
        (
            json!({"name": "x"}),
            "The JSON body does not match the expected shape: missing field `message` at line 1 column 12",
        ),
        (
            json!({"name": "x", "message": "hi {name"}),
            "the message has a `{` at character 4 that is not closed; write `{{` for a brace",
        ),
        (
            json!({"name": "x", "message": "hi", "rate": "fast"}),
            "`fast` is not a rate such as \"100/min\", \"10/s burst 20\" or \"5000/day\"",
        ),
        (
            json!({"name": "", "message": "hi"}),
            "name must be 1 to 200 characters, without control characters",
        ),
    ];
    for (body, message) in bad {
        assert_error(
            app.post_json("/api/campaign/create", Some(&user.key), &body)
                .await,
            StatusCode::BAD_REQUEST,
            "request.invalid",
            "Bad request",
            message,
        )
        .await;
    }
}

async fn refused_messages_are_retried_with_back_off_then_failed_with_the_reason(engine: Engine) {
    let Some((app, phone)) =
        app_with(engine, Api::Android, "retries", |s| s.sms.max_attempts = 3).await
    else {
        return;
    };
    let user = app.key_with_role("user").await;
    phone.refuse_next(2, 500);
    let sms: Value = app
        .post_json(
            "/api/sms/send/enhanced",
            Some(&user.key),
            &json!({"phone": number(7), "message": "retry me"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let id = sms["id"].as_str().unwrap();
    let path = format!("/api/sms/{id}");
    // First attempt refused; the retry waits (1.6–2.4 s), by the injected clock.
    let started = std::time::Instant::now();
    while phone.requests().is_empty() {
        assert!(started.elapsed() < Duration::from_secs(5));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first = app
        .get(&path, Some(&user.key))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        (first["state"].as_str(), first["attempts"].as_i64()),
        (Some("queued"), Some(1)),
        "{first}"
    );
    assert_eq!(first["error"], "HTTP 500: refused by the stand-in");
    assert_eq!(phone.requests().len(), 1, "no retry before its time");
    for _ in 0..2 {
        app.clock.advance(Duration::from_secs(10));
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    phone.wait_for(1, Duration::from_secs(5)).await;
    let sent = app
        .get(&path, Some(&user.key))
        .await
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(
        (sent["state"].as_str(), sent["attempts"].as_i64()),
        (Some("sent"), Some(3)),
        "{sent}"
    );
    // Refused every time: failed after max_attempts, with the last reason.
    phone.refuse_next(10, 400);
    let doomed: Value = app
        .post_json(
            "/api/sms/send/enhanced",
            Some(&user.key),
            &json!({"phone": number(8), "message": "never"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let doomed_path = format!("/api/sms/{}", doomed["id"].as_str().unwrap());
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        app.clock.advance(Duration::from_secs(60));
    }
    tokio::time::sleep(Duration::from_millis(400)).await;
    let failed: Value = app
        .get(&doomed_path, Some(&user.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (failed["state"].as_str(), failed["attempts"].as_i64()),
        (Some("failed"), Some(3)),
        "{failed}"
    );
    assert_eq!(failed["error"], "HTTP 400: refused by the stand-in");
}

async fn a_phone_that_goes_away_pauses_sending_without_spending_attempts(engine: Engine) {
    let Some((app, phone)) = app_with(engine, Api::Android, "phone down", |_| {}).await else {
        return;
    };
    let user = app.key_with_role("user").await;
    phone.go_away();
    let sms: Value = app
        .post_json(
            "/api/sms/send/enhanced",
            Some(&user.key),
            &json!({"phone": number(1), "message": "later"}),
        )
        .await
        .json()
        .await
        .unwrap();
    let path = format!("/api/sms/{}", sms["id"].as_str().unwrap());
    tokio::time::sleep(Duration::from_millis(800)).await;
    let waiting: Value = app.get(&path, Some(&user.key)).await.json().await.unwrap();
    assert_eq!(
        (waiting["state"].as_str(), waiting["attempts"].as_i64()),
        (Some("queued"), Some(0)),
        "{waiting}"
    );
    let status: Value = app
        .get("/api/sms/status", Some(&user.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["gateway"], "android-sms-gateway");
    assert_eq!(status["device"]["reachable"], false, "{status}");
    assert_eq!(status["queue"]["pending"], 1);
    phone.come_back().await;
    app.clock.advance(Duration::from_secs(6));
    phone.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sent: Value = app.get(&path, Some(&user.key)).await.json().await.unwrap();
    assert_eq!(
        (sent["state"].as_str(), sent["attempts"].as_i64()),
        (Some("sent"), Some(1)),
        "{sent}"
    );
    let status: Value = app
        .get("/api/sms/status", Some(&user.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(status["device"]["reachable"], true);
    assert_eq!(status["today"]["sent"], 1);
}

async fn a_resend_of_a_message_the_phone_knows_records_its_state_without_sending_twice(
    engine: Engine,
) {
    let Some((app, phone)) = app_with(engine, Api::Android, "known id", |_| {}).await else {
        return;
    };
    let user = app.key_with_role("user").await;
    let campaign = app
        .post_campaign(&user.key, json!({"name": "c", "message": "hi"}))
        .await;
    let id = campaign["id"].as_str().unwrap();
    // As after a crash between the phone taking the message and us recording it.
    let known = portcullis::services::campaigns::upload::recipient_message_id(id, &number(1));
    phone.already_knows(&known, "Delivered");
    let csv = format!("phone\n{}\n{}\n", number(1), number(2));
    app.upload_recipients(&user.key, id, csv.as_bytes()).await;
    app.campaign_action(&user.key, "start", id).await;
    let status = app
        .wait_for_status(&user.key, id, |s| s["state"] == "completed")
        .await;
    assert_eq!(
        (
            status["counts"]["delivered"].as_i64(),
            status["counts"]["sent"].as_i64()
        ),
        (Some(1), Some(1)),
        "{status}"
    );
    let received = phone.received();
    assert_eq!(received.len(), 1, "only the new one was sent: {received:?}");
    assert_eq!(received[0].phone, number(2));
}

async fn a_stop_reply_suppresses_the_number_for_every_owner(engine: Engine) {
    let Some((app, phone)) = app_with(engine, Api::Android, "stop", |_| {}).await else {
        return;
    };
    let alice = app
        .create_key(json!({"owner": "alice", "role": "user"}))
        .await;
    let bob = app
        .create_key(json!({"owner": "bob", "role": "user"}))
        .await;
    let reply = json!({"event": "sms:received", "id": "e1", "payload": {"message": " Stop ", "phoneNumber": number(1)}});
    let applied: Value = app.webhook(&reply, now(&app)).await.json().await.unwrap();
    assert_eq!(applied, json!({"applied": true, "suppressed": true}));
    let chat = json!({"event": "sms:received", "id": "e2", "payload": {"message": "stop by later?", "phoneNumber": number(2)}});
    let applied: Value = app.webhook(&chat, now(&app)).await.json().await.unwrap();
    assert_eq!(applied["suppressed"], false);
    let list: Value = app
        .get("/api/suppressions", Some(&bob.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(list["suppressions"][0]["phone"], number(1));
    assert_eq!(list["suppressions"][0]["everyone"], true);
    // Alice's campaign counts it suppressed and never sends to it.
    let campaign = app
        .post_campaign(&alice.key, json!({"name": "c", "message": "hi"}))
        .await;
    let id = campaign["id"].as_str().unwrap();
    let csv = format!("phone\n{}\n{}\n", number(1), number(2));
    let report: Value = app
        .upload_recipients(&alice.key, id, csv.as_bytes())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (report["accepted"].as_u64(), report["suppressed"].as_u64()),
        (Some(2), Some(1))
    );
    app.campaign_action(&alice.key, "start", id).await;
    let status = app
        .wait_for_status(&alice.key, id, |s| s["state"] == "completed")
        .await;
    assert_eq!(
        (
            status["counts"]["suppressed"].as_i64(),
            status["counts"]["sent"].as_i64()
        ),
        (Some(1), Some(1))
    );
    assert!(phone.received().iter().all(|r| r.phone != number(1)));
    // Bob's own list: add and remove; a single message to a suppressed number is never sent.
    let added = app
        .post_json(
            "/api/suppressions",
            Some(&bob.key),
            &json!({"phone": number(3)}),
        )
        .await;
    assert_eq!(added.status(), StatusCode::CREATED);
    let single: Value = app
        .post_json(
            "/api/sms/send/enhanced",
            Some(&bob.key),
            &json!({"phone": number(3), "message": "no"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(single["state"], "suppressed");
    let removed = app
        .client
        .delete(app.url(&format!("/api/suppressions/{}", number(3))))
        .header("x-api-key", &bob.key)
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), StatusCode::NO_CONTENT);
    let removed_again = app
        .client
        .delete(app.url(&format!("/api/suppressions/{}", number(3))))
        .header("x-api-key", &bob.key)
        .send()
        .await
        .unwrap();
    assert_error_code(removed_again, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(app.wait_for_audit("sms.stop", 1).await.len(), 1);
}

async fn the_termux_phone_sends_with_the_device_key_and_reports_with_the_device_role(
    engine: Engine,
) {
    let Some((app, phone)) = app_with(engine, Api::Termux, "termux", |_| {}).await else {
        return;
    };
    let user = app.key_with_role("user").await;
    let device = app.key_with_role("device").await;
    let sms: Value = app
        .post_json(
            "/api/sms/send/enhanced",
            Some(&user.key),
            &json!({"phone": "(202) 555-0101", "message": "Hello"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(sms["phone"], number(1));
    let received = phone.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(received[0].text, "Hello");
    assert_eq!(received[0].id, sms["id"].as_str().unwrap());
    let report = app
        .post_json(
            "/api/device/delivery",
            Some(&device.key),
            &json!({"id": received[0].id, "state": "delivered"}),
        )
        .await;
    assert_eq!(report.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let view: Value = app
        .get(&format!("/api/sms/{}", received[0].id), Some(&user.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(view["state"], "delivered", "{view}");
    let bad = app
        .post_json(
            "/api/device/delivery",
            Some(&device.key),
            &json!({"id": "x", "state": "lost"}),
        )
        .await;
    assert_error(
        bad,
        StatusCode::BAD_REQUEST,
        "request.invalid",
        "Bad request",
        "state must be sent, delivered or failed",
    )
    .await;
    let stop: Value = app
        .post_json(
            "/api/device/inbound",
            Some(&device.key),
            &json!({"from": number(4), "message": "UNSUBSCRIBE"}),
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stop["suppressed"], true);
    // The device key holds none of the user's rights.
    assert_error(
        app.post_json(
            "/api/sms/send/enhanced",
            Some(&device.key),
            &json!({"phone": number(1), "message": "x"}),
        )
        .await,
        StatusCode::FORBIDDEN,
        "auth.forbidden",
        "Insufficient permissions",
        "User role required",
    )
    .await;
}

async fn single_messages_database_stats_and_reset(engine: Engine) {
    let Some((app, phone)) = app_with(engine, Api::Android, "stats and reset", |s| {
        s.sms.test_phone = Some("202-555-0109".into());
    })
    .await
    else {
        return;
    };
    let user = app.key_with_role("user").await;
    // The seed's curl example, with a valid number: 202, queued.
    let response = app
        .post_json(
            "/api/sms/send/enhanced",
            Some(&user.key),
            &json!({"phone": number(5), "message": "Hello"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let sms: Value = response.json().await.unwrap();
    assert_eq!(sms["state"], "queued");
    // The seed's own example number is refused with the reason.
    assert_error(
        app.post_json(
            "/api/sms/send/enhanced",
            Some(&user.key),
            &json!({"phone": "+1234567890", "message": "Hello"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "request.invalid",
        "Bad request",
        "+1234567890 is not a valid number in the numbering plan of country code +1",
    )
    .await;
    let test: Value = app
        .post_json("/api/sms/test", Some(&user.key), &json!({}))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        test,
        json!({"phone": number(9), "gateway": "android-sms-gateway", "result": "accepted"})
    );
    phone.wait_for(2, Duration::from_secs(5)).await;
    let campaign = app
        .post_campaign(&user.key, json!({"name": "c", "message": "hi"}))
        .await;
    app.upload_recipients(
        &user.key,
        campaign["id"].as_str().unwrap(),
        format!("phone\n{}\n", number(2)).as_bytes(),
    )
    .await;
    let stats: Value = app
        .get("/api/database/stats", Some(&user.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (stats["campaigns"].as_i64(), stats["recipients"].as_i64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    assert!(stats["database_bytes"].as_i64().unwrap() > 0);
    // Reset: admin only, confirmed, campaign data gone, keys kept, recorded.
    assert_error(
        app.post_json(
            "/api/database/reset",
            Some(&app.admin_key),
            &json!({"confirm": "yes"}),
        )
        .await,
        StatusCode::BAD_REQUEST,
        "request.invalid",
        "Bad request",
        "Send {\"confirm\":\"RESET\"} to delete every campaign, contact and message",
    )
    .await;
    let reset = app
        .post_json(
            "/api/database/reset",
            Some(&app.admin_key),
            &json!({"confirm": "RESET"}),
        )
        .await;
    assert_eq!(reset.status(), StatusCode::OK);
    let stats: Value = app
        .get("/api/database/stats", Some(&user.key))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (
            stats["campaigns"].as_i64(),
            stats["messages"]["sent"].as_i64()
        ),
        (Some(0), Some(0))
    );
    assert_eq!(
        app.whoami(Some(&user.key)).await.status(),
        StatusCode::OK,
        "keys survive a reset"
    );
    assert_eq!(app.wait_for_audit("database.reset", 1).await.len(), 1);
}

#[tokio::test]
async fn the_command_line_imports_reports_and_moves_a_campaign() {
    let app = spawn_app_with(|s| s.sms.default_region = Some("US".into())).await;
    let user = app.key_with_role("user").await;
    let campaign = app
        .post_campaign(&user.key, json!({"name": "cli", "message": "Hi {name}"}))
        .await;
    let id = campaign["id"].as_str().unwrap();
    let file = app.dir.path().join("list.csv");
    std::fs::write(
        &file,
        format!("name,phone\nAna,{}\nBo,555\nAna,{}\n", number(1), number(1)),
    )
    .unwrap();
    let file = file.display().to_string();
    let (ok, stdout, stderr) = cli(
        app.dir.path(),
        &["campaigns", "import", &file, "--campaign", id, "--json"],
    );
    assert!(ok, "{stdout}{stderr}");
    let report: Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(
        report,
        json!({"accepted": 1, "duplicates": 1, "suppressed": 0, "rejected_count": 1,
               "rejected": [{"line": 3, "reason": "a phone number has 4 to 15 digits; this has 3", "column": "phone"}]})
    );
    let (ok, stdout, _) = cli(app.dir.path(), &["campaigns", "start", id]);
    assert!(ok);
    assert_eq!(stdout.trim(), format!("{id}: running"));
    let (ok, stdout, _) = cli(app.dir.path(), &["campaigns", "status", id]);
    assert!(ok);
    assert_eq!(
        stdout.trim(),
        format!(
            "{id}: running — 1 recipients, 1 pending, 0 sending, 0 sent, 0 delivered, 0 failed, 0 suppressed, 1 duplicates (0% done)"
        )
    );
    let (ok, stdout, _) = cli(app.dir.path(), &["campaigns", "export", id]);
    assert!(ok);
    assert_eq!(
        stdout,
        format!(
            "phone,state,attempts,error,sent_at,delivered_at,name\n'{},pending,0,,,,Ana\n",
            number(1)
        )
    );
    let (ok, stdout, _) = cli(app.dir.path(), &["campaigns", "list"]);
    assert!(ok);
    let row: Vec<&str> = stdout.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row, [id, "running", "user", "owner", "cli"], "{stdout}");
    // The server sees what the command line did; an impossible move is refused.
    assert_eq!(app.campaign_status(&user.key, id).await["state"], "running");
    let (ok, _, stderr) = cli(app.dir.path(), &["campaigns", "resume", id]);
    assert!(!ok);
    assert!(
        stderr.contains("Campaign is running; it cannot be resumed"),
        "{stderr}"
    );
    let (ok, _, stderr) = cli(app.dir.path(), &["campaigns", "status", "nope"]);
    assert!(!ok);
    assert!(stderr.contains("not found"), "{stderr}");
}

#[tokio::test]
async fn the_phone_is_never_sent_more_than_the_device_rate_all_campaigns_together() {
    let phone = Phone::start(Api::Android).await;
    let app = spawn_app_with(|s| {
        with_phone(s, &phone);
        s.sms.device_rate = RateSpec::parse("1/min burst 3").unwrap();
    })
    .await;
    let user = app.key_with_role("user").await;
    for c in 0..2 {
        let campaign = app
            .post_campaign(&user.key, json!({"name": format!("c{c}"), "message": "hi"}))
            .await;
        let id = campaign["id"].as_str().unwrap();
        let csv = format!(
            "phone\n{}\n{}\n{}\n",
            number(c * 10),
            number(c * 10 + 1),
            number(c * 10 + 2)
        );
        app.upload_recipients(&user.key, id, csv.as_bytes()).await;
        app.campaign_action(&user.key, "start", id).await;
    }
    phone.wait_for(3, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(phone.received().len(), 3, "the burst, then one a minute");
    app.clock.advance(Duration::from_secs(60));
    phone.wait_for(4, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(phone.received().len(), 4);
}
