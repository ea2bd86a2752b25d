//! Payout runs: drafting batches from the projected balances.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use lambda_edge::Caller;
use lambda_edge::authz::{Action, authorize};
use lambda_edge::problem::{FieldError, Problem, Refused, Unavailable};
use ledger_app::payouts::{self as uc, DraftOptions};
use ledger_domain::money::currency_from_code;
use ledger_domain::{Money, PayoutRunId};
use serde::{Deserialize, Serialize};

use super::{app_problem, ctx};
use crate::extract::ApiJson;
use crate::{ApiReads, ApiState};

/// The most batches one drafting call may produce (it says where to resume).
pub const RUN_BATCHES_MAX: usize = 50;

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunBody {
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
    responses((status = 201, body = RunReportBody, description = "batches drafted"), (status = 200, body = RunReportBody, description = "nothing to draft"), (status = 409, body = Problem, content_type = "application/problem+json", description = "the projection has not applied the previous draft yet: retry shortly"), Refused, Unavailable),
    security(("bearer" = [])))]
pub(crate) async fn post_run<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    body: Result<ApiJson<RunBody>, Problem>,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::DraftPayouts)?;
    let ApiJson(run) = body?;
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
