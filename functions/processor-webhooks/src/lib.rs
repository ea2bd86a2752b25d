//! Processor notifications, verified before anything is read:
//!
//! - `POST /v1/webhooks/stripe` (`Stripe-Signature`, secrets in
//!   `STRIPE_WEBHOOK_SECRETS`, comma separated during a rotation);
//! - `POST /v1/webhooks/paypal` (the `PAYPAL-TRANSMISSION-*` headers, checked
//!   by PayPal's verification endpoint for `PAYPAL_WEBHOOK_ID`);
//! - `POST /v1/webhooks/sandbox` (the local stack's processor, the Stripe
//!   scheme with `SANDBOX_WEBHOOK_SECRETS`);
//! - SEPA status files (pain.002, camt.054) dropped in S3 (`sepa-status-files`).
//!
//! A missing or malformed signature is `400`, a wrong or expired one `401`,
//! and nothing is written. A verified notification is recorded against its
//! item once (by the processor's event id); one for an unknown item is
//! acknowledged and kept for finance; one of a type that says nothing about
//! payouts is acknowledged and ignored. Store trouble is `503`, so the
//! processor retries.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use event_store::EventStore;
use lambda_edge::problem::Problem;
use ledger_app::payouts::{NoticeRecorded, ProcessorNotice, record_notice};
use ledger_domain::{Actor, ActorKind, CommandContext, Processor, TenantId};
use processors::webhooks::{
    Parsed, PaypalTransmission, PaypalVerifier, SignatureError, WEBHOOK_BODY_BYTES_MAX,
    parse_paypal, parse_sandbox, parse_sepa_status, parse_stripe, verify_stripe_signature,
};

/// What the webhook routes need.
pub struct WebhookState<S> {
    pub store: S,
    pub stripe_secrets: Vec<String>,
    pub sandbox_secrets: Vec<String>,
    pub paypal: Option<Arc<dyn PaypalVerifier>>,
    /// Unix seconds now (a parameter, so tests can move time).
    pub clock: fn() -> i64,
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub fn router<S: EventStore + 'static>(state: Arc<WebhookState<S>>) -> Router {
    Router::new()
        .route("/v1/webhooks/stripe", post(stripe::<S>))
        .route("/v1/webhooks/paypal", post(paypal::<S>))
        .route("/v1/webhooks/sandbox", post(sandbox::<S>))
        .with_state(state)
}

/// Secrets from a comma-separated variable.
pub fn secrets(variable: &str) -> Vec<String> {
    std::env::var(variable)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn signature_problem(e: SignatureError) -> Problem {
    match e {
        SignatureError::Missing(header) => Problem::bad_request(header, "is required"),
        SignatureError::Malformed { header, reason } => Problem::bad_request(header, reason),
        SignatureError::NotConfigured => Problem::unavailable(),
        other => Problem::unauthenticated_because(&other.to_string()),
    }
}

async fn body_bytes(body: Body) -> Result<Vec<u8>, Problem> {
    axum::body::to_bytes(body, WEBHOOK_BODY_BYTES_MAX)
        .await
        .map(|b| b.to_vec())
        .map_err(|_| Problem::too_large(WEBHOOK_BODY_BYTES_MAX))
}

fn header(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// The context processor news is recorded under.
pub fn processor_ctx(processor: Processor, tenant_id: TenantId) -> CommandContext {
    let now = chrono::Utc::now();
    CommandContext {
        tenant_id,
        actor: Actor::new(ActorKind::Processor, processor.as_str())
            .unwrap_or_else(|_| unreachable!("processor names are valid actor ids")),
        now,
        effective_at: now,
    }
}

/// Records a verified notice; what the processor is answered.
pub async fn record<S: EventStore + ?Sized>(
    store: &S,
    notice: &ProcessorNotice,
) -> Result<NoticeRecorded, Problem> {
    let processor = notice.processor;
    let recorded = record_notice(store, notice, |t| processor_ctx(processor, t))
        .await
        .map_err(|e| {
            tracing::error!(error = %e, event = %notice.event_id, "notice not recorded");
            Problem::unavailable()
        })?;
    tracing::info!(processor = processor.as_str(), event = %notice.event_id, outcome = ?notice.outcome, recorded = ?recorded, "processor notice");
    let name = match recorded {
        NoticeRecorded::Outcome(_) => "NoticesRecorded",
        NoticeRecorded::Duplicate => "NoticesDuplicate",
        NoticeRecorded::Unmatched => "NoticesUnmatched",
    };
    lambda_edge::metrics::Metrics::new("processor-webhooks")
        .count(name, 1)
        .emit();
    Ok(recorded)
}

async fn accept<S: EventStore>(store: &S, parsed: Parsed) -> Result<Response, Problem> {
    let body = match parsed {
        Parsed::Ignored { event_type } => {
            serde_json::json!({"status": "ignored", "event_type": event_type})
        }
        Parsed::Notice(notice) => match record(store, &notice).await? {
            NoticeRecorded::Outcome(movement) => {
                serde_json::json!({"status": "recorded", "movement": movement})
            }
            NoticeRecorded::Duplicate => serde_json::json!({"status": "duplicate"}),
            NoticeRecorded::Unmatched => serde_json::json!({"status": "unmatched"}),
        },
    };
    Ok((StatusCode::OK, axum::Json(body)).into_response())
}

fn unreadable(e: processors::webhooks::ParseError) -> Problem {
    Problem::malformed_json(e.to_string())
}

/// The Stripe signature scheme, shared by Stripe and the sandbox: verify
/// `header_name` over the body with `secrets`, then parse and record.
async fn stripe_scheme<S: EventStore>(
    state: &WebhookState<S>,
    headers: &HeaderMap,
    body: Body,
    header_name: &'static str,
    secrets: &[String],
    parse: fn(&[u8]) -> Result<Parsed, processors::webhooks::ParseError>,
) -> Result<Response, Problem> {
    let bytes = body_bytes(body).await?;
    verify_stripe_signature(
        header_name,
        header(headers, header_name).as_deref(),
        &bytes,
        secrets,
        (state.clock)(),
    )
    .map_err(signature_problem)?;
    accept(&state.store, parse(&bytes).map_err(unreadable)?).await
}

/// Stripe's webhook events (`transfer.*`, `payout.*`), verified by `Stripe-Signature`.
#[utoipa::path(post, path = "/v1/webhooks/stripe", tag = "webhooks",
    params(("Stripe-Signature" = String, Header, description = "t=…,v1=… over `t.body` with a webhook secret")),
    request_body(content = Object, description = "a Stripe event, as Stripe sends it", content_type = "application/json"),
    responses(NoticeResponses))]
async fn stripe<S: EventStore + 'static>(
    State(state): State<Arc<WebhookState<S>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let secrets = &state.stripe_secrets;
    stripe_scheme(
        &state,
        &headers,
        body,
        "stripe-signature",
        secrets,
        parse_stripe,
    )
    .await
}

/// The sandbox processor's notifications, on the Stripe signature scheme.
#[utoipa::path(post, path = "/v1/webhooks/sandbox", tag = "webhooks",
    params(("Sandbox-Signature" = String, Header, description = "t=…,v1=… as Stripe's")),
    request_body(content = Object, description = "`item.paid`, `item.failed`, `item.returned`, `item.unclaimed`", content_type = "application/json"),
    responses(NoticeResponses))]
async fn sandbox<S: EventStore + 'static>(
    State(state): State<Arc<WebhookState<S>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let secrets = &state.sandbox_secrets;
    stripe_scheme(
        &state,
        &headers,
        body,
        "sandbox-signature",
        secrets,
        parse_sandbox,
    )
    .await
}

/// PayPal's webhook events (`PAYMENT.PAYOUTS-ITEM.*`), verified through PayPal's verification endpoint.
#[utoipa::path(post, path = "/v1/webhooks/paypal", tag = "webhooks",
    params(
        ("PAYPAL-TRANSMISSION-ID" = String, Header), ("PAYPAL-TRANSMISSION-TIME" = String, Header),
        ("PAYPAL-TRANSMISSION-SIG" = String, Header), ("PAYPAL-CERT-URL" = String, Header), ("PAYPAL-AUTH-ALGO" = String, Header),
    ),
    request_body(content = Object, description = "a PayPal webhook event, as PayPal sends it", content_type = "application/json"),
    responses(NoticeResponses))]
async fn paypal<S: EventStore + 'static>(
    State(state): State<Arc<WebhookState<S>>>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let bytes = body_bytes(body).await?;
    let Some(verifier) = &state.paypal else {
        return Err(signature_problem(SignatureError::NotConfigured));
    };
    let transmission = PaypalTransmission::from_headers(|name| header(&headers, name))
        .map_err(signature_problem)?;
    transmission
        .check_time((state.clock)())
        .map_err(signature_problem)?;
    match verifier.verify(&transmission, &bytes).await {
        Ok(true) => {}
        Ok(false) => return Err(signature_problem(SignatureError::Mismatch)),
        Err(ledger_app::payouts::ProcessorError::Invalid(reason)) => {
            return Err(Problem::malformed_json(reason));
        }
        Err(e) => {
            tracing::warn!(error = %e, "paypal verification unavailable");
            return Err(Problem::unavailable());
        }
    }
    accept(&state.store, parse_paypal(&bytes).map_err(unreadable)?).await
}

/// Records every transaction of a SEPA status file; the file's notices in
/// order. A file that cannot be read records nothing.
pub async fn handle_sepa_file<S: EventStore + ?Sized>(
    store: &S,
    key: &str,
    xml: &[u8],
) -> Result<Vec<NoticeRecorded>, String> {
    let notices = parse_sepa_status(key, xml).map_err(|e| e.to_string())?;
    let mut recorded = Vec::with_capacity(notices.len());
    for notice in &notices {
        recorded.push(record(store, notice).await.map_err(|p| p.describe())?);
    }
    Ok(recorded)
}

/// What a verified notice did.
#[allow(dead_code)]
#[derive(utoipa::ToSchema)]
struct NoticeAnswer {
    /// `recorded`, `duplicate`, `unmatched` (kept for finance) or `ignored`
    /// (an event type that says nothing about payouts).
    status: String,
    /// With `recorded`: the money it moved (`reserved_to_paid`,
    /// `reserved_to_available`, `paid_to_available` or `none`).
    movement: Option<String>,
    /// With `ignored`: the event type.
    event_type: Option<String>,
}

/// What every webhook route answers, said once for the document (the
/// handlers answer `Response`s built from `NoticeAnswer` and `Problem`).
#[allow(dead_code)]
#[derive(utoipa::IntoResponses)]
enum NoticeResponses {
    /// The notice was verified and recorded, or already recorded, or kept.
    #[response(status = 200)]
    Answered(NoticeAnswer),
    /// A missing or malformed signature, or an unreadable body: nothing
    /// written.
    #[response(status = 400, content_type = "application/problem+json")]
    Unreadable(Problem),
    /// A wrong, expired or replayed signature: nothing written.
    #[response(status = 401, content_type = "application/problem+json")]
    Unverified(Problem),
    /// The store is unavailable: retry.
    #[response(status = 503, content_type = "application/problem+json")]
    Unavailable(Problem),
}

/// This function's part of the OpenAPI document (no bearer token: each
/// processor's signature instead).
#[derive(utoipa::OpenApi)]
#[openapi(paths(stripe, paypal, sandbox), components(schemas(NoticeAnswer, Problem)), tags((name = "webhooks", description = "processor notifications, verified before anything is read")))]
pub struct WebhooksApiDoc;
