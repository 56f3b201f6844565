//! The campaign manager's HTTP face (seed 000's routes), the only file of the service that
//! knows axum. Roles as the seed lists them: every campaign, SMS, upload, database and
//! suppression route needs the user role (admin ⊇ user), `/api/database/reset` the admin
//! role, the device routes the device role; the phone's webhook carries its own signature.

use super::device::{Applied, DeliveryReport, Inbound};
use super::manage::CreateCampaign;
use super::manage::{CampaignPage, Created};
use super::messaging::SendRequest;
use super::messaging::{SmsStatus, SuppressionView, TestResult};
use super::state::Action;
use super::upload::Target;
use super::views::{CampaignView, SmsView, StatusView, UploadReport};
use super::{Actor, CampaignError};
use crate::auth::{Permission, Principal};
use crate::config::RouteGroup;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::json::Json;
use crate::http::middleware::authorize::{Guard, PublicLimit, limit_public};
use crate::http::openapi::ErrorBody;
use crate::http::request_facts::body_bytes;
use crate::http::state::AppState;
use crate::store::campaigns::CampaignStats;
use axum::extract::{DefaultBodyLimit, Multipart, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// The upload routes, whose bodies may be up to `sms.max_upload_bytes` (the body-limit layer
/// reads this list).
pub const UPLOAD_PATHS: [&str; 2] = ["/api/csv/upload", "/api/campaign/upload"];

/// Routes of this area (none when `[sms] enabled = false`).
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    if !state.campaigns.settings().enabled {
        return OpenApiRouter::new();
    }
    let user = || Guard::new(state, RouteGroup::Campaigns, Permission::Campaigns);
    let admin = || Guard::new(state, RouteGroup::Campaigns, Permission::DatabaseReset);
    let device = || Guard::new(state, RouteGroup::Device, Permission::DeviceReport);
    let public = || from_fn_with_state(PublicLimit::new(state, RouteGroup::Device), limit_public);
    let campaigns = OpenApiRouter::new()
        .routes(routes!(create))
        .routes(routes!(start))
        .routes(routes!(pause))
        .routes(routes!(resume))
        .routes(routes!(cancel))
        .routes(routes!(status))
        .routes(routes!(list))
        .routes(routes!(export))
        .routes(routes!(send))
        .routes(routes!(test))
        .routes(routes!(sms_status))
        .routes(routes!(message))
        .routes(routes!(stats))
        .routes(routes!(suppressions, suppress))
        .routes(routes!(unsuppress))
        .route_layer(user());
    // Multipart bodies are bounded by the server's body-limit layer (`sms.max_upload_bytes`
    // on these paths), not by axum's default of 2 MiB.
    let uploads = OpenApiRouter::new()
        .routes(routes!(upload_contacts))
        .routes(routes!(upload_recipients))
        .route_layer(user())
        .layer(DefaultBodyLimit::disable());
    OpenApiRouter::new()
        .merge(campaigns)
        .merge(uploads)
        .routes(routes!(reset).map(|route| route.route_layer(admin())))
        .routes(routes!(delivery).map(|route| route.route_layer(device())))
        .routes(routes!(inbound).map(|route| route.route_layer(device())))
        .routes(routes!(webhook).map(|route| route.route_layer(public())))
}

/// `{"id"}` of the campaign actions.
#[derive(Debug, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ById {
    /// The campaign's id.
    id: String,
}

/// A message accepted for sending.
#[derive(Serialize, ToSchema)]
struct Accepted<'a> {
    /// The message's id (`GET /api/sms/{id}`).
    id: &'a str,
    /// The number, in E.164.
    phone: &'a str,
    /// `queued`.
    state: &'a str,
}

/// A reset.
#[derive(Serialize, ToSchema)]
struct ResetDone {
    /// `true`.
    reset: bool,
    /// Campaigns, contacts and messages deleted.
    rows_deleted: u64,
}

/// The suppression list.
#[derive(Serialize, ToSchema)]
struct Suppressions {
    /// Numbers that are never sent to.
    suppressions: Vec<SuppressionView>,
}

/// A multipart upload: the CSV.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the multipart form for the document; read by `parts`.
struct ContactsUpload {
    /// The CSV file: a `phone` column, optional `name`, and any other columns.
    #[schema(content_media_type = "text/csv", value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// A multipart upload: the campaign and the CSV of its recipients.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes the multipart form for the document; read by `parts`.
struct RecipientsUpload {
    /// The campaign's id.
    campaign_id: String,
    /// The CSV file: a `phone` column, optional `name`, and any other columns.
    #[schema(content_media_type = "text/csv", value_type = String, format = Binary)]
    file: Vec<u8>,
}

#[utoipa::path(
    post,
    path = "/api/campaign/create",
    tag = "campaigns",
    summary = "Create a campaign (a draft)",
    request_body = CreateCampaign,
    responses(
        (status = 201, description = "The draft, with the message's size in SMS units.",
            body = Created, headers(("Location" = String, description = "Its status URL."))),
    ),
    security(("api_key" = [])),
)]
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

#[utoipa::path(
    post,
    path = "/api/campaign/start",
    tag = "campaigns",
    summary = "Start a campaign (from draft or scheduled)",
    request_body = ById,
    responses(
        (status = 200, description = "The campaign.", body = CampaignView),
        (status = 404, description = "No such campaign (or not the caller's).", body = ErrorBody),
        (status = 409, description = "Its state does not allow this; the message says why.",
            body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn start(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(by): ApiJson<ById>,
) -> Result<Response, ApiError> {
    act(&state, &principal, &by.id, Action::Start).await
}

#[utoipa::path(
    post,
    path = "/api/campaign/pause",
    tag = "campaigns",
    summary = "Pause a running campaign",
    request_body = ById,
    responses(
        (status = 200, description = "The campaign.", body = CampaignView),
        (status = 404, description = "No such campaign (or not the caller's).", body = ErrorBody),
        (status = 409, description = "Its state does not allow this; the message says why.",
            body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn pause(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(by): ApiJson<ById>,
) -> Result<Response, ApiError> {
    act(&state, &principal, &by.id, Action::Pause).await
}

#[utoipa::path(
    post,
    path = "/api/campaign/resume",
    tag = "campaigns",
    summary = "Resume a paused campaign",
    request_body = ById,
    responses(
        (status = 200, description = "The campaign.", body = CampaignView),
        (status = 404, description = "No such campaign (or not the caller's).", body = ErrorBody),
        (status = 409, description = "Its state does not allow this; the message says why.",
            body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn resume(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(by): ApiJson<ById>,
) -> Result<Response, ApiError> {
    act(&state, &principal, &by.id, Action::Resume).await
}

#[utoipa::path(
    post,
    path = "/api/campaign/cancel",
    tag = "campaigns",
    summary = "Cancel a campaign for good",
    request_body = ById,
    responses(
        (status = 200, description = "The campaign.", body = CampaignView),
        (status = 404, description = "No such campaign (or not the caller's).", body = ErrorBody),
        (status = 409, description = "Its state does not allow this; the message says why.",
            body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn cancel(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(by): ApiJson<ById>,
) -> Result<Response, ApiError> {
    act(&state, &principal, &by.id, Action::Cancel).await
}

#[utoipa::path(
    get,
    path = "/api/campaign/status",
    tag = "campaigns",
    summary = "A campaign's progress",
    params(ById),
    responses(
        (status = 200, description = "The campaign with live counts.", body = StatusView),
        (status = 404, description = "No such campaign (or not the caller's).", body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct Page {
    /// Campaigns per page, 1 to 100 (default 20).
    #[serde(default)]
    #[param(minimum = 1, maximum = 100)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[serde(default)]
    #[param(pattern = "^[0-9]{1,18}$")]
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/campaign/list",
    tag = "campaigns",
    summary = "List campaigns, newest first",
    params(Page),
    responses((status = 200, description = "A page of campaigns.", body = CampaignPage)),
    security(("api_key" = [])),
)]
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

#[utoipa::path(
    get,
    path = "/api/campaign/export",
    tag = "campaigns",
    summary = "A campaign's recipients and their states, as CSV",
    description = "Cells that a spreadsheet would run as a formula (`= + - @`, tab, CR) are \
        neutralised with a leading `'`.",
    params(ById),
    responses(
        (status = 200, description = "The CSV.", content_type = "text/csv; charset=utf-8",
            body = String, headers(("Content-Disposition" = String,
                description = "`attachment; filename=\"campaign-<id>.csv\"`."))),
        (status = 404, description = "No such campaign (or not the caller's).", body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
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

#[utoipa::path(
    post,
    path = "/api/csv/upload",
    tag = "campaigns",
    summary = "Upload contacts as CSV",
    description = "Each line is checked on its own: the report lists the lines taken and each \
        refused one with its reason. Bodies up to `sms.max_upload_bytes`.",
    request_body(content = ContactsUpload, content_type = "multipart/form-data"),
    responses((status = 200, description = "The per-line report.", body = UploadReport)),
    security(("api_key" = [])),
)]
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

#[utoipa::path(
    post,
    path = "/api/campaign/upload",
    tag = "campaigns",
    summary = "Upload a campaign's recipients as CSV",
    request_body(content = RecipientsUpload, content_type = "multipart/form-data"),
    responses(
        (status = 200, description = "The per-line report.", body = UploadReport),
        (status = 404, description = "No such campaign (or not the caller's).", body = ErrorBody),
        (status = 409, description = "The campaign no longer takes recipients.",
            body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
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

#[utoipa::path(
    post,
    path = "/api/sms/send/enhanced",
    tag = "sms",
    summary = "Send one SMS",
    request_body = SendRequest,
    responses(
        (status = 202, description = "Queued for the phone.", body = Accepted),
        (status = 409, description = "The number is suppressed (it opted out).",
            body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
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
        Json(Accepted {
            id: &sms.id,
            phone: &sms.phone,
            state: &sms.state,
        }),
    )
        .into_response())
}

#[utoipa::path(
    get,
    path = "/api/sms/{id}",
    tag = "sms",
    summary = "One message's state",
    params(("id" = String, Path, description = "The message's id.")),
    responses(
        (status = 200, description = "The message.", body = SmsView),
        (status = 404, description = "No such message (or not the caller's).", body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn message(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(Json(state.campaigns.message(&Actor::of(&principal), &id).await?).into_response())
}

/// Where to send the test.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TestRequest {
    /// The number; default `sms.test_phone`.
    #[serde(default)]
    phone: Option<String>,
}

#[utoipa::path(
    post,
    path = "/api/sms/test",
    tag = "sms",
    summary = "Send a test SMS through the phone",
    description = "The body is optional: nothing, `{}`, or `{\"phone\": \"…\"}` (default: \
        `sms.test_phone`).",
    request_body(content = Option<TestRequest>, content_type = "application/json"),
    responses(
        (status = 200, description = "What the phone answered.", body = TestResult),
        (status = 502, description = "The phone did not take the message; the message says \
            what it answered.", body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
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

#[utoipa::path(
    get,
    path = "/api/sms/status",
    tag = "sms",
    summary = "The phone gateway and the queue",
    responses((status = 200, description = "The gateway, the device, the queue, today.",
        body = SmsStatus)),
    security(("api_key" = [])),
)]
async fn sms_status(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    Ok(Json(state.campaigns.sms_status(&Actor::of(&principal)).await?).into_response())
}

#[utoipa::path(
    get,
    path = "/api/database/stats",
    tag = "campaigns",
    summary = "Counts of campaigns, contacts and messages",
    responses((status = 200, description = "The counts.", body = CampaignStats)),
    security(("api_key" = [])),
)]
async fn stats(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    Ok(Json(state.campaigns.stats(&Actor::of(&principal)).await?).into_response())
}

/// The confirmation a reset needs.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Confirm {
    /// `RESET`.
    #[serde(default)]
    #[schema(pattern = "^RESET$", required = true)]
    confirm: String,
}

#[utoipa::path(
    post,
    path = "/api/database/reset",
    tag = "campaigns",
    summary = "Delete every campaign, contact and message (admin)",
    request_body = Confirm,
    responses((status = 200, description = "Done.", body = ResetDone)),
    security(("api_key" = [])),
)]
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
    Ok(Json(ResetDone {
        reset: true,
        rows_deleted: deleted,
    })
    .into_response())
}

#[utoipa::path(
    get,
    path = "/api/suppressions",
    tag = "sms",
    summary = "The suppression list",
    responses((status = 200, description = "The list.", body = Suppressions)),
    security(("api_key" = [])),
)]
async fn suppressions(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Response, ApiError> {
    let list = state.campaigns.suppressions(&Actor::of(&principal)).await?;
    Ok(Json(Suppressions { suppressions: list }).into_response())
}

/// A number.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PhoneBody {
    /// The number, in E.164 or a national form of `sms.default_region`.
    #[schema(min_length = 1)]
    phone: String,
}

#[utoipa::path(
    post,
    path = "/api/suppressions",
    tag = "sms",
    summary = "Never send to this number again",
    request_body = PhoneBody,
    responses((status = 201, description = "Suppressed.", body = SuppressionView)),
    security(("api_key" = [])),
)]
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

#[utoipa::path(
    delete,
    path = "/api/suppressions/{phone}",
    tag = "sms",
    summary = "Take a number off the suppression list",
    params(("phone" = String, Path, description = "The number, in E.164.")),
    responses(
        (status = 204, description = "Removed."),
        (status = 404, description = "The number is not suppressed.", body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
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

#[utoipa::path(
    post,
    path = "/api/device/delivery",
    tag = "device",
    summary = "The phone reports a message's delivery (device role)",
    request_body = DeliveryReport,
    responses(
        (status = 200, description = "Applied (or a repeat of a report already applied).",
            body = Applied),
        (status = 404, description = "No such message.", body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn delivery(
    State(state): State<AppState>,
    ApiJson(report): ApiJson<DeliveryReport>,
) -> Result<Response, ApiError> {
    Ok(Json(state.campaigns.delivery(report).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/device/inbound",
    tag = "device",
    summary = "The phone reports an incoming SMS (device role); STOP suppresses the sender",
    request_body = Inbound,
    responses((status = 200, description = "Applied.", body = Applied)),
    security(("api_key" = [])),
)]
async fn inbound(
    State(state): State<AppState>,
    ApiJson(message): ApiJson<Inbound>,
) -> Result<Response, ApiError> {
    Ok(Json(state.campaigns.inbound(message).await?).into_response())
}

#[utoipa::path(
    post,
    path = "/api/device/webhook",
    tag = "device",
    summary = "The phone gateway's signed webhook",
    description = "Signed by the gateway: `X-Signature` is the hex HMAC-SHA256 of \
        `X-Timestamp` + `.` + the body under `sms.webhook_secret`; the timestamp must be \
        recent. The body is a delivery report or an inbound message.",
    params(
        ("X-Signature" = String, Header, description = "Hex HMAC-SHA256."),
        ("X-Timestamp" = String, Header, description = "Unix seconds."),
    ),
    request_body(content = Object, content_type = "application/json"),
    responses(
        (status = 200, description = "Applied.", body = Applied),
        (status = 401, description = "Not signed by the gateway, or too old; says which.",
            body = ErrorBody),
        (status = 404, description = "No such message.", body = ErrorBody),
    ),
)]
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
