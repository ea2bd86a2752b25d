//! Checkpoints: a projection's saved cursor, one item per projection in
//! the checkpoints table.

use chrono::Utc;
use event_store::{Cursor, StoreError, check_projection_name};

use crate::reads::parse_cursor;
use crate::schema::attr;
use crate::{DynamoEventStore, get_s, s, sdk_error, table_scan};

impl DynamoEventStore {
    /// The body of `load_checkpoint`.
    pub(crate) async fn get_checkpoint(
        &self,
        projection: &str,
    ) -> Result<Option<Cursor>, StoreError> {
        check_projection_name(projection)?;
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.checkpoints)
            .key(attr::ID, s(projection))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get checkpoint", e))?;
        Ok(out
            .item
            .and_then(|item| get_s(&item, attr::CURSOR))
            .map(Cursor))
    }

    /// The body of `save_checkpoint`.
    pub(crate) async fn put_checkpoint(
        &self,
        projection: &str,
        cursor: &Cursor,
    ) -> Result<(), StoreError> {
        check_projection_name(projection)?;
        // A stream cursor, or a position of a scan of the events table.
        if cursor.0.starts_with(table_scan::TABLE_SCAN_CURSOR_PREFIX) {
            table_scan::TableScan::from_cursor(cursor)?;
        } else {
            parse_cursor(Some(cursor))?;
        }
        self.client
            .put_item()
            .table_name(&self.tables.checkpoints)
            .item(attr::ID, s(projection))
            .item(attr::CURSOR, s(&cursor.0))
            .item(attr::UPDATED_AT, s(Utc::now().to_rfc3339()))
            .send()
            .await
            .map_err(|e| sdk_error("put checkpoint", e))?;
        Ok(())
    }
}
