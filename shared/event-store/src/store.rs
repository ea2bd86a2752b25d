//! The `EventStore` trait, and its forwarding through shared pointers.

use async_trait::async_trait;

use crate::{
    AppendRequest, Appended, Cursor, IdempotencyRecord, IdempotencyScope, Once, Page, StoreError,
    StoredEvent, StreamId,
};

/// The event store port.
#[async_trait]
pub trait EventStore: Send + Sync {
    /// Appends to one stream. See the crate docs for the semantics.
    async fn append(&self, request: AppendRequest) -> Result<Appended, StoreError> {
        let mut results = self.append_transaction(vec![request]).await?;
        results
            .pop()
            .ok_or_else(|| StoreError::Unavailable("empty transaction result".to_owned()))
    }

    /// Appends to several streams atomically. Idempotent replays inside the
    /// transaction are reported as duplicates and not written again; any
    /// conflict fails the whole transaction and writes nothing.
    async fn append_transaction(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Appended>, StoreError>;

    /// Appends atomically, once per request: the appends (possibly none) and
    /// `record`, on the condition that no record exists for its scope.
    /// When one does, nothing is written and the answer is decided by it:
    /// the same request hash is [`Once::Replayed`] with the stored answer
    /// (whatever the appends would have done now), another is
    /// [`StoreError::IdempotencyConflict`]. Otherwise the appends behave as
    /// in [`EventStore::append_transaction`]; the record counts as one more
    /// of the transaction's [`TRANSACTION_ITEMS_MAX`](crate::TRANSACTION_ITEMS_MAX) items.
    async fn append_once(
        &self,
        appends: Vec<AppendRequest>,
        record: IdempotencyRecord,
    ) -> Result<Once, StoreError>;

    /// The idempotency record of a scope, read consistently.
    async fn idempotency_record(
        &self,
        scope: &IdempotencyScope,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;

    /// Reads a stream from `from_version` (inclusive, 1-based), in order:
    /// `limit` events, fewer only where the stream ends, however large the
    /// events are (never a page cut short by a store's response size).
    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// Reads the first `limit` events of each of several streams, in the
    /// order the streams are named: what a bulk command decides from. A
    /// store may read them all in one round trip; by default they are read
    /// one after another, page by page.
    async fn read_streams(
        &self,
        streams: &[StreamId],
        limit: usize,
    ) -> Result<Vec<Vec<StoredEvent>>, StoreError> {
        let mut out = Vec::with_capacity(streams.len());
        for stream in streams {
            let mut events: Vec<StoredEvent> = Vec::new();
            while events.len() < limit {
                let want = (limit - events.len()).min(crate::READ_LIMIT_MAX);
                let page = self
                    .read_stream(stream, events.len() as u64 + 1, want)
                    .await?;
                let done = page.len() < want;
                events.extend(page);
                if done {
                    break;
                }
            }
            out.push(events);
        }
        Ok(out)
    }

    /// Reads events in the global order after `after` (from the start when None).
    async fn read_all(&self, after: Option<&Cursor>, limit: usize) -> Result<Page, StoreError>;

    /// The cursor a projection saved last.
    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Cursor>, StoreError>;

    /// Saves a projection's cursor.
    async fn save_checkpoint(&self, projection: &str, cursor: &Cursor) -> Result<(), StoreError>;
}

/// A shared or boxed store is a store: functions build one at cold start and
/// hand it to handlers behind whichever pointer suits them.
macro_rules! forward_store {
    ($pointer:ident) => {
        #[async_trait]
        impl<T: EventStore + ?Sized> EventStore for std::sync::$pointer<T> {
            async fn append_transaction(
                &self,
                requests: Vec<AppendRequest>,
            ) -> Result<Vec<Appended>, StoreError> {
                (**self).append_transaction(requests).await
            }
            async fn append_once(
                &self,
                appends: Vec<AppendRequest>,
                record: IdempotencyRecord,
            ) -> Result<Once, StoreError> {
                (**self).append_once(appends, record).await
            }
            async fn idempotency_record(
                &self,
                scope: &IdempotencyScope,
            ) -> Result<Option<IdempotencyRecord>, StoreError> {
                (**self).idempotency_record(scope).await
            }
            async fn read_stream(
                &self,
                stream: &StreamId,
                from_version: u64,
                limit: usize,
            ) -> Result<Vec<StoredEvent>, StoreError> {
                (**self).read_stream(stream, from_version, limit).await
            }
            async fn read_streams(
                &self,
                streams: &[StreamId],
                limit: usize,
            ) -> Result<Vec<Vec<StoredEvent>>, StoreError> {
                (**self).read_streams(streams, limit).await
            }
            async fn read_all(
                &self,
                after: Option<&Cursor>,
                limit: usize,
            ) -> Result<Page, StoreError> {
                (**self).read_all(after, limit).await
            }
            async fn load_checkpoint(
                &self,
                projection: &str,
            ) -> Result<Option<Cursor>, StoreError> {
                (**self).load_checkpoint(projection).await
            }
            async fn save_checkpoint(
                &self,
                projection: &str,
                cursor: &Cursor,
            ) -> Result<(), StoreError> {
                (**self).save_checkpoint(projection, cursor).await
            }
        }
    };
}

forward_store!(Arc);
