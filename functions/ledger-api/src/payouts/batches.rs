//! One payout batch: reading it, four-eyes approval, rejection and
//! dispatch.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lambda_edge::authz::{Action, authorize, role};
use lambda_edge::problem::{Problem, Refused, Unavailable};
use lambda_edge::{Caller, Identity};
use ledger_app::payouts as uc;
use ledger_domain::events::ApprovalAuthority;
use ledger_domain::payout::{BatchStatus, ItemStatus};
use ledger_domain::{Money, PayoutBatchCommand, PayoutBatchId};
use serde::{Deserialize, Serialize};

use super::{app_problem, ctx};
use crate::extract::ApiJson;
use crate::{ApiReads, ApiState};

fn batch(id: &str) -> Result<PayoutBatchId, Problem> {
    PayoutBatchId::new(id).map_err(|e| Problem::bad_request("batch_id", &e.to_string()))
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
    params(("batch_id" = String, Path)), responses((status = 200, body = BatchBody), Refused, Unavailable), security(("bearer" = [])))]
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
    params(("batch_id" = String, Path)), responses((status = 200, body = ApprovedBody), Refused, Unavailable), security(("bearer" = [])))]
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
pub(crate) struct RejectBody {
    reason: String,
}

/// Rejects a batch, releasing every reservation.
#[utoipa::path(post, path = "/v1/payout-batches/{batch_id}/reject", tag = "payouts",
    params(("batch_id" = String, Path)), request_body = RejectBody, responses((status = 200, body = BatchBody), Refused, Unavailable), security(("bearer" = [])))]
pub(crate) async fn reject<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    body: Result<ApiJson<RejectBody>, Problem>,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::ApprovePayouts)?;
    let batch_id = batch(&id)?;
    let ApiJson(RejectBody { reason }) = body?;
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
    params(("batch_id" = String, Path)), responses((status = 202, body = DispatchedBody), Refused, Unavailable), security(("bearer" = [])))]
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
