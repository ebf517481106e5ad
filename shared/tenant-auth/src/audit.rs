//! The organization's audit trail: an append-only log of security-relevant changes (roles,
//! activation, removals, access codes, organization edits, budgets, failed logins, logouts).
//! An entry is put with a "must not exist" condition and never updated; where the change is a
//! transaction, the entry is one of its writes ([`Entry::write`]), so a change without its
//! entry cannot happen. Entries never hold secrets: no passwords, hashes, tokens or codes.

use crate::{keys, Caller, Role, TenantScope};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use thanotopolis_service::RequestOrigin;
use thanotopolis_store::schema::MAIN_TABLE;
use thanotopolis_store::{Condition, Item, Query, Store, StoreResult, Write};
use uuid::Uuid;

/// Who made a change.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Actor {
    pub id: Uuid,
    pub email: String,
    #[schema(value_type = String)]
    pub role: Role,
}

/// What a change was made to.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Target {
    /// `user`, `organization`, `agent`, `conversation`, …
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
    /// For people reading the log: an e-mail address, a name.
    pub label: Option<String>,
}

impl Target {
    pub fn new(kind: &str, id: impl ToString, label: Option<&str>) -> Target {
        Target {
            kind: kind.to_string(),
            id: Some(id.to_string()),
            label: label.map(str::to_string),
        }
    }
}

/// One entry of the log, as stored and as the API shows it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
pub struct Entry {
    /// A UUIDv7: entries sort by time.
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub created_at: String,
    /// `null` for what no signed-in user did (a failed login).
    pub actor: Option<Actor>,
    /// E.g. `user.role_changed`, `organization.updated`, `auth.login_failed`.
    pub action: String,
    pub target: Target,
    /// Each changed field as `{"before": …, "after": …}`.
    #[schema(value_type = Object)]
    pub changes: Value,
    pub request_id: Option<String>,
    pub client_address: Option<String>,
}

/// A field's change, for [`Entry::changes`].
pub fn change(before: impl Serialize, after: impl Serialize) -> Value {
    json!({ "before": before, "after": after })
}

impl Entry {
    /// An entry of something `caller` did in the organization of `scope`.
    pub fn by(
        caller: &Caller,
        scope: &TenantScope,
        action: &str,
        target: Target,
        changes: Value,
    ) -> Entry {
        let mut entry = Entry::anonymous(scope, action, target, changes, caller.origin());
        entry.actor = Some(Actor {
            id: caller.user_id(),
            email: caller.user().email.clone(),
            role: caller.user().role,
        });
        entry
    }

    /// An entry with no signed-in actor.
    pub fn anonymous(
        scope: &TenantScope,
        action: &str,
        target: Target,
        changes: Value,
        origin: &RequestOrigin,
    ) -> Entry {
        Entry {
            id: Uuid::now_v7(),
            tenant_id: scope.tenant_id(),
            created_at: crate::now_rfc3339(),
            actor: None,
            action: action.to_string(),
            target,
            changes,
            request_id: origin.request_id.clone(),
            client_address: origin.client_address.clone(),
        }
    }

    /// The entry as one write of the change's transaction.
    pub fn write(&self, scope: &TenantScope) -> Write {
        let mut item: Item = MAIN_TABLE.key_item(&keys::audit_entry(scope, self.id));
        if let Ok(Value::Object(fields)) = serde_json::to_value(self) {
            item.extend(fields);
        }
        Write::Put {
            item,
            condition: Some(Condition::NotExists),
        }
    }

    /// Makes `change` and appends this entry in one transaction. `false`: the change's own
    /// condition failed (nothing was written).
    pub async fn commit(
        &self,
        store: &dyn Store,
        scope: &TenantScope,
        change: Write,
    ) -> StoreResult<bool> {
        match store.transact(vec![change, self.write(scope)]).await {
            Ok(()) => Ok(true),
            Err(thanotopolis_store::StoreError::TransactionCanceled { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Appends the entry on its own, for a change that is not a transaction of ours.
    pub async fn append(&self, store: &dyn Store, scope: &TenantScope) -> StoreResult<()> {
        store.transact(vec![self.write(scope)]).await
    }
}

/// Which entries to list.
#[derive(Default)]
pub struct Filter {
    pub action: Option<String>,
    pub actor_id: Option<Uuid>,
}

impl Filter {
    fn admits(&self, entry: &Entry) -> bool {
        self.action.as_ref().is_none_or(|a| &entry.action == a)
            && self
                .actor_id
                .is_none_or(|id| entry.actor.as_ref().is_some_and(|actor| actor.id == id))
    }
}

/// Queries made for one filtered answer at most; then it ends early, with a cursor.
const SCAN_PAGES: usize = 10;

/// Up to `limit` entries, newest first, matching `filter`, after `cursor`; and the cursor of
/// the next page when more may follow. Each query asks for no more entries than are still
/// wanted, so the answer never stops inside a page; a filtered answer makes at most
/// [`SCAN_PAGES`] queries, so it may hold fewer than `limit` entries and still have a cursor.
pub async fn list(
    store: &dyn Store,
    scope: &TenantScope,
    filter: &Filter,
    limit: usize,
    cursor: Option<String>,
) -> StoreResult<(Vec<Entry>, Option<String>)> {
    let mut cursor = cursor;
    let mut found: Vec<Entry> = Vec::new();
    for _ in 0..SCAN_PAGES {
        let wanted = limit.saturating_sub(found.len()).max(1);
        let query = Query::new(keys::audit_partition(scope))
            .backward()
            .limit(u32::try_from(wanted).unwrap_or(u32::MAX))
            .after(cursor.take());
        let page = store.query(&query).await?;
        let entries: Vec<Entry> = thanotopolis_store::readable(page.items);
        found.extend(entries.into_iter().filter(|e| filter.admits(e)));
        match page.cursor {
            Some(next) if found.len() < limit => cursor = Some(next),
            next => return Ok((found, next)),
        }
    }
    Ok((found, cursor))
}
