//! The poll-payouts Lambda, on a schedule: asks the processors about items
//! submitted longer than `POLL_AFTER_MINUTES` ago (default 120) that no
//! notification has settled, for the tenants in `PAYOUT_TENANTS` (each
//! through its own processor accounts where `PROCESSOR_SECRETS_PREFIX`
//! keeps them per tenant); and
//! reports SEPA items whose bank has sent no status for more than
//! `SEPA_OVERDUE_BUSINESS_DAYS` (default 3) business days: one warning line
//! per item and the `SepaItemsOverdue` metric, which is alarmed.

use lambda_edge::config::{aws_from_env, init_logging, store_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use ledger_app::payouts::TenantProcessors;
use ledger_app::payouts::{overdue_file_items, poll_stale_items};
use ledger_domain::{Actor, ActorKind, CommandContext, TenantId};
use serde_json::Value;

/// Items asked about per tenant per run.
const POLL_PER_RUN_MAX: usize = 200;
/// Overdue SEPA items reported per tenant per run.
const OVERDUE_PER_RUN_MAX: usize = 500;

#[tokio::main]
async fn main() -> Result<(), Error> {
    init_logging();
    let config = aws_from_env().await;
    let store = store_from_env(&config)?;
    // It asks about payments; it never writes SEPA files.
    let processors = processors::credentials::from_env(
        &config,
        processors::credentials::Settings::from_env(None).without_sepa(),
    )?;
    let tenants: Vec<TenantId> = std::env::var("PAYOUT_TENANTS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(TenantId::new)
        .collect::<Result<_, _>>()?;
    let minutes: i64 = std::env::var("POLL_AFTER_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(120);
    let overdue_days: u32 = std::env::var("SEPA_OVERDUE_BUSINESS_DAYS")
        .ok()
        .and_then(|d| d.parse().ok())
        .unwrap_or(3);
    let (store, processors, tenants) = (&store, &processors, &tenants);
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        let mut results = Vec::new();
        for tenant_id in tenants {
            let now = chrono::Utc::now();
            let ctx = CommandContext {
                tenant_id: tenant_id.clone(),
                actor: Actor::new(ActorKind::Scheduler, "poll-payouts")?,
                now,
                effective_at: now,
            };
            let report = match processors.for_tenant(tenant_id).await {
                Ok(registry) => {
                    poll_stale_items(
                        store,
                        &*registry,
                        tenant_id,
                        chrono::Duration::minutes(minutes),
                        POLL_PER_RUN_MAX,
                        &ctx,
                    )
                    .await
                    .map_err(|e| e.to_string())
                }
                // Not answered (a secret that cannot be read): the next run
                // asks again.
                Err(e) => Err(format!("processors of tenant {tenant_id}: {e}")),
            };
            match report {
                Ok(r) => {
                    tracing::info!(tenant = %tenant_id, stale = r.stale, settled = r.settled, unknown = r.unknown, "payout poll");
                    results.push(serde_json::json!({"tenant_id": tenant_id.as_str(), "report": r}));
                }
                Err(e) => {
                    tracing::warn!(tenant = %tenant_id, error = %e, "payout poll failed");
                    results.push(serde_json::json!({"tenant_id": tenant_id.as_str(), "error": e.to_string()}));
                }
            }
            match overdue_file_items(store, tenant_id, overdue_days, OVERDUE_PER_RUN_MAX, now).await {
                Ok(items) => {
                    for item in &items {
                        tracing::warn!(
                            tenant = %tenant_id,
                            batch = %item.batch_id,
                            item = %item.item_id,
                            affiliate = %item.affiliate_id,
                            amount = %item.amount.amount(),
                            currency = item.amount.currency().code(),
                            business_days = item.business_days,
                            "SEPA item has no bank status: its money is still reserved"
                        );
                    }
                    lambda_edge::metrics::Metrics::new("poll-payouts")
                        .count("SepaItemsOverdue", items.len())
                        .emit();
                    results.push(serde_json::json!({"tenant_id": tenant_id.as_str(), "sepa_overdue": items}));
                }
                Err(e) => {
                    tracing::warn!(tenant = %tenant_id, error = %e, "overdue SEPA check failed");
                }
            }
        }
        Ok::<Value, Error>(serde_json::json!({ "tenants": results }))
    }))
    .await
}
