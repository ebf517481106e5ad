//! Login sessions: refresh-token families with rotation and reuse detection (RFC 9700
//! §4.14.2). A family is one login; each refresh consumes the presented token (a conditional
//! write) and issues its successor. Presenting an already-rotated token again revokes the whole
//! family, unless it happens within the configured grace window after the rotation (a client
//! that lost the response and retried).

use crate::tokens::{self, RefreshToken};
use crate::{keys, Caller, TenantScope, UserRecord};
use crate::{AuthError, AuthResult};
use serde::Serialize;
use serde_json::json;
use thanotopolis_service::config::AuthSettings;
use thanotopolis_service::AppState;
use thanotopolis_store::from_item;
use thanotopolis_store::schema::MAIN_TABLE;
use thanotopolis_store::{Condition, Item, Key, Query, StoreError, Update, Write};
use uuid::Uuid;

/// TokenResponse (contract §2.12).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
    /// Always `bearer`.
    #[schema(value_type = String)]
    pub token_type: &'static str,
    pub organization_subdomain: String,
}

fn invalid() -> AuthError {
    AuthError::InvalidRefreshToken
}

/// Why a rotation's transaction was refused, by the write whose condition failed.
enum Lost {
    /// Another request rotated the token first.
    Raced,
    /// The family was revoked.
    Revoked,
    UserInactive,
    TenantInactive,
}

fn keyed(key: Key, attrs: serde_json::Value) -> Item {
    let mut item = MAIN_TABLE.key_item(&key);
    if let serde_json::Value::Object(map) = attrs {
        item.extend(map);
    }
    item
}

/// A new refresh token item in `family`.
fn token_write(
    settings: &AuthSettings,
    token: &RefreshToken,
    family_id: Uuid,
    subdomain: &str,
) -> Write {
    let item = keyed(
        keys::refresh_token(&token.hash()),
        json!({
            "tenant_id": token.tenant_id,
            "user_id": token.user_id,
            "family_id": family_id,
            "subdomain": subdomain,
            "state": "active",
            "expires_at": crate::now_epoch() + settings.refresh_ttl.as_secs() as i64,
            "gsi1pk": keys::index::tenant_tokens(&TenantScope::trusted(token.tenant_id)),
            "gsi1sk": format!("{}#{family_id}", token.user_id),
        }),
    );
    Write::Put {
        item,
        condition: Some(Condition::NotExists),
    }
}

/// The writes that start a session for `user` (a new family and its first token), for the
/// caller to commit, alone or inside a registration transaction; and the tokens to return.
pub fn start(
    settings: &AuthSettings,
    scope: &TenantScope,
    user: &UserRecord,
    subdomain: &str,
) -> (Vec<Write>, TokenPair) {
    let family_id = Uuid::new_v4();
    let refresh = RefreshToken::generate(scope.tenant_id(), user.id);
    let family = keyed(
        keys::refresh_family(scope, user.id, family_id),
        json!({
            "family_id": family_id,
            "revoked": false,
            "created_at": crate::now_rfc3339(),
            "expires_at": crate::now_epoch() + settings.refresh_ttl.as_secs() as i64,
        }),
    );
    let writes = vec![
        Write::Put {
            item: family,
            condition: Some(Condition::NotExists),
        },
        token_write(settings, &refresh, family_id, subdomain),
    ];
    let pair = TokenPair {
        access_token: tokens::issue_access(settings, user, family_id),
        refresh_token: refresh.value,
        token_type: "bearer",
        organization_subdomain: subdomain.to_string(),
    };
    (writes, pair)
}

/// Starts a session in its own transaction (login).
pub async fn login(
    state: &AppState,
    scope: &TenantScope,
    user: &UserRecord,
    subdomain: &str,
) -> AuthResult<TokenPair> {
    let (writes, pair) = start(&state.auth, scope, user, subdomain);
    state.stores.main.transact(writes).await?;
    Ok(pair)
}

/// Exchanges a refresh token for a new pair. A token has exactly one possible successor
/// ([`RefreshToken::successor`]); the first refresh stores it (two round trips: one batch read
/// of token, user and tenant, one transaction that consumes the token, extends the family only
/// if it is not revoked, re-checks that user and tenant are active and stores the successor).
/// Presenting the token again within the grace window counted from that first rotation (a
/// retry, or a request that lost a race) answers with the same successor while it is unused;
/// after the window it revokes the family.
pub async fn refresh(state: &AppState, presented: &str) -> AuthResult<TokenPair> {
    let token = RefreshToken::parse(presented).ok_or_else(invalid)?;
    let scope = TenantScope::trusted(token.tenant_id);
    let token_key = keys::refresh_token(&token.hash());
    let user_key = keys::user(&scope, token.user_id);
    let tenant_key = keys::tenant(&scope);
    let store = &state.stores.main;
    let items = store
        .batch_get(&[token_key.clone(), user_key.clone(), tenant_key.clone()])
        .await?;
    let items = thanotopolis_store::by_key(&MAIN_TABLE, items);
    let stored = items.get(&token_key).ok_or_else(invalid)?;
    let family_id = family_of(stored).ok_or_else(invalid)?;
    let family_key = keys::refresh_family(&scope, token.user_id, family_id);
    let successor = token.successor(&state.auth.jwt_secret);
    match stored.get("state").and_then(|v| v.as_str()) {
        Some("active") => {}
        Some("rotated") => return retried(state, &token, &successor, family_key).await,
        _ => return Err(invalid()),
    }
    let user: UserRecord = match items.get(&user_key) {
        Some(item) => from_item(item.clone())?,
        None => return Err(AuthError::UserInactive),
    };
    if !user.is_active {
        return Err(AuthError::UserInactive);
    }
    let tenant_active = items
        .get(&tenant_key)
        .and_then(|t| t.get("is_active").and_then(|v| v.as_bool()))
        .unwrap_or(false);
    if !tenant_active {
        return Err(AuthError::TenantInactive);
    }
    let subdomain = subdomain_of(stored);
    let now = crate::now_epoch();
    // Each guarded write names what its failing condition means.
    let (writes, lost): (Vec<Write>, Vec<Lost>) = [
        (
            Write::Update {
                key: token_key,
                update: Update::new().set("state", "rotated").set("rotated_at", now),
                condition: Some(Condition::Equals("state".into(), "active".into())),
            },
            Lost::Raced,
        ),
        (
            Write::Update {
                key: family_key.clone(),
                update: Update::new()
                    .set("expires_at", now + state.auth.refresh_ttl.as_secs() as i64),
                condition: Some(Condition::Equals("revoked".into(), false.into())),
            },
            Lost::Revoked,
        ),
        (
            Write::Check {
                key: user_key,
                condition: Condition::Equals("is_active".into(), true.into()),
            },
            Lost::UserInactive,
        ),
        (
            Write::Check {
                key: tenant_key,
                condition: Condition::Equals("is_active".into(), true.into()),
            },
            Lost::TenantInactive,
        ),
        (
            token_write(&state.auth, &successor, family_id, &subdomain),
            Lost::Revoked,
        ),
    ]
    .into_iter()
    .unzip();
    match store.transact(writes).await {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { failed }) => {
            return match failed.first().and_then(|i| lost.get(*i)) {
                // Rotated concurrently: this request lost the race for the one successor.
                Some(Lost::Raced) => retried(state, &token, &successor, family_key).await,
                Some(Lost::UserInactive) => Err(AuthError::UserInactive),
                Some(Lost::TenantInactive) => Err(AuthError::TenantInactive),
                Some(Lost::Revoked) | None => Err(invalid()),
            };
        }
        Err(StoreError::TransactionConflict) => {
            return retried(state, &token, &successor, family_key).await
        }
        Err(e) => return Err(e.into()),
    }
    Ok(TokenPair {
        access_token: tokens::issue_access(&state.auth, &user, family_id),
        refresh_token: successor.value,
        token_type: "bearer",
        organization_subdomain: subdomain,
    })
}

/// A token presented again after it was rotated. Within the grace window (counted from the
/// rotation, which is written once) the answer is the same successor, while it is still
/// unused and its session live; after the window the session is revoked (RFC 9700 §4.14.2).
async fn retried(
    state: &AppState,
    token: &RefreshToken,
    successor: &RefreshToken,
    family_key: Key,
) -> AuthResult<TokenPair> {
    let token_key = keys::refresh_token(&token.hash());
    let successor_key = keys::refresh_token(&successor.hash());
    let scope = TenantScope::trusted(token.tenant_id);
    let user_key = keys::user(&scope, token.user_id);
    let tenant_key = keys::tenant(&scope);
    let items = state
        .stores
        .main
        .batch_get(&[
            token_key.clone(),
            successor_key.clone(),
            family_key.clone(),
            user_key.clone(),
            tenant_key.clone(),
        ])
        .await?;
    let items = thanotopolis_store::by_key(&MAIN_TABLE, items);
    let Some(stored) = items.get(&token_key) else {
        return Err(invalid());
    };
    let rotated_at = stored.get("rotated_at").and_then(|v| v.as_i64());
    let within_grace = rotated_at.is_some_and(|at| {
        crate::now_epoch() - at < state.auth.refresh_reuse_grace.as_secs() as i64
    });
    if !within_grace {
        tracing::warn!(
            tenant_id = %token.tenant_id,
            user_id = %token.user_id,
            "rotated refresh token reused; revoking its family"
        );
        revoke_family(state, family_key).await?;
        return Err(invalid());
    }
    let successor_unused = items
        .get(&successor_key)
        .is_some_and(|i| i.get("state").and_then(|v| v.as_str()) == Some("active"));
    let family_live = items
        .get(&family_key)
        .is_some_and(|f| f.get("revoked").and_then(|v| v.as_bool()) == Some(false));
    let user = match items.get(&user_key) {
        Some(item) => from_item::<UserRecord>(item.clone())?,
        None => return Err(invalid()),
    };
    let tenant_active = items
        .get(&tenant_key)
        .is_some_and(|t| t.get("is_active").and_then(|v| v.as_bool()) == Some(true));
    let family_id = family_of(stored).ok_or_else(invalid)?;
    if !(successor_unused && family_live && user.is_active && tenant_active) {
        return Err(invalid());
    }
    Ok(TokenPair {
        access_token: tokens::issue_access(&state.auth, &user, family_id),
        refresh_token: successor.value.clone(),
        token_type: "bearer",
        organization_subdomain: subdomain_of(stored),
    })
}

fn family_of(token_item: &Item) -> Option<Uuid> {
    token_item
        .get("family_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
}

fn subdomain_of(token_item: &Item) -> String {
    token_item
        .get("subdomain")
        .and_then(|v| v.as_str())
        .unwrap_or_default()
        .to_string()
}

async fn revoke_family(state: &AppState, family_key: Key) -> AuthResult<()> {
    match state
        .stores
        .main
        .update(
            &family_key,
            Update::new().set("revoked", true),
            Some(Condition::Exists),
        )
        .await
    {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Ends the session of `presented` if it is the caller's; anything else is ignored (the
/// answer is the same either way, so tokens cannot be probed).
pub async fn logout(state: &AppState, caller: &Caller, presented: &str) -> AuthResult<()> {
    let Some(token) = RefreshToken::parse(presented) else {
        return Ok(());
    };
    if token.user_id != caller.user_id() || token.tenant_id != caller.scope().tenant_id() {
        return Ok(());
    }
    let token_key = keys::refresh_token(&token.hash());
    let Some(stored) = state.stores.main.get(&token_key).await? else {
        return Ok(());
    };
    if let Some(family_id) = family_of(&stored) {
        revoke_family(
            state,
            keys::refresh_family(&caller.scope(), caller.user_id(), family_id),
        )
        .await?;
    }
    state.stores.main.delete(&token_key, None).await?;
    Ok(())
}

/// Revokes every session of the caller.
pub async fn logout_all(state: &AppState, caller: &Caller) -> AuthResult<()> {
    let query = Query::new(keys::tenant_partition(&caller.scope()))
        .begins_with(keys::refresh_families_prefix(caller.user_id()));
    let mut revoked = 0;
    for family in thanotopolis_store::query_all(state.stores.main.as_ref(), &query).await? {
        let live = family.get("revoked").and_then(|v| v.as_bool()) == Some(false);
        let id = family
            .get("family_id")
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok());
        if let (true, Some(family_id)) = (live, id) {
            revoke_family(
                state,
                keys::refresh_family(&caller.scope(), caller.user_id(), family_id),
            )
            .await?;
            revoked += 1;
        }
    }
    // Revoking is many independent writes: the entry follows them, once they all succeeded.
    let scope = caller.scope();
    crate::audit::Entry::by(
        caller,
        &scope,
        "auth.logout_all",
        crate::accounts::user_target(caller.user()),
        serde_json::json!({ "sessions_revoked": revoked }),
    )
    .append(state.stores.main.as_ref(), &scope)
    .await?;
    Ok(())
}
