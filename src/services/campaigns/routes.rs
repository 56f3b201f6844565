//! The campaign manager's HTTP face (seed 000's routes), the only file of the service that
//! knows axum. Roles as the seed lists them: every campaign, SMS, upload, database and
//! suppression route needs the user role (admin ⊇ user), `/api/database/reset` the admin
//! role, the device routes the device role; the phone's webhook carries its own signature.

use super::device::{DeliveryReport, Inbound};
use super::manage::CreateCampaign;
use super::messaging::SendRequest;
use super::state::Action;
use super::upload::Target;
use super::{Actor, CampaignError};
use crate::auth::{Permission, Principal};
use crate::config::RouteGroup;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::json::Json;
use crate::http::middleware::authorize::{Guard, PublicLimit, limit_public};
use crate::http::request_facts::body_bytes;
use crate::http::state::AppState;
use axum::Router;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde::Deserialize;
use serde_json::json;

/// The upload routes, whose bodies may be up to `sms.max_upload_bytes` (the body-limit layer
/// reads this list).
pub const UPLOAD_PATHS: [&str; 2] = ["/api/csv/upload", "/api/campaign/upload"];

/// Routes of this area (none when `[sms] enabled = false`).
pub fn router(state: &AppState) -> Router<AppState> {
    if !state.campaigns.settings().enabled {
        return Router::new();
    }
    let user = || Guard::new(state, RouteGroup::Campaigns, Permission::Campaigns);
    let admin = || Guard::new(state, RouteGroup::Campaigns, Permission::DatabaseReset);
    let device = || Guard::new(state, RouteGroup::Device, Permission::DeviceReport);
    let public = || from_fn_with_state(PublicLimit::new(state, RouteGroup::Device), limit_public);
    let campaigns = Router::new()
        .route("/api/campaign/create", post(create))
        .route("/api/campaign/start", post(start))
        .route("/api/campaign/pause", post(pause))
        .route("/api/campaign/resume", post(resume))
        .route("/api/campaign/cancel", post(cancel))
        .route("/api/campaign/status", get(status))
        .route("/api/campaign/list", get(list))
        .route("/api/campaign/export", get(export))
        .route("/api/sms/send/enhanced", post(send))
        .route("/api/sms/test", post(test))
        .route("/api/sms/status", get(sms_status))
        .route("/api/sms/{id}", get(message))
        .route("/api/database/stats", get(stats))
        .route("/api/suppressions", get(suppressions).post(suppress))
        .route("/api/suppressions/{phone}", delete(unsuppress))
        .route_layer(user());
    // Multipart bodies are bounded by the server's body-limit layer (`sms.max_upload_bytes`
    // on these paths), not by axum's default of 2 MiB.
    let uploads = Router::new()
        .route(UPLOAD_PATHS[0], post(upload_contacts))
        .route(UPLOAD_PATHS[1], post(upload_recipients))
        .route_layer(user())
        .layer(DefaultBodyLimit::disable());
    Router::new()
        .merge(campaigns)
        .merge(uploads)
        .route("/api/database/reset", post(reset).route_layer(admin()))
        .route("/api/device/delivery", post(delivery).route_layer(device()))
        .route("/api/device/inbound", post(inbound).route_layer(device()))
        .route("/api/device/webhook", post(webhook).route_layer(public()))
}

/// `{"id"}` of the campaign actions.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ById {
    id: String,
}

async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<CreateCampaign>,
) -> Result<Response, ApiError> {
    let created = state
        .campaigns
        .create(&Actor::of(&principal), request)
        .await?;
    let mut response = (StatusCode::CREATED, Json(&created)).into_response();
    let location = format!(
        "{}/api/campaign/status?id={}",
        state.mount, created.campaign.id
    );
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

async fn act(
    state: &AppState,
    principal: &Principal,
    id: &str,
    action: Action,
) -> Result<Response, ApiError> {
    let campaign = state
        .campaigns
        .act(&Actor::of(principal), id, action)
        .await?;
    Ok(Json(campaign).into_response())
}

async fn start(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(by): ApiJson<ById>,
) -> Result<Response, ApiError> {
    act(&state, &principal, &by.id, Action::Start).await
}

async fn pause(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(by): ApiJson<ById>,
) -> Result<Response, ApiError> {
    act(&state, &principal, &by.id, Action::Pause).await
}

async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(by): ApiJson<ById>,
) -> Result<Response, ApiError> {
    act(&state, &principal, &by.id, Action::Resume).await
}

async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(by): ApiJson<ById>,
) -> Result<Response, ApiError> {
    act(&state, &principal, &by.id, Action::Cancel).await
}

async fn status(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(by): ApiQuery<ById>,
) -> Result<Response, ApiError> {
    Ok(Json(
        state
            .campaigns
            .status(&Actor::of(&principal), &by.id)
            .await?,
    )
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Page {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(page): ApiQuery<Page>,
) -> Result<Response, ApiError> {
    let page = state
        .campaigns
        .list(&Actor::of(&principal), page.limit, page.cursor.as_deref())
        .await?;
    Ok(Json(page).into_response())
}

async fn export(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(by): ApiQuery<ById>,
) -> Result<Response, ApiError> {
    let file = state
        .campaigns
        .export(&Actor::of(&principal), &by.id)
        .await?;
    let mut response = file.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!(
        "attachment; filename=\"campaign-{}.csv\"",
        by.id
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect::<String>()
    )) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

/// The `file` part (and `campaign_id`, when asked for) of a multipart upload.
async fn parts(
    mut multipart: Multipart,
    campaign: bool,
) -> Result<(bytes::Bytes, Option<String>), ApiError> {
    let bad = |what: &str| ApiError::BadRequest(format!("Send multipart/form-data with {what}"));
    let (mut file, mut campaign_id) = (None, None);
    while let Some(field) = multipart.next_field().await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge
        } else {
            bad("a file part")
        }
    })? {
        match field.name() {
            Some("file") => {
                file = Some(field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        ApiError::PayloadTooLarge
                    } else {
                        bad("a file part")
                    }
                })?);
            }
            Some("campaign_id") if campaign => {
                campaign_id = Some(field.text().await.map_err(|_| bad("a campaign_id part"))?);
            }
            _ => {}
        }
    }
    let file = file.ok_or_else(|| bad("a file part"))?;
    if campaign && campaign_id.is_none() {
        return Err(bad("a campaign_id part and a file part"));
    }
    Ok((file, campaign_id))
}

async fn upload_contacts(
    State(state): State<AppState>,
    principal: Principal,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let multipart = multipart
        .map_err(|_| ApiError::BadRequest("Send multipart/form-data with a file part".into()))?;
    let (file, _) = parts(multipart, false).await?;
    let report = state
        .campaigns
        .upload(&Actor::of(&principal), Target::Contacts, file)
        .await?;
    Ok(Json(report).into_response())
}

async fn upload_recipients(
    State(state): State<AppState>,
    principal: Principal,
    multipart: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Response, ApiError> {
    let multipart = multipart.map_err(|_| {
        ApiError::BadRequest(
            "Send multipart/form-data with a campaign_id part and a file part".into(),
        )
    })?;
    let (file, campaign_id) = parts(multipart, true).await?;
    let campaign_id = campaign_id.unwrap_or_default();
    let report = state
        .campaigns
        .upload(
            &Actor::of(&principal),
            Target::Campaign(campaign_id.trim()),
            file,
        )
        .await?;
    Ok(Json(report).into_response())
}

async fn send(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<SendRequest>,
) -> Result<Response, ApiError> {
    let sms = state
        .campaigns
        .send(&Actor::of(&principal), request)
        .await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"id": sms.id, "phone": sms.phone, "state": sms.state})),
    )
        .into_response())
}

async fn message(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.campaigns.message(&Actor::of(&principal), &id).await?).into_response())
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestRequest {
    #[serde(default)]
    phone: Option<String>,
}

async fn test(
    State(state): State<AppState>,
    principal: Principal,
    request: Request,
) -> Result<Response, ApiError> {
    // The body is optional: `{}`, `{"phone": …}`, or nothing.
    let body = body_bytes(request.into_body()).await?;
    let request: TestRequest = if body.iter().all(u8::is_ascii_whitespace) {
        TestRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|_| ApiError::BadRequest("The body must be {} or {\"phone\": \"…\"}".into()))?
    };
    let result = state
        .campaigns
        .test(&Actor::of(&principal), request.phone.as_deref())
        .await?;
    Ok(Json(result).into_response())
}

async fn sms_status(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    Ok(Json(state.campaigns.sms_status(&Actor::of(&principal)).await?).into_response())
}

async fn stats(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    Ok(Json(state.campaigns.stats(&Actor::of(&principal)).await?).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Confirm {
    #[serde(default)]
    confirm: String,
}

async fn reset(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(confirm): ApiJson<Confirm>,
) -> Result<Response, ApiError> {
    if confirm.confirm != "RESET" {
        return Err(ApiError::BadRequest(
            "Send {\"confirm\":\"RESET\"} to delete every campaign, contact and message".into(),
        ));
    }
    let deleted = state.campaigns.reset(&Actor::of(&principal)).await?;
    Ok(Json(json!({"reset": true, "rows_deleted": deleted})).into_response())
}

async fn suppressions(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    let list = state.campaigns.suppressions(&Actor::of(&principal)).await?;
    Ok(Json(json!({"suppressions": list})).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PhoneBody {
    phone: String,
}

async fn suppress(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(body): ApiJson<PhoneBody>,
) -> Result<Response, ApiError> {
    let view = state
        .campaigns
        .suppress(&Actor::of(&principal), &body.phone)
        .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn unsuppress(
    State(state): State<AppState>,
    principal: Principal,
    Path(phone): Path<String>,
) -> Result<Response, ApiError> {
    state
        .campaigns
        .unsuppress(&Actor::of(&principal), &phone)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn delivery(
    State(state): State<AppState>,
    ApiJson(report): ApiJson<DeliveryReport>,
) -> Result<Response, ApiError> {
    Ok(Json(state.campaigns.delivery(report).await?).into_response())
}

async fn inbound(
    State(state): State<AppState>,
    ApiJson(message): ApiJson<Inbound>,
) -> Result<Response, ApiError> {
    Ok(Json(state.campaigns.inbound(message).await?).into_response())
}

async fn webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: Request,
) -> Result<Response, ApiError> {
    let client = crate::http::request_facts::client_ip(&request);
    let body = body_bytes(request.into_body()).await?;
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let applied = state
        .campaigns
        .webhook(&body, text("x-signature"), text("x-timestamp"), client)
        .await
        .map_err(|err| {
            if matches!(err, CampaignError::Webhook(_)) {
                tracing::warn!(error = %err, "device webhook refused");
            }
            ApiError::from(err)
        })?;
    Ok(Json(applied).into_response())
}
