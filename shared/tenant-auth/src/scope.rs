use uuid::Uuid;

/// A tenant whose items the current request may read and write. Private constructor: only this
/// crate creates scopes, from verified tokens, tenant lookups in the store, or new tenants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TenantScope(Uuid);

impl TenantScope {
    pub(crate) fn trusted(tenant_id: Uuid) -> Self {
        TenantScope(tenant_id)
    }

    /// A scope for a tenant that is being created now (its id is fresh, so it owns nothing yet).
    pub fn new_tenant() -> Self {
        TenantScope(Uuid::new_v4())
    }

    pub fn tenant_id(&self) -> Uuid {
        self.0
    }
}
