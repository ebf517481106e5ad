//! Who is in a conversation. Inviting by e-mail: an address of an active user of the caller's organization makes that
//! user a member (the conversation is in their list; they read, post and connect); any other
//! address stays a pending e-mail participant. The lookup reads only the caller's tenant's own
//! e-mail claims, so another organization's user is just an address and nothing about them is
//! revealed.

use crate::records::MemberRow;
use crate::{open, ConversationError, ConversationRecord, ConversationResult, Participant};
use serde_json::json;
use thanotopolis_store::{Condition, StoreError, Update, Write};
use thanotopolis_tenant_auth::records::Record;
use thanotopolis_tenant_auth::validate::EmailAddress;
use thanotopolis_tenant_auth::{accounts, keys, Caller, UserRecord};
use uuid::Uuid;

/// What an invitation did.
pub enum Invited {
    /// The address is an active user of the organization, now a member.
    Member(UserRecord),
    /// No such user here: the address is an (active) e-mail participant.
    Pending(Participant),
}

/// Splits `emails` into the active users of the caller's organization they belong to and the
/// addresses left pending.
pub async fn resolve(
    store: &dyn thanotopolis_store::Store,
    caller: &Caller,
    emails: &[EmailAddress],
) -> ConversationResult<(Vec<UserRecord>, Vec<EmailAddress>)> {
    let users = accounts::active_by_emails(store, &caller.scope(), emails).await?;
    let pending = emails
        .iter()
        .filter(|e| !users.iter().any(|u| u.email == e.as_str()))
        .cloned()
        .collect();
    Ok((users, pending))
}

/// Invites `email` to conversation `id` (the caller must be a member): as a member if it is an
/// active user's here, else as a pending participant. Inviting again changes nothing.
pub async fn invite(
    store: &dyn thanotopolis_store::Store,
    caller: &Caller,
    id: Uuid,
    email: &EmailAddress,
) -> ConversationResult<Invited> {
    let (users, _) = resolve(store, caller, std::slice::from_ref(email)).await?;
    match users.into_iter().next() {
        Some(user) => {
            add_member(store, caller, id, &user).await?;
            Ok(Invited::Member(user))
        }
        None => add_pending(store, caller, id, email)
            .await
            .map(Invited::Pending),
    }
}

/// Makes `user` a member: the access list in `META` and the member row (the user's entry in
/// their conversations index) in one transaction, conditional on the version read, so a
/// concurrent change is retried on fresh data rather than overwritten. A pending participant
/// with the user's address is taken off the list in the same write.
async fn add_member(
    store: &dyn thanotopolis_store::Store,
    caller: &Caller,
    id: Uuid,
    user: &UserRecord,
) -> ConversationResult<()> {
    let scope = caller.scope();
    for _ in 0..3 {
        let current = open(store, caller, id).await?;
        if current.members.contains(&user.id) {
            return Ok(());
        }
        if current.members.len() >= crate::MAX_MEMBERS {
            return Err(too_many("members", crate::MAX_MEMBERS));
        }
        let mut members = current.members.clone();
        members.push(user.id);
        let participants: Vec<&Participant> = current
            .participants
            .iter()
            .filter(|p| p.identifier != user.email)
            .collect();
        let now = thanotopolis_tenant_auth::now_rfc3339();
        let writes = vec![
            Write::Update {
                key: keys::conversation(&scope, id),
                update: Update::new()
                    .add("version", 1)
                    .set("updated_at", now.clone())
                    .set("members", json!(members))
                    .set("participants", json!(participants)),
                condition: Some(Condition::VersionEquals(current.version)),
            },
            Write::Put {
                item: MemberRow {
                    conversation_id: id,
                    user_id: user.id,
                    joined_at: now,
                }
                .item(&scope),
                condition: None,
            },
        ];
        match store.transact(writes).await {
            Ok(()) => return Ok(()),
            Err(StoreError::TransactionCanceled { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ConversationError::Conflict)
}

/// Adds (or reactivates) `email` as an e-mail participant.
async fn add_pending(
    store: &dyn thanotopolis_store::Store,
    caller: &Caller,
    id: Uuid,
    email: &EmailAddress,
) -> ConversationResult<Participant> {
    let mut added = None;
    crate::modify(store, caller, id, |c: &ConversationRecord| {
        let mut participants = c.participants.clone();
        if let Some(p) = participants
            .iter_mut()
            .find(|p| p.identifier == email.as_str())
        {
            p.is_active = true;
            p.left_at = None;
            added = Some(p.clone());
        } else if participants.len() >= crate::MAX_PARTICIPANTS {
            return Err(too_many("participants", crate::MAX_PARTICIPANTS));
        } else {
            let p =
                Participant::email(id, email.as_str(), &thanotopolis_tenant_auth::now_rfc3339());
            participants.push(p.clone());
            added = Some(p);
        }
        Ok(vec![("participants".into(), json!(participants))])
    })
    .await?;
    Ok(added.expect("set by the successful change"))
}

/// Removes `user_id` from conversation `id`: a member leaves (their own id), or its creator or
/// an org_admin removes one. The access list and the member row go in one transaction (so it
/// leaves the member's list as it leaves access); their sockets are for the caller to close.
pub async fn remove_member(
    store: &dyn thanotopolis_store::Store,
    caller: &Caller,
    id: Uuid,
    user_id: Uuid,
) -> ConversationResult<()> {
    let scope = caller.scope();
    for _ in 0..3 {
        let current = open(store, caller, id).await?;
        if user_id != caller.user_id() {
            crate::require_manager(caller, &current, "remove a member")?;
        }
        if !current.members.contains(&user_id) {
            return Err(ConversationError::MemberNotFound);
        }
        let members: Vec<Uuid> = current
            .members
            .iter()
            .copied()
            .filter(|m| *m != user_id)
            .collect();
        let writes = vec![
            Write::Update {
                key: keys::conversation(&scope, id),
                update: Update::new()
                    .add("version", 1)
                    .set("updated_at", thanotopolis_tenant_auth::now_rfc3339())
                    .set("members", json!(members)),
                condition: Some(Condition::VersionEquals(current.version)),
            },
            Write::Delete {
                key: keys::conversation_member(&scope, id, user_id),
                condition: None,
            },
        ];
        match store.transact(writes).await {
            Ok(()) => return Ok(()),
            Err(StoreError::TransactionCanceled { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ConversationError::Conflict)
}

fn too_many(what: &'static str, max: usize) -> ConversationError {
    ConversationError::Invalid {
        field: "email",
        message: format!("A conversation has at most {max} {what}"),
    }
}
