//! The public organization endpoints: create an organization (the frontend's
//! create-organization page), look one up by access code (register page) or by subdomain.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use serde::Deserialize;
use serde_json::{json, Value};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::Path;
use thanotopolis_service::{ApiError, ApiResult, AppState, Json};
use thanotopolis_tenant_auth::creation::{Creation, CreationError};
use thanotopolis_tenant_auth::validate::{Subdomain, Validator, MAX_LONG_TEXT, MAX_SHORT_TEXT};
use thanotopolis_tenant_auth::{tenants, Caller, TenantRecord, TenantScope};

#[derive(Deserialize, utoipa::ToSchema)]
#[schema(as = CreateOrganization)]
pub struct CreateBody {
    name: String,
    subdomain: String,
    description: Option<String>,
    full_name: Option<String>,
    #[schema(value_type = Option<Object>)]
    address: Option<Value>,
    phone: Option<String>,
    organization_email: Option<String>,
}

/// `POST /api/organizations` and `/api/tenants`: a new, empty organization. Open to anyone,
/// as the frontend's create-organization page needs; its creator learns the access code to
/// register with.
#[utoipa::path(post, path = "/api/organizations", security(()), request_body = CreateBody,
    summary = "Creates an organization",
    responses(
        (status = 200, description = "The organization, with its access code", body = thanotopolis_tenant_auth::records::OrganizationResponse),
        (status = 400, description = "Subdomain already taken", body = ErrorBody),
        (status = 422, body = ErrorBody),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Json(body): Json<CreateBody>,
) -> ApiResult<Json<Value>> {
    let mut v = Validator::new();
    let name = v.text("name", &body.name, MAX_SHORT_TEXT);
    let subdomain = v.subdomain("subdomain", &body.subdomain);
    let description = v.optional_text("description", body.description.as_deref(), MAX_LONG_TEXT);
    let full_name = v.optional_text("full_name", body.full_name.as_deref(), MAX_SHORT_TEXT);
    let address = v.optional_object("address", body.address.as_ref());
    let phone = v.optional_text("phone", body.phone.as_deref(), MAX_SHORT_TEXT);
    let organization_email = match body.organization_email.as_deref().map(str::trim) {
        None | Some("") => Some(None),
        Some(raw) => v.email("organization_email", raw).map(Some),
    };
    v.finish()?;
    let (
        Some(name),
        Some(subdomain),
        Some(description),
        Some(full_name),
        Some(address),
        Some(phone),
        Some(organization_email),
    ) = (
        name,
        subdomain,
        description,
        full_name,
        address,
        phone,
        organization_email,
    )
    else {
        unreachable!("Validator::finish fails when any field is invalid")
    };
    let scope = TenantScope::new_tenant();
    let tenant = TenantRecord {
        id: scope.tenant_id(),
        name,
        subdomain: subdomain.as_str().to_string(),
        access_code: tenants::new_access_code(),
        description,
        full_name,
        address,
        phone,
        organization_email: organization_email.map(|e| e.as_str().to_string()),
        is_active: true,
        created_at: thanotopolis_tenant_auth::now_rfc3339(),
        updated_at: None,
        user_count: 0,
        conversation_count: 0,
        ai_budget: None,
    };
    let mut creation = Creation::new();
    tenants::create(&mut creation, &scope, &tenant, &subdomain);
    match creation.commit(state.stores.main.as_ref()).await {
        Ok(()) => Ok(Json(tenant.response())),
        Err(CreationError::Taken(_) | CreationError::Conflict) => Err(ApiError::bad_request(
            "Organization subdomain already exists",
        )),
        Err(CreationError::Store(e)) => Err(e.into()),
    }
}

/// `GET /api/organizations/{access_code}/info`: name and subdomain of an active organization.
#[utoipa::path(get, path = "/api/organizations/{access_code}/info", security(()),
    summary = "Name and subdomain of the organization with this access code",
    params(("access_code" = String, Path)),
    responses(
        (status = 200, body = Object),
        (status = 404, body = ErrorBody),
    ))]
pub async fn info_by_access_code(
    State(state): State<AppState>,
    Path(code): Path<String>,
) -> ApiResult<Json<Value>> {
    match tenants::by_access_code(state.stores.main.as_ref(), &code).await? {
        Some((_, t)) if t.is_active => {
            Ok(Json(json!({ "name": t.name, "subdomain": t.subdomain })))
        }
        _ => Err(ApiError::not_found(
            "Invalid access code or organization not found",
        )),
    }
}

/// `GET /api/tenants/{subdomain}`: the short organization shape, with the access code only
/// for an authenticated member of that organization or a super_admin (decision D9).
#[utoipa::path(get, path = "/api/tenants/{subdomain}", security((), ("bearer" = [])),
    summary = "An organization by subdomain",
    params(("subdomain" = String, Path)),
    responses(
        (status = 200, body = thanotopolis_tenant_auth::records::OrganizationSummary),
        (status = 404, body = ErrorBody),
    ))]
pub async fn by_subdomain(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    mut parts: Parts,
) -> ApiResult<Json<Value>> {
    let not_found = || ApiError::not_found("Tenant not found");
    let subdomain = Subdomain::parse(&raw).map_err(|_| not_found())?;
    let (_, tenant) = tenants::by_subdomain(state.stores.main.as_ref(), &subdomain)
        .await?
        .ok_or_else(not_found)?;
    let caller = Caller::from_request_parts(&mut parts, &state).await.ok();
    let member = caller.is_some_and(|c| c.scope_for(tenant.id).is_some());
    Ok(Json(tenant.short_response(member)))
}
