//! The caller's conversations: the paged list (most recently active first) and search.

use crate::MAX_PAGE_SIZE;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashMap;
use thanotopolis_conversations::{ConversationRecord, ConversationStatus};
use thanotopolis_service::openapi::ErrorBody;
use thanotopolis_service::{query_number, ApiError, ApiResult, AppState, Json, Query};
use thanotopolis_store::readable;
use thanotopolis_store::Key;
use thanotopolis_tenant_auth::{keys, Caller};
use uuid::Uuid;

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
    /// The `X-Next-Cursor` of the previous page; continues without re-reading earlier pages.
    cursor: Option<String>,
}

/// `GET /api/conversations`: the caller's conversations, most recently active first. One index
/// query and one batch read per page. `page`/`page_size` as in the contract; a `cursor` (from
/// the `X-Next-Cursor` header) continues without re-reading earlier pages.
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
    let store = state.stores.main.as_ref();
    let scope = caller.scope();
    let skip = if q.cursor.is_some() {
        0
    } else {
        (page - 1) * size
    };
    let index = keys::lookup::member_conversations(&scope, caller.user_id())
        .limit(u32::try_from(skip + size).unwrap_or(u32::MAX))
        .after(q.cursor.clone());
    let rows = store.query(&index).await?;
    let next = rows.cursor.clone();
    let ids: Vec<Uuid> = rows
        .items
        .iter()
        .skip(skip)
        .filter_map(|r| r.get("conversation_id")?.as_str()?.parse().ok())
        .collect();
    let found = load_conversations(&state, &caller, &ids).await?;
    let items: Vec<Value> = ids
        .iter()
        .filter_map(|id| found.get(id))
        .filter(|c| q.status.is_none_or(|s| c.status == s.as_str()))
        .filter(|c| c.members.contains(&caller.user_id()))
        .map(ConversationRecord::list_item)
        .collect();
    let mut headers = HeaderMap::new();
    if let Some(c) = next.and_then(|c| c.parse().ok()) {
        headers.insert("x-next-cursor", c);
    }
    Ok((headers, Json(Value::Array(items))))
}

/// The conversations with these ids in the caller's tenant, by id. One batch read.
async fn load_conversations(
    state: &AppState,
    caller: &Caller,
    ids: &[Uuid],
) -> ApiResult<HashMap<Uuid, ConversationRecord>> {
    let keys: Vec<Key> = ids
        .iter()
        .map(|id| keys::conversation(&caller.scope(), *id))
        .collect();
    let items = state.stores.main.batch_get(&keys).await?;
    Ok(readable::<ConversationRecord>(items)
        .into_iter()
        .map(|c| (c.id, c))
        .collect())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchQuery {
    /// Case-insensitive substring of title or description.
    q: Option<String>,
}

/// `GET /api/conversations/search?q=`: case-insensitive substring of title or description among
/// the caller's conversations. Cost: it reads all of the caller's conversations (one index
/// query per 1 MB page, one batch read per 100), so it grows with that number, not with the
/// tenant's or the table's size.
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
    let store = state.stores.main.as_ref();
    let index = keys::lookup::member_conversations(&caller.scope(), caller.user_id());
    let ids: Vec<Uuid> = thanotopolis_store::query_all(store, &index)
        .await?
        .iter()
        .filter_map(|r| r.get("conversation_id")?.as_str()?.parse().ok())
        .collect();
    let found = load_conversations(&state, &caller, &ids).await?;
    let matches = |c: &ConversationRecord| {
        let hit = |s: &Option<String>| {
            s.as_deref()
                .is_some_and(|s| s.to_lowercase().contains(&needle))
        };
        hit(&c.title) || hit(&c.description)
    };
    let items: Vec<Value> = ids
        .iter()
        .filter_map(|id| found.get(id))
        .filter(|c| c.members.contains(&caller.user_id()) && matches(c))
        .map(|c| {
            let mut item = c.list_item();
            item["last_message"] = Value::Null;
            item
        })
        .collect();
    Ok(Json(Value::Array(items)))
}
