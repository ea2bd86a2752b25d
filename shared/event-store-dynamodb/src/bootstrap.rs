//! Every table of the ledger on DynamoDB at an endpoint, created where
//! missing: what the tests, the local stack against an emulator and
//! `ledger-admin create-tables` start from.

use event_store::StoreError;

use crate::schema::{Tables, create_tables};

/// The event store and the ledger projection on DynamoDB at `config`'s
/// endpoint, with every table created (if missing) under `prefix`, by the
/// same code `ledger-admin create-tables` runs (the webhooks table too:
/// [`crate::webhooks::DynamoWebhooks`] reads it).
pub async fn ledger_on_dynamodb(
    config: &aws_config::SdkConfig,
    prefix: &str,
) -> Result<(crate::DynamoEventStore, crate::projection::DynamoProjection), StoreError> {
    use crate::projection::{DynamoProjection, ProjectionTables, create_projection_tables};
    let tables = Tables::with_prefix(prefix);
    let store = crate::DynamoEventStore::from_config(config, tables.clone(), None);
    create_tables(store.client(), &tables).await?;
    let projection_tables = ProjectionTables::with_prefix(prefix);
    create_projection_tables(store.client(), &projection_tables).await?;
    let webhooks = crate::webhooks::WebhookTable::with_prefix(prefix);
    crate::webhooks::create_webhook_table(store.client(), &webhooks.name).await?;
    let projection = DynamoProjection::new(store.client().clone(), projection_tables);
    Ok((store, projection))
}
