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
async fn stream_batches_project_once_and_unreadable_records_are_parked() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let client = aws_sdk_dynamodb::Client::new(&emulator.sdk_config());
    let tables = ProjectionTables::with_prefix("stream-");
    create_projection_tables(&client, &tables).await.unwrap();
    let projection = DynamoProjection::new(client, tables);

    let outcome = project_ledger::handle(&projection, fixture("stream-batch.json")).await;
    assert!(outcome.response.batch_item_failures.is_empty());
    assert!(outcome.parked.is_empty());
    let anna = projection.balance(&owner("aff-anna"), "EUR").await.unwrap();
    assert_eq!((anna["pending"], anna["available"]), (0, -12000));
    let ben = projection.balance(&owner("aff-ben"), "EUR").await.unwrap();
    assert_eq!(ben["pending"], -8000);

    // Redelivered with an unreadable record (no payload) after it: the
    // known events do not move twice, the unreadable one is parked for its
    // tenant rather than skipped or retried forever, and the record after
    // it is projected.
    let outcome = project_ledger::handle(
        &projection,
        fixture("stream-batch-with-unreadable-record.json"),
    )
    .await;
    assert!(
        outcome.response.batch_item_failures.is_empty(),
        "{:?}",
        outcome.response
    );
    let parked: Vec<_> = outcome
        .parked
        .iter()
        .map(|p| {
            (
                p.tenant.as_str(),
                p.event.stream.as_str(),
                p.event.version,
                p.sequence_number.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        parked,
        vec![(
            "acme",
            "acme/commission/c-7003",
            1,
            Some("4421584500000000017450439094")
        )]
    );
    assert!(
        outcome.parked[0]
            .event
            .reason
            .contains("payload is missing"),
        "{:?}",
        outcome.parked
    );
    let tenant = TenantId::new("acme").unwrap();
    assert_eq!(projection.parked(&tenant).await.unwrap().len(), 1);
    let anna = projection.balance(&owner("aff-anna"), "EUR").await.unwrap();
    assert_eq!((anna["pending"], anna["available"]), (0, -12000));
    let ben = projection.balance(&owner("aff-ben"), "EUR").await.unwrap();
    assert_eq!(
        ben["pending"], -16000,
        "c-7004 comes after the unreadable record and is projected"
    );
}
