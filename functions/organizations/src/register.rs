//! `POST /api/organizations/register`: an organization, its first org_admin, the uniqueness
//! claims (subdomain, e-mail, username) and the admin's first session, in one transaction.
//! Two registrations racing for one subdomain: exactly one succeeds.

use axum::extract::State;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json};
use thanotopolis_tenant_auth::accounts::{self, NewAccount};
use thanotopolis_tenant_auth::creation::{Creation, CreationError};
use thanotopolis_tenant_auth::validate::{Validator, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use thanotopolis_tenant_auth::{sessions, tenants, Role, TenantRecord, TenantScope};

#[derive(Deserialize, utoipa::ToSchema)]
pub struct RegisterOrganization {
    name: String,
    subdomain: String,
    full_name: String,
    #[schema(value_type = Object)]
    address: Value,
    phone: String,
    organization_email: String,
    admin_email: String,
    admin_username: String,
    admin_password: String,
    admin_first_name: String,
    admin_last_name: String,
    description: Option<String>,
}

/// Creates an organization with its first org_admin, and logs that admin in.
#[utoipa::path(post, path = "/api/organizations/register", security(()), request_body = RegisterOrganization,
    responses(
        (status = 200, description = "`{organization, admin_user, access_token, refresh_token, token_type}`", body = Object),
        (status = 400, description = "Subdomain or e-mail already registered", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegisterOrganization>,
) -> ApiResult<Json<Value>> {
    let mut v = Validator::new();
    let name = v.text("name", &body.name, MAX_SHORT_TEXT);
    let subdomain = v.subdomain("subdomain", &body.subdomain);
    let full_name = v.text("full_name", &body.full_name, MAX_SHORT_TEXT);
    let address = match v.optional_object("address", Some(&body.address)) {
        Some(Some(a)) => Some(a),
        Some(None) => {
            v.reject("address", "Input should be a valid dictionary");
            None
        }
        None => None,
    };
    let phone = v.text("phone", &body.phone, MAX_SHORT_TEXT);
    let organization_email = v.email("organization_email", &body.organization_email);
    let admin_email = v.email("admin_email", &body.admin_email);
    let admin_username = v.text("admin_username", &body.admin_username, 64);
    let admin_password = v.password("admin_password", &body.admin_password);
    let admin_first_name = v.text("admin_first_name", &body.admin_first_name, MAX_SHORT_TEXT);
    let admin_last_name = v.text("admin_last_name", &body.admin_last_name, MAX_SHORT_TEXT);
    let description = v.optional_text("description", body.description.as_deref(), MAX_LONG_TEXT);
    v.finish()?;
    let (
        Some(name),
        Some(subdomain),
        Some(full_name),
        Some(address),
        Some(phone),
        Some(organization_email),
        Some(admin_email),
        Some(admin_username),
        Some(admin_password),
        Some(admin_first_name),
        Some(admin_last_name),
        Some(description),
    ) = (
        name,
        subdomain,
        full_name,
        address,
        phone,
        organization_email,
        admin_email,
        admin_username,
        admin_password,
        admin_first_name,
        admin_last_name,
        description,
    )
    else {
        unreachable!("Validator::finish fails when any field is invalid")
    };
    let store = state.stores.main.as_ref();
    // The original refuses an admin e-mail already used in any organization.
    if accounts::oldest_by_email(store, &admin_email)
        .await?
        .is_some()
    {
        return Err(ApiError::bad_request("Email already registered"));
    }
    let scope = TenantScope::new_tenant();
    let tenant = TenantRecord {
        id: scope.tenant_id(),
        name,
        subdomain: subdomain.as_str().to_string(),
        access_code: tenants::new_access_code(),
        description,
        full_name: Some(full_name),
        address: Some(address),
        phone: Some(phone),
        organization_email: Some(organization_email.as_str().to_string()),
        is_active: true,
        created_at: thanotopolis_tenant_auth::now_rfc3339(),
        updated_at: None,
        user_count: 1,
        conversation_count: 0,
        ai_budget: None,
    };
    let admin = accounts::new_user(
        &scope,
        NewAccount {
            email: admin_email,
            username: admin_username,
            password: admin_password,
            first_name: Some(admin_first_name),
            last_name: Some(admin_last_name),
            role: Role::OrgAdmin,
            is_verified: true,
        },
    )
    .await?;
    let mut creation = Creation::new();
    tenants::create(&mut creation, &scope, &tenant, &subdomain);
    accounts::create(&mut creation, &scope, &admin);
    let (session, pair) = sessions::start(&state.auth, &scope, &admin, &tenant.subdomain);
    creation.extend(session);
    match creation.commit(store).await {
        Ok(()) => Ok(Json(json!({
            "organization": tenant.response(),
            "admin_user": admin.response(),
            "access_token": pair.access_token,
            "refresh_token": pair.refresh_token,
            "token_type": pair.token_type,
            "organization_subdomain": pair.organization_subdomain,
        }))),
        // A new tenant's own claims cannot be taken: only its subdomain can, or a racing
        // registration of the same subdomain.
        Err(CreationError::Taken(_) | CreationError::Conflict) => {
            Err(ApiError::bad_request("Subdomain already exists"))
        }
        Err(CreationError::Store(e)) => Err(e.into()),
    }
}
