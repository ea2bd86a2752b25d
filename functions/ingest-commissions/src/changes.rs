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

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use event_store::{EventStore, IdempotencyKey, Operation};
use ledger_app::adjustments::{
    Change, ChangeError, Changed, CommissionChange, Effect, OPERATION_ADJUSTMENT,
    OPERATION_CHANGES, OPERATION_REVERSAL, change_commissions,
};
use ledger_domain::money::currency_from_code;
use ledger_domain::{CommandContext, CommissionId, CommissionStage, Money, ReversalReason};
use serde::Serialize;
use serde_json::Value;

use crate::wire::Item;
use crate::{AppState, app_problem, idempotency_key, read_json_body, service_context};
use lambda_edge::Caller;
use lambda_edge::authz::{Action, authorize};
use lambda_edge::problem::{FieldError, Problem};

/// The most changes one request or message may carry.
pub const CHANGES_MAX: usize = ledger_app::adjustments::CHANGES_MAX;

/// The fields of a reversal body.
pub(crate) const REVERSAL_FIELDS: [&str; 5] =
    ["amount", "currency", "reason", "reference", "occurred_at"];
/// The fields of an adjustment body.
pub(crate) const ADJUSTMENT_FIELDS: [&str; 4] = ["delta", "currency", "reason", "occurred_at"];
/// What a bulk item or a queue message adds to either.
const ITEM_FIELDS: [&str; 2] = ["kind", "commission_id"];
/// The reasons the tracking network reports.
const REASONS: [(&str, ReversalReason); 3] = [
    ("refund", ReversalReason::Refund),
    ("chargeback", ReversalReason::Chargeback),
    ("fraud", ReversalReason::Fraud),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Reversal,
    Adjustment,
}

fn parse_change(
    kind: Kind,
    commission_id: Option<CommissionId>,
    item: &mut Item<'_>,
    now: DateTime<Utc>,
) -> Option<CommissionChange> {
    let currency = item.string("currency", true).and_then(|c| {
        currency_from_code(&c)
            .map_err(|e| item.fail("currency", e.to_string()))
            .ok()
    });
    let occurred_at = item.past_time("occurred_at", now);
    let change = match kind {
        Kind::Reversal => {
            let amount = item.decimal("amount", false);
            let amount = match (amount, currency) {
                (None, _) => Some(None),
                (Some(text), Some(currency)) => match Money::parse(&text, currency) {
                    Ok(m) if m.is_positive() => Some(Some(m)),
                    Ok(_) => {
                        item.fail(
                            "amount",
                            "must be greater than zero; leave it out to reverse everything that remains",
                        );
                        None
                    }
                    Err(e) => {
                        item.fail("amount", e.to_string());
                        None
                    }
                },
                (Some(_), None) => None,
            };
            let reason = item.string("reason", true).and_then(|r| {
                let found = REASONS.iter().find(|(name, _)| *name == r).map(|(_, v)| *v);
                if found.is_none() {
                    item.fail("reason", "must be one of refund, chargeback, fraud");
                }
                found
            });
            let reference = item.text("reference", true);
            Change::Reverse {
                amount: amount?,
                currency: currency?,
                reason: reason?,
                reference: reference?,
            }
        }
        Kind::Adjustment => {
            let delta = item.decimal("delta", true);
            let delta = match (delta, currency) {
                (Some(text), Some(currency)) => match Money::parse(&text, currency) {
                    Ok(m) if m.is_zero() => {
                        item.fail("delta", "must not be zero");
                        None
                    }
                    Ok(m) => Some(m),
                    Err(e) => {
                        item.fail("delta", e.to_string());
                        None
                    }
                },
                _ => None,
            };
            let reason = item.text("reason", true);
            Change::Adjust {
                delta: delta?,
                reason: reason?,
            }
        }
    };
    Some(CommissionChange {
        commission_id: commission_id?,
        change,
        occurred_at: occurred_at?,
    })
}

fn object<'a>(
    value: &'a Value,
    field: &str,
    errors: &mut Vec<FieldError>,
) -> Option<&'a serde_json::Map<String, Value>> {
    match value {
        Value::Object(object) => Some(object),
        _ => {
            errors.push(FieldError {
                field: field.to_owned(),
                rule: "must be a JSON object".into(),
            });
            None
        }
    }
}

fn parse_json(body: &[u8]) -> Result<Value, Problem> {
    serde_json::from_slice(body)
        .map_err(|e| Problem::malformed_json(format!("the body is not valid JSON: {e}")))
}

fn done(
    errors: Vec<FieldError>,
    changes: Vec<CommissionChange>,
) -> Result<Vec<CommissionChange>, Problem> {
    if errors.is_empty() {
        Ok(changes)
    } else {
        Err(Problem::unprocessable(errors))
    }
}

/// Parses the body of a change of the commission named in the path.
fn parse_one(
    kind: Kind,
    commission_id: &str,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<Vec<CommissionChange>, Problem> {
    let value = parse_json(body)?;
    let mut errors = Vec::new();
    let id = CommissionId::new(commission_id)
        .map_err(|e| {
            errors.push(FieldError {
                field: "commission_id".into(),
                rule: e.to_string(),
            })
        })
        .ok();
    let mut changes = Vec::new();
    if let Some(object) = object(&value, "body", &mut errors) {
        let mut item = Item {
            prefix: String::new(),
            object,
            errors: &mut errors,
        };
        item.known_fields(match kind {
            Kind::Reversal => &REVERSAL_FIELDS,
            Kind::Adjustment => &ADJUSTMENT_FIELDS,
        });
        changes.extend(parse_change(kind, id, &mut item, now));
    }
    done(errors, changes)
}

/// One item with its `kind` and `commission_id`.
fn parse_item(
    prefix: String,
    value: &Value,
    now: DateTime<Utc>,
    errors: &mut Vec<FieldError>,
) -> Option<CommissionChange> {
    let name = if prefix.is_empty() {
        "body".to_owned()
    } else {
        prefix.trim_end_matches('.').to_owned()
    };
    let object = object(value, &name, errors)?;
    let mut item = Item {
        prefix,
        object,
        errors,
    };
    let kind = match item.string("kind", true).as_deref() {
        Some("reversal") => Some(Kind::Reversal),
        Some("adjustment") => Some(Kind::Adjustment),
        Some(_) => {
            item.fail("kind", "must be reversal or adjustment");
            None
        }
        None => None,
    };
    let known: Vec<&str> = match kind {
        Some(Kind::Reversal) => ITEM_FIELDS
            .iter()
            .chain(&REVERSAL_FIELDS)
            .copied()
            .collect(),
        Some(Kind::Adjustment) => ITEM_FIELDS
            .iter()
            .chain(&ADJUSTMENT_FIELDS)
            .copied()
            .collect(),
        None => return None,
    };
    item.known_fields(&known);
    let commission_id = item.string("commission_id", true).and_then(|s| {
        CommissionId::new(s)
            .map_err(|e| item.fail("commission_id", e.to_string()))
            .ok()
    });
    parse_change(kind?, commission_id, &mut item, now)
}

/// Parses a bulk body `{"changes": [...]}`, or one change with its `kind`
/// and `commission_id` (a queue message). All or nothing.
pub fn parse_changes(body: &[u8], now: DateTime<Utc>) -> Result<Vec<CommissionChange>, Problem> {
    let value = parse_json(body)?;
    let mut errors = Vec::new();
    let mut changes = Vec::new();
    match value.get("changes") {
        Some(Value::Array(items)) => {
            if items.is_empty() || items.len() > CHANGES_MAX {
                return Err(Problem::unprocessable(vec![FieldError {
                    field: "changes".into(),
                    rule: format!("must hold 1 to {CHANGES_MAX} items, got {}", items.len()),
                }]));
            }
            if let Some(other) = value
                .as_object()
                .and_then(|o| o.keys().find(|k| *k != "changes"))
            {
                errors.push(FieldError {
                    field: other.clone(),
                    rule: "is not a known field of a bulk body".into(),
                });
            }
            for (i, item) in items.iter().enumerate() {
                changes.extend(parse_item(format!("changes[{i}]."), item, now, &mut errors));
            }
            // Indexes line up with the body's only when every item parsed.
            if errors.is_empty() {
                for (i, change) in changes.iter().enumerate() {
                    if changes[..i]
                        .iter()
                        .any(|c| c.commission_id == change.commission_id)
                    {
                        errors.push(FieldError {
                            field: format!("changes[{i}].commission_id"),
                            rule: format!(
                                "{} appears twice in this body: one change per commission per request",
                                change.commission_id
                            ),
                        });
                    }
                }
            }
        }
        Some(_) => errors.push(FieldError {
            field: "changes".into(),
            rule: "must be an array".into(),
        }),
        None => changes.extend(parse_item(String::new(), &value, now, &mut errors)),
    }
    done(errors, changes)
}

fn body_is_bulk(body: &str) -> bool {
    serde_json::from_str::<Value>(body).is_ok_and(|v| v.get("changes").is_some())
}

/// Whether a queue message is a change (it names a `kind` other than
/// `commission`, or is a `{"changes": [...]}` body) rather than commissions.
pub(crate) fn is_change_message(value: &Value) -> bool {
    value.get("changes").is_some()
        || value
            .get("kind")
            .is_some_and(|k| k.as_str() != Some("commission"))
}

/// Where a request named the changes: in the path (one) or in the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    Path,
    Body,
}

/// Maps a refusal to a problem naming the field (`changes[2].amount` in a
/// bulk body, `amount` for one change in the path).
fn change_problem(error: ChangeError, shape: Shape) -> Problem {
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
    results: Vec<ChangeResult>,
}

fn result(changed: Changed) -> ChangeResult {
    let taken_from = |stage: CommissionStage| match stage {
        CommissionStage::Pending => "pending",
        CommissionStage::Matured => "receivable",
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
                (false, CommissionStage::Pending) => "pending",
                (false, CommissionStage::Matured) => "available",
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

async fn apply<S: EventStore + 'static>(
    state: &AppState<S>,
    identity: &lambda_edge::Identity,
    headers: &HeaderMap,
    body: Body,
    shape: Shape,
    operation: &str,
    parse: impl FnOnce(&[u8], DateTime<Utc>) -> Result<Vec<CommissionChange>, Problem>,
) -> Result<Response, Problem> {
    let role = authorize(identity, Action::ReverseCommissions)?;
    let key = idempotency_key(headers)?;
    let bytes = read_json_body(headers, body).await?;
    let now = Utc::now();
    let changes = parse(&bytes, now)?;
    let ctx = service_context(identity, role, now)?;
    let operation = Operation::new(operation).map_err(|e| app_problem(e.into()))?;
    let changed = change_commissions(&state.store, &ctx, &operation, &changes, &key)
        .await
        .map_err(|e| change_problem(e, shape))?;
    let duplicates = changed.iter().filter(|c| c.duplicate).count();
    tracing::info!(tenant = %identity.tenant_id, changes = changed.len(), duplicates, "commission changes ingested");
    lambda_edge::metrics::Metrics::new("ingest-commissions")
        .tenant(identity.tenant_id.as_str())
        .count("CommissionChangesIngested", changed.len() - duplicates)
        .count("Duplicates", duplicates)
        .emit();
    let status = if duplicates == changed.len() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let body = ChangesAccepted {
        results: changed.into_iter().map(result).collect(),
    };
    Ok((status, axum::Json(body)).into_response())
}

fn path_id(path: Result<Path<String>, PathRejection>) -> Result<String, Problem> {
    path.map(|Path(id)| id)
        .map_err(|e| Problem::bad_request("commission_id", &e.body_text()))
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
    let id = path_id(path)?;
    apply(
        &state,
        &identity,
        &headers,
        body,
        Shape::Path,
        OPERATION_REVERSAL,
        |b, now| parse_one(Kind::Reversal, &id, b, now),
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
    let id = path_id(path)?;
    apply(
        &state,
        &identity,
        &headers,
        body,
        Shape::Path,
        OPERATION_ADJUSTMENT,
        |b, now| parse_one(Kind::Adjustment, &id, b, now),
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

/// A reversal on the wire, for the OpenAPI document (the parser above reads
/// the JSON itself; a test keeps these fields equal to the parsed ones).
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct ReversalWire {
    /// A positive decimal string at the currency's minor unit; left out:
    /// everything that remains.
    #[schema(pattern = r"^[0-9]+(\.[0-9]+)?$")]
    amount: Option<String>,
    /// ISO 4217; must be the commission's.
    currency: String,
    /// `refund`, `chargeback` or `fraud`.
    reason: String,
    /// The processor's or shop's reference (refund id, dispute id, case id).
    reference: String,
    /// RFC 3339; default now; at most 5 minutes in the future.
    occurred_at: Option<String>,
}

/// An adjustment on the wire.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct AdjustmentWire {
    /// A signed, non-zero decimal string at the currency's minor unit.
    #[schema(pattern = r"^-?[0-9]+(\.[0-9]+)?$")]
    delta: String,
    /// ISO 4217; must be the commission's.
    currency: String,
    /// Why (1 to 500 bytes).
    reason: String,
    /// RFC 3339; default now; at most 5 minutes in the future.
    occurred_at: Option<String>,
}

/// One item of a bulk body, or one queue message: `kind` and
/// `commission_id`, then the fields of a reversal or of an adjustment.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct ChangeWire {
    /// `reversal` or `adjustment` (on the queue, `commission` or none: a commission).
    kind: String,
    commission_id: String,
    /// Reversals only; left out: everything that remains.
    amount: Option<String>,
    /// Adjustments only (required there).
    delta: Option<String>,
    currency: String,
    /// Reversals: `refund`, `chargeback`, `fraud`; adjustments: free text.
    reason: String,
    /// Reversals only (required there).
    reference: Option<String>,
    occurred_at: Option<String>,
}

/// A bulk body: at most 49 changes, one per commission, all or nothing.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
pub struct ChangesWire {
    changes: Vec<ChangeWire>,
}

#[cfg(test)]
mod tests {
    use utoipa::PartialSchema;

    use super::*;

    fn fields(schema: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>) -> Vec<String> {
        let schema = serde_json::to_value(schema).unwrap();
        let mut out: Vec<String> = schema["properties"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        out.sort();
        out
    }

    fn sorted(fields: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn the_documented_fields_are_the_parsed_ones() {
        assert_eq!(fields(ReversalWire::schema()), sorted(&REVERSAL_FIELDS));
        assert_eq!(fields(AdjustmentWire::schema()), sorted(&ADJUSTMENT_FIELDS));
        let all: Vec<&str> = ITEM_FIELDS
            .iter()
            .chain(&REVERSAL_FIELDS)
            .chain(&ADJUSTMENT_FIELDS)
            .copied()
            .collect();
        assert_eq!(fields(ChangeWire::schema()), sorted(&all));
        assert_eq!(CHANGES_MAX, 49, "the documented limit");
    }

    #[test]
    fn queue_messages_without_a_kind_stay_commissions() {
        let message = |body: &str| is_change_message(&serde_json::from_str(body).unwrap());
        assert!(!message(r#"{"commission_id": "c-1", "amount": "1.00"}"#));
        assert!(!message(r#"{"commissions": []}"#));
        assert!(!message(
            r#"{"kind": "commission", "commission_id": "c-1"}"#
        ));
        assert!(message(r#"{"kind": "reversal", "commission_id": "c-1"}"#));
        assert!(message(r#"{"kind": "adjustment"}"#));
        assert!(message(r#"{"kind": 7}"#));
        assert!(message(r#"{"changes": []}"#));
    }

    #[test]
    fn a_whole_reversal_has_no_amount_and_each_broken_field_is_named() {
        let now = Utc::now();
        let parsed = parse_changes(
            br#"{"kind": "reversal", "commission_id": "c-1", "currency": "EUR", "reason": "chargeback", "reference": "dp_1"}"#,
            now,
        )
        .unwrap();
        assert_eq!(parsed.len(), 1);
        assert!(matches!(
            parsed[0].change,
            Change::Reverse {
                amount: None,
                reason: ReversalReason::Chargeback,
                ..
            }
        ));
        assert_eq!(parsed[0].occurred_at, None);
        let problem = parse_changes(
            br#"{"changes": [{"kind": "adjustment", "commission_id": "c-1", "delta": 2.5, "currency": "EUR", "reason": "x"},
                             {"kind": "reversal", "commission_id": "c 2", "amount": "-1.00", "currency": "EUR", "reason": "manual", "reference": ""}]}"#,
            now,
        )
        .unwrap_err();
        let mut named: Vec<&str> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        named.sort();
        assert_eq!(
            named,
            vec![
                "changes[0].delta",
                "changes[1].amount",
                "changes[1].commission_id",
                "changes[1].reason",
                "changes[1].reference"
            ],
            "{problem:?}"
        );
    }
}
