//! The key-management API, admin only (`keys.manage`):
//!
//! | method | path | does |
//! |---|---|---|
//! | POST | `/api/keys` | create; 201 with the key, shown this once |
//! | GET | `/api/keys` | list; `owner`, `role`, `state`, `limit`, `cursor` |
//! | GET | `/api/keys/{id}` | show one |
//! | POST | `/api/keys/{id}/revoke` | revoke for good |
//! | POST | `/api/keys/{id}/rotate` | new key, same owner and role; optional `{"grace":"1h"}` |
//! | POST | `/api/keys/{id}/enable`, `/disable` | switch on or off |
//! | POST | `/api/keys/{id}/limits` | set rate limit and quota |
//! | POST | `/api/keys/import` | import keys of another system by their hash; 201 |

use crate::auth::keys::{
    ChangedBy, CreateKey, ImportKey, IssuedKey, KeyPage, KeyView, MAX_IMPORT, SetLimits,
};
use crate::auth::{Permission, Principal, Role};
use crate::config::RouteGroup;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::json::Json;
use crate::http::middleware::authorize::Guard;
use crate::http::openapi::ErrorBody;
use crate::http::state::AppState;
use crate::store::{KeyFilter, KeyState};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Routes of this area.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create, list))
        .routes(routes!(import))
        .routes(routes!(show))
        .routes(routes!(revoke))
        .routes(routes!(rotate))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(set_limits))
        .route_layer(Guard::new(state, RouteGroup::Keys, Permission::KeysManage))
}

/// A created key: the plaintext once, beside the usual view.
#[derive(Serialize, ToSchema)]
struct CreatedKey {
    /// The key string. Shown this once: only its hash is kept.
    key: String,
    #[serde(flatten)]
    view: KeyView,
    /// After a rotation, the old key (still valid until the end of the grace period).
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<KeyView>,
}

fn created(state: &AppState, issued: IssuedKey, previous: Option<KeyView>) -> Response {
    let view = state.keys.present(&issued.record);
    let location = HeaderValue::from_str(&format!("{}/api/keys/{}", state.mount, view.id)).ok();
    let body = CreatedKey {
        key: issued.token.expose().to_owned(),
        view,
        previous,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// The caller, as the key manager records it in the audit trail.
fn by(principal: &Principal) -> ChangedBy<'_> {
    ChangedBy::Caller {
        owner_id: &principal.owner_id,
        key_id: &principal.key_id,
    }
}

#[utoipa::path(
    post,
    path = "/api/keys",
    tag = "keys",
    summary = "Create a key",
    request_body = CreateKey,
    responses(
        (status = 201, description = "The key, shown this once.", body = CreatedKey,
            headers(("Location" = String, description = "The key's URL."))),
    ),
    security(("api_key" = [])),
)]
async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<CreateKey>,
) -> Result<Response, ApiError> {
    let issued = state.keys.create(request, by(&principal)).await?;
    tracing::info!(key_id = %issued.record.id, owner = %issued.record.owner.name, role = %issued.record.role, "key created");
    Ok(created(&state, issued, None))
}

/// `{"keys": [{"hash": …, "owner": …, "role": …}, …]}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Import {
    /// The keys, at most 1,000.
    #[schema(min_items = 1, max_items = 1000)]
    keys: Vec<ImportKey>,
}

/// The keys imported, as admins see them.
#[derive(Serialize, ToSchema)]
struct Imported {
    /// One view per key, in the order sent.
    imported: Vec<KeyView>,
}

#[utoipa::path(
    post,
    path = "/api/keys/import",
    tag = "keys",
    summary = "Import keys of another system by their SHA-256",
    description = "An imported key is then accepted in `X-API-Key` and `Bearer` exactly as \
        it was issued elsewhere. Nothing is imported when any entry is refused.",
    request_body = Import,
    responses(
        (status = 201, description = "The keys imported.", body = Imported),
        (status = 409, description = "A key with one of these hashes exists already; the \
            message names the entries.", body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn import(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(request): ApiJson<Import>,
) -> Result<Response, ApiError> {
    if request.keys.len() > MAX_IMPORT {
        return Err(ApiError::BadRequest(format!(
            "an import holds at most {MAX_IMPORT} keys; send more in several requests"
        )));
    }
    let keys = request
        .keys
        .into_iter()
        .enumerate()
        .map(|(i, k)| (i + 1, k))
        .collect();
    let records = state.keys.import(keys, by(&principal)).await?;
    tracing::info!(count = records.len(), "keys imported");
    let imported = records.iter().map(|r| state.keys.present(r)).collect();
    Ok((StatusCode::CREATED, Json(Imported { imported })).into_response())
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Only this owner's keys (by name).
    owner: Option<String>,
    /// Only keys of this role.
    #[param(value_type = Option<Role>, inline)]
    role: Option<String>,
    /// Only keys in this state.
    state: Option<KeyState>,
    /// Keys per page, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<u32>,
    /// `next_cursor` of the previous page.
    #[param(pattern = "^[0-9]{1,18}$")]
    cursor: Option<String>,
}

#[utoipa::path(
    get,
    path = "/api/keys",
    tag = "keys",
    summary = "List keys",
    params(ListQuery),
    responses((status = 200, description = "A page of keys.", body = KeyPage)),
    security(("api_key" = [])),
)]
async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let filter = KeyFilter {
        owner: query.owner,
        role: query.role,
        state: query.state,
        after: None,
        limit: query.limit.unwrap_or(50),
    };
    Ok(Json(
        state.keys.list(filter, query.cursor.as_deref()).await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/keys/{id}",
    tag = "keys",
    summary = "Show a key",
    params(("id" = String, Path, description = "The key's id.")),
    responses(
        (status = 200, description = "The key.", body = KeyView),
        (status = 404, description = "No such key.", body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let record = state.keys.get(&id).await?;
    Ok(Json(state.keys.present(&record)))
}

#[utoipa::path(
    post,
    path = "/api/keys/{id}/revoke",
    tag = "keys",
    summary = "Revoke a key for good",
    params(("id" = String, Path, description = "The key's id.")),
    responses(
        (status = 200, description = "The key, revoked.", body = KeyView),
        (status = 404, description = "No such key.", body = ErrorBody),
        (status = 409, description = "The key cannot be changed (an environment key).",
            body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let record = state.keys.revoke(&id, by(&principal)).await?;
    tracing::info!(key_id = %record.id, "key revoked");
    Ok(Json(state.keys.present(&record)))
}

#[utoipa::path(
    post,
    path = "/api/keys/{id}/enable",
    tag = "keys",
    summary = "Switch a key on",
    params(("id" = String, Path, description = "The key's id.")),
    responses(
        (status = 200, description = "The key.", body = KeyView),
        (status = 404, description = "No such key.", body = ErrorBody),
        (status = 409, description = "The key is revoked.", body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn enable(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    set_enabled(state, principal, id, true).await
}

#[utoipa::path(
    post,
    path = "/api/keys/{id}/disable",
    tag = "keys",
    summary = "Switch a key off (it can be switched on again)",
    params(("id" = String, Path, description = "The key's id.")),
    responses(
        (status = 200, description = "The key.", body = KeyView),
        (status = 404, description = "No such key.", body = ErrorBody),
        (status = 409, description = "The key is revoked.", body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn disable(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    set_enabled(state, principal, id, false).await
}

async fn set_enabled(
    state: AppState,
    principal: Principal,
    id: String,
    enabled: bool,
) -> Result<Json<KeyView>, ApiError> {
    let record = state.keys.set_enabled(&id, enabled, by(&principal)).await?;
    tracing::info!(key_id = %record.id, enabled, "key enabled flag changed");
    Ok(Json(state.keys.present(&record)))
}

/// Set the key's rate limit and quota: `{"rate": "100/min", "quota": {"limit": 1000,
/// "refill": "daily"}}`; a field left out is removed.
#[utoipa::path(
    post,
    path = "/api/keys/{id}/limits",
    tag = "keys",
    summary = "Set a key's rate limit and quota",
    params(("id" = String, Path, description = "The key's id.")),
    request_body = SetLimits,
    responses(
        (status = 200, description = "The key.", body = KeyView),
        (status = 404, description = "No such key.", body = ErrorBody),
        (status = 409, description = "The key is revoked.", body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn set_limits(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SetLimits>,
) -> Result<Json<KeyView>, ApiError> {
    let record = state.keys.set_limits(&id, request, by(&principal)).await?;
    Ok(Json(state.keys.present(&record)))
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    /// How long the old key keeps working, e.g. `"1h"`; none by default.
    grace: Option<String>,
}

/// The body is optional: an empty body rotates with no grace period.
#[utoipa::path(
    post,
    path = "/api/keys/{id}/rotate",
    tag = "keys",
    summary = "Replace a key with a new one, same owner and role",
    description = "The body is optional; with `grace`, the old key keeps working that long.",
    params(("id" = String, Path, description = "The key's id.")),
    request_body(content = Option<RotateRequest>, content_type = "application/json"),
    responses(
        (status = 201, description = "The new key, shown this once, and the old one.",
            body = CreatedKey, headers(("Location" = String, description = "The new key's URL."))),
        (status = 404, description = "No such key.", body = ErrorBody),
        (status = 409, description = "The key is revoked or already replaced.",
            body = ErrorBody),
    ),
    security(("api_key" = [])),
)]
async fn rotate(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request: RotateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        RotateRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|err| {
            ApiError::BadRequest(format!(
                "The JSON body does not match the expected shape: {err}"
            ))
        })?
    };
    let (old, issued) = state
        .keys
        .rotate(&id, request.grace.as_deref(), by(&principal))
        .await?;
    tracing::info!(old_key_id = %old.id, new_key_id = %issued.record.id, "key rotated");
    let previous = state.keys.present(&old);
    Ok(created(&state, issued, Some(previous)))
}
