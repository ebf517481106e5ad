//! The caller's conversations: the paged list (most recently active first) and search.

use crate::MAX_PAGE_SIZE;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;
use thanotopolis_conversations::{
    member_conversations, ConversationRecord, ConversationStatus, ListCursor,
};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{query_number, ApiError, ApiResult, AppState, Json, Query};
use thanotopolis_tenant_auth::Caller;

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// 1-based page (default 1).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 10000)]
    page: Option<String>,
    /// 1 to 100 (default 20).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 100)]
    page_size: Option<String>,
    /// Only conversations with this status.
    status: Option<ConversationStatus>,
    /// The `X-Next-Cursor` of the previous page; continues after its last conversation.
    cursor: Option<String>,
}

/// `GET /api/conversations`: the caller's conversations, most recently active first.
/// `page`/`page_size` as in the contract; a `cursor` (from the `X-Next-Cursor` header)
/// continues after the last conversation of the previous page. Cost: one index query and one
/// batch read per 100 of the caller's conversations (the order is computed on read, so that
/// messages never rewrite members' rows).
#[utoipa::path(get, path = "/api/conversations", params(ListQuery), summary = "The caller's conversations, most recently active first",
    responses(
        (status = 200, description = "A page of conversations; `X-Next-Cursor` when more follow", body = [thanotopolis_conversations::ConversationSummary],
            headers(("X-Next-Cursor" = String, description = "Pass as `cursor` for the next page"))),
        (status = 422, body = ErrorBody),
    ))]
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ListQuery>,
) -> ApiResult<impl IntoResponse> {
    let page = query_number(q.page.as_deref(), "page", 1, 10_000)?.unwrap_or(1);
    let size = query_number(q.page_size.as_deref(), "page_size", 1, MAX_PAGE_SIZE)?.unwrap_or(20);
    let cursor = q.cursor.as_deref().map(ListCursor::decode).transpose()?;
    let all = member_conversations(
        state.stores.main.as_ref(),
        &caller.scope(),
        caller.user_id(),
        q.status,
    )
    .await?;
    let (items, next) =
        thanotopolis_conversations::page(all, cursor.as_ref(), (page - 1) * size, size);
    let mut headers = HeaderMap::new();
    if let Some(c) = next.and_then(|c| c.encode().parse().ok()) {
        headers.insert("x-next-cursor", c);
    }
    let items = items.iter().map(ConversationRecord::list_item).collect();
    Ok((headers, Json(Value::Array(items))))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchQuery {
    /// Case-insensitive substring of title or description.
    q: Option<String>,
}

/// `GET /api/conversations/search?q=`: case-insensitive substring of title or description among
/// the caller's conversations, most recently active first. Cost: that of the list, so it grows
/// with the caller's conversations, not with the tenant's or the table's size.
#[utoipa::path(get, path = "/api/conversations/search", params(SearchQuery), summary = "Searches the caller's conversations",
    responses((status = 200, description = "The matching conversations (`last_message` is null)", body = [thanotopolis_conversations::ConversationSummary])))]
pub(crate) async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<Value>> {
    let needle = q
        .q
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::Unprocessable("Search query 'q' parameter is required".into()))?
        .to_lowercase();
    let found = member_conversations(
        state.stores.main.as_ref(),
        &caller.scope(),
        caller.user_id(),
        None,
    )
    .await?;
    let matches = |c: &ConversationRecord| {
        let hit = |s: &Option<String>| {
            s.as_deref()
                .is_some_and(|s| s.to_lowercase().contains(&needle))
        };
        hit(&c.title) || hit(&c.description)
    };
    let items: Vec<Value> = found
        .iter()
        .filter(|c| matches(c))
        .map(|c| {
            let mut item = c.list_item();
            item["last_message"] = Value::Null;
            item
        })
        .collect();
    Ok(Json(Value::Array(items)))
}
