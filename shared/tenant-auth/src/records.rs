//! Users and tenants as stored in the single table, and their JSON response shapes
//! (contract §2.12).

use crate::keys::{self, index};
use crate::{Role, TenantScope};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thanotopolis_store::schema::MAIN_TABLE;
use thanotopolis_store::{Item, Key};
use uuid::Uuid;

/// An organization.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TenantRecord {
    pub id: Uuid,
    pub name: String,
    pub subdomain: String,
    pub access_code: String,
    pub description: Option<String>,
    pub full_name: Option<String>,
    pub address: Option<Value>,
    pub phone: Option<String>,
    pub organization_email: Option<String>,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: Option<String>,
    /// Users of the tenant, kept by the transactions that create and delete users.
    #[serde(default)]
    pub user_count: i64,
    /// Conversations of the tenant, kept by the transactions that create and delete them.
    #[serde(default)]
    pub conversation_count: i64,
    /// The monthly limit of agent use, set by a super_admin; `None`: unlimited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ai_budget: Option<AiBudget>,
}

/// An organization's monthly allowance of language-model use (replies, routing, consultations,
/// tool rounds, summaries), per UTC calendar month. Either limit may be absent; when both are
/// set, whichever is reached first stops the agents.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AiBudget {
    /// Tokens (prompt + completion) a month.
    pub monthly_tokens: Option<u64>,
    /// US cents a month, of the model calls whose price is known.
    pub monthly_cost_cents: Option<u64>,
}

impl AiBudget {
    /// The largest limit accepted (of either kind): far beyond any real month, and exact in
    /// the JSON numbers clients parse as doubles.
    pub const MAX: u64 = 1_000_000_000_000_000;
}

/// A user account.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct UserRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub username: String,
    pub hashed_password: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub is_verified: bool,
    pub created_at: String,
    pub updated_at: Option<String>,
}

fn to_item<T: Serialize + ?Sized>(record: &T) -> Item {
    match serde_json::to_value(record) {
        Ok(Value::Object(map)) => map,
        _ => unreachable!("records serialize to JSON objects"),
    }
}

/// An entity stored as one item of the single table. Its key and index entries are built
/// from the tenant scope in its `impl` of this trait, and nowhere else; its attributes are its
/// serde fields, read back with `thanotopolis_store::from_item`.
pub trait Record: Serialize {
    /// The item's primary key.
    fn key(&self, scope: &TenantScope) -> Key;

    /// `(gsi1pk, gsi1sk)`, for an entity in the first index.
    fn gsi1(&self, _scope: &TenantScope) -> Option<(String, String)> {
        None
    }

    /// `(gsi2pk, gsi2sk)`, for an entity in the second index.
    fn gsi2(&self, _scope: &TenantScope) -> Option<(String, String)> {
        None
    }

    /// The stored item: key, attributes and index entries.
    fn item(&self, scope: &TenantScope) -> Item {
        let mut item = MAIN_TABLE.key_item(&self.key(scope));
        item.extend(to_item(self));
        for ((pk, sk), entry) in [
            (("gsi1pk", "gsi1sk"), self.gsi1(scope)),
            (("gsi2pk", "gsi2sk"), self.gsi2(scope)),
        ] {
            if let Some((p, s)) = entry {
                item.insert(pk.into(), p.into());
                item.insert(sk.into(), s.into());
            }
        }
        item
    }
}

/// Tenants are in the directory (oldest first) and the access-code index.
impl Record for TenantRecord {
    fn key(&self, scope: &TenantScope) -> Key {
        keys::tenant(scope)
    }

    fn gsi1(&self, _: &TenantScope) -> Option<(String, String)> {
        Some((
            index::TENANTS.into(),
            index::account_age(&self.created_at, self.id),
        ))
    }

    fn gsi2(&self, _: &TenantScope) -> Option<(String, String)> {
        Some((index::access_code(&self.access_code), "TENANT".into()))
    }
}

/// Users are in the e-mail index (login without a tenant) and the user-id index (operators).
impl Record for UserRecord {
    fn key(&self, scope: &TenantScope) -> Key {
        keys::user(scope, self.id)
    }

    fn gsi1(&self, _: &TenantScope) -> Option<(String, String)> {
        let email = crate::validate::EmailAddress::parse(&self.email)
            .expect("stored e-mail addresses were validated on the way in");
        Some((
            index::email(&email),
            index::account_age(&self.created_at, self.tenant_id),
        ))
    }

    fn gsi2(&self, _: &TenantScope) -> Option<(String, String)> {
        Some((index::user_id(self.id), "USER".into()))
    }
}

impl TenantRecord {
    /// OrganizationResponse (full), which includes the access code.
    pub fn response(&self) -> Value {
        to_json(OrganizationResponse {
            id: self.id,
            name: self.name.clone(),
            subdomain: self.subdomain.clone(),
            access_code: self.access_code.clone(),
            description: self.description.clone(),
            full_name: self.full_name.clone(),
            address: self.address.clone(),
            phone: self.phone.clone(),
            organization_email: self.organization_email.clone(),
            is_active: self.is_active,
            created_at: self.created_at.clone(),
            updated_at: self.updated_at.clone(),
        })
    }

    /// OrganizationResponse (short); the access code only for members of the tenant (it lets
    /// anyone join, decision D9).
    pub fn short_response(&self, with_access_code: bool) -> Value {
        to_json(OrganizationSummary {
            id: self.id,
            name: self.name.clone(),
            subdomain: self.subdomain.clone(),
            is_active: self.is_active,
            created_at: self.created_at.clone(),
            access_code: with_access_code.then(|| self.access_code.clone()),
        })
    }
}

impl UserRecord {
    /// UserResponse: never the password hash.
    pub fn response(&self) -> Value {
        to_json(self.view())
    }

    /// The user as the API shows it.
    pub fn view(&self) -> UserResponse {
        UserResponse {
            id: self.id,
            email: self.email.clone(),
            username: self.username.clone(),
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            role: self.role,
            is_active: self.is_active,
            is_verified: self.is_verified,
            tenant_id: self.tenant_id,
            created_at: self.created_at.clone(),
        }
    }
}

/// The response shapes, as types so the OpenAPI document shows exactly what is sent.
fn to_json(view: impl Serialize) -> Value {
    serde_json::to_value(view).expect("response shapes serialize to JSON")
}

/// An organization as the API shows it to its members (contract §2.12 OrganizationResponse).
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Organization)]
pub struct OrganizationResponse {
    pub id: Uuid,
    pub name: String,
    pub subdomain: String,
    /// What new users register with.
    pub access_code: String,
    pub description: Option<String>,
    pub full_name: Option<String>,
    #[schema(value_type = Option<Object>)]
    pub address: Option<Value>,
    pub phone: Option<String>,
    pub organization_email: Option<String>,
    pub is_active: bool,
    pub created_at: String,
    pub updated_at: Option<String>,
}

/// An organization as the public endpoints show it.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = OrganizationSummary)]
pub struct OrganizationSummary {
    pub id: Uuid,
    pub name: String,
    pub subdomain: String,
    pub is_active: bool,
    pub created_at: String,
    /// Only for the organization's members and super_admins.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_code: Option<String>,
}

/// A user as the API shows it (contract §2.12 UserResponse): never the password hash.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = User)]
pub struct UserResponse {
    pub id: Uuid,
    pub email: String,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub is_verified: bool,
    pub tenant_id: Uuid,
    pub created_at: String,
}
