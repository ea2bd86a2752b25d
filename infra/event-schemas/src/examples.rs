//! A small, realistic history of internal events (tenant `acme`, October
//! 2026) from which the examples are derived by the code that sends public
//! events, so the examples are what receivers really get.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use ledger_domain::events::{
    ApprovalAuthority, CommissionAdjusted, CommissionMatured, CommissionRecorded,
    CommissionReversed, PayoutBatchApproved, PayoutBatchDrafted, PayoutBatchRejected,
    PayoutItemOutcome, PayoutItemSubmitted, ReconciliationMismatchFound, StatementPublished,
};
use ledger_domain::ids::{
    AffiliateId, CommissionId, PayoutBatchId, PayoutItemId, PayoutRunId, ReconciliationRunId,
    TenantId,
};
use ledger_domain::profile::SandboxBehaviour;
use ledger_domain::{
    Actor, ActorKind, CommissionStage, Currency, DraftedItem, Event, EventBody, Money,
    MoneyMovement, PayoutMethod, Processor, ReversalReason,
};

type Error = Box<dyn std::error::Error>;

fn at(text: &str) -> Result<DateTime<Utc>, Error> {
    Ok(DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc))
}

fn eur(text: &str) -> Result<Money, Error> {
    Ok(Money::parse(text, Currency::EUR)?)
}

/// The history, each event with its full stream name and its version there.
pub fn history() -> Result<Vec<(String, u64, Event)>, String> {
    let events = events().map_err(|e| format!("building the example history: {e}"))?;
    let mut versions: HashMap<String, u64> = HashMap::new();
    Ok(events
        .into_iter()
        .map(|event| {
            let stream = event.stream_name();
            let version = versions.entry(stream.clone()).or_insert(0);
            *version += 1;
            (stream, *version, event)
        })
        .collect())
}

struct Item {
    id: PayoutItemId,
    affiliate: AffiliateId,
    amount: Money,
    processor: Processor,
}

// The history reads as a story, one push per event, with comments between.
#[allow(clippy::vec_init_then_push)]
fn events() -> Result<Vec<Event>, Error> {
    let acme = TenantId::new("acme")?;
    let tracking = Actor::new(ActorKind::Service, "tracking-network")?;
    let scheduler = Actor::new(ActorKind::Scheduler, "mature-commissions")?;
    let maker = Actor::new(ActorKind::User, "maria@acme")?.acting(Some("finance_maker"), None)?;
    let checker =
        Actor::new(ActorKind::User, "jonas@acme")?.acting(Some("finance_approver"), None)?;
    let event = |actor: &Actor, recorded: &str, effective: &str, body: EventBody| {
        Ok::<_, Error>(Event::new(
            acme.clone(),
            actor.clone(),
            at(recorded)?,
            at(effective)?,
            body,
        ))
    };

    let anna = AffiliateId::new("aff-anna")?;
    let ben = AffiliateId::new("aff-ben")?;
    let chloe = AffiliateId::new("aff-chloe")?;
    let dan = AffiliateId::new("aff-dan")?;
    let c1 = CommissionId::new("c-1042")?;
    let c2 = CommissionId::new("c-1043")?;
    let mut out = Vec::new();

    // A commission recorded, matured, then partly charged back after
    // maturity: the chargeback becomes a receivable.
    out.push(event(
        &tracking,
        "2026-09-14T09:12:03.418Z",
        "2026-09-14T08:55:00Z",
        EventBody::CommissionRecorded(CommissionRecorded {
            commission_id: c1.clone(),
            affiliate_id: anna.clone(),
            amount: eur("80.00")?,
            hold_period_days: 30,
            matures_at: at("2026-10-14T08:55:00Z")?,
            source_conversion_id: "conv-88213".into(),
            order_reference: Some("order-55102".into()),
        }),
    )?);
    out.push(event(
        &scheduler,
        "2026-10-14T08:56:00.102Z",
        "2026-10-14T08:55:00Z",
        EventBody::CommissionMatured(CommissionMatured {
            commission_id: c1.clone(),
            affiliate_id: anna.clone(),
            amount: eur("80.00")?,
        }),
    )?);
    out.push(event(
        &tracking,
        "2026-10-20T17:41:12.930Z",
        "2026-10-20T17:40:00Z",
        EventBody::CommissionReversed(CommissionReversed {
            commission_id: c1.clone(),
            affiliate_id: anna.clone(),
            amount: eur("30.00")?,
            reason: ReversalReason::Chargeback,
            stage: CommissionStage::Matured,
            whole: false,
            reference: Some("dp_1QpL2".into()),
        }),
    )?);

    // A commission corrected in its hold period.
    out.push(event(
        &tracking,
        "2026-10-02T11:03:44.007Z",
        "2026-10-02T11:00:00Z",
        EventBody::CommissionRecorded(CommissionRecorded {
            commission_id: c2.clone(),
            affiliate_id: ben.clone(),
            amount: eur("25.00")?,
            hold_period_days: 30,
            matures_at: at("2026-11-01T11:00:00Z")?,
            source_conversion_id: "conv-88340".into(),
            order_reference: None,
        }),
    )?);
    out.push(event(
        &maker,
        "2026-10-05T10:20:31.250Z",
        "2026-10-05T10:20:31.250Z",
        EventBody::CommissionAdjusted(CommissionAdjusted {
            commission_id: c2.clone(),
            affiliate_id: ben.clone(),
            delta: eur("-2.50")?,
            stage: CommissionStage::Pending,
            reason: "order partly cancelled".into(),
        }),
    )?);

    // A batch of four items, one netting a receivable, approved and sent;
    // each item then meets a different fate.
    let batch = PayoutBatchId::new("pb-000007")?;
    let item = |n: u32, affiliate: &AffiliateId, amount: &str, processor| {
        Ok::<_, Error>(Item {
            id: PayoutItemId::new(format!("pb-000007.{n}"))?,
            affiliate: affiliate.clone(),
            amount: eur(amount)?,
            processor,
        })
    };
    let items = [
        item(1, &anna, "145.00", Processor::Stripe)?,
        item(2, &ben, "80.00", Processor::Paypal)?,
        item(3, &chloe, "42.10", Processor::Sepa)?,
        item(4, &dan, "12.00", Processor::Sandbox)?,
    ];
    let methods = [
        PayoutMethod::Stripe {
            account_id: "acct_1Nv0FGQ9RKHgCVdK".into(),
        },
        PayoutMethod::Paypal {
            receiver: "ben.okafor@example.com".into(),
        },
        PayoutMethod::Sepa {
            iban: "DE89370400440532013000".into(),
            bic: Some("COBADEFFXXX".into()),
            account_holder: "Chloe Martin".into(),
        },
        PayoutMethod::Sandbox {
            behaviour: SandboxBehaviour::Settle,
        },
    ];
    let drafted = items
        .iter()
        .zip(&methods)
        .enumerate()
        .map(|(i, (item, method))| {
            Ok::<_, Error>(DraftedItem {
                item_id: item.id.clone(),
                affiliate_id: item.affiliate.clone(),
                amount: item.amount,
                receivable_netted: if i == 0 { eur("30.00")? } else { eur("0.00")? },
                processor: item.processor,
                destination: Some(method.destination()),
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    out.push(event(
        &maker,
        "2026-10-23T06:00:02.511Z",
        "2026-10-23T06:00:02.511Z",
        EventBody::PayoutBatchDrafted(PayoutBatchDrafted {
            batch_id: batch.clone(),
            items: drafted,
            sequence: 7,
            run_id: Some(PayoutRunId::new("run-20261023T060000")?),
        }),
    )?);
    out.push(event(
        &checker,
        "2026-10-23T09:14:50.064Z",
        "2026-10-23T09:14:50.064Z",
        EventBody::PayoutBatchApproved(PayoutBatchApproved {
            batch_id: batch.clone(),
            authority: Some(ApprovalAuthority::Finance),
        }),
    )?);
    let references = ["tr_1QqA9", "8XK2Y4Q", "pb-000007.3", "sbx-4"];
    for (item, reference) in items.iter().zip(references) {
        out.push(event(
            &Actor::new(ActorKind::Scheduler, "dispatch-payouts")?,
            "2026-10-23T09:15:03.880Z",
            "2026-10-23T09:15:03.880Z",
            EventBody::PayoutItemSubmitted(PayoutItemSubmitted {
                batch_id: batch.clone(),
                item_id: item.id.clone(),
                affiliate_id: item.affiliate.clone(),
                amount: item.amount,
                processor: item.processor,
                processor_reference: Some(reference.into()),
            }),
        )?);
    }
    let outcome = |item: &Item,
                   event_id: &str,
                   reason: Option<&str>,
                   movement,
                   amount: Money,
                   reversed_total: Option<Money>| PayoutItemOutcome {
        batch_id: batch.clone(),
        item_id: item.id.clone(),
        affiliate_id: item.affiliate.clone(),
        amount,
        processor: item.processor,
        processor_event_id: Some(event_id.into()),
        reason: reason.map(str::to_owned),
        movement,
        reversed_total,
    };
    let processor = |item: &Item| Actor::new(ActorKind::Processor, item.processor.as_str());
    let [anna_item, ben_item, chloe_item, dan_item] = &items;
    out.push(event(
        &processor(anna_item)?,
        "2026-10-23T09:15:05.017Z",
        "2026-10-23T09:15:04Z",
        EventBody::PayoutItemPaid(outcome(
            anna_item,
            "evt_1QqA9dLkR2",
            None,
            MoneyMovement::ReservedToPaid,
            anna_item.amount,
            None,
        )),
    )?);
    out.push(event(
        &processor(dan_item)?,
        "2026-10-23T09:15:06.200Z",
        "2026-10-23T09:15:06Z",
        EventBody::PayoutItemFailed(outcome(
            dan_item,
            "sbx-evt-4-failed",
            Some("account_closed"),
            MoneyMovement::ReservedToAvailable,
            dan_item.amount,
            None,
        )),
    )?);
    out.push(event(
        &processor(chloe_item)?,
        "2026-10-26T04:02:11.734Z",
        "2026-10-25T00:00:00Z",
        EventBody::PayoutItemPaid(outcome(
            chloe_item,
            "camt054-2026-10-25-0003",
            None,
            MoneyMovement::ReservedToPaid,
            chloe_item.amount,
            None,
        )),
    )?);
    out.push(event(
        &processor(chloe_item)?,
        "2026-10-29T04:01:57.310Z",
        "2026-10-28T00:00:00Z",
        EventBody::PayoutItemReturned(outcome(
            chloe_item,
            "pain002-2026-10-28-0003",
            Some("AC04 account closed"),
            MoneyMovement::PaidToAvailable,
            chloe_item.amount,
            None,
        )),
    )?);
    out.push(event(
        &processor(ben_item)?,
        "2026-11-22T09:20:41.005Z",
        "2026-11-22T09:20:00Z",
        EventBody::PayoutItemUnclaimed(outcome(
            ben_item,
            "WH-7YX49823S2290830K-0JE13296W68552352",
            Some("receiver did not claim within 30 days"),
            MoneyMovement::ReservedToAvailable,
            ben_item.amount,
            None,
        )),
    )?);
    out.push(event(
        &processor(anna_item)?,
        "2026-11-03T15:30:12.448Z",
        "2026-11-03T15:30:10Z",
        EventBody::PayoutItemReversed(outcome(
            anna_item,
            "evt_1QsB0eLkR2",
            Some("transfer.reversed"),
            MoneyMovement::PaidToAvailable,
            eur("45.00")?,
            Some(eur("45.00")?),
        )),
    )?);

    // A batch rejected: the receivable it had netted is owed again.
    let rejected = PayoutBatchId::new("pb-000008")?;
    let rejected_items = vec![DraftedItem {
        item_id: PayoutItemId::new("pb-000008.1")?,
        affiliate_id: anna.clone(),
        amount: eur("20.00")?,
        receivable_netted: eur("10.00")?,
        processor: Processor::Stripe,
        destination: None,
    }];
    out.push(event(
        &maker,
        "2026-10-30T06:00:01.990Z",
        "2026-10-30T06:00:01.990Z",
        EventBody::PayoutBatchDrafted(PayoutBatchDrafted {
            batch_id: rejected.clone(),
            items: rejected_items.clone(),
            sequence: 8,
            run_id: Some(PayoutRunId::new("run-20261030T060000")?),
        }),
    )?);
    out.push(event(
        &checker,
        "2026-10-30T10:02:17.522Z",
        "2026-10-30T10:02:17.522Z",
        EventBody::PayoutBatchRejected(PayoutBatchRejected {
            batch_id: rejected,
            reason: "destination changed after drafting; re-draft next week".into(),
            released: rejected_items,
        }),
    )?);

    // A reconciliation run found a transfer the ledger does not know.
    out.push(event(
        &Actor::new(ActorKind::Scheduler, "reconcile")?,
        "2026-11-01T02:10:44.861Z",
        "2026-11-01T02:10:44.861Z",
        EventBody::ReconciliationMismatchFound(ReconciliationMismatchFound {
            run_id: ReconciliationRunId::new("rec-stripe-2026-10")?,
            processor: Processor::Stripe,
            kind: "amount_mismatch".into(),
            report: "reports/inbox/acme/stripe/2026-10.csv".into(),
            line: Some(14),
            processor_reference: Some("tr_1QqA9".into()),
            batch_id: Some("pb-000007".into()),
            item_id: Some("pb-000007.1".into()),
            ledger_amount: Some(eur("145.00")?),
            report_amount: Some(eur("154.00")?),
        }),
    )?);

    // October's statement of one affiliate, written on the 1st.
    out.push(event(
        &Actor::new(ActorKind::Scheduler, "statements")?,
        "2026-11-01T12:00:03.118Z",
        "2026-11-01T12:00:03.118Z",
        EventBody::StatementPublished(StatementPublished {
            affiliate_id: AffiliateId::new("aff-anna")?,
            currency: "EUR".into(),
            period: "2026-10".into(),
            time_zone: "Europe/Berlin".into(),
            period_start: at("2026-09-30T22:00:00Z")?,
            period_end: at("2026-10-31T23:00:00Z")?,
            version: 1,
            supersedes: None,
            reason: "scheduled month end".into(),
            closing_available: eur("85.00")?,
            closing_receivable: eur("0.00")?,
            content_sha256: "5d1a0f6c2b9e8e4f0a7c3d2b1e6f9a8c7b5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f"
                .into(),
        }),
    )?);
    Ok(out)
}
