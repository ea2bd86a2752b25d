//! Finance reads of one tenant: its payout batches (awaiting approval
//! first), its liabilities per currency (now, or as of a past instant), and
//! both as CSV exports safe to open in a spreadsheet.
//!
//! | route | who |
//! |---|---|
//! | `GET /v1/payout-batches?status=&limit=&after=` | finance, admin |
//! | `GET /v1/payout-batches/{id}/export.csv` | finance, admin |
//! | `GET /v1/liabilities?as_of=` | finance, admin |
//! | `GET /v1/liabilities/export.csv?as_of=` | finance, admin |
//!
//! The tenant always comes from the verified identity: another tenant's
//! batch is never listed, and exporting it is a 404.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use event_store::{EventStore, StreamId};
use lambda_edge::authz::{Action, authorize};
use lambda_edge::problem::{FieldError, Problem};
use lambda_edge::{Caller, Identity};
use ledger_domain::events::{AggregateRef, EventBody, stream_name};
use ledger_domain::money::currency_from_code;
use ledger_domain::payout::{BatchStatus, ItemStatus};
use ledger_domain::projection::BalanceOwner;
use ledger_domain::{Money, PayoutBatch, PayoutBatchId, TenantId};
use serde::Serialize;

use crate::payouts::app_problem;
use crate::{ApiReads, ApiState, money_text, query_params, store_problem};

/// The most batches one page of the list returns.
pub const BATCH_PAGE_MAX: usize = 50;
pub const BATCH_PAGE_DEFAULT: usize = 20;
/// The most registrations of the drafts stream one page examines: a filter
/// that matches few batches answers a shorter page with a `next` token
/// rather than reading the whole stream.
pub const BATCH_SCAN_MAX: usize = 200;

/// The liability fields, in the order the totals and the export show them.
const LIABILITY_FIELDS: [&str; 5] = ["pending", "available", "reserved", "receivable", "paid_out"];

// ---------------------------------------------------------------- batches

/// Which batches a scan of the drafts stream keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Drafted,
    Approved,
    Rejected,
    /// Approved or rejected: the second phase of an unfiltered list.
    Decided,
}

impl Phase {
    fn code(self) -> &'static str {
        match self {
            Phase::Drafted => "drafted",
            Phase::Approved => "approved",
            Phase::Rejected => "rejected",
            Phase::Decided => "decided",
        }
    }

    fn keeps(self, status: BatchStatus) -> bool {
        match self {
            Phase::Drafted => status == BatchStatus::Drafted,
            Phase::Approved => status == BatchStatus::Approved,
            Phase::Rejected => status == BatchStatus::Rejected,
            Phase::Decided => status != BatchStatus::Drafted,
        }
    }
}

/// Where a list continues: the phase and the drafts stream version to read
/// next. Opaque to clients (hex of `phase:version`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    phase: Phase,
    from: u64,
}

impl Position {
    fn token(self) -> String {
        hex::encode(format!("{}:{}", self.phase.code(), self.from))
    }

    /// A token of this API, valid for the phases the request lists.
    fn parse(token: &str, phases: &[Phase]) -> Option<Position> {
        let text = String::from_utf8(hex::decode(token).ok()?).ok()?;
        let (phase, from) = text.split_once(':')?;
        let phase = *phases.iter().find(|p| p.code() == phase)?;
        let from = from.parse::<u64>().ok().filter(|v| *v >= 1)?;
        Some(Position { phase, from })
    }
}

fn status_text(status: BatchStatus) -> &'static str {
    match status {
        BatchStatus::Drafted => "drafted",
        BatchStatus::Approved => "approved",
        BatchStatus::Rejected => "rejected",
    }
}

fn item_status_text(status: ItemStatus) -> String {
    match status {
        ItemStatus::Awaiting => "awaiting".into(),
        ItemStatus::Submitted => "submitted".into(),
        ItemStatus::Paid => "paid".into(),
        ItemStatus::Final(o) => format!("{o:?}").to_lowercase(),
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct ListedItemBody {
    item_id: String,
    affiliate_id: String,
    amount: Money,
    /// Where the item pays, masked (absent for items drafted before
    /// destinations were bound).
    destination: Option<String>,
    status: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ListedBatchBody {
    batch_id: String,
    status: &'static str,
    maker: String,
    /// When the batch was drafted (RFC 3339).
    drafted_at: String,
    /// Seconds since it was drafted.
    age_seconds: i64,
    item_count: usize,
    /// The items' amounts summed per currency.
    totals: Vec<Money>,
    items: Vec<ListedItemBody>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct BatchListBody {
    batches: Vec<ListedBatchBody>,
    /// Pass as `after` for the next page; absent once every batch was listed.
    next: Option<String>,
}

/// A batch of the caller's tenant with when it was drafted, or `None`.
async fn load_batch(
    events: &dyn EventStore,
    tenant_id: &TenantId,
    batch_id: &PayoutBatchId,
) -> Result<Option<(PayoutBatch, DateTime<Utc>)>, Problem> {
    let stream = StreamId::new(stream_name(tenant_id, AggregateRef::PayoutBatch(batch_id)))
        .map_err(|e| Problem::bad_request("batch_id", &e.to_string()))?;
    let history = ledger_app::load(events, &stream)
        .await
        .map_err(app_problem)?;
    let Some(drafted_at) = history.first().map(|e| e.recorded_at()) else {
        return Ok(None);
    };
    let batch = PayoutBatch::from_events(&history);
    Ok(batch.state().is_some().then_some((batch, drafted_at)))
}

fn totals(amounts: impl Iterator<Item = Money>) -> Result<Vec<Money>, Problem> {
    let mut sums: BTreeMap<&'static str, Money> = BTreeMap::new();
    for amount in amounts {
        let code = amount.currency().code();
        let sum = match sums.get(code) {
            Some(sum) => sum.checked_add(&amount).map_err(|e| {
                tracing::error!(error = %e, "batch total overflows");
                Problem::unavailable()
            })?,
            None => amount,
        };
        sums.insert(code, sum);
    }
    Ok(sums.into_values().collect())
}

fn listed(
    batch: &PayoutBatch,
    drafted_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<Option<ListedBatchBody>, Problem> {
    let Some(s) = batch.state() else {
        return Ok(None);
    };
    Ok(Some(ListedBatchBody {
        batch_id: s.batch_id.to_string(),
        status: status_text(s.status),
        maker: s.maker.clone(),
        drafted_at: drafted_at.to_rfc3339_opts(SecondsFormat::Millis, true),
        age_seconds: (now - drafted_at).num_seconds().max(0),
        item_count: s.items.len(),
        totals: totals(s.items.iter().map(|i| i.drafted.amount))?,
        items: s
            .items
            .iter()
            .map(|i| ListedItemBody {
                item_id: i.drafted.item_id.to_string(),
                affiliate_id: i.drafted.affiliate_id.to_string(),
                amount: i.drafted.amount,
                destination: i.drafted.destination.as_ref().map(|d| d.masked.clone()),
                status: item_status_text(i.status),
            })
            .collect(),
    }))
}

/// The list's parameters: the phases to scan, the page size and where to
/// start.
fn list_params(query: Option<&str>) -> Result<(Vec<Phase>, usize, Position), Problem> {
    let params = query_params(query);
    let mut errors = Vec::new();
    let phases = match params.get("status").map(String::as_str) {
        None => vec![Phase::Drafted, Phase::Decided],
        Some("drafted") => vec![Phase::Drafted],
        Some("approved") => vec![Phase::Approved],
        Some("rejected") => vec![Phase::Rejected],
        Some(_) => {
            errors.push(FieldError {
                field: "status".into(),
                rule: "must be drafted, approved or rejected".into(),
            });
            vec![]
        }
    };
    let limit =
        crate::page_limit(&params, BATCH_PAGE_DEFAULT, BATCH_PAGE_MAX).unwrap_or_else(|e| {
            errors.push(e);
            0
        });
    let start = match params.get("after") {
        None => phases.first().map(|phase| Position {
            phase: *phase,
            from: 1,
        }),
        Some(token) => {
            let position = Position::parse(token, &phases);
            if position.is_none() && !phases.is_empty() {
                errors.push(FieldError {
                    field: "after".into(),
                    rule: "must be a page token this list returned".into(),
                });
            }
            position
        }
    };
    match start {
        Some(start) if errors.is_empty() => Ok((phases, limit, start)),
        _ => Err(Problem::unprocessable(errors)),
    }
}

/// The tenant's payout batches: awaiting approval (drafted) first, then
/// approved and rejected, each oldest first, paginated.
#[utoipa::path(get, path = "/v1/payout-batches", tag = "payouts",
    params(("status" = Option<String>, Query, description = "drafted, approved or rejected; none: drafted first, then the others"), ("limit" = Option<usize>, Query, description = "1 to 50, default 20"), ("after" = Option<String>, Query, description = "`next` of the previous page (same status)")),
    responses((status = 200, body = BatchListBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 422 each broken field named"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")),
    security(("bearer" = [])))]
pub(crate) async fn list_batches<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ReadPayouts)?;
    let (phases, limit, mut position) = list_params(query.as_deref())?;
    let now = Utc::now();
    let drafts = StreamId::new(stream_name(&identity.tenant_id, AggregateRef::PayoutDrafts))
        .map_err(|e| Problem::bad_request("tenant_id", &e.to_string()))?;
    let mut batches = Vec::new();
    let mut scanned = 0;
    let next = loop {
        if scanned >= BATCH_SCAN_MAX {
            break Some(position);
        }
        let chunk = BATCH_SCAN_MAX.saturating_sub(scanned).min(limit * 4).max(1);
        let page = state
            .events
            .read_stream(&drafts, position.from, chunk)
            .await
            .map_err(store_problem)?;
        let ended = page.len() < chunk;
        for stored in page {
            position.from = stored.version + 1;
            scanned += 1;
            let event = stored.decode().map_err(store_problem)?;
            let EventBody::PayoutDraftRegistered(registered) = event.body() else {
                continue;
            };
            let Some((batch, drafted_at)) =
                load_batch(&*state.events, &identity.tenant_id, &registered.batch_id).await?
            else {
                continue;
            };
            if !batch
                .state()
                .is_some_and(|s| position.phase.keeps(s.status))
            {
                continue;
            }
            if let Some(body) = listed(&batch, drafted_at, now)? {
                batches.push(body);
            }
            if batches.len() == limit {
                break;
            }
        }
        if batches.len() == limit {
            break Some(position);
        }
        if ended {
            // The next phase of an unfiltered list starts from the first
            // registration again.
            match phases.iter().skip_while(|p| **p != position.phase).nth(1) {
                Some(phase) => {
                    position = Position {
                        phase: *phase,
                        from: 1,
                    }
                }
                None => break None,
            }
        }
    };
    Ok(axum::Json(BatchListBody {
        batches,
        next: next.map(Position::token),
    })
    .into_response())
}

// ------------------------------------------------------------ liabilities

#[derive(Serialize, utoipa::ToSchema)]
struct LiabilityBody {
    currency: String,
    /// Owed to affiliates, still in the hold period.
    pending: String,
    /// Owed to affiliates, payable.
    available: String,
    /// Owed to affiliates, in drafted or approved batches.
    reserved: String,
    /// Owed by affiliates (take-backs after maturity).
    receivable: String,
    paid_out: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct LiabilitiesBody {
    tenant_id: String,
    /// The instant the totals are as of (RFC 3339): the request's `as_of`,
    /// or now.
    as_of: String,
    liabilities: Vec<LiabilityBody>,
}

/// Totals per currency, in stored minor units (debit positive), in the
/// order of `LIABILITY_FIELDS`.
type Totals = BTreeMap<String, [i64; 5]>;

fn add_into(totals: &mut Totals, currency: &str, values: [i64; 5]) -> Result<(), Problem> {
    let sum = totals.entry(currency.to_owned()).or_insert([0; 5]);
    for (into, value) in sum.iter_mut().zip(values) {
        *into = into.checked_add(value).ok_or_else(|| {
            tracing::error!(currency, "liability total overflows");
            Problem::unavailable()
        })?;
    }
    Ok(())
}

/// `%XX` sequences decoded; `None` for a broken one or bytes that are not
/// UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn as_of_param(query: Option<&str>) -> Result<Option<DateTime<Utc>>, Problem> {
    let params = query_params(query);
    match params.get("as_of") {
        None => Ok(None),
        Some(text) => {
            // The raw query: `:` and `+` of an instant may arrive encoded.
            let text = percent_decoded(text).unwrap_or_default();
            DateTime::parse_from_rfc3339(&text)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| {
                    Problem::unprocessable(vec![FieldError {
                        field: "as_of".into(),
                        rule: "must be an RFC 3339 instant, e.g. 2026-11-30T23:00:00Z".into(),
                    }])
                })
        }
    }
}

/// The tenant's totals: from the balance rows now, or, with `as_of`, the
/// fold of each affiliate's journal lines dated before it (the statements'
/// opening balance, which also checks the journal against the row).
async fn liability_totals<R: ApiReads + 'static>(
    reads: &R,
    tenant_id: &TenantId,
    as_of: Option<DateTime<Utc>>,
) -> Result<Totals, Problem> {
    let mut totals = Totals::new();
    let mut after: Option<String> = None;
    loop {
        let page = reads
            .tenant_rows(
                tenant_id,
                after.as_deref(),
                event_store::TENANT_ROWS_PAGE_MAX,
            )
            .await
            .map_err(store_problem)?;
        for row in page.rows {
            let BalanceOwner::Affiliate { affiliate_id, .. } = &row.owner else {
                continue;
            };
            if currency_from_code(&row.currency).is_err() {
                continue;
            }
            let values = match as_of {
                None => LIABILITY_FIELDS.map(|f| row.fields.get(f).copied().unwrap_or(0)),
                Some(at) => {
                    let period = reporting::statement::Period {
                        label: "as-of".to_owned(),
                        time_zone: chrono_tz::UTC,
                        start: at,
                        end: at,
                    };
                    let statement = reporting::statements::statement_for(
                        reads,
                        tenant_id,
                        affiliate_id,
                        &row.currency,
                        &period,
                        &row.fields,
                    )
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, affiliate = %affiliate_id, currency = %row.currency, "liabilities as of an instant failed");
                        Problem::unavailable()
                    })?;
                    statement.opening
                }
            };
            add_into(&mut totals, &row.currency, values)?;
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return Ok(totals),
        }
    }
}

fn liability_bodies(totals: &Totals) -> Vec<LiabilityBody> {
    totals
        .iter()
        .filter_map(|(currency, values)| {
            let code = currency_from_code(currency).ok()?;
            let shown =
                |i: usize| money_text(crate::affiliate_sign(LIABILITY_FIELDS[i], values[i]), code);
            Some(LiabilityBody {
                currency: currency.clone(),
                pending: shown(0),
                available: shown(1),
                reserved: shown(2),
                receivable: shown(3),
                paid_out: shown(4),
            })
        })
        .collect()
}

async fn liabilities_of<R: ApiReads + 'static>(
    state: &ApiState<R>,
    identity: &Identity,
    query: Option<&str>,
) -> Result<LiabilitiesBody, Problem> {
    authorize(identity, Action::ReadLiabilities)?;
    let as_of = as_of_param(query)?;
    let totals = liability_totals(&state.reads, &identity.tenant_id, as_of).await?;
    Ok(LiabilitiesBody {
        tenant_id: identity.tenant_id.to_string(),
        as_of: as_of
            .unwrap_or_else(Utc::now)
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        liabilities: liability_bodies(&totals),
    })
}

/// The tenant's liabilities per currency: now, or as of a past instant.
#[utoipa::path(get, path = "/v1/liabilities", tag = "ledger",
    params(("as_of" = Option<String>, Query, description = "RFC 3339; the totals of the journal lines dated before it (default: now, from the balances)")),
    responses((status = 200, body = LiabilitiesBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 422 each broken field named"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")),
    security(("bearer" = [])))]
pub(crate) async fn liabilities<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    Ok(axum::Json(liabilities_of(&state, &identity, query.as_deref()).await?).into_response())
}

// ------------------------------------------------------------------- CSV

/// A text cell as a spreadsheet will not run it: one starting with `=`,
/// `+`, `-`, `@`, a tab or a carriage return is prefixed with `'`.
/// Amounts are not text cells: a negative amount stays a number.
pub fn text_cell(value: &str) -> String {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    }
}

/// One CSV cell: text (guarded) or an amount (a plain decimal string).
pub(crate) enum Cell<'a> {
    Text(&'a str),
    Amount(String),
}

pub(crate) fn csv_bytes(header: &[&str], rows: &[Vec<Cell<'_>>]) -> Result<Vec<u8>, Problem> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    let failed = |e: csv::Error| {
        tracing::error!(error = %e, "CSV export failed");
        Problem::unavailable()
    };
    writer.write_record(header).map_err(failed)?;
    for row in rows {
        writer
            .write_record(row.iter().map(|cell| match cell {
                Cell::Text(text) => text_cell(text),
                Cell::Amount(amount) => amount.clone(),
            }))
            .map_err(failed)?;
    }
    writer.into_inner().map_err(|e| {
        tracing::error!(error = %e, "CSV export failed");
        Problem::unavailable()
    })
}

pub(crate) fn csv_response(filename: &str, bytes: Vec<u8>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// One payout batch as CSV: one row per item.
#[utoipa::path(get, path = "/v1/payout-batches/{batch_id}/export.csv", tag = "payouts",
    params(("batch_id" = String, Path)),
    responses((status = 200, content_type = "text/csv", body = String, description = "one row per item; text cells guarded against spreadsheet formulas"), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 404 not found (or another tenant's), 400 a malformed id"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")),
    security(("bearer" = [])))]
pub(crate) async fn export_batch<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ReadPayouts)?;
    let batch_id =
        PayoutBatchId::new(&id).map_err(|e| Problem::bad_request("batch_id", &e.to_string()))?;
    let Some((batch, drafted_at)) =
        load_batch(&*state.events, &identity.tenant_id, &batch_id).await?
    else {
        return Err(Problem::not_found("payout batch"));
    };
    let Some(s) = batch.state() else {
        return Err(Problem::not_found("payout batch"));
    };
    let drafted_at = drafted_at.to_rfc3339_opts(SecondsFormat::Millis, true);
    let rows: Vec<(String, String, String, String, Option<String>)> = s
        .items
        .iter()
        .map(|i| {
            (
                i.drafted.item_id.to_string(),
                i.drafted.affiliate_id.to_string(),
                i.drafted.amount.currency().code().to_owned(),
                item_status_text(i.status),
                i.drafted.destination.as_ref().map(|d| d.masked.clone()),
            )
        })
        .collect();
    let cells: Vec<Vec<Cell<'_>>> = s
        .items
        .iter()
        .zip(&rows)
        .map(|(i, (item_id, affiliate, currency, status, destination))| {
            vec![
                Cell::Text(s.batch_id.as_str()),
                Cell::Text(status_text(s.status)),
                Cell::Text(&s.maker),
                Cell::Text(&drafted_at),
                Cell::Text(item_id),
                Cell::Text(affiliate),
                Cell::Text(currency),
                Cell::Amount(i.drafted.amount.amount().to_string()),
                Cell::Amount(i.drafted.receivable_netted.amount().to_string()),
                Cell::Text(i.drafted.processor.as_str()),
                Cell::Text(destination.as_deref().unwrap_or_default()),
                Cell::Text(i.reference.as_deref().unwrap_or_default()),
                Cell::Text(status),
            ]
        })
        .collect();
    let bytes = csv_bytes(
        &[
            "batch_id",
            "batch_status",
            "maker",
            "drafted_at",
            "item_id",
            "affiliate_id",
            "currency",
            "amount",
            "receivable_netted",
            "processor",
            "destination",
            "reference",
            "item_status",
        ],
        &cells,
    )?;
    Ok(csv_response(&format!("{batch_id}.csv"), bytes))
}

/// The tenant's liabilities as CSV: one row per currency.
#[utoipa::path(get, path = "/v1/liabilities/export.csv", tag = "ledger",
    params(("as_of" = Option<String>, Query, description = "RFC 3339 (default: now)")),
    responses((status = 200, content_type = "text/csv", body = String, description = "one row per currency"), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 422 each broken field named"), (status = 503, body = Problem, content_type = "application/problem+json", description = "the store is unavailable: retry")),
    security(("bearer" = [])))]
pub(crate) async fn export_liabilities<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let body = liabilities_of(&state, &identity, query.as_deref()).await?;
    let cells: Vec<Vec<Cell<'_>>> = body
        .liabilities
        .iter()
        .map(|l| {
            vec![
                Cell::Text(&body.tenant_id),
                Cell::Text(&body.as_of),
                Cell::Text(&l.currency),
                Cell::Amount(l.pending.clone()),
                Cell::Amount(l.available.clone()),
                Cell::Amount(l.reserved.clone()),
                Cell::Amount(l.receivable.clone()),
                Cell::Amount(l.paid_out.clone()),
            ]
        })
        .collect();
    let bytes = csv_bytes(
        &[
            "tenant_id",
            "as_of",
            "currency",
            "pending",
            "available",
            "reserved",
            "receivable",
            "paid_out",
        ],
        &cells,
    )?;
    Ok(csv_response("liabilities.csv", bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_cells_are_guarded_and_amounts_stay_numbers() {
        let bytes = csv_bytes(
            &["text", "amount"],
            &[
                vec![
                    Cell::Text("=HYPERLINK(\"x\")"),
                    Cell::Amount("-2.50".into()),
                ],
                vec![Cell::Text("-1+1"), Cell::Amount("12.00".into())],
                vec![Cell::Text("+1"), Cell::Amount("0".into())],
                vec![Cell::Text("@SUM(A1)"), Cell::Amount("1".into())],
                vec![Cell::Text("\tx"), Cell::Amount("1".into())],
                vec![Cell::Text("\rx"), Cell::Amount("1".into())],
                vec![Cell::Text("a, \"b\""), Cell::Amount("1".into())],
                vec![Cell::Text("plain"), Cell::Amount("1".into())],
            ],
        )
        .unwrap();
        let text = String::from_utf8(bytes).unwrap();
        assert_eq!(
            text,
            "text,amount\n\
             \"'=HYPERLINK(\"\"x\"\")\",-2.50\n\
             '-1+1,12.00\n\
             '+1,0\n\
             '@SUM(A1),1\n\
             '\tx,1\n\
             \"'\rx\",1\n\
             \"a, \"\"b\"\"\",1\n\
             plain,1\n"
        );
    }

    #[test]
    fn page_tokens_round_trip_only_within_their_phases() {
        let position = Position {
            phase: Phase::Decided,
            from: 7,
        };
        let token = position.token();
        assert_eq!(
            Position::parse(&token, &[Phase::Drafted, Phase::Decided]),
            Some(position)
        );
        assert_eq!(Position::parse(&token, &[Phase::Approved]), None);
        assert_eq!(Position::parse("zz", &[Phase::Drafted]), None);
        assert_eq!(
            Position::parse(&hex::encode("drafted:0"), &[Phase::Drafted]),
            None
        );
    }
}
