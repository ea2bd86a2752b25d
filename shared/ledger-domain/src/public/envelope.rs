//! The public event envelope: the shape version, the list of public event
//! types, the envelope every one is sent in and its stable id.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// The version of every public event's shape. Raised only for a change a
/// receiver could not read with the previous schema (a field removed,
/// retyped or made required).
pub const PUBLIC_EVENT_VERSION: u32 = 1;

/// Every public event type, in the order the README lists them.
pub const PUBLIC_EVENT_TYPES: &[&str] = &[
    "commission.recorded",
    "commission.matured",
    "commission.reversed",
    "commission.adjusted",
    "payout_batch.drafted",
    "payout_batch.approved",
    "payout_batch.rejected",
    "payout_item.submitted",
    "payout_item.paid",
    "payout_item.failed",
    "payout_item.returned",
    "payout_item.unclaimed",
    "payout_item.reversed",
    "receivable.opened",
    "receivable.netted",
    "reconciliation.mismatch_found",
    "statement.published",
];

/// Whether `name` is a public event type.
pub fn is_public_type(name: &str) -> bool {
    PUBLIC_EVENT_TYPES.contains(&name)
}

/// One public event as it is sent: the envelope and its type's `data`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schemas", derive(schemars::JsonSchema))]
pub struct PublicEvent {
    /// `evt_` and 32 hex digits; the same event always has the same id,
    /// and ids sort by the time the ledger recorded the event.
    pub id: String,
    /// One of the public event types.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The shape's version ([`PUBLIC_EVENT_VERSION`]).
    pub version: u32,
    pub tenant_id: String,
    /// When the ledger recorded it.
    pub created_at: DateTime<Utc>,
    /// When it happened in the world (a conversion last week).
    pub occurred_at: DateTime<Utc>,
    /// The ledger stream it belongs to, without the tenant
    /// (`payout-batch/b-7`), and its version there: events of one stream
    /// are ordered by `stream_version`, so a receiver that needs order can
    /// restore it.
    pub stream: String,
    pub stream_version: u64,
    /// The type's data (see `events/schemas/`).
    #[cfg_attr(
        feature = "schemas",
        schemars(with = "serde_json::Map<String, serde_json::Value>")
    )]
    pub data: serde_json::Value,
}

impl PublicEvent {
    /// The exact bytes sent and signed.
    pub fn to_json(&self) -> String {
        // A struct of strings, numbers and a JSON value: serialising cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// The public event id of the `index`th public event derived from the
/// event at `version` of `stream` (the full stream name, with the tenant),
/// recorded at `recorded_at`: `evt_`, the recording time in microseconds
/// (14 hex digits, so ids sort by time) and 18 hex digits of a SHA-256 of
/// where it comes from.
pub fn public_event_id(
    stream: &str,
    version: u64,
    index: usize,
    recorded_at: DateTime<Utc>,
) -> String {
    let digest = sha2::Sha256::digest(format!("{stream}@{version}#{index}").as_bytes());
    let micros = recorded_at.timestamp_micros().max(0);
    format!("evt_{micros:014x}{}", &hex::encode(digest)[..18])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_type_is_unique() {
        let mut seen = std::collections::BTreeSet::new();
        for t in PUBLIC_EVENT_TYPES {
            assert!(seen.insert(*t), "{t} listed twice");
        }
        assert!(!is_public_type("payout_item.claimed"));
        assert!(is_public_type("payout_item.paid"));
    }

    #[test]
    fn ids_are_stable_and_distinct() {
        let at = DateTime::from_timestamp(1_790_000_000, 0).unwrap_or_default();
        let later = at + chrono::Duration::microseconds(1);
        let a = public_event_id("t1/commission/c-1", 1, 0, at);
        assert_eq!(a, public_event_id("t1/commission/c-1", 1, 0, at));
        assert_ne!(a, public_event_id("t1/commission/c-1", 1, 1, at));
        assert_ne!(a, public_event_id("t2/commission/c-1", 1, 0, at));
        assert!(public_event_id("t0/commission/c-0", 1, 0, later) > a);
        assert_eq!(a.len(), 4 + 32);
    }
}
