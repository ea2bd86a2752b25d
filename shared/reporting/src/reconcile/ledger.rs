//! The ledger's side: every payout item paid (or sent) through a processor.

use chrono::{DateTime, Utc};
use event_store::{EventStore, StreamId};
use ledger_domain::ItemOutcome;
use ledger_domain::events::{AggregateRef, EventBody, MoneyMovement, Processor, stream_name};
use ledger_domain::payout::{ItemStatus, PayoutBatch};
use ledger_domain::{Money, TenantId};
use serde::Serialize;

use crate::{ReportError, app};

/// Where a payout item stands in the ledger; written as its lowercase name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LedgerItemStatus {
    Awaiting,
    Submitted,
    Paid,
    Failed,
    Returned,
    Unclaimed,
    Reversed,
}

impl LedgerItemStatus {
    /// The name written for it.
    pub const fn as_str(self) -> &'static str {
        match self {
            LedgerItemStatus::Awaiting => "awaiting",
            LedgerItemStatus::Submitted => "submitted",
            LedgerItemStatus::Paid => "paid",
            LedgerItemStatus::Failed => "failed",
            LedgerItemStatus::Returned => "returned",
            LedgerItemStatus::Unclaimed => "unclaimed",
            LedgerItemStatus::Reversed => "reversed",
        }
    }

    fn of(status: ItemStatus) -> LedgerItemStatus {
        match status {
            ItemStatus::Awaiting => LedgerItemStatus::Awaiting,
            ItemStatus::Submitted => LedgerItemStatus::Submitted,
            ItemStatus::Paid | ItemStatus::Final(ItemOutcome::Paid) => LedgerItemStatus::Paid,
            ItemStatus::Final(ItemOutcome::Failed) => LedgerItemStatus::Failed,
            ItemStatus::Final(ItemOutcome::Returned) => LedgerItemStatus::Returned,
            ItemStatus::Final(ItemOutcome::Unclaimed) => LedgerItemStatus::Unclaimed,
            ItemStatus::Final(ItemOutcome::Reversed) => LedgerItemStatus::Reversed,
        }
    }
}

impl std::fmt::Display for LedgerItemStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for LedgerItemStatus {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Where one payout item stands in the ledger, for matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerItem {
    pub batch_id: String,
    pub item_id: String,
    pub affiliate_id: String,
    pub amount: Money,
    /// `paid`, `submitted`, `awaiting`, `failed`, `returned`, `unclaimed`,
    /// `reversed`.
    pub status: LedgerItemStatus,
    pub reference: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    pub(super) keys: Vec<String>,
}

/// Every payout item of a tenant paid (or sent) through `processor`, from
/// the batches of its draft log.
pub async fn ledger_items<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
    processor: Processor,
) -> Result<Vec<LedgerItem>, ReportError> {
    let drafts = StreamId::new(stream_name(tenant_id, AggregateRef::PayoutDrafts))?;
    let mut items = Vec::new();
    for registered in ledger_app::load(store, &drafts).await.map_err(app)? {
        let EventBody::PayoutDraftRegistered(r) = registered.body() else {
            continue;
        };
        let stream = StreamId::new(stream_name(
            tenant_id,
            AggregateRef::PayoutBatch(&r.batch_id),
        ))?;
        let events = ledger_app::load(store, &stream).await.map_err(app)?;
        let batch = PayoutBatch::from_events(&events);
        let Some(state) = batch.state() else { continue };
        for item in &state.items {
            if item.drafted.processor != processor {
                continue;
            }
            let mut reference = None;
            let mut paid_at = None;
            for e in &events {
                match e.body() {
                    EventBody::PayoutItemSubmitted(s)
                        if s.item_id == item.drafted.item_id && s.processor_reference.is_some() =>
                    {
                        reference.clone_from(&s.processor_reference);
                    }
                    EventBody::PayoutItemPaid(o)
                        if o.item_id == item.drafted.item_id
                            && o.movement == MoneyMovement::ReservedToPaid =>
                    {
                        paid_at = Some(e.effective_at());
                    }
                    _ => {}
                }
            }
            let status = LedgerItemStatus::of(item.status);
            let mut keys = vec![format!("{tenant_id}/{}", item.drafted.item_id)];
            if let Some(r) = &reference {
                keys.push(r.clone());
                // SEPA references are `file#end-to-end-id`.
                if let Some((_, e2e)) = r.rsplit_once('#') {
                    keys.push(e2e.to_owned());
                }
            }
            items.push(LedgerItem {
                batch_id: r.batch_id.to_string(),
                item_id: item.drafted.item_id.to_string(),
                affiliate_id: item.drafted.affiliate_id.to_string(),
                amount: item.drafted.amount,
                status,
                reference,
                paid_at,
                keys,
            });
        }
    }
    Ok(items)
}
