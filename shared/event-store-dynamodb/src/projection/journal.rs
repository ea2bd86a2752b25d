//! Where an owner's journal lines are kept, and reading them back.
//!
//! One partition key per owner and currency would take every line of a busy
//! affiliate: at 1,000 commissions a second, about 2,000 write units a
//! second (each event's first line is its guard, billed twice in its
//! transaction), twice what one partition serves, and a sort key that only
//! grows keeps DynamoDB from splitting it. A journal table created by this
//! build spreads an owner's lines over [`JOURNAL_SHARDS`] partitions,
//! `{owner}#{currency}#n`, `n` a stable hash of the line's stream (a
//! commission's lines stay together); a page reads each shard after the
//! token and merges them in line order (the token is the last line's key,
//! as before).
//!
//! A table from before keeps its lines under `{owner}#{currency}`. Which
//! layout a table has, and over how many shards, is recorded once, in its
//! layout item ([`JOURNAL_LAYOUT_KEY`]), and never changes, so an event's
//! guard line is always looked for where it was written:
//! - `create-tables` records a new table as sharded;
//! - `ledger-admin projection index` records a table without a layout item
//!   as sharded if it holds no item at all (a stage just deployed, whose
//!   table CloudFormation created), else as unsharded;
//! - a projector that finds no layout item records it unsharded, the one
//!   layout that is safe whatever the table holds (a projector never
//!   decides on its own that a table is empty).

use aws_sdk_dynamodb::types::AttributeValue;
use event_store::StoreError;
use ledger_domain::projection::BalanceOwner;

use super::{DynamoProjection, s, sdk};

/// The partitions an owner's journal in one currency is spread over.
pub const JOURNAL_SHARDS: u64 = 4;

/// The key (`owner` and `line`) of a journal table's layout item.
pub const JOURNAL_LAYOUT_KEY: &str = "#layout";

/// The layout item's attribute, `sharded` or `unsharded`.
const LAYOUT_ATTRIBUTE: &str = "journal";

/// The layout item's attribute holding a sharded table's shard count.
const SHARDS_ATTRIBUTE: &str = "shards";

/// How a journal table keeps an owner's lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JournalLayout {
    /// Under `{owner}#{currency}` (a table from before).
    Unsharded,
    /// Under `{owner}#{currency}#n`, `n` below the shard count the table
    /// was created with.
    Sharded(u64),
}

impl JournalLayout {
    fn name(self) -> &'static str {
        match self {
            JournalLayout::Unsharded => "unsharded",
            JournalLayout::Sharded(_) => "sharded",
        }
    }

    /// The partition key of a line of `stream` in an owner's journal.
    pub(super) fn partition(self, owner: &BalanceOwner, currency: &str, stream: &str) -> String {
        let base = super::journal_owner(owner, currency);
        match self {
            JournalLayout::Unsharded => base,
            JournalLayout::Sharded(shards) => {
                format!("{base}#{}", crate::stable_hash(&[stream]) % shards)
            }
        }
    }

    /// Every partition an owner's journal in one currency is kept in.
    fn partitions(self, owner: &BalanceOwner, currency: &str) -> Vec<String> {
        let base = super::journal_owner(owner, currency);
        match self {
            JournalLayout::Unsharded => vec![base],
            JournalLayout::Sharded(shards) => (0..shards).map(|n| format!("{base}#{n}")).collect(),
        }
    }
}

/// Writes a journal table's layout item unless it has one; the layout the
/// table has.
pub(super) async fn record_layout(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    layout: JournalLayout,
) -> Result<JournalLayout, StoreError> {
    let mut put = client
        .put_item()
        .table_name(table)
        .item("owner", s(JOURNAL_LAYOUT_KEY))
        .item("line", s(JOURNAL_LAYOUT_KEY))
        .item(LAYOUT_ATTRIBUTE, s(layout.name()));
    if let JournalLayout::Sharded(shards) = layout {
        put = put.item(SHARDS_ATTRIBUTE, AttributeValue::N(shards.to_string()));
    }
    let put = put
        .condition_expression("attribute_not_exists(#o)")
        .expression_attribute_names("#o", "owner")
        .send()
        .await;
    match put {
        Ok(_) => Ok(layout),
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            // Another writer recorded it first: its choice stands.
            stored_layout(client, table).await?.ok_or_else(|| {
                StoreError::Unavailable(format!("{table}: its journal layout item vanished"))
            })
        }
        Err(e) => Err(sdk("record the journal layout", e)),
    }
}

/// The layout a journal table's layout item records, if it has one.
async fn stored_layout(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
) -> Result<Option<JournalLayout>, StoreError> {
    let out = client
        .get_item()
        .table_name(table)
        .key("owner", s(JOURNAL_LAYOUT_KEY))
        .key("line", s(JOURNAL_LAYOUT_KEY))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| sdk("get the journal layout", e))?;
    let Some(item) = out.item else {
        return Ok(None);
    };
    let name = super::reads::text(&item, LAYOUT_ATTRIBUTE).unwrap_or_default();
    let shards = item
        .get(SHARDS_ATTRIBUTE)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<u64>().ok())
        .filter(|n| *n > 0);
    match (name, shards) {
        ("unsharded", _) => Ok(Some(JournalLayout::Unsharded)),
        ("sharded", Some(shards)) => Ok(Some(JournalLayout::Sharded(shards))),
        _ => Err(StoreError::Unavailable(format!(
            "{table}: unreadable journal layout item ({name:?}, shards {shards:?})"
        ))),
    }
}

/// Records a journal table without a layout item as sharded if it holds no
/// item at all (read consistently, to the end of the first page), else as
/// unsharded; the layout the table has (`ledger-admin projection index`,
/// after a deploy, before the first event).
pub async fn mark_journal_sharded(
    projection: &DynamoProjection,
) -> Result<JournalLayout, StoreError> {
    let (client, table) = (&projection.client, &projection.tables.journal);
    if let Some(layout) = stored_layout(client, table).await? {
        return Ok(layout);
    }
    let out = client
        .scan()
        .table_name(table)
        .limit(1)
        .consistent_read(true)
        .projection_expression("#o")
        .expression_attribute_names("#o", "owner")
        .send()
        .await
        .map_err(|e| sdk("look for journal lines", e))?;
    // No item and no page after it: empty. (A layout item written
    // meanwhile makes the put below refuse, and that layout stands.)
    let empty = out.items().is_empty() && out.last_evaluated_key.is_none();
    let layout = if empty {
        JournalLayout::Sharded(JOURNAL_SHARDS)
    } else {
        JournalLayout::Unsharded
    };
    record_layout(client, table, layout).await
}

impl DynamoProjection {
    /// The layout lines are written in: the recorded one, or, on a table
    /// without a layout item, unsharded, recorded so (the one layout safe
    /// whatever the table holds). Kept for the life of the process.
    pub(super) async fn journal_layout_for_write(&self) -> Result<JournalLayout, StoreError> {
        if let Some(layout) = self.journal_layout.get() {
            return Ok(*layout);
        }
        let layout = match stored_layout(&self.client, &self.tables.journal).await? {
            Some(layout) => layout,
            None => {
                record_layout(&self.client, &self.tables.journal, JournalLayout::Unsharded).await?
            }
        };
        let _ = self.journal_layout.set(layout);
        Ok(layout)
    }

    /// The layout lines are read from: the recorded one (kept once known);
    /// a table without a layout item has no line of this build, so it is
    /// read as unsharded, and asked again next time.
    async fn journal_layout_for_read(&self) -> Result<JournalLayout, StoreError> {
        if let Some(layout) = self.journal_layout.get() {
            return Ok(*layout);
        }
        match stored_layout(&self.client, &self.tables.journal).await? {
            Some(layout) => {
                let _ = self.journal_layout.set(layout);
                Ok(layout)
            }
            None => Ok(JournalLayout::Unsharded),
        }
    }

    /// An owner's journal in one currency, oldest first, after a page token
    /// (the last line's key): each of its partitions read after the token,
    /// merged in line order.
    pub async fn journal(
        &self,
        owner: &BalanceOwner,
        currency: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<event_store::JournalLine>, Option<String>), StoreError> {
        let layout = self.journal_layout_for_read().await?;
        let page = i32::try_from(limit).unwrap_or(500);
        let mut items = Vec::new();
        // The smallest last line of a partition with more to read: lines
        // past it may sit in that partition's next page, so this page ends
        // there.
        let mut cut: Option<String> = None;
        // The shards at once: a page costs one round trip, not one per
        // shard.
        let queries = layout
            .partitions(owner, currency)
            .into_iter()
            .map(|partition| {
                let query = self
                    .client
                    .query()
                    .table_name(&self.tables.journal)
                    .expression_attribute_names("#o", "owner")
                    .expression_attribute_values(":o", s(&partition))
                    .limit(page);
                let query = match after {
                    Some(after) => query
                        .key_condition_expression("#o = :o AND #l > :after")
                        .expression_attribute_names("#l", "line")
                        .expression_attribute_values(":after", s(after)),
                    None => query.key_condition_expression("#o = :o"),
                };
                async move { query.send().await.map_err(|e| sdk("query journal", e)) }
            });
        for out in futures::future::try_join_all(queries).await? {
            let found = out.items.unwrap_or_default();
            if out.last_evaluated_key.is_some()
                && let Some(last) = found.last().and_then(|i| super::reads::text(i, "line"))
                && cut.as_deref().is_none_or(|c| last < c)
            {
                cut = Some(last.to_owned());
            }
            items.extend(found);
        }
        items.sort_by(|a, b| super::reads::text(a, "line").cmp(&super::reads::text(b, "line")));
        if let Some(cut) = &cut {
            items.retain(|i| super::reads::text(i, "line").is_some_and(|l| l <= cut.as_str()));
        }
        let more = cut.is_some() || items.len() > limit;
        items.truncate(limit);
        let mut lines = Vec::with_capacity(items.len());
        for item in &items {
            lines.push(journal_line(item)?);
        }
        let next = if more {
            lines.last().map(|l| l.token.clone())
        } else {
            None
        };
        Ok((lines, next))
    }
}

/// A journal item read back.
fn journal_line(
    item: &std::collections::HashMap<String, AttributeValue>,
) -> Result<event_store::JournalLine, StoreError> {
    let get = |name: &str| {
        super::reads::text(item, name)
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let stream = get("stream");
    let version = item
        .get("version")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let deltas = serde_json::from_str(&get("deltas")).map_err(|e| StoreError::CorruptEvent {
        stream: stream.clone(),
        version,
        reason: format!("journal line deltas: {e}"),
    })?;
    Ok(event_store::JournalLine {
        // The sort key (recorded time, stream, version) is the page token.
        token: get("line"),
        stream,
        version,
        event_type: get("event_type"),
        effective_at: get("effective_at"),
        deltas,
    })
}
