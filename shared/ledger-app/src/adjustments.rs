//! Reversals and adjustments of recorded commissions, as the tracking
//! network reports them: refunds, chargebacks and fraud reversals (whole or
//! partial, with the processor's or shop's reference and when it happened)
//! and signed adjustments with a reason. One change, or several at once
//! (all or nothing).
//!
//! The commission aggregate decides where the money comes from: in the hold
//! period a take-back reduces pending; once matured it becomes a receivable
//! (a clawback) that the next drafted payout nets from what is available,
//! whether or not the commission was paid out already.
//!
//! Idempotency: one request per tenant, operation and key (the store's
//! idempotency record, written in the same transaction as the changes). A
//! repeat with the same key and the same facts answers with what the first
//! call answered, even when the commission moved on since (matured, or
//! reversed to zero by that very call); the same key with other facts is
//! [`ChangeError::KeyReused`]. The facts are the changes as the caller sent
//! them: a left-out `amount` or `occurred_at` stays left out, never the
//! value the clock or the commission's remainder filled in.

use chrono::{DateTime, SecondsFormat, Utc};
use event_store::{
    AppendRequest, EventStore, IdempotencyKey, IdempotencyRecord, IdempotencyScope, Once,
    Operation, StoreError, StreamId, TRANSACTION_ITEMS_MAX, fingerprint,
};
use ledger_domain::events::{AggregateRef, stream_name};
use ledger_domain::{
    CommandContext, Commission, CommissionCommand, CommissionError, CommissionId, CommissionStage,
    Currency, EventBody, Money, ReversalReason,
};
use serde::{Deserialize, Serialize};

use crate::{AppError, COMMAND_ATTEMPTS_MAX, load};

/// The most changes one call may carry. Each is an append to an existing
/// stream, two items of one transaction on DynamoDB (the version check and
/// the event); the request's idempotency record is one more, and a
/// transaction holds at most [`TRANSACTION_ITEMS_MAX`].
pub const CHANGES_MAX: usize = (TRANSACTION_ITEMS_MAX - 1) / 2;

/// The idempotency operation of a reversal posted on its commission.
pub const OPERATION_REVERSAL: &str = "ingest.reversals";
/// The idempotency operation of an adjustment posted on its commission.
pub const OPERATION_ADJUSTMENT: &str = "ingest.adjustments";
/// The idempotency operation of several changes posted at once.
pub const OPERATION_CHANGES: &str = "ingest.commission-changes";

/// What happens to one commission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Takes money back: `amount`, or everything that remains when `None`.
    Reverse {
        amount: Option<Money>,
        /// The commission's currency, stated by the caller (and checked).
        currency: Currency,
        reason: ReversalReason,
        /// The refund, chargeback or fraud case reference.
        reference: String,
    },
    /// Adds to (positive) or takes from (negative) what was earned.
    Adjust { delta: Money, reason: String },
}

impl Change {
    fn currency(&self) -> Currency {
        match self {
            Change::Reverse { currency, .. } => *currency,
            Change::Adjust { delta, .. } => delta.currency(),
        }
    }

    /// The field that carries the money of this change.
    fn money_field(&self) -> &'static str {
        match self {
            Change::Reverse { .. } => "amount",
            Change::Adjust { .. } => "delta",
        }
    }
}

/// One change of one commission.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommissionChange {
    pub commission_id: CommissionId,
    pub change: Change,
    /// When it happened in the world (`effective_at`); `None`: when handled.
    pub occurred_at: Option<DateTime<Utc>>,
}

/// What one change did (and, as JSON, the answer kept for its key: small,
/// so that a full bulk stays within the store's answer limit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Changed {
    pub commission_id: CommissionId,
    pub stream: StreamId,
    /// The version of the change's event in the commission's stream.
    pub version: u64,
    /// True when this key already made this change: nothing was written now.
    #[serde(skip)]
    pub duplicate: bool,
    /// When it happened (the event's effective time).
    pub effective_at: DateTime<Utc>,
    pub effect: Effect,
}

/// What a change moved, as its event says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Effect {
    Reversed {
        amount: Money,
        reason: ReversalReason,
        /// Whether it took back everything that remained.
        whole: bool,
        /// Pending: from pending; matured: a receivable.
        stage: CommissionStage,
    },
    Adjusted {
        delta: Money,
        reason: String,
        /// Pending: on pending; matured: a receivable when negative,
        /// available when positive.
        stage: CommissionStage,
    },
}

/// Why changes were refused. Nothing is written in any of these cases.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("changes[{index}].commission_id: commission {commission_id} is not recorded")]
    UnknownCommission {
        index: usize,
        commission_id: CommissionId,
    },
    #[error("changes[{index}].{field} {rule}")]
    Refused {
        index: usize,
        field: &'static str,
        rule: String,
    },
    #[error("changes must hold 1 to {max} items, got {got}")]
    Count { got: usize, max: usize },
    #[error("Idempotency-Key {key:?} was used on {stream} for another request")]
    KeyReused { key: String, stream: String },
    #[error(transparent)]
    App(#[from] AppError),
}

impl From<StoreError> for ChangeError {
    fn from(e: StoreError) -> Self {
        ChangeError::App(AppError::Store(e))
    }
}

/// Applies changes to commissions atomically: all land, or none does, with
/// the request's idempotency record. At most one change per commission.
pub async fn change_commissions<S: EventStore + ?Sized>(
    store: &S,
    ctx: &CommandContext,
    operation: &Operation,
    changes: &[CommissionChange],
    key: &IdempotencyKey,
) -> Result<Vec<Changed>, ChangeError> {
    if changes.is_empty() || changes.len() > CHANGES_MAX {
        return Err(ChangeError::Count {
            got: changes.len(),
            max: CHANGES_MAX,
        });
    }
    for (index, change) in changes.iter().enumerate() {
        if changes[..index]
            .iter()
            .any(|c| c.commission_id == change.commission_id)
        {
            return Err(ChangeError::Refused {
                index,
                field: "commission_id",
                rule: format!(
                    "names {} a second time: one change per commission per request",
                    change.commission_id
                ),
            });
        }
    }
    let scope = IdempotencyScope::new(ctx.tenant_id.clone(), operation.clone(), key.clone());
    let mut record = IdempotencyRecord {
        scope: scope.clone(),
        request_hash: fingerprint(&canonical(changes)),
        answer: String::new(),
    };
    let mut attempt = 0;
    loop {
        attempt += 1;
        // A repeat is answered before anything is decided: deciding again
        // could refuse it (the first call may have reversed everything).
        if let Some(stored) = store.idempotency_record(&scope).await? {
            return replayed(record.replay(&stored).map_err(key_reused)?);
        }
        let mut results = Vec::with_capacity(changes.len());
        let mut requests = Vec::with_capacity(changes.len());
        for (index, change) in changes.iter().enumerate() {
            match prepare(store, ctx, index, change).await {
                Ok((request, changed)) => {
                    requests.push(request);
                    results.push(changed);
                }
                Err(
                    refused @ (ChangeError::Refused { .. } | ChangeError::UnknownCommission { .. }),
                ) => {
                    // The same request, concurrently, may have just made
                    // the change this one is refused for.
                    if let Some(stored) = store.idempotency_record(&scope).await? {
                        return replayed(record.replay(&stored).map_err(key_reused)?);
                    }
                    return Err(refused);
                }
                Err(e) => return Err(e),
            }
        }
        record.answer = serde_json::to_string(&results).map_err(|e| StoreError::InvalidInput {
            field: "answer",
            reason: e.to_string(),
        })?;
        match store.append_once(requests, record.clone()).await {
            Ok(Once::Written(appended)) => {
                for (changed, appended) in results.iter_mut().zip(appended) {
                    changed.version = appended.last_version;
                }
                return Ok(results);
            }
            // The same request, concurrently, won.
            Ok(once @ Once::Replayed(_)) => return replayed(once),
            // Someone wrote to one of the commissions first: decide again.
            Err(StoreError::VersionConflict { .. }) if attempt < COMMAND_ATTEMPTS_MAX => {
                crate::after_conflict(attempt).await;
                continue;
            }
            Err(e) => return Err(key_reused(e)),
        }
    }
}

fn key_reused(error: StoreError) -> ChangeError {
    match error {
        StoreError::IdempotencyConflict { key, stream, .. } => {
            ChangeError::KeyReused { key, stream }
        }
        other => other.into(),
    }
}

/// The first call's answer, as duplicates.
fn replayed(once: Once) -> Result<Vec<Changed>, ChangeError> {
    let Once::Replayed(answer) = once else {
        return Err(StoreError::Unavailable("a replay without an answer".to_owned()).into());
    };
    let mut results: Vec<Changed> = serde_json::from_str(&answer).map_err(|e| {
        StoreError::Unavailable(format!("the stored answer of a change is unreadable: {e}"))
    })?;
    for changed in &mut results {
        changed.duplicate = true;
    }
    Ok(results)
}

/// The facts of a request, canonically: what the caller sent, in order.
fn canonical(changes: &[CommissionChange]) -> Vec<u8> {
    let minor = |m: &Money| format!("{} {}", m.amount_minor(), m.currency().code());
    let facts: Vec<serde_json::Value> = changes
        .iter()
        .map(|c| {
            let at = c
                .occurred_at
                .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true));
            let id = c.commission_id.as_str();
            match &c.change {
                Change::Reverse {
                    amount,
                    currency,
                    reason,
                    reference,
                } => serde_json::json!([
                    "reversal",
                    id,
                    amount.as_ref().map(minor),
                    currency.code(),
                    reason,
                    reference,
                    at
                ]),
                Change::Adjust { delta, reason } => {
                    serde_json::json!(["adjustment", id, minor(delta), reason, at])
                }
            }
        })
        .collect();
    serde_json::to_vec(&facts).unwrap_or_default()
}

async fn prepare<S: EventStore + ?Sized>(
    store: &S,
    ctx: &CommandContext,
    index: usize,
    change: &CommissionChange,
) -> Result<(AppendRequest, Changed), ChangeError> {
    let stream = StreamId::new(stream_name(
        &ctx.tenant_id,
        AggregateRef::Commission(&change.commission_id),
    ))?;
    let events = load(store, &stream).await?;
    let commission = Commission::from_events(&events);
    let refused = |field: &'static str, rule: String| ChangeError::Refused { index, field, rule };
    let Some(state) = commission.state() else {
        return Err(ChangeError::UnknownCommission {
            index,
            commission_id: change.commission_id.clone(),
        });
    };
    let currency = state.earned.currency();
    if change.change.currency() != currency {
        return Err(refused(
            "currency",
            format!(
                "must be the commission's currency {}, got {}: a change never converts money",
                currency.code(),
                change.change.currency().code()
            ),
        ));
    }
    let command = match &change.change {
        Change::Reverse {
            amount,
            reason,
            reference,
            ..
        } => {
            let amount = match amount {
                Some(amount) => *amount,
                None => {
                    let remaining = state
                        .remaining()
                        .map_err(|e| refusal(index, change, CommissionError::Money(e)))?;
                    if !remaining.is_positive() {
                        return Err(refused(
                            "amount",
                            format!(
                                "was left out, which reverses what remains of commission {}, and nothing remains",
                                change.commission_id
                            ),
                        ));
                    }
                    remaining
                }
            };
            CommissionCommand::Reverse {
                amount,
                reason: *reason,
                reference: Some(reference.clone()),
            }
        }
        Change::Adjust { delta, reason } => CommissionCommand::Adjust {
            delta: *delta,
            reason: reason.clone(),
        },
    };
    let ctx = CommandContext {
        effective_at: change.occurred_at.unwrap_or(ctx.now),
        ..ctx.clone()
    };
    let decided = commission
        .handle(command, &ctx)
        .map_err(|e| refusal(index, change, e))?;
    let effect = match decided.first().map(|e| e.body()) {
        Some(EventBody::CommissionReversed(e)) => Effect::Reversed {
            amount: e.amount,
            reason: e.reason,
            whole: e.whole,
            stage: e.stage,
        },
        Some(EventBody::CommissionAdjusted(e)) => Effect::Adjusted {
            delta: e.delta,
            reason: e.reason.clone(),
            stage: e.stage,
        },
        _ => return Err(refused("commission_id", "changed nothing".to_owned())),
    };
    let request = AppendRequest::from_domain(commission.version(), &decided)?;
    let changed = Changed {
        commission_id: change.commission_id.clone(),
        stream,
        version: commission.version() + 1,
        duplicate: false,
        effective_at: ctx.effective_at,
        effect,
    };
    Ok((request, changed))
}

/// The aggregate's refusal, as the field and rule the caller broke.
fn refusal(index: usize, change: &CommissionChange, error: CommissionError) -> ChangeError {
    let refused = |field: &'static str, rule: String| ChangeError::Refused { index, field, rule };
    match error {
        CommissionError::NotRecorded | CommissionError::WrongTenant { .. } => {
            ChangeError::UnknownCommission {
                index,
                commission_id: change.commission_id.clone(),
            }
        }
        CommissionError::ReversalExceedsEarned {
            requested,
            remaining,
            ..
        } => refused(
            "amount",
            format!(
                "must be at most what remains of commission {}: {remaining}, got {requested}",
                change.commission_id
            ),
        ),
        CommissionError::AdjustmentBelowZero {
            delta, remaining, ..
        } => refused(
            "delta",
            format!(
                "must not take commission {} below zero: {remaining} remains, got {delta}",
                change.commission_id
            ),
        ),
        CommissionError::ZeroAdjustment => refused("delta", "must not be zero".to_owned()),
        CommissionError::NotPositive { .. } => refused(
            change.change.money_field(),
            "must be greater than zero".to_owned(),
        ),
        CommissionError::Text(e) => refused(
            e.field,
            format!("must be {} to {} bytes long, got {}", e.min, e.max, e.len),
        ),
        other => refused(change.change.money_field(), other.to_string()),
    }
}
