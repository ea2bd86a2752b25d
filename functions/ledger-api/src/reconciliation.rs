//! Reconciliation mismatches of one tenant, and their resolution:
//!
//! | route | who |
//! |---|---|
//! | `GET /v1/reconciliation/runs?limit=&after=` | finance, admin |
//! | `GET /v1/reconciliation/mismatches?status=open\|resolved&limit=&after=` | finance, admin |
//! | `POST /v1/reconciliation/mismatches/{id}/resolve` | finance, admin |
//!
//! Where they are kept (the same streams on every store): the tenant's
//! `reconciliation-runs` stream registers each run with mismatches
//! (`reconciliation.run_recorded`); a run's `reconciliation/{run}` stream
//! holds its `reconciliation.mismatch_found` events; a mismatch's
//! resolution (`reconciliation.mismatch_resolved`) is the one event of its
//! own `reconciliation-mismatch/{run}/{version}` stream, so resolving twice
//! is a version conflict. A mismatch's id is `{run}~{version}`. Every
//! stream name starts with the verified tenant: another tenant's mismatch
//! is unknown.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use event_store::{AppendRequest, EventStore, StoreError, StreamId};
use lambda_edge::authz::{Action, authorize};
use lambda_edge::problem::{Problem, Unavailable};
use lambda_edge::{Caller, Identity};
use ledger_domain::events::{
    AggregateRef, EventBody, ReconciliationMismatchFound, ReconciliationMismatchResolved,
    stream_name,
};
use ledger_domain::{Event, Money, ReconciliationRunId, TenantId};
use serde::{Deserialize, Serialize};

use crate::extract::{ApiJson, ApiQuery};
use crate::payouts::{app_problem, ctx};
use crate::{ApiReads, ApiState, store_problem};

pub const MISMATCH_PAGE_MAX: usize = 50;
pub const MISMATCH_PAGE_DEFAULT: usize = 20;
pub const NOTE_CHARS_MAX: usize = 500;

#[derive(Serialize, utoipa::ToSchema)]
struct ResolutionBody {
    /// The verified subject who resolved it.
    by: String,
    /// RFC 3339.
    at: String,
    note: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct MismatchBody {
    /// Stable: `{run_id}~{version}`.
    id: String,
    run_id: String,
    processor: String,
    /// As the reconciliation wrote it (one of `MismatchKind`'s names).
    #[schema(value_type = reporting::reconcile::MismatchKind)]
    kind: String,
    report: String,
    line: Option<u64>,
    processor_reference: Option<String>,
    batch_id: Option<String>,
    item_id: Option<String>,
    ledger_amount: Option<Money>,
    report_amount: Option<Money>,
    /// `open` or `resolved`.
    status: &'static str,
    resolution: Option<ResolutionBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct MismatchesBody {
    mismatches: Vec<MismatchBody>,
    next: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ReconciliationRunBody {
    run_id: String,
    processor: String,
    report: String,
    /// When the run recorded its mismatches (RFC 3339).
    recorded_at: String,
    open: usize,
    resolved: usize,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RunsBody {
    runs: Vec<ReconciliationRunBody>,
    next: Option<String>,
}

fn stream(tenant: &TenantId, aggregate: AggregateRef<'_>) -> Result<StreamId, Problem> {
    StreamId::new(stream_name(tenant, aggregate)).map_err(store_problem)
}

/// The tenant's runs with mismatches, newest first.
async fn runs_of<S: EventStore + ?Sized>(
    events: &S,
    tenant: &TenantId,
) -> Result<Vec<Event>, Problem> {
    let registry = stream(tenant, AggregateRef::ReconciliationRuns)?;
    let mut runs = ledger_app::load(events, &registry)
        .await
        .map_err(app_problem)?;
    runs.reverse();
    Ok(runs)
}

/// A run's mismatches with their versions, oldest first.
async fn mismatches_of<S: EventStore + ?Sized>(
    events: &S,
    tenant: &TenantId,
    run: &ReconciliationRunId,
) -> Result<Vec<(u64, ReconciliationMismatchFound)>, Problem> {
    let run_stream = stream(tenant, AggregateRef::Reconciliation(run))?;
    let all = ledger_app::load(events, &run_stream)
        .await
        .map_err(app_problem)?;
    Ok(all
        .into_iter()
        .zip(1u64..)
        .filter_map(|(e, version)| match e.body() {
            EventBody::ReconciliationMismatchFound(m) => Some((version, m.clone())),
            _ => None,
        })
        .collect())
}

async fn resolution_of<S: EventStore + ?Sized>(
    events: &S,
    tenant: &TenantId,
    run: &ReconciliationRunId,
    version: u64,
) -> Result<Option<ResolutionBody>, Problem> {
    let own = stream(tenant, AggregateRef::ReconciliationMismatch(run, version))?;
    let stored = ledger_app::load(events, &own).await.map_err(app_problem)?;
    Ok(stored.iter().find_map(|e| match e.body() {
        EventBody::ReconciliationMismatchResolved(r) => Some(ResolutionBody {
            by: e.actor().id.clone(),
            at: e.recorded_at().to_rfc3339_opts(SecondsFormat::Millis, true),
            note: r.note.clone(),
        }),
        _ => None,
    }))
}

fn body_of(
    version: u64,
    m: ReconciliationMismatchFound,
    resolution: Option<ResolutionBody>,
) -> MismatchBody {
    MismatchBody {
        id: format!("{}~{version}", m.run_id),
        run_id: m.run_id.to_string(),
        processor: m.processor.as_str().to_owned(),
        kind: m.kind,
        report: m.report,
        line: m.line,
        processor_reference: m.processor_reference,
        batch_id: m.batch_id,
        item_id: m.item_id,
        ledger_amount: m.ledger_amount,
        report_amount: m.report_amount,
        status: if resolution.is_some() {
            "resolved"
        } else {
            "open"
        },
        resolution,
    }
}

/// The query of the lists: `status` (mismatches only), `limit`, `after`.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

fn limit_param(query: &ListQuery) -> Result<usize, Problem> {
    crate::page_limit(
        query.limit.as_deref(),
        MISMATCH_PAGE_DEFAULT,
        MISMATCH_PAGE_MAX,
    )
    .map_err(|e| Problem::bad_request(&e.field, &e.rule))
}

/// A page position: how many runs (newest first) are behind, and within
/// the next run how many mismatches. Opaque to clients (hex).
fn parse_after(query: &ListQuery) -> Result<(usize, usize), Problem> {
    let Some(token) = &query.after else {
        return Ok((0, 0));
    };
    hex::decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|t| {
            let (run, within) = t.split_once(':')?;
            Some((run.parse().ok()?, within.parse().ok()?))
        })
        .ok_or_else(|| Problem::bad_request("after", "is not a page token of this API"))
}

fn run_id_of(event: &Event) -> Option<&ReconciliationRunId> {
    match event.body() {
        EventBody::ReconciliationRunRecorded(r) => Some(&r.run_id),
        _ => None,
    }
}

/// The tenant's mismatches, newest run first, open or resolved.
#[utoipa::path(get, path = "/v1/reconciliation/mismatches", tag = "reconciliation",
    params(("status" = Option<String>, Query, description = "open or resolved (default: both)"), ("limit" = Option<usize>, Query, description = "1 to 50, default 20"), ("after" = Option<String>, Query, description = "`next` of the previous page")),
    responses((status = 200, body = MismatchesBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 400 the broken field named"), Unavailable),
    security(("bearer" = [])))]
pub(crate) async fn list_mismatches<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ReadReconciliation)?;
    let status = match query.status.as_deref() {
        None => None,
        Some("open") => Some(false),
        Some("resolved") => Some(true),
        Some(_) => return Err(Problem::bad_request("status", "must be open or resolved")),
    };
    let limit = limit_param(&query)?;
    let (run_from, within_from) = parse_after(&query)?;
    let tenant = &identity.tenant_id;
    let runs = runs_of(&*state.events, tenant).await?;
    let mut out = Vec::new();
    let mut next = None;
    'runs: for (run_index, run) in runs.iter().enumerate().skip(run_from) {
        let Some(run_id) = run_id_of(run) else {
            continue;
        };
        let skip = if run_index == run_from {
            within_from
        } else {
            0
        };
        let found = mismatches_of(&*state.events, tenant, run_id).await?;
        for (position, (version, m)) in found.into_iter().enumerate().skip(skip) {
            if out.len() == limit {
                next = Some(hex::encode(format!("{run_index}:{position}")));
                break 'runs;
            }
            let resolution = resolution_of(&*state.events, tenant, run_id, version).await?;
            if status.is_some_and(|want| want != resolution.is_some()) {
                continue;
            }
            out.push(body_of(version, m, resolution));
        }
    }
    Ok(axum::Json(MismatchesBody {
        mismatches: out,
        next,
    })
    .into_response())
}

/// The tenant's reconciliation runs with mismatches, newest first, with
/// how many are open and resolved.
#[utoipa::path(get, path = "/v1/reconciliation/runs", tag = "reconciliation",
    params(("limit" = Option<usize>, Query, description = "1 to 50, default 20"), ("after" = Option<String>, Query, description = "`next` of the previous page")),
    responses((status = 200, body = RunsBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 400 the broken field named"), Unavailable),
    security(("bearer" = [])))]
pub(crate) async fn list_runs<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ReadReconciliation)?;
    let limit = limit_param(&query)?;
    let (from, _) = parse_after(&query)?;
    let tenant = &identity.tenant_id;
    let runs = runs_of(&*state.events, tenant).await?;
    let mut out = Vec::new();
    for run in runs.iter().skip(from).take(limit) {
        let EventBody::ReconciliationRunRecorded(r) = run.body() else {
            continue;
        };
        let (mut open, mut resolved) = (0, 0);
        for (version, _) in mismatches_of(&*state.events, tenant, &r.run_id).await? {
            match resolution_of(&*state.events, tenant, &r.run_id, version).await? {
                Some(_) => resolved += 1,
                None => open += 1,
            }
        }
        out.push(ReconciliationRunBody {
            run_id: r.run_id.to_string(),
            processor: r.processor.as_str().to_owned(),
            report: r.report.clone(),
            recorded_at: run
                .recorded_at()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
            open,
            resolved,
        });
    }
    let next = (from + limit < runs.len()).then(|| hex::encode(format!("{}:0", from + limit)));
    Ok(axum::Json(RunsBody { runs: out, next }).into_response())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResolveBody {
    /// 1 to 500 characters: how it was resolved.
    note: String,
}

/// The run and version a mismatch id names, if it is well formed.
fn parse_id(id: &str) -> Option<(ReconciliationRunId, u64)> {
    let (run, version) = id.rsplit_once('~')?;
    let version = version.parse::<u64>().ok().filter(|v| *v >= 1)?;
    Some((ReconciliationRunId::new(run).ok()?, version))
}

/// Resolves one mismatch, with a note (finance, admins). Recorded as a
/// `reconciliation.mismatch_resolved` event: who, when, why.
#[utoipa::path(post, path = "/v1/reconciliation/mismatches/{id}/resolve", tag = "reconciliation",
    params(("id" = String, Path, description = "the mismatch's `id`")), request_body = ResolveBody,
    responses((status = 200, body = MismatchBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 404 no such mismatch (or another tenant's), 409 already resolved, 400/422 the broken field named"), Unavailable),
    security(("bearer" = [])))]
pub(crate) async fn resolve<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
    body: Result<ApiJson<ResolveBody>, Problem>,
) -> Result<Response, Problem> {
    let role = authorize(&identity, Action::ResolveMismatches)?;
    let ApiJson(request) = body?;
    let note = request.note.trim().to_owned();
    if note.is_empty() || note.chars().count() > NOTE_CHARS_MAX {
        return Err(Problem::bad_request(
            "note",
            &format!("must be 1 to {NOTE_CHARS_MAX} characters"),
        ));
    }
    let Some((run, version)) = parse_id(&id) else {
        return Err(Problem::not_found("reconciliation mismatch"));
    };
    let found = find(&*state.events, &identity, &run, version).await?;
    if resolution_of(&*state.events, &identity.tenant_id, &run, version)
        .await?
        .is_some()
    {
        return Err(Problem::conflict("the mismatch is already resolved"));
    }
    let context = ctx(&identity, role)?;
    let event = Event::new(
        identity.tenant_id.clone(),
        context.actor,
        context.now,
        context.effective_at,
        EventBody::ReconciliationMismatchResolved(ReconciliationMismatchResolved {
            run_id: run.clone(),
            mismatch: version,
            note,
        }),
    );
    let request = AppendRequest::from_domain(0, &[event]).map_err(store_problem)?;
    match state.events.append(request).await {
        Ok(_) => {}
        Err(StoreError::VersionConflict { .. }) => {
            return Err(Problem::conflict("the mismatch is already resolved"));
        }
        Err(e) => return Err(store_problem(e)),
    }
    tracing::info!(tenant = %identity.tenant_id, run = %run, version, "reconciliation mismatch resolved");
    let resolution = resolution_of(&*state.events, &identity.tenant_id, &run, version).await?;
    Ok(axum::Json(body_of(version, found, resolution)).into_response())
}

/// The mismatch at `version` of the caller's tenant's run, or 404.
async fn find<S: EventStore + ?Sized>(
    events: &S,
    identity: &Identity,
    run: &ReconciliationRunId,
    version: u64,
) -> Result<ReconciliationMismatchFound, Problem> {
    let run_stream = stream(&identity.tenant_id, AggregateRef::Reconciliation(run))?;
    let stored = events
        .read_stream(&run_stream, version, 1)
        .await
        .map_err(store_problem)?;
    let Some(stored) = stored.first().filter(|s| s.version == version) else {
        return Err(Problem::not_found("reconciliation mismatch"));
    };
    match stored.decode().map_err(store_problem)?.body() {
        EventBody::ReconciliationMismatchFound(m) => Ok(m.clone()),
        _ => Err(Problem::not_found("reconciliation mismatch")),
    }
}
