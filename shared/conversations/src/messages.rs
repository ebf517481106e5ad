//! Storing and reading messages.

use crate::{
    ConversationError, ConversationRecord, ConversationResult, MessageRecord, RollingSummary,
};
use serde_json::{json, Value};
use thanotopolis_store::schema::MAIN_TABLE;
use thanotopolis_store::{Condition, Index, Query, Store, StoreError, Update, Write};
use thanotopolis_tenant_auth::records::Record;
use thanotopolis_tenant_auth::{keys, TenantScope, UserRecord};
use uuid::Uuid;

/// Largest message content, in bytes (well under API Gateway's 128 KB frame and DynamoDB's
/// 400 KB item, with room for the rest of the item).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024;

/// Largest metadata object, serialized.
const MAX_METADATA_BYTES: usize = 8 * 1024;

const MESSAGE_TYPES: [&str; 5] = [
    "text",
    "system",
    "agent_handoff",
    "participant_join",
    "participant_leave",
];

/// A message to store.
pub struct MessageInput<'a> {
    /// A client-chosen id (UUIDv7 keeps history in time order) makes a retried send
    /// idempotent; `None` picks a new one.
    pub id: Option<Uuid>,
    pub content: String,
    pub message_type: Option<String>,
    pub metadata: Option<Value>,
    /// The human author, or `None` for an agent's reply.
    pub author: Option<&'a UserRecord>,
    pub agent_type: Option<String>,
}

/// "first last" trimmed, else the username (decision D12: never "None None").
pub fn sender_name(user: &UserRecord) -> String {
    let full = [user.first_name.as_deref(), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    if full.is_empty() {
        user.username.clone()
    } else {
        full
    }
}

fn validate(input: &MessageInput) -> ConversationResult<()> {
    let invalid = |field: &'static str, message: &str| ConversationError::Invalid {
        field,
        message: message.into(),
    };
    if input.content.trim().is_empty() {
        return Err(invalid("content", "Message content must not be empty"));
    }
    if input.content.len() > MAX_MESSAGE_BYTES {
        return Err(invalid(
            "content",
            &format!("Message content is limited to {MAX_MESSAGE_BYTES} bytes"),
        ));
    }
    if let Some(t) = &input.message_type {
        if !MESSAGE_TYPES.contains(&t.as_str()) {
            return Err(invalid("message_type", "Unknown message type"));
        }
    }
    match &input.metadata {
        None | Some(Value::Null) => {}
        Some(m @ Value::Object(_)) if m.to_string().len() <= MAX_METADATA_BYTES => {}
        Some(_) => {
            return Err(invalid(
                "metadata",
                &format!("metadata must be an object of at most {MAX_METADATA_BYTES} bytes"),
            ))
        }
    }
    Ok(())
}

/// Stores a message, then adds it to the conversation's counters and last message: two
/// single-item writes whatever the member count, and none of them a transaction, so
/// concurrent messages to one conversation never conflict (single writes to one item are
/// serialized by DynamoDB, not refused). If the conversation is gone by the second write, the
/// message is taken back. A retried send with the same id returns the stored message instead
/// of a duplicate.
pub async fn post_message(
    store: &dyn Store,
    scope: &TenantScope,
    conversation: &ConversationRecord,
    input: MessageInput<'_>,
) -> ConversationResult<MessageRecord> {
    validate(&input)?;
    let now = thanotopolis_tenant_auth::now_rfc3339();
    let (sender_type, sender) = match (input.author, &input.agent_type) {
        (Some(user), _) => ("user", Some(sender_name(user))),
        (None, Some(agent)) => ("agent", Some(agent.clone())),
        (None, None) => ("system", Some("System".to_string())),
    };
    let message = MessageRecord {
        id: input.id.unwrap_or_else(Uuid::now_v7),
        conversation_id: conversation.id,
        message_type: input.message_type.unwrap_or_else(|| "text".into()),
        content: input.content,
        user_id: input.author.map(|u| u.id),
        agent_type: input.agent_type.clone(),
        participant_id: None,
        metadata: input.metadata.filter(|m| !m.is_null()),
        created_at: now.clone(),
        updated_at: None,
        sender_name: sender,
        sender_type: sender_type.into(),
    };
    let key = keys::message(scope, conversation.id, message.id);
    match store
        .put(message.item(scope), Some(Condition::NotExists))
        .await
    {
        Ok(()) => {}
        Err(StoreError::ConditionFailed) => {
            // The id exists: a retried send. Answer with what was stored, if it is this
            // author's; an id taken by someone else is refused.
            let stored: Option<MessageRecord> = thanotopolis_store::get_record(store, &key).await?;
            return match stored {
                Some(s) if s.user_id == message.user_id => Ok(s),
                _ => Err(ConversationError::MessageIdTaken),
            };
        }
        Err(e) => return Err(e.into()),
    }
    let mut meta = Update::new()
        .add("message_count", 1)
        .set("last_message", message.response())
        .set("last_message_at", now.clone())
        .set("updated_at", now.clone());
    if let Some(agent) = &input.agent_type {
        if !conversation.agents_used.contains(agent) {
            let mut used = conversation.agents_used.clone();
            used.push(agent.clone());
            meta = meta.set("agents_used", json!(used));
        }
    }
    let counted = store
        .update(
            &keys::conversation(scope, conversation.id),
            meta,
            Some(Condition::Exists),
        )
        .await;
    if let Err(e) = counted {
        // Deleted meanwhile, or the store failed: take the message back, so history never
        // holds a message its conversation does not count.
        store.delete(&key, None).await?;
        return Err(match e {
            StoreError::ConditionFailed => ConversationError::NotFound,
            other => other.into(),
        });
    }
    Ok(message)
}

async fn collect(
    store: &dyn Store,
    query: Query,
    want: usize,
) -> ConversationResult<(Vec<MessageRecord>, Option<String>)> {
    let mut out = Vec::new();
    let mut cursor = query.cursor.clone();
    loop {
        let (page, next) =
            thanotopolis_store::query_records::<MessageRecord>(store, &query.clone().after(cursor))
                .await?;
        out.extend(page);
        match next {
            Some(c) if out.len() < want => cursor = Some(c),
            next => return Ok((out, next)),
        }
    }
}

/// Messages oldest first: `skip` then up to `limit` (all when `None`), or continuing from a
/// cursor returned earlier. Returns the next cursor when more follow. One query per page.
pub async fn list_messages(
    store: &dyn Store,
    scope: &TenantScope,
    conversation_id: Uuid,
    skip: usize,
    limit: Option<usize>,
    cursor: Option<String>,
) -> ConversationResult<(Vec<MessageRecord>, Option<String>)> {
    let partition = keys::conversation_partition(scope, conversation_id);
    let mut query = Query::new(partition)
        .begins_with(keys::MESSAGE_PREFIX)
        .after(cursor);
    let want = limit.map(|l| skip.saturating_add(l)).unwrap_or(usize::MAX);
    if let Some(total) = limit.map(|l| skip.saturating_add(l)) {
        query = query.limit(u32::try_from(total).unwrap_or(u32::MAX));
    }
    let (messages, _) = collect(store, query, want).await?;
    let mut messages: Vec<MessageRecord> = messages.into_iter().skip(skip).collect();
    let mut cursor = None;
    if let Some(l) = limit {
        messages.truncate(l);
        if messages.len() == l {
            cursor = messages.last().map(|last| {
                thanotopolis_store::cursor_after(&MAIN_TABLE, Index::Table, &last.item(scope))
            });
        }
    }
    Ok((messages, cursor))
}

/// The newest `n` messages, oldest first. One query.
pub async fn recent_messages(
    store: &dyn Store,
    scope: &TenantScope,
    conversation_id: Uuid,
    n: u32,
) -> ConversationResult<Vec<MessageRecord>> {
    let query = Query::new(keys::conversation_partition(scope, conversation_id))
        .begins_with(keys::MESSAGE_PREFIX)
        .backward()
        .limit(n);
    let (mut messages, _) = collect(store, query, n as usize).await?;
    messages.truncate(n as usize);
    messages.reverse();
    Ok(messages)
}

/// Every message, oldest first (export, stats): one query per 1 MB page.
pub async fn history(
    store: &dyn Store,
    scope: &TenantScope,
    conversation_id: Uuid,
) -> ConversationResult<Vec<MessageRecord>> {
    list_messages(store, scope, conversation_id, 0, None, None)
        .await
        .map(|(m, _)| m)
}

/// Deletes one message and takes it off the conversation's count.
pub async fn delete_message(
    store: &dyn Store,
    scope: &TenantScope,
    conversation_id: Uuid,
    message_id: Uuid,
) -> ConversationResult<()> {
    let writes = vec![
        Write::Delete {
            key: keys::message(scope, conversation_id, message_id),
            condition: Some(Condition::Exists),
        },
        Write::Update {
            key: keys::conversation(scope, conversation_id),
            update: Update::new().add("message_count", -1),
            condition: Some(Condition::Exists),
        },
    ];
    match store.transact(writes).await {
        Ok(()) => Ok(()),
        Err(StoreError::TransactionCanceled { .. }) => Err(ConversationError::MessageNotFound),
        Err(e) => Err(e.into()),
    }
}

/// Messages strictly after `after` (from the start when `None`) and strictly before `before`,
/// oldest first, at most `limit`. One query.
pub async fn messages_between(
    store: &dyn Store,
    scope: &TenantScope,
    conversation_id: Uuid,
    after: Option<Uuid>,
    before: Uuid,
    limit: u32,
) -> ConversationResult<Vec<MessageRecord>> {
    let from = match after {
        Some(id) => format!("{}{id}", keys::MESSAGE_PREFIX),
        None => keys::MESSAGE_PREFIX.to_string(),
    };
    let query = Query::new(keys::conversation_partition(scope, conversation_id))
        .between(from, format!("{}{before}", keys::MESSAGE_PREFIX))
        .limit(limit.saturating_add(2));
    let (messages, _) = collect(store, query, limit as usize + 2).await?;
    Ok(messages
        .into_iter()
        .filter(|m| Some(m.id) != after && m.id != before)
        .take(limit as usize)
        .collect())
}

/// Keeps `summary` on the conversation (if it still exists). Not versioned: summaries are
/// derived data, and the newest one written is as good as any.
pub async fn set_summary(
    store: &dyn Store,
    scope: &TenantScope,
    conversation_id: Uuid,
    summary: &RollingSummary,
) -> ConversationResult<()> {
    let update = Update::new().set("summary", json!(summary));
    match store
        .update(
            &keys::conversation(scope, conversation_id),
            update,
            Some(Condition::Exists),
        )
        .await
    {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
