//! Tenant webhooks (admins): register endpoints for public event types,
//! change them, rotate their signing secrets, read each endpoint's
//! delivery log and replay deliveries.
//!
//! A secret is shown once, when it is made (registration or rotation);
//! reads show only its last four characters and validity.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use event_store::StoreError;
use event_store::webhooks::{DELIVERY_PAGE_MAX, Delivery, DeliveryStatus, Endpoint, WebhookStore};
use lambda_edge::authz::{Action, authorize};
use lambda_edge::problem::{FieldError, Problem, Unavailable};
use lambda_edge::{Caller, TenantClaim};
use serde::{Deserialize, Serialize};
use tenant_webhooks::UrlPolicy;
use tenant_webhooks::endpoints::{self, Change, Registration, WebhookError};

use crate::extract::{ApiJson, ApiQuery};
use crate::page_limit;

/// What the webhook routes need.
pub struct WebhookApi {
    pub store: Arc<dyn WebhookStore>,
    pub tenant_claim: String,
    /// `Production` on AWS (https to public addresses only).
    pub policy: UrlPolicy,
}

impl TenantClaim for WebhookApi {
    fn tenant_claim(&self) -> &str {
        &self.tenant_claim
    }
}

pub fn router(state: Arc<WebhookApi>) -> Router {
    Router::new()
        .route("/v1/webhook-endpoints", get(list).post(create))
        .route(
            "/v1/webhook-endpoints/{endpoint_id}",
            get(read).patch(update),
        )
        .route(
            "/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
            post(rotate),
        )
        .route(
            "/v1/webhook-endpoints/{endpoint_id}/deliveries",
            get(deliveries),
        )
        .route(
            "/v1/webhook-endpoints/{endpoint_id}/deliveries/{event_id}",
            get(delivery),
        )
        .route(
            "/v1/webhook-endpoints/{endpoint_id}/deliveries/{event_id}/replay",
            post(replay),
        )
        .route(
            "/v1/webhook-endpoints/{endpoint_id}/replay-parked",
            post(replay_parked),
        )
        .with_state(state)
}

pub(crate) fn webhook_problem(e: WebhookError) -> Problem {
    match e {
        WebhookError::Invalid { field, reason } => Problem::unprocessable(vec![FieldError {
            field: field.into(),
            rule: reason,
        }]),
        WebhookError::Address { field, source } => Problem::unprocessable(vec![FieldError {
            field: field.into(),
            rule: source.to_string(),
        }]),
        WebhookError::EndpointNotFound(_) => Problem::not_found("webhook endpoint"),
        WebhookError::DeliveryNotFound { .. } => Problem::not_found("webhook delivery"),
        WebhookError::TooManyEndpoints => {
            Problem::conflict(&WebhookError::TooManyEndpoints.to_string())
        }
        WebhookError::Store(StoreError::VersionConflict { .. }) => {
            Problem::conflict("the endpoint or delivery changed meanwhile: read it again and retry")
        }
        WebhookError::Random(e) => {
            tracing::error!(error = %e, "no random source for a webhook secret");
            Problem::unavailable()
        }
        WebhookError::Store(e) => {
            tracing::error!(error = %e, "webhook store failed");
            Problem::unavailable()
        }
    }
}

/// A secret as reads show it.
#[derive(Serialize, utoipa::ToSchema)]
struct SecretBody {
    /// The last four characters.
    ends_with: String,
    created_at: String,
    /// Set on the previous secret during a rotation.
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct EndpointBody {
    endpoint_id: String,
    url: String,
    event_types: Vec<String>,
    description: String,
    enabled: bool,
    secrets: Vec<SecretBody>,
    created_at: String,
    updated_at: String,
    version: u64,
    /// Only in the answer that made it: the new signing secret. Store it;
    /// it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
}

fn endpoint_body(e: &Endpoint, secret: Option<String>) -> EndpointBody {
    let now = chrono::Utc::now();
    EndpointBody {
        endpoint_id: e.endpoint_id.clone(),
        url: e.url.clone(),
        event_types: e.event_types.clone(),
        description: e.description.clone(),
        enabled: e.enabled,
        secrets: e
            .secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .map(|s| SecretBody {
                ends_with: s
                    .secret
                    .chars()
                    .rev()
                    .take(4)
                    .collect::<Vec<_>>()
                    .into_iter()
                    .rev()
                    .collect(),
                created_at: s.created_at.to_rfc3339(),
                expires_at: s.expires_at.map(|t| t.to_rfc3339()),
            })
            .collect(),
        created_at: e.created_at.to_rfc3339(),
        updated_at: e.updated_at.to_rfc3339(),
        version: e.version,
        secret,
    }
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// `https://…` to a public address (the local stack also takes
    /// `http://127.0.0.1:…`). Something must answer there.
    url: String,
    /// Public event types, at least one (see `events/schemas/`).
    event_types: Vec<String>,
    /// Up to 500 characters.
    #[serde(default)]
    description: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct EndpointsBody {
    endpoints: Vec<EndpointBody>,
}

/// Registers an endpoint; the answer carries its signing secret, once.
#[utoipa::path(post, path = "/v1/webhook-endpoints", tag = "webhooks", request_body = CreateBody,
    responses((status = 201, body = EndpointBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not an admin, 409 too many endpoints, 422 the broken field named (a URL that is not https, resolves to a private address or where nothing answers; an unknown event type)"), Unavailable),
    security(("bearer" = [])))]
async fn create(
    State(state): State<Arc<WebhookApi>>,
    Caller(identity): Caller,
    body: Result<ApiJson<CreateBody>, Problem>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ManageWebhooks)?;
    let ApiJson(request) = body?;
    let (endpoint, secret) = endpoints::register(
        &*state.store,
        &identity.tenant_id,
        Registration {
            url: request.url,
            event_types: request.event_types,
            description: request.description,
        },
        state.policy,
        chrono::Utc::now(),
    )
    .await
    .map_err(webhook_problem)?;
    tracing::info!(tenant = %identity.tenant_id, endpoint = %endpoint.endpoint_id, "webhook endpoint registered");
    Ok((
        StatusCode::CREATED,
        axum::Json(endpoint_body(&endpoint, Some(secret))),
    )
        .into_response())
}

/// The tenant's endpoints.
#[utoipa::path(get, path = "/v1/webhook-endpoints", tag = "webhooks",
    responses((status = 200, body = EndpointsBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "401 no valid token, 403 not an admin"), Unavailable),
    security(("bearer" = [])))]
async fn list(
    State(state): State<Arc<WebhookApi>>,
    Caller(identity): Caller,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ManageWebhooks)?;
    let found = state
        .store
        .endpoints(&identity.tenant_id)
        .await
        .map_err(|e| webhook_problem(e.into()))?;
    Ok(axum::Json(EndpointsBody {
        endpoints: found.iter().map(|e| endpoint_body(e, None)).collect(),
    })
    .into_response())
}

#[utoipa::path(get, path = "/v1/webhook-endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = String, Path)),
    responses((status = 200, body = EndpointBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "401, 403 not an admin, 404 no such endpoint (or another tenant's)"), Unavailable),
    security(("bearer" = [])))]
async fn read(
    State(state): State<Arc<WebhookApi>>,
    Caller(identity): Caller,
    Path(endpoint_id): Path<String>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ManageWebhooks)?;
    let endpoint = endpoints::load(&*state.store, &identity.tenant_id, &endpoint_id)
        .await
        .map_err(webhook_problem)?;
    Ok(axum::Json(endpoint_body(&endpoint, None)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    event_types: Option<Vec<String>>,
    #[serde(default)]
    description: Option<String>,
    /// False stops deliveries (pending ones are parked, to replay later).
    #[serde(default)]
    enabled: Option<bool>,
}

/// Changes an endpoint: only the fields given.
#[utoipa::path(patch, path = "/v1/webhook-endpoints/{endpoint_id}", tag = "webhooks",
    params(("endpoint_id" = String, Path)), request_body = UpdateBody,
    responses((status = 200, body = EndpointBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "401, 403 not an admin, 404 no such endpoint, 409 changed meanwhile, 422 the broken field named"), Unavailable),
    security(("bearer" = [])))]
async fn update(
    State(state): State<Arc<WebhookApi>>,
    Caller(identity): Caller,
    Path(endpoint_id): Path<String>,
    body: Result<ApiJson<UpdateBody>, Problem>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ManageWebhooks)?;
    let ApiJson(request) = body?;
    let endpoint = endpoints::change(
        &*state.store,
        &identity.tenant_id,
        &endpoint_id,
        Change {
            url: request.url,
            event_types: request.event_types,
            description: request.description,
            enabled: request.enabled,
        },
        state.policy,
        chrono::Utc::now(),
    )
    .await
    .map_err(webhook_problem)?;
    Ok(axum::Json(endpoint_body(&endpoint, None)).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    /// How long the previous secret keeps signing beside the new one:
    /// 0 to 168 hours, default 24.
    #[serde(default)]
    overlap_hours: Option<i64>,
}

/// A new signing secret (shown once); the previous one keeps signing for
/// the overlap, so receivers switch without losing a delivery.
#[utoipa::path(post, path = "/v1/webhook-endpoints/{endpoint_id}/rotate-secret", tag = "webhooks",
    params(("endpoint_id" = String, Path)), request_body = RotateBody,
    responses((status = 200, body = EndpointBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "401, 403 not an admin, 404 no such endpoint, 409 changed meanwhile, 422 overlap_hours out of range"), Unavailable),
    security(("bearer" = [])))]
async fn rotate(
    State(state): State<Arc<WebhookApi>>,
    Caller(identity): Caller,
    Path(endpoint_id): Path<String>,
    body: Result<ApiJson<RotateBody>, Problem>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ManageWebhooks)?;
    let ApiJson(request) = body?;
    let (endpoint, secret) = endpoints::rotate(
        &*state.store,
        &identity.tenant_id,
        &endpoint_id,
        request.overlap_hours,
        chrono::Utc::now(),
    )
    .await
    .map_err(webhook_problem)?;
    tracing::info!(tenant = %identity.tenant_id, endpoint = %endpoint_id, "webhook secret rotated");
    Ok(axum::Json(endpoint_body(&endpoint, Some(secret))).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct AttemptBody {
    attempt: u32,
    at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    status_code: Option<u16>,
    latency_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct DeliveryBody {
    event_id: String,
    event_type: String,
    /// `pending`, `delivered` or `parked`.
    status: String,
    created_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_attempt_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    delivered_at: Option<String>,
    attempts: u32,
    /// The latest attempts (at most 20), oldest first.
    log: Vec<AttemptBody>,
    /// The exact body sent (single reads only).
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
}

fn delivery_body(d: &Delivery, with_payload: bool) -> DeliveryBody {
    DeliveryBody {
        event_id: d.event_id.clone(),
        event_type: d.event_type.clone(),
        status: d.status.as_str().to_owned(),
        created_at: d.created_at.to_rfc3339(),
        next_attempt_at: d.next_attempt_at.map(|t| t.to_rfc3339()),
        delivered_at: d.delivered_at.map(|t| t.to_rfc3339()),
        attempts: d.attempts,
        log: d
            .log
            .iter()
            .map(|a| AttemptBody {
                attempt: a.attempt,
                at: a.at.to_rfc3339(),
                status_code: a.status_code,
                latency_ms: a.latency_ms,
                error: a.error.clone(),
            })
            .collect(),
        payload: with_payload.then(|| d.payload.clone()),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct DeliveriesBody {
    deliveries: Vec<DeliveryBody>,
    /// Pass as `after` for the next page.
    next: Option<String>,
}

fn event_id(text: &str, field: &str) -> Result<String, FieldError> {
    let ok = text.len() == 36
        && text.starts_with("evt_")
        && text[4..]
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if ok {
        Ok(text.to_owned())
    } else {
        Err(FieldError {
            field: field.into(),
            rule: "must be an event id (evt_ and 32 lowercase hex digits)".into(),
        })
    }
}

/// The query of a delivery log: `status`, `limit`, `after`.
#[derive(Deserialize)]
struct DeliveriesQuery {
    status: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// An endpoint's delivery log, newest first.
#[utoipa::path(get, path = "/v1/webhook-endpoints/{endpoint_id}/deliveries", tag = "webhooks",
    params(("endpoint_id" = String, Path), ("status" = Option<String>, Query, description = "pending, delivered or parked"), ("limit" = Option<usize>, Query, description = "1 to 500, default 50"), ("after" = Option<String>, Query, description = "`next` of the previous page")),
    responses((status = 200, body = DeliveriesBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "401, 403 not an admin, 404 no such endpoint, 422 the broken parameter named"), Unavailable),
    security(("bearer" = [])))]
async fn deliveries(
    State(state): State<Arc<WebhookApi>>,
    Caller(identity): Caller,
    Path(endpoint_id): Path<String>,
    ApiQuery(query): ApiQuery<DeliveriesQuery>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ManageWebhooks)?;
    let mut errors = Vec::new();
    let status = match query.status.as_deref().map(DeliveryStatus::parse) {
        None => None,
        Some(Some(s)) => Some(s),
        Some(None) => {
            errors.push(FieldError {
                field: "status".into(),
                rule: "must be pending, delivered or parked".into(),
            });
            None
        }
    };
    let limit = page_limit(query.limit.as_deref(), 50, DELIVERY_PAGE_MAX).unwrap_or_else(|e| {
        errors.push(e);
        0
    });
    let after = match query.after.as_deref().map(|a| event_id(a, "after")) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            errors.push(e);
            None
        }
    };
    if !errors.is_empty() {
        return Err(Problem::unprocessable(errors));
    }
    endpoints::load(&*state.store, &identity.tenant_id, &endpoint_id)
        .await
        .map_err(webhook_problem)?;
    let page = state
        .store
        .deliveries(
            &identity.tenant_id,
            &endpoint_id,
            status,
            after.as_deref(),
            limit,
        )
        .await
        .map_err(|e| webhook_problem(e.into()))?;
    Ok(axum::Json(DeliveriesBody {
        deliveries: page
            .deliveries
            .iter()
            .map(|d| delivery_body(d, false))
            .collect(),
        next: page.next,
    })
    .into_response())
}

/// One delivery with its exact body and attempts.
#[utoipa::path(get, path = "/v1/webhook-endpoints/{endpoint_id}/deliveries/{event_id}", tag = "webhooks",
    params(("endpoint_id" = String, Path), ("event_id" = String, Path)),
    responses((status = 200, body = DeliveryBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "401, 403 not an admin, 404 no such endpoint or delivery, 400 a malformed event id"), Unavailable),
    security(("bearer" = [])))]
async fn delivery(
    State(state): State<Arc<WebhookApi>>,
    Caller(identity): Caller,
    Path((endpoint_id, event)): Path<(String, String)>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ManageWebhooks)?;
    let event =
        event_id(&event, "event_id").map_err(|e| Problem::bad_request(&e.field, &e.rule))?;
    endpoints::load(&*state.store, &identity.tenant_id, &endpoint_id)
        .await
        .map_err(webhook_problem)?;
    let found = state
        .store
        .delivery(&identity.tenant_id, &endpoint_id, &event)
        .await
        .map_err(|e| webhook_problem(e.into()))?
        .ok_or_else(|| Problem::not_found("webhook delivery"))?;
    Ok(axum::Json(delivery_body(&found, true)).into_response())
}

/// Sends a delivery again now (with a fresh retry window).
#[utoipa::path(post, path = "/v1/webhook-endpoints/{endpoint_id}/deliveries/{event_id}/replay", tag = "webhooks",
    params(("endpoint_id" = String, Path), ("event_id" = String, Path)),
    responses((status = 202, body = DeliveryBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "401, 403 not an admin, 404 no such endpoint or delivery, 409 changed meanwhile, 400 a malformed event id"), Unavailable),
    security(("bearer" = [])))]
async fn replay(
    State(state): State<Arc<WebhookApi>>,
    Caller(identity): Caller,
    Path((endpoint_id, event)): Path<(String, String)>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ManageWebhooks)?;
    let event =
        event_id(&event, "event_id").map_err(|e| Problem::bad_request(&e.field, &e.rule))?;
    let d = endpoints::replay(
        &*state.store,
        &identity.tenant_id,
        &endpoint_id,
        &event,
        chrono::Utc::now(),
    )
    .await
    .map_err(webhook_problem)?;
    Ok((StatusCode::ACCEPTED, axum::Json(delivery_body(&d, false))).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct ReplayedBody {
    /// How many parked deliveries are due again.
    replayed: usize,
}

/// Sends every parked delivery of an endpoint again (up to 500 a call).
#[utoipa::path(post, path = "/v1/webhook-endpoints/{endpoint_id}/replay-parked", tag = "webhooks",
    params(("endpoint_id" = String, Path)),
    responses((status = 202, body = ReplayedBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "401, 403 not an admin, 404 no such endpoint"), Unavailable),
    security(("bearer" = [])))]
async fn replay_parked(
    State(state): State<Arc<WebhookApi>>,
    Caller(identity): Caller,
    Path(endpoint_id): Path<String>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ManageWebhooks)?;
    let replayed = endpoints::replay_parked(
        &*state.store,
        &identity.tenant_id,
        &endpoint_id,
        DELIVERY_PAGE_MAX,
        chrono::Utc::now(),
    )
    .await
    .map_err(webhook_problem)?;
    Ok((StatusCode::ACCEPTED, axum::Json(ReplayedBody { replayed })).into_response())
}
