//! The webhook conformance section against the embedded store: the same
//! checks the DynamoDB adapter passes.

async fn fresh_store() -> event_store_sqlite::SqliteEventStore {
    event_store_sqlite::SqliteEventStore::in_memory().expect("an in-memory store")
}

event_store_conformance::webhook_conformance_suite!(fresh_store().await);
