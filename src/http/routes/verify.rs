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
use axum::extract::{FromRequest, Request, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// Most uses one verification may count against a quota.
pub const MAX_COST: i64 = 10_000;

/// Most permissions one verification may ask about (there are fewer than this).
const MAX_PERMISSIONS: usize = 32;

/// Routes of this area.
pub fn router(state: &AppState) -> OpenApiRouter<AppState> {
    let guard = Guard::new(state, RouteGroup::Verify, Permission::KeysVerify);
    OpenApiRouter::new().routes(routes!(verify).map(|route| route.route_layer(guard)))
}

/// The question.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Question {
    /// The key as the client presented it.
    #[schema(min_length = 1)]
    key: String,
    /// Permissions the key's role must hold (`keys.manage`, …); none by default.
    #[serde(default)]
    #[schema(max_items = 32, value_type = Vec<crate::http::openapi::PermissionName>)]
    permissions: Vec<String>,
    /// Quota uses to count: 1 by default, 0 only looks.
    #[serde(default = "one", deserialize_with = "crate::whole_number::i64")]
    #[schema(minimum = 0, maximum = 10_000)]
    cost: i64,
}

fn one() -> i64 {
    1
}

/// The answer: the verdict, and who the key speaks for when it was identified.
#[derive(Serialize, ToSchema)]
struct Verdict<'a> {
    /// Whether the key may be used now, as asked.
    valid: bool,
    /// Why.
    code: VerifyCode,
    /// The key's id, when it was identified.
    key_id: Option<&'a str>,
    /// The owner's name.
    owner: Option<&'a str>,
    /// The owner's id.
    owner_id: Option<&'a str>,
    /// The key's role.
    role: Option<Role>,
    /// What the role may do.
    #[schema(value_type = Option<Vec<crate::http::openapi::PermissionName>>)]
    permissions: Option<Permissions>,
    /// When the key stops working, RFC 3339.
    expires_at: Option<String>,
    /// The key's rate limit after this verification.
    ratelimit: Option<RateView>,
    /// The key's quota after this verification.
    quota: Option<QuotaView>,
}

#[utoipa::path(
    post,
    path = "/api/keys/verify",
    tag = "keys",
    summary = "Is this key good?",
    description = "For services that hold Portcullis keys they did not issue. Always 200 \
        with a verdict for a well-formed question; `cost` counts against the key's quota \
        (0 only looks). Audited.",
    request_body = Question,
    responses((status = 200, description = "The verdict.", body = Verdict)),
    security(("api_key" = [])),
)]
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
