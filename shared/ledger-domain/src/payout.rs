//! The payout batch aggregate: drafted (funds reserved) -> approved by a
//! second person, or rejected (funds released) -> each item submitted and
//! settled: paid, failed, returned or unclaimed.
//!
//! Processors report late, twice and out of order. Every report is recorded,
//! but money moves only on the transitions below, so it moves at most once
//! each way:
//!
//! | item state | paid | failed / returned / unclaimed |
//! |---|---|---|
//! | approved or submitted | reserved -> clearing | reserved -> available (final) |
//! | paid | recorded only | clearing -> available (final) |
//! | final | recorded only | recorded only |
//!
//! A reversal (`payout_item.reversed`, Stripe's `transfer.reversed`) moves
//! only the part of the reversed total not moved before: a partial reversal
//! moves part of the paid money back to available and leaves the item
//! paid; the item is returned (final) when the whole amount came back.
//!
//! News is tied to its item: a notice that names another processor,
//! another processor reference, another account or another amount than the
//! item's is refused (`NoticeMismatch`) and moves nothing.

use std::collections::BTreeMap;

use iso_currency::Currency;
use rustc_hash::FxHashSet;
use serde::Deserialize;

use chrono::{DateTime, NaiveDate, Utc};

use crate::context::CommandContext;
use crate::events::{
    ApprovalAuthority, DraftedItem, Event, EventBody, MoneyMovement, PayoutApprovalTallied,
    PayoutBatchApproved, PayoutBatchDrafted, PayoutBatchRejected, PayoutDraftRegistered,
    PayoutItemClaimed, PayoutItemOutcome, PayoutItemSubmitted, Processor, SkipReason, TextError,
    check_text,
};
use crate::ids::{AffiliateId, PayoutBatchId, PayoutItemId, PayoutRunId, TenantId};
use crate::money::{Money, MoneyError, currency_from_code};
use crate::profile::PayoutProfile;

/// The most items one batch may hold; larger drafts continue in a new batch.
pub const PAYOUT_ITEMS_PER_BATCH_MAX: usize = 500;

/// What a processor reported about an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemOutcome {
    Paid,
    Failed,
    Returned,
    Unclaimed,
    /// Part or all of a paid item was taken back (Stripe's
    /// `transfer.reversed`); the facts' amount is the total reversed so far.
    Reversed,
}

/// What a processor's news says about the item beyond its outcome, each
/// checked against the item when given. Dispatch's own records give none.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OutcomeFacts {
    pub processor: Option<Processor>,
    /// The processor's reference of the payment (transfer id, payout item
    /// id, end-to-end id).
    pub reference: Option<String>,
    /// The account the news names (connected account, receiver, IBAN).
    pub account: Option<String>,
    /// The amount the news states; for a reversal, the total reversed so far.
    pub amount: Option<Money>,
}

/// The longest a dispatcher's claim on an item may be leased for.
pub const CLAIM_LEASE_SECONDS_MAX: i64 = 15 * 60;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PayoutBatchCommand {
    Draft {
        batch_id: PayoutBatchId,
        items: Vec<DraftedItem>,
        /// The tenant draft sequence number this batch takes.
        sequence: u64,
        run_id: Option<PayoutRunId>,
    },
    Approve {
        authority: ApprovalAuthority,
        limits: ApprovalLimits,
        /// What the approver already approved today (UTC), per currency,
        /// from their `payout-approvals` day stream.
        approved_today: Vec<Money>,
    },
    /// A dispatcher takes an item before calling its processor.
    Claim {
        item_id: PayoutItemId,
        claim_id: String,
        lease_until: DateTime<Utc>,
    },
    /// A dispatcher whose attempt ended with the outcome unknown lets the
    /// item go, so the retry need not wait for the lease to run out.
    Release {
        item_id: PayoutItemId,
        claim_id: String,
    },
    Reject {
        reason: String,
    },
    Submit {
        item_id: PayoutItemId,
        processor_reference: Option<String>,
    },
    RecordOutcome {
        item_id: PayoutItemId,
        outcome: ItemOutcome,
        processor_event_id: Option<String>,
        reason: Option<String>,
        facts: OutcomeFacts,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayoutBatchError {
    #[error("payout batch {0} is already drafted")]
    AlreadyDrafted(PayoutBatchId),
    #[error("payout batch is not drafted")]
    NotDrafted,
    #[error("a batch needs 1 to {max} items, got {got}")]
    ItemCount { got: usize, max: usize },
    #[error("items[{index}]: item id {item_id} appears twice")]
    DuplicateItem { index: usize, item_id: PayoutItemId },
    #[error(
        "items[{index}]: affiliate {affiliate_id} already has an item in {currency} in this batch"
    )]
    DuplicateAffiliateCurrency {
        index: usize,
        affiliate_id: String,
        currency: &'static str,
    },
    #[error("items[{index}].amount must be greater than zero")]
    ItemNotPositive { index: usize },
    #[error("items[{index}].receivable_netted must not be negative")]
    NettedNegative { index: usize },
    #[error("the maker {maker} of batch {batch_id} cannot approve it: a second person must")]
    MakerCannotApprove {
        batch_id: PayoutBatchId,
        maker: String,
    },
    #[error("payout batch {0} is already approved")]
    AlreadyApproved(PayoutBatchId),
    #[error("payout batch {batch_id} needs an admin's approval: {rule}")]
    NeedsAdmin {
        batch_id: PayoutBatchId,
        rule: String,
    },
    #[error("payout batch {0} was rejected")]
    Rejected(PayoutBatchId),
    #[error("payout batch {0} is not approved yet")]
    NotApproved(PayoutBatchId),
    #[error("payout batch {batch_id} has no item {item_id}")]
    UnknownItem {
        batch_id: PayoutBatchId,
        item_id: PayoutItemId,
    },
    #[error("item {0} was already submitted or settled")]
    AlreadySubmitted(PayoutItemId),
    #[error("item {item_id} is being sent by another dispatcher until {lease_until}")]
    Claimed {
        item_id: PayoutItemId,
        lease_until: DateTime<Utc>,
    },
    #[error("lease_until must be after now and at most {max_seconds} s ahead")]
    LeaseOutOfRange { max_seconds: i64 },
    #[error("the notice does not match item {item_id}: {rule}")]
    NoticeMismatch { item_id: PayoutItemId, rule: String },
    #[error("payout batch {batch_id} belongs to tenant {owner}, not {requested}")]
    WrongTenant {
        batch_id: PayoutBatchId,
        owner: TenantId,
        requested: TenantId,
    },
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Text(#[from] TextError),
}

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
    /// What the processor reversed of it so far (zero if nothing).
    pub reversed: Money,
    /// When it was submitted (`recorded_at` of its submission).
    pub submitted_at: Option<DateTime<Utc>>,
}

impl BatchItem {
    /// Checks a notice's facts against this item.
    fn check_facts(&self, facts: &OutcomeFacts) -> Result<(), String> {
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
    fn item(&self, item_id: &PayoutItemId) -> Result<&BatchItem, PayoutBatchError> {
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
    state: Option<DraftedBatch>,
    version: u64,
}

fn validate_items(items: &[DraftedItem]) -> Result<(), PayoutBatchError> {
    if items.is_empty() || items.len() > PAYOUT_ITEMS_PER_BATCH_MAX {
        return Err(PayoutBatchError::ItemCount {
            got: items.len(),
            max: PAYOUT_ITEMS_PER_BATCH_MAX,
        });
    }
    let mut item_ids = FxHashSet::default();
    let mut pairs = FxHashSet::default();
    for (index, item) in items.iter().enumerate() {
        if !item_ids.insert(&item.item_id) {
            return Err(PayoutBatchError::DuplicateItem {
                index,
                item_id: item.item_id.clone(),
            });
        }
        if !pairs.insert((&item.affiliate_id, item.amount.currency())) {
            return Err(PayoutBatchError::DuplicateAffiliateCurrency {
                index,
                affiliate_id: item.affiliate_id.to_string(),
                currency: item.amount.currency().code(),
            });
        }
        if !item.amount.is_positive() {
            return Err(PayoutBatchError::ItemNotPositive { index });
        }
        // Same currency as the amount, and not negative.
        item.amount.checked_add(&item.receivable_netted)?;
        if item.receivable_netted.is_negative() {
            return Err(PayoutBatchError::NettedNegative { index });
        }
    }
    Ok(())
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

    /// Decides what happens. Never mutates.
    pub fn handle(
        &self,
        command: PayoutBatchCommand,
        ctx: &CommandContext,
    ) -> Result<Vec<Event>, PayoutBatchError> {
        let state = match (&self.state, &command) {
            (
                None,
                PayoutBatchCommand::Draft {
                    batch_id,
                    items,
                    sequence,
                    run_id,
                },
            ) => {
                validate_items(items)?;
                let body = EventBody::PayoutBatchDrafted(PayoutBatchDrafted {
                    batch_id: batch_id.clone(),
                    items: items.clone(),
                    sequence: *sequence,
                    run_id: run_id.clone(),
                });
                let register = EventBody::PayoutDraftRegistered(PayoutDraftRegistered {
                    batch_id: batch_id.clone(),
                    sequence: *sequence,
                });
                return Ok(vec![ctx.event_for(body), ctx.event_for(register)]);
            }
            (Some(state), PayoutBatchCommand::Draft { .. }) => {
                return Err(PayoutBatchError::AlreadyDrafted(state.batch_id.clone()));
            }
            (None, _) => return Err(PayoutBatchError::NotDrafted),
            (Some(state), _) => state,
        };
        if state.tenant_id != ctx.tenant_id {
            return Err(PayoutBatchError::WrongTenant {
                batch_id: state.batch_id.clone(),
                owner: state.tenant_id.clone(),
                requested: ctx.tenant_id.clone(),
            });
        }
        let batch_id = state.batch_id.clone();
        let body = match command {
            PayoutBatchCommand::Draft { .. } => {
                return Err(PayoutBatchError::AlreadyDrafted(batch_id));
            }
            PayoutBatchCommand::Approve {
                authority,
                limits,
                approved_today,
            } => {
                match state.status {
                    BatchStatus::Approved => {
                        return Err(PayoutBatchError::AlreadyApproved(batch_id));
                    }
                    BatchStatus::Rejected => return Err(PayoutBatchError::Rejected(batch_id)),
                    BatchStatus::Drafted => {}
                }
                if ctx.actor.id == state.maker {
                    return Err(PayoutBatchError::MakerCannotApprove {
                        batch_id,
                        maker: state.maker.clone(),
                    });
                }
                if authority != ApprovalAuthority::Admin {
                    if let Some(rule) = limits.exceeded_by(state, &approved_today) {
                        return Err(PayoutBatchError::NeedsAdmin { batch_id, rule });
                    }
                }
                let approved = EventBody::PayoutBatchApproved(PayoutBatchApproved {
                    batch_id: batch_id.clone(),
                    authority: Some(authority),
                });
                let tallied = EventBody::PayoutApprovalTallied(PayoutApprovalTallied {
                    approver: ctx.actor.id.clone(),
                    day: approval_day(ctx.now),
                    batch_id,
                    totals: batch_totals(state)?,
                });
                return Ok(vec![ctx.event_for(approved), ctx.event_for(tallied)]);
            }
            PayoutBatchCommand::Claim {
                item_id,
                claim_id,
                lease_until,
            } => {
                self.require_approved(state)?;
                check_text("claim_id", &claim_id, 1)?;
                if lease_until <= ctx.now
                    || lease_until - ctx.now > chrono::Duration::seconds(CLAIM_LEASE_SECONDS_MAX)
                {
                    return Err(PayoutBatchError::LeaseOutOfRange {
                        max_seconds: CLAIM_LEASE_SECONDS_MAX,
                    });
                }
                let item = state.item(&item_id)?;
                if item.status != ItemStatus::Awaiting {
                    return Err(PayoutBatchError::AlreadySubmitted(item_id));
                }
                if let Some((holder, until)) = &item.claim {
                    if holder != &claim_id && *until > ctx.now {
                        return Err(PayoutBatchError::Claimed {
                            item_id,
                            lease_until: *until,
                        });
                    }
                }
                EventBody::PayoutItemClaimed(PayoutItemClaimed {
                    batch_id,
                    item_id,
                    claim_id,
                    lease_until,
                })
            }
            PayoutBatchCommand::Release { item_id, claim_id } => {
                let item = state.item(&item_id)?;
                let holds = item
                    .claim
                    .as_ref()
                    .is_some_and(|(holder, until)| holder == &claim_id && *until > ctx.now);
                if item.status != ItemStatus::Awaiting || !holds {
                    return Ok(vec![]);
                }
                // A lease that ends now: released.
                EventBody::PayoutItemClaimed(PayoutItemClaimed {
                    batch_id,
                    item_id,
                    claim_id,
                    lease_until: ctx.now,
                })
            }
            PayoutBatchCommand::Reject { reason } => {
                match state.status {
                    BatchStatus::Approved => {
                        return Err(PayoutBatchError::AlreadyApproved(batch_id));
                    }
                    BatchStatus::Rejected => return Err(PayoutBatchError::Rejected(batch_id)),
                    BatchStatus::Drafted => {}
                }
                check_text("reason", &reason, 1)?;
                EventBody::PayoutBatchRejected(PayoutBatchRejected {
                    batch_id,
                    reason,
                    released: state.items.iter().map(|i| i.drafted.clone()).collect(),
                })
            }
            PayoutBatchCommand::Submit {
                item_id,
                processor_reference,
            } => {
                self.require_approved(state)?;
                if let Some(reference) = &processor_reference {
                    check_text("processor_reference", reference, 1)?;
                }
                let item = state.item(&item_id)?;
                if item.status != ItemStatus::Awaiting {
                    return Err(PayoutBatchError::AlreadySubmitted(item_id));
                }
                EventBody::PayoutItemSubmitted(PayoutItemSubmitted {
                    batch_id,
                    item_id,
                    affiliate_id: item.drafted.affiliate_id.clone(),
                    amount: item.drafted.amount,
                    processor: item.drafted.processor,
                    processor_reference,
                })
            }
            PayoutBatchCommand::RecordOutcome {
                item_id,
                outcome,
                processor_event_id,
                reason,
                facts,
            } => {
                self.require_approved(state)?;
                if let Some(id) = &processor_event_id {
                    check_text("processor_event_id", id, 1)?;
                    if state.processor_events.contains(id) {
                        return Ok(vec![]);
                    }
                }
                if let Some(reason) = &reason {
                    check_text("reason", reason, 1)?;
                }
                let item = state.item(&item_id)?;
                let mismatch = |rule: String| PayoutBatchError::NoticeMismatch {
                    item_id: item_id.clone(),
                    rule,
                };
                item.check_facts(&facts).map_err(mismatch)?;
                let outcome_of = |amount: Money, movement, reversed_total| PayoutItemOutcome {
                    batch_id: batch_id.clone(),
                    item_id: item_id.clone(),
                    affiliate_id: item.drafted.affiliate_id.clone(),
                    amount,
                    processor: item.drafted.processor,
                    processor_event_id: processor_event_id.clone(),
                    reason: reason.clone(),
                    movement,
                    reversed_total,
                };
                if outcome == ItemOutcome::Reversed {
                    let total = facts.amount.unwrap_or(item.drafted.amount);
                    if total.currency() != item.drafted.amount.currency()
                        || !total.is_positive()
                        || total.amount() > item.drafted.amount.amount()
                    {
                        return Err(mismatch(format!(
                            "it reverses {} {} of an item of {} {}",
                            total.amount(),
                            total.currency().code(),
                            item.drafted.amount.amount(),
                            item.drafted.amount.currency().code()
                        )));
                    }
                    let mut events = Vec::with_capacity(2);
                    let not_yet_paid =
                        matches!(item.status, ItemStatus::Awaiting | ItemStatus::Submitted);
                    if not_yet_paid {
                        // A transfer that is reversed was made: record it
                        // paid first, so the reversal moves paid money.
                        events.push(ctx.event_for(EventBody::PayoutItemPaid(outcome_of(
                            item.drafted.amount,
                            MoneyMovement::ReservedToPaid,
                            None,
                        ))));
                    }
                    let moves = not_yet_paid || item.status == ItemStatus::Paid;
                    let delta = total.checked_sub(&item.reversed)?;
                    let body = if moves && delta.is_positive() {
                        outcome_of(delta, MoneyMovement::PaidToAvailable, Some(total))
                    } else {
                        outcome_of(total.zero_like(), MoneyMovement::None, Some(total))
                    };
                    events.push(ctx.event_for(EventBody::PayoutItemReversed(body)));
                    return Ok(events);
                }
                if let Some(amount) = facts.amount {
                    if amount != item.drafted.amount {
                        return Err(mismatch(format!(
                            "it states {} {}, the item pays {} {}",
                            amount.amount(),
                            amount.currency().code(),
                            item.drafted.amount.amount(),
                            item.drafted.amount.currency().code()
                        )));
                    }
                }
                let movement = match (item.status, outcome) {
                    (ItemStatus::Awaiting | ItemStatus::Submitted, ItemOutcome::Paid) => {
                        MoneyMovement::ReservedToPaid
                    }
                    (ItemStatus::Awaiting | ItemStatus::Submitted, _) => {
                        MoneyMovement::ReservedToAvailable
                    }
                    (ItemStatus::Paid, ItemOutcome::Paid) => MoneyMovement::None,
                    (ItemStatus::Paid, _) => MoneyMovement::PaidToAvailable,
                    (ItemStatus::Final(_), _) => MoneyMovement::None,
                };
                // After a partial reversal, only what is still paid out
                // comes back.
                let amount = match movement {
                    MoneyMovement::PaidToAvailable => {
                        item.drafted.amount.checked_sub(&item.reversed)?
                    }
                    _ => item.drafted.amount,
                };
                let o = outcome_of(amount, movement, None);
                match outcome {
                    ItemOutcome::Paid => EventBody::PayoutItemPaid(o),
                    ItemOutcome::Failed => EventBody::PayoutItemFailed(o),
                    ItemOutcome::Returned => EventBody::PayoutItemReturned(o),
                    ItemOutcome::Unclaimed | ItemOutcome::Reversed => {
                        EventBody::PayoutItemUnclaimed(o)
                    }
                }
            }
        };
        Ok(vec![ctx.event_for(body)])
    }

    fn require_approved(&self, state: &DraftedBatch) -> Result<(), PayoutBatchError> {
        match state.status {
            BatchStatus::Approved => Ok(()),
            BatchStatus::Rejected => Err(PayoutBatchError::Rejected(state.batch_id.clone())),
            BatchStatus::Drafted => Err(PayoutBatchError::NotApproved(state.batch_id.clone())),
        }
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

/// The day (UTC) an approval counts against its approver's daily limit.
pub fn approval_day(now: DateTime<Utc>) -> NaiveDate {
    now.date_naive()
}

/// What a batch pays, per currency (in currency code order).
pub fn batch_totals(batch: &DraftedBatch) -> Result<Vec<Money>, MoneyError> {
    let mut totals: BTreeMap<&'static str, Money> = BTreeMap::new();
    for item in &batch.items {
        let amount = item.drafted.amount;
        let total = totals
            .entry(amount.currency().code())
            .or_insert_with(|| amount.zero_like());
        *total = total.checked_add(&amount)?;
    }
    Ok(totals.into_values().collect())
}

/// Approval limits per currency, required: a batch in a currency with no
/// limits configured, or above any limit, needs an admin's approval.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ApprovalLimits {
    limits: BTreeMap<&'static str, CurrencyLimits>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CurrencyLimits {
    /// The largest single item finance may approve.
    pub item_max: Option<Money>,
    /// The largest batch total (in this currency) finance may approve.
    pub batch_total_max: Option<Money>,
    /// The most one approver may approve in one day (UTC), all batches
    /// together: many small batches cannot get around the batch limit.
    pub approver_daily_max: Option<Money>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsWire {
    item_max: Option<String>,
    batch_total_max: Option<String>,
    approver_daily_max: Option<String>,
}

impl ApprovalLimits {
    /// Parses `{"EUR": {"item_max": "5000.00", "batch_total_max": "100000.00",
    /// "approver_daily_max": "250000.00"}}`. Every currency listed must set
    /// at least one limit; a currency not listed needs an admin.
    pub fn from_json(text: &str) -> Result<Self, String> {
        let wire: BTreeMap<String, LimitsWire> =
            serde_json::from_str(text).map_err(|e| format!("approval limits: {e}"))?;
        let mut limits = BTreeMap::new();
        for (code, l) in wire {
            let currency = currency_from_code(&code).map_err(|e| e.to_string())?;
            let parse = |v: Option<String>, what: &str| {
                v.map(|v| {
                    Money::parse(&v, currency)
                        .map_err(|e| format!("approval limits {code}.{what}: {e}"))
                        .and_then(|m| {
                            if m.is_positive() {
                                Ok(m)
                            } else {
                                Err(format!("approval limits {code}.{what} must be positive"))
                            }
                        })
                })
                .transpose()
            };
            let parsed = CurrencyLimits {
                item_max: parse(l.item_max, "item_max")?,
                batch_total_max: parse(l.batch_total_max, "batch_total_max")?,
                approver_daily_max: parse(l.approver_daily_max, "approver_daily_max")?,
            };
            if parsed == CurrencyLimits::default() {
                return Err(format!(
                    "approval limits {code}: set at least one of item_max, batch_total_max, approver_daily_max"
                ));
            }
            limits.insert(currency.code(), parsed);
        }
        Ok(ApprovalLimits { limits })
    }

    pub fn set(&mut self, currency: Currency, limits: CurrencyLimits) {
        self.limits.insert(currency.code(), limits);
    }

    /// Whether any currency has limits (without any, only admins approve).
    pub fn is_empty(&self) -> bool {
        self.limits.is_empty()
    }

    /// The first rule a batch breaks, described for the approver, given
    /// what the approver already approved today (per currency).
    pub fn exceeded_by(&self, batch: &DraftedBatch, approved_today: &[Money]) -> Option<String> {
        for item in &batch.items {
            let amount = item.drafted.amount;
            let code = amount.currency().code();
            let Some(limit) = self.limits.get(code) else {
                return Some(format!(
                    "no approval limit is configured for {code}: only an admin may approve"
                ));
            };
            if let Some(max) = limit.item_max {
                if amount.amount() > max.amount() {
                    return Some(format!(
                        "item {} pays {} {code}, above the {} {code} item limit",
                        item.drafted.item_id,
                        amount.amount(),
                        max.amount(),
                    ));
                }
            }
        }
        // Items are bounded in size and count: a total out of range needs
        // an admin.
        let Ok(totals) = batch_totals(batch) else {
            return Some("the batch total is out of range".to_owned());
        };
        for total in totals {
            let code = total.currency().code();
            let limit = self.limits.get(code)?;
            if let Some(max) = limit.batch_total_max {
                if total.amount() > max.amount() {
                    return Some(format!(
                        "the batch pays {} {code} in total, above the {} {code} batch limit",
                        total.amount(),
                        max.amount()
                    ));
                }
            }
            if let Some(max) = limit.approver_daily_max {
                let before = approved_today
                    .iter()
                    .filter(|m| m.currency() == total.currency())
                    .try_fold(total.zero_like(), |sum, m| sum.checked_add(m));
                let after = before.and_then(|b| b.checked_add(&total).map(|a| (b, a)));
                match after {
                    Ok((_, after)) if after.amount() <= max.amount() => {}
                    Ok((before_amount, _)) => {
                        return Some(format!(
                            "this approver already approved {} {code} today; with this batch's {} {code} that is above the {} {code} daily limit per approver",
                            before_amount.amount(),
                            total.amount(),
                            max.amount()
                        ));
                    }
                    Err(_) => return Some("the day's approved total is out of range".to_owned()),
                }
            }
        }
        None
    }
}

/// One (affiliate, currency) balance drafting looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayoutCandidate {
    pub affiliate_id: AffiliateId,
    /// The available balance (what the affiliate may be paid).
    pub available: Money,
    /// Clawbacks owed, as a positive amount (zero if none).
    pub receivable: Money,
    pub profile: Option<PayoutProfile>,
}

/// What drafting does with one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Planned {
    /// Pay `amount` through `processor`, settling `receivable_netted` of
    /// clawbacks from the same available money.
    Pay {
        amount: Money,
        receivable_netted: Money,
        processor: Processor,
        /// The method's destination, bound to the item.
        destination: crate::events::Destination,
    },
    /// Left out, for the recorded reason.
    Skip(SkipReason),
    /// Nothing available: not worth a record.
    Nothing,
}

/// Decides one candidate: pays what is available less clawbacks owed, if
/// the affiliate can be paid and it reaches their minimum (or the default).
pub fn plan_payout(candidate: &PayoutCandidate, default_minimum: Option<Money>) -> Planned {
    let currency = candidate.available.currency();
    if !candidate.available.is_positive() {
        return Planned::Nothing;
    }
    let profile = candidate.profile.as_ref();
    let Some(method) = profile.and_then(|p| p.method.as_ref()) else {
        return Planned::Skip(SkipReason::NoPayoutMethod);
    };
    let profile = profile.expect("a method implies a profile");
    if !profile.holds.is_empty() {
        return Planned::Skip(SkipReason::OnHold {
            holds: profile.holds.iter().copied().collect(),
        });
    }
    let processor = method.processor();
    if !processor.pays_in(currency) {
        return Planned::Skip(SkipReason::CurrencyNotSupported { processor });
    }
    let receivable =
        if candidate.receivable.is_positive() && candidate.receivable.currency() == currency {
            candidate.receivable
        } else {
            candidate.available.zero_like()
        };
    let amount = match candidate.available.checked_sub(&receivable) {
        Ok(amount) if amount.is_positive() => amount,
        _ => return Planned::Skip(SkipReason::ReceivableCoversAvailable { receivable }),
    };
    // The processor's own unit (whole forints, tens of fils): what does not
    // fit stays available for the next payout.
    let amount = match processor.payable(&amount) {
        Ok(payable) if payable.is_positive() => payable,
        _ => return Planned::Skip(SkipReason::CurrencyNotSupported { processor }),
    };
    let minimum = profile
        .minimum(currency)
        .or(default_minimum.filter(|m| m.currency() == currency));
    if let Some(minimum) = minimum {
        if amount.amount() < minimum.amount() {
            return Planned::Skip(SkipReason::BelowMinimum { minimum });
        }
    }
    Planned::Pay {
        amount,
        receivable_netted: receivable,
        processor,
        destination: method.destination(),
    }
}
