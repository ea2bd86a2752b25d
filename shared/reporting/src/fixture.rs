//! A small ledger with one payout batch through the real use cases, for
//! tests, the benchmark and the local demo: each affiliate earns and
//! matures a commission, one batch pays them through one processor, and
//! each item ends as told (paid with a reference, failed, or left
//! submitted).

use chrono::{DateTime, Duration, Utc};
use event_store::EventStore;
use ledger_app::payouts::{draft_batch, drafts_sequence};
use ledger_app::{AppError, run_commission, run_payout_batch};
use ledger_domain::events::{ApprovalAuthority, DraftedItem};
use ledger_domain::payout::{ApprovalLimits, ItemOutcome, PayoutBatchCommand};
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, CommissionCommand, CommissionId, Money,
    PayoutBatchId, PayoutItemId, Processor, TenantId,
};

/// How one item of the fixture batch ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ends {
    /// Paid; the processor's reference.
    Paid(String),
    /// Refused by the processor (money back).
    Failed(String),
    /// Sent, no news yet.
    Submitted(String),
}

/// One affiliate's payout in the fixture batch.
#[derive(Debug, Clone)]
pub struct FixtureItem {
    pub affiliate: String,
    pub amount: Money,
    pub ends: Ends,
}

fn ctx(tenant: &TenantId, actor: &str, at: DateTime<Utc>) -> CommandContext {
    CommandContext {
        tenant_id: tenant.clone(),
        actor: Actor::new(ActorKind::User, actor).expect("fixture actor ids are valid"),
        now: at,
        effective_at: at,
    }
}

/// Earns each item's amount (recorded on `at`, matured a day later), then
/// drafts, approves and dispatches one batch on the third day; items are
/// `{batch}.{n}` from 1. Returns the batch id.
pub async fn paid_batch<S: EventStore + ?Sized>(
    store: &S,
    tenant: &TenantId,
    processor: Processor,
    items: &[FixtureItem],
    at: DateTime<Utc>,
) -> Result<PayoutBatchId, AppError> {
    let sequence = drafts_sequence(store, tenant).await?;
    let batch_id = PayoutBatchId::new(format!("pb-{:06}", sequence + 1))?;
    let mut drafted = Vec::new();
    for (n, item) in items.iter().enumerate() {
        let affiliate_id = AffiliateId::new(item.affiliate.as_str())?;
        let commission_id = CommissionId::new(format!("c-{batch_id}-{}", n + 1))?;
        run_commission(
            store,
            &commission_id,
            CommissionCommand::Record {
                commission_id: commission_id.clone(),
                affiliate_id: affiliate_id.clone(),
                amount: item.amount,
                hold_period_days: 0,
                source_conversion_id: format!("conv-{commission_id}"),
                order_reference: None,
            },
            &ctx(tenant, "tracker", at),
            None,
        )
        .await?;
        run_commission(
            store,
            &commission_id,
            CommissionCommand::Mature,
            &ctx(tenant, "scheduler", at + Duration::days(1)),
            None,
        )
        .await?;
        drafted.push(DraftedItem {
            item_id: PayoutItemId::new(format!("{batch_id}.{}", n + 1))?,
            affiliate_id,
            amount: item.amount,
            receivable_netted: item.amount.zero_like(),
            processor,
            destination: None,
        });
    }
    let day3 = at + Duration::days(2);
    draft_batch(
        store,
        &ctx(tenant, "maker", day3),
        &batch_id,
        drafted,
        sequence,
    )
    .await?;
    run_payout_batch(
        store,
        &batch_id,
        PayoutBatchCommand::Approve {
            authority: ApprovalAuthority::Admin,
            limits: ApprovalLimits::default(),
            approved_today: Vec::new(),
        },
        &ctx(tenant, "checker", day3),
        None,
    )
    .await?;
    let dispatcher = ctx(tenant, "dispatch-payouts", day3);
    for (n, item) in items.iter().enumerate() {
        let item_id = PayoutItemId::new(format!("{batch_id}.{}", n + 1))?;
        let (reference, outcome) = match &item.ends {
            Ends::Paid(r) => (r, Some(ItemOutcome::Paid)),
            Ends::Failed(r) => (r, Some(ItemOutcome::Failed)),
            Ends::Submitted(r) => (r, None),
        };
        run_payout_batch(
            store,
            &batch_id,
            PayoutBatchCommand::Submit {
                item_id: item_id.clone(),
                processor_reference: Some(reference.clone()),
            },
            &dispatcher,
            None,
        )
        .await?;
        if let Some(outcome) = outcome {
            run_payout_batch(
                store,
                &batch_id,
                PayoutBatchCommand::RecordOutcome {
                    item_id,
                    outcome,
                    processor_event_id: Some(format!("evt-{reference}")),
                    reason: (outcome == ItemOutcome::Failed).then(|| "refused".to_owned()),
                    facts: Default::default(),
                },
                &dispatcher,
                None,
            )
            .await?;
        }
    }
    Ok(batch_id)
}

/// The batch the sample reports in `events/reports/` describe (see its
/// README): six EUR items through `processor`, recorded on 2026-11-02 and
/// paid on 2026-11-04 09:00 UTC.
pub fn sample_items(processor: Processor) -> Vec<FixtureItem> {
    let reference = |n: u32| match processor {
        Processor::Stripe => format!("tr_1QyB7bLkdIwHu7ixAAA{n}"),
        Processor::Paypal => format!("5UXD2E8A7EBQA{n}"),
        Processor::Sepa => format!("payments/acme/pb-000001-EUR.xml#E2E-PB000001-{n}"),
        Processor::Sandbox => format!("sandbox-{n}"),
    };
    let eur =
        |minor: i64| Money::from_minor(minor, ledger_domain::Currency::EUR).expect("small amounts");
    [
        (12_500, Ends::Paid(reference(1))),
        (8_000, Ends::Paid(reference(2))),
        (4_000, Ends::Paid(reference(3))),
        (6_000, Ends::Paid(reference(4))),
        (3_000, Ends::Failed(reference(5))),
        (2_000, Ends::Paid(reference(6))),
    ]
    .into_iter()
    .enumerate()
    .map(|(i, (minor, ends))| FixtureItem {
        affiliate: format!("aff-{}", i + 1),
        amount: eur(minor),
        ends,
    })
    .collect()
}

/// When the sample batch's commissions were recorded.
pub fn sample_day() -> DateTime<Utc> {
    use chrono::TimeZone;
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0)
        .single()
        .expect("a valid instant")
}

/// The mismatch classes each sample report holds, sorted, with the item.
pub fn sample_mismatches() -> Vec<(&'static str, Option<&'static str>)> {
    vec![
        ("amount_mismatch", Some("pb-000001.2")),
        ("currency_mismatch", Some("pb-000001.3")),
        ("missing_at_processor", Some("pb-000001.4")),
        ("missing_in_ledger", None),
        ("not_paid_in_ledger", Some("pb-000001.5")),
        ("outside_date_window", Some("pb-000001.6")),
    ]
}
