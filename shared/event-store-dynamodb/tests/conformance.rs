//! The conformance suite against DynamoDB, on the AWS API emulator started
//! by this test binary on a free loopback port. Each test gets its own
//! tables, created by the same code the bootstrap command uses.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_emulator::Emulator;
use event_store_dynamodb::DynamoEventStore;
use event_store_dynamodb::schema::{Tables, create_tables};

fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        Emulator::start().unwrap_or_else(|e| panic!("the DynamoDB tests need the emulator: {e}"))
    })
}

async fn fresh_store() -> DynamoEventStore {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let config = emulator().sdk_config();
    let tables = Tables::with_prefix(&format!("conf{}-", NEXT.fetch_add(1, Ordering::Relaxed)));
    let store = DynamoEventStore::from_config(&config, tables.clone(), None);
    create_tables(store.client(), &tables)
        .await
        .expect("create tables");
    store
}

event_store_conformance::conformance_suite!(fresh_store().await);
