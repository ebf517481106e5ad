//! What an operator does outside any request: the only way to grant `admin` or
//! `super_admin` without an existing super_admin (the API never lets anyone promote
//! themselves). Used by the `thanotopolis-admin` command-line tool.

use crate::accounts::{self, UserChanges};
use crate::validate::{EmailAddress, Password, Subdomain};
use crate::{keys, tenants, Role, TenantScope, UserRecord};
use crate::{AuthError, AuthResult};
use serde_json::json;
use thanotopolis_store::from_item;
use thanotopolis_store::{Condition, Store, Update, Write};
use uuid::Uuid;

/// How an operator names a user.
pub enum UserRef {
    Id(Uuid),
    Email {
        subdomain: Subdomain,
        email: EmailAddress,
    },
}

/// Finds the user an operator named.
pub async fn find_user(store: &dyn Store, user: &UserRef) -> AuthResult<(TenantScope, UserRecord)> {
    let found = match user {
        UserRef::Id(id) => {
            let page = store
                .query(&keys::lookup::user_anywhere(*id).limit(1))
                .await?;
            match page.items.into_iter().next() {
                Some(item) => {
                    let user: UserRecord = from_item(item)?;
                    Some((TenantScope::trusted(user.tenant_id), user))
                }
                None => None,
            }
        }
        UserRef::Email { subdomain, email } => {
            match tenants::by_subdomain(store, subdomain).await? {
                Some((scope, _)) => accounts::by_email(store, &scope, email)
                    .await?
                    .map(|u| (scope, u)),
                None => None,
            }
        }
    };
    found.ok_or(AuthError::UserNotFound)
}

/// The origin of an operator's change at the command line: no signed-in actor, and the
/// request id says so.
pub(crate) fn command_line() -> thanotopolis_service::RequestOrigin {
    thanotopolis_service::RequestOrigin {
        request_id: Some("thanotopolis-admin".into()),
        client_address: None,
    }
}

/// Sets a user's password (an account imported from an archive has none that works), and
/// records that it was set, never what to.
pub async fn set_password(
    store: &dyn Store,
    user: &UserRef,
    password: &Password,
) -> AuthResult<UserRecord> {
    let (scope, found) = find_user(store, user).await?;
    let hash = crate::password::hash(password.expose().to_string()).await?;
    let entry = crate::audit::Entry::anonymous(
        &scope,
        "user.password_set",
        accounts::user_target(&found),
        json!({ "password": "changed" }),
        &command_line(),
    );
    let change = Write::Update {
        key: keys::user(&scope, found.id),
        update: Update::new().set("hashed_password", hash.clone()),
        condition: Some(Condition::Exists),
    };
    if !entry.commit(store, &scope, change).await? {
        return Err(AuthError::UserNotFound);
    }
    Ok(UserRecord {
        hashed_password: hash,
        ..found
    })
}

/// Sets a user's role, whatever it was.
pub async fn set_role(store: &dyn Store, user: &UserRef, role: Role) -> AuthResult<UserRecord> {
    let (scope, found) = find_user(store, user).await?;
    let changes = UserChanges {
        role: Some(role),
        ..UserChanges::default()
    };
    let (action, what) = changes.audited(&found);
    let entry = crate::audit::Entry::anonymous(
        &scope,
        action,
        accounts::user_target(&found),
        what,
        &command_line(),
    );
    accounts::update(store, &scope, &found, changes, entry).await
}
