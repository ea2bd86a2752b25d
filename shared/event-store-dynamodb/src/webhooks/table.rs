//! Creating the webhooks table and its `due` index.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType,
};
use event_store::StoreError;

use super::{DUE_INDEX, attr};
use crate::{build_error, sdk_error};

/// Creates the webhooks table with its `due` index if it does not exist
/// (on-demand billing).
pub async fn create_webhook_table(client: &Client, name: &str) -> Result<(), StoreError> {
    if crate::schema::table_exists(client, name).await? {
        return Ok(());
    }
    let key = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(build_error)
    };
    let def = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build_error)
    };
    let due = GlobalSecondaryIndex::builder()
        .index_name(DUE_INDEX)
        .key_schema(key(attr::DUE_SHARD, KeyType::Hash)?)
        .key_schema(key(attr::DUE_AT, KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(build_error)?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(attr::PK, KeyType::Hash)?)
        .key_schema(key(attr::SK, KeyType::Range)?)
        .attribute_definitions(def(attr::PK)?)
        .attribute_definitions(def(attr::SK)?)
        .attribute_definitions(def(attr::DUE_SHARD)?)
        .attribute_definitions(def(attr::DUE_AT)?)
        .global_secondary_indexes(due)
        .send()
        .await
        .map_err(|e| sdk_error(&format!("create {name}"), e))?;
    Ok(())
}
