//! Every permission rule, in one place. Routes ask these functions; nobody compares role
//! strings elsewhere.

use crate::{Caller, Role};

/// A refused action, in the words the frontend shows.
#[derive(Debug, thiserror::Error)]
pub enum Denied {
    /// The caller's role does not allow it (403).
    #[error("{0}")]
    Role(String),
    /// Nobody does this to themselves: change their own role or status, remove themselves (400).
    #[error("{0}")]
    OnSelf(String),
}

type Decision = Result<(), Denied>;

/// Whether the caller sees and acts on every organization (a super_admin), not only its own:
/// the admin dashboard's global figures, any organization's users, agents and metrics.
pub fn sees_all_tenants(caller: &Caller) -> bool {
    caller.role() == Role::SuperAdmin
}

/// Whether the caller may create, change or delete free agents (which serve everyone).
pub fn may_manage_free_agents(caller: &Caller) -> bool {
    caller.role() == Role::SuperAdmin
}

/// Whether the caller may read other users of its organization (`/api/users/{id}`).
pub fn may_read_other_users(caller: &Caller) -> bool {
    caller.role() >= Role::Admin
}

/// Whether the caller may act on a user whose role is `target_role` at all: only a
/// super_admin touches a super_admin.
pub fn may_touch(caller: &Caller, target_role: Role) -> bool {
    target_role != Role::SuperAdmin || caller.role() == Role::SuperAdmin
}

/// Whether the caller may delete a conversation created by `creator` or clear its messages:
/// its creator, or an org_admin or above of the tenant.
pub fn may_manage_conversation(caller: &Caller, creator: Option<uuid::Uuid>) -> bool {
    creator == Some(caller.user_id()) || caller.role() >= Role::OrgAdmin
}

/// At least `org_admin`: manage the organization and its members.
pub fn require_org_admin(caller: &Caller) -> Decision {
    require(
        caller,
        Role::OrgAdmin,
        "Only organization admins can perform this action",
    )
}

/// At least `admin`: the `/api/users` administration.
pub fn require_admin(caller: &Caller) -> Decision {
    require(caller, Role::Admin, "Admin access required")
}

pub fn require_super_admin(caller: &Caller, detail: &str) -> Decision {
    require(caller, Role::SuperAdmin, detail)
}

fn require(caller: &Caller, at_least: Role, detail: &str) -> Decision {
    if caller.role() >= at_least {
        Ok(())
    } else {
        Err(Denied::Role(detail.into()))
    }
}

/// Whether `actor` may change `target`'s role from `current` to `new`.
///
/// Nobody changes their own role; nobody touches someone ranked above them; only a
/// super_admin grants or touches super_admin (decision D8); an org_admin grants at most org_admin.
pub fn check_role_change(
    actor: &Caller,
    target_id: uuid::Uuid,
    current: Role,
    new: Role,
) -> Decision {
    if actor.user_id() == target_id {
        return Err(Denied::OnSelf("You cannot change your own role".into()));
    }
    let me = actor.role();
    if me == Role::OrgAdmin && new > Role::OrgAdmin {
        return Err(Denied::Role(
            "You cannot promote users to admin or super_admin".into(),
        ));
    }
    if new == Role::SuperAdmin && me != Role::SuperAdmin {
        return Err(Denied::Role(
            "Only super admins can promote to super admin".into(),
        ));
    }
    if current == Role::SuperAdmin && me != Role::SuperAdmin {
        return Err(Denied::Role("Super admin access required".into()));
    }
    if current > me {
        return Err(Denied::Role(
            "You cannot change the role of a user ranked above you".into(),
        ));
    }
    Ok(())
}

/// Whether `actor` may activate, deactivate or delete `target` (whose role is `target_role`).
pub fn check_manage_user(
    actor: &Caller,
    target_id: uuid::Uuid,
    target_role: Role,
    self_detail: &str,
) -> Decision {
    if actor.user_id() == target_id {
        return Err(Denied::OnSelf(self_detail.into()));
    }
    if !may_touch(actor, target_role) {
        return Err(Denied::Role("Super admin access required".into()));
    }
    if target_role > actor.role() {
        return Err(Denied::Role(
            "You cannot manage a user ranked above you".into(),
        ));
    }
    Ok(())
}
