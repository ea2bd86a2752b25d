//! Reversals and adjustments from the tracking network, over HTTP and the
//! commissions queue.
//!
//! A reversal (refund, chargeback, fraud), on
//! `POST /v1/commissions/{commission_id}/reversals`:
//! ```json
//! {"amount": "4.00", "currency": "EUR", "reason": "chargeback",
//!  "reference": "ch_3PzK9", "occurred_at": "2026-12-02T09:30:00Z"}
//! ```
//! `amount` left out reverses everything that remains. An adjustment, on
//! `POST /v1/commissions/{commission_id}/adjustments`:
//! ```json
//! {"delta": "-2.50", "currency": "EUR", "reason": "basket corrected",
//!  "occurred_at": "2026-12-02T09:30:00Z"}
//! ```
//! Several at once, all or nothing, on `POST /v1/commission-changes`:
//! `{"changes": [{"kind": "reversal", "commission_id": "c-1", ...},
//! {"kind": "adjustment", "commission_id": "c-2", ...}]}` with at most
//! [`CHANGES_MAX`] items, one per commission. A queue message is one such
//! item (with `kind` and `commission_id`) or a `{"changes": [...]}` body;
//! a message without `kind` is a commission, as before.
//!
//! Amounts are decimal strings, never JSON numbers. Every error names its
//! field and rule, and nothing is written unless every change is valid.

mod answer;
mod parse;
mod schema;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use event_store::{EventStore, IdempotencyKey, Operation};
use ledger_app::adjustments::{
    Change, CommissionChange, OPERATION_ADJUSTMENT, OPERATION_CHANGES, OPERATION_REVERSAL,
    change_commissions,
};
use ledger_domain::CommandContext;

use crate::{AppState, accept_request, app_problem, ingested};
use lambda_edge::Caller;
use lambda_edge::authz::Action;
use lambda_edge::problem::Problem;

use answer::{ChangesAccepted, Shape, change_problem, result};
use parse::{Kind, body_is_bulk, parse_one};

pub(crate) use parse::is_change_message;
pub use parse::parse_changes;
pub use schema::{AdjustmentWire, ChangeWire, ChangesWire, ReversalWire};

/// The most changes one request or message may carry.
pub const CHANGES_MAX: usize = ledger_app::adjustments::CHANGES_MAX;

async fn apply<S: EventStore + 'static>(
    state: &AppState<S>,
    identity: &lambda_edge::Identity,
    headers: &HeaderMap,
    body: Body,
    shape: Shape,
    operation: &str,
    parse: impl FnOnce(&[u8], DateTime<Utc>) -> Result<Vec<CommissionChange>, Problem>,
) -> Result<Response, Problem> {
    let (key, changes, ctx) =
        accept_request(identity, headers, body, Action::ReverseCommissions, parse).await?;
    let operation = Operation::new(operation).map_err(|e| app_problem(e.into()))?;
    let changed = change_commissions(&state.store, &ctx, &operation, &changes, &key)
        .await
        .map_err(|e| change_problem(e, shape))?;
    let duplicates = changed.iter().filter(|c| c.duplicate).count();
    tracing::info!(tenant = %identity.tenant_id, changes = changed.len(), duplicates, "commission changes ingested");
    let status = ingested(
        identity,
        "CommissionChangesIngested",
        changed.len(),
        duplicates,
    );
    let body = ChangesAccepted {
        results: changed.into_iter().map(result).collect(),
    };
    Ok((status, axum::Json(body)).into_response())
}

/// One reversal or adjustment of the commission the path names.
async fn apply_one<S: EventStore + 'static>(
    state: &AppState<S>,
    identity: &lambda_edge::Identity,
    path: Result<Path<String>, PathRejection>,
    headers: &HeaderMap,
    body: Body,
    kind: Kind,
    operation: &str,
) -> Result<Response, Problem> {
    let id = path
        .map(|Path(id)| id)
        .map_err(|e| Problem::bad_request("commission_id", &e.body_text()))?;
    apply(
        state,
        identity,
        headers,
        body,
        Shape::Path,
        operation,
        |b, now| parse_one(kind, &id, b, now),
    )
    .await
}

/// Takes money back from a commission: a refund, a chargeback or a fraud
/// reversal, whole (no `amount`) or partial.
#[utoipa::path(post, path = "/v1/commissions/{commission_id}/reversals", tag = "ingest",
    params(
        ("commission_id" = String, Path, description = "the commission, as recorded"),
        ("Idempotency-Key" = String, Header, description = "required; a retry with the same key and facts answers as the first time, with other facts 409"),
    ),
    request_body(content = ReversalWire, content_type = "application/json"),
    responses(
        (status = 201, body = ChangesAccepted, description = "reversed: in the hold period from pending, after maturity as a receivable the next payout nets"),
        (status = 200, body = ChangesAccepted, description = "this key already made this reversal (duplicate): the original answer"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such commission in your tenant (`commission_id` named); nothing written"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "the key was used with other facts"),
        (status = "4XX", body = Problem, content_type = "application/problem+json", description = "each broken field named (more than remains, another currency, ...), nothing written"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry with the same key"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn post_reversal<S: EventStore + 'static>(
    State(state): State<Arc<AppState<S>>>,
    Caller(identity): Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    apply_one(
        &state,
        &identity,
        path,
        &headers,
        body,
        Kind::Reversal,
        OPERATION_REVERSAL,
    )
    .await
}

/// Adjusts what a commission earned by a signed delta, with a reason.
#[utoipa::path(post, path = "/v1/commissions/{commission_id}/adjustments", tag = "ingest",
    params(
        ("commission_id" = String, Path, description = "the commission, as recorded"),
        ("Idempotency-Key" = String, Header, description = "required; a retry with the same key and facts answers as the first time, with other facts 409"),
    ),
    request_body(content = AdjustmentWire, content_type = "application/json"),
    responses(
        (status = 201, body = ChangesAccepted, description = "adjusted: pending in the hold period; after maturity a decrease is a receivable the next payout nets, an increase is available"),
        (status = 200, body = ChangesAccepted, description = "this key already made this adjustment (duplicate): the original answer"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "no such commission in your tenant (`commission_id` named); nothing written"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "the key was used with other facts"),
        (status = "4XX", body = Problem, content_type = "application/problem+json", description = "each broken field named (below zero, another currency, ...), nothing written"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry with the same key"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn post_adjustment<S: EventStore + 'static>(
    State(state): State<Arc<AppState<S>>>,
    Caller(identity): Caller,
    path: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    apply_one(
        &state,
        &identity,
        path,
        &headers,
        body,
        Kind::Adjustment,
        OPERATION_ADJUSTMENT,
    )
    .await
}

/// Reversals and adjustments of several commissions: all or nothing.
#[utoipa::path(post, path = "/v1/commission-changes", tag = "ingest",
    params(("Idempotency-Key" = String, Header, description = "required; a retry with the same key and facts answers as the first time, with other facts 409")),
    request_body(content = ChangesWire, content_type = "application/json"),
    responses(
        (status = 201, body = ChangesAccepted, description = "every change applied (or, made before with this key, reported as a duplicate)"),
        (status = 200, body = ChangesAccepted, description = "this key already made every change (duplicates): the original answers"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "the key was used with other facts"),
        (status = "4XX", body = Problem, content_type = "application/problem+json", description = "each broken field named as `changes[i].field` (unknown commission, more than remains, another currency, ...), nothing written"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry with the same key"),
    ),
    security(("bearer" = [])))]
pub(crate) async fn post_changes<S: EventStore + 'static>(
    State(state): State<Arc<AppState<S>>>,
    Caller(identity): Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    apply(
        &state,
        &identity,
        &headers,
        body,
        Shape::Body,
        OPERATION_CHANGES,
        parse_changes,
    )
    .await
}

/// A queue message of changes: applied with the message's key and context,
/// as the route of the same shape would (one reversal, one adjustment, or
/// a `changes` body), so a key means the same request on either path.
pub(crate) async fn ingest_message<S: EventStore>(
    store: &S,
    ctx: &CommandContext,
    key: &IdempotencyKey,
    body: &str,
) -> Result<(), String> {
    let changes = parse_changes(body.as_bytes(), ctx.now).map_err(|p| p.describe())?;
    let operation = match changes.as_slice() {
        _ if body_is_bulk(body) => OPERATION_CHANGES,
        [one] if matches!(one.change, Change::Adjust { .. }) => OPERATION_ADJUSTMENT,
        _ => OPERATION_REVERSAL,
    };
    let operation = Operation::new(operation).map_err(|e| e.to_string())?;
    change_commissions(store, ctx, &operation, &changes, key)
        .await
        .map(|_| ())
        .map_err(|e| change_problem(e, Shape::Body).describe())
}
