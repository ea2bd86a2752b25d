//! An affiliate's pending commissions with the moment each matures: what
//! the portal shows under "pending". Read from the affiliate's journal
//! (what is still pending per commission) and each pending commission's
//! recorded event (its `matures_at`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use event_store::StreamId;
use lambda_edge::Caller;
use lambda_edge::problem::{Problem, Unavailable};
use ledger_domain::events::EventBody;
use ledger_domain::projection::AffiliateField;
use serde::Serialize;

use crate::affiliates::{CurrencyQuery, currency_param};
use crate::extract::ApiQuery;
use crate::{ApiReads, ApiState, authorize, money_text, store_problem};

/// The most journal lines one request reads; past it the answer says it is
/// not complete.
pub const PENDING_SCAN_MAX: usize = 20_000;
/// The most pending commissions one answer lists (the soonest to mature).
pub const PENDING_LIST_MAX: usize = 100;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PendingCommissionBody {
    commission_id: String,
    /// What is still pending of it (earned less reversed).
    pending: String,
    /// When it was earned (RFC 3339).
    earned_at: String,
    /// When its hold period ends and it becomes available (RFC 3339).
    matures_at: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct PendingBody {
    affiliate_id: String,
    currency: String,
    /// Every pending commission's remainder summed.
    pending_total: String,
    /// Soonest to mature first; at most 100, the earliest earned.
    commissions: Vec<PendingCommissionBody>,
    /// False when the journal was longer than one request reads or more
    /// commissions are pending than are listed.
    complete: bool,
}

/// An affiliate's pending commissions in one currency, each with when it
/// matures, soonest first.
#[utoipa::path(get, path = "/v1/affiliates/{affiliate_id}/pending", tag = "ledger",
    params(("affiliate_id" = String, Path, description = "an affiliate may name only itself"), ("currency" = String, Query, description = "ISO 4217")),
    responses((status = 200, body = PendingBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 400/422 each broken field named"), Unavailable),
    security(("bearer" = [])))]
pub(crate) async fn pending<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(affiliate): Path<String>,
    ApiQuery(query): ApiQuery<CurrencyQuery>,
) -> Result<Response, Problem> {
    let owner = authorize(&identity, &affiliate)?;
    let currency = currency_param(query.currency.as_deref())?
        .ok_or_else(|| Problem::bad_request("currency", "is required"))?;
    let (lines, mut complete) =
        crate::journal_lines(&state.reads, &owner, currency, PENDING_SCAN_MAX).await?;
    // What is still pending per commission stream, and when it was earned.
    let mut streams: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for line in lines {
        let Some(delta) = line.deltas.get(AffiliateField::Pending.name()) else {
            continue;
        };
        let entry = streams
            .entry(line.stream)
            .or_insert_with(|| (0, line.effective_at.clone()));
        entry.0 += AffiliateField::Pending.shown(*delta);
    }
    let mut open: Vec<(String, i64, String)> = streams
        .into_iter()
        .filter(|(_, (left, _))| *left > 0)
        .map(|(stream, (left, earned))| (stream, left, earned))
        .collect();
    let total: i64 = open.iter().map(|(_, left, _)| left).sum();
    // The earliest earned first: they are the ones maturing soonest.
    open.sort_by(|a, b| a.2.cmp(&b.2).then(a.0.cmp(&b.0)));
    if open.len() > PENDING_LIST_MAX {
        open.truncate(PENDING_LIST_MAX);
        complete = false;
    }
    let mut listed = Vec::new();
    for (stream, left, earned) in &open {
        let id = StreamId::new(stream.clone()).map_err(|e| {
            tracing::error!(error = %e, stream, "journal names an invalid stream");
            Problem::unavailable()
        })?;
        let first = state
            .events
            .read_stream(&id, 1, 1)
            .await
            .map_err(store_problem)?;
        let Some(stored) = first.into_iter().next() else {
            continue;
        };
        let event = stored.decode().map_err(store_problem)?;
        if let EventBody::CommissionRecorded(recorded) = event.body() {
            listed.push(PendingCommissionBody {
                commission_id: recorded.commission_id.as_str().to_owned(),
                pending: money_text(*left, currency),
                earned_at: earned.clone(),
                matures_at: recorded
                    .matures_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            });
        }
    }
    listed.sort_by(|a, b| {
        a.matures_at
            .cmp(&b.matures_at)
            .then(a.commission_id.cmp(&b.commission_id))
    });
    Ok(axum::Json(PendingBody {
        affiliate_id: affiliate,
        currency: currency.code().to_owned(),
        pending_total: money_text(total, currency),
        commissions: listed,
        complete,
    })
    .into_response())
}
