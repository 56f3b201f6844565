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
    ChangedBy, CreateKey, ImportKey, IssuedKey, KeyView, MAX_IMPORT, SetLimits,
};
use crate::auth::{Permission, Principal};
use crate::config::RouteGroup;
use crate::http::error::ApiError;
use crate::http::extract::{ApiJson, ApiQuery};
use crate::http::json::Json;
use crate::http::middleware::authorize::Guard;
use crate::http::state::AppState;
use crate::store::{KeyFilter, KeyState};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

/// Routes of this area.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/keys", post(create).get(list))
        .route("/api/keys/import", post(import))
        .route("/api/keys/{id}", get(show))
        .route("/api/keys/{id}/revoke", post(revoke))
        .route("/api/keys/{id}/rotate", post(rotate))
        .route("/api/keys/{id}/enable", post(enable))
        .route("/api/keys/{id}/disable", post(disable))
        .route("/api/keys/{id}/limits", post(set_limits))
        .route_layer(Guard::new(state, RouteGroup::Keys, Permission::KeysManage))
}

/// A created key: the plaintext once, beside the usual view.
#[derive(Serialize)]
struct Created {
    key: String,
    #[serde(flatten)]
    view: KeyView,
    #[serde(skip_serializing_if = "Option::is_none")]
    previous: Option<KeyView>,
}

fn created(state: &AppState, issued: IssuedKey, previous: Option<KeyView>) -> Response {
    let view = state.keys.present(&issued.record);
    let location = HeaderValue::from_str(&format!("{}/api/keys/{}", state.mount, view.id)).ok();
    let body = Created {
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
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Import {
    keys: Vec<ImportKey>,
}

/// The keys imported, as admins see them.
#[derive(Serialize)]
struct Imported {
    imported: Vec<KeyView>,
}

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

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    owner: Option<String>,
    role: Option<String>,
    state: Option<KeyState>,
    limit: Option<u32>,
    cursor: Option<String>,
}

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

async fn show(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let record = state.keys.get(&id).await?;
    Ok(Json(state.keys.present(&record)))
}

async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    let record = state.keys.revoke(&id, by(&principal)).await?;
    tracing::info!(key_id = %record.id, "key revoked");
    Ok(Json(state.keys.present(&record)))
}

async fn enable(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<KeyView>, ApiError> {
    set_enabled(state, principal, id, true).await
}

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
async fn set_limits(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<SetLimits>,
) -> Result<Json<KeyView>, ApiError> {
    let record = state.keys.set_limits(&id, request, by(&principal)).await?;
    Ok(Json(state.keys.present(&record)))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateRequest {
    grace: Option<String>,
}

/// The body is optional: an empty body rotates with no grace period.
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
