//! The payout batch's state, rebuilt from its events: the batch, its items
//! and where each stands.

use rustc_hash::FxHashSet;

use chrono::{DateTime, Utc};

use super::{ItemOutcome, OutcomeFacts, PayoutBatchError};
use crate::events::{DraftedItem, Event, EventBody, MoneyMovement};
use crate::ids::{PayoutBatchId, PayoutItemId, TenantId};
use crate::money::Money;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchStatus {
    Drafted,
    Approved,
    Rejected,
}

/// Where one item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemStatus {
    /// In the batch, not yet sent to the processor.
    Awaiting,
    Submitted,
    /// Paid; may still come back (returned, reversed).
    Paid,
    /// Failed, returned or unclaimed: its money is back on available. Final.
    Final(ItemOutcome),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    pub drafted: DraftedItem,
    pub status: ItemStatus,
    /// The processor's reference recorded when it was submitted.
    pub reference: Option<String>,
    /// The dispatcher holding it, and until when.
    pub claim: Option<(String, DateTime<Utc>)>,
    /// The processor account its first attempt named (see
    /// `PayoutItemClaimed::account`); every later attempt must name it too.
    pub paying_account: Option<String>,
    /// What the processor reversed of it so far (zero if nothing).
    pub reversed: Money,
    /// When it was submitted (`recorded_at` of its submission).
    pub submitted_at: Option<DateTime<Utc>>,
}

impl BatchItem {
    /// Checks a notice's facts against this item.
    pub(super) fn check_facts(&self, facts: &OutcomeFacts) -> Result<(), String> {
        let d = &self.drafted;
        if let Some(p) = facts.processor {
            if p != d.processor {
                return Err(format!(
                    "it comes from {}, the item is paid through {}",
                    p.as_str(),
                    d.processor.as_str()
                ));
            }
        }
        if let (Some(theirs), Some(ours)) = (&facts.reference, &self.reference) {
            let same = ours == theirs || ours.ends_with(&format!("#{theirs}"));
            if !same {
                return Err(format!(
                    "it names processor reference {theirs:?}, the item was submitted as {ours:?}"
                ));
            }
        }
        if let (Some(account), Some(destination)) = (&facts.account, &d.destination) {
            let named = crate::profile::account_fingerprint(d.processor, account);
            if named != destination.account_fingerprint {
                return Err(format!(
                    "it names another account than the item's destination {}",
                    destination.masked
                ));
            }
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DraftedBatch {
    pub tenant_id: TenantId,
    pub batch_id: PayoutBatchId,
    /// The actor id of the maker, who may not approve.
    pub maker: String,
    pub status: BatchStatus,
    pub items: Vec<BatchItem>,
    /// Processor event ids already recorded: the same news twice is a
    /// duplicate, decided as nothing.
    pub processor_events: FxHashSet<String>,
}

impl DraftedBatch {
    pub(super) fn item(&self, item_id: &PayoutItemId) -> Result<&BatchItem, PayoutBatchError> {
        self.items
            .iter()
            .find(|i| &i.drafted.item_id == item_id)
            .ok_or_else(|| PayoutBatchError::UnknownItem {
                batch_id: self.batch_id.clone(),
                item_id: item_id.clone(),
            })
    }
}

/// The state of one payout batch, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PayoutBatch {
    pub(super) state: Option<DraftedBatch>,
    pub(super) version: u64,
}

impl PayoutBatch {
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut batch = PayoutBatch::default();
        for event in events {
            batch.apply(event);
        }
        batch
    }

    pub fn state(&self) -> Option<&DraftedBatch> {
        self.state.as_ref()
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    /// Evolves the state. Never fails; events of other aggregates are ignored.
    pub fn apply(&mut self, event: &Event) {
        fn item_mut<'s>(
            state: &'s mut DraftedBatch,
            item_id: &PayoutItemId,
        ) -> Option<&'s mut BatchItem> {
            state
                .items
                .iter_mut()
                .find(|i| &i.drafted.item_id == item_id)
        }
        let set_item = |state: &mut DraftedBatch, item_id: &PayoutItemId, status: ItemStatus| {
            if let Some(item) = item_mut(state, item_id) {
                item.status = status;
            }
        };
        match (event.body(), &mut self.state) {
            (EventBody::PayoutBatchDrafted(e), None) => {
                self.state = Some(DraftedBatch {
                    tenant_id: event.tenant_id().clone(),
                    batch_id: e.batch_id.clone(),
                    maker: event.actor().id.clone(),
                    status: BatchStatus::Drafted,
                    items: e
                        .items
                        .iter()
                        .map(|d| BatchItem {
                            drafted: d.clone(),
                            status: ItemStatus::Awaiting,
                            reference: None,
                            claim: None,
                            paying_account: None,
                            reversed: d.amount.zero_like(),
                            submitted_at: None,
                        })
                        .collect(),
                    processor_events: FxHashSet::default(),
                });
            }
            (EventBody::PayoutBatchApproved(_), Some(state)) => {
                state.status = BatchStatus::Approved
            }
            (EventBody::PayoutBatchRejected(_), Some(state)) => {
                state.status = BatchStatus::Rejected
            }
            (EventBody::PayoutItemSubmitted(e), Some(state)) => {
                if let Some(item) = item_mut(state, &e.item_id) {
                    item.status = ItemStatus::Submitted;
                    item.reference = e.processor_reference.clone();
                    item.submitted_at = Some(event.recorded_at());
                }
            }
            (EventBody::PayoutItemClaimed(e), Some(state)) => {
                if let Some(item) = item_mut(state, &e.item_id) {
                    item.claim = Some((e.claim_id.clone(), e.lease_until));
                    if item.paying_account.is_none() {
                        item.paying_account = e.account.clone();
                    }
                }
            }
            (EventBody::PayoutItemReversed(o), Some(state)) => {
                if let Some(id) = &o.processor_event_id {
                    state.processor_events.insert(id.clone());
                }
                if let Some(item) = item_mut(state, &o.item_id) {
                    if o.movement == MoneyMovement::PaidToAvailable {
                        if let Ok(total) = item.reversed.checked_add(&o.amount) {
                            item.reversed = total;
                        }
                        if item.reversed == item.drafted.amount {
                            item.status = ItemStatus::Final(ItemOutcome::Returned);
                        }
                    }
                }
            }
            (EventBody::PayoutItemPaid(o), Some(state)) => {
                if let Some(id) = &o.processor_event_id {
                    state.processor_events.insert(id.clone());
                }
                if o.movement == MoneyMovement::ReservedToPaid {
                    set_item(state, &o.item_id, ItemStatus::Paid);
                }
            }
            (EventBody::PayoutItemFailed(o), Some(state))
            | (EventBody::PayoutItemReturned(o), Some(state))
            | (EventBody::PayoutItemUnclaimed(o), Some(state)) => {
                if let Some(id) = &o.processor_event_id {
                    state.processor_events.insert(id.clone());
                }
                if o.movement != MoneyMovement::None {
                    let outcome = match event.body() {
                        EventBody::PayoutItemFailed(_) => ItemOutcome::Failed,
                        EventBody::PayoutItemReturned(_) => ItemOutcome::Returned,
                        _ => ItemOutcome::Unclaimed,
                    };
                    set_item(state, &o.item_id, ItemStatus::Final(outcome));
                }
            }
            _ => return,
        }
        self.version += 1;
    }
}
