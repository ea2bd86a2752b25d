//! The ledger's read API, over the projection (SQLite or DynamoDB):
//!
//! - `GET /v1/affiliates/{affiliate_id}/balances`: every currency's pending,
//!   available, reserved, receivable, paid out and net payable;
//! - `GET /v1/affiliates/{affiliate_id}/journal?currency=EUR&limit=50&after=T`:
//!   the affiliate's journal lines, oldest first, with a `next` page token.
//!
//! An affiliate reads only itself; finance and admins read any affiliate of
//! their own tenant. The tenant always comes from the verified identity.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use event_store::StoreError;
use lambda_edge::problem::{FieldError, Problem, Refused, Unavailable};
use lambda_edge::{Caller, Identity, TenantClaim};
use ledger_domain::money::currency_from_code;
use ledger_domain::projection::{AffiliateBalance, AffiliateField, BalanceOwner};
use ledger_domain::{AffiliateId, Currency, Money};
use serde::{Deserialize, Serialize};

use crate::extract::ApiQuery;

/// The most journal lines one page returns.
pub const JOURNAL_PAGE_MAX: usize = 500;
pub const JOURNAL_PAGE_DEFAULT: usize = 50;

pub use event_store::{Fields, JournalPage, LedgerReads};

pub mod affiliates;
mod extract;
pub mod finance;
pub mod openapi;
pub mod payouts;
pub mod pending;
pub mod reconciliation;
pub mod statements;
pub mod webhooks;

/// Everything the API reads from the projection.
pub trait ApiReads: LedgerReads + event_store::PayoutReads {}
impl<T: LedgerReads + event_store::PayoutReads + ?Sized> ApiReads for T {}

pub struct ApiState<R> {
    pub reads: R,
    /// The events: the audit trail, and the payout use cases' store.
    pub events: Arc<dyn event_store::EventStore>,
    pub tenant_claim: String,
    /// Where approved items go to be paid.
    pub queue: Arc<dyn ledger_app::payouts::DispatchQueue>,
    /// Above these, only an admin approves.
    pub limits: ledger_domain::ApprovalLimits,
    /// Where statements are kept; `None` answers 503 on statement routes.
    pub reports: Option<Arc<reporting::ReportFiles>>,
}

impl<R> TenantClaim for ApiState<R> {
    fn tenant_claim(&self) -> &str {
        &self.tenant_claim
    }
}

pub fn router<R: ApiReads + 'static>(state: Arc<ApiState<R>>) -> Router {
    Router::new()
        .route(
            "/v1/affiliates/{affiliate_id}/payout-profile",
            get(payouts::get_profile::<R>),
        )
        .route(
            "/v1/affiliates/{affiliate_id}/payout-method",
            put(payouts::put_method::<R>),
        )
        .route(
            "/v1/affiliates/{affiliate_id}/payout-minimums/{currency}",
            put(payouts::put_minimum::<R>),
        )
        .route(
            "/v1/affiliates/{affiliate_id}/payout-holds",
            post(payouts::place_hold::<R>),
        )
        .route(
            "/v1/affiliates/{affiliate_id}/payout-holds/{reason}/lift",
            post(payouts::lift_hold::<R>),
        )
        .route("/v1/payout-runs", post(payouts::post_run::<R>))
        .route("/v1/payout-batches", get(finance::list_batches::<R>))
        .route(
            "/v1/payout-batches/{batch_id}/export.csv",
            get(finance::export_batch::<R>),
        )
        .route("/v1/liabilities", get(finance::liabilities::<R>))
        .route(
            "/v1/liabilities/export.csv",
            get(finance::export_liabilities::<R>),
        )
        .route(
            "/v1/payout-batches/{batch_id}",
            get(payouts::get_batch::<R>),
        )
        .route(
            "/v1/payout-batches/{batch_id}/approve",
            post(payouts::approve::<R>),
        )
        .route(
            "/v1/payout-batches/{batch_id}/reject",
            post(payouts::reject::<R>),
        )
        .route(
            "/v1/payout-batches/{batch_id}/dispatch",
            post(payouts::dispatch::<R>),
        )
        .route("/v1/affiliates/{affiliate_id}/balances", get(balances::<R>))
        .route("/v1/affiliates/{affiliate_id}/journal", get(journal::<R>))
        .route("/v1/affiliates", get(affiliates::list::<R>))
        .route(
            "/v1/reconciliation/mismatches",
            get(reconciliation::list_mismatches::<R>),
        )
        .route(
            "/v1/reconciliation/mismatches/{id}/resolve",
            post(reconciliation::resolve::<R>),
        )
        .route(
            "/v1/reconciliation/runs",
            get(reconciliation::list_runs::<R>),
        )
        .route(
            "/v1/affiliates/{affiliate_id}/pending",
            get(pending::pending::<R>),
        )
        .route(
            "/v1/affiliates/{affiliate_id}/journal/export.csv",
            get(affiliates::export_journal::<R>),
        )
        .route(
            "/v1/affiliates/{affiliate_id}/statements",
            get(statements::list::<R>),
        )
        .route(
            "/v1/affiliates/{affiliate_id}/statements/{currency}/{period}",
            get(statements::download::<R>),
        )
        .route("/v1/statement-runs", post(statements::run::<R>))
        .route("/v1/audit/batches/{batch_id}", get(audit_batch::<R>))
        .route(
            "/v1/audit/affiliates/{affiliate_id}",
            get(audit_affiliate::<R>),
        )
        .with_state(state)
}

/// The affiliate a caller may read, or why not.
pub(crate) fn authorize(identity: &Identity, affiliate: &str) -> Result<BalanceOwner, Problem> {
    let affiliate_id = AffiliateId::new(affiliate)
        .map_err(|e| Problem::bad_request("affiliate_id", &e.to_string()))?;
    lambda_edge::authz::authorize(
        identity,
        lambda_edge::authz::Action::ReadAffiliate {
            affiliate_id: affiliate_id.as_str(),
        },
    )?;
    Ok(BalanceOwner::Affiliate {
        tenant_id: identity.tenant_id.clone(),
        affiliate_id,
    })
}

fn store_problem(e: StoreError) -> Problem {
    match e {
        StoreError::InvalidCursor { .. } => {
            Problem::bad_request("after", "is not a page token of this API")
        }
        other => {
            tracing::error!(error = %other, "read failed");
            Problem::unavailable()
        }
    }
}

/// A stored amount of the field named `field` as the affiliate reads it:
/// the domain's rule ([`AffiliateField::shown`]), positive is owed to them.
/// A field that is not an affiliate's reads as stored.
fn affiliate_sign(field: &str, minor: i64) -> i64 {
    AffiliateField::from_name(field).map_or(minor, |f| f.shown(minor))
}

/// An owner's journal lines in one currency, oldest first, page after
/// page until the end or until `max` lines are read; true when it read to
/// the end.
pub(crate) async fn journal_lines<R: ApiReads>(
    reads: &R,
    owner: &BalanceOwner,
    currency: Currency,
    max: usize,
) -> Result<(Vec<event_store::JournalLine>, bool), Problem> {
    let mut lines = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = reads
            .journal(owner, currency.code(), after.as_deref(), JOURNAL_PAGE_MAX)
            .await
            .map_err(store_problem)?;
        lines.extend(page.lines);
        match page.next {
            Some(_) if lines.len() >= max => return Ok((lines, false)),
            Some(next) if Some(&next) != after.as_ref() => after = Some(next),
            _ => return Ok((lines, true)),
        }
    }
}

/// Minor units as a decimal string at the currency's scale.
fn money_text(minor: i64, currency: Currency) -> String {
    Money::from_minor(minor, currency)
        .map(|m| m.amount().to_string())
        .unwrap_or_else(|_| minor.to_string())
}

#[derive(Serialize, utoipa::ToSchema)]
struct BalanceBody {
    currency: String,
    pending: String,
    available: String,
    reserved: String,
    receivable: String,
    paid_out: String,
    net_payable: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct BalancesBody {
    tenant_id: String,
    affiliate_id: String,
    balances: Vec<BalanceBody>,
}

/// Every currency's balances of one affiliate.
#[utoipa::path(get, path = "/v1/affiliates/{affiliate_id}/balances", tag = "ledger",
    params(("affiliate_id" = String, Path, description = "the affiliate; an affiliate may name only itself")),
    responses((status = 200, body = BalancesBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "401 unauthenticated, 403 another affiliate, 400 a malformed id"), Unavailable),
    security(("bearer" = [])))]
async fn balances<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(affiliate): Path<String>,
) -> Result<Response, Problem> {
    let owner = authorize(&identity, &affiliate)?;
    let rows = state.reads.balances(&owner).await.map_err(store_problem)?;
    let mut balances = Vec::new();
    for (currency, fields) in rows {
        let Ok(code) = currency_from_code(&currency) else {
            continue;
        };
        let row = AffiliateBalance::from_fields(&fields);
        let [pending, available, reserved, receivable, paid_out] =
            row.shown().map(|minor| money_text(minor, code));
        balances.push(BalanceBody {
            pending,
            available,
            reserved,
            receivable,
            paid_out,
            net_payable: money_text(row.net_payable(), code),
            currency,
        });
    }
    Ok(axum::Json(BalancesBody {
        tenant_id: identity.tenant_id.to_string(),
        affiliate_id: affiliate,
        balances,
    })
    .into_response())
}

#[derive(Serialize, utoipa::ToSchema)]
struct LineBody {
    stream: String,
    version: u64,
    event_type: String,
    effective_at: String,
    /// Changes per account as decimal strings, signed as the balances are
    /// shown: a positive change to pending, available or reserved is more
    /// owed to the affiliate.
    changes: BTreeMap<String, String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct JournalBody {
    currency: String,
    lines: Vec<LineBody>,
    next: Option<String>,
}

/// The `limit` of a paged read: `default` when absent, else a whole
/// number from 1 to `max`.
pub(crate) fn page_limit(
    limit: Option<&str>,
    default: usize,
    max: usize,
) -> Result<usize, FieldError> {
    match limit.map(str::parse::<usize>) {
        None => Ok(default),
        Some(Ok(n)) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(FieldError {
            field: "limit".into(),
            rule: format!("must be a whole number from 1 to {max}"),
        }),
    }
}

/// The query of a journal page: `currency` (required), `limit`, `after`.
#[derive(Deserialize)]
struct PageQuery {
    currency: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// The journal's paging parameters: `currency` (required), `limit`, `after`.
fn page_params(query: &PageQuery) -> Result<(Currency, usize, Option<String>), Problem> {
    let mut errors = Vec::new();
    let currency = match query.currency.as_deref().map(currency_from_code) {
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => {
            errors.push(FieldError {
                field: "currency".into(),
                rule: e.to_string(),
            });
            None
        }
        None => {
            errors.push(FieldError {
                field: "currency".into(),
                rule: "is required".into(),
            });
            None
        }
    };
    let limit = page_limit(
        query.limit.as_deref(),
        JOURNAL_PAGE_DEFAULT,
        JOURNAL_PAGE_MAX,
    )
    .unwrap_or_else(|e| {
        errors.push(e);
        0
    });
    // Page tokens are opaque to clients: hex of the backend's own token.
    let after = match query
        .after
        .as_deref()
        .map(|a| hex::decode(a).ok().and_then(|b| String::from_utf8(b).ok()))
    {
        None => None,
        Some(Some(token)) if !token.is_empty() && token.len() <= 512 => Some(token),
        Some(_) => {
            errors.push(FieldError {
                field: "after".into(),
                rule: "must be a page token returned by this API".into(),
            });
            None
        }
    };
    match (currency, errors.is_empty()) {
        (Some(currency), true) => Ok((currency, limit, after)),
        _ => Err(Problem::unprocessable(errors)),
    }
}

/// One affiliate's journal in one currency, oldest first, paginated.
#[utoipa::path(get, path = "/v1/affiliates/{affiliate_id}/journal", tag = "ledger",
    params(("affiliate_id" = String, Path), ("currency" = String, Query, description = "ISO 4217"), ("limit" = Option<usize>, Query, description = "1 to 500, default 50"), ("after" = Option<String>, Query, description = "`next` of the previous page")),
    responses((status = 200, body = JournalBody), Refused, Unavailable),
    security(("bearer" = [])))]
async fn journal<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(affiliate): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, Problem> {
    let owner = authorize(&identity, &affiliate)?;
    let (currency, limit, after) = page_params(&query)?;
    let page = state
        .reads
        .journal(&owner, currency.code(), after.as_deref(), limit)
        .await
        .map_err(store_problem)?;
    let lines = page
        .lines
        .into_iter()
        .map(|l| LineBody {
            stream: l.stream,
            version: l.version,
            event_type: l.event_type,
            effective_at: l.effective_at,
            changes: l
                .deltas
                .into_iter()
                .map(|(k, v)| {
                    let shown = affiliate_sign(&k, v);
                    (k, money_text(shown, currency))
                })
                .collect(),
        })
        .collect();
    Ok(axum::Json(JournalBody {
        currency: currency.code().to_owned(),
        lines,
        next: page.next.map(hex::encode),
    })
    .into_response())
}

/// The reads: DynamoDB's projection at `PROJECTION_TABLE_PREFIX`.
pub fn reads_from_env(
    config: &lambda_edge::config::SdkConfig,
) -> Result<Arc<dyn ApiReads>, String> {
    Ok(Arc::new(lambda_edge::config::projection_from_env(config)?))
}

/// One fact of the audit trail: what happened, when, and who did it.
#[derive(Serialize, utoipa::ToSchema)]
struct AuditEntry {
    stream: String,
    version: u64,
    event_type: String,
    recorded_at: String,
    effective_at: String,
    /// Kind, verified subject, role and request id of who caused it.
    #[schema(value_type = Object)]
    actor: ledger_domain::Actor,
    /// For payout profile changes: what changed, bank details masked
    /// (`method set: sepa DE** **** 3000`, `hold placed: method_changed`).
    #[serde(skip_serializing_if = "Option::is_none")]
    change: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct AuditBody {
    entries: Vec<AuditEntry>,
    next: Option<String>,
    /// Affiliates only, on the first page: every change of the affiliate's
    /// payout profile (where its money goes, holds, minimums) and who made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    profile_changes: Option<Vec<AuditEntry>>,
}

fn profile_change_text(event: &ledger_domain::Event) -> Option<String> {
    use ledger_domain::ProfileChange;
    let ledger_domain::EventBody::PayoutProfileChanged(e) = event.body() else {
        return None;
    };
    let reason = |r: &ledger_domain::HoldReason| {
        serde_json::to_value(r)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    };
    Some(match &e.change {
        ProfileChange::MethodSet { method } => format!("method set: {}", method.redacted()),
        ProfileChange::MinimumSet { minimum } => format!(
            "minimum set: {} {}",
            minimum.amount(),
            minimum.currency().code()
        ),
        ProfileChange::HoldPlaced { reason: r, note } => {
            format!("hold placed: {} ({note})", reason(r))
        }
        ProfileChange::HoldLifted { reason: r, note } => {
            format!("hold lifted: {} ({note})", reason(r))
        }
    })
}

fn audit_entry(stored: &event_store::StoredEvent) -> Result<AuditEntry, Problem> {
    let event = stored.decode().map_err(store_problem)?;
    Ok(AuditEntry {
        stream: stored.stream.to_string(),
        version: stored.version,
        event_type: stored.event_type.clone(),
        recorded_at: event.recorded_at().to_rfc3339(),
        effective_at: event.effective_at().to_rfc3339(),
        actor: event.actor().clone(),
        change: profile_change_text(&event),
    })
}

/// Who did what to a payout batch: every event of its stream (admins only).
/// Who did what to a payout batch (admins).
#[utoipa::path(get, path = "/v1/audit/batches/{batch_id}", tag = "audit",
    params(("batch_id" = String, Path)),
    responses((status = 200, body = AuditBody), Refused, Unavailable),
    security(("bearer" = [])))]
async fn audit_batch<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(batch): Path<String>,
) -> Result<Response, Problem> {
    lambda_edge::authz::authorize(&identity, lambda_edge::authz::Action::ReadAudit)?;
    let batch_id = ledger_domain::PayoutBatchId::new(&batch)
        .map_err(|e| Problem::bad_request("batch_id", &e.to_string()))?;
    let stream = event_store::StreamId::new(ledger_domain::events::stream_name(
        &identity.tenant_id,
        ledger_domain::events::AggregateRef::PayoutBatch(&batch_id),
    ))
    .map_err(store_problem)?;
    let events = state
        .events
        .read_stream(&stream, 1, event_store::READ_LIMIT_MAX)
        .await
        .map_err(store_problem)?;
    let entries = events
        .iter()
        .map(audit_entry)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(axum::Json(AuditBody {
        entries,
        next: None,
        profile_changes: None,
    })
    .into_response())
}

/// Who did what to an affiliate's money in one currency: the events behind
/// its journal, with their actors, paginated like the journal (admins only).
/// Who did what to an affiliate's money in one currency (admins).
#[utoipa::path(get, path = "/v1/audit/affiliates/{affiliate_id}", tag = "audit",
    params(("affiliate_id" = String, Path), ("currency" = String, Query), ("limit" = Option<usize>, Query), ("after" = Option<String>, Query)),
    responses((status = 200, body = AuditBody), Refused, Unavailable),
    security(("bearer" = [])))]
async fn audit_affiliate<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(affiliate): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, Problem> {
    lambda_edge::authz::authorize(&identity, lambda_edge::authz::Action::ReadAudit)?;
    let affiliate_id = AffiliateId::new(&affiliate)
        .map_err(|e| Problem::bad_request("affiliate_id", &e.to_string()))?;
    let profile_stream = event_store::StreamId::new(ledger_domain::events::stream_name(
        &identity.tenant_id,
        ledger_domain::events::AggregateRef::PayoutProfile(&affiliate_id),
    ))
    .map_err(store_problem)?;
    let owner = BalanceOwner::Affiliate {
        tenant_id: identity.tenant_id.clone(),
        affiliate_id,
    };
    let (currency, limit, after) = page_params(&query)?;
    let profile_changes = if after.is_none() {
        let stored = state
            .events
            .read_stream(&profile_stream, 1, event_store::READ_LIMIT_MAX)
            .await
            .map_err(store_problem)?;
        Some(
            stored
                .iter()
                .map(audit_entry)
                .collect::<Result<Vec<_>, _>>()?,
        )
    } else {
        None
    };
    let page = state
        .reads
        .journal(&owner, currency.code(), after.as_deref(), limit)
        .await
        .map_err(store_problem)?;
    let mut entries = Vec::with_capacity(page.lines.len());
    for line in &page.lines {
        let stream = event_store::StreamId::new(line.stream.clone()).map_err(store_problem)?;
        let stored = state
            .events
            .read_stream(&stream, line.version, 1)
            .await
            .map_err(store_problem)?;
        if let Some(stored) = stored.first() {
            entries.push(audit_entry(stored)?);
        }
    }
    Ok(axum::Json(AuditBody {
        entries,
        next: page.next.map(hex::encode),
        profile_changes,
    })
    .into_response())
}
