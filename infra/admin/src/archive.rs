//! `export-organization` and `import-organization`: an organization's data as one JSON-lines
//! archive, and back.
//!
//! Each line is one object with a `kind`: first `archive` (format, time, organization id and
//! subdomain), then `organization`, `user` (never a password hash), `agent` (the
//! organization's own), `conversation` (with its members and when they joined), `message`,
//! `usage` and `audit` lines, and last `end` with the count of each kind, so a reader knows a
//! cut-off file from a whole one. The export reads page by page and writes as it reads, so
//! memory does not grow with the organization; it writes `FILE.partial` and renames it when
//! whole.
//!
//! The import puts each record back with its ids and times, every write conditional on the
//! item being new (a second run imports nothing twice). Users come back without a usable
//! password: an archive never carries one, so each sets a new one (see the README).

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write as _};
use std::path::Path;
use thanotopolis_agents::AgentRecord;
use thanotopolis_conversations::{ConversationRecord, MemberRow, MessageRecord};
use thanotopolis_store::{readable, Item, Query, Store};
use thanotopolis_tenant_auth::audit::Entry;
use thanotopolis_tenant_auth::creation::Imported;
use thanotopolis_tenant_auth::validate::Subdomain;
use thanotopolis_tenant_auth::{
    accounts, keys, tenants, Role, TenantRecord, TenantScope, UserRecord,
};
use thanotopolis_usage::UsageRecord;
use uuid::Uuid;

/// The archive format this version writes and reads.
pub const FORMAT: u32 = 1;

/// Items read per page while exporting.
const PAGE: u32 = 250;

/// A user as archived: everything but the password hash.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArchivedUser {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub email: String,
    pub username: String,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub role: Role,
    pub is_active: bool,
    pub is_verified: bool,
    pub created_at: String,
    pub updated_at: Option<String>,
}

impl From<&UserRecord> for ArchivedUser {
    fn from(u: &UserRecord) -> Self {
        ArchivedUser {
            id: u.id,
            tenant_id: u.tenant_id,
            email: u.email.clone(),
            username: u.username.clone(),
            first_name: u.first_name.clone(),
            last_name: u.last_name.clone(),
            role: u.role,
            is_active: u.is_active,
            is_verified: u.is_verified,
            created_at: u.created_at.clone(),
            updated_at: u.updated_at.clone(),
        }
    }
}

/// A member of an archived conversation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ArchivedMember {
    pub user_id: Uuid,
    pub joined_at: String,
}

/// One line of an archive.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Line {
    Archive {
        format: u32,
        exported_at: String,
        tenant_id: Uuid,
        subdomain: String,
    },
    Organization {
        record: TenantRecord,
    },
    User {
        record: ArchivedUser,
    },
    Agent {
        record: AgentRecord,
    },
    Conversation {
        record: ConversationRecord,
        members: Vec<ArchivedMember>,
    },
    Message {
        record: MessageRecord,
    },
    Usage {
        record: UsageRecord,
    },
    Audit {
        record: Entry,
    },
    End {
        counts: Counts,
    },
}

/// Records of each kind (an export's summary, the `end` line, an import's tallies).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Counts {
    pub organization: u64,
    pub users: u64,
    pub agents: u64,
    pub conversations: u64,
    pub members: u64,
    pub messages: u64,
    pub usage_records: u64,
    pub audit_entries: u64,
}

impl Counts {
    fn rows(&self) -> [(&'static str, u64); 8] {
        [
            ("organization", self.organization),
            ("users", self.users),
            ("agents", self.agents),
            ("conversations", self.conversations),
            ("members", self.members),
            ("messages", self.messages),
            ("usage records", self.usage_records),
            ("audit entries", self.audit_entries),
        ]
    }

    /// The line's records, counted as the `end` line counts them.
    fn count(&mut self, line: &Line) {
        match line {
            Line::Organization { .. } => self.organization += 1,
            Line::User { .. } => self.users += 1,
            Line::Agent { .. } => self.agents += 1,
            Line::Conversation { members, .. } => {
                self.conversations += 1;
                self.members += members.len() as u64;
            }
            Line::Message { .. } => self.messages += 1,
            Line::Usage { .. } => self.usage_records += 1,
            Line::Audit { .. } => self.audit_entries += 1,
            Line::Archive { .. } | Line::End { .. } => {}
        }
    }

    pub fn summary(&self) -> String {
        self.rows()
            .iter()
            .map(|(what, n)| format!("{what:>14}: {n}\n"))
            .collect()
    }
}

fn progress(show: bool, len: u64, prefix: &'static str) -> ProgressBar {
    let target = if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target).with_prefix(prefix);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>10} [{bar:32}] {pos}/{len} {msg} {elapsed}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

struct Writer {
    out: std::io::BufWriter<std::fs::File>,
    counts: Counts,
    bar: ProgressBar,
}

impl Writer {
    fn line(&mut self, line: &Line) -> anyhow::Result<()> {
        serde_json::to_writer(&mut self.out, line)?;
        self.out.write_all(b"\n")?;
        self.counts.count(line);
        self.bar.inc(1);
        Ok(())
    }
}

/// Every page of `query`, in key order.
async fn each_page(
    store: &dyn Store,
    query: Query,
    mut each: impl FnMut(Vec<Item>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut cursor = None;
    loop {
        let page = store
            .query(&query.clone().limit(PAGE).after(cursor))
            .await?;
        each(page.items)?;
        match page.cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(()),
        }
    }
}

/// Writes the archive of the organization at `subdomain` to `out`; `None` if there is none.
pub async fn export(
    store: &dyn Store,
    subdomain: &Subdomain,
    out: &Path,
    show_progress: bool,
) -> anyhow::Result<Option<Counts>> {
    let Some((scope, tenant)) = tenants::by_subdomain(store, subdomain)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    else {
        return Ok(None);
    };
    let users = crate::contents::users(store, &scope).await?;
    let conversations = crate::contents::conversation_ids(store, &scope, &users).await?;
    let usage = store.count(&keys::lookup::tenant_usage(&scope)).await?;
    let audit = Query::new(keys::audit_partition(&scope));
    let entries = store.count(&audit).await?;
    let agents = Query::new(keys::tenant_partition(&scope)).begins_with(keys::AGENT_PREFIX);
    // Messages join the bar's length as each conversation (which counts them) is read.
    let expected = 2 + users.len() as u64 + conversations.len() as u64 + usage + entries;

    let partial = out.with_extension(match out.extension() {
        Some(ext) => format!("{}.partial", ext.to_string_lossy()),
        None => "partial".into(),
    });
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("cannot write {}", partial.display()))?;
    let mut w = Writer {
        out: std::io::BufWriter::new(file),
        counts: Counts::default(),
        bar: progress(show_progress, expected, "export"),
    };
    w.line(&Line::Archive {
        format: FORMAT,
        exported_at: thanotopolis_tenant_auth::now_rfc3339(),
        tenant_id: scope.tenant_id(),
        subdomain: tenant.subdomain.clone(),
    })?;
    w.line(&Line::Organization { record: tenant })?;
    w.bar.set_message("users");
    for user in &users {
        w.line(&Line::User {
            record: user.into(),
        })?;
    }
    w.bar.set_message("agents");
    each_page(store, agents, |page| {
        readable::<AgentRecord>(page)
            .into_iter()
            .try_for_each(|record| w.line(&Line::Agent { record }))
    })
    .await?;
    w.bar.set_message("conversations");
    for id in &conversations {
        export_conversation(store, &scope, *id, &mut w).await?;
    }
    w.bar.set_message("usage");
    each_page(store, keys::lookup::tenant_usage(&scope), |page| {
        readable::<UsageRecord>(page)
            .into_iter()
            .try_for_each(|record| w.line(&Line::Usage { record }))
    })
    .await?;
    w.bar.set_message("audit");
    each_page(store, audit, |page| {
        readable::<Entry>(page)
            .into_iter()
            .try_for_each(|record| w.line(&Line::Audit { record }))
    })
    .await?;
    let counts = w.counts.clone();
    w.line(&Line::End {
        counts: counts.clone(),
    })?;
    w.bar.finish_and_clear();
    w.out.flush()?;
    w.out.get_ref().sync_all()?;
    drop(w);
    std::fs::rename(&partial, out)
        .with_context(|| format!("cannot rename {} to {}", partial.display(), out.display()))?;
    Ok(Some(counts))
}

/// A conversation's partition in key order: member rows (`MEMBER#`), then `META`, then its
/// messages (`MSG#`, in time order). The conversation line goes out with its members once
/// `META` is read; messages follow as they are read.
async fn export_conversation(
    store: &dyn Store,
    scope: &TenantScope,
    id: Uuid,
    w: &mut Writer,
) -> anyhow::Result<()> {
    let mut members: Vec<ArchivedMember> = Vec::new();
    let partition = Query::new(keys::conversation_partition(scope, id));
    each_page(store, partition, |page| {
        for item in page {
            let sk = item.get("sk").and_then(|v| v.as_str()).unwrap_or_default();
            if sk.starts_with("MEMBER#") {
                if let Some(row) = readable::<MemberRow>([item]).pop() {
                    members.push(ArchivedMember {
                        user_id: row.user_id,
                        joined_at: row.joined_at,
                    });
                }
            } else if sk == "META" {
                if let Some(record) = readable::<ConversationRecord>([item]).pop() {
                    // In the conversation's own order of members (its rows are in id order),
                    // which the import restores from this list.
                    let mut members = std::mem::take(&mut members);
                    members.sort_by_key(|m| {
                        record
                            .members
                            .iter()
                            .position(|id| *id == m.user_id)
                            .unwrap_or(usize::MAX)
                    });
                    w.bar.inc_length(record.message_count.max(0) as u64);
                    w.line(&Line::Conversation { record, members })?;
                }
            } else if sk.starts_with(keys::MESSAGE_PREFIX) {
                if let Some(record) = readable::<MessageRecord>([item]).pop() {
                    w.line(&Line::Message { record })?;
                }
            }
        }
        Ok(())
    })
    .await
}

/// What an import did.
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: Counts,
    pub already: Counts,
    /// Records not imported, with why.
    pub refused: Vec<(String, String)>,
    /// All-organization usage aggregates recomputed for the imported usage.
    pub usage_days: usize,
}

impl ImportReport {
    pub fn summary(&self) -> String {
        let mut out = String::from("imported (already there)\n");
        for ((what, n), (_, already)) in self.imported.rows().iter().zip(self.already.rows()) {
            out.push_str(&format!("{what:>14}: {n} ({already})\n"));
        }
        out.push_str(&format!(
            "usage aggregates recomputed: {}\n",
            self.usage_days
        ));
        for (what, why) in &self.refused {
            out.push_str(&format!("refused {what}: {why}\n"));
        }
        out
    }

    fn tally(&mut self, line: &Line, outcome: Imported) {
        match outcome {
            Imported::Created => self.imported.count(line),
            Imported::AlreadyThere => self.already.count(line),
            Imported::Refused(why) => self.refused.push((describe(line), why)),
        }
    }
}

fn describe(line: &Line) -> String {
    match line {
        Line::Organization { record } => format!("organization {}", record.id),
        Line::User { record } => format!("user {}", record.id),
        Line::Agent { record } => format!("agent {}", record.agent_type),
        Line::Conversation { record, .. } => format!("conversation {}", record.id),
        Line::Message { record } => format!("message {}", record.id),
        Line::Usage { record } => format!("usage record {}", record.id),
        Line::Audit { record } => format!("audit entry {}", record.id),
        Line::Archive { .. } => "archive header".into(),
        Line::End { .. } => "end line".into(),
    }
}

/// Whose a line's record says it is, where it says.
fn owner(line: &Line) -> Option<Uuid> {
    match line {
        Line::Organization { record } => Some(record.id),
        Line::User { record } => Some(record.tenant_id),
        Line::Agent { record } => record.owner_tenant_id,
        Line::Conversation { record, .. } => Some(record.tenant_id),
        Line::Usage { record } => Some(record.tenant_id),
        Line::Audit { record } => Some(record.tenant_id),
        Line::Message { .. } | Line::Archive { .. } | Line::End { .. } => None,
    }
}

/// Imports the archive at `path`. The whole file is checked first (every line readable, the
/// header first and the `end` line last with counts that match), so a damaged or cut-off
/// archive writes nothing.
pub async fn import(
    store: &dyn Store,
    path: &Path,
    show_progress: bool,
) -> anyhow::Result<ImportReport> {
    let (tenant_id, lines) = check(path)?;
    let mut scope: Option<TenantScope> = None;
    // Archives hold no passwords: every imported account gets the hash of a random secret
    // nobody knows, so no password opens it until its user sets a new one.
    let unusable = thanotopolis_tenant_auth::password::hash(Uuid::new_v4().to_string())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut report = ImportReport::default();
    let mut days: Vec<String> = Vec::new();
    let file = std::io::BufReader::new(std::fs::File::open(path)?);
    let bar = progress(show_progress, lines, "import");
    for text in file.lines() {
        let line: Line = serde_json::from_str(&text?)?;
        bar.inc(1);
        if owner(&line).is_some_and(|t| t != tenant_id) {
            report.tally(
                &line,
                Imported::Refused("belongs to another organization".into()),
            );
            continue;
        }
        if let Line::Organization { record } = &line {
            let (outcome, imported) = tenants::import(store, record, false)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if let Imported::Refused(why) = &outcome {
                bail!("the organization cannot be imported: {why}");
            }
            scope = Some(imported);
            report.tally(&line, outcome);
            continue;
        }
        let Some(scope) = scope.as_ref() else {
            continue;
        };
        let outcome = match &line {
            Line::Archive { .. } | Line::End { .. } | Line::Organization { .. } => continue,
            Line::User { record } => {
                let user = UserRecord {
                    id: record.id,
                    tenant_id,
                    email: record.email.clone(),
                    username: record.username.clone(),
                    hashed_password: unusable.clone(),
                    first_name: record.first_name.clone(),
                    last_name: record.last_name.clone(),
                    role: record.role,
                    is_active: record.is_active,
                    is_verified: record.is_verified,
                    created_at: record.created_at.clone(),
                    updated_at: record.updated_at.clone(),
                };
                accounts::import(store, scope, &user, false)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
            }
            Line::Agent { record } => {
                thanotopolis_agents::import(store, scope, record, false).await?
            }
            Line::Conversation { record, members } => {
                let joined: Vec<(Uuid, String)> = members
                    .iter()
                    .map(|m| (m.user_id, m.joined_at.clone()))
                    .collect();
                thanotopolis_conversations::import_conversation(
                    store, scope, record, &joined, false,
                )
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?
            }
            Line::Message { record } => {
                thanotopolis_conversations::import_message(store, scope, record, false)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?
            }
            Line::Usage { record } => {
                let outcome =
                    thanotopolis_usage::import_record(store, scope, record, false).await?;
                if outcome == Imported::Created {
                    days.push(record.created_at.get(..10).unwrap_or_default().to_string());
                }
                outcome
            }
            Line::Audit { record } => match record.append(store, scope).await {
                Ok(()) => Imported::Created,
                Err(thanotopolis_store::StoreError::TransactionCanceled { .. }) => {
                    Imported::AlreadyThere
                }
                Err(e) => return Err(e.into()),
            },
        };
        report.tally(&line, outcome);
    }
    bar.finish_and_clear();
    days.sort();
    if let (Some(first), Some(last)) = (days.first(), days.last()) {
        let at = thanotopolis_tenant_auth::now_rfc3339();
        let recomputed = thanotopolis_usage::rollup::recompute(store, first, last, &at).await?;
        report.usage_days = recomputed.aggregates;
    }
    Ok(report)
}

/// Reads the whole archive once: the organization it holds and its number of lines.
fn check(path: &Path) -> anyhow::Result<(Uuid, u64)> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut tenant = None;
    let mut counts = Counts::default();
    let mut ended = None;
    let mut n = 0u64;
    for (i, text) in std::io::BufReader::new(file).lines().enumerate() {
        let text = text.with_context(|| format!("line {}: unreadable", i + 1))?;
        let line: Line = serde_json::from_str(&text)
            .with_context(|| format!("line {}: not an archive line", i + 1))?;
        n += 1;
        if ended.is_some() {
            bail!("line {}: after the end line", i + 1);
        }
        match (&line, i) {
            (
                Line::Archive {
                    format, tenant_id, ..
                },
                0,
            ) => {
                if *format != FORMAT {
                    bail!("archive format {format}; this version reads format {FORMAT}");
                }
                tenant = Some(*tenant_id);
            }
            (_, 0) => bail!("line 1: an archive starts with its `archive` line"),
            (Line::Organization { record }, 1) if Some(record.id) == tenant => counts.count(&line),
            (_, 1) => bail!("line 2: the archive's organization must follow its header"),
            (Line::Archive { .. }, _) => bail!("line {}: a second `archive` line", i + 1),
            (Line::End { counts: stated }, _) => ended = Some(stated.clone()),
            _ => counts.count(&line),
        }
    }
    let Some(tenant) = tenant else {
        bail!("{} is empty", path.display());
    };
    match ended {
        None => bail!("the archive has no `end` line: it was cut off"),
        Some(stated) if stated != counts => {
            bail!("the archive's `end` line counts {stated:?}, its lines hold {counts:?}")
        }
        Some(_) => Ok((tenant, n)),
    }
}
