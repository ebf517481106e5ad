//! `delete-organization`: erases an organization and everything it owns, everywhere.
//!
//! Order matters, for a run that is interrupted and run again (each step is idempotent, and
//! no step removes what a later step needs to find its items):
//! 1. the subdomain claim records the erasure (and the days its usage spans), and the
//!    organization is deactivated, so no login, refresh or request of its users succeeds;
//! 2. its sockets are closed and their rows deleted;
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

/// Erases the organization at `subdomain`; `None` if there is none (nor an erasure of one
/// to finish).
pub async fn run(app: &AppState, subdomain: &Subdomain) -> anyhow::Result<Option<Erased>> {
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
    let days = begin(store, &scope, &claim_key, claim.get("erasure")).await?;

    erased.add(
        "sockets closed",
        presence::end_tenant_sockets(app, tenant_id).await? as u64,
    );
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

    if let Some((first, last)) = days {
        let at = thanotopolis_tenant_auth::now_rfc3339();
        let recomputed = thanotopolis_usage::rollup::recompute(store, &first, &last, &at).await?;
        erased.add(
            "all-organization usage days recomputed",
            recomputed.aggregates as u64,
        );
        erased.add("all-organization usage items", recomputed.removed as u64);
    }
    store.delete(&claim_key, None).await?;
    erased.add("subdomain claim", 1);
    thanotopolis_dashboard::snapshot::snapshot(app).await?;
    Ok(Some(erased))
}

/// Records the erasure on the claim (the days of the organization's usage, from its
/// aggregates, merged with what an earlier run recorded) and deactivates the organization.
/// Returns the first and last day of its usage, if it used anything.
async fn begin(
    store: &dyn Store,
    scope: &TenantScope,
    claim_key: &thanotopolis_store::Key,
    earlier: Option<&Value>,
) -> StoreResult<Option<(String, String)>> {
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
    if let Some(earlier) = earlier {
        for name in ["first_day", "last_day"] {
            if let Some(day) = earlier.get(name).and_then(Value::as_str) {
                days.push(day.to_string());
            }
        }
    }
    days.sort();
    let span = days.first().cloned().zip(days.last().cloned());
    let erasure = json!({
        "started_at": earlier
            .and_then(|e| e.get("started_at").cloned())
            .unwrap_or_else(|| json!(thanotopolis_tenant_auth::now_rfc3339())),
        "first_day": span.as_ref().map(|s| &s.0),
        "last_day": span.as_ref().map(|s| &s.1),
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
            Update::new().set("is_active", false),
            Some(Condition::Exists),
        )
        .await;
    match deactivated {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(span),
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
