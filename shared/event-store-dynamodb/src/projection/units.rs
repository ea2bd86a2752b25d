//! The projection's units of atomic work: each planned event's balance
//! rows and its guard (its first journal line, or a guard item), and how a
//! refused line guard is settled.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use event_store::{StoreError, TRANSACTION_ITEMS_MAX};
use ledger_domain::projection::{
    BATCHES_DRAFTED_FIELD, BalanceOwner, DRAFTS_ROW, EventPlan, FieldDeltas,
};

use super::{DynamoProjection, s, sdk};

/// What proves a unit projected: the item its transaction puts on the
/// condition that it does not exist yet.
pub(super) enum Guard {
    /// The event's first journal line: the line it writes anyway, so an event
    /// with a line needs no item of its own (a transaction bills each item
    /// twice; a guard item and a batch-written line were three units).
    Line,
    /// An item of the guards table (`stream#version`, with `#n` per chunk):
    /// for an event without journal lines, and for each chunk of an event
    /// too large for one transaction.
    Item(String),
}

/// One unit of atomic work: an event (or a chunk of a large event's rows).
pub(super) struct Unit {
    pub(super) event_index: usize,
    pub(super) guard: Guard,
    pub(super) rows: BTreeMap<(String, &'static str), FieldDeltas>,
}

/// Set on a journal line its event's projection transaction wrote as the
/// event's guard.
pub const LINE_GUARD_ATTRIBUTE: &str = "guard";

/// The journal's partition key of an owner's lines in one currency:
/// `{owner}#{currency}` (in a sharded table, the base of its shards'
/// keys).
pub(super) fn journal_owner(owner: &BalanceOwner, currency: &str) -> String {
    format!("{}#{currency}", owner.key())
}

/// The journal item of a planned line: key `owner` (its partition in the
/// table's layout) and `line`.
pub(super) fn line_item(
    line: &ledger_domain::projection::PlannedLine,
    layout: super::JournalLayout,
) -> HashMap<String, AttributeValue> {
    HashMap::from([
        (
            "owner".to_owned(),
            s(layout.partition(&line.owner, line.currency, &line.stream)),
        ),
        ("line".to_owned(), s(&line.key)),
        ("stream".to_owned(), s(&line.stream)),
        (
            "version".to_owned(),
            AttributeValue::N(line.version.to_string()),
        ),
        ("event_type".to_owned(), s(line.event_type)),
        ("effective_at".to_owned(), s(line.effective_at_text())),
        ("deltas".to_owned(), s(line.deltas_json())),
    ])
}

/// The guarded units of planned events: each event's balance rows and its
/// draft count, split into chunks when they exceed a transaction.
pub(super) fn units(plans: &[EventPlan]) -> Vec<Unit> {
    let mut units = Vec::new();
    for (index, event) in plans.iter().enumerate() {
        let mut rows: Vec<((String, &'static str), FieldDeltas)> = event
            .balances
            .rows
            .iter()
            .map(|((owner, currency), fields)| ((owner.key(), *currency), fields.clone()))
            .collect();
        if let Some(tenant_id) = &event.drafted_batch_of {
            let owner = ledger_domain::projection::BalanceOwner::Tenant {
                tenant_id: tenant_id.clone(),
            };
            rows.push((
                (owner.key(), DRAFTS_ROW),
                FieldDeltas::from([(BATCHES_DRAFTED_FIELD, 1)]),
            ));
        }
        let chunk_rows = TRANSACTION_ITEMS_MAX - 1;
        if rows.len() <= chunk_rows {
            units.push(Unit {
                event_index: index,
                guard: if event.lines.is_empty() {
                    Guard::Item(event.guard())
                } else {
                    Guard::Line
                },
                rows: rows.into_iter().collect(),
            });
        } else {
            for (n, chunk) in rows.chunks(chunk_rows).enumerate() {
                units.push(Unit {
                    event_index: index,
                    guard: Guard::Item(format!("{}#{n}", event.guard())),
                    rows: chunk.iter().cloned().collect(),
                });
            }
        }
    }
    units
}

impl DynamoProjection {
    /// Whether an event whose line guard failed its condition is projected.
    /// A line its transaction wrote carries [`LINE_GUARD_ATTRIBUTE`]: yes. A
    /// line without it was written by a projector from before line guards,
    /// which batch-wrote every line ahead of its transaction: the event is
    /// projected only if that transaction wrote its guard item; otherwise
    /// (say its transaction was still being retried across a deploy) it is
    /// not, and its line is rewritten as the guard.
    pub(super) async fn line_guard_settled(
        &self,
        event: &EventPlan,
        layout: super::JournalLayout,
    ) -> Result<bool, StoreError> {
        let Some(line) = event.lines.first() else {
            return Ok(false);
        };
        let owner = layout.partition(&line.owner, line.currency, &line.stream);
        let found = self
            .client
            .get_item()
            .table_name(&self.tables.journal)
            .key("owner", s(owner))
            .key("line", s(&line.key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("get journal line", e))?;
        if found
            .item()
            .is_some_and(|item| item.contains_key(LINE_GUARD_ATTRIBUTE))
        {
            return Ok(true);
        }
        let guard = self
            .client
            .get_item()
            .table_name(&self.tables.projected)
            .key("id", s(event.guard()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk("get projection guard", e))?;
        Ok(guard.item().is_some())
    }
}
