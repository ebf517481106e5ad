//! A member's conversations, most recently active first.
//!
//! The order is computed when the list is read, from the conversations' own `META` items
//! (fan-out on read), not kept in per-member index entries that every message would have to
//! rewrite (fan-out on write): a message then costs the same two writes in a 50-member
//! conversation as in a private one, and concurrent messages never contend for member rows.
//! The price is paid by the list: one index query per 1 MB of member rows and one batch read
//! per 100 conversations of the caller, whatever page is asked for.

use crate::{ConversationRecord, ConversationResult, ConversationStatus};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use thanotopolis_store::{readable, Key, Store, StoreError};
use thanotopolis_tenant_auth::{keys, TenantScope};
use uuid::Uuid;

impl ConversationRecord {
    /// When anything last happened in the conversation: its newest message, else its creation.
    pub fn last_activity(&self) -> &str {
        self.last_message_at.as_deref().unwrap_or(&self.created_at)
    }
}

/// Where a page of the list ends: the last conversation's activity and id. Opaque to clients
/// (`X-Next-Cursor`); a position, so a page does not shift when earlier conversations move.
#[derive(Clone, Debug, PartialEq)]
pub struct ListCursor {
    at: String,
    id: Uuid,
}

impl ListCursor {
    pub fn after(conversation: &ConversationRecord) -> Self {
        ListCursor {
            at: conversation.last_activity().to_string(),
            id: conversation.id,
        }
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}\n{}", self.at, self.id))
    }

    /// A cursor this list issued, or `BadCursor`.
    pub fn decode(raw: &str) -> Result<Self, StoreError> {
        let text = URL_SAFE_NO_PAD
            .decode(raw)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or(StoreError::BadCursor)?;
        let (at, id) = text.split_once('\n').ok_or(StoreError::BadCursor)?;
        let id = id.parse().map_err(|_| StoreError::BadCursor)?;
        if time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339).is_err()
        {
            return Err(StoreError::BadCursor);
        }
        Ok(ListCursor {
            at: at.to_string(),
            id,
        })
    }

    /// Whether `c` comes after this position in the list's order.
    fn precedes(&self, c: &ConversationRecord) -> bool {
        (c.last_activity(), c.id) < (self.at.as_str(), self.id)
    }
}

/// Every conversation `user_id` is a member of, most recently active first (ties: newest id
/// first), optionally only those with `status`.
pub async fn member_conversations(
    store: &dyn Store,
    scope: &TenantScope,
    user_id: Uuid,
    status: Option<ConversationStatus>,
) -> ConversationResult<Vec<ConversationRecord>> {
    let index = keys::lookup::member_conversations(scope, user_id);
    let keys: Vec<Key> = thanotopolis_store::query_all(store, &index)
        .await?
        .iter()
        .filter_map(|r| r.get("conversation_id")?.as_str()?.parse().ok())
        .map(|id| keys::conversation(scope, id))
        .collect();
    let mut found: Vec<ConversationRecord> = readable(store.batch_get(&keys).await?);
    found.retain(|c| c.members.contains(&user_id) && status.is_none_or(|s| c.status == s.as_str()));
    found.sort_by(|a, b| (b.last_activity(), b.id).cmp(&(a.last_activity(), a.id)));
    Ok(found)
}

/// One page of [`member_conversations`]: after `cursor` when given, else skipping `skip`;
/// with the cursor of the next page when more follow.
pub fn page(
    conversations: Vec<ConversationRecord>,
    cursor: Option<&ListCursor>,
    skip: usize,
    size: usize,
) -> (Vec<ConversationRecord>, Option<ListCursor>) {
    let rest = conversations
        .into_iter()
        .filter(|c| cursor.is_none_or(|at| at.precedes(c)))
        .skip(if cursor.is_some() { 0 } else { skip });
    let mut page: Vec<ConversationRecord> = rest.take(size + 1).collect();
    let more = page.len() > size;
    page.truncate(size);
    let next = more.then(|| page.last().map(ListCursor::after)).flatten();
    (page, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_foreign_ones_are_refused() {
        let cursor = ListCursor {
            at: "2026-12-02T10:00:00.123Z".into(),
            id: Uuid::now_v7(),
        };
        assert_eq!(ListCursor::decode(&cursor.encode()), Ok(cursor));
        for raw in [
            "",
            "%%%",
            "e30",
            &URL_SAFE_NO_PAD.encode("yesterday\nnot-a-uuid"),
        ] {
            assert_eq!(ListCursor::decode(raw), Err(StoreError::BadCursor), "{raw}");
        }
    }
}
