//! The local stand-ins of the two SQS queues (commissions in, payout
//! dispatch): in-process, with receive counts, the template's batch size
//! and dead letters, and the routes that enqueue, list and re-drive them.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::Backend;

/// Receives before a message moves to the dead letters (the template's
/// `maxReceiveCount` for the commissions queue).
pub const QUEUE_RECEIVES_MAX: u32 = 5;
/// Messages handed to the SQS handler at once (the template's batch size).
pub const QUEUE_BATCH_MAX: usize = 10;
/// The most messages the local queue holds.
pub const QUEUE_LENGTH_MAX: usize = 10_000;

/// One message of the local commissions queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedMessage {
    pub message_id: String,
    pub tenant_id: String,
    pub idempotency_key: Option<String>,
    pub body: String,
    pub receives: u32,
}

/// What the local queues hold: a message with its id and receive count.
trait Queued: Clone {
    fn id(&self) -> &str;
    fn receives(&mut self) -> &mut u32;
    /// The record the SQS handler is given.
    fn record(&self) -> serde_json::Value;
    /// Called when the handler left the message for retry.
    fn left_for_retry(&mut self) {}
}

/// A queue and its dead-letter queue, in memory, with SQS's receive
/// semantics: batches of `QUEUE_BATCH_MAX`, a failed message received
/// again until `QUEUE_RECEIVES_MAX`, then kept as a dead letter.
struct Lanes<T> {
    pending: Arc<std::sync::Mutex<std::collections::VecDeque<T>>>,
    dead: Arc<std::sync::Mutex<Vec<T>>>,
}

impl<T> Clone for Lanes<T> {
    fn clone(&self) -> Self {
        Lanes {
            pending: Arc::clone(&self.pending),
            dead: Arc::clone(&self.dead),
        }
    }
}

impl<T> Default for Lanes<T> {
    fn default() -> Self {
        Lanes {
            pending: Arc::default(),
            dead: Arc::default(),
        }
    }
}

impl<T: Queued> Lanes<T> {
    /// Queues all of `messages` or, past `QUEUE_LENGTH_MAX`, none.
    fn push(&self, messages: Vec<T>) -> Result<(), &'static str> {
        let mut pending = self
            .pending
            .lock()
            .map_err(|_| "the local queue is broken")?;
        if pending.len() + messages.len() > QUEUE_LENGTH_MAX {
            return Err("the local queue is full");
        }
        pending.extend(messages);
        Ok(())
    }

    fn pending(&self) -> usize {
        self.pending.lock().map(|p| p.len()).unwrap_or_default()
    }

    fn dead_letters(&self) -> Vec<T> {
        self.dead.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Takes the next batch as an SQS event for the handler.
    fn receive(&self) -> Option<(Vec<T>, aws_lambda_events::event::sqs::SqsEvent)> {
        let batch: Vec<T> = {
            let mut pending = self.pending.lock().ok()?;
            let n = pending.len().min(QUEUE_BATCH_MAX);
            pending.drain(..n).collect()
        };
        if batch.is_empty() {
            return None;
        }
        let records: Vec<serde_json::Value> = batch.iter().map(Queued::record).collect();
        match serde_json::from_value(serde_json::json!({"Records": records})) {
            Ok(event) => Some((batch, event)),
            Err(e) => {
                tracing::error!(error = %e, "a local queue batch is not an SQS event; kept for retry");
                self.settle(&batch, &batch.iter().map(|m| m.id().to_owned()).collect());
                None
            }
        }
    }

    /// After the handler: the messages it reported failed are received
    /// again, or kept as dead letters once out of receives.
    fn settle(&self, batch: &[T], failed: &std::collections::HashSet<String>) {
        for message in batch {
            if !failed.contains(message.id()) {
                continue;
            }
            let mut message = message.clone();
            *message.receives() += 1;
            message.left_for_retry();
            if *message.receives() >= QUEUE_RECEIVES_MAX {
                tracing::warn!(message_id = %message.id(), "message moved to the dead letters");
                if let Ok(mut dead) = self.dead.lock() {
                    dead.push(message);
                }
            } else if let Ok(mut pending) = self.pending.lock() {
                pending.push_back(message);
            }
        }
    }

    /// Moves the chosen dead letters of one tenant back to the queue with
    /// their receives reset (safe: ingest is idempotent by key, dispatch
    /// asks the processor before paying); returns their ids.
    fn redrive(
        &self,
        body: &RedriveBody,
        tenant_of: impl Fn(&T) -> bool,
    ) -> Result<Vec<String>, &'static str> {
        let mut dead = self.dead.lock().map_err(|_| "the local queue is broken")?;
        let mut pending = self
            .pending
            .lock()
            .map_err(|_| "the local queue is broken")?;
        let (taken, kept): (Vec<T>, Vec<T>) = dead.drain(..).partition(|m| {
            tenant_of(m) && (body.all || body.message_ids.iter().any(|id| id == m.id()))
        });
        if pending.len() + taken.len() > QUEUE_LENGTH_MAX {
            dead.extend(kept);
            dead.extend(taken);
            return Err("the local queue is full");
        }
        *dead = kept;
        let mut ids = Vec::with_capacity(taken.len());
        for mut message in taken {
            *message.receives() = 0;
            ids.push(message.id().to_owned());
            pending.push_back(message);
        }
        Ok(ids)
    }
}

fn failed_ids(
    response: aws_lambda_events::event::sqs::SqsBatchResponse,
) -> std::collections::HashSet<String> {
    response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

impl Queued for QueuedMessage {
    fn id(&self) -> &str {
        &self.message_id
    }

    fn receives(&mut self) -> &mut u32 {
        &mut self.receives
    }

    fn record(&self) -> serde_json::Value {
        let mut attributes =
            serde_json::json!({"tenant_id": {"stringValue": self.tenant_id, "dataType": "String"}});
        if let Some(key) = &self.idempotency_key {
            attributes["idempotency_key"] =
                serde_json::json!({"stringValue": key, "dataType": "String"});
        }
        serde_json::json!({
            "messageId": self.message_id,
            "body": self.body,
            "attributes": {"ApproximateReceiveCount": (self.receives + 1).to_string()},
            "messageAttributes": attributes,
            "eventSource": "aws:sqs",
        })
    }
}

/// The in-process stand-in for the commissions queue and its dead-letter
/// queue: messages go through the same SQS handler as on AWS, failed ones
/// are received again, and after `QUEUE_RECEIVES_MAX` receives they are kept
/// as dead letters. It lives in memory: Ctrl-C drains it, a crash loses what
/// it has not handed over yet.
#[derive(Clone, Default)]
pub struct LocalQueue {
    lanes: Lanes<QueuedMessage>,
}

impl LocalQueue {
    fn push(&self, message: QueuedMessage) -> Result<(), lambda_edge::problem::Problem> {
        self.lanes
            .push(vec![message])
            .map_err(|_| lambda_edge::problem::Problem::unavailable())
    }

    pub fn dead_letters(&self) -> Vec<QueuedMessage> {
        self.lanes.dead_letters()
    }

    /// Hands one batch to the SQS handler; returns how many were handled.
    pub(crate) async fn deliver(&self, backend: &Backend) -> usize {
        let Some((batch, event)) = self.lanes.receive() else {
            return 0;
        };
        let response = match backend {
            Backend::Embedded(store) => ingest_commissions::handle_sqs(store, event).await,
            Backend::Aws { store, .. } => ingest_commissions::handle_sqs(store, event).await,
        };
        self.lanes.settle(&batch, &failed_ids(response));
        batch.len()
    }
}

pub(crate) struct QueueState {
    queue: LocalQueue,
}

impl lambda_edge::TenantClaim for QueueState {
    fn tenant_claim(&self) -> &str {
        "tenant_id"
    }
}

/// The commissions queue's stand-in: one message, handed to the SQS handler:
/// a commission (or `{"commissions": [...]}`), or a reversal or adjustment
/// with its `kind` and `commission_id` (or `{"changes": [...]}`).
#[utoipa::path(post, path = "/local/queues/commissions", tag = "local", params(("Idempotency-Key" = Option<String>, Header)),
    request_body(content(
        (ingest_commissions::wire::CommissionWire = "application/json"),
    ), description = "a commission, as `POST /v1/commissions` takes it (no `kind`, or `\"kind\": \"commission\"`); or a change, as one item of `POST /v1/commission-changes` (ChangeWire: `\"kind\": \"reversal\"` or `\"adjustment\"` with its `commission_id`); or either's bulk body"),
    responses((status = 202, description = "queued: `{\"message_id\": …}`"), (status = "4XX", body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "refused; the problem names the rule")), security(("bearer" = [])))]
pub(crate) async fn enqueue(
    axum::extract::State(state): axum::extract::State<Arc<QueueState>>,
    lambda_edge::Caller(identity): lambda_edge::Caller,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Response, lambda_edge::problem::Problem> {
    use axum::response::IntoResponse;
    lambda_edge::authz::authorize(&identity, lambda_edge::authz::Action::IngestCommissions)?;
    let bytes = axum::body::to_bytes(body, ingest_commissions::BODY_BYTES_MAX)
        .await
        .map_err(|_| {
            lambda_edge::problem::Problem::too_large(ingest_commissions::BODY_BYTES_MAX)
        })?;
    let body = String::from_utf8(bytes.to_vec()).map_err(|_| {
        lambda_edge::problem::Problem::malformed_json("the body is not UTF-8".into())
    })?;
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|_| lambda_edge::problem::Problem::unavailable())?;
    let message_id = hex::encode(id);
    state.queue.push(QueuedMessage {
        message_id: message_id.clone(),
        tenant_id: identity.tenant_id.to_string(),
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
        receives: 0,
    })?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"message_id": message_id})),
    )
        .into_response())
}

/// The tenant's commission messages that exhausted their receives (admins).
#[utoipa::path(get, path = "/local/queues/commissions/dead-letters", tag = "local", responses((status = 200, description = "`{\"dead_letters\": [...]}`"), (status = "4XX", body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "refused; the problem names the rule")), security(("bearer" = [])))]
pub(crate) async fn dead_letters(
    axum::extract::State(state): axum::extract::State<Arc<QueueState>>,
    lambda_edge::Caller(identity): lambda_edge::Caller,
) -> Result<Response, lambda_edge::problem::Problem> {
    use axum::response::IntoResponse;
    lambda_edge::authz::authorize(&identity, lambda_edge::authz::Action::ReadAudit)?;
    // Only the caller's own tenant's messages.
    let mine: Vec<QueuedMessage> = state
        .queue
        .dead_letters()
        .into_iter()
        .filter(|m| m.tenant_id == identity.tenant_id.as_str())
        .collect();
    Ok(axum::Json(serde_json::json!({"dead_letters": mine})).into_response())
}

/// Which dead letters to move back: named ones, or all of the tenant's
/// (which must be said explicitly).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedriveBody {
    #[serde(default)]
    pub message_ids: Vec<String>,
    #[serde(default)]
    pub all: bool,
}

fn redrive_selection(body: &RedriveBody) -> Result<(), lambda_edge::problem::Problem> {
    if body.message_ids.is_empty() != body.all {
        return Err(lambda_edge::problem::Problem::unprocessable(vec![
            lambda_edge::problem::FieldError {
                field: "message_ids".into(),
                rule: "name the messages, or send \"all\": true (and no ids) to move every one of your tenant's".into(),
            },
        ]));
    }
    Ok(())
}

/// Moves named dead letters (or, said explicitly, all of the tenant's) back to the queue (admins).
#[utoipa::path(post, path = "/local/queues/commissions/dead-letters/redrive", tag = "local", request_body = RedriveBody,
    responses((status = 200, description = "`{\"redriven\": [ids]}`"), (status = "4XX", body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "refused; the problem names the rule")), security(("bearer" = [])))]
pub(crate) async fn redrive_commissions(
    axum::extract::State(state): axum::extract::State<Arc<QueueState>>,
    lambda_edge::Caller(identity): lambda_edge::Caller,
    axum::Json(body): axum::Json<RedriveBody>,
) -> Result<Response, lambda_edge::problem::Problem> {
    use axum::response::IntoResponse;
    lambda_edge::authz::authorize(&identity, lambda_edge::authz::Action::ReadAudit)?;
    redrive_selection(&body)?;
    let ids = state
        .queue
        .lanes
        .redrive(&body, |m| m.tenant_id == identity.tenant_id.as_str())
        .map_err(|_| lambda_edge::problem::Problem::unavailable())?;
    tracing::info!(tenant = %identity.tenant_id, count = ids.len(), "commission dead letters re-driven");
    Ok(axum::Json(serde_json::json!({"redriven": ids})).into_response())
}

pub(crate) fn queue_routes(queue: LocalQueue) -> Router {
    Router::new()
        .route("/local/queues/commissions", axum::routing::post(enqueue))
        .route(
            "/local/queues/commissions/dead-letters",
            axum::routing::get(dead_letters),
        )
        .route(
            "/local/queues/commissions/dead-letters/redrive",
            axum::routing::post(redrive_commissions),
        )
        .with_state(Arc::new(QueueState { queue }))
}

/// One message of the local dispatch queue.
#[derive(Debug, Clone, Serialize)]
pub struct DispatchEnvelope {
    pub message_id: String,
    pub message: ledger_app::payouts::DispatchMessage,
    pub receives: u32,
    /// Why the last attempt left it for retry.
    pub last_error: Option<String>,
}

impl Queued for DispatchEnvelope {
    fn id(&self) -> &str {
        &self.message_id
    }

    fn receives(&mut self) -> &mut u32 {
        &mut self.receives
    }

    fn record(&self) -> serde_json::Value {
        serde_json::json!({
            "messageId": self.message_id,
            "body": serde_json::to_string(&self.message).unwrap_or_default(),
            "attributes": {"ApproximateReceiveCount": (self.receives + 1).to_string()},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        })
    }

    fn left_for_retry(&mut self) {
        self.last_error = Some("left for retry (see the stack's log)".into());
    }
}

/// The in-process stand-in for the dispatch queue and its dead-letter
/// queue, consumed by the same handler as the dispatch-payouts function.
#[derive(Clone, Default)]
pub struct LocalDispatchQueue {
    lanes: Lanes<DispatchEnvelope>,
    sequence: Arc<std::sync::atomic::AtomicU64>,
}

#[async_trait::async_trait]
impl ledger_app::payouts::DispatchQueue for LocalDispatchQueue {
    async fn enqueue(
        &self,
        messages: &[ledger_app::payouts::DispatchMessage],
    ) -> Result<(), event_store::StoreError> {
        let envelopes = messages
            .iter()
            .map(|message| {
                let n = self
                    .sequence
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                DispatchEnvelope {
                    message_id: format!("dispatch-{n:08}"),
                    message: message.clone(),
                    receives: 0,
                    last_error: None,
                }
            })
            .collect();
        self.lanes
            .push(envelopes)
            .map_err(|e| event_store::StoreError::Unavailable(format!("dispatch queue: {e}")))
    }
}

impl LocalDispatchQueue {
    pub fn dead_letters(&self) -> Vec<DispatchEnvelope> {
        self.lanes.dead_letters()
    }

    pub fn pending(&self) -> usize {
        self.lanes.pending()
    }

    /// Hands one batch to the dispatch handler; returns how many it took.
    pub(crate) async fn deliver(
        &self,
        backend: &Backend,
        processors: &processors::Processors,
    ) -> usize {
        let Some((batch, event)) = self.lanes.receive() else {
            return 0;
        };
        let response = match backend {
            Backend::Embedded(store) => {
                dispatch_payouts::handle_sqs(store, processors, event).await
            }
            Backend::Aws { store, .. } => {
                dispatch_payouts::handle_sqs(store, processors, event).await
            }
        };
        self.lanes.settle(&batch, &failed_ids(response));
        batch.len()
    }
}

pub(crate) struct DispatchState {
    queue: LocalDispatchQueue,
}

impl lambda_edge::TenantClaim for DispatchState {
    fn tenant_claim(&self) -> &str {
        "tenant_id"
    }
}

/// The tenant's payout items that exhausted their dispatch retries (finance).
#[utoipa::path(get, path = "/local/queues/dispatch/dead-letters", tag = "local", responses((status = 200, description = "`{\"dead_letters\": [...]}`"), (status = "4XX", body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "refused; the problem names the rule")), security(("bearer" = [])))]
pub(crate) async fn dispatch_dead_letters(
    axum::extract::State(state): axum::extract::State<Arc<DispatchState>>,
    lambda_edge::Caller(identity): lambda_edge::Caller,
) -> Result<Response, lambda_edge::problem::Problem> {
    use axum::response::IntoResponse;
    lambda_edge::authz::authorize(&identity, lambda_edge::authz::Action::ReadPayouts)?;
    let mine: Vec<DispatchEnvelope> = state
        .queue
        .dead_letters()
        .into_iter()
        .filter(|m| m.message.tenant_id == identity.tenant_id)
        .collect();
    Ok(axum::Json(serde_json::json!({"dead_letters": mine})).into_response())
}

/// Moves dispatch dead letters back (finance approvers, admins); dispatch asks the processor before paying.
#[utoipa::path(post, path = "/local/queues/dispatch/dead-letters/redrive", tag = "local", request_body = RedriveBody,
    responses((status = 200, description = "`{\"redriven\": [ids]}`"), (status = "4XX", body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "refused; the problem names the rule")), security(("bearer" = [])))]
pub(crate) async fn redrive_dispatch(
    axum::extract::State(state): axum::extract::State<Arc<DispatchState>>,
    lambda_edge::Caller(identity): lambda_edge::Caller,
    axum::Json(body): axum::Json<RedriveBody>,
) -> Result<Response, lambda_edge::problem::Problem> {
    use axum::response::IntoResponse;
    lambda_edge::authz::authorize(&identity, lambda_edge::authz::Action::DispatchPayouts)?;
    redrive_selection(&body)?;
    let ids = state
        .queue
        .lanes
        .redrive(&body, |m| m.message.tenant_id == identity.tenant_id)
        .map_err(|_| lambda_edge::problem::Problem::unavailable())?;
    tracing::info!(tenant = %identity.tenant_id, count = ids.len(), "dispatch dead letters re-driven");
    Ok(axum::Json(serde_json::json!({"redriven": ids})).into_response())
}

pub(crate) fn dispatch_routes(queue: LocalDispatchQueue) -> Router {
    Router::new()
        .route(
            "/local/queues/dispatch/dead-letters",
            axum::routing::get(dispatch_dead_letters),
        )
        .route(
            "/local/queues/dispatch/dead-letters/redrive",
            axum::routing::post(redrive_dispatch),
        )
        .with_state(Arc::new(DispatchState { queue }))
}
