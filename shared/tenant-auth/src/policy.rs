//! Every permission rule, in one place. Routes ask these functions; nobody compares role
//! strings elsewhere.

use crate::{Caller, Role};
use thanotopolis_service::{ApiError, ApiResult};

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
pub fn require_org_admin(caller: &Caller) -> ApiResult<()> {
    require(
        caller,
        Role::OrgAdmin,
        "Only organization admins can perform this action",
    )
}

/// At least `admin`: the `/api/users` administration.
pub fn require_admin(caller: &Caller) -> ApiResult<()> {
    require(caller, Role::Admin, "Admin access required")
}

pub fn require_super_admin(caller: &Caller, detail: &str) -> ApiResult<()> {
    require(caller, Role::SuperAdmin, detail)
}

fn require(caller: &Caller, at_least: Role, detail: &str) -> ApiResult<()> {
    if caller.role() >= at_least {
        Ok(())
    } else {
        Err(ApiError::forbidden(detail))
    }
}

/// Whether `actor` may change `target`'s role from `current` to `new`.
///
/// Nobody changes their own role; nobody touches someone ranked above them; only a
/// super_admin grants or touches super_admin (defect #8); an org_admin grants at most org_admin.
pub fn check_role_change(
    actor: &Caller,
    target_id: uuid::Uuid,
    current: Role,
    new: Role,
) -> ApiResult<()> {
    if actor.user_id() == target_id {
        return Err(ApiError::bad_request("You cannot change your own role"));
    }
    let me = actor.role();
    if me == Role::OrgAdmin && new > Role::OrgAdmin {
        return Err(ApiError::forbidden(
            "You cannot promote users to admin or super_admin",
        ));
    }
    if new == Role::SuperAdmin && me != Role::SuperAdmin {
        return Err(ApiError::forbidden(
            "Only super admins can promote to super admin",
        ));
    }
    if current == Role::SuperAdmin && me != Role::SuperAdmin {
        return Err(ApiError::forbidden("Super admin access required"));
    }
    if current > me {
        return Err(ApiError::forbidden(
            "You cannot change the role of a user ranked above you",
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
) -> ApiResult<()> {
    if actor.user_id() == target_id {
        return Err(ApiError::bad_request(self_detail));
    }
    if !may_touch(actor, target_role) {
        return Err(ApiError::forbidden("Super admin access required"));
    }
    if target_role > actor.role() {
        return Err(ApiError::forbidden(
            "You cannot manage a user ranked above you",
        ));
    }
    Ok(())
}
