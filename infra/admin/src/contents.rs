//! What an organization holds, found from its own partitions and indexes: the export and the
//! erasure read it the same way, so what one finds the other finds.

use std::collections::BTreeSet;
use thanotopolis_store::{query_all, readable, Query, Store, StoreResult};
use thanotopolis_tenant_auth::{keys, TenantScope, UserRecord};
use uuid::Uuid;

/// Every account of the organization, active or not.
pub async fn users(store: &dyn Store, scope: &TenantScope) -> StoreResult<Vec<UserRecord>> {
    let query = Query::new(keys::tenant_partition(scope)).begins_with(keys::USER_PREFIX);
    Ok(readable(query_all(store, &query).await?))
}

/// Every conversation of the organization: its entries in the tenant's partition, and (for
/// conversations stored before those entries existed) those its users are members of.
pub async fn conversation_ids(
    store: &dyn Store,
    scope: &TenantScope,
    users: &[UserRecord],
) -> StoreResult<Vec<Uuid>> {
    let entries = Query::new(keys::tenant_partition(scope)).begins_with(keys::CONVERSATION_PREFIX);
    let mut ids: BTreeSet<Uuid> = query_all(store, &entries)
        .await?
        .iter()
        .filter_map(conversation_id)
        .collect();
    for user in users {
        let rows = keys::lookup::member_conversations(scope, user.id);
        ids.extend(
            query_all(store, &rows)
                .await?
                .iter()
                .filter_map(conversation_id),
        );
    }
    Ok(ids.into_iter().collect())
}

fn conversation_id(item: &thanotopolis_store::Item) -> Option<Uuid> {
    item.get("conversation_id")?.as_str()?.parse().ok()
}
