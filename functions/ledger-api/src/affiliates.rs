//! Finance reads across one tenant's affiliates, and an affiliate's journal
//! as CSV:
//!
//! | route | who |
//! |---|---|
//! | `GET /v1/affiliates?currency=&has_available=&on_hold=&has_receivable=&sort=&limit=&after=` | finance, admin |
//! | `GET /v1/affiliates/{id}/journal/export.csv?currency=` | the affiliate itself; finance, admin |
//!
//! The tenant always comes from the verified identity: only its balance
//! rows are read, and another tenant's affiliate is never listed.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use lambda_edge::Caller;
use lambda_edge::authz::{Action, authorize};
use lambda_edge::problem::{Problem, Unavailable};
use ledger_app::payouts as uc;
use ledger_domain::money::currency_from_code;
use ledger_domain::projection::{AffiliateBalance, AffiliateField, BalanceOwner};
use ledger_domain::{AffiliateId, Currency, HoldReason};
use serde::{Deserialize, Serialize};

use crate::extract::ApiQuery;
use crate::finance::{Cell, csv_bytes, csv_response};
use crate::payouts::app_problem;
use crate::{ApiReads, ApiState, affiliate_sign, money_text, store_problem};

/// The most affiliates one page returns.
pub const AFFILIATE_PAGE_MAX: usize = 50;
pub const AFFILIATE_PAGE_DEFAULT: usize = 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sort {
    AvailableDesc,
    AvailableAsc,
    ReceivableDesc,
    PendingDesc,
    Affiliate,
}

impl Sort {
    fn parse(text: &str) -> Option<Sort> {
        Some(match text {
            "available_desc" => Sort::AvailableDesc,
            "available_asc" => Sort::AvailableAsc,
            "receivable_desc" => Sort::ReceivableDesc,
            "pending_desc" => Sort::PendingDesc,
            "affiliate" => Sort::Affiliate,
            _ => return None,
        })
    }

    /// The primary key of a row in this order (ascending).
    fn key(self, row: &Row) -> i128 {
        match self {
            Sort::AvailableDesc => -i128::from(row.shown[1]),
            Sort::AvailableAsc => i128::from(row.shown[1]),
            Sort::ReceivableDesc => -i128::from(row.shown[3]),
            Sort::PendingDesc => -i128::from(row.shown[0]),
            Sort::Affiliate => 0,
        }
    }
}

/// The fields of a row, in this order, signed as the affiliate reads them.
const FIELDS: [&str; 5] = AffiliateField::NAMES;

struct Row {
    affiliate_id: AffiliateId,
    currency: Currency,
    shown: [i64; 5],
}

/// Where a page continues: the last row's sort key, affiliate and currency.
/// Opaque to clients (hex).
fn token(key: i128, affiliate: &str, currency: &str) -> String {
    hex::encode(format!("{key}\n{affiliate}\n{currency}"))
}

fn parse_token(token: &str) -> Option<(i128, String, String)> {
    let text = String::from_utf8(hex::decode(token).ok()?).ok()?;
    let mut parts = text.splitn(3, '\n');
    let key = parts.next()?.parse::<i128>().ok()?;
    let affiliate = parts.next()?.to_owned();
    let currency = parts.next()?.to_owned();
    Some((key, affiliate, currency))
}

fn boolean(value: Option<&str>, field: &str) -> Result<Option<bool>, Problem> {
    match value {
        None => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(_) => Err(Problem::bad_request(field, "must be true or false")),
    }
}

/// The query of the journal's export and of the pending commissions:
/// `currency`, required.
#[derive(Deserialize)]
pub(crate) struct CurrencyQuery {
    pub(crate) currency: Option<String>,
}

pub(crate) fn currency_param(currency: Option<&str>) -> Result<Option<Currency>, Problem> {
    currency
        .map(|c| {
            currency_from_code(c).map_err(|e| Problem::bad_request("currency", &e.to_string()))
        })
        .transpose()
}

#[derive(Serialize, utoipa::ToSchema)]
struct AffiliateRowBody {
    affiliate_id: String,
    currency: String,
    pending: String,
    available: String,
    reserved: String,
    receivable: String,
    paid_out: String,
    on_hold: bool,
    /// Why payouts are held (`kyc_pending`, `fraud_review`, `compliance`,
    /// `manual`, `method_changed`).
    holds: Vec<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct AffiliatesBody {
    affiliates: Vec<AffiliateRowBody>,
    next: Option<String>,
}

fn hold_text(reason: &HoldReason) -> String {
    serde_json::to_value(reason)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// The query of the affiliate list.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    currency: Option<String>,
    has_available: Option<String>,
    on_hold: Option<String>,
    has_receivable: Option<String>,
    sort: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// The tenant's affiliates, one row per affiliate and currency, filtered,
/// sorted and paged.
#[utoipa::path(get, path = "/v1/affiliates", tag = "ledger",
    params(("currency" = Option<String>, Query, description = "ISO 4217"),
        ("has_available" = Option<bool>, Query, description = "only rows with (true) or without (false) money available"),
        ("on_hold" = Option<bool>, Query, description = "only affiliates whose payouts are (true) or are not (false) held"),
        ("has_receivable" = Option<bool>, Query, description = "only rows with (true) or without (false) a receivable"),
        ("sort" = Option<String>, Query, description = "available_desc, available_asc, receivable_desc, pending_desc or affiliate (default)"),
        ("limit" = Option<usize>, Query, description = "1 to 50, default 20"),
        ("after" = Option<String>, Query, description = "`next` of the previous page")),
    responses((status = 200, body = AffiliatesBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 400 the broken field named"), Unavailable),
    security(("bearer" = [])))]
pub(crate) async fn list<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ReadPayouts)?;
    let currency = currency_param(query.currency.as_deref())?;
    let has_available = boolean(query.has_available.as_deref(), "has_available")?;
    let on_hold = boolean(query.on_hold.as_deref(), "on_hold")?;
    let has_receivable = boolean(query.has_receivable.as_deref(), "has_receivable")?;
    let sort = match query.sort.as_deref() {
        None => Sort::Affiliate,
        Some(s) => Sort::parse(s).ok_or_else(|| {
            Problem::bad_request(
                "sort",
                "must be one of available_desc, available_asc, receivable_desc, pending_desc, affiliate",
            )
        })?,
    };
    let limit = crate::page_limit(
        query.limit.as_deref(),
        AFFILIATE_PAGE_DEFAULT,
        AFFILIATE_PAGE_MAX,
    )
    .map_err(|e| Problem::bad_request(&e.field, &e.rule))?;
    let after = match query.after.as_deref() {
        None => None,
        Some(t) => Some(
            parse_token(t)
                .ok_or_else(|| Problem::bad_request("after", "is not a page token of this API"))?,
        ),
    };

    // Every balance row of the caller's tenant (its partition only).
    let mut rows = Vec::new();
    let mut pages = event_store::TenantRowPages::new(&identity.tenant_id);
    while let Some(page) = pages.next(&state.reads).await.map_err(store_problem)? {
        for row in page {
            let BalanceOwner::Affiliate { affiliate_id, .. } = row.owner else {
                continue;
            };
            let Ok(code) = currency_from_code(&row.currency) else {
                continue;
            };
            if currency.is_some_and(|c| c != code) {
                continue;
            }
            let shown = AffiliateBalance::from_fields(&row.fields).shown();
            if has_available.is_some_and(|want| want != (shown[1] > 0)) {
                continue;
            }
            if has_receivable.is_some_and(|want| want != (shown[3] > 0)) {
                continue;
            }
            rows.push(Row {
                affiliate_id,
                currency: code,
                shown,
            });
        }
    }

    rows.sort_by(|a, b| {
        (sort.key(a), a.affiliate_id.as_str(), a.currency.code()).cmp(&(
            sort.key(b),
            b.affiliate_id.as_str(),
            b.currency.code(),
        ))
    });
    if let Some((key, affiliate, code)) = &after {
        rows.retain(|r| {
            (sort.key(r), r.affiliate_id.as_str(), r.currency.code())
                > (*key, affiliate.as_str(), code.as_str())
        });
    }

    // Holds from the payout profiles, read once per affiliate, only as far
    // as the page needs.
    let mut holds: BTreeMap<String, BTreeSet<HoldReason>> = BTreeMap::new();
    let mut out = Vec::new();
    let mut more = false;
    for row in &rows {
        if out.len() == limit {
            more = true;
            break;
        }
        if !holds.contains_key(row.affiliate_id.as_str()) {
            let profile = uc::load_profile(&*state.events, &identity.tenant_id, &row.affiliate_id)
                .await
                .map_err(app_problem)?;
            holds.insert(
                row.affiliate_id.to_string(),
                profile.profile().holds.clone(),
            );
        }
        let reasons = holds
            .get(row.affiliate_id.as_str())
            .cloned()
            .unwrap_or_default();
        if on_hold.is_some_and(|held| held == reasons.is_empty()) {
            continue;
        }
        out.push((row, reasons));
    }
    let next = if more {
        out.last()
            .map(|(r, _)| token(sort.key(r), r.affiliate_id.as_str(), r.currency.code()))
    } else {
        None
    };
    let affiliates = out
        .into_iter()
        .map(|(r, reasons)| {
            let m = |i: usize| money_text(r.shown[i], r.currency);
            AffiliateRowBody {
                affiliate_id: r.affiliate_id.to_string(),
                currency: r.currency.code().to_owned(),
                pending: m(0),
                available: m(1),
                reserved: m(2),
                receivable: m(3),
                paid_out: m(4),
                on_hold: !reasons.is_empty(),
                holds: reasons.iter().map(hold_text).collect(),
            }
        })
        .collect();
    Ok(axum::Json(AffiliatesBody { affiliates, next }).into_response())
}

/// One affiliate's journal in one currency as CSV, every page, oldest first.
#[utoipa::path(get, path = "/v1/affiliates/{affiliate_id}/journal/export.csv", tag = "ledger",
    params(("affiliate_id" = String, Path, description = "an affiliate may name only itself"), ("currency" = String, Query, description = "ISO 4217")),
    responses((status = 200, content_type = "text/csv", body = String, description = "one row per journal line: effective_at, event_type, stream, version, then each field's signed change; text cells guarded against spreadsheet formulas"), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 another affiliate, 404 an affiliate the tenant does not have (another tenant's), 400 the broken field named"), Unavailable),
    security(("bearer" = [])))]
pub(crate) async fn export_journal<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    Path(affiliate): Path<String>,
    ApiQuery(query): ApiQuery<CurrencyQuery>,
) -> Result<Response, Problem> {
    let owner = crate::authorize(&identity, &affiliate)?;
    let currency = currency_param(query.currency.as_deref())?
        .ok_or_else(|| Problem::bad_request("currency", "is required"))?;
    let (lines, _) = crate::journal_lines(&state.reads, &owner, currency, usize::MAX).await?;
    // An affiliate the caller's tenant does not know (another tenant's
    // among them) is refused, not exported empty.
    if lines.is_empty()
        && state
            .reads
            .balances(&owner)
            .await
            .map_err(store_problem)?
            .is_empty()
    {
        return Err(Problem::not_found("affiliate"));
    }
    let texts: Vec<[String; 4]> = lines
        .iter()
        .map(|l| {
            [
                l.effective_at.clone(),
                l.event_type.clone(),
                l.stream.clone(),
                l.version.to_string(),
            ]
        })
        .collect();
    let cells: Vec<Vec<Cell<'_>>> = lines
        .iter()
        .zip(&texts)
        .map(|(l, t)| {
            let mut row = vec![
                Cell::Text(&t[0]),
                Cell::Text(&t[1]),
                Cell::Text(&t[2]),
                Cell::Amount(t[3].clone()),
                Cell::Text(currency.code()),
            ];
            row.extend(FIELDS.iter().map(|f| {
                let minor = l.deltas.get(*f).copied().unwrap_or(0);
                Cell::Amount(money_text(affiliate_sign(f, minor), currency))
            }));
            row
        })
        .collect();
    let mut header = vec![
        "effective_at",
        "event_type",
        "stream",
        "version",
        "currency",
    ];
    header.extend(FIELDS);
    let bytes = csv_bytes(&header, &cells)?;
    let name: String = affiliate
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    Ok(csv_response(
        &format!("journal-{name}-{}.csv", currency.code()),
        bytes,
    ))
}
