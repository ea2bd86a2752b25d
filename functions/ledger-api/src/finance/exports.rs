//! Finance's CSV exports, safe to open in a spreadsheet: one payout batch,
//! and the tenant's liabilities; with the guarded cell writer they share.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use lambda_edge::Caller;
use lambda_edge::authz::{Action, authorize};
use lambda_edge::problem::{Problem, Unavailable};
use ledger_domain::PayoutBatchId;

use super::batches::{item_status_text, load_batch, status_text};
use super::liabilities::{AsOfQuery, liabilities_of};
use crate::extract::ApiQuery;
use crate::{ApiReads, ApiState};

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
    responses((status = 200, content_type = "text/csv", body = String, description = "one row per item; text cells guarded against spreadsheet formulas"), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 404 not found (or another tenant's), 400 a malformed id"), Unavailable),
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
    responses((status = 200, content_type = "text/csv", body = String, description = "one row per currency"), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 422 each broken field named"), Unavailable),
    security(("bearer" = [])))]
pub(crate) async fn export_liabilities<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<AsOfQuery>,
) -> Result<Response, Problem> {
    let body = liabilities_of(&state, &identity, &query).await?;
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
}
