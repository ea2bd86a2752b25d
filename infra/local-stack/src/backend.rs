//! Where the stack keeps the ledger, and how each backend is built: the
//! embedded SQLite file or DynamoDB, with the webhook stores and processor
//! webhook routes beside them.

use std::sync::Arc;

use axum::Router;
use event_store_sqlite::SqliteEventStore;

use crate::{StackError, sandbox_webhook_secret};

/// Where the stack keeps the ledger: the embedded SQLite file (the default),
/// or DynamoDB at an endpoint (the emulator, or AWS).
#[derive(Clone)]
pub enum Backend {
    Embedded(SqliteEventStore),
    Aws {
        store: event_store_dynamodb::DynamoEventStore,
        projection: event_store_dynamodb::projection::DynamoProjection,
    },
}

/// The projector's checkpoint on DynamoDB (a cursor on the events stream).
pub const AWS_PROJECTOR_CHECKPOINT: &str = "ledger-local-stack";

impl Backend {
    /// DynamoDB at an endpoint, creating the tables if asked.
    pub async fn aws(
        config: &aws_config::SdkConfig,
        table_prefix: &str,
        create_tables: bool,
    ) -> Result<Self, StackError> {
        use event_store_dynamodb::projection::{DynamoProjection, ProjectionTables};
        if create_tables {
            let (store, projection) =
                event_store_dynamodb::ledger_on_dynamodb(config, table_prefix).await?;
            return Ok(Backend::Aws { store, projection });
        }
        let store = event_store_dynamodb::DynamoEventStore::from_config(
            config,
            event_store_dynamodb::schema::Tables::with_prefix(table_prefix),
            None,
        );
        let projection = DynamoProjection::new(
            store.client().clone(),
            ProjectionTables::with_prefix(table_prefix),
        );
        Ok(Backend::Aws { store, projection })
    }

    /// Where tenants' webhook endpoints and deliveries are kept: beside
    /// the events (the SQLite file, or the `{prefix}webhooks` table).
    pub fn webhook_store(&self) -> Arc<dyn event_store::webhooks::WebhookStore> {
        match self {
            Backend::Embedded(store) => Arc::new(store.clone()),
            Backend::Aws { store, .. } => {
                let events = &store.tables().events;
                let prefix = events.strip_suffix("events").unwrap_or(events);
                Arc::new(event_store_dynamodb::webhooks::DynamoWebhooks::new(
                    store.client().clone(),
                    event_store_dynamodb::webhooks::WebhookTable::with_prefix(prefix),
                ))
            }
        }
    }
    /// The processor webhook routes, verifying as on AWS: Stripe with
    /// `STRIPE_WEBHOOK_SECRETS` if set, the sandbox with the stack's own
    /// sandbox secret.
    pub fn webhooks(&self, key: &[u8]) -> Router {
        // The same routes whichever store the events are in.
        fn routes<S: event_store::EventStore + 'static>(store: S, key: &[u8]) -> Router {
            processor_webhooks::router(Arc::new(processor_webhooks::WebhookState {
                store,
                stripe_secrets: processor_webhooks::secrets("STRIPE_WEBHOOK_SECRETS"),
                sandbox_secrets: vec![sandbox_webhook_secret(key)],
                paypal: None,
                tenants: None,
                clock: processor_webhooks::now,
            }))
        }
        match self {
            Backend::Embedded(store) => routes(store.clone(), key),
            Backend::Aws { store, .. } => routes(store.clone(), key),
        }
    }
}
