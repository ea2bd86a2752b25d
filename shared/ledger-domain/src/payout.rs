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

use std::collections::BTreeMap;

use iso_currency::Currency;
use rustc_hash::FxHashSet;
use serde::Deserialize;

use crate::commission::CommandContext;
use crate::events::{
    ApprovalAuthority, DraftedItem, Event, EventBody, MoneyMovement, PayoutBatchApproved,
    PayoutBatchDrafted, PayoutBatchRejected, PayoutDraftRegistered, PayoutItemOutcome,
    PayoutItemSubmitted, Processor, SkipReason, TextError, check_text,
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
}

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
            PayoutBatchCommand::Approve { authority, limits } => {
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
                    if let Some(rule) = limits.exceeded_by(state) {
                        return Err(PayoutBatchError::NeedsAdmin { batch_id, rule });
                    }
                }
                EventBody::PayoutBatchApproved(PayoutBatchApproved {
                    batch_id,
                    authority: Some(authority),
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
                let o = PayoutItemOutcome {
                    batch_id,
                    item_id,
                    affiliate_id: item.drafted.affiliate_id.clone(),
                    amount: item.drafted.amount,
                    processor: item.drafted.processor,
                    processor_event_id,
                    reason,
                    movement,
                };
                match outcome {
                    ItemOutcome::Paid => EventBody::PayoutItemPaid(o),
                    ItemOutcome::Failed => EventBody::PayoutItemFailed(o),
                    ItemOutcome::Returned => EventBody::PayoutItemReturned(o),
                    ItemOutcome::Unclaimed => EventBody::PayoutItemUnclaimed(o),
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
        let set_item = |state: &mut DraftedBatch, item_id: &PayoutItemId, status: ItemStatus| {
            if let Some(item) = state
                .items
                .iter_mut()
                .find(|i| &i.drafted.item_id == item_id)
            {
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
                set_item(state, &e.item_id, ItemStatus::Submitted)
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

/// Approval limits per currency: above them, a batch needs an admin.
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
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsWire {
    item_max: Option<String>,
    batch_total_max: Option<String>,
}

impl ApprovalLimits {
    /// Parses `{"EUR": {"item_max": "5000.00", "batch_total_max": "100000.00"}}`.
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
            limits.insert(
                currency.code(),
                CurrencyLimits {
                    item_max: parse(l.item_max, "item_max")?,
                    batch_total_max: parse(l.batch_total_max, "batch_total_max")?,
                },
            );
        }
        Ok(ApprovalLimits { limits })
    }

    pub fn set(&mut self, currency: Currency, limits: CurrencyLimits) {
        self.limits.insert(currency.code(), limits);
    }

    /// The first limit a batch exceeds, described for the approver.
    pub fn exceeded_by(&self, batch: &DraftedBatch) -> Option<String> {
        let mut totals: BTreeMap<&'static str, Money> = BTreeMap::new();
        for item in &batch.items {
            let amount = item.drafted.amount;
            let Some(limit) = self.limits.get(amount.currency().code()) else {
                continue;
            };
            if let Some(max) = limit.item_max {
                if amount.amount() > max.amount() {
                    return Some(format!(
                        "item {} pays {} {}, above the {} {} item limit",
                        item.drafted.item_id,
                        amount.amount(),
                        amount.currency().code(),
                        max.amount(),
                        max.currency().code()
                    ));
                }
            }
            let total = totals
                .entry(amount.currency().code())
                .or_insert_with(|| amount.zero_like());
            // Items are bounded in size and count: the sum cannot overflow
            // the range checked here; if it did, the batch needs an admin.
            match total.checked_add(&amount) {
                Ok(sum) => *total = sum,
                Err(_) => return Some("the batch total is out of range".to_owned()),
            }
        }
        for (code, total) in totals {
            if let Some(max) = self.limits.get(code).and_then(|l| l.batch_total_max) {
                if total.amount() > max.amount() {
                    return Some(format!(
                        "the batch pays {} {code} in total, above the {} {code} batch limit",
                        total.amount(),
                        max.amount()
                    ));
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
    }
}
