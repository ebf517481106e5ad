//! Login, refresh, me, logout.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json, RequestOrigin};
use thanotopolis_tenant_auth::accounts::{self};
use thanotopolis_tenant_auth::sessions::{self, TokenPair};
use thanotopolis_tenant_auth::validate::{EmailAddress, Subdomain, Validator};
use thanotopolis_tenant_auth::{
    audit, login_limits, password, tenants, Caller, TenantRecord, TenantScope, TokenCaller,
    UserRecord,
};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    email: String,
    password: String,
    tenant_subdomain: Option<String>,
}

/// `POST /api/auth/login`. With a tenant (`tenant_subdomain`, else `X-Tenant-ID`) the account
/// is that tenant's; without one it is the **oldest** account with this e-mail across tenants
/// (deterministic, decision D20). Unknown accounts cost the same time as wrong passwords. Failed
/// logins are limited per e-mail and per client address ([`login_limits`]).
#[utoipa::path(post, path = "/api/auth/login", security(()), request_body = LoginBody,
    summary = "Logs in with e-mail and password",
    responses(
        (status = 200, body = TokenPair),
        (status = 400, description = "Invalid tenant, User account is disabled, or Organization is not active", body = ErrorBody),
        (status = 401, description = "Invalid credentials", body = ErrorBody),
        (status = 422, body = ErrorBody),
        (status = 429, description = "Too many failed logins for this e-mail or address; `Retry-After` says when to try again", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds until the window passes"))),
    ))]
pub async fn login(
    State(state): State<AppState>,
    origin: RequestOrigin,
    headers: HeaderMap,
    Json(body): Json<LoginBody>,
) -> ApiResult<Json<TokenPair>> {
    let mut v = Validator::new();
    let email = v.email("email", &body.email);
    v.finish()?;
    let email = email.expect("validated");
    let client = origin.client_address.as_deref();
    let attempt = login_limits::Attempt::check(&state, &email, client).await?;
    let tenant_hint = body
        .tenant_subdomain
        .clone()
        .filter(|s| !s.trim().is_empty())
        .or_else(|| {
            headers
                .get("x-tenant-id")
                .and_then(|v| v.to_str().ok())
                .filter(|s| !s.trim().is_empty())
                .map(str::to_string)
        });
    match authenticate(&state, &email, &body.password, tenant_hint, &origin).await {
        Ok((scope, user, tenant)) => Ok(Json(
            sessions::login(&state, &scope, &user, &tenant.subdomain).await?,
        )),
        Err(e @ (ApiError::Unauthorized(_) | ApiError::BadRequest(_))) => {
            attempt.failed(&state).await?;
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// The account, its scope and its active organization, if `password` is its password.
async fn authenticate(
    state: &AppState,
    email: &EmailAddress,
    password: &str,
    tenant_hint: Option<String>,
    origin: &RequestOrigin,
) -> ApiResult<(TenantScope, UserRecord, TenantRecord)> {
    let store = state.stores.main.as_ref();
    let found = match tenant_hint {
        Some(raw) => {
            let (scope, tenant) = match Subdomain::parse(&raw) {
                Ok(sub) => tenants::by_subdomain(store, &sub).await?,
                Err(_) => None,
            }
            .filter(|(_, t)| t.is_active)
            .ok_or_else(|| ApiError::bad_request("Invalid tenant"))?;
            accounts::by_email(store, &scope, email)
                .await?
                .map(|user| (scope, user, Some(tenant)))
        }
        None => accounts::oldest_by_email(store, email)
            .await?
            .map(|(scope, user)| (scope, user, None)),
    };
    // The hash is always checked, so every answer costs the same time; an inactive account or
    // organization answers the same whether or not the password was right (no oracle).
    let password: String = password.chars().take(256).collect();
    let genuine = password::verify(
        password.clone(),
        found.as_ref().map(|(_, u, _)| u.hashed_password.clone()),
    )
    .await?;
    let Some((scope, user, tenant)) = found else {
        return Err(ApiError::unauthorized("Invalid credentials"));
    };
    // A failed login of an existing account is in its organization's audit trail.
    let failed = |reason: &'static str| {
        let entry = audit::Entry::anonymous(
            &scope,
            "auth.login_failed",
            accounts::user_target(&user),
            json!({ "reason": reason }),
            origin,
        );
        async move { entry.append(store, &scope).await }
    };
    if !user.is_active {
        failed("account disabled").await?;
        return Err(ApiError::bad_request("User account is disabled"));
    }
    let tenant = match tenant {
        Some(t) => t,
        None => tenants::load(store, &scope)
            .await?
            .ok_or_else(|| ApiError::unauthorized("Invalid credentials"))?,
    };
    if !tenant.is_active {
        failed("organization inactive").await?;
        return Err(ApiError::bad_request("Organization is not active"));
    }
    if !genuine {
        failed("wrong password").await?;
        return Err(ApiError::unauthorized("Invalid credentials"));
    }
    if password::is_bcrypt(&user.hashed_password) {
        // An account imported from the old backend: from now on it has an argon2id hash. A
        // failure leaves the bcrypt hash (checked again next time) and does not fail the login.
        if let Err(e) = accounts::upgrade_password_hash(store, &scope, &user, password).await {
            tracing::warn!(user_id = %user.id, error = %e, "bcrypt hash not replaced");
        }
    }
    Ok((scope, user, tenant))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RefreshBody {
    refresh_token: String,
}

/// Exchanges a refresh token for a new pair; the old refresh token is spent (reusing it
/// revokes its whole session family).
#[utoipa::path(post, path = "/api/auth/refresh", security(()), request_body = RefreshBody,
    summary = "Exchanges a refresh token for a new pair",
    responses(
        (status = 200, body = TokenPair),
        (status = 401, description = "Invalid refresh token", body = ErrorBody),
    ))]
pub async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshBody>,
) -> ApiResult<Json<TokenPair>> {
    Ok(Json(sessions::refresh(&state, &body.refresh_token).await?))
}

/// `GET /api/auth/me` and `/api/me`: one store round trip (the extractor's read).
#[utoipa::path(get, path = "/api/auth/me", summary = "The caller's user record",
    responses(
        (status = 200, description = "The user", body = thanotopolis_tenant_auth::records::UserResponse),
        (status = 401, body = ErrorBody),
    ))]
pub async fn me(caller: Caller) -> Json<Value> {
    Json(caller.user().response())
}

/// Ends the session of the given refresh token.
#[utoipa::path(post, path = "/api/auth/logout", request_body = RefreshBody,
    responses(
        (status = 200, description = "`{\"detail\": \"Successfully logged out\"}`", body = Object),
        (status = 401, body = ErrorBody),
    ))]
pub async fn logout(
    State(state): State<AppState>,
    TokenCaller(caller): TokenCaller,
    Json(body): Json<RefreshBody>,
) -> ApiResult<impl IntoResponse> {
    sessions::logout(&state, &caller, &body.refresh_token).await?;
    Ok(Json(json!({ "detail": "Successfully logged out" })))
}

/// Ends every session of the caller.
#[utoipa::path(post, path = "/api/auth/logout/all",
    responses(
        (status = 200, description = "`{\"detail\": \"Successfully logged out from all sessions\"}`", body = Object),
        (status = 401, body = ErrorBody),
    ))]
pub async fn logout_all(
    State(state): State<AppState>,
    TokenCaller(caller): TokenCaller,
) -> ApiResult<impl IntoResponse> {
    sessions::logout_all(&state, &caller).await?;
    thanotopolis_conversations::presence::end_user_sockets(
        &state,
        caller.scope().tenant_id(),
        caller.user_id(),
    )
    .await?;
    Ok(Json(
        json!({ "detail": "Successfully logged out from all sessions" }),
    ))
}
