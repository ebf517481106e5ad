//! The OpenAPI 3.1 document is generated from `#[utoipa::path]` annotations on the handlers
//! themselves; each function crate's `openapi()` returns its part, and the local gateway merges
//! the parts. This module holds what the parts share, so every operation is written one way.

use crate::FieldError;
use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::OpenApi;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// Name of the bearer-token security scheme every protected operation requires.
pub const BEARER: &str = "bearer";

/// The body of every error response (contract §1.4).
#[derive(utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong, for people; `Validation error` on a 422 that lists `errors`.
    pub detail: String,
    /// On a validation 422: one entry per rejected field.
    pub errors: Option<Vec<FieldError>>,
}

/// Finishes one function's part: its operations get `tag`, and `aliases` (other spellings the
/// old frontend used, `(alias, canonical)`) are documented as the same operations.
pub fn part(mut doc: OpenApi, tag: &str, aliases: &[(&str, &str)]) -> OpenApi {
    for item in doc.paths.paths.values_mut() {
        for (_, op) in operations(item) {
            op.tags = Some(vec![tag.to_string()]);
            // Operations without their own `security` need the bearer token, so they can fail
            // for the want of one whether or not the annotation says so.
            // Any input can be malformed (a 422 from the extractors) and any body too large.
            let mut statuses = Vec::new();
            if op.security.is_none() {
                statuses.extend(["401", "403"]);
            }
            if op.parameters.as_ref().is_some_and(|p| !p.is_empty()) || op.request_body.is_some() {
                statuses.push("422");
            }
            if op.request_body.is_some() {
                statuses.push("413");
            }
            let responses = &mut op.responses.responses;
            for status in statuses {
                if !responses.contains_key(status) {
                    responses.insert(
                        status.into(),
                        error_response(default_description(status)).into(),
                    );
                }
            }
            for (status, response) in responses.iter_mut() {
                if let RefOr::T(r) = response {
                    if r.description.is_empty() {
                        r.description = default_description(status).into();
                    }
                }
            }
        }
    }
    for (alias, canonical) in aliases {
        let mut item = doc
            .paths
            .paths
            .get(*canonical)
            .unwrap_or_else(|| panic!("alias {alias} of an undocumented path {canonical}"))
            .clone();
        for (_, op) in operations(&mut item) {
            op.description = Some(format!("Same operation as `{canonical}`."));
        }
        doc.paths.paths.insert(alias.to_string(), item);
    }
    doc
}

fn error_response(description: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name("Error"))))
                .build(),
        )
        .build()
}

/// What a status means when an annotation does not say more.
fn default_description(status: &str) -> &'static str {
    match status {
        "200" => "Success",
        "204" => "No content",
        "400" => "Rejected by a business rule; `detail` says which",
        "401" => "No bearer token (`Not authenticated`), or an invalid, expired or logged-out one",
        "403" => "The caller's role or membership does not allow this",
        "429" => "Too many requests; `Retry-After` says when to try again",
        "404" => "Not found (another organization's ids read as absent)",
        "409" => "Changed concurrently; retry",
        "413" => "Too large",
        "422" => "Invalid input; `errors` lists the fields",
        "502" => "The upstream provider failed",
        "503" => "The service this needs is not configured or not reachable",
        _ => "See `detail`",
    }
}

fn operations(
    item: &mut utoipa::openapi::PathItem,
) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| Some((method, op?)))
}

/// `get_api_users_user_id` for `GET /api/users/{user_id}`: unique because method and path are.
fn operation_id(method: &str, path: &str) -> String {
    let mut id = method.to_string();
    for word in path.split(|c: char| !c.is_ascii_alphanumeric()) {
        if !word.is_empty() {
            id.push('_');
            id.push_str(word);
        }
    }
    if path.ends_with('/') && path.len() > 1 {
        id.push_str("_slash");
    }
    id
}

/// The whole document from the functions' parts: title, version, the bearer scheme, and
/// bearer auth required by default (public operations say `security(())`).
pub fn document(parts: impl IntoIterator<Item = OpenApi>) -> OpenApi {
    let mut doc = OpenApi::builder()
        .info(
            utoipa::openapi::InfoBuilder::new()
                .title("Thanotopolis API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "REST API of the Thanotopolis backend. Errors are `{\"detail\": ...}`. \
                     The WebSocket protocol (`/ws/conversations/{id}`) is described in the README.",
                ))
                .build(),
        )
        .build();
    for part in parts {
        // `merge` keeps the first of two schemas with one name; two different ones would
        // silently document the wrong body.
        if let (Some(have), Some(new)) = (&doc.components, &part.components) {
            for (name, schema) in &new.schemas {
                if have.schemas.get(name).is_some_and(|s| s != schema) {
                    panic!("two different OpenAPI schemas are named {name}");
                }
            }
        }
        doc.merge(part);
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations(item) {
            op.operation_id = Some(operation_id(method, path));
        }
    }
    doc.components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "An access token from /api/auth/login or /api/auth/refresh",
                    ))
                    .build(),
            ),
        );
    doc.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new(
        BEARER,
        Vec::<String>::new(),
    )]);
    doc
}
