//! The one request-auth extractor. It verifies the bearer token, then reads the caller's user,
//! tenant and session (refresh-token family) in one round trip, so a deactivation, a role
//! change or a logout takes effect on the next request even for tokens already issued.

use crate::tokens::AccessSubject;
use crate::{keys, tokens, Role, TenantRecord, TenantScope, UserRecord};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use thanotopolis_service::{ApiError, ApiResult, AppState, RequestOrigin};
use thanotopolis_store::from_item;
use thanotopolis_store::schema::MAIN_TABLE;
use uuid::Uuid;

/// An authenticated, active user of an active organization.
#[derive(Clone, Debug)]
pub struct Caller {
    user: UserRecord,
    tenant: TenantRecord,
    scope: TenantScope,
    session_id: Uuid,
    /// The request's id and client address, for the audit trail (empty outside HTTP).
    origin: RequestOrigin,
}

/// An authenticated user whose account or organization may be inactive: only for what an
/// inactive user may still do (log out).
#[derive(Clone, Debug)]
pub struct TokenCaller(pub Caller);

impl Caller {
    pub fn user_id(&self) -> Uuid {
        self.user.id
    }

    /// The stored role (never the token's claim).
    pub fn role(&self) -> Role {
        self.user.role
    }

    pub fn user(&self) -> &UserRecord {
        &self.user
    }

    pub fn tenant(&self) -> &TenantRecord {
        &self.tenant
    }

    /// The caller's own tenant.
    pub fn scope(&self) -> TenantScope {
        self.scope
    }

    /// Where the caller's request came from.
    pub fn origin(&self) -> &RequestOrigin {
        &self.origin
    }

    /// The login session (refresh-token family) the caller's access token belongs to.
    pub fn session_id(&self) -> Uuid {
        self.session_id
    }

    /// The scope of `tenant_id` if the caller may act on it: its own tenant, or any tenant
    /// for a super_admin. `None` means the id must read as absent (404).
    pub fn scope_for(&self, tenant_id: Uuid) -> Option<TenantScope> {
        if tenant_id == self.scope.tenant_id() || crate::policy::sees_all_tenants(self) {
            Some(TenantScope::trusted(tenant_id))
        } else {
            None
        }
    }

    /// Authenticates an access token presented outside an HTTP header (the WebSocket
    /// handshake's `token` parameter): an active user of an active organization.
    pub async fn from_access_token(state: &AppState, token: &str) -> ApiResult<Caller> {
        Self::verify(state, token).await?.require_active()
    }

    /// The caller recorded in a WebSocket connection row, re-read so that a deactivation or
    /// logout takes effect on the next frame. The ids must come from a row written at
    /// `$connect` after [`Caller::from_access_token`] verified them.
    pub async fn from_connection(state: &AppState, subject: AccessSubject) -> ApiResult<Caller> {
        Self::load(state, subject)
            .await?
            .ok_or_else(|| ApiError::unauthorized("User not found"))?
            .require_active()
    }

    /// The ids this caller was authenticated with, for a connection row.
    pub fn subject(&self) -> AccessSubject {
        AccessSubject {
            user_id: self.user.id,
            tenant_id: self.scope.tenant_id(),
            session_id: self.session_id,
        }
    }

    fn require_active(self) -> ApiResult<Caller> {
        if !self.user.is_active {
            return Err(ApiError::bad_request("Inactive user"));
        }
        if !self.tenant.is_active {
            return Err(ApiError::bad_request("Organization is not active"));
        }
        Ok(self)
    }

    /// Authenticates the request's bearer token. A missing or non-Bearer `Authorization` is
    /// 401 with `WWW-Authenticate: Bearer` (RFC 9110 §15.5.2), like a bad token; the old
    /// system's 403 for it (contract §1.2) was FastAPI's quirk. 403 means the caller is known
    /// and not allowed.
    async fn authenticate(parts: &Parts, state: &AppState) -> ApiResult<Caller> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::unauthorized("Not authenticated"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                let (scheme, token) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::unauthorized("Invalid authentication credentials"))?;
        let mut caller = Self::verify(state, token).await?;
        caller.origin = RequestOrigin::of(parts);
        Ok(caller)
    }

    /// Verifies an access token and loads its caller (active or not).
    async fn verify(state: &AppState, token: &str) -> ApiResult<Caller> {
        let subject = tokens::verify_access(&state.auth, token)
            .ok_or_else(|| ApiError::unauthorized("Could not validate credentials"))?;
        record_in_span(subject.tenant_id, subject.user_id);
        Self::load(state, subject)
            .await?
            .ok_or_else(|| ApiError::unauthorized("User not found"))
    }

    /// Reads a user, its tenant and its session in one round trip. A session that was logged
    /// out (revoked) or has expired reads as an invalid token.
    async fn load(state: &AppState, subject: AccessSubject) -> ApiResult<Option<Caller>> {
        let scope = TenantScope::trusted(subject.tenant_id);
        let user_key = keys::user(&scope, subject.user_id);
        let tenant_key = keys::tenant(&scope);
        let session_key = keys::refresh_family(&scope, subject.user_id, subject.session_id);
        let items = state
            .stores
            .main
            .batch_get(&[user_key.clone(), tenant_key.clone(), session_key.clone()])
            .await?;
        let mut items = thanotopolis_store::by_key(&MAIN_TABLE, items);
        let user = items
            .remove(&user_key)
            .map(from_item::<UserRecord>)
            .transpose()?;
        let tenant = items
            .remove(&tenant_key)
            .map(from_item::<TenantRecord>)
            .transpose()?;
        let session_live = items
            .get(&session_key)
            .is_some_and(|s| s.get("revoked").and_then(|v| v.as_bool()) == Some(false));
        match (user, tenant) {
            (Some(user), Some(tenant)) if session_live => Ok(Some(Caller {
                user,
                tenant,
                scope,
                session_id: subject.session_id,
                origin: RequestOrigin::default(),
            })),
            (Some(_), Some(_)) => Err(ApiError::unauthorized("Could not validate credentials")),
            _ => Ok(None),
        }
    }
}

impl FromRequestParts<AppState> for TokenCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        Caller::authenticate(parts, state).await.map(TokenCaller)
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Self> {
        Caller::authenticate(parts, state).await?.require_active()
    }
}

/// Which of `user_ids` (users of one tenant, as recorded in connection rows written at
/// `$connect` after their token was verified) are active members of an active tenant now: the
/// recipients a fan-out may deliver to. One batch read.
pub async fn active_users(
    state: &AppState,
    tenant_id: Uuid,
    user_ids: &[Uuid],
) -> thanotopolis_store::StoreResult<std::collections::HashSet<Uuid>> {
    let scope = TenantScope::trusted(tenant_id);
    let tenant_key = keys::tenant(&scope);
    let mut wanted: Vec<_> = user_ids.iter().map(|id| keys::user(&scope, *id)).collect();
    wanted.push(tenant_key.clone());
    let mut items =
        thanotopolis_store::by_key(&MAIN_TABLE, state.stores.main.batch_get(&wanted).await?);
    let tenant_active = items
        .remove(&tenant_key)
        .is_some_and(|t| t.get("is_active").and_then(|v| v.as_bool()) == Some(true));
    if !tenant_active {
        return Ok(Default::default());
    }
    let users: Vec<UserRecord> = thanotopolis_store::readable(items.into_values());
    Ok(users
        .into_iter()
        .filter(|u| u.is_active)
        .map(|u| u.id)
        .collect())
}

/// Every later log line of the request (or WebSocket event) names its tenant and user.
fn record_in_span(tenant_id: Uuid, user_id: Uuid) {
    let span = tracing::Span::current();
    span.record("tenant_id", tracing::field::display(tenant_id));
    span.record("user_id", tracing::field::display(user_id));
}
