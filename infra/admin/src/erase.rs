//! `delete-organization`: erases an organization and everything it owns, everywhere.
//!
//! Order matters, for a run that is interrupted and run again (each step is idempotent, and
//! no step removes what a later step needs to find its items):
//! 1. the subdomain claim records the erasure (its start, and the days its usage spans), and
//!    the organization is deactivated, so no login, refresh or request of its users succeeds;
//! 2. its sockets are closed and their rows deleted, and the run waits until requests that
//!    began before (an agent's reply) can no longer write;
//! 3. its conversations (found by their tenant entries and its users' member rows), pending
//!    invitations, usage records, metrics, users' message-rate and failed-login counters,
//!    audit trail and refresh tokens (global items, found by their tenant index);
//! 4. its own partition: the organization, users and their claims and index entries (e-mail,
//!    access code), sessions, agents, usage aggregates, conversation entries;
//! 5. the all-organization usage of the days it used, recomputed without it;
//! 6. the subdomain claim, last: until then a new run finds the organization by it.
//!
//! Afterwards the dashboard snapshot is composed again (the scheduled rollup would do it
//! within a minute), so no item anywhere carries the organization's id.

use futures::StreamExt;
use serde_json::{json, Value};
use std::time::Duration;
use thanotopolis_conversations::presence;
use thanotopolis_service::AppState;
use thanotopolis_store::{delete_all, Condition, Query, Store, StoreError, StoreResult, Update};
use thanotopolis_tenant_auth::validate::{EmailAddress, Subdomain};
use thanotopolis_tenant_auth::{keys, login_limits, tenants, TenantScope};
use uuid::Uuid;

/// Conversations erased at once (each is its own partition, so they never conflict).
const CONCURRENT_CONVERSATIONS: usize = 8;

/// What a run removed, in the order it removed it.
#[derive(Debug, Default)]
pub struct Erased {
    pub tenant_id: Uuid,
    pub subdomain: String,
    /// A previous run had begun this erasure.
    pub resumed: bool,
    pub removed: Vec<(&'static str, u64)>,
}

impl Erased {
    /// Items removed of one kind.
    pub fn count(&self, what: &str) -> u64 {
        self.removed
            .iter()
            .filter(|(w, _)| *w == what)
            .map(|(_, n)| n)
            .sum()
    }

    pub fn summary(&self) -> String {
        let mut out = format!(
            "erased organization {} ({}){}\n",
            self.subdomain,
            self.tenant_id,
            if self.resumed {
                ", resuming an interrupted run"
            } else {
                ""
            }
        );
        for (what, n) in &self.removed {
            out.push_str(&format!("{what:>34}: {n}\n"));
        }
        out
    }

    fn add(&mut self, what: &'static str, n: u64) {
        self.removed.push((what, n));
    }
}

/// How long requests that began before an erasure can go on writing: the longest a function
/// runs (the realtime function's timeout in the template, where agents reply).
pub const DRAIN: Duration = Duration::from_secs(300);

/// Erases the organization at `subdomain`, waiting `drain` after its deactivation (counted
/// from the first run's) before deleting; `None` if there is none (nor an erasure of one to
/// finish).
pub async fn run(
    app: &AppState,
    subdomain: &Subdomain,
    drain: Duration,
) -> anyhow::Result<Option<Erased>> {
    let store = app.stores.main.as_ref();
    let claim_key = keys::subdomain_claim(subdomain);
    let Some((scope, claim)) = tenants::claimed_by(store, subdomain)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
    else {
        return Ok(None);
    };
    let tenant_id = scope.tenant_id();
    let mut erased = Erased {
        tenant_id,
        subdomain: subdomain.as_str().to_string(),
        resumed: claim.get("erasure").is_some(),
        ..Erased::default()
    };
    let begun = begin(store, &scope, &claim_key, claim.get("erasure")).await?;
    erased.add(
        "sockets closed",
        presence::end_tenant_sockets(app, tenant_id).await? as u64,
    );
    // A request that began before the deactivation (an agent's reply runs for minutes) can
    // still write; from `drain` after it, none can, and nothing is written back afterwards.
    let drained = begun.started_ms + drain.as_millis() as i64 - now_ms();
    if drained > 0 {
        tokio::time::sleep(Duration::from_millis(drained as u64)).await;
    }
    let users = crate::contents::users(store, &scope).await?;
    let conversations = crate::contents::conversation_ids(store, &scope, &users).await?;
    // Each conversation is its own partition: several are erased at once without meeting.
    let erased_conversations: Vec<StoreResult<(Vec<String>, u64)>> =
        futures::stream::iter(&conversations)
            .map(|id| async move {
                let invited = match store.get(&keys::conversation(&scope, *id)).await? {
                    Some(meta) => participant_emails(&meta),
                    None => Vec::new(),
                };
                let partition = Query::new(keys::conversation_partition(&scope, *id));
                Ok((invited, delete_all(store, &partition).await?))
            })
            .buffer_unordered(CONCURRENT_CONVERSATIONS)
            .collect()
            .await;
    let mut conversation_items = 0;
    let mut invited: Vec<String> = Vec::new();
    for erased in erased_conversations {
        let (emails, items) = erased?;
        invited.extend(emails);
        conversation_items += items;
    }
    erased.add("conversations", conversations.len() as u64);
    erased.add("conversation items", conversation_items);

    let mut hints = delete_all(store, &keys::lookup::tenant_invitations(&scope)).await?;
    invited.sort();
    invited.dedup();
    for email in &invited {
        let partition = Query::new(keys::pending_invitations(&scope, email));
        hints += delete_all(store, &partition).await?;
    }
    erased.add("pending invitations", hints);
    erased.add(
        "usage records",
        delete_all(store, &keys::lookup::tenant_usage(&scope)).await?,
    );
    erased.add(
        "system metrics",
        delete_all(store, &keys::lookup::tenant_metrics(&scope)).await?,
    );
    let (mut rates, mut failures) = (0, 0);
    for user in &users {
        let partition = keys::message_rate_partition(&scope, user.id);
        rates += delete_all(store, &Query::new(partition)).await?;
        if let Ok(email) = EmailAddress::parse(&user.email) {
            let subject = login_limits::email_subject(&email);
            let partition = keys::login_failures_partition(&subject);
            failures += delete_all(store, &Query::new(partition)).await?;
        }
    }
    erased.add("message-rate counters", rates);
    erased.add("failed-login counters", failures);
    erased.add(
        "audit entries",
        delete_all(store, &Query::new(keys::audit_partition(&scope))).await?,
    );
    erased.add(
        "refresh tokens",
        delete_all(store, &keys::lookup::tenant_tokens(&scope)).await?,
    );
    erased.add("users", users.len() as u64);
    erased.add(
        "organization items",
        delete_all(store, &Query::new(keys::tenant_partition(&scope))).await?,
    );

    let at = thanotopolis_tenant_auth::now_rfc3339();
    let recomputed =
        thanotopolis_usage::rollup::recompute(store, &begun.first_day, &begun.last_day, &at)
            .await?;
    erased.add(
        "all-organization usage items recomputed",
        recomputed.aggregates as u64,
    );
    erased.add(
        "all-organization usage items removed",
        recomputed.removed as u64,
    );
    store.delete(&claim_key, None).await?;
    erased.add("subdomain claim", 1);
    thanotopolis_dashboard::snapshot::snapshot(app).await?;
    Ok(Some(erased))
}

/// An erasure as its claim records it.
struct Begun {
    /// When the first run deactivated the organization (epoch milliseconds).
    started_ms: i64,
    /// The days the all-organization usage may hold its use of: from its first day of
    /// usage (or the start) to the start's day (the rollup recomputes today's too).
    first_day: String,
    last_day: String,
}

/// Records the erasure on the claim (when it started, and the days of the organization's
/// usage from its aggregates, merged with what an earlier run recorded) and deactivates the
/// organization.
async fn begin(
    store: &dyn Store,
    scope: &TenantScope,
    claim_key: &thanotopolis_store::Key,
    earlier: Option<&Value>,
) -> StoreResult<Begun> {
    let day_of = |item: &thanotopolis_store::Item| -> Option<String> {
        let sk = item.get("sk")?.as_str()?;
        Some(sk.strip_prefix("USAGEDAY#")?.get(..10)?.to_string())
    };
    let aggregates = Query::new(keys::tenant_partition(scope)).begins_with("USAGEDAY#");
    let first = store.query(&aggregates.clone().limit(1)).await?;
    let last = store.query(&aggregates.backward().limit(1)).await?;
    let mut days: Vec<String> = first
        .items
        .iter()
        .chain(&last.items)
        .filter_map(day_of)
        .collect();
    let earlier_text = |name: &str| earlier.and_then(|e| e.get(name)).and_then(Value::as_str);
    days.extend(
        ["first_day", "last_day"]
            .into_iter()
            .filter_map(earlier_text)
            .map(str::to_string),
    );
    let now = thanotopolis_tenant_auth::now_rfc3339();
    let started_at = earlier_text("started_at").unwrap_or(&now).to_string();
    days.push(started_at[..10].to_string());
    days.sort();
    let begun = Begun {
        started_ms: earlier
            .and_then(|e| e.get("started_ms"))
            .and_then(Value::as_i64)
            .unwrap_or_else(now_ms),
        first_day: days[0].clone(),
        last_day: days[days.len() - 1].clone(),
    };
    let erasure = json!({
        "started_at": started_at, "started_ms": begun.started_ms,
        "first_day": begun.first_day, "last_day": begun.last_day,
    });
    store
        .update(
            claim_key,
            Update::new().set("erasure", erasure),
            Some(Condition::Exists),
        )
        .await?;
    let deactivated = store
        .update(
            &keys::tenant(scope),
            // `erasing_since` keeps the scheduled live-STT import from metering it again
            // while its items are being deleted.
            Update::new()
                .set("is_active", false)
                .set("erasing_since", started_at.clone()),
            Some(Condition::Exists),
        )
        .await;
    match deactivated {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(begun),
        Err(e) => Err(e),
    }
}

fn participant_emails(meta: &thanotopolis_store::Item) -> Vec<String> {
    meta.get("participants")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|p| p.get("participant_type").and_then(Value::as_str) == Some("email"))
        .filter_map(|p| p.get("identifier").and_then(Value::as_str))
        .filter_map(|e| EmailAddress::parse(e).ok())
        .map(|e| e.as_str().to_string())
        .collect()
}

fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}
