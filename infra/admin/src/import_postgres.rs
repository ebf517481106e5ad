//! `import-postgres`: brings an old backend's PostgreSQL database (tables as in the contract's
//! §2) into the store, table by table in dependency order: organizations, users,
//! agents, conversations (with their members, attached agents and e-mail participants),
//! messages, usage records.
//! Ids and timestamps are kept (messages get time-ordered ids derived from theirs:
//! [`thanotopolis_conversations::message_id`]); refresh tokens are not imported. Every write
//! is conditional on the item being new, so a second run imports nothing twice; a row that
//! cannot be imported is reported with its reason, never dropped silently.

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rustls::pki_types::pem::PemObject;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::Path;
use thanotopolis_agents::AgentRecord;
use thanotopolis_conversations::{
    AttachedAgent, ConversationRecord, MessageRecord, Participant, MAX_MESSAGE_BYTES,
};
use thanotopolis_store::Store;
use thanotopolis_tenant_auth::creation::Imported;
use thanotopolis_tenant_auth::validate::EmailAddress;
use thanotopolis_tenant_auth::{
    accounts, format_rfc3339, tenants, Role, TenantRecord, TenantScope, UserRecord,
};
use thanotopolis_usage::UsageRecord;
use time::OffsetDateTime;
use tokio::task::JoinHandle;
use tokio_postgres::config::SslMode;
use tokio_postgres::{Client, Row};
use uuid::Uuid;

/// Connects to the old database, over TLS when its URL says `sslmode=require`: the server's
/// certificate must then verify against the system's trusted roots or the PEM certificates in
/// `ca_file` (a managed database's own CA, such as Amazon RDS's bundle). Any other `sslmode`
/// connects without TLS. The connection runs on its own task until the client is dropped.
pub async fn connect(
    url: &str,
    ca_file: Option<&Path>,
) -> anyhow::Result<(Client, JoinHandle<Result<(), tokio_postgres::Error>>)> {
    let config: tokio_postgres::Config = url.parse().context("not a PostgreSQL URL")?;
    if config.get_ssl_mode() != SslMode::Require {
        if ca_file.is_some() {
            bail!("--ca-file is for TLS: add sslmode=require to the URL");
        }
        let (client, connection) = config
            .connect(tokio_postgres::NoTls)
            .await
            .context("cannot connect to the PostgreSQL database")?;
        return Ok((client, tokio::spawn(connection)));
    }
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped: the ones that load (or the CA file) decide.
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    if let Some(path) = ca_file {
        let pem = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let certs = rustls::pki_types::CertificateDer::pem_slice_iter(&pem)
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("{}: not PEM certificates", path.display()))?;
        if certs.is_empty() {
            bail!("{}: holds no certificate", path.display());
        }
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("{}: unusable certificate", path.display()))?;
        }
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS setup")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let (client, connection) = config
        .connect(tokio_postgres_rustls::MakeRustlsConnect::new(tls))
        .await
        .context("cannot connect to the PostgreSQL database over TLS")?;
    Ok((client, tokio::spawn(connection)))
}

/// What a run did (or, with `dry_run`, would do), per table.
#[derive(Debug, Default)]
pub struct Report {
    pub tables: Vec<TableReport>,
    /// Rows not imported, with why.
    pub refused: Vec<RefusedRow>,
    /// Days whose all-organization usage figures were recomputed for imported usage.
    pub days_rolled_up: usize,
    /// Tables this version does not import: name, rows, why.
    pub skipped: Vec<(&'static str, i64, &'static str)>,
    pub dry_run: bool,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct TableReport {
    pub table: &'static str,
    pub read: u64,
    pub imported: u64,
    pub already: u64,
    pub refused: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RefusedRow {
    pub table: &'static str,
    pub id: Uuid,
    pub reason: String,
}

impl Report {
    /// The report of `table` (so far).
    pub fn table(&self, table: &str) -> Option<&TableReport> {
        self.tables.iter().find(|t| t.table == table)
    }

    fn start(&mut self, table: &'static str, read: usize) {
        self.tables.push(TableReport {
            table,
            read: read as u64,
            ..TableReport::default()
        });
    }

    /// Counts one row's outcome in the table being imported; true if it is (now) in the store.
    fn count(&mut self, id: Uuid, outcome: Imported) -> bool {
        let table = self.tables.last_mut().expect("a table was started");
        match outcome {
            Imported::Created => table.imported += 1,
            Imported::AlreadyThere => table.already += 1,
            Imported::Refused(reason) => {
                table.refused += 1;
                let table = table.table;
                self.refused.push(RefusedRow { table, id, reason });
                return false;
            }
        }
        true
    }

    /// The summary printed at the end of a run.
    pub fn summary(&self) -> String {
        let verb = if self.dry_run {
            "would import"
        } else {
            "imported"
        };
        let mut out = format!(
            "{:<26} {:>8} {:>13} {:>17} {:>9}\n",
            "table", "read", verb, "already imported", "refused"
        );
        for t in &self.tables {
            out += &format!(
                "{:<26} {:>8} {:>13} {:>17} {:>9}\n",
                t.table, t.read, t.imported, t.already, t.refused
            );
        }
        if self.tables.iter().all(|t| t.imported == 0) {
            out += "nothing new to import: every importable row is already in the store\n";
        }
        if self.days_rolled_up > 0 && !self.dry_run {
            out += &format!(
                "all-organization usage figures recomputed for {} days\n",
                self.days_rolled_up
            );
        }
        for (table, rows, why) in &self.skipped {
            out += &format!("{table}: {rows} rows not imported ({why})\n");
        }
        if !self.refused.is_empty() {
            out += &format!("{} rows not imported:\n", self.refused.len());
            for r in &self.refused {
                out += &format!("  {} {}: {}\n", r.table, r.id, r.reason);
            }
        }
        out
    }
}

/// Imports everything `pg` holds into `store`. `progress` draws a bar per table on stderr
/// (when it is a terminal).
pub async fn run(
    pg: &Client,
    store: &dyn Store,
    dry_run: bool,
    progress: bool,
) -> anyhow::Result<Report> {
    let mut report = Report {
        dry_run,
        ..Report::default()
    };
    let bar = |table: &'static str, len: usize| {
        let target = if progress {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let bar = ProgressBar::with_draw_target(Some(len as u64), target).with_prefix(table);
        bar.set_style(
            ProgressStyle::with_template("{prefix:>26} [{bar:32}] {pos}/{len} {elapsed}")
                .expect("a valid template")
                .progress_chars("=> "),
        );
        bar
    };

    // Organizations.
    let rows = select(pg, "tenants", "SELECT id, name, subdomain, access_code, description, full_name, address, phone, organization_email, is_active, created_at, updated_at FROM tenants ORDER BY created_at, id").await?;
    report.start("tenants", rows.len());
    let progress = bar("tenants", rows.len());
    let mut orgs: HashMap<Uuid, TenantScope> = HashMap::new();
    for row in &rows {
        let tenant = TenantRecord {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            subdomain: row.try_get("subdomain")?,
            access_code: row.try_get("access_code")?,
            description: row.try_get("description")?,
            full_name: row.try_get("full_name")?,
            address: row.try_get("address")?,
            phone: row.try_get("phone")?,
            organization_email: row.try_get("organization_email")?,
            is_active: row.try_get::<_, Option<bool>>("is_active")?.unwrap_or(true),
            created_at: at(row, "created_at")?
                .unwrap_or_else(thanotopolis_tenant_auth::now_rfc3339),
            updated_at: at(row, "updated_at")?,
            user_count: 0,
            conversation_count: 0,
            ai_budget: None,
        };
        let (outcome, scope) = tenants::import(store, &tenant, dry_run).await?;
        if report.count(tenant.id, outcome) {
            orgs.insert(tenant.id, scope);
        }
        progress.inc(1);
    }
    progress.finish();

    // Users (their bcrypt hashes are kept; a login replaces each with argon2id).
    let rows = select(pg, "users", "SELECT id, email, username, hashed_password, first_name, last_name, is_active, is_verified, role, tenant_id, created_at, updated_at FROM users ORDER BY created_at, id").await?;
    report.start("users", rows.len());
    let progress = bar("users", rows.len());
    let mut users: HashMap<Uuid, UserRecord> = HashMap::new();
    for row in &rows {
        let id: Uuid = row.try_get("id")?;
        let tenant_id: Uuid = row.try_get("tenant_id")?;
        let role: Option<String> = row.try_get("role")?;
        let role = role.as_deref().unwrap_or("member");
        let email: String = row.try_get("email")?;
        let outcome = match (
            orgs.get(&tenant_id),
            Role::parse(role),
            EmailAddress::parse(&email),
        ) {
            (None, _, _) => Imported::Refused("its organization is not imported".into()),
            (_, None, _) => Imported::Refused(format!("unknown role {role:?}")),
            (_, _, Err(e)) => Imported::Refused(format!("e-mail: {e}")),
            (Some(scope), Some(role), Ok(email)) => {
                let user = UserRecord {
                    id,
                    tenant_id,
                    email: email.as_str().to_string(),
                    username: row.try_get("username")?,
                    hashed_password: row.try_get("hashed_password")?,
                    first_name: row.try_get("first_name")?,
                    last_name: row.try_get("last_name")?,
                    role,
                    is_active: row.try_get::<_, Option<bool>>("is_active")?.unwrap_or(true),
                    is_verified: row
                        .try_get::<_, Option<bool>>("is_verified")?
                        .unwrap_or(false),
                    created_at: at(row, "created_at")?
                        .unwrap_or_else(thanotopolis_tenant_auth::now_rfc3339),
                    updated_at: at(row, "updated_at")?,
                };
                let outcome = accounts::import(store, scope, &user, dry_run).await?;
                if !matches!(outcome, Imported::Refused(_)) {
                    users.insert(id, user);
                }
                outcome
            }
        };
        report.count(id, outcome);
        progress.inc(1);
    }
    progress.finish();

    // Agents: free ones, and organizations' own.
    let rows = select(pg, "agents", "SELECT id, owner_tenant_id, agent_type, name, description, is_enabled, is_free_agent, owner_domain, capabilities, is_active, created_at, updated_at FROM agents ORDER BY created_at, id").await?;
    report.start("agents", rows.len());
    let progress = bar("agents", rows.len());
    for row in &rows {
        let id: Uuid = row.try_get("id")?;
        let owner: Option<Uuid> = row.try_get("owner_tenant_id")?;
        let is_free_agent = row
            .try_get::<_, Option<bool>>("is_free_agent")?
            .unwrap_or(true);
        // A free agent lives in the global partition whatever the scope: a fresh one serves.
        let home = match owner {
            Some(tenant) if !is_free_agent => orgs.get(&tenant).copied(),
            _ => Some(TenantScope::new_tenant()),
        };
        let outcome = match home {
            None => Imported::Refused("its organization is not imported".into()),
            Some(home) => {
                let name: String = row.try_get("name")?;
                let description: Option<String> = row.try_get("description")?;
                let capabilities = match row.try_get::<_, Option<Value>>("capabilities")? {
                    Some(Value::Array(items)) => items
                        .into_iter()
                        .filter_map(|c| c.as_str().map(str::to_string))
                        .collect(),
                    _ => Vec::new(),
                };
                let agent = AgentRecord {
                    id,
                    agent_type: row.try_get("agent_type")?,
                    system_prompt: thanotopolis_agents::default_prompt(
                        &name,
                        description.as_deref(),
                    ),
                    name,
                    description,
                    is_free_agent,
                    owner_tenant_id: owner.filter(|_| !is_free_agent),
                    owner_domain: row.try_get("owner_domain")?,
                    is_enabled: row
                        .try_get::<_, Option<bool>>("is_enabled")?
                        .unwrap_or(true),
                    configuration_template: json!({}),
                    capabilities,
                    is_active: row.try_get::<_, Option<bool>>("is_active")?.unwrap_or(true),
                    created_at: at(row, "created_at")?
                        .unwrap_or_else(thanotopolis_tenant_auth::now_rfc3339),
                    updated_at: at(row, "updated_at")?,
                    tools: Vec::new(),
                };
                thanotopolis_agents::import(store, &home, &agent, dry_run).await?
            }
        };
        report.count(id, outcome);
        progress.inc(1);
    }
    progress.finish();

    // Conversations, with their members, attached agents and participants.
    let mut members: HashMap<Uuid, Vec<(Uuid, String)>> = HashMap::new();
    let member_rows = select(pg, "conversation_users", "SELECT id, conversation_id, user_id, joined_at FROM conversation_users WHERE is_active IS NOT FALSE ORDER BY joined_at, id").await?;
    report.start("conversation_users", member_rows.len());
    let mut member_of: Vec<(Uuid, Uuid)> = Vec::new();
    for row in &member_rows {
        let user_id: Uuid = row.try_get("user_id")?;
        if users.contains_key(&user_id) {
            let joined = at(row, "joined_at")?.unwrap_or_default();
            members
                .entry(row.try_get("conversation_id")?)
                .or_default()
                .push((user_id, joined));
            member_of.push((
                row.try_get::<_, Uuid>("id")?,
                row.try_get("conversation_id")?,
            ));
        } else {
            report.count(
                row.try_get("id")?,
                Imported::Refused(format!("user {user_id} is not imported")),
            );
        }
    }
    let mut agents: HashMap<Uuid, Vec<AttachedAgent>> = HashMap::new();
    let agent_rows = select(pg, "conversation_agents", "SELECT ca.id, ca.conversation_id, a.agent_type, ca.is_active, ca.activated_at, ca.configuration FROM conversation_agents ca LEFT JOIN agents a ON a.id = ca.agent_id ORDER BY ca.activated_at, ca.id").await?;
    for row in &agent_rows {
        let Some(agent_type) = row.try_get::<_, Option<String>>("agent_type")? else {
            report.refused.push(RefusedRow {
                table: "conversation_agents",
                id: row.try_get("id")?,
                reason: "its agent does not exist".into(),
            });
            continue;
        };
        // The old backend stored a JSON-encoded string in this JSON column.
        let configuration = match row.try_get::<_, Option<Value>>("configuration")? {
            Some(Value::String(s)) => serde_json::from_str(&s).ok().or(Some(Value::String(s))),
            other => other,
        };
        agents
            .entry(row.try_get("conversation_id")?)
            .or_default()
            .push(AttachedAgent {
                id: row.try_get("id")?,
                agent_type,
                is_active: row.try_get::<_, Option<bool>>("is_active")?.unwrap_or(true),
                added_at: at(row, "activated_at")?.unwrap_or_default(),
                configuration: configuration.filter(|c| !c.is_null()),
            });
    }
    let mut participants: HashMap<Uuid, Vec<Participant>> = HashMap::new();
    for row in &select(pg, "conversation_participants", "SELECT id, conversation_id, participant_type, identifier, display_name, is_active, joined_at, left_at FROM conversation_participants ORDER BY joined_at, id").await? {
        let conversation_id: Uuid = row.try_get("conversation_id")?;
        participants
            .entry(conversation_id)
            .or_default()
            .push(Participant {
                id: row.try_get("id")?,
                conversation_id,
                participant_type: row.try_get("participant_type")?,
                identifier: row.try_get("identifier")?,
                display_name: row.try_get("display_name")?,
                is_active: row.try_get::<_, Option<bool>>("is_active")?.unwrap_or(true),
                joined_at: at(row, "joined_at")?.unwrap_or_default(),
                left_at: at(row, "left_at")?,
            });
    }
    let colleagues: HashMap<(Uuid, String), Uuid> = users
        .values()
        .filter(|u| u.is_active)
        .map(|u| ((u.tenant_id, u.email.clone()), u.id))
        .collect();
    let rows = select(pg, "conversations", "SELECT id, tenant_id, title, description, status, created_by_user_id, created_at, updated_at FROM conversations ORDER BY created_at, id").await?;
    let mut conversations: HashMap<Uuid, TenantScope> = HashMap::new();
    let mut outcomes = Vec::new();
    let progress = bar("conversations", rows.len());
    for row in &rows {
        let id: Uuid = row.try_get("id")?;
        let tenant_id: Uuid = row.try_get("tenant_id")?;
        let outcome = if let Some(scope) = orgs.get(&tenant_id) {
            // The old backend left colleagues it invited by e-mail as mere participants (they
            // could not get in): an address of an active account of the organization is a
            // member here, as an invitation makes it today.
            let mut joined = members.remove(&id).unwrap_or_default();
            let mut invited = participants.remove(&id).unwrap_or_default();
            invited.retain(|p| {
                let colleague = (p.is_active && p.participant_type == "email")
                    .then(|| colleagues.get(&(tenant_id, p.identifier.trim().to_lowercase())))
                    .flatten();
                match colleague {
                    Some(user_id) => {
                        if !joined.iter().any(|(member, _)| member == user_id) {
                            joined.push((*user_id, p.joined_at.clone()));
                        }
                        false
                    }
                    None => true,
                }
            });
            let conversation = ConversationRecord {
                id,
                tenant_id,
                title: row.try_get("title")?,
                description: row.try_get("description")?,
                status: row
                    .try_get::<_, Option<String>>("status")?
                    .unwrap_or_else(|| "active".into()),
                created_by_user_id: row.try_get("created_by_user_id")?,
                created_at: at(row, "created_at")?
                    .unwrap_or_else(thanotopolis_tenant_auth::now_rfc3339),
                updated_at: at(row, "updated_at")?,
                version: 1,
                message_count: 0,
                last_message: None,
                last_message_at: None,
                members: Vec::new(),
                agents: agents.remove(&id).unwrap_or_default(),
                participants: invited,
                agents_used: Vec::new(),
                summary: None,
            };
            thanotopolis_conversations::import_conversation(
                store,
                scope,
                &conversation,
                &joined,
                dry_run,
            )
            .await?
        } else {
            Imported::Refused("its organization is not imported".into())
        };
        if let (false, Some(scope)) = (
            matches!(outcome, Imported::Refused(_)),
            orgs.get(&tenant_id),
        ) {
            conversations.insert(id, *scope);
        }
        outcomes.push((id, outcome));
        progress.inc(1);
    }
    progress.finish();
    // Members are imported with their conversation: count them by its outcome.
    let of_conversation: HashMap<Uuid, &Imported> =
        outcomes.iter().map(|(id, o)| (*id, o)).collect();
    for (member, conversation_id) in member_of {
        let outcome = match of_conversation.get(&conversation_id) {
            Some(Imported::Refused(_)) | None => {
                Imported::Refused("its conversation is not imported".into())
            }
            Some(outcome) => (*outcome).clone(),
        };
        report.count(member, outcome);
    }
    drop(of_conversation);
    report.start("conversations", rows.len());
    for (id, outcome) in outcomes {
        report.count(id, outcome);
    }

    // Messages, oldest first, so each conversation's last one is its last message.
    let rows = select(pg, "messages", "SELECT id, conversation_id, user_id, participant_id, message_type, content, agent_type, message_metadata, additional_data, created_at, updated_at FROM messages ORDER BY created_at, id").await?;
    report.start("messages", rows.len());
    let progress = bar("messages", rows.len());
    for row in &rows {
        let old_id: Uuid = row.try_get("id")?;
        let conversation_id: Uuid = row.try_get("conversation_id")?;
        let content: String = row.try_get("content")?;
        let created: Option<OffsetDateTime> = row.try_get("created_at")?;
        let outcome = match (conversations.get(&conversation_id), created) {
            (None, _) => {
                Imported::Refused(format!("conversation {conversation_id} is not imported"))
            }
            (Some(_), _) if content.len() > MAX_MESSAGE_BYTES => Imported::Refused(format!(
                "{} bytes of content, at most {MAX_MESSAGE_BYTES}",
                content.len()
            )),
            // Its place in the history is its time: without one it is not made up.
            (Some(_), None) => Imported::Refused("no created_at".into()),
            (Some(scope), Some(created)) => {
                let message = message(row, old_id, created, content, &users)?;
                thanotopolis_conversations::import_message(store, scope, &message, dry_run).await?
            }
        };
        report.count(old_id, outcome);
        progress.inc(1);
    }
    progress.finish();

    // Usage records, into their organizations' records and aggregates; then the all-tenant
    // figures of the days they fall on are recomputed, as the scheduled rollup does for today.
    let rows = select(pg, "usage_records", "SELECT id, tenant_id, user_id, conversation_id, usage_type, amount::float8 AS amount, cost_cents, service_provider, model_name, additional_data, created_at FROM usage_records ORDER BY created_at, id").await?;
    report.start("usage_records", rows.len());
    let progress = bar("usage_records", rows.len());
    let mut days = std::collections::BTreeSet::new();
    for row in &rows {
        let id: Uuid = row.try_get("id")?;
        let tenant_id: Uuid = row.try_get("tenant_id")?;
        let created: Option<OffsetDateTime> = row.try_get("created_at")?;
        let outcome = match (orgs.get(&tenant_id), created) {
            (None, _) => Imported::Refused("its organization is not imported".into()),
            // Its day decides which totals it is in: without a time it is not made up.
            (Some(_), None) => Imported::Refused("no created_at".into()),
            (Some(scope), Some(created)) => {
                let created = created.to_offset(time::UtcOffset::UTC);
                let record = UsageRecord {
                    id,
                    tenant_id,
                    user_id: row.try_get("user_id")?,
                    conversation_id: row.try_get("conversation_id")?,
                    usage_type: row.try_get("usage_type")?,
                    amount: row.try_get("amount")?,
                    service_provider: row
                        .try_get::<_, Option<String>>("service_provider")?
                        .unwrap_or_else(|| "unknown".into()),
                    model_name: row.try_get("model_name")?,
                    cost_total: row
                        .try_get::<_, Option<i32>>("cost_cents")?
                        .map(|cents| f64::from(cents) / 100.0),
                    additional_data: row
                        .try_get::<_, Option<Value>>("additional_data")?
                        .unwrap_or_else(|| Value::Object(Default::default())),
                    created_at: format_rfc3339(created),
                };
                let outcome =
                    thanotopolis_usage::import_record(store, scope, &record, dry_run).await?;
                if outcome == Imported::Created {
                    days.insert(created.date());
                }
                outcome
            }
        };
        report.count(id, outcome);
        progress.inc(1);
    }
    progress.finish();
    if !dry_run {
        // Each run covers a day and the one before it.
        let mut covered = None;
        for day in days.iter().rev() {
            if covered != Some(*day) {
                thanotopolis_usage::rollup::roll_up(store, *day).await?;
                covered = day.previous_day();
            }
        }
    }
    report.days_rolled_up = days.len();

    for (table, why) in [("refresh_tokens", "users log in again")] {
        let sql = format!("SELECT count(*) FROM {table}");
        let rows: i64 = select(pg, table, &sql).await?[0].try_get(0)?;
        report.skipped.push((table, rows, why));
    }
    Ok(report)
}

/// A message row as a record, its sender classified as the old backend did: an agent if it has
/// an agent type (or its data says so), else the user, else the participant, else the system.
fn message(
    row: &Row,
    old_id: Uuid,
    created: OffsetDateTime,
    content: String,
    users: &HashMap<Uuid, UserRecord>,
) -> anyhow::Result<MessageRecord> {
    let user_id: Option<Uuid> = row.try_get("user_id")?;
    let participant_id: Option<Uuid> = row.try_get("participant_id")?;
    let agent_type: Option<String> = row.try_get("agent_type")?;
    let additional: Option<Value> = row
        .try_get::<_, Option<String>>("additional_data")?
        .and_then(|s| serde_json::from_str(&s).ok())
        .filter(Value::is_object);
    let metadata = row
        .try_get::<_, Option<Value>>("message_metadata")?
        .filter(|m| !m.is_null())
        .or(additional);
    let says_agent = metadata
        .as_ref()
        .and_then(|m| m.get("sender_type"))
        .and_then(Value::as_str)
        == Some("agent");
    let (sender_type, sender_name) = if agent_type.is_some() || says_agent {
        ("agent", agent_type.clone())
    } else if let Some(id) = user_id {
        (
            "user",
            users.get(&id).map(thanotopolis_conversations::sender_name),
        )
    } else if participant_id.is_some() {
        ("participant", None)
    } else {
        ("system", Some("System".to_string()))
    };
    Ok(MessageRecord {
        id: thanotopolis_conversations::message_id(old_id, created),
        conversation_id: row.try_get("conversation_id")?,
        message_type: row
            .try_get::<_, Option<String>>("message_type")?
            .unwrap_or_else(|| "text".into()),
        content,
        user_id,
        agent_type,
        participant_id,
        metadata,
        created_at: format_rfc3339(created.to_offset(time::UtcOffset::UTC)),
        updated_at: at(row, "updated_at")?,
        sender_name,
        sender_type: sender_type.into(),
    })
}

/// Every row of a query; the table is named in the error if it fails (e.g. it does not exist).
async fn select(pg: &Client, table: &str, sql: &str) -> anyhow::Result<Vec<Row>> {
    pg.query(sql, &[])
        .await
        .with_context(|| format!("cannot read table {table}"))
}

/// A `timestamptz` column as RFC 3339 in UTC, as the store keeps times.
fn at(row: &Row, column: &str) -> anyhow::Result<Option<String>> {
    Ok(row
        .try_get::<_, Option<OffsetDateTime>>(column)?
        .map(|t| format_rfc3339(t.to_offset(time::UtcOffset::UTC))))
}
