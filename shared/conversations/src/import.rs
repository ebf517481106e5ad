//! Importing conversations and messages of the old backend with their ids (messages: see
//! [`message_id`]) and timestamps. Each write is conditional on the item being new, so a
//! second import of the same rows writes nothing.

use crate::records::MemberRow;
use crate::{ConversationRecord, ConversationResult, MessageRecord, MAX_MEMBERS};
use thanotopolis_store::{Condition, Store, StoreError, Update, Write};
use thanotopolis_tenant_auth::creation::Imported;
use thanotopolis_tenant_auth::records::Record;
use thanotopolis_tenant_auth::validate::EmailAddress;
use thanotopolis_tenant_auth::{keys, TenantScope};
use uuid::Uuid;

/// Imports a conversation with its members (each with the time it joined), its attached agents
/// and participants, and one more on its organization's counter, in one transaction. Pending
/// e-mail participants are remembered, as invitations are, so the address becomes a member
/// when it joins the organization. With `dry_run`, only reads.
pub async fn import_conversation(
    store: &dyn Store,
    scope: &TenantScope,
    conversation: &ConversationRecord,
    joined: &[(Uuid, String)],
    dry_run: bool,
) -> ConversationResult<Imported> {
    let key = keys::conversation(scope, conversation.id);
    if store.get(&key).await?.is_some() {
        return Ok(Imported::AlreadyThere);
    }
    if joined.len() > MAX_MEMBERS {
        return Ok(Imported::Refused(format!(
            "{} members, at most {MAX_MEMBERS}",
            joined.len()
        )));
    }
    if dry_run {
        return Ok(Imported::Created);
    }
    let pending: Vec<EmailAddress> = conversation
        .participants
        .iter()
        .filter(|p| p.is_active && p.participant_type == "email")
        .filter_map(|p| EmailAddress::parse(&p.identifier).ok())
        .collect();
    crate::invitations::remember_pending(store, scope, conversation.id, &pending).await?;
    let mut record = conversation.clone();
    record.members = joined.iter().map(|(id, _)| *id).collect();
    record.message_count = 0;
    record.last_message = None;
    record.last_message_at = None;
    let mut writes = vec![Write::Put {
        item: record.item(scope),
        condition: Some(Condition::NotExists),
    }];
    for (user_id, joined_at) in joined {
        let row = MemberRow {
            conversation_id: conversation.id,
            user_id: *user_id,
            joined_at: joined_at.clone(),
        };
        writes.push(Write::Put {
            item: row.item(scope),
            condition: None,
        });
    }
    writes.push(crate::lifecycle::entry(scope, &record));
    writes.push(Write::Update {
        key: keys::tenant(scope),
        update: Update::new().add("conversation_count", 1),
        condition: Some(Condition::Exists),
    });
    let tenant_write = writes.len() - 1;
    match store.transact(writes).await {
        Ok(()) => Ok(Imported::Created),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&tenant_write) => {
            Ok(Imported::Refused("its organization is not imported".into()))
        }
        Err(StoreError::TransactionCanceled { .. }) => Ok(Imported::AlreadyThere),
        Err(e) => Err(e.into()),
    }
}

/// Imports a message into its (already imported) conversation and counts it there, in one
/// transaction: imported in time order, the last one is the conversation's last message.
/// `message.id` must be [`message_id`]'s. With `dry_run`, only reads.
pub async fn import_message(
    store: &dyn Store,
    scope: &TenantScope,
    message: &MessageRecord,
    dry_run: bool,
) -> ConversationResult<Imported> {
    let key = keys::message(scope, message.conversation_id, message.id);
    if store.get(&key).await?.is_some() {
        return Ok(Imported::AlreadyThere);
    }
    if dry_run {
        return Ok(Imported::Created);
    }
    let counted = Update::new()
        .add("message_count", 1)
        .set("last_message", message.response())
        .set("last_message_at", message.created_at.clone());
    let writes = vec![
        Write::Put {
            item: message.item(scope),
            condition: Some(Condition::NotExists),
        },
        Write::Update {
            key: keys::conversation(scope, message.conversation_id),
            update: counted,
            condition: Some(Condition::Exists),
        },
    ];
    match store.transact(writes).await {
        Ok(()) => Ok(Imported::Created),
        Err(StoreError::TransactionCanceled { failed }) if failed.contains(&1) => {
            Ok(Imported::Refused("its conversation is not imported".into()))
        }
        Err(StoreError::TransactionCanceled { .. }) => Ok(Imported::AlreadyThere),
        Err(e @ (StoreError::TooLarge { .. } | StoreError::TooDeep { .. })) => {
            Ok(Imported::Refused(e.to_string()))
        }
        Err(e) => Err(e.into()),
    }
}

/// The id an imported message gets. Messages are keyed by UUIDv7 so that key order is time
/// order; the old backend's ids are random (v4), so the import makes a v7 from the message's
/// time (milliseconds) and the old id's last 10 bytes: the same old message always gets the
/// same id (a second import finds it), and history reads in time order.
pub fn message_id(old_id: Uuid, created_at: time::OffsetDateTime) -> Uuid {
    let millis = (created_at.unix_timestamp_nanos() / 1_000_000).max(0) as u64;
    let old = old_id.as_bytes();
    let mut random = [0u8; 10];
    random.copy_from_slice(&old[6..]);
    uuid::Builder::from_unix_timestamp_millis(millis, &random).into_uuid()
}
