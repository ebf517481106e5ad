//! Every single-table key and index value, in one place. The access-pattern table that goes
//! with it is `docs/data-model.md`. Tenant-owned keys start with `TENANT#{id}` and take a
//! [`TenantScope`]; the few global keys (uniqueness claims, refresh tokens looked up by hash,
//! the tenant directory) say so.

use crate::validate::{EmailAddress, Subdomain};
use crate::TenantScope;
use thanotopolis_store::Key;
use uuid::Uuid;

/// The partition holding a tenant's organization item, users and their claims.
pub fn tenant_partition(scope: &TenantScope) -> String {
    format!("TENANT#{}", scope.tenant_id())
}

/// The organization item.
pub fn tenant(scope: &TenantScope) -> Key {
    Key::new(tenant_partition(scope), "TENANT")
}

/// A user of the tenant.
pub fn user(scope: &TenantScope, user_id: Uuid) -> Key {
    Key::new(tenant_partition(scope), format!("USER#{user_id}"))
}

/// Sort-key prefix of the tenant's users (query the tenant partition with it).
pub const USER_PREFIX: &str = "USER#";

/// Claims an e-mail address within a tenant (unique per tenant).
pub fn email_claim(scope: &TenantScope, email: &EmailAddress) -> Key {
    Key::new(tenant_partition(scope), format!("EMAIL#{}", email.as_str()))
}

/// Claims a username within a tenant (unique per tenant, case-insensitively).
pub fn username_claim(scope: &TenantScope, username: &str) -> Key {
    Key::new(
        tenant_partition(scope),
        format!("USERNAME#{}", username.to_lowercase()),
    )
}

/// A refresh-token family (one login session and its rotations).
pub fn refresh_family(scope: &TenantScope, user_id: Uuid, family_id: Uuid) -> Key {
    Key::new(
        tenant_partition(scope),
        format!("FAMILY#{user_id}#{family_id}"),
    )
}

/// Sort-key prefix of one user's refresh-token families.
pub fn refresh_families_prefix(user_id: Uuid) -> String {
    format!("FAMILY#{user_id}#")
}

/// Global: claims a subdomain for one tenant (subdomains are unique across tenants).
pub fn subdomain_claim(subdomain: &Subdomain) -> Key {
    Key::new(format!("SUBDOMAIN#{}", subdomain.as_str()), "SUBDOMAIN")
}

/// Global: a refresh token, found by the hash of the token the client presents.
pub fn refresh_token(token_hash: &str) -> Key {
    Key::new(format!("REFRESH#{token_hash}"), "REFRESH")
}

/// Global: failed logins in one fixed window, for one e-mail address (by the SHA-256 of the
/// address, so no address without an account is ever stored) or one client address.
pub fn login_failures(subject: &str, window: i64) -> Key {
    Key::new(
        login_failures_partition(subject),
        format!("WINDOW#{window}"),
    )
}

/// Global: every window of one subject's failed logins.
pub fn login_failures_partition(subject: &str) -> String {
    format!("LOGINFAIL#{subject}")
}

/// Index values (`gsi1`/`gsi2` attributes) and the queries that read them.
pub mod index {
    use super::*;

    /// `gsi1pk` of users: every account with this e-mail across tenants (login without a
    /// tenant). `gsi1sk` is [`account_age`], so the oldest account comes first.
    pub fn email(email: &EmailAddress) -> String {
        format!("EMAIL#{}", email.as_str())
    }

    pub fn account_age(created_at: &str, tenant_id: Uuid) -> String {
        format!("{created_at}#{tenant_id}")
    }

    /// `gsi2pk` of users: the user with this id, whatever its tenant (operator tool only).
    pub fn user_id(user_id: Uuid) -> String {
        format!("USER#{user_id}")
    }

    /// `gsi1pk` of tenants: the directory of all tenants (super_admin), oldest first.
    pub const TENANTS: &str = "TENANTS";

    /// `gsi1pk` of conversation member rows: one user's conversations; `gsi1sk` is
    /// [`joined`], in order of joining.
    pub fn member_conversations(scope: &TenantScope, user_id: Uuid) -> String {
        format!("{}#USER#{user_id}#CONVS", tenant_partition(scope))
    }

    pub fn joined(at: &str, conversation_id: Uuid) -> String {
        format!("{at}#{conversation_id}")
    }

    /// `gsi1pk` of usage records: one tenant's records; `gsi1sk` is `{created_at}#{id}`.
    pub fn tenant_usage(scope: &TenantScope) -> String {
        format!("{}#USAGE", tenant_partition(scope))
    }

    /// `gsi1pk` of refresh tokens (global items): one tenant's tokens, so erasing an
    /// organization finds them; `gsi1sk` is `{user_id}#{family_id}`.
    pub fn tenant_tokens(scope: &TenantScope) -> String {
        format!("{}#TOKENS", tenant_partition(scope))
    }

    /// `gsi1pk` of pending invitations: one tenant's, whatever the address; `gsi1sk` is
    /// `{email}#{conversation_id}`.
    pub fn tenant_invitations(scope: &TenantScope) -> String {
        format!("{}#INVITES", tenant_partition(scope))
    }

    /// `gsi1pk` of a tenant's system metrics, whatever the day; `gsi1sk` is the metric's sort key.
    pub fn tenant_metrics(scope: &TenantScope) -> String {
        format!("{}#METRICS", tenant_partition(scope))
    }

    /// `gsi2pk` of stored agents: the agent with this id, wherever it is stored.
    pub fn agent_id(agent_id: Uuid) -> String {
        format!("AGENTID#{agent_id}")
    }

    /// `gsi2pk` of tenants: the tenant with this access code.
    pub fn access_code(code: &str) -> String {
        format!("ACCESS#{code}")
    }
}

/// Ready queries of the indexes: each pairs an index key of [`index`] with the index that
/// holds it, so no caller picks a GSI by hand.
pub mod lookup {
    use super::*;
    use thanotopolis_store::{Index, Query};

    /// Every account with this e-mail across tenants, oldest first.
    pub fn accounts_by_email(email: &EmailAddress) -> Query {
        Query::new(index::email(email)).on(Index::Gsi1)
    }

    /// The user with this id, whatever its tenant.
    pub fn user_anywhere(user_id: Uuid) -> Query {
        Query::new(index::user_id(user_id)).on(Index::Gsi2)
    }

    /// The directory of all tenants, oldest first.
    pub fn tenants() -> Query {
        Query::new(index::TENANTS).on(Index::Gsi1)
    }

    /// The tenant with this access code.
    pub fn tenant_by_access_code(code: &str) -> Query {
        Query::new(index::access_code(code)).on(Index::Gsi2)
    }

    /// One user's conversations, most recently joined first.
    pub fn member_conversations(scope: &TenantScope, user_id: Uuid) -> Query {
        Query::new(index::member_conversations(scope, user_id))
            .on(Index::Gsi1)
            .backward()
    }

    /// One tenant's usage records, oldest first.
    pub fn tenant_usage(scope: &TenantScope) -> Query {
        Query::new(index::tenant_usage(scope)).on(Index::Gsi1)
    }

    /// One tenant's refresh tokens.
    pub fn tenant_tokens(scope: &TenantScope) -> Query {
        Query::new(index::tenant_tokens(scope)).on(Index::Gsi1)
    }

    /// One tenant's pending invitations.
    pub fn tenant_invitations(scope: &TenantScope) -> Query {
        Query::new(index::tenant_invitations(scope)).on(Index::Gsi1)
    }

    /// One tenant's system metrics, oldest first.
    pub fn tenant_metrics(scope: &TenantScope) -> Query {
        Query::new(index::tenant_metrics(scope)).on(Index::Gsi1)
    }

    /// The stored agent with this id, wherever it is stored.
    pub fn agent_by_id(agent_id: Uuid) -> Query {
        Query::new(index::agent_id(agent_id)).on(Index::Gsi2)
    }
}

/// Global partition of free agents created through the API and of stored changes to built-in
/// agents (the catalog itself is a data file, not items).
pub const GLOBAL_AGENTS: &str = "AGENTS";

/// Sort-key prefix of agents, in [`GLOBAL_AGENTS`] and in tenant partitions.
pub const AGENT_PREFIX: &str = "AGENT#";

/// Global: a free agent, or the stored state of a built-in agent, by type.
pub fn global_agent(agent_type: &str) -> Key {
    Key::new(GLOBAL_AGENTS, format!("{AGENT_PREFIX}{agent_type}"))
}

/// A proprietary agent the tenant created.
pub fn tenant_agent(scope: &TenantScope, agent_type: &str) -> Key {
    Key::new(
        tenant_partition(scope),
        format!("{AGENT_PREFIX}{agent_type}"),
    )
}

/// Global: claims the type of a free agent (unique across all agents; a proprietary agent's
/// type is unique within its organization by its own key, [`tenant_agent`]).
pub fn agent_type_claim(agent_type: &str) -> Key {
    Key::new(format!("AGENTTYPE#{agent_type}"), "AGENTTYPE")
}

/// Sort-key prefix of the tenant's conversation entries ([`tenant_conversation`]).
pub const CONVERSATION_PREFIX: &str = "CONV#";

/// A conversation's entry in its tenant's partition, written and deleted with the
/// conversation: every conversation of an organization, members or not, in one query (export
/// and erasure).
pub fn tenant_conversation(scope: &TenantScope, conversation_id: Uuid) -> Key {
    Key::new(
        tenant_partition(scope),
        format!("{CONVERSATION_PREFIX}{conversation_id}"),
    )
}

/// The partition of one conversation: its `META` item, one `MEMBER#` row per member (for the
/// members' conversations index) and its messages.
pub fn conversation_partition(scope: &TenantScope, conversation_id: Uuid) -> String {
    format!("{}#CONV#{conversation_id}", tenant_partition(scope))
}

/// A conversation: title, status, counters, and its members, agents and participants.
pub fn conversation(scope: &TenantScope, conversation_id: Uuid) -> Key {
    Key::new(conversation_partition(scope, conversation_id), "META")
}

/// A member's row in a conversation (carries the member's conversations-index entry).
pub fn conversation_member(scope: &TenantScope, conversation_id: Uuid, user_id: Uuid) -> Key {
    Key::new(
        conversation_partition(scope, conversation_id),
        format!("MEMBER#{user_id}"),
    )
}

/// Sort-key prefix of messages; message ids are UUIDv7, so key order is time order.
pub const MESSAGE_PREFIX: &str = "MSG#";

pub fn message(scope: &TenantScope, conversation_id: Uuid, message_id: Uuid) -> Key {
    Key::new(
        conversation_partition(scope, conversation_id),
        format!("{MESSAGE_PREFIX}{message_id}"),
    )
}

/// An immutable usage record, in a per-tenant, per-day partition.
pub fn usage_record(scope: &TenantScope, day: &str, at: &str, id: Uuid) -> Key {
    Key::new(
        format!("{}#USAGE#{day}", tenant_partition(scope)),
        format!("{at}#{id}"),
    )
}

/// One shard of a tenant's total of one usage type on one day (the total is the sum of its
/// shards; a range over `USAGEDAY#{day}` reads them all).
pub fn tenant_usage_day(scope: &TenantScope, day: &str, usage_type: &str, shard: u8) -> Key {
    Key::new(
        tenant_partition(scope),
        format!("USAGEDAY#{day}#{usage_type}#{shard}"),
    )
}

/// One shard of a tenant's total of language-model tokens in one UTC month (`YYYY-MM`), the
/// figure its AI budget is checked against: all shards are read in one batch get.
pub fn tenant_usage_month(scope: &TenantScope, month: &str, usage_type: &str, shard: u8) -> Key {
    Key::new(
        tenant_partition(scope),
        format!("USAGEMONTH#{month}#{usage_type}#{shard}"),
    )
}

/// One user's messages in one minute (a counter that expires with the minute), in a partition
/// of the user's own so that a busy organization's users do not share one.
pub fn message_rate(scope: &TenantScope, user_id: Uuid, minute: i64) -> Key {
    Key::new(
        message_rate_partition(scope, user_id),
        format!("MINUTE#{minute}"),
    )
}

/// Every minute counter of one user's messages.
pub fn message_rate_partition(scope: &TenantScope, user_id: Uuid) -> String {
    format!("{}#RATE#{user_id}", tenant_partition(scope))
}

/// Partition of the organization's audit trail (rarely written: security-relevant changes).
pub fn audit_partition(scope: &TenantScope) -> String {
    format!("{}#AUDIT", tenant_partition(scope))
}

/// One audit entry; ids are UUIDv7, so key order is time order.
pub fn audit_entry(scope: &TenantScope, entry_id: Uuid) -> Key {
    Key::new(audit_partition(scope), format!("ENTRY#{entry_id}"))
}

/// Partition of the conversations that invited one address while it had no account in the
/// tenant: read when a user with that address joins, so the invitations become memberships.
pub fn pending_invitations(scope: &TenantScope, email: &str) -> String {
    format!("{}#INVITE#{email}", tenant_partition(scope))
}

/// One conversation's pending invitation of an address (a hint: the conversation's own
/// participant list is the truth, checked when the hint is used).
pub fn pending_invitation(scope: &TenantScope, email: &str, conversation_id: Uuid) -> Key {
    Key::new(
        pending_invitations(scope, email),
        format!("CONV#{conversation_id}"),
    )
}

/// Global partition of every tenant's daily usage totals.
pub const GLOBAL_USAGE: &str = "USAGE#ALL";

/// Global: every tenant's total of one usage type on one day, recomputed by the usage rollup
/// (never written at request time).
pub fn global_usage_day(day: &str, usage_type: &str) -> Key {
    Key::new(GLOBAL_USAGE, format!("{day}#{usage_type}"))
}

/// Global: when the usage rollup last recomputed the all-tenant aggregates.
pub fn usage_rollup_mark() -> Key {
    Key::new(GLOBAL_USAGE, "ROLLUP")
}

/// Global: how far the import of live speech-to-text usage from Deepgram has got.
pub fn live_stt_import_mark() -> Key {
    Key::new(GLOBAL_USAGE, "DEEPGRAM")
}

/// Global partition of the super_admin dashboard's snapshot, composed by the scheduled rollup
/// so a view reads O(1) requests, not one per organization.
pub const DASHBOARD: &str = "DASHBOARD";

/// Global: which snapshot generation is current, and how many parts it has.
pub fn dashboard_snapshot() -> Key {
    Key::new(DASHBOARD, "CURRENT")
}

/// Global: the parts of one snapshot generation, in order (`PART#{generation}#` prefix).
pub fn dashboard_snapshot_parts(generation: &str) -> String {
    format!("PART#{generation}#")
}

/// Global: part `index` of a snapshot generation (its JSON text, split under the item limit).
pub fn dashboard_snapshot_part(generation: &str, index: usize) -> Key {
    Key::new(
        DASHBOARD,
        format!("{}{index:05}", dashboard_snapshot_parts(generation)),
    )
}

/// Partition of one day's system metrics: a tenant's own, or (`None`) system-wide ones, which
/// only super_admins see.
pub fn metrics_partition(scope: Option<&TenantScope>, day: &str) -> String {
    match scope {
        Some(s) => format!("{}#METRICS#{day}", tenant_partition(s)),
        None => format!("METRICS#{day}"),
    }
}
