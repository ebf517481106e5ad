//! Creating, changing and deleting user accounts, with their uniqueness claims and the
//! tenant's user counter kept in the same transaction.

use crate::creation::{Claim, Creation, CreationError, Imported};
use crate::records::Record;
use crate::validate::{EmailAddress, Password};
use crate::{audit, keys, password, Role, TenantScope, UserRecord};
use crate::{AuthError, AuthResult};
use serde_json::{json, Value};
use thanotopolis_store::schema::MAIN_TABLE;
use thanotopolis_store::{from_item, readable};
use thanotopolis_store::{Condition, Query, Store, StoreError, Update, Write};
use uuid::Uuid;

/// What a new account is made of, validated.
pub struct NewAccount {
    pub email: EmailAddress,
    pub username: String,
    pub password: Password,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Role,
    pub is_verified: bool,
}

/// The user record for a new account (hashes the password).
pub async fn new_user(scope: &TenantScope, account: NewAccount) -> AuthResult<UserRecord> {
    Ok(UserRecord {
        id: Uuid::new_v4(),
        tenant_id: scope.tenant_id(),
        email: account.email.as_str().to_string(),
        username: account.username,
        hashed_password: password::hash(account.password.expose().to_string()).await?,
        first_name: account.first_name,
        last_name: account.last_name,
        role: account.role,
        is_active: true,
        is_verified: account.is_verified,
        created_at: crate::now_rfc3339(),
        updated_at: None,
    })
}

/// Adds the creation of `user` to `creation`: the user item and its e-mail and username
/// claims. The tenant's user counter is the caller's to adjust ([`count_claim`]), unless it
/// creates the tenant too.
pub fn create(creation: &mut Creation, scope: &TenantScope, user: &UserRecord) {
    let email = EmailAddress::parse(&user.email).expect("validated e-mail");
    let claim = |key| {
        let mut item = MAIN_TABLE.key_item(&key);
        item.insert("user_id".into(), json!(user.id));
        Write::Put {
            item,
            condition: Some(Condition::NotExists),
        }
    };
    creation.claim(
        Claim::NewItem,
        Write::Put {
            item: user.item(scope),
            condition: Some(Condition::NotExists),
        },
    );
    creation.claim(Claim::Email, claim(keys::email_claim(scope, &email)));
    creation.claim(
        Claim::Username,
        claim(keys::username_claim(scope, &user.username)),
    );
}

/// Adds one to the tenant's user counter, only if the tenant exists and is active.
pub fn count_claim(creation: &mut Creation, scope: &TenantScope) {
    creation.claim(
        Claim::ActiveTenant,
        Write::Update {
            key: keys::tenant(scope),
            update: Update::new().add("user_count", 1),
            condition: Some(Condition::Equals("is_active".into(), true.into())),
        },
    );
}

/// Imports an account of the old backend into its (already imported) organization, with its
/// id, role, flags, timestamps and password hash (bcrypt: replaced at its first login), its
/// claims, and one more on the organization's counter. With `dry_run`, only reads.
pub async fn import(
    store: &dyn Store,
    scope: &TenantScope,
    user: &UserRecord,
    dry_run: bool,
) -> AuthResult<Imported> {
    if store.get(&keys::user(scope, user.id)).await?.is_some() {
        return Ok(Imported::AlreadyThere);
    }
    let email = match EmailAddress::parse(&user.email) {
        Ok(e) => e,
        Err(e) => return Ok(Imported::Refused(format!("e-mail: {e}"))),
    };
    let email_taken = || Imported::Refused(format!("{} has another account here", user.email));
    let username_taken =
        || Imported::Refused(format!("username {:?} is taken here", user.username));
    if dry_run {
        let keys = [
            keys::email_claim(scope, &email),
            keys::username_claim(scope, &user.username),
        ];
        let claims = thanotopolis_store::by_key(&MAIN_TABLE, store.batch_get(&keys).await?);
        return Ok(if claims.contains_key(&keys[0]) {
            email_taken()
        } else if claims.contains_key(&keys[1]) {
            username_taken()
        } else {
            Imported::Created
        });
    }
    let mut creation = Creation::new();
    create(&mut creation, scope, user);
    creation.claim(
        Claim::ActiveTenant,
        Write::Update {
            key: keys::tenant(scope),
            update: Update::new().add("user_count", 1),
            condition: Some(Condition::Exists),
        },
    );
    match creation.commit(store).await {
        Ok(()) => Ok(Imported::Created),
        Err(CreationError::Taken(Claim::Email)) => Ok(email_taken()),
        Err(CreationError::Taken(Claim::Username)) => Ok(username_taken()),
        Err(CreationError::Taken(Claim::ActiveTenant)) => {
            Ok(Imported::Refused("its organization is not imported".into()))
        }
        Err(CreationError::Taken(_)) => Ok(Imported::AlreadyThere),
        Err(CreationError::Conflict) => Err(StoreError::TransactionConflict.into()),
        Err(CreationError::Store(e)) => Err(e.into()),
    }
}

/// The user with this id in the scope's tenant.
pub async fn load(
    store: &dyn Store,
    scope: &TenantScope,
    id: Uuid,
) -> AuthResult<Option<UserRecord>> {
    Ok(thanotopolis_store::get_record(store, &keys::user(scope, id)).await?)
}

/// Every user of the tenant, oldest id order (one query per 1 MB page).
pub async fn list(store: &dyn Store, scope: &TenantScope) -> AuthResult<Vec<UserRecord>> {
    let query = Query::new(keys::tenant_partition(scope)).begins_with(keys::USER_PREFIX);
    let mut users: Vec<UserRecord> = readable(thanotopolis_store::query_all(store, &query).await?);
    users.sort_by(|a, b| a.created_at.cmp(&b.created_at));
    Ok(users)
}

/// Changes to a user's administrative fields.
#[derive(Default)]
pub struct UserChanges {
    pub role: Option<Role>,
    pub is_active: Option<bool>,
    pub is_verified: Option<bool>,
}

impl UserChanges {
    /// The audit trail's name for these changes and what each changes in `user`.
    pub fn audited(&self, user: &UserRecord) -> (&'static str, serde_json::Value) {
        let mut changes = serde_json::Map::new();
        if let Some(role) = self.role {
            changes.insert("role".into(), audit::change(user.role, role));
        }
        if let Some(active) = self.is_active {
            changes.insert("is_active".into(), audit::change(user.is_active, active));
        }
        if let Some(verified) = self.is_verified {
            changes.insert(
                "is_verified".into(),
                audit::change(user.is_verified, verified),
            );
        }
        let action = match (self.role, self.is_active, self.is_verified) {
            (Some(_), None, None) => "user.role_changed",
            (None, Some(false), None) => "user.deactivated",
            (None, Some(true), None) => "user.activated",
            _ => "user.updated",
        };
        (action, serde_json::Value::Object(changes))
    }
}

/// Applies `changes` to an existing user, with their audit `entry`, in one transaction, and
/// returns the user as changed.
pub async fn update(
    store: &dyn Store,
    scope: &TenantScope,
    user: &UserRecord,
    changes: UserChanges,
    entry: audit::Entry,
) -> AuthResult<UserRecord> {
    let now = crate::now_rfc3339();
    let mut update = Update::new().set("updated_at", now.clone());
    let mut changed = user.clone();
    changed.updated_at = Some(now);
    if let Some(role) = changes.role {
        update = update.set("role", role.as_str());
        changed.role = role;
    }
    if let Some(active) = changes.is_active {
        update = update.set("is_active", active);
        changed.is_active = active;
    }
    if let Some(verified) = changes.is_verified {
        update = update.set("is_verified", verified);
        changed.is_verified = verified;
    }
    let change = Write::Update {
        key: keys::user(scope, user.id),
        update,
        condition: Some(Condition::Exists),
    };
    if !entry.commit(store, scope, change).await? {
        return Err(AuthError::UserNotFound);
    }
    Ok(changed)
}

/// Replaces an imported account's bcrypt hash with an argon2id hash of `password`, which has
/// just been verified against it. Only if the stored hash is still that one: a concurrent
/// login's rehash (or a password change) wins, and this one is dropped.
pub async fn upgrade_password_hash(
    store: &dyn Store,
    scope: &TenantScope,
    user: &UserRecord,
    password: String,
) -> AuthResult<()> {
    let hash = password::hash(password).await?;
    let update = Update::new().set("hashed_password", hash);
    let current = Condition::Equals("hashed_password".into(), json!(user.hashed_password));
    match store
        .update(&keys::user(scope, user.id), update, Some(current))
        .await
    {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Deletes a user, its claims and one from the tenant's counter, with the audit entry of
/// `caller`'s deletion, all or nothing.
pub async fn delete(
    store: &dyn Store,
    caller: &crate::Caller,
    scope: &TenantScope,
    user: &UserRecord,
) -> AuthResult<()> {
    let entry = audit::Entry::by(
        caller,
        scope,
        "user.deleted",
        user_target(user),
        json!({ "role": audit::change(user.role, Value::Null) }),
    );
    let email = EmailAddress::parse(&user.email).expect("validated e-mail");
    let writes = vec![
        Write::Delete {
            key: keys::user(scope, user.id),
            condition: Some(Condition::Exists),
        },
        Write::Delete {
            key: keys::email_claim(scope, &email),
            condition: None,
        },
        Write::Delete {
            key: keys::username_claim(scope, &user.username),
            condition: None,
        },
        Write::Update {
            key: keys::tenant(scope),
            update: Update::new().add("user_count", -1),
            condition: Some(Condition::Exists),
        },
        entry.write(scope),
    ];
    match store.transact(writes).await {
        Ok(()) => Ok(()),
        Err(StoreError::TransactionCanceled { .. }) => Err(AuthError::UserNotFound),
        Err(e) => Err(e.into()),
    }
}

/// The account with this e-mail in the scope's tenant.
pub async fn by_email(
    store: &dyn Store,
    scope: &TenantScope,
    email: &EmailAddress,
) -> AuthResult<Option<UserRecord>> {
    let Some(claim) = store.get(&keys::email_claim(scope, email)).await? else {
        return Ok(None);
    };
    match claim
        .get("user_id")
        .and_then(|v| v.as_str())
        .and_then(|s| s.parse().ok())
    {
        Some(id) => load(store, scope, id).await,
        None => Ok(None),
    }
}

/// The active accounts with these e-mails in the scope's tenant (addresses without one are
/// skipped): two batch reads, the e-mail claims and then their users, whatever the count.
pub async fn active_by_emails(
    store: &dyn Store,
    scope: &TenantScope,
    emails: &[EmailAddress],
) -> thanotopolis_store::StoreResult<Vec<UserRecord>> {
    if emails.is_empty() {
        return Ok(Vec::new());
    }
    let claims: Vec<_> = emails.iter().map(|e| keys::email_claim(scope, e)).collect();
    let ids: Vec<Uuid> = store
        .batch_get(&claims)
        .await?
        .iter()
        .filter_map(|claim| claim.get("user_id")?.as_str()?.parse().ok())
        .collect();
    let mut users = load_many(store, scope, &ids).await?;
    users.retain(|u| u.is_active);
    Ok(users)
}

/// The oldest account with this e-mail across all tenants, and its tenant's scope. Read from
/// an index, so an account created a moment ago may not be found yet.
pub async fn oldest_by_email(
    store: &dyn Store,
    email: &EmailAddress,
) -> AuthResult<Option<(TenantScope, UserRecord)>> {
    let page = store
        .query(&keys::lookup::accounts_by_email(email).limit(1))
        .await?;
    match page.items.into_iter().next() {
        Some(item) => {
            let user: UserRecord = from_item(item)?;
            Ok(Some((TenantScope::trusted(user.tenant_id), user)))
        }
        None => Ok(None),
    }
}

/// The users with these ids in the scope's tenant (absent ones are skipped). One batch read.
pub async fn load_many(
    store: &dyn Store,
    scope: &TenantScope,
    ids: &[Uuid],
) -> thanotopolis_store::StoreResult<Vec<UserRecord>> {
    let keys: Vec<_> = ids.iter().map(|id| keys::user(scope, *id)).collect();
    Ok(readable(store.batch_get(&keys).await?))
}

/// What an administrator may change about a user (the body of the admin and members PATCH
/// routes; absent fields stay as they are).
#[derive(Debug, Default, serde::Deserialize, utoipa::ToSchema)]
pub struct UserPatch {
    /// `user` (or `member`), `org_admin`, `admin` or `super_admin`.
    pub role: Option<String>,
    pub is_active: Option<bool>,
    pub is_verified: Option<bool>,
}

/// Applies an administrator's change to `target` under the policy rules (role ladder, nobody
/// changes their own role or deactivates themselves, nobody touches someone ranked above).
pub async fn change_by(
    store: &dyn Store,
    caller: &crate::Caller,
    scope: &TenantScope,
    target: &UserRecord,
    change: UserPatch,
) -> AuthResult<UserRecord> {
    let role = match change.role.as_deref() {
        Some(raw) => {
            let role = Role::parse(raw).ok_or(AuthError::InvalidRole)?;
            crate::policy::check_role_change(caller, target.id, target.role, role)?;
            Some(role)
        }
        None => None,
    };
    if change.is_active.is_some() || change.is_verified.is_some() {
        // Nobody changes their own status, not even to "verified".
        let self_detail = if change.is_active == Some(false) {
            "You cannot deactivate yourself"
        } else {
            "You cannot change your own active or verified status"
        };
        crate::policy::check_manage_user(caller, target.id, target.role, self_detail)?;
    }
    let changes = UserChanges {
        role,
        is_active: change.is_active,
        is_verified: change.is_verified,
    };
    let (action, what) = changes.audited(target);
    let entry = audit::Entry::by(caller, scope, action, user_target(target), what);
    update(store, scope, target, changes, entry).await
}

/// A user as the audit trail names it.
pub fn user_target(user: &UserRecord) -> audit::Target {
    audit::Target::new("user", user.id, Some(&user.email))
}
