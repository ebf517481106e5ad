//! Finding tenants from public input (subdomain, access code) and creating them. A tenant
//! found here yields the [`TenantScope`] used to register or log in to it.

use crate::audit;
use crate::creation::{Claim, Creation, CreationError, Imported};
use crate::records::Record;
use crate::validate::Subdomain;
use crate::AuthResult;
use crate::{keys, TenantRecord, TenantScope};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;
use thanotopolis_store::from_item;
use thanotopolis_store::schema::MAIN_TABLE;
use thanotopolis_store::{Condition, Item, Store, StoreError, Write};

/// A new random access code: 8 random bytes, 11 URL-safe characters.
pub fn new_access_code() -> String {
    URL_SAFE_NO_PAD.encode(crate::random_bytes::<8>())
}

/// Gives the organization a new access code (its entry in the access-code index moves with
/// it), with its audit entry: the old code stops working at once.
pub async fn regenerate_access_code(
    store: &dyn Store,
    caller: &crate::Caller,
    scope: &TenantScope,
) -> AuthResult<TenantRecord> {
    let code = new_access_code();
    let update = thanotopolis_store::Update::new()
        .set("access_code", code.clone())
        .set("gsi2pk", keys::index::access_code(&code))
        .set("updated_at", crate::now_rfc3339());
    // The codes themselves stay out of the log: each lets anyone join.
    let entry = audit::Entry::by(
        caller,
        scope,
        "organization.access_code_regenerated",
        audit::Target::new(
            "organization",
            scope.tenant_id(),
            Some(&caller.tenant().name),
        ),
        json!({}),
    );
    let change = Write::Update {
        key: keys::tenant(scope),
        update,
        condition: Some(Condition::Exists),
    };
    if !entry.commit(store, scope, change).await? {
        return Err(StoreError::ConditionFailed.into());
    }
    load(store, scope)
        .await?
        .ok_or_else(|| StoreError::ConditionFailed.into())
}

/// Sets (or, with `None`, removes) the organization's monthly AI budget, with its audit entry
/// (by `caller`, or by the operator's command line). `None` when there is no such
/// organization.
pub async fn set_ai_budget(
    store: &dyn Store,
    caller: Option<&crate::Caller>,
    scope: &TenantScope,
    budget: Option<crate::records::AiBudget>,
) -> AuthResult<Option<TenantRecord>> {
    let Some(before) = load(store, scope).await? else {
        return Ok(None);
    };
    let update = match budget {
        Some(b) => thanotopolis_store::Update::new().set("ai_budget", json!(b)),
        None => thanotopolis_store::Update::new().remove("ai_budget"),
    }
    .set("updated_at", crate::now_rfc3339());
    let (action, target, changes) = (
        "organization.budget_changed",
        audit::Target::new("organization", scope.tenant_id(), Some(&before.name)),
        json!({ "ai_budget": audit::change(before.ai_budget, budget) }),
    );
    let entry = match caller {
        Some(caller) => audit::Entry::by(caller, scope, action, target, changes),
        None => audit::Entry::anonymous(
            scope,
            action,
            target,
            changes,
            &crate::operator::command_line(),
        ),
    };
    let change = Write::Update {
        key: keys::tenant(scope),
        update,
        condition: Some(Condition::Exists),
    };
    if !entry.commit(store, scope, change).await? {
        return Ok(None);
    }
    load(store, scope).await
}

/// The tenant of a scope.
pub async fn load(store: &dyn Store, scope: &TenantScope) -> AuthResult<Option<TenantRecord>> {
    Ok(thanotopolis_store::get_record(store, &keys::tenant(scope)).await?)
}

/// The tenant that owns `subdomain` (active or not).
pub async fn by_subdomain(
    store: &dyn Store,
    subdomain: &Subdomain,
) -> AuthResult<Option<(TenantScope, TenantRecord)>> {
    let Some((scope, _)) = claimed_by(store, subdomain).await? else {
        return Ok(None);
    };
    Ok(load(store, &scope).await?.map(|t| (scope, t)))
}

/// The tenant that claims `subdomain`, and the claim, whether or not the organization's own
/// item is still there (an erasure that was interrupted: operators' tools).
pub async fn claimed_by(
    store: &dyn Store,
    subdomain: &Subdomain,
) -> AuthResult<Option<(TenantScope, Item)>> {
    let Some(claim) = store.get(&keys::subdomain_claim(subdomain)).await? else {
        return Ok(None);
    };
    let id = claim
        .get("tenant_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok());
    Ok(id.map(|id| (TenantScope::trusted(id), claim)))
}

/// Every tenant, oldest first, for work that spans them all outside any request (operators'
/// tools, scheduled aggregation). An unreadable tenant item is skipped, not fatal.
pub async fn all(
    store: &dyn Store,
) -> thanotopolis_store::StoreResult<Vec<(TenantScope, TenantRecord)>> {
    let items = thanotopolis_store::query_all(store, &keys::lookup::tenants()).await?;
    Ok(thanotopolis_store::readable::<TenantRecord>(items)
        .into_iter()
        .map(|t| (TenantScope::trusted(t.id), t))
        .collect())
}

/// The tenant whose access code this is (active or not). Codes are random; should two ever
/// collide, the oldest tenant wins.
pub async fn by_access_code(
    store: &dyn Store,
    code: &str,
) -> AuthResult<Option<(TenantScope, TenantRecord)>> {
    if code.is_empty() || code.len() > 64 {
        return Ok(None);
    }
    let page = store
        .query(&keys::lookup::tenant_by_access_code(code).limit(1))
        .await?;
    let Some(item) = page.items.into_iter().next() else {
        return Ok(None);
    };
    let tenant: TenantRecord = from_item(item)?;
    Ok(Some((TenantScope::trusted(tenant.id), tenant)))
}

/// Adds the creation of a tenant and the claim of its subdomain to `creation`.
pub fn create(
    creation: &mut Creation,
    scope: &TenantScope,
    tenant: &TenantRecord,
    subdomain: &Subdomain,
) {
    let mut claim: Item = MAIN_TABLE.key_item(&keys::subdomain_claim(subdomain));
    claim.insert("tenant_id".into(), json!(scope.tenant_id()));
    creation.claim(
        Claim::Subdomain,
        Write::Put {
            item: claim,
            condition: Some(Condition::NotExists),
        },
    );
    creation.claim(
        Claim::NewItem,
        Write::Put {
            item: tenant.item(scope),
            condition: Some(Condition::NotExists),
        },
    );
}

/// Imports an organization of the old backend with its id, access code and timestamps (and no
/// users yet: [`crate::accounts::import`] counts them in). With `dry_run`, only reads.
/// Returns the organization's scope, for importing what it owns (the operator vouches for the
/// old database's ids).
pub async fn import(
    store: &dyn Store,
    tenant: &TenantRecord,
    dry_run: bool,
) -> AuthResult<(Imported, TenantScope)> {
    let scope = TenantScope::trusted(tenant.id);
    import_as(store, &scope, tenant, dry_run)
        .await
        .map(|outcome| (outcome, scope))
}

async fn import_as(
    store: &dyn Store,
    scope: &TenantScope,
    tenant: &TenantRecord,
    dry_run: bool,
) -> AuthResult<Imported> {
    let scope = *scope;
    if store.get(&keys::tenant(&scope)).await?.is_some() {
        return Ok(Imported::AlreadyThere);
    }
    let subdomain = match Subdomain::parse(&tenant.subdomain) {
        Ok(s) => s,
        Err(e) => return Ok(Imported::Refused(format!("subdomain: {e}"))),
    };
    let taken = Imported::Refused(format!(
        "subdomain {:?} belongs to another organization",
        tenant.subdomain
    ));
    if dry_run {
        let claim = store.get(&keys::subdomain_claim(&subdomain)).await?;
        return Ok(if claim.is_some() {
            taken
        } else {
            Imported::Created
        });
    }
    let mut creation = Creation::new();
    let mut fresh = tenant.clone();
    fresh.user_count = 0;
    fresh.conversation_count = 0;
    create(&mut creation, &scope, &fresh, &subdomain);
    match creation.commit(store).await {
        Ok(()) => Ok(Imported::Created),
        Err(CreationError::Taken(Claim::Subdomain)) => Ok(taken),
        Err(CreationError::Taken(_)) => Ok(Imported::AlreadyThere),
        Err(CreationError::Conflict) => Err(StoreError::TransactionConflict.into()),
        Err(CreationError::Store(e)) => Err(e.into()),
    }
}
