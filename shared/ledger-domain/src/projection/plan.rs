//! The one decision of what an event writes into the projection.
//!
//! Both store adapters (the embedded store and DynamoDB) project by calling
//! [`plan`] (or [`plan_event`]) and writing what it returns, atomically and
//! exactly once; neither decides anything about an event itself. So the two
//! projections cannot drift: the same events give the same journal lines
//! (with the same sort keys), the same balance deltas, the same maturity
//! schedule entries, the same profile snapshots and the same draft counts.
//!
//! What a plan holds for one event:
//! - its **balance deltas**, per (owner, currency) row, from its journal
//!   entry (which refuses to exist unbalanced);
//! - its **journal lines**: one per affiliate row it touches, keyed
//!   `recorded_at#stream#version` so both stores list an affiliate's journal
//!   in the same order (the order the events were recorded in);
//! - a **maturity entry** for a recorded commission (when it is due, and the
//!   day it is filed under). Entries are only ever added by the projection;
//!   the maturing job removes one once it has matured it or found nothing
//!   left to mature (a commission reversed whole), on both stores, so the
//!   projection never has to find an entry again;
//! - a **profile snapshot** for a payout profile change, with the stream
//!   version it came from (a store keeps the newest);
//! - whether it registers a **drafted batch** (the draft guard's count).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

use super::{BalanceDeltas, BalanceOwner, DRAFTS_ROW, FieldDeltas};
use crate::events::{Event, EventBody};
use crate::ids::{AffiliateId, CommissionId, TenantId};
use crate::ledger::journal_entry;
use crate::profile::PayoutProfile;

/// Digits of the stream version in a journal line key, so text order is
/// version order.
pub const JOURNAL_LINE_VERSION_WIDTH: usize = 12;

/// Why an event cannot be projected. The event itself is never changed; a
/// store reports it as a corrupt event and stops there (never skips it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error("posting: {0}")]
    Posting(String),
    #[error(transparent)]
    Overflow(#[from] super::DeltaOverflow),
}

/// One line of an affiliate's journal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedLine {
    pub owner: BalanceOwner,
    pub currency: &'static str,
    /// `recorded_at#stream#version`: the line's place in the journal.
    pub key: String,
    pub stream: String,
    pub version: u64,
    pub event_type: &'static str,
    pub effective_at: DateTime<Utc>,
    /// Signed minor units per field.
    pub deltas: FieldDeltas,
}

impl PlannedLine {
    /// The deltas as stored: `{"available":-1000,"reserved":1000}`.
    pub fn deltas_json(&self) -> String {
        // A map of text to integers always serialises.
        serde_json::to_string(&self.deltas).unwrap_or_default()
    }

    /// The effective time as stored (RFC 3339).
    pub fn effective_at_text(&self) -> String {
        self.effective_at.to_rfc3339()
    }
}

/// A commission entering the maturity schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedMaturity {
    pub tenant_id: TenantId,
    pub commission_id: CommissionId,
    pub affiliate_id: AffiliateId,
    pub matures_at: DateTime<Utc>,
    /// The day it is filed under: the day it matures, or the day it was
    /// recorded when it was recorded after its hold had ended (a schedule
    /// read day by day has not passed that day yet).
    pub filed_on: NaiveDate,
}

impl PlannedMaturity {
    /// `matures_at` as fixed-width UTC text, so text order is time order.
    pub fn due_key(&self) -> String {
        time_key(self.matures_at)
    }
}

/// The newest payout profile of an affiliate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedProfile {
    pub owner: BalanceOwner,
    pub profile: PayoutProfile,
    /// The profile stream's version: a store never replaces a snapshot with
    /// an older one.
    pub version: u64,
}

impl PlannedProfile {
    /// The snapshot as stored (JSON).
    pub fn json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&self.profile)
    }
}

/// Everything one event writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventPlan {
    pub stream: String,
    pub version: u64,
    /// Balance rows (the drafted-batch counter not among them).
    pub balances: BalanceDeltas,
    pub lines: Vec<PlannedLine>,
    pub maturity: Option<PlannedMaturity>,
    pub profile: Option<PlannedProfile>,
    /// The tenant whose drafted-batch count this event raises by one.
    pub drafted_batch_of: Option<TenantId>,
}

impl EventPlan {
    /// The event's identity as a store's exactly-once guard: `stream#version`.
    pub fn guard(&self) -> String {
        format!("{}#{}", self.stream, self.version)
    }
}

/// The plans of a batch of events, in order, with their balance deltas and
/// draft counts coalesced (one write per row however many events touch it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectionBatch {
    pub events: Vec<EventPlan>,
    pub balances: BalanceDeltas,
    /// Drafted batches per tenant, for the draft guard.
    pub drafted_batches: BTreeMap<TenantId, i64>,
    /// The first event that cannot be projected (its index in the input)
    /// and why. The plans before it are complete; nothing after it is
    /// planned, so a store projects up to it and stops.
    pub stopped: Option<(usize, PlanError)>,
}

impl ProjectionBatch {
    pub fn journal_lines(&self) -> usize {
        self.events.iter().map(|e| e.lines.len()).sum()
    }

    /// Whether nothing at all is to be written.
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }
}

/// A time as fixed-width UTC text (microseconds), so text order is time
/// order: the form of maturity due times and journal line keys, which the
/// stores compare against (a schedule read up to `time_key(now)`).
pub fn time_key(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// What one event writes. `stream` and `version` are its place in its
/// stream (as the store holds it).
pub fn plan_event(stream: &str, version: u64, event: &Event) -> Result<EventPlan, PlanError> {
    let entry = journal_entry(event).map_err(|e| PlanError::Posting(e.to_string()))?;
    let mut deltas = BalanceDeltas::default();
    deltas.add(&entry)?;
    let mut drafted_batch_of = None;
    deltas.rows.retain(|(owner, currency), _| {
        if *currency == DRAFTS_ROW {
            if let BalanceOwner::Tenant { tenant_id } = owner {
                drafted_batch_of = Some(tenant_id.clone());
            }
            return false;
        }
        true
    });
    let key = format!(
        "{}#{stream}#{version:0width$}",
        time_key(event.recorded_at()),
        width = JOURNAL_LINE_VERSION_WIDTH
    );
    let lines = deltas
        .rows
        .iter()
        .filter(|((owner, _), _)| matches!(owner, BalanceOwner::Affiliate { .. }))
        .map(|((owner, currency), fields)| PlannedLine {
            owner: owner.clone(),
            currency,
            key: key.clone(),
            stream: stream.to_owned(),
            version,
            event_type: event.type_name(),
            effective_at: event.effective_at(),
            deltas: fields.clone(),
        })
        .collect();
    let tenant_id = event.tenant_id();
    let (maturity, profile) = match event.body() {
        EventBody::CommissionRecorded(e) => (
            Some(PlannedMaturity {
                tenant_id: tenant_id.clone(),
                commission_id: e.commission_id.clone(),
                affiliate_id: e.affiliate_id.clone(),
                matures_at: e.matures_at,
                filed_on: e.matures_at.max(event.recorded_at()).date_naive(),
            }),
            None,
        ),
        EventBody::PayoutProfileChanged(e) => (
            None,
            Some(PlannedProfile {
                owner: BalanceOwner::Affiliate {
                    tenant_id: tenant_id.clone(),
                    affiliate_id: e.affiliate_id.clone(),
                },
                profile: e.profile.clone(),
                version,
            }),
        ),
        _ => (None, None),
    };
    Ok(EventPlan {
        stream: stream.to_owned(),
        version,
        balances: deltas,
        lines,
        maturity,
        profile,
        drafted_batch_of,
    })
}

/// What a batch of events writes, in their order. Planning stops at the
/// first event that cannot be projected (see [`ProjectionBatch::stopped`]).
pub fn plan<'a, I>(events: I) -> ProjectionBatch
where
    I: IntoIterator<Item = (&'a str, u64, &'a Event)>,
{
    let mut batch = ProjectionBatch::default();
    for (index, (stream, version, event)) in events.into_iter().enumerate() {
        let planned = plan_event(stream, version, event).and_then(|p| {
            batch
                .balances
                .merge(&p.balances)
                .map(|()| p)
                .map_err(Into::into)
        });
        match planned {
            Ok(p) => {
                if let Some(tenant) = &p.drafted_batch_of {
                    *batch.drafted_batches.entry(tenant.clone()).or_insert(0) += 1;
                }
                batch.events.push(p);
            }
            Err(error) => {
                batch.stopped = Some((index, error));
                break;
            }
        }
    }
    batch
}
