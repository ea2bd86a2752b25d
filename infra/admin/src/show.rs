//! `show`: one affiliate's balances and journal, or one payout batch.

use event_store::{EventStore, LedgerReads, StreamId};
use ledger_domain::events::{AggregateRef, EventBody, stream_name};
use ledger_domain::projection::{AffiliateBalance, AffiliateField, BalanceOwner};
use ledger_domain::{AffiliateId, PayoutBatchId, TenantId};

use crate::failure::{Failure, failed, refused};

pub(crate) async fn show_affiliate<R: LedgerReads + ?Sized>(
    reads: &R,
    tenant_id: TenantId,
    affiliate: &str,
    currency: Option<&str>,
    lines: usize,
) -> Result<(), Failure> {
    let affiliate_id =
        AffiliateId::new(affiliate).map_err(|e| refused(format!("affiliate: {e}")))?;
    if lines == 0 || lines > 500 {
        return Err(refused("--lines must be 1 to 500"));
    }
    let owner = BalanceOwner::Affiliate {
        tenant_id,
        affiliate_id,
    };
    let balances = reads.balances(&owner).await.map_err(failed)?;
    if balances.is_empty() {
        println!("{}: no balances", owner.key());
        return Ok(());
    }
    println!("{}", owner.key());
    let [pending, available, reserved, receivable, paid_out] = AffiliateField::NAMES;
    println!(
        "{:<8} {pending:>14} {available:>14} {reserved:>14} {receivable:>14} {paid_out:>14}",
        "currency"
    );
    for (c, fields) in &balances {
        // Liabilities shown as owed, the affiliate's way.
        let [pending, available, reserved, receivable, paid_out] =
            AffiliateBalance::from_fields(fields).shown();
        println!(
            "{c:<8} {pending:>14} {available:>14} {reserved:>14} {receivable:>14} {paid_out:>14}"
        );
    }
    println!("(minor units; pending, available and reserved are owed to the affiliate)");
    for (c, _) in balances
        .iter()
        .filter(|(c, _)| currency.is_none_or(|want| want == c))
    {
        let page = reads
            .journal(&owner, c, None, lines)
            .await
            .map_err(failed)?;
        println!(
            "\njournal {c} (oldest first, {} lines{})",
            page.lines.len(),
            if page.next.is_some() { ", more" } else { "" }
        );
        for line in page.lines {
            let changes: Vec<String> = line
                .deltas
                .iter()
                .map(|(k, v)| format!("{k} {v:+}"))
                .collect();
            println!(
                "  {} {:<26} {}@{}  {}",
                line.effective_at,
                line.event_type,
                line.stream,
                line.version,
                changes.join(", ")
            );
        }
    }
    Ok(())
}

pub(crate) async fn show_batch<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: TenantId,
    batch: &str,
) -> Result<(), Failure> {
    let batch_id = PayoutBatchId::new(batch).map_err(|e| refused(format!("batch: {e}")))?;
    let stream = StreamId::new(stream_name(
        &tenant_id,
        AggregateRef::PayoutBatch(&batch_id),
    ))
    .map_err(failed)?;
    let events = ledger_app::load(store, &stream).await.map_err(failed)?;
    let batch = ledger_domain::payout::PayoutBatch::from_events(&events);
    let Some(state) = batch.state() else {
        return Err(refused(format!(
            "no payout batch {batch_id} in tenant {tenant_id}"
        )));
    };
    println!(
        "{stream}: {:?}, drafted by {}, {} events",
        state.status,
        state.maker,
        events.len()
    );
    for item in &state.items {
        let d = &item.drafted;
        println!(
            "\n{} {} {} {} via {}: {:?}",
            d.item_id,
            d.affiliate_id,
            d.amount.amount(),
            d.amount.currency().code(),
            d.processor.as_str(),
            item.status
        );
        for e in &events {
            let detail = match e.body() {
                EventBody::PayoutBatchDrafted(_) => Some("drafted".to_owned()),
                EventBody::PayoutBatchApproved(_) => Some("batch approved".to_owned()),
                EventBody::PayoutBatchRejected(r) => Some(format!("batch rejected: {}", r.reason)),
                EventBody::PayoutItemSubmitted(s) if s.item_id == d.item_id => Some(format!(
                    "submitted, reference {}",
                    s.processor_reference.as_deref().unwrap_or("-")
                )),
                EventBody::PayoutItemPaid(o)
                | EventBody::PayoutItemFailed(o)
                | EventBody::PayoutItemReturned(o)
                | EventBody::PayoutItemUnclaimed(o)
                    if o.item_id == d.item_id =>
                {
                    Some(format!(
                        "{} (money {:?}){}{}",
                        e.type_name(),
                        o.movement,
                        o.reason
                            .as_deref()
                            .map(|r| format!(", reason: {r}"))
                            .unwrap_or_default(),
                        o.processor_event_id
                            .as_deref()
                            .map(|r| format!(", processor event {r}"))
                            .unwrap_or_default()
                    ))
                }
                _ => None,
            };
            if let Some(detail) = detail {
                println!(
                    "  {} {:<10} {detail}",
                    e.recorded_at().to_rfc3339(),
                    e.actor().id
                );
            }
        }
    }
    Ok(())
}
