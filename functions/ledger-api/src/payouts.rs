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

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use lambda_edge::authz::{Action, authorize, role};
use lambda_edge::problem::{FieldError, Problem};
use lambda_edge::{Caller, Identity};
use ledger_app::AppError;
use ledger_app::payouts::{self as uc, DraftOptions};
use ledger_domain::events::ApprovalAuthority;
use ledger_domain::money::currency_from_code;
use ledger_domain::payout::{BatchStatus, ItemStatus};
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, HoldReason, Money, PayoutBatchCommand,
    PayoutBatchError, PayoutBatchId, PayoutMethod, PayoutProfile, PayoutRunId, ProfileChange,
    ProfileError,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

use crate::{ApiReads, ApiState};

/// The largest request body these routes accept.
pub const BODY_BYTES_MAX: usize = 64 * 1024;
/// The most batches one drafting call may produce (it says where to resume).
pub const RUN_BATCHES_MAX: usize = 50;

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

/// Reads a JSON body: `application/json`, bounded, every field typed.
pub(crate) async fn json_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Body,
) -> Result<T, Problem> {
    let bytes = lambda_edge::problem::json_request_bytes(headers, body, BODY_BYTES_MAX).await?;
    serde_json::from_slice(&bytes).map_err(|e| {
        if e.is_syntax() || e.is_eof() {
            Problem::malformed_json(e.to_string())
        } else {
            Problem::unprocessable(vec![FieldError {
                field: "body".into(),
                rule: e.to_string(),
            }])
        }
    })
}

fn affiliate(id: &str) -> Result<AffiliateId, Problem> {
    AffiliateId::new(id).map_err(|e| Problem::bad_request("affiliate_id", &e.to_string()))
}

fn batch(id: &str) -> Result<PayoutBatchId, Problem> {
    PayoutBatchId::new(id).map_err(|e| Problem::bad_request("batch_id", &e.to_string()))
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

/// A profile as finance reads it: bank details masked.
#[derive(Serialize, utoipa::ToSchema)]
struct ProfileBody {
    affiliate_id: String,
    method: Option<String>,
    processor: Option<&'static str>,
    minimums: Vec<Money>,
    holds: Vec<HoldReason>,
}

fn profile_body(affiliate_id: &AffiliateId, p: &PayoutProfile) -> ProfileBody {
    ProfileBody {
        affiliate_id: affiliate_id.to_string(),
        method: p.method.as_ref().map(PayoutMethod::redacted),
        processor: p.method.as_ref().map(|m| m.processor().as_str()),
        minimums: p.minimums.clone(),
        holds: p.holds.iter().copied().collect(),
    }
}

/// An affiliate's payout profile, bank details masked (finance, admins).
#[utoipa::path(get, path = "/v1/affiliates/{affiliate_id}/payout-profile", tag = "payouts",
    params(("affiliate_id" = String, Path)), responses((status = 200, body = ProfileBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 404 not found, 409 conflict, 400/422 each broken field named"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")), security(("bearer" = [])))]
pub(crate) async fn get_profile<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ReadPayouts)?;
    let affiliate_id = affiliate(&id)?;
    let profile = uc::load_profile(&*state.events, &identity.tenant_id, &affiliate_id)
        .await
        .map_err(app_problem)?;
    Ok(axum::Json(profile_body(&affiliate_id, profile.profile())).into_response())
}

async fn change<R: ApiReads + 'static>(
    state: &ApiState<R>,
    identity: &Identity,
    // The role the handler authorized the change under.
    role: &'static str,
    affiliate_id: &AffiliateId,
    change: ProfileChange,
) -> Result<Response, Problem> {
    let ctx = ctx(identity, role)?;
    let events = uc::change_profile(&*state.events, affiliate_id, change, &ctx)
        .await
        .map_err(app_problem)?;
    let profile = uc::load_profile(&*state.events, &identity.tenant_id, affiliate_id)
        .await
        .map_err(app_problem)?;
    tracing::info!(tenant = %identity.tenant_id, affiliate = %affiliate_id, changed = !events.is_empty(), "payout profile");
    Ok(axum::Json(profile_body(affiliate_id, profile.profile())).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MethodBody {
    method: PayoutMethod,
}

/// Sets how an affiliate is paid; payee details are validated (finance makers, admins).
#[utoipa::path(put, path = "/v1/affiliates/{affiliate_id}/payout-method", tag = "payouts",
    params(("affiliate_id" = String, Path)), request_body = MethodBody, responses((status = 200, body = ProfileBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 404 not found, 409 conflict, 400/422 each broken field named"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")), security(("bearer" = [])))]
pub(crate) async fn put_method<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::ManagePayoutProfile)?;
    let affiliate_id = affiliate(&id)?;
    let MethodBody { method } = json_body(&headers, body).await?;
    let change_ = ProfileChange::MethodSet { method };
    change(&state, &identity, role, &affiliate_id, change_).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct MinimumBody {
    amount: String,
}

/// Sets an affiliate's payout minimum in one currency.
#[utoipa::path(put, path = "/v1/affiliates/{affiliate_id}/payout-minimums/{currency}", tag = "payouts",
    params(("affiliate_id" = String, Path), ("currency" = String, Path)), request_body = MinimumBody, responses((status = 200, body = ProfileBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 404 not found, 409 conflict, 400/422 each broken field named"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")), security(("bearer" = [])))]
pub(crate) async fn put_minimum<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path((id, currency)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::ManagePayoutProfile)?;
    let affiliate_id = affiliate(&id)?;
    let currency = currency_from_code(&currency)
        .map_err(|e| Problem::bad_request("currency", &e.to_string()))?;
    let MinimumBody { amount } = json_body(&headers, body).await?;
    let minimum = Money::parse(&amount, currency).map_err(|e| {
        Problem::unprocessable(vec![FieldError {
            field: "amount".into(),
            rule: e.to_string(),
        }])
    })?;
    let change_ = ProfileChange::MinimumSet { minimum };
    change(&state, &identity, role, &affiliate_id, change_).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct HoldBody {
    reason: HoldReason,
    note: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NoteBody {
    note: String,
}

/// Holds an affiliate's payouts, with a reason.
#[utoipa::path(post, path = "/v1/affiliates/{affiliate_id}/payout-holds", tag = "payouts",
    params(("affiliate_id" = String, Path)), request_body = HoldBody, responses((status = 200, body = ProfileBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 404 not found, 409 conflict, 400/422 each broken field named"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")), security(("bearer" = [])))]
pub(crate) async fn place_hold<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::HoldPayouts)?;
    let affiliate_id = affiliate(&id)?;
    let HoldBody { reason, note } = json_body(&headers, body).await?;
    let change_ = ProfileChange::HoldPlaced { reason, note };
    change(&state, &identity, role, &affiliate_id, change_).await
}

/// Lifts one hold.
#[utoipa::path(post, path = "/v1/affiliates/{affiliate_id}/payout-holds/{reason}/lift", tag = "payouts",
    params(("affiliate_id" = String, Path), ("reason" = HoldReason, Path)), request_body = NoteBody, responses((status = 200, body = ProfileBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 404 not found, 409 conflict, 400/422 each broken field named"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")), security(("bearer" = [])))]
pub(crate) async fn lift_hold<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path((id, reason)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::HoldPayouts)?;
    let affiliate_id = affiliate(&id)?;
    let reason: HoldReason =
        serde_json::from_value(serde_json::Value::String(reason)).map_err(|_| {
            Problem::bad_request(
                "reason",
                "must be one of kyc_pending, fraud_review, compliance, manual",
            )
        })?;
    let NoteBody { note } = json_body(&headers, body).await?;
    let change_ = ProfileChange::HoldLifted { reason, note };
    change(&state, &identity, role, &affiliate_id, change_).await
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RunBody {
    run_id: Option<String>,
    currency: Option<String>,
    #[serde(default)]
    default_minimums: Vec<Money>,
    after: Option<String>,
    max_batches: Option<usize>,
    items_per_batch: Option<usize>,
}

/// Drafts payout batches from the projected balances (finance makers, admins).
#[utoipa::path(post, path = "/v1/payout-runs", tag = "payouts", request_body = RunBody,
    responses((status = 201, body = RunReportBody, description = "batches drafted"), (status = 200, body = RunReportBody, description = "nothing to draft"), (status = 409, body = Problem, content_type = "application/problem+json", description = "the projection has not applied the previous draft yet: retry shortly"), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 404 not found, 409 conflict, 400/422 each broken field named"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")),
    security(("bearer" = [])))]
pub(crate) async fn post_run<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::DraftPayouts)?;
    let run: RunBody = json_body(&headers, body).await?;
    let ctx = ctx(&identity, role)?;
    let mut errors = Vec::new();
    let run_id = run
        .run_id
        .unwrap_or_else(|| format!("run-{}", ctx.now.format("%Y%m%dT%H%M%S%6f")));
    let run_id = PayoutRunId::new(&run_id)
        .map_err(|e| {
            errors.push(FieldError {
                field: "run_id".into(),
                rule: e.to_string(),
            })
        })
        .ok();
    let mut options = DraftOptions::new(run_id.clone().unwrap_or_else(|| {
        PayoutRunId::new("invalid").unwrap_or_else(|_| unreachable!("a valid literal id"))
    }));
    if let Some(code) = &run.currency {
        match currency_from_code(code) {
            Ok(c) => options.currency = Some(c),
            Err(e) => errors.push(FieldError {
                field: "currency".into(),
                rule: e.to_string(),
            }),
        }
    }
    options.default_minimums = run.default_minimums;
    options.after = run.after.map(|a| {
        hex::decode(&a)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or(a)
    });
    match run.max_batches {
        None => {}
        Some(n) if (1..=RUN_BATCHES_MAX).contains(&n) => options.max_batches = n,
        Some(_) => errors.push(FieldError {
            field: "max_batches".into(),
            rule: format!("must be 1 to {RUN_BATCHES_MAX}"),
        }),
    }
    match run.items_per_batch {
        None => {}
        Some(n) if (1..=ledger_domain::payout::PAYOUT_ITEMS_PER_BATCH_MAX).contains(&n) => {
            options.items_per_batch = n
        }
        Some(_) => errors.push(FieldError {
            field: "items_per_batch".into(),
            rule: format!(
                "must be 1 to {}",
                ledger_domain::payout::PAYOUT_ITEMS_PER_BATCH_MAX
            ),
        }),
    }
    if !errors.is_empty() || run_id.is_none() {
        return Err(Problem::unprocessable(errors));
    }
    let report = uc::draft_payouts(&*state.events, &state.reads, &ctx, &options)
        .await
        .map_err(app_problem)?;
    tracing::info!(tenant = %identity.tenant_id, run = %report.run_id, batches = report.batches.len(), items = report.items, skipped = report.skipped, "payout run drafted");
    let body = RunReportBody {
        run_id: report.run_id.to_string(),
        batches: report
            .batches
            .iter()
            .map(|b| BatchSummaryBody {
                batch_id: b.batch_id.to_string(),
                sequence: b.sequence,
                items: b.items,
                totals: b.totals.clone(),
            })
            .collect(),
        items: report.items,
        skipped: report.skipped,
        // Continuation tokens are opaque to clients.
        next: report.next.as_ref().map(hex::encode),
    };
    let status = if report.batches.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(body)).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct ItemBody {
    item_id: String,
    affiliate_id: String,
    amount: Money,
    receivable_netted: Money,
    processor: &'static str,
    /// Where this item pays, masked, as bound when it was drafted: the only
    /// destination dispatch will pay (absent for items drafted before
    /// destinations were bound).
    destination: Option<String>,
    /// The first 12 hex digits of the destination's fingerprint, to tell
    /// two destinations with the same masked form apart.
    destination_fingerprint: Option<String>,
    /// The processor's reference once submitted.
    reference: Option<String>,
    status: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct BatchBody {
    batch_id: String,
    status: &'static str,
    maker: String,
    version: u64,
    items: Vec<ItemBody>,
}

async fn batch_body<R: ApiReads + 'static>(
    state: &ApiState<R>,
    identity: &Identity,
    batch_id: &PayoutBatchId,
) -> Result<BatchBody, Problem> {
    let batch = uc::load_batch(&*state.events, &identity.tenant_id, batch_id)
        .await
        .map_err(app_problem)?;
    let Some(s) = batch.state() else {
        return Err(Problem::not_found("payout batch"));
    };
    Ok(BatchBody {
        batch_id: s.batch_id.to_string(),
        status: match s.status {
            BatchStatus::Drafted => "drafted",
            BatchStatus::Approved => "approved",
            BatchStatus::Rejected => "rejected",
        },
        maker: s.maker.clone(),
        version: batch.version(),
        items: s
            .items
            .iter()
            .map(|i| ItemBody {
                item_id: i.drafted.item_id.to_string(),
                affiliate_id: i.drafted.affiliate_id.to_string(),
                amount: i.drafted.amount,
                receivable_netted: i.drafted.receivable_netted,
                processor: i.drafted.processor.as_str(),
                destination: i.drafted.destination.as_ref().map(|d| d.masked.clone()),
                destination_fingerprint: i
                    .drafted
                    .destination
                    .as_ref()
                    .map(|d| d.fingerprint.chars().take(12).collect()),
                reference: i.reference.clone(),
                status: match i.status {
                    ItemStatus::Awaiting => "awaiting".into(),
                    ItemStatus::Submitted => "submitted".into(),
                    ItemStatus::Paid => "paid".into(),
                    ItemStatus::Final(o) => format!("{o:?}").to_lowercase(),
                },
            })
            .collect(),
    })
}

/// A payout batch and each item's state.
#[utoipa::path(get, path = "/v1/payout-batches/{batch_id}", tag = "payouts",
    params(("batch_id" = String, Path)), responses((status = 200, body = BatchBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 404 not found, 409 conflict, 400/422 each broken field named"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")), security(("bearer" = [])))]
pub(crate) async fn get_batch<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ReadPayouts)?;
    let batch_id = batch(&id)?;
    Ok(axum::Json(batch_body(&state, &identity, &batch_id).await?).into_response())
}

/// Approves a batch (never its maker; above the limits only an admin) and enqueues its items.
#[utoipa::path(post, path = "/v1/payout-batches/{batch_id}/approve", tag = "payouts",
    params(("batch_id" = String, Path)), responses((status = 200, body = ApprovedBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 404 not found, 409 conflict, 400/422 each broken field named"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")), security(("bearer" = [])))]
pub(crate) async fn approve<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::ApprovePayouts)?;
    let batch_id = batch(&id)?;
    let authority = if role == role::ADMIN {
        ApprovalAuthority::Admin
    } else {
        ApprovalAuthority::Finance
    };
    let ctx = ctx(&identity, role)?;
    let (_, queued) = uc::approve_batch(
        &*state.events,
        &*state.queue,
        &batch_id,
        authority,
        &state.limits,
        &ctx,
    )
    .await
    .map_err(app_problem)?;
    tracing::info!(tenant = %identity.tenant_id, batch = %batch_id, queued, "payout batch approved");
    let body = batch_body(&state, &identity, &batch_id).await?;
    Ok(axum::Json(ApprovedBody {
        batch: body,
        dispatch_messages: queued,
    })
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RejectBody {
    reason: String,
}

/// Rejects a batch, releasing every reservation.
#[utoipa::path(post, path = "/v1/payout-batches/{batch_id}/reject", tag = "payouts",
    params(("batch_id" = String, Path)), request_body = RejectBody, responses((status = 200, body = BatchBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 404 not found, 409 conflict, 400/422 each broken field named"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")), security(("bearer" = [])))]
pub(crate) async fn reject<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::ApprovePayouts)?;
    let batch_id = batch(&id)?;
    let RejectBody { reason } = json_body(&headers, body).await?;
    let ctx = ctx(&identity, role)?;
    ledger_app::run_payout_batch(
        &*state.events,
        &batch_id,
        PayoutBatchCommand::Reject { reason },
        &ctx,
        None,
    )
    .await
    .map_err(app_problem)?;
    tracing::info!(tenant = %identity.tenant_id, batch = %batch_id, "payout batch rejected");
    Ok(axum::Json(batch_body(&state, &identity, &batch_id).await?).into_response())
}

/// Re-enqueues the approved batch's items not yet sent (safe to repeat).
#[utoipa::path(post, path = "/v1/payout-batches/{batch_id}/dispatch", tag = "payouts",
    params(("batch_id" = String, Path)), responses((status = 202, body = DispatchedBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 404 not found, 409 conflict, 400/422 each broken field named"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")), security(("bearer" = [])))]
pub(crate) async fn dispatch<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::DispatchPayouts)?;
    let batch_id = batch(&id)?;
    let queued = uc::enqueue_awaiting(
        &*state.events,
        &*state.queue,
        &identity.tenant_id,
        &batch_id,
    )
    .await
    .map_err(app_problem)?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(DispatchedBody {
            dispatch_messages: queued,
        }),
    )
        .into_response())
}

/// A drafted batch of a run.
#[derive(Serialize, utoipa::ToSchema)]
struct BatchSummaryBody {
    batch_id: String,
    sequence: u64,
    items: usize,
    /// Total per currency.
    totals: Vec<Money>,
}

/// What a drafting run did.
#[derive(Serialize, utoipa::ToSchema)]
struct RunReportBody {
    run_id: String,
    batches: Vec<BatchSummaryBody>,
    items: usize,
    /// Affiliates left out, each with its reason in the run's skip records.
    skipped: usize,
    /// Where to resume (`after` of the next run); none when complete.
    next: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ApprovedBody {
    batch: BatchBody,
    /// Dispatch messages enqueued, one per item.
    dispatch_messages: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
struct DispatchedBody {
    dispatch_messages: usize,
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
