//! The tenant's liabilities per currency: now, from the balance rows, or
//! as of a past instant, from the journal.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use lambda_edge::authz::{Action, authorize};
use lambda_edge::problem::{FieldError, Problem, Unavailable};
use lambda_edge::{Caller, Identity};
use ledger_domain::TenantId;
use ledger_domain::money::currency_from_code;
use ledger_domain::projection::{AffiliateBalance, AffiliateField, BalanceOwner};
use serde::{Deserialize, Serialize};

use crate::extract::ApiQuery;
use crate::{ApiReads, ApiState, money_text, store_problem};

/// The liability fields, in the order the totals and the export show them.
const LIABILITY_FIELDS: [AffiliateField; 5] = AffiliateField::ALL;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LiabilityBody {
    pub(crate) currency: String,
    /// Owed to affiliates, still in the hold period.
    pub(crate) pending: String,
    /// Owed to affiliates, payable.
    pub(crate) available: String,
    /// Owed to affiliates, in drafted or approved batches.
    pub(crate) reserved: String,
    /// Owed by affiliates (take-backs after maturity).
    pub(crate) receivable: String,
    pub(crate) paid_out: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct LiabilitiesBody {
    pub(crate) tenant_id: String,
    /// The instant the totals are as of (RFC 3339): the request's `as_of`,
    /// or now.
    pub(crate) as_of: String,
    pub(crate) liabilities: Vec<LiabilityBody>,
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

/// The query of the liabilities and their export: `as_of`, an RFC 3339
/// instant (`:` and `+` may arrive percent-encoded or not).
#[derive(Deserialize)]
pub(crate) struct AsOfQuery {
    as_of: Option<String>,
}

fn as_of_param(query: &AsOfQuery) -> Result<Option<DateTime<Utc>>, Problem> {
    match query.as_of.as_deref() {
        None => Ok(None),
        Some(text) => DateTime::parse_from_rfc3339(text)
            .map(|t| Some(t.with_timezone(&Utc)))
            .map_err(|_| {
                Problem::unprocessable(vec![FieldError {
                    field: "as_of".into(),
                    rule: "must be an RFC 3339 instant, e.g. 2026-11-30T23:00:00Z".into(),
                }])
            }),
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
    let mut pages = event_store::TenantRowPages::new(tenant_id);
    while let Some(rows) = pages.next(reads).await.map_err(store_problem)? {
        for row in rows {
            let BalanceOwner::Affiliate { affiliate_id, .. } = &row.owner else {
                continue;
            };
            if currency_from_code(&row.currency).is_err() {
                continue;
            }
            let values = match as_of {
                None => AffiliateBalance::from_fields(&row.fields).stored(),
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
    }
    Ok(totals)
}

fn liability_bodies(totals: &Totals) -> Vec<LiabilityBody> {
    totals
        .iter()
        .filter_map(|(currency, values)| {
            let code = currency_from_code(currency).ok()?;
            let shown = |i: usize| money_text(LIABILITY_FIELDS[i].shown(values[i]), code);
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

pub(crate) async fn liabilities_of<R: ApiReads + 'static>(
    state: &ApiState<R>,
    identity: &Identity,
    query: &AsOfQuery,
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
    responses((status = 200, body = LiabilitiesBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 422 each broken field named"), Unavailable),
    security(("bearer" = [])))]
pub(crate) async fn liabilities<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<AsOfQuery>,
) -> Result<Response, Problem> {
    Ok(axum::Json(liabilities_of(&state, &identity, &query).await?).into_response())
}
