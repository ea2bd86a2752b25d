//! What a change request answers: each change's result, and a refusal as
//! a problem naming the field.

use ledger_app::adjustments::{ChangeError, Changed, Effect};
use ledger_domain::CommissionStage;
use ledger_domain::projection::AffiliateField;
use serde::Serialize;

use crate::app_problem;
use lambda_edge::problem::{FieldError, Problem};

/// Where a request named the changes: in the path (one) or in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Path,
    Body,
}

/// Maps a refusal to a problem naming the field (`changes[2].amount` in a
/// bulk body, `amount` for one change in the path).
pub(super) fn change_problem(error: ChangeError, shape: Shape) -> Problem {
    let field = |index: usize, field: &str| match shape {
        Shape::Path => field.to_owned(),
        Shape::Body => format!("changes[{index}].{field}"),
    };
    match error {
        ChangeError::UnknownCommission {
            index,
            commission_id,
        } => {
            let error = FieldError {
                field: field(index, "commission_id"),
                rule: format!(
                    "must name a commission recorded for this tenant; {commission_id} is not"
                ),
            };
            match shape {
                Shape::Path => Problem {
                    errors: vec![error],
                    ..Problem::not_found("commission")
                },
                Shape::Body => Problem::unprocessable(vec![error]),
            }
        }
        ChangeError::Refused {
            index,
            field: name,
            rule,
        } => Problem::unprocessable(vec![FieldError {
            field: field(index, name),
            rule,
        }]),
        ChangeError::Count { got, max } => Problem::unprocessable(vec![FieldError {
            field: "changes".into(),
            rule: format!("must hold 1 to {max} items, got {got}"),
        }]),
        ChangeError::KeyReused { key, .. } => Problem::conflict(&format!(
            "Idempotency-Key {key:?} was used for another request"
        )),
        ChangeError::App(e) => app_problem(e),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ChangeResult {
    commission_id: String,
    /// `reversal` or `adjustment`.
    kind: &'static str,
    /// `applied`, or `duplicate` (this key already made it; the original answer).
    status: &'static str,
    stream: String,
    /// The change's event in the commission's stream.
    version: u64,
    /// Reversals: what was taken back (positive).
    #[serde(skip_serializing_if = "Option::is_none")]
    amount: Option<String>,
    /// Adjustments: the signed change.
    #[serde(skip_serializing_if = "Option::is_none")]
    delta: Option<String>,
    currency: String,
    /// Reversals: `refund`, `chargeback`, `fraud`; adjustments: the reason given.
    reason: String,
    /// Reversals: whether it took back everything that remained.
    #[serde(skip_serializing_if = "Option::is_none")]
    whole: Option<bool>,
    /// The affiliate account it moved: `pending` (in the hold period),
    /// `receivable` (taken back after maturity: a clawback the next payout
    /// nets), `available` (added after maturity).
    account: &'static str,
    /// When it happened (RFC 3339).
    effective_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct ChangesAccepted {
    pub(super) results: Vec<ChangeResult>,
}

pub(super) fn result(changed: Changed) -> ChangeResult {
    let taken_from = |stage: CommissionStage| match stage {
        CommissionStage::Pending => AffiliateField::Pending.name(),
        CommissionStage::Matured => AffiliateField::Receivable.name(),
    };
    let (kind, amount, delta, currency, reason, whole, account) = match changed.effect {
        Effect::Reversed {
            amount,
            reason,
            whole,
            stage,
        } => (
            "reversal",
            Some(amount.amount().to_string()),
            None,
            amount.currency(),
            serde_json::to_value(reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            Some(whole),
            taken_from(stage),
        ),
        Effect::Adjusted {
            delta,
            reason,
            stage,
        } => (
            "adjustment",
            None,
            Some(delta.amount().to_string()),
            delta.currency(),
            reason,
            None,
            match (delta.is_negative(), stage) {
                (true, stage) => taken_from(stage),
                (false, CommissionStage::Pending) => AffiliateField::Pending.name(),
                (false, CommissionStage::Matured) => AffiliateField::Available.name(),
            },
        ),
    };
    ChangeResult {
        commission_id: changed.commission_id.to_string(),
        kind,
        status: if changed.duplicate {
            "duplicate"
        } else {
            "applied"
        },
        stream: changed.stream.to_string(),
        version: changed.version,
        amount,
        delta,
        currency: currency.code().to_owned(),
        reason,
        whole,
        account,
        effective_at: changed
            .effective_at
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
    }
}
