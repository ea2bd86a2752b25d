//! The tables, as code: the same function creates them for tests, for the
//! local stack against an emulator, and documents what `template.yaml`
//! declares for AWS.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    StreamSpecification, StreamViewType,
};
use event_store::StoreError;

/// Attribute names of the events table.
pub mod attr {
    pub const STREAM: &str = "stream";
    pub const VERSION: &str = "version";
    pub const EVENT_TYPE: &str = "event_type";
    pub const SCHEMA_VERSION: &str = "schema_version";
    pub const PAYLOAD: &str = "payload";
    pub const PAYLOAD_HASH: &str = "payload_hash";
    pub const RECORDED_AT: &str = "recorded_at";
    pub const IDEMPOTENCY_KEY: &str = "idempotency_key";
    pub const REQUEST_HASH: &str = "request_hash";
    pub const APPEND_LAST_VERSION: &str = "append_last_version";
    /// Key of the idempotency and checkpoint tables.
    pub const ID: &str = "id";
    /// Attributes of a request's idempotency record (with `idempotency_key`,
    /// `request_hash` and `recorded_at`).
    pub const TENANT: &str = "tenant";
    pub const OPERATION: &str = "operation";
    pub const ANSWER: &str = "answer";
    pub const FIRST_VERSION: &str = "first_version";
    pub const CURSOR: &str = "cursor";
    pub const UPDATED_AT: &str = "updated_at";
}

/// The three tables the store uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    /// Events: partition key `stream` (S), sort key `version` (N), with a
    /// stream of new images for projectors.
    pub events: String,
    /// Idempotency guards for keyed appends to streams that already exist,
    /// key `id` = `stream#key`, and requests' idempotency records, key
    /// `id` = `request tenant#operation#key`. The space keeps the two
    /// apart: neither a stream id nor a key can contain one.
    pub idempotency: String,
    /// Projection checkpoints: key `id` = projection name.
    pub checkpoints: String,
}

impl Tables {
    /// `{prefix}events`, `{prefix}idempotency`, `{prefix}checkpoints`.
    pub fn with_prefix(prefix: &str) -> Self {
        Tables {
            events: format!("{prefix}events"),
            idempotency: format!("{prefix}idempotency"),
            checkpoints: format!("{prefix}checkpoints"),
        }
    }
}

fn build_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(format!("dynamodb request could not be built: {e}"))
}

fn key(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(build_error)
}

fn def(name: &str, kind: ScalarAttributeType) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .map_err(build_error)
}

/// Whether a table exists (asked by name, so accounts with many tables are
/// answered exactly, without paging through a listing).
pub async fn table_exists(client: &Client, name: &str) -> Result<bool, StoreError> {
    match client.describe_table().table_name(name).send().await {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception()) =>
        {
            Ok(false)
        }
        Err(e) => Err(StoreError::Unavailable(format!(
            "describe table {name}: {}",
            aws_sdk_dynamodb::error::DisplayErrorContext(e)
        ))),
    }
}

/// Creates the tables if they do not exist yet (on-demand billing, events
/// with a NEW_IMAGE stream).
pub async fn create_tables(client: &Client, tables: &Tables) -> Result<(), StoreError> {
    if !table_exists(client, &tables.events).await? {
        client
            .create_table()
            .table_name(&tables.events)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(attr::STREAM, KeyType::Hash)?)
            .key_schema(key(attr::VERSION, KeyType::Range)?)
            .attribute_definitions(def(attr::STREAM, ScalarAttributeType::S)?)
            .attribute_definitions(def(attr::VERSION, ScalarAttributeType::N)?)
            .stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::NewImage)
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "create {}: {}",
                    tables.events,
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                ))
            })?;
    }
    for name in [&tables.idempotency, &tables.checkpoints] {
        if table_exists(client, name).await? {
            continue;
        }
        client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key(attr::ID, KeyType::Hash)?)
            .attribute_definitions(def(attr::ID, ScalarAttributeType::S)?)
            .send()
            .await
            .map_err(|e| {
                StoreError::Unavailable(format!(
                    "create {name}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                ))
            })?;
    }
    Ok(())
}
