//! Register, login, refresh, me, logout.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiError, ApiResult, AppState, ClientAddress, Json};
use thanotopolis_tenant_auth::accounts::{self, NewAccount};
use thanotopolis_tenant_auth::creation::{Claim, Creation, CreationError};
use thanotopolis_tenant_auth::sessions::{self, TokenPair};
use thanotopolis_tenant_auth::validate::{EmailAddress, Subdomain, Validator, MAX_SHORT_TEXT};
use thanotopolis_tenant_auth::{
    login_limits, password, tenants, Caller, Role, TenantRecord, TenantScope, TokenCaller,
    UserRecord,
};

/// Longest username.
const MAX_USERNAME: usize = 64;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterBody {
    email: String,
    username: String,
    password: String,
    first_name: Option<String>,
    last_name: Option<String>,
    access_code: Option<String>,
}

/// The tenant a self-registration joins: the one whose access code the body carries (the
/// frontend always sends it). Subdomains are public, so a subdomain (`X-Tenant-ID`, `Host`)
/// never admits anyone. Only active tenants.
async fn registration_tenant(
    state: &AppState,
    access_code: Option<&str>,
) -> ApiResult<(TenantScope, TenantRecord)> {
    let code = access_code
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .ok_or_else(|| {
            ApiError::bad_request("An access code is required to join an organization")
        })?;
    tenants::by_access_code(state.stores.main.as_ref(), code)
        .await?
        .filter(|(_, t)| t.is_active)
        .ok_or_else(|| ApiError::bad_request("Tenant not found"))
}

/// Creates the account and its first session in one transaction.
async fn register_account(
    state: &AppState,
    body: RegisterBody,
) -> ApiResult<(UserRecord, TokenPair)> {
    let mut v = Validator::new();
    let email = v.email("email", &body.email);
    let username = v.text("username", &body.username, MAX_USERNAME);
    let password = v.password("password", &body.password);
    let first_name = v.optional_text("first_name", body.first_name.as_deref(), MAX_SHORT_TEXT);
    let last_name = v.optional_text("last_name", body.last_name.as_deref(), MAX_SHORT_TEXT);
    v.finish()?;
    let (Some(email), Some(username), Some(password), Some(first_name), Some(last_name)) =
        (email, username, password, first_name, last_name)
    else {
        unreachable!("Validator::finish fails when any field is invalid")
    };
    let (scope, tenant) = registration_tenant(state, body.access_code.as_deref()).await?;
    let user = accounts::new_user(
        &scope,
        NewAccount {
            email,
            username,
            password,
            first_name,
            last_name,
            role: Role::User,
            is_verified: false,
        },
    )
    .await?;
    let mut creation = Creation::new();
    accounts::create(&mut creation, &scope, &user);
    accounts::count_claim(&mut creation, &scope);
    let (session, pair) = sessions::start(&state.auth, &scope, &user, &tenant.subdomain);
    creation.extend(session);
    match creation.commit(state.stores.main.as_ref()).await {
        Ok(()) => Ok((user, pair)),
        Err(CreationError::Taken(Claim::Email)) => Err(ApiError::bad_request(
            "Email already registered in this organization",
        )),
        Err(CreationError::Taken(Claim::Username)) => Err(ApiError::bad_request(
            "Username already taken in this organization",
        )),
        Err(CreationError::Taken(Claim::ActiveTenant)) => {
            Err(ApiError::bad_request("Tenant not found"))
        }
        Err(CreationError::Taken(_) | CreationError::Conflict) => Err(ApiError::Conflict(
            "Registration conflicted; please retry".into(),
        )),
        Err(CreationError::Store(e)) => Err(e.into()),
    }
}

/// `POST /api/auth/register`: the new user **and** its tokens (decision D4: the frontend logs
/// straight in with them).
#[utoipa::path(post, path = "/api/auth/register", security(()), request_body = RegisterBody,
    summary = "Registers a user in an organization (by access code) and logs them in",
    responses(
        (status = 200, description = "The new user with `access_token`, `refresh_token` and `token_type`", body = Object),
        (status = 400, description = "E-mail or username already registered, no access code, or no organization with that access code", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegisterBody>,
) -> ApiResult<Json<Value>> {
    let (user, pair) = register_account(&state, body).await?;
    let mut response = user.response();
    if let (Value::Object(map), Ok(Value::Object(tokens))) =
        (&mut response, serde_json::to_value(&pair))
    {
        map.extend(tokens);
    }
    Ok(Json(response))
}

/// Registers like `/api/auth/register` and answers with the tokens only.
#[utoipa::path(post, path = "/api/auth/register/token", security(()), request_body = RegisterBody,
    responses(
        (status = 200, body = TokenPair),
        (status = 400, body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn register_token(
    State(state): State<AppState>,
    Json(body): Json<RegisterBody>,
) -> ApiResult<Json<TokenPair>> {
    let (_, pair) = register_account(&state, body).await?;
    Ok(Json(pair))
}

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
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    Json(body): Json<LoginBody>,
) -> ApiResult<Json<TokenPair>> {
    let mut v = Validator::new();
    let email = v.email("email", &body.email);
    v.finish()?;
    let email = email.expect("validated");
    let attempt = login_limits::Attempt::check(&state, &email, client.as_deref()).await?;
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
    match authenticate(&state, &email, &body.password, tenant_hint).await {
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
    let genuine = password::verify(
        password.chars().take(256).collect(),
        found.as_ref().map(|(_, u, _)| u.hashed_password.clone()),
    )
    .await?;
    let Some((scope, user, tenant)) = found else {
        return Err(ApiError::unauthorized("Invalid credentials"));
    };
    if !user.is_active {
        return Err(ApiError::bad_request("User account is disabled"));
    }
    let tenant = match tenant {
        Some(t) => t,
        None => tenants::load(store, &scope)
            .await?
            .ok_or_else(|| ApiError::unauthorized("Invalid credentials"))?,
    };
    if !tenant.is_active {
        return Err(ApiError::bad_request("Organization is not active"));
    }
    if !genuine {
        return Err(ApiError::unauthorized("Invalid credentials"));
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
