//! Processor notifications, verified before anything is read:
//!
//! - `POST /v1/webhooks/stripe` (`Stripe-Signature`, secrets in
//!   `STRIPE_WEBHOOK_SECRETS`, comma separated during a rotation);
//! - `POST /v1/webhooks/paypal` (the `PAYPAL-TRANSMISSION-*` headers, checked
//!   by PayPal's verification endpoint for `PAYPAL_WEBHOOK_ID` with the exact
//!   body received; a transmission time outside the tolerance or a
//!   `PAYPAL-CERT-URL` off PayPal's API hosts is refused before any call);
//! - `POST /v1/webhooks/sandbox` (the local stack's processor, the Stripe
//!   scheme with `SANDBOX_WEBHOOK_SECRETS`);
//! - SEPA status files (pain.002, camt.054) dropped in S3 (`sepa-status-files`),
//!   believed only where they answer a pain.001 this system issued (known
//!   message, known end-to-end ids, the amounts and currency issued); any
//!   other file is quarantined whole with the rule it broke
//!   (`sepa-quarantine/` beside the payment files) and records nothing.
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
    parse_paypal, parse_sandbox, parse_stripe, verify_stripe_signature,
};

/// What the webhook routes need.
pub struct WebhookState<S> {
    pub store: S,
    pub stripe_secrets: Vec<String>,
    pub sandbox_secrets: Vec<String>,
    pub paypal: Option<Arc<dyn PaypalVerifier>>,
    /// Each tenant's own processor accounts, where the deployment keeps
    /// them per tenant: what `/v1/webhooks/{processor}/{tenant_id}` is
    /// verified with.
    pub tenants: Option<
        Arc<processors::credentials::TenantSecrets<processors::credentials::TenantWebhooks>>,
    >,
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
        .route(
            "/v1/webhooks/stripe/{tenant_id}",
            post(stripe_for_tenant::<S>),
        )
        .route(
            "/v1/webhooks/paypal/{tenant_id}",
            post(paypal_for_tenant::<S>),
        )
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

/// Records what a verified notification says. On a tenant's own endpoint
/// (`for_tenant`), a notice naming another tenant's payout is refused and
/// nothing is written: that tenant's processor account, not this one,
/// pays it.
async fn accept<S: EventStore>(
    store: &S,
    parsed: Parsed,
    for_tenant: Option<&TenantId>,
) -> Result<Response, Problem> {
    if let (Parsed::Notice(notice), Some(tenant)) = (&parsed, for_tenant)
        && notice
            .tenant_id
            .as_deref()
            .is_some_and(|named| named != tenant.as_str())
    {
        tracing::warn!(tenant = %tenant, named = ?notice.tenant_id, event = %notice.event_id, "notice on a tenant's endpoint names another tenant's payout: refused");
        return Err(Problem::forbidden(
            "the notification names a payout of another tenant than this endpoint's",
        ));
    }
    // On a tenant's own endpoint, a notice naming no tenant (a transfer the
    // tenant made by hand in its own account, say) is that tenant's: kept
    // for its finance, not in the stream shared by every tenant.
    let parsed = match (parsed, for_tenant) {
        (Parsed::Notice(mut notice), Some(tenant)) if notice.tenant_id.is_none() => {
            notice.tenant_id = Some(tenant.as_str().to_owned());
            Parsed::Notice(notice)
        }
        (parsed, _) => parsed,
    };
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
    for_tenant: Option<&TenantId>,
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
    accept(&state.store, parse(&bytes).map_err(unreadable)?, for_tenant).await
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
        None,
    )
    .await
}

/// The tenant a tenant's own endpoint names.
fn endpoint_tenant(tenant_id: &str) -> Result<TenantId, Problem> {
    TenantId::new(tenant_id).map_err(|e| Problem::bad_request("tenant_id", &e.to_string()))
}

/// A tenant's accounts: `404` when the deployment keeps none per tenant,
/// `503` when its secret cannot be read (the processor retries).
async fn tenant_accounts<S>(
    state: &WebhookState<S>,
    tenant: &TenantId,
) -> Result<Arc<processors::credentials::TenantWebhooks>, Problem> {
    let Some(tenants) = &state.tenants else {
        return Err(Problem::not_found("webhook endpoint"));
    };
    tenants
        .accounts(tenant)
        .await
        .map_err(|e| {
            tracing::warn!(tenant = %tenant, error = %e, "tenant processor credentials unavailable");
            Problem::unavailable()
        })?
        .ok_or_else(|| Problem::not_found("webhook endpoint"))
}

/// A tenant's own Stripe account's webhook events, verified by
/// `Stripe-Signature` with that tenant's endpoint secrets (its processor
/// credentials' `stripe.webhook_secrets`).
#[utoipa::path(post, path = "/v1/webhooks/stripe/{tenant_id}", tag = "webhooks",
    params(
        ("tenant_id" = String, Path, description = "the tenant whose own Stripe account sends this"),
        ("Stripe-Signature" = String, Header, description = "t=…,v1=… over `t.body` with the tenant's webhook secret"),
    ),
    request_body(content = Object, description = "a Stripe event, as Stripe sends it", content_type = "application/json"),
    responses(NoticeResponses, TenantEndpointResponses))]
async fn stripe_for_tenant<S: EventStore + 'static>(
    State(state): State<Arc<WebhookState<S>>>,
    axum::extract::Path(tenant_id): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let tenant = endpoint_tenant(&tenant_id)?;
    // A missing, malformed or stale signature is refused before the
    // tenant's secret is read: unsigned traffic costs no secret lookup.
    let signature = processors::webhooks::StripeSignature::parse(
        "stripe-signature",
        header(&headers, "stripe-signature").as_deref(),
        (state.clock)(),
    )
    .map_err(signature_problem)?;
    let bytes = body_bytes(body).await?;
    let accounts = tenant_accounts(&state, &tenant).await?;
    if accounts.stripe_webhook_secrets.is_empty() {
        return Err(Problem::not_found("webhook endpoint"));
    }
    signature
        .check(&bytes, &accounts.stripe_webhook_secrets)
        .map_err(signature_problem)?;
    accept(
        &state.store,
        parse_stripe(&bytes).map_err(unreadable)?,
        Some(&tenant),
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
        None,
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
    let Some(verifier) = &state.paypal else {
        return Err(signature_problem(SignatureError::NotConfigured));
    };
    paypal_scheme(&state, verifier.as_ref(), &headers, body, None).await
}

/// A tenant's own PayPal app's webhook events, verified through PayPal's
/// verification endpoint with that tenant's app and webhook id.
#[utoipa::path(post, path = "/v1/webhooks/paypal/{tenant_id}", tag = "webhooks",
    params(
        ("tenant_id" = String, Path, description = "the tenant whose own PayPal app sends this"),
        ("PAYPAL-TRANSMISSION-ID" = String, Header), ("PAYPAL-TRANSMISSION-TIME" = String, Header),
        ("PAYPAL-TRANSMISSION-SIG" = String, Header), ("PAYPAL-CERT-URL" = String, Header), ("PAYPAL-AUTH-ALGO" = String, Header),
    ),
    request_body(content = Object, description = "a PayPal webhook event, as PayPal sends it", content_type = "application/json"),
    responses(NoticeResponses, TenantEndpointResponses))]
async fn paypal_for_tenant<S: EventStore + 'static>(
    State(state): State<Arc<WebhookState<S>>>,
    axum::extract::Path(tenant_id): axum::extract::Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let tenant = endpoint_tenant(&tenant_id)?;
    // Missing transmission headers are refused before the tenant's secret
    // is read.
    PaypalTransmission::from_headers(|name| header(&headers, name)).map_err(signature_problem)?;
    let accounts = tenant_accounts(&state, &tenant).await?;
    let Some(verifier) = &accounts.paypal_verifier else {
        return Err(Problem::not_found("webhook endpoint"));
    };
    paypal_scheme(&state, verifier.as_ref(), &headers, body, Some(&tenant)).await
}

/// PayPal's scheme: the transmission checked before any call, then
/// verified by PayPal, then parsed and recorded.
async fn paypal_scheme<S: EventStore>(
    state: &WebhookState<S>,
    verifier: &dyn PaypalVerifier,
    headers: &HeaderMap,
    body: Body,
    for_tenant: Option<&TenantId>,
) -> Result<Response, Problem> {
    let bytes = body_bytes(body).await?;
    let transmission = PaypalTransmission::from_headers(|name| header(headers, name))
        .map_err(signature_problem)?;
    // Before any call to PayPal: a stale transmission or a certificate off
    // PayPal's hosts costs no request with the payout credentials.
    verifier
        .precheck(&transmission, (state.clock)())
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
    accept(
        &state.store,
        parse_paypal(&bytes).map_err(unreadable)?,
        for_tenant,
    )
    .await
}

/// What a SEPA status file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SepaFileOutcome {
    /// It answers messages this system issued: each transaction recorded
    /// (or found recorded), in the file's order.
    Recorded(Vec<NoticeRecorded>),
    /// It breaks a rule: nothing recorded; the record of why is at `key`.
    Quarantined {
        key: String,
        rejection: processors::sepa_status::StatusFileRejection,
    },
}

/// Reads a SEPA status file, checks it against the pain.001 files this
/// system wrote (`files`: where the payment files are kept), and records
/// every transaction, or quarantines the whole file with the rule it
/// breaks and records nothing. `Err` only when the store or the files
/// cannot be reached (the invocation fails and is retried).
pub async fn handle_sepa_file<S: EventStore + ?Sized>(
    store: &S,
    files: &processors::sepa::FileStore,
    key: &str,
    xml: &[u8],
) -> Result<SepaFileOutcome, String> {
    use processors::sepa_status::{QuarantinedStatusFile, read_status_file, status_notices};
    let file = read_status_file(xml);
    let checked = match &file {
        Err(rejection) => Err(rejection.clone()),
        Ok(file) => {
            let mut issued = std::collections::BTreeMap::new();
            for message_id in file.message_ids() {
                let found = processors::sepa::issued_message(files, &message_id)
                    .await
                    .map_err(|e| format!("{key}: the payment files cannot be read: {e}"))?;
                if let Some(message) = found {
                    issued.insert(message_id, message);
                }
            }
            status_notices(key, file, &issued)
        }
    };
    let notices = match checked {
        Ok(notices) => notices,
        Err(rejection) => {
            let record = QuarantinedStatusFile::new(
                key,
                xml,
                file.as_ref().ok(),
                rejection.clone(),
                chrono::Utc::now(),
            );
            let quarantine_key = record.key();
            let body = serde_json::to_vec_pretty(&record).map_err(|e| e.to_string())?;
            // Written once: a retried event finds it there.
            files
                .create(&quarantine_key, "application/json", body)
                .await
                .map_err(|e| format!("{key}: quarantine not written: {e}"))?;
            let rule = serde_json::to_value(&rejection)
                .ok()
                .and_then(|v| v["rule"].as_str().map(str::to_owned))
                .unwrap_or_default();
            tracing::warn!(file = %key, rule = %rule, reason = %rejection, quarantine = %quarantine_key, "SEPA status file quarantined: nothing recorded");
            lambda_edge::metrics::Metrics::new("sepa-status-files")
                .count("SepaStatusFilesQuarantined", 1)
                .emit();
            return Ok(SepaFileOutcome::Quarantined {
                key: quarantine_key,
                rejection,
            });
        }
    };
    let mut recorded = Vec::with_capacity(notices.len());
    for notice in &notices {
        recorded.push(record(store, notice).await.map_err(|p| p.describe())?);
    }
    tracing::info!(file = %key, transactions = recorded.len(), "SEPA status file recorded");
    Ok(SepaFileOutcome::Recorded(recorded))
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

/// What a tenant's own endpoint answers besides.
#[allow(dead_code)]
#[derive(utoipa::IntoResponses)]
enum TenantEndpointResponses {
    /// The notification names another tenant's payout: nothing written.
    #[response(status = 403, content_type = "application/problem+json")]
    OtherTenant(Problem),
    /// The tenant has no such webhook in its processor credentials (or the
    /// deployment keeps none per tenant).
    #[response(status = 404, content_type = "application/problem+json")]
    NoEndpoint(Problem),
}

/// This function's part of the OpenAPI document (no bearer token: each
/// processor's signature instead).
#[derive(utoipa::OpenApi)]
#[openapi(paths(stripe, paypal, sandbox, stripe_for_tenant, paypal_for_tenant), components(schemas(NoticeAnswer, Problem)), tags((name = "webhooks", description = "processor notifications, verified before anything is read")))]
pub struct WebhooksApiDoc;
