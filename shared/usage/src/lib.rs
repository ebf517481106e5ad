//! Usage metering (CONTRACT §12). Each use writes an immutable record **and** adds to the
//! day's aggregates (per tenant and global, per type) in one transaction with atomic adds, so
//! totals always equal the records, however many recordings run at once. Stats read the
//! aggregates, so their cost does not grow with the number of records.

use serde_json::{json, Number, Value};
use thanotopolis_service::ApiResult;
use thanotopolis_store::schema::MAIN_TABLE;
use thanotopolis_store::{Condition, Store, Update, Write};
use thanotopolis_tenant_auth::{keys, TenantScope};
use uuid::Uuid;

/// Language-model tokens (prompt + completion).
pub const TOKENS: &str = "tokens";

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
    pub amount: f64,
    pub provider: &'a str,
    pub model: Option<&'a str>,
    pub cost: Option<f64>,
    pub details: Value,
}

fn number(n: f64) -> Number {
    Number::from_f64(n).unwrap_or_else(|| 0.into())
}

/// Records `event`: the record and both day aggregates, all or nothing.
pub async fn record_usage(store: &dyn Store, event: UsageEvent<'_>) -> ApiResult<()> {
    let at = thanotopolis_tenant_auth::now_rfc3339();
    let day = at[..10].to_string();
    let id = Uuid::new_v4();
    let mut record = MAIN_TABLE.key_item(&keys::usage_record(event.tenant, &day, &at, id));
    if let Value::Object(attrs) = json!({
        "id": id,
        "tenant_id": event.tenant.tenant_id(),
        "user_id": event.user_id,
        "conversation_id": event.conversation_id,
        "usage_type": event.usage_type,
        "amount": event.amount,
        "service_provider": event.provider,
        "model_name": event.model,
        "cost_total": event.cost,
        "additional_data": event.details,
        "created_at": at,
    }) {
        record.extend(attrs);
    }
    let add = |update: Update| {
        let mut u = update.add("amount", number(event.amount)).add("count", 1);
        if let Some(cost) = event.cost {
            u = u.add("cost", number(cost));
        }
        u.set_if_absent("usage_type", event.usage_type)
            .set_if_absent("day", day.clone())
    };
    let writes = vec![
        Write::Put {
            item: record,
            condition: Some(Condition::NotExists),
        },
        Write::Update {
            key: keys::tenant_usage_day(event.tenant, &day, event.usage_type),
            update: add(
                Update::new().set_if_absent("tenant_id", event.tenant.tenant_id().to_string())
            ),
            condition: None,
        },
        Write::Update {
            key: keys::global_usage_day(&day, event.usage_type),
            update: add(Update::new()),
            condition: None,
        },
    ];
    store.transact(writes).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_costs_come_from_the_price_table_or_not_at_all() {
        let cost = token_cost("gpt-4o-mini", 1_000_000, 1_000_000).unwrap();
        assert!((cost - 0.75).abs() < 1e-9);
        assert!(token_cost("gpt-4o-mini-2024-07-18", 10, 10).is_some());
        assert_eq!(token_cost("some-local-model", 10, 10), None);
    }
}
