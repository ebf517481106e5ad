//! The one request-auth extractor. It verifies the bearer token, then reads the caller's user
//! and tenant items in one round trip, so a deactivation or role change takes effect on the
//! next request even for tokens already issued.

use crate::records::from_item;
use crate::{keys, tokens, Role, TenantRecord, TenantScope, UserRecord};
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use thanotopolis_service::{ApiError, ApiResult, AppState};
use uuid::Uuid;

/// An authenticated, active user of an active organization.
#[derive(Clone, Debug)]
pub struct Caller {
    user: UserRecord,
    tenant: TenantRecord,
    scope: TenantScope,
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

    /// The scope of `tenant_id` if the caller may act on it: its own tenant, or any tenant
    /// for a super_admin. `None` means the id must read as absent (404).
    pub fn scope_for(&self, tenant_id: Uuid) -> Option<TenantScope> {
        if tenant_id == self.scope.tenant_id() || self.role() == Role::SuperAdmin {
            Some(TenantScope::trusted(tenant_id))
        } else {
            None
        }
    }

    /// Authenticates an access token presented outside an HTTP header (the WebSocket
    /// handshake's `token` parameter): an active user of an active organization.
    pub async fn from_access_token(state: &AppState, token: &str) -> ApiResult<Caller> {
        let (user_id, tenant_id) = tokens::verify_access(&state.auth, token)
            .ok_or_else(|| ApiError::unauthorized("Could not validate credentials"))?;
        let caller = Self::load(state, TenantScope::trusted(tenant_id), user_id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("User not found"))?;
        record_in_span(tenant_id, user_id);
        caller.require_active()
    }

    /// The caller recorded in a WebSocket connection row, re-read so that a deactivation
    /// takes effect on the next frame. The ids must come from a row written at `$connect`
    /// after [`Caller::from_access_token`] verified them.
    pub async fn from_connection(
        state: &AppState,
        tenant_id: Uuid,
        user_id: Uuid,
    ) -> ApiResult<Caller> {
        Self::load(state, TenantScope::trusted(tenant_id), user_id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("User not found"))?
            .require_active()
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

    /// Authenticates the request's bearer token (CONTRACT §1.2 answers).
    async fn authenticate(parts: &Parts, state: &AppState) -> ApiResult<Caller> {
        let header = parts
            .headers
            .get(AUTHORIZATION)
            .ok_or_else(|| ApiError::forbidden("Not authenticated"))?;
        let token = header
            .to_str()
            .ok()
            .and_then(|h| {
                let (scheme, token) = h.split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::forbidden("Invalid authentication credentials"))?;
        let (user_id, tenant_id) = tokens::verify_access(&state.auth, token)
            .ok_or_else(|| ApiError::unauthorized("Could not validate credentials"))?;
        let caller = Self::load(state, TenantScope::trusted(tenant_id), user_id)
            .await?
            .ok_or_else(|| ApiError::unauthorized("User not found"))?;
        record_in_span(tenant_id, user_id);
        Ok(caller)
    }

    /// Reads a user and its tenant in one round trip.
    pub(crate) async fn load(
        state: &AppState,
        scope: TenantScope,
        user_id: Uuid,
    ) -> ApiResult<Option<Caller>> {
        let user_key = keys::user(&scope, user_id);
        let tenant_key = keys::tenant(&scope);
        let items = state
            .stores
            .main
            .batch_get(&[user_key.clone(), tenant_key])
            .await?;
        let (mut user, mut tenant) = (None, None);
        for item in items {
            if item.get("sk").and_then(|v| v.as_str()) == user_key.sk.as_deref() {
                user = Some(from_item::<UserRecord>(item)?);
            } else {
                tenant = Some(from_item::<TenantRecord>(item)?);
            }
        }
        Ok(match (user, tenant) {
            (Some(user), Some(tenant)) => Some(Caller {
                user,
                tenant,
                scope,
            }),
            _ => None,
        })
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

/// Every later log line of the request (or WebSocket event) names its tenant and user.
fn record_in_span(tenant_id: Uuid, user_id: Uuid) {
    let span = tracing::Span::current();
    span.record("tenant_id", tracing::field::display(tenant_id));
    span.record("user_id", tracing::field::display(user_id));
}
