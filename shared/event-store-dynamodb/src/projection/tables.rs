//! Creating the projection's tables, and adding the tenant index to a
//! balances table from before it.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, ScalarAttributeType,
};
use event_store::StoreError;

use super::{
    MATURITY_SHARDED, ProjectionTables, TENANT_ATTRIBUTE, TENANT_INDEX, build, s, schedule, sdk,
};

fn key_element(name: &str, kind: KeyType) -> Result<KeySchemaElement, StoreError> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .map_err(build)
}

fn string_attribute(name: &str) -> Result<AttributeDefinition, StoreError> {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(ScalarAttributeType::S)
        .build()
        .map_err(build)
}

/// The tenant index's key schema and projection (keys only).
fn tenant_index_shape() -> Result<(Vec<KeySchemaElement>, Projection), StoreError> {
    Ok((
        vec![
            key_element(TENANT_ATTRIBUTE, KeyType::Hash)?,
            key_element("owner", KeyType::Range)?,
        ],
        Projection::builder()
            .projection_type(ProjectionType::KeysOnly)
            .build(),
    ))
}

/// Creates the projection tables if they do not exist.
pub async fn create_projection_tables(
    client: &Client,
    tables: &ProjectionTables,
) -> Result<(), StoreError> {
    for (name, hash, sort) in [
        (&tables.balances, "owner", Some("currency")),
        (&tables.journal, "owner", Some("line")),
        (&tables.projected, "id", None),
        (&tables.maturities, "day", Some("due")),
    ] {
        if crate::schema::table_exists(client, name).await? {
            if name == &tables.balances {
                add_tenant_index(client, name).await?;
            }
            continue;
        }
        let mut request = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key_element(hash, KeyType::Hash)?)
            .attribute_definitions(string_attribute(hash)?);
        if let Some(sort) = sort {
            request = request
                .key_schema(key_element(sort, KeyType::Range)?)
                .attribute_definitions(string_attribute(sort)?);
        }
        if name == &tables.balances {
            let (keys, projection) = tenant_index_shape()?;
            let index = GlobalSecondaryIndex::builder()
                .index_name(TENANT_INDEX)
                .set_key_schema(Some(keys))
                .projection(projection)
                .build()
                .map_err(build)?;
            request = request
                .attribute_definitions(string_attribute(TENANT_ATTRIBUTE)?)
                .global_secondary_indexes(index);
        }
        request
            .send()
            .await
            .map_err(|e| sdk(&format!("create {name}"), e))?;
        if name == &tables.maturities || name == &tables.journal {
            // A new table takes writes once it is active.
            use aws_sdk_dynamodb::client::Waiters;
            client
                .wait_until_table_exists()
                .table_name(name)
                .wait(std::time::Duration::from_secs(300))
                .await
                .map_err(|e| sdk(&format!("wait for {name}"), e))?;
        }
        if name == &tables.journal {
            // A new journal holds no line: it is sharded.
            super::journal::record_layout(
                client,
                name,
                super::JournalLayout::Sharded(super::JOURNAL_SHARDS),
            )
            .await?;
        }
        if name == &tables.maturities {
            // A new schedule has no entries by day.
            client
                .put_item()
                .table_name(name)
                .item("day", s(schedule::MATURITY_CURSOR_DAY))
                .item("due", s(schedule::MATURITY_CURSOR_DAY))
                .item(MATURITY_SHARDED, AttributeValue::Bool(true))
                .send()
                .await
                .map_err(|e| sdk(&format!("mark {name} sharded"), e))?;
        }
    }
    Ok(())
}

/// Adds the tenant index to a balances table created before it (DynamoDB
/// builds it in the background; rows written before it need
/// [`index_balance_rows`] to be listed).
async fn add_tenant_index(client: &Client, name: &str) -> Result<(), StoreError> {
    use aws_sdk_dynamodb::types::{CreateGlobalSecondaryIndexAction, GlobalSecondaryIndexUpdate};
    let described = client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .map_err(|e| sdk(&format!("describe {name}"), e))?;
    let has_index = described
        .table()
        .map(|t| t.global_secondary_indexes())
        .unwrap_or_default()
        .iter()
        .any(|i| i.index_name() == Some(TENANT_INDEX));
    if has_index {
        return Ok(());
    }
    let (keys, projection) = tenant_index_shape()?;
    let create = CreateGlobalSecondaryIndexAction::builder()
        .index_name(TENANT_INDEX)
        .set_key_schema(Some(keys))
        .projection(projection)
        .build()
        .map_err(build)?;
    client
        .update_table()
        .table_name(name)
        .attribute_definitions(string_attribute(TENANT_ATTRIBUTE)?)
        .attribute_definitions(string_attribute("owner")?)
        .global_secondary_index_updates(
            GlobalSecondaryIndexUpdate::builder().create(create).build(),
        )
        .send()
        .await
        .map_err(|e| sdk(&format!("add the tenant index to {name}"), e))?;
    Ok(())
}
