//! Recording processors' notices (webhooks, status files) against payout
//! items, and keeping the ones that match no item for finance.

use event_store::{AppendRequest, EventStore, StoreError};
use ledger_domain::events::EventBody;
use ledger_domain::{
    CommandContext, Event, ItemOutcome, Money, OutcomeFacts, PayoutBatchCommand, PayoutBatchId,
    PayoutItemId, TenantId,
};

use super::batches::load_batch;
use crate::AppError;

/// What a processor said about an item, verified and parsed by its adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorNotice {
    pub processor: ledger_domain::Processor,
    /// The processor's own id of this news: the same id twice is recorded once.
    pub event_id: String,
    pub outcome: ItemOutcome,
    /// Where the item is, as far as the notice says.
    pub tenant_id: Option<String>,
    pub batch_id: Option<String>,
    pub item_id: Option<String>,
    /// The processor's reference (transfer, payout item, end-to-end id).
    /// When the item was submitted with a reference, a notice naming
    /// another one does not move it.
    pub reference: Option<String>,
    /// The destination the notice names (Stripe connected account, PayPal
    /// receiver, IBAN), if it names one: checked against the item's.
    pub account: Option<String>,
    /// The amount the notice states, if any. For a reversal it is the
    /// total reversed so far (Stripe's `amount_reversed`), so a partial
    /// reversal moves only what it says, and a repeat moves nothing more.
    pub amount: Option<Money>,
    pub reason: Option<String>,
}

/// What recording a notice did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeRecorded {
    /// Recorded; the money moved as `movement` says (or not at all).
    Outcome(ledger_domain::MoneyMovement),
    /// This news was recorded before.
    Duplicate,
    /// No such item: recorded for finance to look at, never retried.
    Unmatched,
}

/// The batch an item id of a drafting run belongs to (`pb-000001.7`).
fn batch_of(item_id: &str) -> Option<&str> {
    item_id.rsplit_once('.').map(|(batch, _)| batch)
}

/// Records a verified processor notice against its item, once. A notice
/// moves an item only if it is tied to it: the processor, the item's
/// processor reference, the account and the amount, where the notice names
/// them, must be the item's. Anything else is kept as unmatched, with the
/// reason, for finance; it never moves money and is never retried.
pub async fn record_notice<S: EventStore + ?Sized>(
    store: &S,
    notice: &ProcessorNotice,
    ctx_for: impl Fn(TenantId) -> CommandContext,
) -> Result<NoticeRecorded, AppError> {
    let tenant = notice
        .tenant_id
        .as_deref()
        .and_then(|t| TenantId::new(t).ok());
    let item = notice
        .item_id
        .as_deref()
        .and_then(|i| PayoutItemId::new(i).ok());
    let batch = notice
        .batch_id
        .as_deref()
        .or_else(|| notice.item_id.as_deref().and_then(batch_of))
        .and_then(|b| PayoutBatchId::new(b).ok());
    let mut unmatched_reason = "no payout item of this ledger matches it".to_owned();
    if let (Some(tenant_id), Some(item_id), Some(batch_id)) = (&tenant, &item, &batch) {
        let ctx = ctx_for(tenant_id.clone());
        let found = load_batch(store, tenant_id, batch_id)
            .await?
            .state()
            .is_some_and(|s| s.items.iter().any(|i| &i.drafted.item_id == item_id));
        if found {
            let executed = crate::run_payout_batch(
                store,
                batch_id,
                PayoutBatchCommand::RecordOutcome {
                    item_id: item_id.clone(),
                    outcome: notice.outcome,
                    processor_event_id: Some(notice.event_id.clone()),
                    reason: notice
                        .reason
                        .as_ref()
                        .map(|r| r.chars().take(200).collect()),
                    facts: OutcomeFacts {
                        processor: Some(notice.processor),
                        reference: notice.reference.clone(),
                        account: notice.account.clone(),
                        amount: notice.amount,
                    },
                },
                &ctx,
                None,
            )
            .await;
            match executed {
                Ok(executed) => {
                    return Ok(match executed.events.last().map(Event::body) {
                        None => NoticeRecorded::Duplicate,
                        Some(
                            EventBody::PayoutItemPaid(o)
                            | EventBody::PayoutItemFailed(o)
                            | EventBody::PayoutItemReturned(o)
                            | EventBody::PayoutItemUnclaimed(o)
                            | EventBody::PayoutItemReversed(o),
                        ) => NoticeRecorded::Outcome(o.movement),
                        Some(_) => NoticeRecorded::Outcome(ledger_domain::MoneyMovement::None),
                    });
                }
                Err(AppError::PayoutBatch(ledger_domain::PayoutBatchError::NoticeMismatch {
                    rule,
                    ..
                })) => unmatched_reason = rule,
                Err(e) => return Err(e),
            }
        }
    }
    record_unmatched(store, notice, tenant, &unmatched_reason, ctx_for).await
}

/// Keeps a notice that moved nothing under the tenant it names (or the
/// unmatched tenant), in its own stream keyed by the processor's event id,
/// so a repeat is a duplicate.
async fn record_unmatched<S: EventStore + ?Sized>(
    store: &S,
    notice: &ProcessorNotice,
    tenant: Option<TenantId>,
    reason: &str,
    ctx_for: impl Fn(TenantId) -> CommandContext,
) -> Result<NoticeRecorded, AppError> {
    let tenant_id = tenant.unwrap_or_else(|| {
        TenantId::new(UNMATCHED_TENANT).unwrap_or_else(|_| unreachable!("a valid literal id"))
    });
    let ctx = ctx_for(tenant_id.clone());
    let key: String = notice
        .event_id
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._:-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    let notice_id = ledger_domain::NoticeId::new(format!(
        "{}-{key}-{}",
        notice.processor.as_str(),
        &event_store_digest(&notice.event_id)[..8]
    ))?;
    let event = Event::new(
        tenant_id,
        ctx.actor.clone(),
        ctx.now,
        ctx.effective_at,
        EventBody::ProcessorNoticeUnmatched(ledger_domain::events::ProcessorNoticeUnmatched {
            notice_id,
            processor: notice.processor,
            processor_event_id: notice.event_id.clone(),
            outcome: format!("{:?}", notice.outcome).to_lowercase(),
            batch_id: notice.batch_id.clone(),
            item_id: notice.item_id.clone(),
            reference: notice.reference.clone(),
            reason: Some(
                reason
                    .chars()
                    .take(ledger_domain::events::TEXT_LEN_MAX / 4)
                    .collect(),
            ),
        }),
    );
    match store.append(AppendRequest::from_domain(0, &[event])?).await {
        Ok(_) => Ok(NoticeRecorded::Unmatched),
        Err(StoreError::VersionConflict { .. }) => Ok(NoticeRecorded::Duplicate),
        Err(e) => Err(e.into()),
    }
}

/// The tenant unmatched notices without a readable tenant are kept under.
pub const UNMATCHED_TENANT: &str = "_unmatched";

fn event_store_digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    hex::encode(Sha256::digest(text.as_bytes()))
}
