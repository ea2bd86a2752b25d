//! project-ledger with the sample stream batches of `events/dynamodb/`,
//! against the DynamoDB emulator.

use std::path::PathBuf;

use aws_lambda_events::event::dynamodb::Event;
use event_store_dynamodb::projection::{
    DynamoProjection, ProjectionTables, create_projection_tables,
};
use ledger_domain::projection::BalanceOwner;
use ledger_domain::{AffiliateId, TenantId};

fn fixture(name: &str) -> Event {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/dynamodb")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn owner(affiliate: &str) -> BalanceOwner {
    BalanceOwner::Affiliate {
        tenant_id: TenantId::new("acme").unwrap(),
        affiliate_id: AffiliateId::new(affiliate).unwrap(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_batches_project_once_and_unreadable_records_are_reported() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let client = aws_sdk_dynamodb::Client::new(&emulator.sdk_config());
    let tables = ProjectionTables::with_prefix("stream-");
    create_projection_tables(&client, &tables).await.unwrap();
    let projection = DynamoProjection::new(client, tables);

    let response = project_ledger::handle(&projection, fixture("stream-batch.json")).await;
    assert!(response.batch_item_failures.is_empty());
    let anna = projection.balance(&owner("aff-anna"), "EUR").await.unwrap();
    assert_eq!((anna["pending"], anna["available"]), (0, -12000));
    let ben = projection.balance(&owner("aff-ben"), "EUR").await.unwrap();
    assert_eq!(ben["pending"], -8000);

    // Redelivered with an unreadable record after it: the known events do not
    // move twice, the unreadable one is reported, nothing after it is taken.
    let response = project_ledger::handle(
        &projection,
        fixture("stream-batch-with-unreadable-record.json"),
    )
    .await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        failed,
        vec![Some("4421584500000000017450439094".to_owned())]
    );
    let anna = projection.balance(&owner("aff-anna"), "EUR").await.unwrap();
    assert_eq!((anna["pending"], anna["available"]), (0, -12000));
    let ben = projection.balance(&owner("aff-ben"), "EUR").await.unwrap();
    assert_eq!(
        ben["pending"], -8000,
        "c-7004 comes after the unreadable record and waits for the retry"
    );
}
