//! Conversations and their messages, shared by the REST `conversations` function and the
//! WebSocket `realtime` function.
//!
//! Layout (keys in `thanotopolis_tenant_auth::keys`): one partition per conversation holding
//! its `META` item (title, status, counters, last message, and the bounded lists of members,
//! attached agents and e-mail participants), one `MEMBER#` row per member carrying that
//! member's entry in its conversations index (written when membership changes, never by a
//! message), and the messages, keyed by UUIDv7 so key order is time order.
//!
//! Access: the caller's tenant scope builds every key, so another tenant's conversation reads
//! as absent (404); within the tenant, only active members get in (403 `Access denied`).

mod error;
mod http;
mod import;
pub mod invitations;
mod lifecycle;
mod listing;
mod messages;
pub mod presence;
mod records;

pub use error::{ConversationError, ConversationResult};
pub use import::{import_conversation, import_message, message_id};
pub use lifecycle::{create, delete, NewConversation};
pub use listing::{member_conversations, page, ListCursor};

pub use messages::{
    delete_message, history, list_messages, messages_between, post_message, recent_messages,
    sender_name, set_summary, MessageInput, MAX_MESSAGE_BYTES,
};
pub use records::{
    AttachedAgent, ConversationRecord, ConversationResponse, ConversationStatus,
    ConversationSummary, MemberRow, MessageRecord, Participant, RollingSummary,
};

use serde_json::Value;
use thanotopolis_store::from_item;
use thanotopolis_store::{Condition, Store, StoreError, Update};
use thanotopolis_tenant_auth::{keys, Caller};
use uuid::Uuid;

/// Most members, attached agents and e-mail participants a conversation holds (they live in
/// its `META` item, which a membership check reads in one go).
pub const MAX_MEMBERS: usize = 50;
pub const MAX_AGENTS: usize = 20;
pub const MAX_PARTICIPANTS: usize = 50;

/// The conversation if it exists in the caller's tenant (else 404) and the caller is an active
/// member (else 403 `Access denied`). One read.
pub async fn open(
    store: &dyn Store,
    caller: &Caller,
    id: Uuid,
) -> ConversationResult<ConversationRecord> {
    let conversation = load(store, caller, id)
        .await?
        .ok_or(ConversationError::NotFound)?;
    require_member(caller, &conversation)?;
    Ok(conversation)
}

fn require_member(caller: &Caller, conversation: &ConversationRecord) -> ConversationResult<()> {
    if conversation.members.contains(&caller.user_id()) {
        Ok(())
    } else {
        Err(ConversationError::NotMember)
    }
}

pub(crate) fn require_manager(
    caller: &Caller,
    conversation: &ConversationRecord,
    action: &'static str,
) -> ConversationResult<()> {
    if may_manage(caller, conversation) {
        Ok(())
    } else {
        Err(ConversationError::NotManager(action))
    }
}

/// The conversation in the caller's tenant, without a membership check.
pub async fn load(
    store: &dyn Store,
    caller: &Caller,
    id: Uuid,
) -> ConversationResult<Option<ConversationRecord>> {
    Ok(thanotopolis_store::get_record(store, &keys::conversation(&caller.scope(), id)).await?)
}

/// Whether the caller may delete the conversation or clear its messages: its creator, or an
/// org_admin or above of the tenant (decision D22).
pub fn may_manage(caller: &Caller, conversation: &ConversationRecord) -> bool {
    thanotopolis_tenant_auth::policy::may_manage_conversation(
        caller,
        conversation.created_by_user_id,
    )
}

/// [`open`], then require [`may_manage`]; `action` words the refusal ("delete it").
pub async fn open_to_manage(
    store: &dyn Store,
    caller: &Caller,
    id: Uuid,
    action: &'static str,
) -> ConversationResult<ConversationRecord> {
    let conversation = open(store, caller, id).await?;
    require_manager(caller, &conversation, action)?;
    Ok(conversation)
}

/// The id of a conversation the caller may delete: as [`open_to_manage`], except that a
/// conversation whose stored item cannot be read any more (written by an older version, or
/// damaged) can still be deleted, by an org_admin or above, so nothing stored can block
/// its own removal.
pub async fn open_to_delete(
    store: &dyn Store,
    caller: &Caller,
    id: Uuid,
) -> ConversationResult<Uuid> {
    let item = store
        .get(&keys::conversation(&caller.scope(), id))
        .await?
        .ok_or(ConversationError::NotFound)?;
    match from_item::<ConversationRecord>(item) {
        Ok(conversation) => {
            require_member(caller, &conversation)?;
            require_manager(caller, &conversation, "delete it")?;
            Ok(conversation.id)
        }
        Err(e) => {
            tracing::error!(conversation_id = %id, error = %e, "deleting an unreadable conversation");
            // Its creator cannot be read: only an org_admin or above may remove it.
            if thanotopolis_tenant_auth::policy::may_manage_conversation(caller, None) {
                Ok(id)
            } else {
                Err(ConversationError::NotManager("delete it"))
            }
        }
    }
}

/// Applies `change` to the conversation with optimistic concurrency: the write holds only if
/// nobody changed the conversation since it was read; a lost race is retried on fresh data,
/// and answered 409 if it keeps losing. Never a silent overwrite. `change` may refuse with
/// its caller's own error type.
pub async fn modify<E: From<ConversationError>>(
    store: &dyn Store,
    caller: &Caller,
    id: Uuid,
    mut change: impl FnMut(&ConversationRecord) -> Result<Vec<(String, Value)>, E>,
) -> Result<ConversationRecord, E> {
    for _ in 0..3 {
        let current = open(store, caller, id).await?;
        let mut update = Update::new()
            .add("version", 1)
            .set("updated_at", thanotopolis_tenant_auth::now_rfc3339());
        for (name, value) in change(&current)? {
            update = update.set(name, value);
        }
        match store
            .update(
                &keys::conversation(&caller.scope(), id),
                update,
                Some(Condition::VersionEquals(current.version)),
            )
            .await
        {
            Ok(item) => return Ok(from_item(item).map_err(ConversationError::from)?),
            Err(StoreError::ConditionFailed) => continue,
            Err(e) => return Err(ConversationError::from(e).into()),
        }
    }
    Err(ConversationError::Conflict.into())
}
