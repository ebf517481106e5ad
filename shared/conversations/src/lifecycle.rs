//! A conversation's beginning and end: created with its member rows in one transaction,
//! deleted with everything in its partition.

use crate::records::MemberRow;
use crate::{
    AttachedAgent, ConversationError, ConversationRecord, ConversationResult, Participant,
};

use thanotopolis_store::{Condition, Query, Store, StoreError, Update, Write};
use thanotopolis_tenant_auth::records::Record;
use thanotopolis_tenant_auth::validate::EmailAddress;
use thanotopolis_tenant_auth::{accounts, keys, Caller, UserRecord};
use uuid::Uuid;

/// What a new conversation is asked to hold (already validated).
pub struct NewConversation {
    /// `None` picks the contract's default title.
    pub title: Option<String>,
    pub description: Option<String>,
    /// Users to add besides the caller; those who are not active users of the caller's
    /// organization are left out.
    pub user_ids: Vec<Uuid>,
    /// Agent types to attach; those not available to the caller are left out.
    pub agent_types: Vec<String>,
    /// Invited addresses: active users of the caller's organization become members, the rest
    /// pending e-mail participants.
    pub emails: Vec<EmailAddress>,
}

/// Creates the conversation, its members' rows and +1 on the tenant's counter in one
/// transaction. Returns it with its members' records.
pub async fn create(
    store: &dyn Store,
    caller: &Caller,
    new: NewConversation,
) -> ConversationResult<(ConversationRecord, Vec<UserRecord>)> {
    let scope = caller.scope();
    let mut members = vec![caller.user().clone()];
    members.extend(
        accounts::load_many(store, &scope, &new.user_ids)
            .await?
            .into_iter()
            .filter(|u| u.is_active && u.id != caller.user_id()),
    );
    let (colleagues, pending) = crate::invitations::resolve(store, caller, &new.emails).await?;
    for colleague in colleagues {
        if !members.iter().any(|m| m.id == colleague.id) {
            members.push(colleague);
        }
    }
    if members.len() > crate::MAX_MEMBERS {
        return Err(ConversationError::Invalid {
            field: "participant_emails",
            message: format!("At most {} members", crate::MAX_MEMBERS),
        });
    }
    let now = thanotopolis_tenant_auth::now_rfc3339();
    let available = thanotopolis_agents::available(store, caller).await?;
    let mut agents: Vec<AttachedAgent> = Vec::new();
    for wanted in &new.agent_types {
        let attached = agents.iter().any(|a| &a.agent_type == wanted);
        if !attached && available.iter().any(|a| &a.agent_type == wanted) {
            agents.push(AttachedAgent {
                id: Uuid::new_v4(),
                agent_type: wanted.clone(),
                is_active: true,
                added_at: now.clone(),
                configuration: None,
            });
        }
    }
    let id = Uuid::new_v4();
    let participants: Vec<Participant> = pending
        .iter()
        .map(|e| Participant::email(id, e.as_str(), &now))
        .collect();
    let title = new
        .title
        .unwrap_or_else(|| default_title(caller, &members, &participants));
    let conversation = ConversationRecord {
        id,
        tenant_id: scope.tenant_id(),
        title: Some(title),
        description: new.description,
        status: "active".into(),
        created_by_user_id: Some(caller.user_id()),
        created_at: now.clone(),
        updated_at: None,
        version: 1,
        message_count: 0,
        last_message: None,
        last_message_at: None,
        members: members.iter().map(|u| u.id).collect(),
        agents,
        participants,
        agents_used: Vec::new(),
        summary: None,
    };
    crate::invitations::remember_pending(store, &scope, id, &pending).await?;
    let mut writes = vec![Write::Put {
        item: conversation.item(&scope),
        condition: Some(Condition::NotExists),
    }];
    for member in &members {
        writes.push(Write::Put {
            item: MemberRow {
                conversation_id: id,
                user_id: member.id,
                joined_at: now.clone(),
            }
            .item(&scope),
            condition: None,
        });
    }
    writes.push(entry(&scope, &conversation));
    writes.push(Write::Update {
        key: keys::tenant(&scope),
        update: Update::new().add("conversation_count", 1),
        condition: Some(Condition::Exists),
    });
    store.transact(writes).await?;
    Ok((conversation, members))
}

/// The conversation's entry in its tenant's partition ([`keys::tenant_conversation`]), put in
/// the transaction that creates it, so every conversation of an organization can be found,
/// whoever is still a member.
pub(crate) fn entry(
    scope: &thanotopolis_tenant_auth::TenantScope,
    conversation: &ConversationRecord,
) -> Write {
    let key = keys::tenant_conversation(scope, conversation.id);
    Write::Put {
        item: thanotopolis_store::item(serde_json::json!({
            "pk": key.pk, "sk": key.sk,
            "conversation_id": conversation.id, "created_at": conversation.created_at,
        })),
        condition: None,
    }
}

/// Deletes a conversation the caller may delete (see [`crate::open_to_delete`]): its `META`
/// item and the tenant counter at once, in one transaction, so it disappears from every
/// list; then every other item of its partition (member rows, messages) in batches.
pub async fn delete(store: &dyn Store, caller: &Caller, id: Uuid) -> ConversationResult<()> {
    let id = crate::open_to_delete(store, caller, id).await?;
    let scope = caller.scope();
    let gone = store
        .transact(vec![
            Write::Delete {
                key: keys::conversation(&scope, id),
                condition: Some(Condition::Exists),
            },
            Write::Update {
                key: keys::tenant(&scope),
                update: Update::new().add("conversation_count", -1),
                condition: Some(Condition::Exists),
            },
            Write::Delete {
                key: keys::tenant_conversation(&scope, id),
                condition: None,
            },
        ])
        .await;
    match gone {
        Ok(()) => {}
        Err(StoreError::TransactionCanceled { .. }) => return Err(ConversationError::NotFound),
        Err(e) => return Err(e.into()),
    }
    let partition = Query::new(keys::conversation_partition(&scope, id));
    thanotopolis_store::delete_all(store, &partition).await?;
    Ok(())
}

/// `"<username> - <first other member or participant> [et al.] - <date UTC>"` (contract §8.3).
fn default_title(caller: &Caller, members: &[UserRecord], participants: &[Participant]) -> String {
    let others: Vec<&str> = members
        .iter()
        .filter(|u| u.id != caller.user_id())
        .map(|u| u.email.as_str())
        .chain(participants.iter().map(|p| p.identifier.as_str()))
        .collect();
    let who = match others.as_slice() {
        [] => "no participants".to_string(),
        [one] => one.to_string(),
        [first, ..] => format!("{first} et al."),
    };
    let format = time::macros::format_description!(
        "[month repr:short] [day], [year] [hour repr:12]:[minute] [period] UTC"
    );
    let date = time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default();
    format!("{} - {who} - {date}", caller.user().username)
}
