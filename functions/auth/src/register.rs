//! Registration: a user joins an organization by its access code, and is logged in.

use axum::extract::State;
use serde::Deserialize;
use serde_json::Value;
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json};
use thanotopolis_tenant_auth::accounts::{self, NewAccount};
use thanotopolis_tenant_auth::creation::{Claim, Creation, CreationError};
use thanotopolis_tenant_auth::sessions::{self, TokenPair};
use thanotopolis_tenant_auth::validate::{Validator, MAX_SHORT_TEXT};
use thanotopolis_tenant_auth::{tenants, Role, TenantRecord, TenantScope, UserRecord};

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
        Ok(()) => {
            // Conversations that invited this address before it had an account here. The
            // account exists either way: a failure leaves those invitations pending.
            let store = state.stores.main.as_ref();
            match thanotopolis_conversations::invitations::claim(store, &scope, &user).await {
                Ok(joined) => tracing::info!(joined, "pending invitations claimed"),
                Err(e) => tracing::warn!(error = %e, "pending invitations not claimed"),
            }
            Ok((user, pair))
        }
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
