//! Ingest: the tracking network's commissions, and their reversals and
//! adjustments, over HTTP (API Gateway HTTP API: `POST /v1/commissions`,
//! `POST /v1/commissions/{commission_id}/reversals`,
//! `POST /v1/commissions/{commission_id}/adjustments`,
//! `POST /v1/commission-changes`) and over SQS, appended to the event store.
//!
//! The function edge only: wire formats, limits, identity and error
//! mapping. Every rule lives in the domain and the use cases.

pub mod changes;
pub mod wire;

use std::sync::Arc;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use chrono::DateTime;
use chrono::Utc;
use event_store::{EventStore, IdempotencyKey, StoreError};
use ledger_app::{AppError, record_commissions};
use ledger_domain::{Actor, ActorKind, CommandContext, CommissionError, TenantId};

pub use lambda_edge::Identity;
use lambda_edge::authz::{Action, authorize};
use lambda_edge::problem::{FieldError, Problem};
use lambda_edge::{Caller, TenantClaim};
use serde::Serialize;

/// The largest request body accepted, in bytes.
pub const BODY_BYTES_MAX: usize = 256 * 1024;
/// The most commissions one bulk request may carry: each is one store item
/// of one transaction, and the request's idempotency record is one more.
pub const BULK_ITEMS_MAX: usize = event_store::TRANSACTION_ITEMS_MAX - 1;
/// The role a caller needs to post commissions.
pub const INGEST_ROLE: &str = lambda_edge::authz::role::INGEST;

/// What the handlers share: the store, built once at cold start.
pub struct AppState<S> {
    pub store: S,
    /// The JWT claim that carries the tenant id (Cognito: `custom:tenant_id`).
    pub tenant_claim: String,
}

impl<S> TenantClaim for AppState<S> {
    fn tenant_claim(&self) -> &str {
        &self.tenant_claim
    }
}

/// The HTTP API of this function.
pub fn router<S: EventStore + 'static>(state: Arc<AppState<S>>) -> Router {
    Router::new()
        .route("/v1/commissions", post(post_commissions::<S>))
        .route(
            "/v1/commissions/{commission_id}/reversals",
            post(changes::post_reversal::<S>),
        )
        .route(
            "/v1/commissions/{commission_id}/adjustments",
            post(changes::post_adjustment::<S>),
        )
        .route("/v1/commission-changes", post(changes::post_changes::<S>))
        .with_state(state)
}

#[derive(Serialize, utoipa::ToSchema)]
struct ItemResult {
    commission_id: String,
    status: &'static str,
    stream: String,
    version: u64,
}

#[derive(Serialize, utoipa::ToSchema)]
struct Accepted {
    results: Vec<ItemResult>,
}

fn idempotency_key(headers: &HeaderMap) -> Result<IdempotencyKey, Problem> {
    let value = headers.get("idempotency-key").ok_or_else(|| {
        Problem::bad_request(
            "Idempotency-Key",
            "is required on every POST that creates something",
        )
    })?;
    let text = value
        .to_str()
        .map_err(|_| Problem::bad_request("Idempotency-Key", "must be printable ASCII"))?;
    IdempotencyKey::new(text).map_err(|e| Problem::bad_request("Idempotency-Key", &e.to_string()))
}

/// The body of a JSON request, within [`BODY_BYTES_MAX`].
async fn read_json_body(headers: &HeaderMap, body: Body) -> Result<axum::body::Bytes, Problem> {
    lambda_edge::problem::json_request_bytes(headers, body, BODY_BYTES_MAX).await
}

/// Who acts for an HTTP request: the verified machine caller, in its tenant.
fn service_context(
    identity: &Identity,
    role: &str,
    now: DateTime<Utc>,
) -> Result<CommandContext, Problem> {
    Ok(CommandContext {
        tenant_id: identity.tenant_id.clone(),
        actor: Actor::new(ActorKind::Service, identity.subject.clone())
            .and_then(|a| a.acting(Some(role), identity.request_id.as_deref()))
            .map_err(|e| Problem::bad_request("sub", &e.to_string()))?,
        now,
        effective_at: now,
    })
}

/// What every ingest route does before its use case, in this order: the
/// caller may take `action`, the request carries an idempotency key, and
/// its JSON body is parsed at one instant, which is also the time of the
/// returned context (who acts).
async fn accept_request<T>(
    identity: &Identity,
    headers: &HeaderMap,
    body: Body,
    action: Action<'_>,
    parse: impl FnOnce(&[u8], DateTime<Utc>) -> Result<T, Problem>,
) -> Result<(IdempotencyKey, T, CommandContext), Problem> {
    let role = authorize(identity, action)?;
    let key = idempotency_key(headers)?;
    let bytes = read_json_body(headers, body).await?;
    let now = Utc::now();
    let parsed = parse(&bytes, now)?;
    let ctx = service_context(identity, role, now)?;
    Ok((key, parsed, ctx))
}

/// Counts what a request ingested (`metric` for the new ones, beside the
/// duplicates) and answers 200 when everything was a duplicate (a retry of
/// a request already made), 201 when anything was new.
fn ingested(
    identity: &Identity,
    metric: &'static str,
    total: usize,
    duplicates: usize,
) -> StatusCode {
    lambda_edge::metrics::Metrics::new("ingest-commissions")
        .tenant(identity.tenant_id.as_str())
        .count(metric, total - duplicates)
        .count("Duplicates", duplicates)
        .emit();
    if duplicates == total {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    }
}

/// Records commissions: one, or a bulk body of up to 99 (all or nothing).
/// The key is the request's, per tenant: a retry with the same body, even
/// concurrent with the first, gets the first answer (200, every commission
/// `duplicate`); the same key with another body is 409.
#[utoipa::path(post, path = "/v1/commissions", tag = "ingest",
    params(("Idempotency-Key" = String, Header, description = "required; a retry with the same key and body is acknowledged as a duplicate")),
    request_body(content(
        (wire::CommissionWire = "application/json"),
    ), description = "one commission, or `{\"commissions\": [...]}` (see BulkWire)"),
    responses(
        (status = 201, body = Accepted, description = "recorded"),
        (status = 200, body = Accepted, description = "every commission was already recorded with this key (duplicates)"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "the commission or key was used with other facts"),
        (status = "4XX", body = Problem, content_type = "application/problem+json", description = "each broken field named, nothing written"),
        (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry"),
    ),
    security(("bearer" = [])))]
async fn post_commissions<S: EventStore + 'static>(
    State(state): State<Arc<AppState<S>>>,
    Caller(identity): Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let (key, commands, ctx) = accept_request(
        &identity,
        &headers,
        body,
        Action::IngestCommissions,
        wire::parse_commissions,
    )
    .await?;
    let recorded = record_commissions(&state.store, &ctx, &commands, Some(&key))
        .await
        .map_err(app_problem)?;
    let duplicates = recorded.iter().filter(|r| r.duplicate).count();
    tracing::info!(tenant = %identity.tenant_id, commissions = recorded.len(), duplicates, "commissions ingested");
    let status = ingested(&identity, "CommissionsIngested", recorded.len(), duplicates);
    let body = Accepted {
        results: recorded
            .into_iter()
            .map(|r| ItemResult {
                commission_id: r.commission_id.to_string(),
                status: if r.duplicate { "duplicate" } else { "recorded" },
                stream: r.stream.to_string(),
                version: r.version,
            })
            .collect(),
    };
    Ok((status, axum::Json(body)).into_response())
}

/// Maps use-case failures to problems: conflicts are the caller's (409),
/// store trouble is ours and retryable (503).
pub fn app_problem(error: AppError) -> Problem {
    match error {
        AppError::Commission(CommissionError::AlreadyRecorded(id)) => Problem::conflict(&format!(
            "commission {id} is already recorded with other facts; a correction is an adjustment or a reversal"
        )),
        AppError::Commission(other) => Problem::unprocessable(vec![FieldError {
            field: "commission".into(),
            rule: other.to_string(),
        }]),
        AppError::Store(StoreError::IdempotencyConflict { key, .. }) => Problem::conflict(
            &format!("Idempotency-Key {key:?} was used for another request"),
        ),
        AppError::Store(StoreError::VersionConflict { stream, .. }) => {
            Problem::conflict(&format!("{stream} changed concurrently; retry"))
        }
        AppError::Store(
            e @ (StoreError::LimitExceeded { .. } | StoreError::InvalidInput { .. }),
        ) => Problem::unprocessable(vec![FieldError {
            field: "body".into(),
            rule: e.to_string(),
        }]),
        other => {
            tracing::error!(error = %other, "ingest failed");
            Problem::unavailable()
        }
    }
}

/// The SQS path: each message is one commission (or a bulk body of them),
/// or a reversal or adjustment (`"kind": "reversal"` / `"adjustment"` with
/// its `commission_id`, or a `{"changes": [...]}` body; see [`changes`]);
/// a message without `kind` is a commission, as it always was. The tenant is in the
/// `tenant_id` message attribute (set by the tracking network's producer;
/// the queue policy admits only its role) and an optional `idempotency_key`
/// attribute (default: the message id, stable across redeliveries).
/// Messages that fail are reported individually, so only they are retried,
/// and after the queue's receive count they land in its dead-letter queue.
pub async fn handle_sqs<S: EventStore>(store: &S, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    for message in event.records {
        let id = message.message_id.clone().unwrap_or_default();
        if let Err(reason) = ingest_message(store, &message).await {
            tracing::warn!(message_id = %id, %reason, "commission message failed");
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failures.push(failure);
        }
    }
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures;
    response
}

fn attribute(message: &aws_lambda_events::event::sqs::SqsMessage, name: &str) -> Option<String> {
    message
        .message_attributes
        .get(name)
        .and_then(|a| a.string_value.clone())
}

async fn ingest_message<S: EventStore>(
    store: &S,
    message: &aws_lambda_events::event::sqs::SqsMessage,
) -> Result<(), String> {
    let tenant = attribute(message, "tenant_id").ok_or("message attribute tenant_id is missing")?;
    let tenant_id = TenantId::new(&tenant).map_err(|e| e.to_string())?;
    let key = attribute(message, "idempotency_key")
        .or_else(|| message.message_id.clone())
        .ok_or("message has neither an idempotency_key attribute nor a message id")?;
    let key = IdempotencyKey::new(key).map_err(|e| e.to_string())?;
    let body = message.body.as_deref().ok_or("message has no body")?;
    let now = Utc::now();
    let ctx = CommandContext {
        tenant_id,
        actor: Actor::new(ActorKind::Service, "tracking-network-queue")
            .and_then(|a| a.acting(Some(INGEST_ROLE), message.message_id.as_deref()))
            .map_err(|e| e.to_string())?,
        now,
        effective_at: now,
    };
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    if changes::is_change_message(&value) {
        return changes::ingest_message(store, &ctx, &key, body).await;
    }
    let body = match value {
        // `"kind": "commission"` names the old message format explicitly.
        serde_json::Value::Object(mut object) if object.contains_key("kind") => {
            object.remove("kind");
            serde_json::Value::Object(object).to_string()
        }
        _ => body.to_owned(),
    };
    let parsed = wire::parse_commissions(body.as_bytes(), now).map_err(|p| p.describe())?;
    record_commissions(store, &ctx, &parsed, Some(&key))
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// This function's part of the OpenAPI document.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(post_commissions, changes::post_reversal, changes::post_adjustment, changes::post_changes),
    components(schemas(wire::BulkWire, changes::ChangeWire)),
    tags((name = "ingest", description = "the tracking network posts commissions, and their refunds, chargebacks, fraud reversals and adjustments"))
)]
pub struct IngestApiDoc;
