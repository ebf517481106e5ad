//! Who is in a conversation. Inviting by e-mail: an address of an active user of the caller's
//! organization makes that user a member (the conversation is in their list; they read, post
//! and connect); any other address stays a pending e-mail participant, and becomes a membership when a user with that
//! address joins the organization ([`claim`]). The lookup reads only the caller's tenant's own
//! e-mail claims, so another organization's user is just an address and nothing about them is
//! revealed.

use crate::records::MemberRow;
use crate::{open, ConversationError, ConversationRecord, ConversationResult, Participant};
use serde_json::{json, Value};
use thanotopolis_store::{Condition, Query, Store, StoreError, Update, Write};
use thanotopolis_tenant_auth::records::Record;
use thanotopolis_tenant_auth::validate::EmailAddress;
use thanotopolis_tenant_auth::{accounts, audit, keys, Caller, TenantScope, UserRecord};
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
    store: &dyn Store,
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
    store: &dyn Store,
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

/// Makes `user` a member of a conversation the caller is in (see [`admit`]).
async fn add_member(
    store: &dyn Store,
    caller: &Caller,
    id: Uuid,
    user: &UserRecord,
) -> ConversationResult<()> {
    let scope = caller.scope();
    let entry = audit::Entry::by(
        caller,
        &scope,
        "conversation.member_invited",
        conversation_target(id),
        json!({ "member": audit::change(Value::Null, person(user)) }),
    );
    for _ in 0..3 {
        let current = open(store, caller, id).await?;
        match admit(store, &scope, &current, user, Some(&entry)).await? {
            Admission::Admitted | Admission::AlreadyMember => return Ok(()),
            Admission::Full => return Err(too_many("members", crate::MAX_MEMBERS)),
            Admission::Raced => continue,
        }
    }
    Err(ConversationError::Conflict)
}

enum Admission {
    Admitted,
    AlreadyMember,
    Full,
    /// The conversation changed since it was read: read it again.
    Raced,
}

/// Makes `user` a member of `current`: the access list in `META` and the member row (the
/// user's entry in their conversations index) in one transaction, conditional on the version
/// read, so a concurrent change is retried on fresh data rather than overwritten. A pending
/// participant with the user's address is taken off the list in the same write, and so is the
/// audit entry of an invitation (a registration claiming its invitations has none).
async fn admit(
    store: &dyn Store,
    scope: &TenantScope,
    current: &ConversationRecord,
    user: &UserRecord,
    entry: Option<&audit::Entry>,
) -> ConversationResult<Admission> {
    if current.members.contains(&user.id) {
        return Ok(Admission::AlreadyMember);
    }
    if current.members.len() >= crate::MAX_MEMBERS {
        return Ok(Admission::Full);
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
            key: keys::conversation(scope, current.id),
            update: Update::new()
                .add("version", 1)
                .set("updated_at", now.clone())
                .set("members", json!(members))
                .set("participants", json!(participants)),
            condition: Some(Condition::VersionEquals(current.version)),
        },
        Write::Put {
            item: MemberRow {
                conversation_id: current.id,
                user_id: user.id,
                joined_at: now,
            }
            .item(scope),
            condition: None,
        },
    ];
    let writes = writes
        .into_iter()
        .chain(entry.map(|e| e.write(scope)))
        .collect();
    Ok(if committed(store, writes).await? {
        Admission::Admitted
    } else {
        Admission::Raced
    })
}

/// Commits a membership change conditional on the conversation's version: `false` when the
/// conversation changed since it was read (the caller reads it again and retries).
async fn committed(store: &dyn Store, writes: Vec<Write>) -> ConversationResult<bool> {
    match store.transact(writes).await {
        Ok(()) => Ok(true),
        Err(StoreError::TransactionCanceled { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Records that conversation `id` invited `emails` while they had no account here, so
/// [`claim`] finds it when one joins. Written before the participant itself: a hint whose
/// conversation never listed the address (a failed write) is ignored when used.
pub(crate) async fn remember_pending(
    store: &dyn Store,
    scope: &TenantScope,
    id: Uuid,
    emails: &[EmailAddress],
) -> ConversationResult<()> {
    for email in emails {
        let key = keys::pending_invitation(scope, email.as_str(), id);
        let hint = json!({
            "pk": key.pk, "sk": key.sk, "conversation_id": id,
            "gsi1pk": keys::index::tenant_invitations(scope),
            "gsi1sk": format!("{}#{id}", email.as_str()),
        });
        store.put(thanotopolis_store::item(hint), None).await?;
    }
    Ok(())
}

/// Turns the pending invitations of a user's address into memberships, once they have an
/// account in the organization (registration). Returns how many conversations they joined;
/// a conversation that is gone, no longer lists the address, or is full is skipped.
pub async fn claim(
    store: &dyn Store,
    scope: &TenantScope,
    user: &UserRecord,
) -> ConversationResult<usize> {
    let hints = Query::new(keys::pending_invitations(scope, &user.email));
    let mut joined = 0;
    for hint in thanotopolis_store::query_all(store, &hints).await? {
        let Some(id) = hint
            .get("conversation_id")
            .and_then(|v| v.as_str())
            .and_then(|v| v.parse::<Uuid>().ok())
        else {
            continue;
        };
        for _ in 0..3 {
            let Some(current): Option<ConversationRecord> =
                thanotopolis_store::get_record(store, &keys::conversation(scope, id)).await?
            else {
                break;
            };
            let invited = current
                .participants
                .iter()
                .any(|p| p.is_active && p.identifier == user.email);
            if !invited {
                break;
            }
            match admit(store, scope, &current, user, None).await? {
                Admission::Admitted => {
                    joined += 1;
                    break;
                }
                Admission::AlreadyMember | Admission::Full => break,
                Admission::Raced => continue,
            }
        }
        store
            .delete(&keys::pending_invitation(scope, &user.email, id), None)
            .await?;
    }
    Ok(joined)
}

/// Adds (or reactivates) `email` as an e-mail participant.
async fn add_pending(
    store: &dyn Store,
    caller: &Caller,
    id: Uuid,
    email: &EmailAddress,
) -> ConversationResult<Participant> {
    remember_pending(store, &caller.scope(), id, std::slice::from_ref(email)).await?;
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
    // The versioned edit above is one write of its own: the entry follows it.
    let scope = caller.scope();
    audit::Entry::by(
        caller,
        &scope,
        "conversation.participant_invited",
        conversation_target(id),
        json!({ "participant": audit::change(Value::Null, email.as_str()) }),
    )
    .append(store, &scope)
    .await?;
    Ok(added.expect("set by the successful change"))
}

/// A conversation as the audit trail names it.
fn conversation_target(id: Uuid) -> audit::Target {
    audit::Target::new("conversation", id, None)
}

fn person(user: &UserRecord) -> Value {
    json!({ "id": user.id, "email": user.email })
}

/// Removes `user_id` from conversation `id`: a member leaves (their own id), or its creator or
/// an org_admin removes one. The access list and the member row go in one transaction (so it
/// leaves the member's list as it leaves access); their sockets are for the caller to close.
pub async fn remove_member(
    store: &dyn Store,
    caller: &Caller,
    id: Uuid,
    user_id: Uuid,
) -> ConversationResult<()> {
    let scope = caller.scope();
    let action = if user_id == caller.user_id() {
        "conversation.member_left"
    } else {
        "conversation.member_removed"
    };
    let entry = audit::Entry::by(
        caller,
        &scope,
        action,
        conversation_target(id),
        json!({ "member": audit::change(json!({ "id": user_id }), Value::Null) }),
    );
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
            entry.write(&scope),
        ];
        if committed(store, writes).await? {
            return Ok(());
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
