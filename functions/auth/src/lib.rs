//! The `auth` function: registration, login, token refresh and logout (contract §3), the
//! public tenant endpoints, and tenant-scoped user administration (`/api/users`, §4).
//! Routes parse input and shape responses; the rules live in `thanotopolis-tenant-auth`.

mod organizations;
mod register;
mod session;
mod users;

use axum::routing::{get, post};
use axum::Router;
use thanotopolis_service::AppState;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    use organizations as orgs;
    #[derive(utoipa::OpenApi)]
    #[openapi(paths(
        register::register,
        register::register_token,
        session::login,
        session::refresh,
        session::me,
        session::logout,
        session::logout_all,
        orgs::create,
        orgs::info_by_access_code,
        orgs::by_subdomain,
        users::list,
        users::get,
        users::set_role,
        users::delete,
    ))]
    struct Doc;
    thanotopolis_service::openapi::part(
        <Doc as utoipa::OpenApi>::openapi(),
        "auth",
        &[
            ("/api/me", "/api/auth/me"),
            ("/api/tenants", "/api/organizations"),
        ],
    )
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/api/auth/register", post(register::register))
        .route("/api/auth/register/token", post(register::register_token))
        .route("/api/auth/login", post(session::login))
        .route("/api/auth/refresh", post(session::refresh))
        .route("/api/auth/me", get(session::me))
        .route("/api/me", get(session::me))
        .route("/api/auth/logout", post(session::logout))
        .route("/api/auth/logout/all", post(session::logout_all))
        .route("/api/organizations", post(organizations::create))
        .route("/api/tenants", post(organizations::create))
        .route(
            "/api/organizations/{access_code}/info",
            get(organizations::info_by_access_code),
        )
        .route("/api/tenants/{subdomain}", get(organizations::by_subdomain))
        .route("/api/users", get(users::list))
        .route(
            "/api/users/{user_id}",
            get(users::get).delete(users::delete),
        )
        .route(
            "/api/users/{user_id}/role",
            axum::routing::put(users::set_role).patch(users::set_role),
        )
        .with_state(state)
}
