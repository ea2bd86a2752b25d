//! The tenant's payout batches as finance lists them: awaiting approval
//! first, then approved and rejected, paginated over the drafts stream.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat, Utc};
use event_store::{EventStore, StreamId};
use lambda_edge::Caller;
use lambda_edge::authz::{Action, authorize};
use lambda_edge::problem::{FieldError, Problem, Unavailable};
use ledger_domain::events::{AggregateRef, EventBody, stream_name};
use ledger_domain::payout::{BatchStatus, ItemStatus};
use ledger_domain::{Money, PayoutBatch, PayoutBatchId, TenantId};
use serde::{Deserialize, Serialize};

use crate::extract::ApiQuery;
use crate::payouts::app_problem;
use crate::{ApiReads, ApiState, store_problem};

/// The most batches one page of the list returns.
pub const BATCH_PAGE_MAX: usize = 50;
pub const BATCH_PAGE_DEFAULT: usize = 20;
/// The most registrations of the drafts stream one page examines: a filter
/// that matches few batches answers a shorter page with a `next` token
/// rather than reading the whole stream.
pub const BATCH_SCAN_MAX: usize = 200;

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

pub(crate) fn status_text(status: BatchStatus) -> &'static str {
    match status {
        BatchStatus::Drafted => "drafted",
        BatchStatus::Approved => "approved",
        BatchStatus::Rejected => "rejected",
    }
}

pub(crate) fn item_status_text(status: ItemStatus) -> String {
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
pub(crate) async fn load_batch(
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

/// The list's query: `status`, `limit`, `after`.
#[derive(Deserialize)]
pub(crate) struct ListQuery {
    status: Option<String>,
    limit: Option<String>,
    after: Option<String>,
}

/// The list's parameters: the phases to scan, the page size and where to
/// start.
fn list_params(query: &ListQuery) -> Result<(Vec<Phase>, usize, Position), Problem> {
    let mut errors = Vec::new();
    let phases = match query.status.as_deref() {
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
    let limit = crate::page_limit(query.limit.as_deref(), BATCH_PAGE_DEFAULT, BATCH_PAGE_MAX)
        .unwrap_or_else(|e| {
            errors.push(e);
            0
        });
    let start = match query.after.as_deref() {
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
    responses((status = 200, body = BatchListBody), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "refused: 401 no valid token, 403 not allowed, 422 each broken field named"), Unavailable),
    security(("bearer" = [])))]
pub(crate) async fn list_batches<R: ApiReads + 'static>(
    State(state): State<Arc<ApiState<R>>>,
    Caller(identity): Caller,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ReadPayouts)?;
    let (phases, limit, mut position) = list_params(&query)?;
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

#[cfg(test)]
mod tests {
    use super::*;

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
