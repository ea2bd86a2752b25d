//! The store itself: its clients and tables, and the [`EventStore`]
//! implementation, whose methods are written in the modules by job (append,
//! idempotency, reads, checkpoints).

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use event_store::{
    AppendRequest, Appended, Cursor, EventStore, IdempotencyRecord, IdempotencyScope, Once, Page,
    StoreError, StoredEvent, StreamId, validate_once, validate_transaction,
};

use crate::WriteCounter;
use crate::schema::Tables;

/// The DynamoDB event store.
#[derive(Clone)]
pub struct DynamoEventStore {
    pub(crate) client: Client,
    /// The DynamoDB Streams client global reads follow; only in builds
    /// with the `stream-reads` feature (the admin CLI, the local stack),
    /// so no Lambda function links a client it never calls.
    #[cfg(feature = "stream-reads")]
    pub(crate) streams: Option<aws_sdk_dynamodbstreams::Client>,
    pub(crate) tables: Tables,
    #[cfg(feature = "stream-reads")]
    pub(crate) stream_arn: std::sync::Arc<tokio::sync::OnceCell<String>>,
}

impl DynamoEventStore {
    /// Wraps a client built once at start-up. Global reads need a Streams
    /// client as well ([`DynamoEventStore::with_streams`]).
    pub fn new(client: Client, tables: Tables) -> Self {
        DynamoEventStore {
            #[cfg(feature = "stream-reads")]
            streams: None,
            client,
            tables,
            #[cfg(feature = "stream-reads")]
            stream_arn: std::sync::Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// The DynamoDB Streams client global reads ([`EventStore::read_all`])
    /// follow.
    #[cfg(feature = "stream-reads")]
    pub fn with_streams(mut self, streams: aws_sdk_dynamodbstreams::Client) -> Self {
        self.streams = Some(streams);
        self
    }

    /// Builds the store's clients from one SDK configuration (with the
    /// `stream-reads` feature, the Streams client too), with an optional
    /// write counter.
    pub fn from_config(
        config: &aws_config::SdkConfig,
        tables: Tables,
        counter: Option<WriteCounter>,
    ) -> Self {
        let mut builder = aws_sdk_dynamodb::config::Builder::from(config);
        if let Some(counter) = counter {
            builder = builder.interceptor(counter);
        }
        let client = Client::from_conf(builder.build());
        let store = DynamoEventStore::new(client, tables);
        #[cfg(feature = "stream-reads")]
        let store = store.with_streams(aws_sdk_dynamodbstreams::Client::new(config));
        store
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn tables(&self) -> &Tables {
        &self.tables
    }
}

#[async_trait]
impl EventStore for DynamoEventStore {
    async fn append_transaction(
        &self,
        requests: Vec<AppendRequest>,
    ) -> Result<Vec<Appended>, StoreError> {
        validate_transaction(&requests)?;
        match self.write(&requests, None).await? {
            Once::Written(appended) => Ok(appended),
            Once::Replayed(_) => Err(StoreError::Unavailable(
                "a write without an idempotency record was answered by one".to_owned(),
            )),
        }
    }

    async fn append_once(
        &self,
        appends: Vec<AppendRequest>,
        record: IdempotencyRecord,
    ) -> Result<Once, StoreError> {
        validate_once(&appends, &record)?;
        self.write(&appends, Some(&record)).await
    }

    async fn idempotency_record(
        &self,
        scope: &IdempotencyScope,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.get_record(scope).await
    }

    async fn read_stream(
        &self,
        stream: &StreamId,
        from_version: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        self.query_stream(stream, from_version, limit).await
    }

    async fn read_all(&self, after: Option<&Cursor>, limit: usize) -> Result<Page, StoreError> {
        self.read_stream_records(after, limit).await
    }

    async fn load_checkpoint(&self, projection: &str) -> Result<Option<Cursor>, StoreError> {
        self.get_checkpoint(projection).await
    }

    async fn save_checkpoint(&self, projection: &str, cursor: &Cursor) -> Result<(), StoreError> {
        self.put_checkpoint(projection, cursor).await
    }
}
