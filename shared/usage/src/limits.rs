//! Limits that keep one organization, or one account, from spending without bound: the
//! organization's monthly AI budget, checked before every model call, and each user's message
//! rate, taken before a message is stored.
//!
//! The budget is checked against the month's token aggregate, which the same transaction as
//! each usage record updates ([`crate::record_usage`]), so the figure lags nothing but the
//! read's own eventual consistency. What it cannot stop is calls already in flight when the
//! budget is reached: each may finish and be metered, so the overshoot is bounded by the
//! model calls an organization has running at that moment (see `docs/agents.md`).

use crate::TOKENS;
use serde::Serialize;
use thanotopolis_service::ApiError;
use thanotopolis_store::{Key, Store, StoreError, Update};
use thanotopolis_tenant_auth::records::AiBudget;
use thanotopolis_tenant_auth::{keys, TenantRecord, TenantScope};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error(
        "Your organization's AI budget for this month is used up: agents will answer again from \
         {resets_at} or when an administrator raises the budget"
    )]
    BudgetSpent { resets_at: String },
    #[error(
        "Too many messages: at most {per_minute} a minute; try again in {retry_after} seconds"
    )]
    TooManyMessages { per_minute: u64, retry_after: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The one mapping of these refusals to HTTP: 429 with `Retry-After`.
impl From<LimitError> for ApiError {
    fn from(e: LimitError) -> Self {
        let detail = e.to_string();
        match e {
            LimitError::BudgetSpent { .. } => ApiError::TooManyRequests {
                detail,
                retry_after: seconds_to_next_month(),
            },
            LimitError::TooManyMessages { retry_after, .. } => ApiError::TooManyRequests {
                detail,
                retry_after,
            },
            LimitError::Store(e) => e.into(),
        }
    }
}

/// An organization's agent use in one month, from its month aggregate.
#[derive(Debug, Default, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MonthUse {
    /// Tokens reported by the provider.
    pub tokens: u64,
    /// US cents, of the calls whose model has a known price.
    pub cost_cents: f64,
    /// Model calls metered.
    pub calls: i64,
    /// Calls whose token counts the provider did not report: in `calls`, not in `tokens`.
    pub calls_with_unknown_tokens: i64,
}

/// What an organization may still spend this month.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct BudgetStatus {
    /// `YYYY-MM` (UTC).
    pub month: String,
    /// When the month's use starts again from zero (RFC 3339, UTC).
    pub resets_at: String,
    /// `null`: no budget, agent use is unlimited.
    pub budget: Option<AiBudget>,
    pub used: MonthUse,
    /// What is left of each limit (never below 0); `null` for a limit that is not set.
    pub tokens_left: Option<u64>,
    pub cost_cents_left: Option<f64>,
    /// Agents do not answer until the month ends or the budget is raised.
    pub exhausted: bool,
}

/// The current UTC month, `YYYY-MM`.
pub fn current_month() -> String {
    thanotopolis_tenant_auth::now_rfc3339()[..7].to_string()
}

/// The first instant of the month after `month` (`YYYY-MM`), RFC 3339.
fn next_month_start(month: &str) -> String {
    let year: i32 = month[..4].parse().unwrap_or(1970);
    let m: u32 = month[5..7].parse().unwrap_or(1);
    let (year, m) = if m >= 12 {
        (year + 1, 1)
    } else {
        (year, m + 1)
    };
    format!("{year:04}-{m:02}-01T00:00:00Z")
}

fn seconds_to_next_month() -> u64 {
    let next = next_month_start(&current_month());
    time::OffsetDateTime::parse(&next, &time::format_description::well_known::Rfc3339)
        .map(|t| (t.unix_timestamp() - thanotopolis_tenant_auth::now_epoch()).max(1) as u64)
        .unwrap_or(60)
}

/// The organization's token use in `month`: one batch get of the month's shards.
pub async fn month_use(
    store: &dyn Store,
    scope: &TenantScope,
    month: &str,
) -> Result<MonthUse, StoreError> {
    let shards: Vec<Key> = (0..crate::AGGREGATE_SHARDS)
        .map(|shard| keys::tenant_usage_month(scope, month, TOKENS, shard))
        .collect();
    let mut used = MonthUse::default();
    for item in store.batch_get(&shards).await? {
        let f = |name: &str| item.get(name).and_then(|v| v.as_f64()).unwrap_or(0.0);
        let i = |name: &str| item.get(name).and_then(|v| v.as_i64()).unwrap_or(0);
        // Token amounts are whole; the aggregate's number type is the one of every usage.
        used.tokens += f("amount").max(0.0).round() as u64;
        used.cost_cents += f("cost") * 100.0;
        used.calls += i("count");
        used.calls_with_unknown_tokens += i("unknown_count");
    }
    Ok(used)
}

/// The organization's budget, its use this month and what is left.
pub async fn status(
    store: &dyn Store,
    scope: &TenantScope,
    tenant: &TenantRecord,
) -> Result<BudgetStatus, StoreError> {
    let month = current_month();
    let used = month_use(store, scope, &month).await?;
    Ok(status_of(tenant.ai_budget, month, used))
}

fn status_of(budget: Option<AiBudget>, month: String, used: MonthUse) -> BudgetStatus {
    let tokens_left = budget
        .and_then(|b| b.monthly_tokens)
        .map(|limit| limit.saturating_sub(used.tokens));
    let cost_cents_left = budget
        .and_then(|b| b.monthly_cost_cents)
        .map(|limit| (limit as f64 - used.cost_cents).max(0.0));
    BudgetStatus {
        resets_at: next_month_start(&month),
        month,
        budget,
        exhausted: tokens_left == Some(0) || cost_cents_left == Some(0.0),
        used,
        tokens_left,
        cost_cents_left,
    }
}

/// Refuses a model call when the organization's budget for the month is spent. An organization
/// without a budget costs no read.
pub async fn ensure_budget_left(
    store: &dyn Store,
    scope: &TenantScope,
    tenant: &TenantRecord,
) -> Result<(), LimitError> {
    if tenant.ai_budget.is_none() {
        return Ok(());
    }
    let status = status(store, scope, tenant).await?;
    if status.exhausted {
        return Err(LimitError::BudgetSpent {
            resets_at: status.resets_at,
        });
    }
    Ok(())
}

/// Counts a message of `user_id` against `per_minute` messages a minute (a fixed window per
/// minute): one atomic add, whose result decides, so concurrent messages cannot slip past it.
/// A refused message still counts, so a client that keeps hammering stays refused.
pub async fn take_message(
    store: &dyn Store,
    scope: &TenantScope,
    user_id: Uuid,
    per_minute: u64,
) -> Result<(), LimitError> {
    let now = thanotopolis_tenant_auth::now_epoch();
    let minute = now / 60;
    let window_end = (minute + 1) * 60;
    let counter = store
        .update(
            &keys::message_rate(scope, user_id, minute),
            Update::new()
                .add("count", 1)
                .set("expires_at", window_end + 60),
            None,
        )
        .await?;
    let count = counter.get("count").and_then(|v| v.as_u64()).unwrap_or(0);
    if count > per_minute {
        return Err(LimitError::TooManyMessages {
            per_minute,
            retry_after: (window_end - now).max(1) as u64,
        });
    }
    Ok(())
}

/// Whether a user's message may be posted now: the user's message rate, then (the message asks
/// the agents for an answer) the organization's budget.
pub async fn admit_message(
    store: &dyn Store,
    scope: &TenantScope,
    tenant: &TenantRecord,
    user_id: Uuid,
    per_minute: u64,
) -> Result<(), LimitError> {
    take_message(store, scope, user_id, per_minute).await?;
    ensure_budget_left(store, scope, tenant).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_roll_over_at_the_year() {
        assert_eq!(next_month_start("2026-12"), "2027-01-01T00:00:00Z");
        assert_eq!(next_month_start("2026-02"), "2026-03-01T00:00:00Z");
    }

    #[test]
    fn a_budget_is_spent_when_either_limit_is_reached() {
        let used = MonthUse {
            tokens: 900,
            cost_cents: 12.5,
            calls: 3,
            calls_with_unknown_tokens: 0,
        };
        let budget = |t, c| {
            Some(AiBudget {
                monthly_tokens: t,
                monthly_cost_cents: c,
            })
        };
        let s = status_of(budget(Some(1000), None), "2026-12".into(), used.clone());
        assert_eq!(
            (s.exhausted, s.tokens_left, s.cost_cents_left),
            (false, Some(100), None)
        );
        let s = status_of(budget(Some(1000), Some(12)), "2026-12".into(), used.clone());
        assert!(s.exhausted);
        assert_eq!(s.cost_cents_left, Some(0.0));
        let s = status_of(None, "2026-12".into(), used);
        assert!(!s.exhausted);
        assert_eq!(s.tokens_left, None);
    }
}
