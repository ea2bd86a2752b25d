//! The webhook conformance section against DynamoDB, on the AWS API
//! emulator started by this test binary. Each test gets its own webhooks
//! table, created by the same code the bootstrap command uses.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use aws_emulator::Emulator;
use event_store_dynamodb::webhooks::{DynamoWebhooks, WebhookTable, create_webhook_table};

fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        Emulator::start().unwrap_or_else(|e| panic!("the DynamoDB tests need the emulator: {e}"))
    })
}

async fn fresh_store() -> DynamoWebhooks {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let config = emulator().sdk_config();
    let client = aws_sdk_dynamodb::Client::new(&config);
    let table =
        WebhookTable::with_prefix(&format!("hooks{}-", NEXT.fetch_add(1, Ordering::Relaxed)));
    create_webhook_table(&client, &table.name)
        .await
        .expect("create the webhooks table");
    DynamoWebhooks::new(client, table)
}

event_store_conformance::webhook_conformance_suite!(fresh_store().await);

/// A lost conditional write names the stored version: DynamoDB returns the
/// item it compared against.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_name_the_stored_version() {
    use chrono::{TimeZone, Utc};
    use event_store::StoreError;
    use event_store::webhooks::{Delivery, DeliveryStatus, WebhookStore};
    use ledger_domain::TenantId;

    let store = fresh_store().await;
    let at = Utc.timestamp_opt(1_780_000_000, 0).single().unwrap();
    let queued = Delivery {
        tenant_id: TenantId::new("acme").unwrap(),
        endpoint_id: "we_000000000000000000000001".to_owned(),
        event_id: ledger_domain::public::public_event_id("acme/commission/c-1", 1, 0, at),
        event_type: "commission.recorded".to_owned(),
        payload: "{}".to_owned(),
        status: DeliveryStatus::Pending,
        created_at: at,
        next_attempt_at: Some(at),
        delivered_at: None,
        attempts: 0,
        log: Vec::new(),
        version: 1,
    };
    store.enqueue(std::slice::from_ref(&queued)).await.unwrap();
    let mut saved = queued.clone();
    saved.version = 2;
    store.save_delivery(&saved).await.unwrap();
    let mut stale = queued.clone();
    stale.version = 2;
    stale.status = DeliveryStatus::Parked;
    let err = store.save_delivery(&stale).await.unwrap_err();
    assert_eq!(
        err,
        StoreError::VersionConflict {
            stream: format!(
                "webhook-delivery/{}/{}",
                queued.endpoint_id, queued.event_id
            ),
            expected: 1,
            actual: 2,
        }
    );
}
