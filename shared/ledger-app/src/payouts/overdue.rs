//! Finding submitted file-paid items (SEPA) whose bank has sent no status
//! for too many business days.

use event_store::EventStore;
use ledger_domain::payout::ItemStatus;
use ledger_domain::{AffiliateId, Money, PayoutBatchId, PayoutItemId, TenantId};
use serde::Serialize;

use super::batches::{drafted_batch_ids, load_batch};
use crate::AppError;

/// A submitted item paid by file whose bank has sent no status for longer
/// than allowed: its money is still reserved, and finance must chase it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverdueItem {
    pub batch_id: PayoutBatchId,
    pub item_id: PayoutItemId,
    pub affiliate_id: AffiliateId,
    pub amount: Money,
    pub processor: ledger_domain::Processor,
    pub submitted_at: chrono::DateTime<chrono::Utc>,
    pub business_days: u32,
}

/// TARGET2 business days (Monday to Friday, less 1 January, 1 May, 25 and
/// 26 December) after `from` up to `to`. Easter holidays are not counted
/// out: an item is at worst reported a day early.
pub fn business_days_between(
    from: chrono::DateTime<chrono::Utc>,
    to: chrono::DateTime<chrono::Utc>,
) -> u32 {
    use chrono::Datelike;
    let mut day = from.date_naive();
    let end = to.date_naive();
    let mut count = 0u32;
    // Bounded: a submission older than ten years counts as ten years.
    for _ in 0..3660 {
        if day >= end {
            break;
        }
        day = day.succ_opt().unwrap_or(end);
        let weekday = day.weekday().num_days_from_monday() < 5;
        let closed = matches!(
            (day.month(), day.day()),
            (1, 1) | (5, 1) | (12, 25) | (12, 26)
        );
        if weekday && !closed {
            count += 1;
        }
    }
    count
}

/// The tenant's submitted items of file processors (SEPA) with no status
/// after more than `business_days_max` business days, newest batches first,
/// at most `limit`. Banks answer a pain.001 within a day or two; silence
/// means a file that was never delivered or a status that was lost.
pub async fn overdue_file_items<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
    business_days_max: u32,
    limit: usize,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Vec<OverdueItem>, AppError> {
    let batch_ids = drafted_batch_ids(store, tenant_id).await?;
    let mut overdue = Vec::new();
    for batch_id in batch_ids.into_iter().rev() {
        let batch = load_batch(store, tenant_id, &batch_id).await?;
        let Some(state) = batch.state() else { continue };
        for item in &state.items {
            if overdue.len() >= limit {
                return Ok(overdue);
            }
            // Only file processors: the others are asked by the poller.
            if item.status != ItemStatus::Submitted
                || item.drafted.processor != ledger_domain::Processor::Sepa
            {
                continue;
            }
            let Some(submitted_at) = item.submitted_at else {
                continue;
            };
            let days = business_days_between(submitted_at, now);
            if days > business_days_max {
                overdue.push(OverdueItem {
                    batch_id: batch_id.clone(),
                    item_id: item.drafted.item_id.clone(),
                    affiliate_id: item.drafted.affiliate_id.clone(),
                    amount: item.drafted.amount,
                    processor: item.drafted.processor,
                    submitted_at,
                    business_days: days,
                });
            }
        }
    }
    Ok(overdue)
}
