//! Deciding a payout batch command: the events it leads to, or why not.

use rustc_hash::FxHashSet;

use super::{
    BatchStatus, CLAIM_LEASE_SECONDS_MAX, DraftedBatch, ItemOutcome, ItemStatus,
    PAYOUT_ITEMS_PER_BATCH_MAX, PayoutBatch, PayoutBatchCommand, PayoutBatchError, approval_day,
    batch_totals,
};
use crate::context::CommandContext;
use crate::events::{
    ApprovalAuthority, DraftedItem, Event, EventBody, MoneyMovement, PayoutApprovalTallied,
    PayoutBatchApproved, PayoutBatchDrafted, PayoutBatchRejected, PayoutDraftRegistered,
    PayoutItemClaimed, PayoutItemOutcome, PayoutItemSubmitted, check_text,
};
use crate::money::Money;

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
                account,
            } => {
                self.require_approved(state)?;
                check_text("claim_id", &claim_id, 1)?;
                if let Some(account) = &account {
                    check_text("account", account, 1)?;
                }
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
                // An earlier attempt may have paid from its account without
                // anyone recording it; another account cannot tell.
                if let Some(first) = &item.paying_account {
                    if account.as_ref() != Some(first) {
                        return Err(PayoutBatchError::AccountChanged {
                            item_id,
                            first: first.clone(),
                            now: account,
                        });
                    }
                }
                EventBody::PayoutItemClaimed(PayoutItemClaimed {
                    batch_id,
                    item_id,
                    claim_id,
                    lease_until,
                    account,
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
                // A lease that ends now: released (the first account stays).
                EventBody::PayoutItemClaimed(PayoutItemClaimed {
                    batch_id,
                    item_id,
                    claim_id,
                    lease_until: ctx.now,
                    account: None,
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
}
