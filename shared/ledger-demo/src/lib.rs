//! The sample program: two tenants, four currencies, commissions, a refund,
//! maturity, a four-eyes payout batch with a paid, a failed and a returned
//! item, and a chargeback after payout. Used by the demo and by the local
//! stack's `--demo`.

use chrono::{DateTime, TimeZone, Utc};
use event_store::{EventStore, IdempotencyKey};
use ledger_app::{AppError, rebuild_balances, run_commission, run_payout_batch};
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, CommissionCommand, CommissionId, Currency,
    DraftedItem, ItemOutcome, Money, PayoutBatchCommand, PayoutBatchId, PayoutItemId, Processor,
    ReversalReason, TenantId,
};

fn at(month: u32, day: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, month, day, 12, 0, 0)
        .single()
        .unwrap_or_default()
}

fn ctx(
    tenant: &str,
    kind: ActorKind,
    actor: &str,
    now: DateTime<Utc>,
) -> Result<CommandContext, AppError> {
    Ok(CommandContext {
        tenant_id: TenantId::new(tenant).map_err(|e| {
            AppError::Store(event_store::StoreError::InvalidInput {
                field: "tenant_id",
                reason: e.to_string(),
            })
        })?,
        actor: Actor::new(kind, actor).map_err(|e| {
            AppError::Store(event_store::StoreError::InvalidInput {
                field: "actor",
                reason: e.to_string(),
            })
        })?,
        now,
        effective_at: now,
    })
}

fn id<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, AppError> {
    r.map_err(|e| {
        AppError::Store(event_store::StoreError::InvalidInput {
            field: "id",
            reason: e.to_string(),
        })
    })
}

/// Runs the sample program through the real use cases, narrating each step.
pub async fn run_sample_program<S: EventStore + ?Sized>(store: &S) -> Result<(), AppError> {
    // The tracking network posts conversions: (tenant, commission, affiliate, amount, currency, day in September).
    let conversions = [
        ("acme", "c-1001", "aff-anna", "120.00", Currency::EUR, 1),
        ("acme", "c-1002", "aff-anna", "35.50", Currency::EUR, 3),
        ("acme", "c-1003", "aff-ben", "80.00", Currency::EUR, 4),
        ("acme", "c-1004", "aff-chloe", "42.10", Currency::EUR, 5),
        ("acme", "c-1005", "aff-ben", "99.99", Currency::USD, 6),
        ("globex", "c-2001", "aff-dai", "15000", Currency::JPY, 2),
        ("globex", "c-2002", "aff-dai", "1.250", Currency::KWD, 7),
    ];
    for (tenant, commission, affiliate, amount, currency, day) in conversions {
        let command = CommissionCommand::Record {
            commission_id: id(CommissionId::new(commission))?,
            affiliate_id: id(AffiliateId::new(affiliate))?,
            amount: id(Money::parse(amount, currency))?,
            hold_period_days: 30,
            source_conversion_id: format!("conv-{commission}"),
            order_reference: Some(format!("order-{commission}")),
        };
        let key = id(IdempotencyKey::new(format!("conv-{commission}")))?;
        let ctx = ctx(tenant, ActorKind::Service, "tracking-network", at(9, day))?;
        run_commission(
            store,
            &id(CommissionId::new(commission))?,
            command,
            &ctx,
            Some(key),
        )
        .await?;
    }
    println!("recorded {} commissions (30-day hold)", conversions.len());

    // A refund inside the hold period takes part of c-1002 back from pending.
    let refund = CommissionCommand::Reverse {
        amount: id(Money::parse("10.50", Currency::EUR))?,
        reason: ReversalReason::Refund,
        reference: Some("refund-77".into()),
    };
    run_commission(
        store,
        &id(CommissionId::new("c-1002"))?,
        refund,
        &ctx("acme", ActorKind::Service, "tracking-network", at(9, 20))?,
        None,
    )
    .await?;
    println!("refunded 10.50 EUR of c-1002 during its hold period");

    // The scheduler matures everything whose hold is over.
    for (tenant, commission, ..) in conversions {
        let ctx = ctx(
            tenant,
            ActorKind::Scheduler,
            "mature-commissions",
            at(10, 15),
        )?;
        run_commission(
            store,
            &id(CommissionId::new(commission))?,
            CommissionCommand::Mature,
            &ctx,
            None,
        )
        .await?;
    }
    println!("matured all commissions on 2026-10-15");

    // Finance drafts a EUR batch from the available balances.
    let balances = rebuild_balances(store).await?;
    let acme = id(TenantId::new("acme"))?;
    let mut items = Vec::new();
    for (n, affiliate) in ["aff-anna", "aff-ben", "aff-chloe"].into_iter().enumerate() {
        let affiliate_id = id(AffiliateId::new(affiliate))?;
        let view = id(balances.affiliate(&acme, &affiliate_id, Currency::EUR))?;
        items.push(DraftedItem {
            item_id: id(PayoutItemId::new(format!("b-oct-{n}")))?,
            affiliate_id,
            amount: view.net_payable,
            receivable_netted: view.receivable,
            processor: [Processor::Stripe, Processor::Paypal, Processor::Sepa][n],
            destination: None,
        });
    }
    let batch = id(PayoutBatchId::new("b-2026-10"))?;
    let maker = ctx("acme", ActorKind::User, "maria@acme", at(10, 16))?;
    let sequence = ledger_app::payouts::drafts_sequence(store, &acme).await?;
    ledger_app::payouts::draft_batch(store, &maker, &batch, items, sequence).await?;
    println!("maria@acme drafted batch b-2026-10 (reserving the EUR balances)");
    match run_payout_batch(store, &batch, approve(), &maker, None).await {
        Err(e) => println!("maria@acme tries to approve her own batch: refused ({e})"),
        Ok(_) => println!("BUG: the maker approved her own batch"),
    }
    let approver = ctx("acme", ActorKind::User, "omar@acme", at(10, 16))?;
    run_payout_batch(store, &batch, approve(), &approver, None).await?;
    println!("omar@acme approved it");

    let outcome =
        |item: &str, outcome, day| -> Result<(PayoutBatchCommand, CommandContext), AppError> {
            Ok((
                PayoutBatchCommand::RecordOutcome {
                    item_id: id(PayoutItemId::new(item))?,
                    outcome,
                    processor_event_id: Some(format!("evt-{item}-{day}")),
                    reason: None,
                    facts: Default::default(),
                },
                ctx("acme", ActorKind::Processor, "processor", at(10, day))?,
            ))
        };
    for (item, o, day, says) in [
        (
            "b-oct-0",
            ItemOutcome::Paid,
            17,
            "Stripe: anna's transfer paid",
        ),
        (
            "b-oct-1",
            ItemOutcome::Failed,
            17,
            "PayPal: ben's payout failed, money back on his balance",
        ),
        (
            "b-oct-2",
            ItemOutcome::Paid,
            18,
            "SEPA: chloe's transfer accepted",
        ),
        (
            "b-oct-2",
            ItemOutcome::Returned,
            30,
            "SEPA: chloe's transfer returned by her bank two weeks later, money back",
        ),
        (
            "b-oct-1",
            ItemOutcome::Failed,
            31,
            "PayPal repeats the failure: recorded, no money moves twice",
        ),
    ] {
        let (command, ctx) = outcome(item, o, day)?;
        run_payout_batch(store, &batch, command, &ctx, None).await?;
        println!("{says}");
    }

    // A chargeback on anna's paid commission: a clawback receivable.
    let chargeback = CommissionCommand::Reverse {
        amount: id(Money::parse("40.00", Currency::EUR))?,
        reason: ReversalReason::Chargeback,
        reference: Some("cb-9".into()),
    };
    run_commission(
        store,
        &id(CommissionId::new("c-1001"))?,
        chargeback,
        &ctx("acme", ActorKind::Service, "tracking-network", at(11, 2))?,
        None,
    )
    .await?;
    println!(
        "chargeback of 40.00 EUR on c-1001 after it was paid: anna now owes it, netted from her next payout\n"
    );
    Ok(())
}

fn approve() -> PayoutBatchCommand {
    // Finance approves within the program's limits; without limits for a
    // currency only an admin may.
    let limits = ledger_domain::ApprovalLimits::from_json(
        r#"{"EUR": {"item_max": "10000.00", "batch_total_max": "50000.00", "approver_daily_max": "100000.00"}}"#,
    )
    .unwrap_or_default();
    PayoutBatchCommand::Approve {
        authority: ledger_domain::events::ApprovalAuthority::Finance,
        limits,
        approved_today: Vec::new(),
    }
}
