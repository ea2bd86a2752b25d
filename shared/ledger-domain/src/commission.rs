//! The commission aggregate: decides (`handle`) and evolves (`apply`).
//!
//! Deciding never mutates; evolving never fails. A commission is recorded
//! once, matures once after its hold period, and may be reversed (partly or
//! wholly) or adjusted at any time, including after it was paid: a reversal
//! of matured money becomes a receivable (clawback).

use chrono::{DateTime, Duration, Utc};

use crate::context::CommandContext;
use crate::events::{
    CommissionAdjusted, CommissionMatured, CommissionRecorded, CommissionReversed, CommissionStage,
    Event, EventBody, ReversalReason, TextError, check_text,
};
use crate::ids::{AffiliateId, CommissionId, TenantId};
use crate::money::{Money, MoneyError};

/// The longest hold period accepted, in days.
pub const HOLD_PERIOD_DAYS_MAX: u32 = 365;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommissionCommand {
    Record {
        commission_id: CommissionId,
        affiliate_id: AffiliateId,
        amount: Money,
        hold_period_days: u32,
        source_conversion_id: String,
        order_reference: Option<String>,
    },
    Mature,
    Reverse {
        amount: Money,
        reason: ReversalReason,
        reference: Option<String>,
    },
    Adjust {
        delta: Money,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommissionError {
    #[error("commission {0} is already recorded")]
    AlreadyRecorded(CommissionId),
    #[error("commission is not recorded")]
    NotRecorded,
    #[error("commission {0} has already matured")]
    AlreadyMatured(CommissionId),
    #[error("commission {commission_id} is on hold until {matures_at}")]
    HoldPeriodNotOver {
        commission_id: CommissionId,
        matures_at: DateTime<Utc>,
    },
    #[error("commission {0} has nothing left to mature: it was reversed entirely")]
    NothingToMature(CommissionId),
    #[error("{field} must be greater than zero, got {amount}")]
    NotPositive { field: &'static str, amount: Money },
    #[error("hold_period_days {got} exceeds the limit of {max}")]
    HoldPeriodTooLong { got: u32, max: u32 },
    #[error(
        "cannot reverse {requested} of commission {commission_id}: only {remaining} remains of what was earned"
    )]
    ReversalExceedsEarned {
        commission_id: CommissionId,
        requested: Money,
        remaining: Money,
    },
    #[error(
        "adjustment {delta} would leave commission {commission_id} below zero (remaining {remaining})"
    )]
    AdjustmentBelowZero {
        commission_id: CommissionId,
        delta: Money,
        remaining: Money,
    },
    #[error("delta must not be zero")]
    ZeroAdjustment,
    #[error("commission {commission_id} belongs to tenant {owner}, not {requested}")]
    WrongTenant {
        commission_id: CommissionId,
        owner: TenantId,
        requested: TenantId,
    },
    #[error(transparent)]
    Money(#[from] MoneyError),
    #[error(transparent)]
    Text(#[from] TextError),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCommission {
    pub tenant_id: TenantId,
    pub commission_id: CommissionId,
    pub affiliate_id: AffiliateId,
    /// Recorded amount plus adjustments.
    pub earned: Money,
    /// Sum of reversals.
    pub reversed: Money,
    pub matures_at: DateTime<Utc>,
    pub stage: CommissionStage,
}

impl RecordedCommission {
    /// What the affiliate still keeps of this commission.
    pub fn remaining(&self) -> Result<Money, MoneyError> {
        self.earned.checked_sub(&self.reversed)
    }
}

/// The state of one commission, rebuilt from its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Commission {
    state: Option<RecordedCommission>,
    /// The recording as it was first made, to recognise a retry of it.
    recorded: Option<(TenantId, CommissionRecorded)>,
    version: u64,
}

impl Commission {
    /// Rebuilds the state from a stream's events.
    pub fn from_events<'a>(events: impl IntoIterator<Item = &'a Event>) -> Self {
        let mut commission = Commission::default();
        for event in events {
            commission.apply(event);
        }
        commission
    }

    pub fn state(&self) -> Option<&RecordedCommission> {
        self.state.as_ref()
    }

    /// How many events were applied: the stream version to append after.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether a record command repeats the recording exactly.
    fn is_retry_of(&self, command: &CommissionCommand, ctx: &CommandContext) -> bool {
        let (
            Some((tenant_id, original)),
            CommissionCommand::Record {
                commission_id,
                affiliate_id,
                amount,
                hold_period_days,
                source_conversion_id,
                order_reference,
            },
        ) = (&self.recorded, command)
        else {
            return false;
        };
        tenant_id == &ctx.tenant_id
            && &original.commission_id == commission_id
            && &original.affiliate_id == affiliate_id
            && &original.amount == amount
            && original.hold_period_days == *hold_period_days
            && &original.source_conversion_id == source_conversion_id
            && &original.order_reference == order_reference
    }

    /// Decides what happens. Never mutates. An exact repeat of the recording
    /// decides nothing (an empty list): it is already done.
    pub fn handle(
        &self,
        command: CommissionCommand,
        ctx: &CommandContext,
    ) -> Result<Vec<Event>, CommissionError> {
        let recorded = match (&self.state, &command) {
            (None, CommissionCommand::Record { .. }) => None,
            (Some(state), CommissionCommand::Record { .. }) => {
                // The tracking network retries: the same recording again is
                // already done (nothing to decide); other facts under the same
                // id are a conflict.
                if self.is_retry_of(&command, ctx) {
                    return Ok(Vec::new());
                }
                return Err(CommissionError::AlreadyRecorded(
                    state.commission_id.clone(),
                ));
            }
            (None, _) => return Err(CommissionError::NotRecorded),
            (Some(state), _) => {
                if state.tenant_id != ctx.tenant_id {
                    return Err(CommissionError::WrongTenant {
                        commission_id: state.commission_id.clone(),
                        owner: state.tenant_id.clone(),
                        requested: ctx.tenant_id.clone(),
                    });
                }
                Some(state)
            }
        };
        let body = match (command, recorded) {
            (
                CommissionCommand::Record {
                    commission_id,
                    affiliate_id,
                    amount,
                    hold_period_days,
                    source_conversion_id,
                    order_reference,
                },
                _,
            ) => {
                if !amount.is_positive() {
                    return Err(CommissionError::NotPositive {
                        field: "amount",
                        amount,
                    });
                }
                if hold_period_days > HOLD_PERIOD_DAYS_MAX {
                    return Err(CommissionError::HoldPeriodTooLong {
                        got: hold_period_days,
                        max: HOLD_PERIOD_DAYS_MAX,
                    });
                }
                check_text("source_conversion_id", &source_conversion_id, 1)?;
                if let Some(reference) = &order_reference {
                    check_text("order_reference", reference, 1)?;
                }
                let matures_at = ctx.effective_at + Duration::days(i64::from(hold_period_days));
                EventBody::CommissionRecorded(CommissionRecorded {
                    commission_id,
                    affiliate_id,
                    amount,
                    hold_period_days,
                    matures_at,
                    source_conversion_id,
                    order_reference,
                })
            }
            (CommissionCommand::Mature, Some(state)) => {
                if state.stage == CommissionStage::Matured {
                    return Err(CommissionError::AlreadyMatured(state.commission_id.clone()));
                }
                if ctx.now < state.matures_at {
                    return Err(CommissionError::HoldPeriodNotOver {
                        commission_id: state.commission_id.clone(),
                        matures_at: state.matures_at,
                    });
                }
                let remaining = state.remaining()?;
                if remaining.is_zero() {
                    return Err(CommissionError::NothingToMature(
                        state.commission_id.clone(),
                    ));
                }
                EventBody::CommissionMatured(CommissionMatured {
                    commission_id: state.commission_id.clone(),
                    affiliate_id: state.affiliate_id.clone(),
                    amount: remaining,
                })
            }
            (
                CommissionCommand::Reverse {
                    amount,
                    reason,
                    reference,
                },
                Some(state),
            ) => {
                if !amount.is_positive() {
                    return Err(CommissionError::NotPositive {
                        field: "amount",
                        amount,
                    });
                }
                if let Some(reference) = &reference {
                    check_text("reference", reference, 1)?;
                }
                let remaining = state.remaining()?;
                let left = remaining.checked_sub(&amount)?;
                if left.is_negative() {
                    return Err(CommissionError::ReversalExceedsEarned {
                        commission_id: state.commission_id.clone(),
                        requested: amount,
                        remaining,
                    });
                }
                EventBody::CommissionReversed(CommissionReversed {
                    commission_id: state.commission_id.clone(),
                    affiliate_id: state.affiliate_id.clone(),
                    amount,
                    reason,
                    stage: state.stage,
                    whole: left.is_zero(),
                    reference,
                })
            }
            (CommissionCommand::Adjust { delta, reason }, Some(state)) => {
                if delta.is_zero() {
                    return Err(CommissionError::ZeroAdjustment);
                }
                check_text("reason", &reason, 1)?;
                let remaining = state.remaining()?;
                if remaining.checked_add(&delta)?.is_negative() {
                    return Err(CommissionError::AdjustmentBelowZero {
                        commission_id: state.commission_id.clone(),
                        delta,
                        remaining,
                    });
                }
                EventBody::CommissionAdjusted(CommissionAdjusted {
                    commission_id: state.commission_id.clone(),
                    affiliate_id: state.affiliate_id.clone(),
                    delta,
                    stage: state.stage,
                    reason,
                })
            }
            (_, None) => return Err(CommissionError::NotRecorded),
        };
        Ok(vec![ctx.event_for(body)])
    }

    /// Evolves the state. Never fails: events are facts already decided.
    /// Events of other aggregates are ignored.
    pub fn apply(&mut self, event: &Event) {
        match (event.body(), &mut self.state) {
            (EventBody::CommissionRecorded(e), None) => {
                self.recorded = Some((event.tenant_id().clone(), e.clone()));
                self.state = Some(RecordedCommission {
                    tenant_id: event.tenant_id().clone(),
                    commission_id: e.commission_id.clone(),
                    affiliate_id: e.affiliate_id.clone(),
                    earned: e.amount,
                    reversed: e.amount.zero_like(),
                    matures_at: e.matures_at,
                    stage: CommissionStage::Pending,
                });
            }
            (EventBody::CommissionMatured(_), Some(state)) => {
                state.stage = CommissionStage::Matured;
            }
            (EventBody::CommissionReversed(e), Some(state)) => {
                if let Ok(reversed) = state.reversed.checked_add(&e.amount) {
                    state.reversed = reversed;
                }
            }
            (EventBody::CommissionAdjusted(e), Some(state)) => {
                if let Ok(earned) = state.earned.checked_add(&e.delta) {
                    state.earned = earned;
                }
            }
            _ => return,
        }
        self.version += 1;
    }
}
