//! Statement routes.
//!
//! | route | who |
//! |---|---|
//! | `GET /v1/affiliates/{id}/statements` | the affiliate itself, finance, admin |
//! | `GET /v1/affiliates/{id}/statements/{currency}/{period}?version=&format=` | the affiliate itself, finance, admin |
//! | `POST /v1/statement-runs` | finance, admin |
//!
//! The tenant always comes from the verified identity and the affiliate
//! from the path after authorization, so the keys read are always the
//! caller's own: another affiliate's or tenant's statements cannot be
//! named. A download is a link that works for five minutes (an S3
//! presigned URL; on the local stack a signed link it serves).

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use lambda_edge::Caller;
use lambda_edge::authz::{Action, authorize};
use lambda_edge::problem::{FieldError, Problem, Refused, Unavailable};
use ledger_domain::AffiliateId;
use ledger_domain::money::currency_from_code;
use reporting::statement::Period;
use reporting::statements::{RunScope, StatementStores, generate_statements, list_statements};
use reporting::{DOWNLOAD_LINK_TTL, ReportError, ReportFiles};
use serde::{Deserialize, Serialize};

use crate::extract::{ApiJson, ApiQuery};
use crate::{ApiReads, ApiState};

/// Affiliate-currencies one on-demand run takes at most; it returns `next`
/// to go on.
pub const RUN_ROWS_MAX: usize = 500;

fn files<R>(state: &ApiState<R>) -> Result<&ReportFiles, Problem> {
    state.reports.as_deref().ok_or_else(|| {
        tracing::error!("statements are not configured (REPORTS_BUCKET)");
        Problem::unavailable()
    })
}

fn report_problem(e: ReportError) -> Problem {
    tracing::error!(error = %e, "statement files");
    Problem::unavailable()
}

#[derive(Serialize, utoipa::ToSchema)]
struct ListedBody {
    currency: String,
    period: String,
    version: u32,
    latest: bool,
}

/// An affiliate's statements, every version.
#[utoipa::path(get, path = "/v1/affiliates/{affiliate_id}/statements", tag = "statements",
    params(("affiliate_id" = String, Path, description = "an affiliate may name only itself")), responses((status = 200, body = ListBody), Refused, Unavailable), security(("bearer" = [])))]
pub(crate) async fn list<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(affiliate): Path<String>,
) -> Result<Response, Problem> {
    let owner = crate::authorize(&identity, &affiliate)?;
    let ledger_domain::projection::BalanceOwner::Affiliate { affiliate_id, .. } = owner else {
        return Err(Problem::not_found("affiliate"));
    };
    let files = files(&state)?;
    let listed = list_statements(&files.files, &identity.tenant_id, &affiliate_id)
        .await
        .map_err(report_problem)?;
    let body: Vec<ListedBody> = listed
        .iter()
        .enumerate()
        .map(|(i, l)| ListedBody {
            currency: l.currency.clone(),
            period: l.period.clone(),
            version: l.version,
            latest: listed
                .get(i + 1)
                .is_none_or(|n| n.currency != l.currency || n.period != l.period),
        })
        .collect();
    Ok(axum::Json(ListBody {
        affiliate_id: affiliate_id.to_string(),
        statements: body,
    })
    .into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct DownloadBody {
    currency: String,
    period: String,
    version: u32,
    format: &'static str,
    url: String,
    expires_at: chrono::DateTime<Utc>,
}

/// The query of a download: `version`, `format`.
#[derive(Deserialize)]
pub(crate) struct DownloadQuery {
    version: Option<String>,
    format: Option<String>,
}

/// A link to download one statement, valid for five minutes.
#[utoipa::path(get, path = "/v1/affiliates/{affiliate_id}/statements/{currency}/{period}", tag = "statements",
    params(("affiliate_id" = String, Path), ("currency" = String, Path), ("period" = String, Path, description = "YYYY-MM"), ("version" = Option<u32>, Query, description = "default: the latest"), ("format" = Option<String>, Query, description = "json (default) or csv")),
    responses((status = 200, body = DownloadBody), Refused, Unavailable), security(("bearer" = [])))]
pub(crate) async fn download<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path((affiliate, currency, period)): Path<(String, String, String)>,
    ApiQuery(query): ApiQuery<DownloadQuery>,
) -> Result<Response, Problem> {
    let owner = crate::authorize(&identity, &affiliate)?;
    let ledger_domain::projection::BalanceOwner::Affiliate { affiliate_id, .. } = owner else {
        return Err(Problem::not_found("affiliate"));
    };
    let mut errors = Vec::new();
    let currency = currency_from_code(&currency)
        .map_err(|e| {
            errors.push(FieldError {
                field: "currency".into(),
                rule: e.to_string(),
            })
        })
        .ok();
    if Period::month(&period, chrono_tz::Tz::UTC).is_err() {
        errors.push(FieldError {
            field: "period".into(),
            rule: "must be a month written YYYY-MM".into(),
        });
    }
    let version = match query.version.as_deref().map(str::parse::<u32>) {
        None => None,
        Some(Ok(v)) if v >= 1 => Some(v),
        Some(_) => {
            errors.push(FieldError {
                field: "version".into(),
                rule: "must be a whole number from 1".into(),
            });
            None
        }
    };
    let format = match query.format.as_deref() {
        None | Some("json") => "json",
        Some("csv") => "csv",
        Some(_) => {
            errors.push(FieldError {
                field: "format".into(),
                rule: "must be json or csv".into(),
            });
            "json"
        }
    };
    let (Some(currency), true) = (currency, errors.is_empty()) else {
        return Err(Problem::unprocessable(errors));
    };
    let files = files(&state)?;
    let listed = list_statements(&files.files, &identity.tenant_id, &affiliate_id)
        .await
        .map_err(report_problem)?;
    let found = listed
        .iter()
        .filter(|l| l.currency == currency.code() && l.period == period)
        .filter(|l| version.is_none_or(|v| v == l.version))
        .max_by_key(|l| l.version)
        .ok_or_else(|| Problem::not_found("statement"))?;
    let key = if format == "csv" {
        &found.csv_key
    } else {
        &found.json_key
    };
    let now = Utc::now();
    let url = files
        .files
        .download_link(key, DOWNLOAD_LINK_TTL, files.links.as_ref(), now)
        .await
        .map_err(|e| report_problem(e.into()))?
        .ok_or_else(|| {
            tracing::error!("statement files are in a directory without download links");
            Problem::unavailable()
        })?;
    Ok(axum::Json(DownloadBody {
        currency: found.currency.clone(),
        period: found.period.clone(),
        version: found.version,
        format,
        url,
        expires_at: now
            + chrono::Duration::from_std(DOWNLOAD_LINK_TTL).unwrap_or(chrono::Duration::zero()),
    })
    .into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct StatementRunBody {
    /// `YYYY-MM`; the last complete month in the tenant's zone if absent.
    period: Option<String>,
    affiliate_id: Option<String>,
    reason: Option<String>,
    /// `next` of a previous bounded run.
    after: Option<String>,
}

/// Generates statements of a period now (finance, admins), bounded per call.
#[utoipa::path(post, path = "/v1/statement-runs", tag = "statements", request_body = StatementRunBody,
    responses((status = 200, body = reporting::statements::StatementRunReport), Refused, Unavailable), security(("bearer" = [])))]
pub(crate) async fn run<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    body: Result<ApiJson<StatementRunBody>, Problem>,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::RunStatements)?;
    let ApiJson(run) = body?;
    let actor = crate::payouts::ctx(&identity, role)?.actor;
    let files = files(&state)?;
    let tz = files.time_zones.of(&identity.tenant_id);
    let now = Utc::now();
    let mut errors = Vec::new();
    let period = match &run.period {
        None => Some(Period::previous_month(now, tz)),
        Some(p) => Period::month(p, tz)
            .map_err(|e| {
                errors.push(FieldError {
                    field: "period".into(),
                    rule: e.to_string(),
                })
            })
            .ok(),
    };
    let only = match run.affiliate_id.as_deref().map(AffiliateId::new) {
        None => None,
        Some(Ok(a)) => Some(a),
        Some(Err(e)) => {
            errors.push(FieldError {
                field: "affiliate_id".into(),
                rule: e.to_string(),
            });
            None
        }
    };
    let reason = run.reason.unwrap_or_else(|| "on demand".to_owned());
    if reason.is_empty() || reason.chars().count() > 200 || reason.chars().any(char::is_control) {
        errors.push(FieldError {
            field: "reason".into(),
            rule: "must be 1 to 200 characters without control characters".into(),
        });
    }
    let after = match run.after.as_deref().map(hex::decode) {
        None => None,
        Some(Ok(bytes)) => String::from_utf8(bytes).ok(),
        Some(Err(_)) => None,
    };
    if run.after.is_some() && after.is_none() {
        errors.push(FieldError {
            field: "after".into(),
            rule: "must be a next token returned by this route".into(),
        });
    }
    let (Some(period), true) = (period, errors.is_empty()) else {
        return Err(Problem::unprocessable(errors));
    };
    let reason = format!("{reason} (by {})", identity.subject);
    let scope = RunScope {
        only,
        after,
        max_rows: RUN_ROWS_MAX,
    };
    let stores = StatementStores {
        reads: &state.reads,
        files: &files.files,
        events: state.events.as_ref(),
    };
    let report = generate_statements(
        &stores,
        &identity.tenant_id,
        &period,
        &scope,
        &reason,
        &actor,
        now,
    )
    .await
    .map_err(|e| match e {
        ReportError::Store(event_store::StoreError::InvalidCursor { .. }) => {
            Problem::bad_request("after", "is not a next token of this tenant")
        }
        other => report_problem(other),
    })?;
    tracing::info!(tenant = %identity.tenant_id, period = %report.period, created = report.created, unchanged = report.unchanged, failed = report.failed.len(), "statements generated on demand");
    let mut body = serde_json::to_value(&report).unwrap_or_default();
    body["next"] = serde_json::json!(report.next.as_deref().map(hex::encode));
    Ok(axum::Json(body).into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct ListBody {
    affiliate_id: String,
    statements: Vec<ListedBody>,
}
