//! Which organizations an admin's figures cover.

use thanotopolis_service::{parse_id, ApiError, ApiResult, AppState};
use thanotopolis_store::from_item;
use thanotopolis_tenant_auth::{
    keys, policy, tenants as tenant_store, Caller, TenantRecord, TenantScope,
};

/// The caller's own organization for an `admin`; every organization (or the one `filter`
/// names) for a `super_admin`. Another organization named by an `admin` reads as absent.
pub async fn tenants(
    state: &AppState,
    caller: &Caller,
    filter: Option<&str>,
) -> ApiResult<Vec<(TenantScope, TenantRecord)>> {
    let store = state.stores.main.as_ref();
    if let Some(raw) = filter {
        let id = parse_id("tenant_id", raw)?;
        let scope = caller
            .scope_for(id)
            .ok_or_else(|| ApiError::not_found("Organization not found"))?;
        let tenant = tenant_store::load(store, &scope)
            .await?
            .ok_or_else(|| ApiError::not_found("Organization not found"))?;
        return Ok(vec![(scope, tenant)]);
    }
    if !policy::sees_all_tenants(caller) {
        return Ok(vec![(caller.scope(), caller.tenant().clone())]);
    }
    let query = keys::lookup::tenants();
    let mut out = Vec::new();
    for item in thanotopolis_store::query_all(store, &query).await? {
        let tenant: TenantRecord = from_item(item)?;
        if let Some(scope) = caller.scope_for(tenant.id) {
            out.push((scope, tenant));
        }
    }
    Ok(out)
}

/// How many organizations' reads a super_admin's view has in flight at once: their latencies
/// overlap instead of adding up, and the table sees a bounded burst.
const CONCURRENT_TENANTS: usize = 16;

/// `read` of each organization of `tenants`, [`CONCURRENT_TENANTS`] at a time, in their order.
pub async fn each<T, F, Fut>(tenants: &[(TenantScope, TenantRecord)], read: F) -> ApiResult<Vec<T>>
where
    F: Fn(TenantScope) -> Fut,
    Fut: std::future::Future<Output = ApiResult<T>>,
{
    use futures::{StreamExt, TryStreamExt};
    // Owned scopes, so the stream's closure borrows nothing (the future stays `Send`).
    let scopes: Vec<TenantScope> = tenants.iter().map(|(scope, _)| *scope).collect();
    futures::stream::iter(scopes)
        .map(read)
        .buffered(CONCURRENT_TENANTS)
        .try_collect()
        .await
}
