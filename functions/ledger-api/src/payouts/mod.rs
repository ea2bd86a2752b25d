//! The payout routes: profiles and holds, drafting runs, batches, four-eyes
//! approval and dispatch.
//!
//! | route | who |
//! |---|---|
//! | `GET /v1/affiliates/{id}/payout-profile` | finance, admin |
//! | `PUT /v1/affiliates/{id}/payout-method` | finance maker, admin |
//! | `PUT /v1/affiliates/{id}/payout-minimums/{currency}` | finance maker, admin |
//! | `POST /v1/affiliates/{id}/payout-holds` | finance, admin |
//! | `POST /v1/affiliates/{id}/payout-holds/{reason}/lift` | finance, admin |
//! | `POST /v1/payout-runs` | finance maker, admin |
//! | `GET /v1/payout-batches/{id}` | finance, admin |
//! | `POST /v1/payout-batches/{id}/approve` | finance approver, admin (never the maker) |
//! | `POST /v1/payout-batches/{id}/reject` | finance approver, admin |
//! | `POST /v1/payout-batches/{id}/dispatch` | finance approver, admin |
//!
//! This module keeps what the routes share: the command context and the
//! mapping of use-case failures to problems.

use chrono::Utc;
use lambda_edge::Identity;
use lambda_edge::problem::{FieldError, Problem};
use ledger_app::AppError;
use ledger_domain::{Actor, ActorKind, CommandContext, PayoutBatchError, ProfileError};

pub(crate) mod batches;
pub(crate) mod profiles;
pub(crate) mod runs;

pub use runs::RUN_BATCHES_MAX;

// The router's handlers; the OpenAPI list names each in its own module,
// beside the path item `#[utoipa::path]` generates for it.
pub(crate) use batches::{approve, dispatch, get_batch, reject};
pub(crate) use profiles::{get_profile, lift_hold, place_hold, put_method, put_minimum};
pub(crate) use runs::post_run;

/// The largest request body these routes accept.
pub use crate::extract::BODY_BYTES_MAX;

pub(crate) fn ctx(identity: &Identity, role: &str) -> Result<CommandContext, Problem> {
    let now = Utc::now();
    Ok(CommandContext {
        tenant_id: identity.tenant_id.clone(),
        actor: Actor::new(ActorKind::User, identity.subject.clone())
            .and_then(|a| a.acting(Some(role), identity.request_id.as_deref()))
            .map_err(|e| Problem::bad_request("sub", &e.to_string()))?,
        now,
        effective_at: now,
    })
}

/// Maps use-case failures: rule breaks are 4xx naming the rule, store
/// trouble is 503 (retryable).
pub(crate) fn app_problem(e: AppError) -> Problem {
    match e {
        AppError::Profile(ProfileError::Payee(p)) => {
            let text = p.to_string();
            let (field, rule) = text.split_once(' ').unwrap_or(("method", &text));
            Problem::unprocessable(vec![FieldError {
                field: field.to_owned(),
                rule: rule.to_owned(),
            }])
        }
        AppError::Profile(ProfileError::NoSuchHold(..)) => Problem::conflict(&e.to_string()),
        AppError::Profile(ProfileError::OwnMethodChange { .. }) => {
            Problem::forbidden(&e.to_string())
        }
        AppError::Profile(other) => Problem::unprocessable(vec![FieldError {
            field: "body".into(),
            rule: other.to_string(),
        }]),
        AppError::PayoutBatch(
            PayoutBatchError::MakerCannotApprove { .. } | PayoutBatchError::NeedsAdmin { .. },
        ) => Problem::forbidden(&e.to_string()),
        AppError::PayoutBatch(PayoutBatchError::NotDrafted) => Problem::not_found("payout batch"),
        AppError::PayoutBatch(PayoutBatchError::Text(t)) => {
            Problem::unprocessable(vec![FieldError {
                field: t.field.into(),
                rule: t.to_string(),
            }])
        }
        AppError::PayoutBatch(_)
        | AppError::DraftSequenceMoved { .. }
        | AppError::ProjectionParked { .. } => Problem::conflict(&e.to_string()),
        AppError::Store(event_store::StoreError::InvalidCursor { .. }) => {
            Problem::bad_request("after", "is not a continuation token of this API")
        }
        AppError::Store(event_store::StoreError::InvalidInput { field, reason }) => {
            Problem::unprocessable(vec![FieldError {
                field: field.into(),
                rule: reason,
            }])
        }
        other => {
            tracing::error!(error = %other, "payout use case failed");
            Problem::unavailable()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_parked_projection_refuses_drafting_with_a_conflict_naming_stream_and_command() {
        let problem = app_problem(AppError::ProjectionParked {
            tenant: "acme".into(),
            stream: "acme/commission/c-1".into(),
            version: 2,
            count: 1,
        });
        assert_eq!(problem.status, 409);
        assert!(
            problem.detail.contains("acme/commission/c-1 version 2")
                && problem
                    .detail
                    .contains("ledger-admin projection retry --tenant acme"),
            "{}",
            problem.detail
        );
    }
}
