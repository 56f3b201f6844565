//! `POST /api/keys/verify` (`keys.verify`: admin and the `verifier` role): is this key good?
//! For services that hold keys they did not issue — their clients present Portcullis keys,
//! and they ask here instead of keeping a copy of the key table. Always 200 with a verdict
//! for a well-formed question; the verdict is `auth::authenticator::verification`'s.

use super::whoami::Permissions;
use crate::auth::keys::{QuotaView, quota_view, rfc3339};
use crate::auth::{KeyCheck, Permission, Principal, RateView, Role, VerifyCode};
use crate::config::RouteGroup;
use crate::http::error::ApiError;
use crate::http::extract::ApiJson;
use crate::http::json::Json;
use crate::http::middleware::authorize::Guard;
use crate::http::request_facts::client_ip;
use crate::http::state::AppState;
use axum::Router;
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::{Deserialize, Serialize};

/// Most uses one verification may count against a quota.
pub const MAX_COST: i64 = 10_000;

/// Most permissions one verification may ask about (there are fewer than this).
const MAX_PERMISSIONS: usize = 32;

/// Routes of this area.
pub fn router(state: &AppState) -> Router<AppState> {
    Router::new().route(
        "/api/keys/verify",
        post(verify).route_layer(Guard::new(
            state,
            RouteGroup::Verify,
            Permission::KeysVerify,
        )),
    )
}

/// The question.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Question {
    /// The key as the client presented it.
    key: String,
    /// Permissions the key's role must hold (`keys.manage`, …); none by default.
    #[serde(default)]
    permissions: Vec<String>,
    /// Quota uses to count: 1 by default, 0 only looks.
    #[serde(default = "one")]
    cost: i64,
}

fn one() -> i64 {
    1
}

/// The answer: the verdict, and who the key speaks for when it was identified.
#[derive(Serialize)]
struct Verdict<'a> {
    valid: bool,
    code: VerifyCode,
    key_id: Option<&'a str>,
    owner: Option<&'a str>,
    owner_id: Option<&'a str>,
    role: Option<Role>,
    permissions: Option<Permissions>,
    expires_at: Option<String>,
    ratelimit: Option<RateView>,
    quota: Option<QuotaView>,
}

async fn verify(
    State(state): State<AppState>,
    principal: Principal,
    request: Request,
) -> Result<Response, ApiError> {
    let client = client_ip(&request);
    let ApiJson(question) = ApiJson::<Question>::from_request(request, &state).await?;
    if question.key.is_empty() {
        return Err(ApiError::BadRequest("key must not be empty".into()));
    }
    if !(0..=MAX_COST).contains(&question.cost) {
        return Err(ApiError::BadRequest(format!(
            "cost must be between 0 and {MAX_COST}"
        )));
    }
    if question.permissions.len() > MAX_PERMISSIONS {
        return Err(ApiError::BadRequest(format!(
            "at most {MAX_PERMISSIONS} permissions may be asked about"
        )));
    }
    let permissions = question
        .permissions
        .iter()
        .map(|name| {
            Permission::parse(name)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown permission {name:?}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let check = state
        .authn
        .check_key(
            &principal,
            client,
            &question.key,
            &permissions,
            question.cost,
        )
        .await?;
    Ok(Json(verdict(&state, &check)).into_response())
}

fn verdict<'a>(state: &AppState, check: &'a KeyCheck) -> Verdict<'a> {
    let who = check.principal.as_ref();
    Verdict {
        valid: check.valid(),
        code: check.code,
        key_id: who.map(|p| p.key_id.as_str()),
        owner: who.map(|p| p.owner.as_str()),
        owner_id: who.map(|p| p.owner_id.as_str()),
        role: who.map(|p| p.role),
        permissions: who.map(|p| Permissions(p.role.permissions())),
        expires_at: who.and_then(|p| p.expires_at).and_then(rfc3339),
        ratelimit: check.rate,
        quota: who.and_then(|p| {
            let quota = p.quota.as_ref()?;
            quota_view(
                quota,
                state.verifier.pending_quota(&p.key_id),
                state.clock.now(),
            )
        }),
    }
}
