//! Usage metering (contract §12). Each use writes an immutable record **and** adds to its
//! tenant's aggregate of the day and type in one transaction with atomic adds, so a tenant's
//! totals always equal its records, however many recordings run at once. Nothing written at
//! request time is shared between tenants: the all-tenant figures are recomputed from the
//! tenant aggregates by [`rollup`], off the request path. Stats read aggregates, so their cost
//! does not grow with the number of records. Token use also adds to its tenant's month, which
//! the AI budget ([`limits`]) is checked against before each model call.

pub mod limits;
pub mod live_stt;
pub mod metrics;
pub mod rollup;

use serde_json::{json, Number, Value};
use thanotopolis_store::{Condition, Store, StoreError, StoreResult, Update, Write};
use thanotopolis_tenant_auth::creation::Imported;
use thanotopolis_tenant_auth::records::Record;
use thanotopolis_tenant_auth::{keys, TenantScope};
use uuid::Uuid;

/// Language-model tokens (prompt + completion).
pub const TOKENS: &str = "tokens";
/// Seconds of audio transcribed (Deepgram's reported duration).
pub const STT_SECONDS: &str = "stt_seconds";
/// Words transcribed.
pub const STT_WORDS: &str = "stt_words";
/// Words synthesized (text-to-speech; kept for the contract's totals).
pub const TTS_WORDS: &str = "tts_words";

/// Deepgram pre-recorded and streaming prices in USD per minute of audio, by model
/// (pay-as-you-go list prices). The original charged 100x this (decision D17).
pub const STT_PRICES_PER_MINUTE: &[(&str, f64)] = &[("nova-2", 0.0043), ("nova-3", 0.0043)];

/// The cost of transcribing `seconds` of audio with `model`, if its price is known.
pub fn stt_cost(model: &str, seconds: f64) -> Option<f64> {
    STT_PRICES_PER_MINUTE
        .iter()
        .find(|(m, _)| model.starts_with(m))
        .map(|(_, per_minute)| seconds / 60.0 * per_minute)
}

/// Prices in USD per million tokens (input, output), by model. A model not listed is recorded
/// with a `null` cost: unknown, never guessed.
pub const TOKEN_PRICES_PER_MILLION: &[(&str, f64, f64)] = &[
    ("gpt-4o-mini", 0.15, 0.60),
    ("gpt-4o", 2.50, 10.00),
    ("gpt-4.1-mini", 0.40, 1.60),
    ("gpt-4.1", 2.00, 8.00),
];

/// The cost of a completion, if the model's price is known.
pub fn token_cost(model: &str, prompt_tokens: u64, completion_tokens: u64) -> Option<f64> {
    TOKEN_PRICES_PER_MILLION
        .iter()
        .find(|(m, _, _)| model == *m || model.starts_with(&format!("{m}-20")))
        .map(|(_, input, output)| {
            (prompt_tokens as f64 * input + completion_tokens as f64 * output) / 1_000_000.0
        })
}

/// One use of a metered resource.
pub struct UsageEvent<'a> {
    pub tenant: &'a TenantScope,
    pub user_id: Option<Uuid>,
    pub conversation_id: Option<Uuid>,
    pub usage_type: &'a str,
    /// `None` when the provider did not report it: stored as `null` and counted in the
    /// aggregates' `unknown_count`, never as 0.
    pub amount: Option<f64>,
    pub provider: &'a str,
    pub model: Option<&'a str>,
    pub cost: Option<f64>,
    pub details: Value,
}

fn number(n: f64) -> Number {
    Number::from_f64(n).unwrap_or_else(|| 0.into())
}

/// A usage record as stored: one use, never changed after it is written.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct UsageRecord {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub user_id: Option<Uuid>,
    pub conversation_id: Option<Uuid>,
    pub usage_type: String,
    /// `None`: the provider did not report it.
    pub amount: Option<f64>,
    pub service_provider: String,
    pub model_name: Option<String>,
    /// USD, when the price is known.
    pub cost_total: Option<f64>,
    #[serde(default)]
    pub additional_data: Value,
    pub created_at: String,
}

/// A record is in its tenant's records (`gsi1`), in time order. There is deliberately no
/// index across tenants: its partitions would be written by every tenant's every use.
impl Record for UsageRecord {
    fn key(&self, scope: &TenantScope) -> thanotopolis_store::Key {
        keys::usage_record(scope, &self.created_at[..10], &self.created_at, self.id)
    }

    fn gsi1(&self, scope: &TenantScope) -> Option<(String, String)> {
        Some((
            keys::index::tenant_usage(scope),
            format!("{}#{}", self.created_at, self.id),
        ))
    }
}

impl UsageRecord {
    /// UsageRecordResponse (with the frontend's extra fields).
    pub fn response(&self) -> Value {
        json!({
            "id": self.id, "tenant_id": self.tenant_id, "user_id": self.user_id,
            "conversation_id": self.conversation_id, "usage_type": self.usage_type,
            "amount": self.amount, "service_provider": self.service_provider,
            "model_name": self.model_name,
            "cost_cents": self.cost_total.map(|c| c * 100.0),
            "cost_currency": "USD", "additional_data": self.additional_data,
            "usage_date": self.created_at, "created_at": self.created_at,
        })
    }
}

/// Shards of a tenant's aggregate of a day and type. Every use's transaction adds to one of
/// them, so concurrent uses of one organization meet on the same item (and conflict, and are
/// retried) an eighth as often; a total reads at most this many items more per day and type.
pub const AGGREGATE_SHARDS: u8 = 8;

/// Records `event`: the record and one shard of its tenant's day aggregate, all or nothing.
/// Concurrent uses that meet on a shard conflict; the store retries them, so none is lost.
pub async fn record_usage(store: &dyn Store, event: UsageEvent<'_>) -> StoreResult<()> {
    let at = thanotopolis_tenant_auth::now_rfc3339();
    let record = UsageRecord {
        id: Uuid::new_v4(),
        tenant_id: event.tenant.tenant_id(),
        user_id: event.user_id,
        conversation_id: event.conversation_id,
        usage_type: event.usage_type.to_string(),
        amount: event.amount,
        service_provider: event.provider.to_string(),
        model_name: event.model.map(str::to_string),
        cost_total: event.cost,
        additional_data: event.details.clone(),
        created_at: at,
    };
    store.transact(record_writes(event.tenant, &record)).await?;
    Ok(())
}

/// The writes of a use: its record (if new) and one shard of its tenant's aggregate of its day.
fn record_writes(scope: &TenantScope, record: &UsageRecord) -> Vec<Write> {
    let day = record.created_at[..10].to_string();
    // The record's random id picks the shard: uniform, and nothing else to draw.
    let shard = (record.id.as_u128() % u128::from(AGGREGATE_SHARDS)) as u8;
    let mut add = Update::new()
        .set_if_absent("tenant_id", record.tenant_id.to_string())
        .add("count", 1);
    add = match record.amount {
        Some(amount) => add.add("amount", number(amount)),
        None => add.add("unknown_count", 1),
    };
    if let Some(cost) = record.cost_total {
        add = add.add("cost", number(cost));
    }
    let add = add.set_if_absent("usage_type", record.usage_type.as_str());
    let mut writes = vec![
        Write::Put {
            item: record.item(scope),
            condition: Some(Condition::NotExists),
        },
        Write::Update {
            key: keys::tenant_usage_day(scope, &day, &record.usage_type, shard),
            update: add.clone().set_if_absent("day", day.clone()),
            condition: None,
        },
    ];
    // Tokens also count towards the month, which the AI budget is checked against.
    if record.usage_type == TOKENS {
        let month = &day[..7];
        writes.push(Write::Update {
            key: keys::tenant_usage_month(scope, month, TOKENS, shard),
            update: add.set_if_absent("month", month),
            condition: None,
        });
    }
    writes
}

/// Imports a usage record of the old backend (its id and time kept) into its tenant's records
/// and aggregates, once: a record already there is not counted again. The all-tenant figures
/// of its day are the rollup's to recompute ([`rollup::roll_up`]). With `dry_run`, only reads.
pub async fn import_record(
    store: &dyn Store,
    scope: &TenantScope,
    record: &UsageRecord,
    dry_run: bool,
) -> StoreResult<Imported> {
    if store.get(&record.key(scope)).await?.is_some() {
        return Ok(Imported::AlreadyThere);
    }
    if dry_run {
        return Ok(Imported::Created);
    }
    match store.transact(record_writes(scope, record)).await {
        Ok(()) => Ok(Imported::Created),
        Err(StoreError::TransactionCanceled { .. }) => Ok(Imported::AlreadyThere),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_amounts_are_counted_apart_from_the_totals() {
        let mut day = UsageTotals::default();
        let item = |v: Value| v.as_object().unwrap().clone();
        day.add(&item(
            json!({ "usage_type": TOKENS, "count": 3, "unknown_count": 1, "amount": 49.0 }),
        ));
        let mut other = UsageTotals::default();
        other.add(&item(
            json!({ "usage_type": TOKENS, "count": 1, "unknown_count": 1 }),
        ));
        day.merge(other);
        assert_eq!(
            (day.total_tokens, day.record_count, day.unknown_amount_count),
            (49.0, 4, 2)
        );
    }

    #[test]
    fn token_costs_come_from_the_price_table_or_not_at_all() {
        let cost = token_cost("gpt-4o-mini", 1_000_000, 1_000_000).unwrap();
        assert!((cost - 0.75).abs() < 1e-9);
        assert!(token_cost("gpt-4o-mini-2024-07-18", 10, 10).is_some());
        assert_eq!(token_cost("some-local-model", 10, 10), None);
    }
}

/// Totals of one window, from the daily aggregates (contract §12.3 UsageStats).
#[derive(Debug, Default, Clone, PartialEq, serde::Serialize)]
pub struct UsageTotals {
    pub total_tokens: f64,
    pub total_tts_words: f64,
    pub total_stt_words: f64,
    pub total_stt_seconds: f64,
    pub total_cost_cents: f64,
    pub record_count: i64,
    /// Uses whose amount the provider did not report: counted in `record_count`, not in the
    /// totals above.
    pub unknown_amount_count: i64,
    pub breakdown_by_service: std::collections::BTreeMap<String, f64>,
    /// When these figures were true. For all-tenant totals, when [`rollup`] last recomputed
    /// them (`None`: never, so the zeros mean "not computed yet", not "no use").
    pub rolled_up_at: Option<String>,
    /// When live speech-to-text usage was last imported from Deepgram (`None`: never, so live
    /// streams are not in `total_stt_seconds` yet). One global fact: set by [`global_totals`]
    /// and by whoever sums tenants' totals for an answer, not per tenant.
    pub live_stt_imported_at: Option<String>,
}

impl UsageTotals {
    /// Adds another window's totals (another organization's, say) to these.
    pub fn merge(&mut self, other: UsageTotals) {
        self.total_tokens += other.total_tokens;
        self.total_tts_words += other.total_tts_words;
        self.total_stt_words += other.total_stt_words;
        self.total_stt_seconds += other.total_stt_seconds;
        self.total_cost_cents += other.total_cost_cents;
        self.record_count += other.record_count;
        self.unknown_amount_count += other.unknown_amount_count;
        for (k, v) in other.breakdown_by_service {
            *self.breakdown_by_service.entry(k).or_default() += v;
        }
    }

    fn add(&mut self, item: &thanotopolis_store::Item) {
        let amount = item.get("amount").and_then(Value::as_f64).unwrap_or(0.0);
        let usage_type = item
            .get("usage_type")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match usage_type {
            TOKENS => self.total_tokens += amount,
            TTS_WORDS => self.total_tts_words += amount,
            STT_WORDS => self.total_stt_words += amount,
            STT_SECONDS => self.total_stt_seconds += amount,
            _ => {}
        }
        *self
            .breakdown_by_service
            .entry(usage_type.to_string())
            .or_default() += amount;
        self.total_cost_cents += item.get("cost").and_then(Value::as_f64).unwrap_or(0.0) * 100.0;
        self.record_count += item.get("count").and_then(Value::as_i64).unwrap_or(0);
        self.unknown_amount_count += item
            .get("unknown_count")
            .and_then(Value::as_i64)
            .unwrap_or(0);
    }
}

async fn sum(store: &dyn Store, query: thanotopolis_store::Query) -> StoreResult<UsageTotals> {
    let mut totals = UsageTotals::default();
    for item in &thanotopolis_store::query_all(store, &query).await? {
        totals.add(item);
    }
    Ok(totals)
}

/// A tenant's totals for the days `first..=last` (`YYYY-MM-DD`): one query over at most
/// (days x types x shards) aggregate items, whatever the number of records.
pub async fn tenant_totals(
    store: &dyn Store,
    scope: &TenantScope,
    first: &str,
    last: &str,
) -> StoreResult<UsageTotals> {
    let query = thanotopolis_store::Query::new(keys::tenant_partition(scope))
        .between(format!("USAGEDAY#{first}"), format!("USAGEDAY#{last}#~"));
    sum(store, query).await
}

/// Every tenant's totals for the days `first..=last`, as of the last [`rollup`]: one query
/// over the all-tenant aggregates and one read of the rollup's mark.
pub async fn global_totals(store: &dyn Store, first: &str, last: &str) -> StoreResult<UsageTotals> {
    let query = thanotopolis_store::Query::new(keys::GLOBAL_USAGE)
        .between(first.to_string(), format!("{last}#~"));
    let mut totals = sum(store, query).await?;
    totals.rolled_up_at = rollup::last_run(store).await?;
    totals.live_stt_imported_at = live_stt::last_import(store).await?;
    Ok(totals)
}
