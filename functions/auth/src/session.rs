//! Login, refresh, me, logout.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_conversations::invitations;
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
    let store = state.stores.main.as_ref();
    match authenticate(&state, &email, &body.password, tenant_hint, &origin).await? {
        Ok((scope, user, tenant)) => {
            // Invitations still pending for the account (it was deactivated when invited, or
            // its registration could not claim them) make it a member now.
            let (pair, claimed) = tokio::join!(
                sessions::login(&state, &scope, &user, &tenant.subdomain),
                invitations::claim(store, &scope, &user)
            );
            match claimed {
                Ok(0) => {}
                Ok(joined) => tracing::info!(joined, "pending invitations claimed at login"),
                Err(e) => tracing::warn!(error = %e, "pending invitations not claimed"),
            }
            Ok(Json(pair?))
        }
        Err(refusal) => {
            // The counters and an existing account's audit entry are written at once, so
            // refusing an existing account takes no longer than refusing an unknown address.
            let audited = async {
                match &refusal.audit {
                    Some((scope, entry)) => entry.append(store, scope).await,
                    None => Ok(()),
                }
            };
            let (counted, audited) = tokio::join!(attempt.failed(&state), audited);
            counted?;
            audited?;
            Err(refusal.error)
        }
    }
}

/// Why a login was refused, and the entry it leaves in the audit trail of an existing
/// account's organization.
struct Refusal {
    error: ApiError,
    audit: Option<(TenantScope, audit::Entry)>,
}

impl Refusal {
    fn unknown(error: ApiError) -> Self {
        Refusal { error, audit: None }
    }

    fn of(
        scope: &TenantScope,
        user: &UserRecord,
        origin: &RequestOrigin,
        reason: &str,
        error: ApiError,
    ) -> Self {
        let entry = audit::Entry::anonymous(
            scope,
            "auth.login_failed",
            accounts::user_target(user),
            json!({ "reason": reason }),
            origin,
        );
        Refusal {
            error,
            audit: Some((*scope, entry)),
        }
    }
}

/// The account, its scope and its active organization if `password` is its password, else
/// why not.
async fn authenticate(
    state: &AppState,
    email: &EmailAddress,
    password: &str,
    tenant_hint: Option<String>,
    origin: &RequestOrigin,
) -> ApiResult<Result<(TenantScope, UserRecord, TenantRecord), Refusal>> {
    let store = state.stores.main.as_ref();
    let found = match tenant_hint {
        Some(raw) => {
            let hinted = match Subdomain::parse(&raw) {
                Ok(sub) => tenants::by_subdomain(store, &sub).await?,
                Err(_) => None,
            }
            .filter(|(_, t)| t.is_active);
            let Some((scope, tenant)) = hinted else {
                return Ok(Err(Refusal::unknown(ApiError::bad_request(
                    "Invalid tenant",
                ))));
            };
            accounts::by_email(store, &scope, email)
                .await?
                .map(|user| (scope, user, Some(tenant)))
        }
        None => accounts::oldest_by_email(store, email)
            .await?
            .map(|(scope, user)| (scope, user, None)),
    };
    // The hash is always checked, so every answer costs the same time (the organization is
    // read meanwhile); an inactive account or organization answers the same whether or not
    // the password was right (no oracle).
    let password: String = password.chars().take(256).collect();
    let hash = found.as_ref().map(|(_, u, _)| u.hashed_password.clone());
    let organization = async {
        match &found {
            Some((scope, _, None)) => tenants::load(store, scope).await,
            _ => Ok(None),
        }
    };
    let (genuine, organization) =
        tokio::join!(password::verify(password.clone(), hash), organization);
    let (genuine, organization) = (genuine?, organization?);
    let Some((scope, user, hinted)) = found else {
        return Ok(Err(Refusal::unknown(ApiError::unauthorized(
            "Invalid credentials",
        ))));
    };
    let refused = |reason, error| Ok(Err(Refusal::of(&scope, &user, origin, reason, error)));
    if !user.is_active {
        return refused(
            "account disabled",
            ApiError::bad_request("User account is disabled"),
        );
    }
    let Some(tenant) = hinted.or(organization) else {
        return Ok(Err(Refusal::unknown(ApiError::unauthorized(
            "Invalid credentials",
        ))));
    };
    if !tenant.is_active {
        return refused(
            "organization inactive",
            ApiError::bad_request("Organization is not active"),
        );
    }
    if !genuine {
        return refused(
            "wrong password",
            ApiError::unauthorized("Invalid credentials"),
        );
    }
    if password::is_bcrypt(&user.hashed_password) {
        // An account imported from the old backend: from now on it has an argon2id hash. A
        // failure leaves the bcrypt hash (checked again next time) and does not fail the login.
        if let Err(e) = accounts::upgrade_password_hash(store, &scope, &user, password).await {
            tracing::warn!(user_id = %user.id, error = %e, "bcrypt hash not replaced");
        }
    }
    Ok(Ok((scope, user, tenant)))
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
