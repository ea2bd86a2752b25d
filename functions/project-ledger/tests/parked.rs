//! A projection that never skips, against the DynamoDB emulator: a poison
//! record is parked for its tenant (not skipped, not retried forever), the
//! rest of its batch is projected, drafting refuses for that tenant only,
//! and once the event is projected again (`retry_parked`, what
//! `ledger-admin projection retry` runs) drafting works again. Transient
//! failures and records naming no tenant are still reported for Lambda to
//! retry.

use aws_lambda_events::event::dynamodb::Event;
use chrono::{Duration, Utc};
use event_store::{EventStore, ParkedEvent, PayoutReads, StoredEvent};
use event_store_dynamodb::DynamoEventStore;
use event_store_dynamodb::projection::{DynamoProjection, ProjectionTables, RetryOutcome};
use ledger_app::AppError;
use ledger_app::payouts::{DraftOptions, change_profile, draft_payouts};
use ledger_app::run_commission;
use ledger_domain::profile::SandboxBehaviour;
use ledger_domain::projection::BalanceOwner;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, CommissionCommand, CommissionId, Currency,
    Money, PayoutMethod, PayoutRunId, ProfileChange, TenantId,
};
use serde_json::{Value, json};

fn tenant(t: &str) -> TenantId {
    TenantId::new(t).unwrap()
}

fn ctx(t: &str, actor: &str) -> CommandContext {
    let now = Utc::now();
    CommandContext {
        tenant_id: tenant(t),
        actor: Actor::new(ActorKind::User, actor).unwrap(),
        now,
        effective_at: now,
    }
}

/// 60 EUR earned and matured by `aff-1` of the tenant, paid by the sandbox.
async fn program(store: &DynamoEventStore, t: &str) {
    let id = CommissionId::new("c-1").unwrap();
    let record = CommissionCommand::Record {
        commission_id: id.clone(),
        affiliate_id: AffiliateId::new("aff-1").unwrap(),
        amount: Money::parse("60.00", Currency::EUR).unwrap(),
        hold_period_days: 0,
        source_conversion_id: "conv-1".into(),
        order_reference: None,
    };
    let mut early = ctx(t, "tracker");
    early.effective_at -= Duration::hours(1);
    run_commission(store, &id, record, &early, None)
        .await
        .unwrap();
    run_commission(
        store,
        &id,
        CommissionCommand::Mature,
        &ctx(t, "scheduler"),
        None,
    )
    .await
    .unwrap();
    change_profile(
        store,
        &AffiliateId::new("aff-1").unwrap(),
        ProfileChange::MethodSet {
            method: PayoutMethod::Sandbox {
                behaviour: SandboxBehaviour::Settle,
            },
        },
        &ctx(t, "finance"),
    )
    .await
    .unwrap();
}

async fn all_events(store: &DynamoEventStore) -> Vec<StoredEvent> {
    let mut events = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.read_all(cursor.as_ref(), 1000).await.unwrap();
        if page.events.is_empty() {
            return events;
        }
        events.extend(page.events);
        cursor = Some(page.next);
    }
}

fn sequence_number(n: usize) -> String {
    format!("{}", 4_421_584_500_000_000_017_450_439_000u128 + n as u128)
}

/// The stream records of `events` as Lambda hands them over, each image
/// through `image` (to spoil one).
fn stream_batch(events: &[StoredEvent], image: impl Fn(&StoredEvent, Value) -> Value) -> Event {
    let records: Vec<Value> = events
        .iter()
        .enumerate()
        .map(|(n, e)| {
            let keys = json!({
                "stream": {"S": e.stream.as_str()},
                "version": {"N": e.version.to_string()},
            });
            let new_image = json!({
                "stream": {"S": e.stream.as_str()},
                "version": {"N": e.version.to_string()},
                "event_type": {"S": e.event_type},
                "schema_version": {"N": e.schema_version.to_string()},
                "payload": {"S": e.payload},
                "payload_hash": {"S": e.payload_hash},
                "recorded_at": {"S": e.recorded_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)},
            });
            record(n, keys, image(e, new_image))
        })
        .collect();
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

fn record(n: usize, keys: Value, new_image: Value) -> Value {
    json!({
        "eventID": format!("event-{n}"),
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": Utc::now().timestamp(),
            "Keys": keys,
            "NewImage": new_image,
            "SequenceNumber": sequence_number(n),
            "SizeBytes": 700,
            "StreamViewType": "NEW_IMAGE",
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/ledger-events/stream/2026-11-01T00:00:00.000",
    })
}

fn is_poison(e: &StoredEvent) -> bool {
    e.stream.as_str() == "acme/commission/c-1" && e.event_type == "commission.matured"
}

/// The acme maturity's image carries a payload that is not an event.
fn poisoned(e: &StoredEvent, mut image: Value) -> Value {
    if is_poison(e) {
        image["payload"] = json!({"S": "{\"not\": \"an event\"}"});
    }
    image
}

async fn fields(projection: &DynamoProjection, t: &str) -> (i64, i64) {
    let owner = BalanceOwner::Affiliate {
        tenant_id: tenant(t),
        affiliate_id: AffiliateId::new("aff-1").unwrap(),
    };
    let row = projection.balance(&owner, "EUR").await.unwrap();
    (
        row.get("pending").copied().unwrap_or(0),
        row.get("available").copied().unwrap_or(0),
    )
}

async fn draft(
    store: &DynamoEventStore,
    projection: &DynamoProjection,
    t: &str,
    run: &str,
) -> Result<ledger_app::payouts::DraftReport, AppError> {
    draft_payouts(
        store,
        projection,
        &ctx(t, "maria"),
        &DraftOptions::new(PayoutRunId::new(run).unwrap()),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_poison_record_is_parked_drafting_refuses_for_its_tenant_until_it_is_retried() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let (store, projection) =
        event_store_dynamodb::ledger_on_dynamodb(&emulator.sdk_config(), "parked-")
            .await
            .unwrap();
    program(&store, "acme").await;
    program(&store, "globex").await;
    let events = all_events(&store).await;
    assert_eq!(events.len(), 6);
    let poison = events.iter().find(|e| is_poison(e)).unwrap().clone();
    // The poison record sits before events of both tenants.
    assert!(events.iter().position(is_poison).unwrap() < events.len() - 1);

    // (a) Parked, not skipped and not reported: the rest of the batch is
    // projected.
    let outcome = project_ledger::handle(&projection, stream_batch(&events, poisoned)).await;
    assert!(
        outcome.response.batch_item_failures.is_empty(),
        "{:?}",
        outcome.response
    );
    assert_eq!(outcome.parked.len(), 1, "{:?}", outcome.parked);
    let parked = &outcome.parked[0];
    assert_eq!(parked.tenant, "acme");
    assert_eq!(
        (parked.event.stream.as_str(), parked.event.version),
        (poison.stream.as_str(), poison.version)
    );
    assert!(parked.event.reason.contains("cannot be read"), "{parked:?}");
    let doc = outcome.metrics.document(0);
    assert_eq!(doc["ProjectionParked"], 1.0, "{doc}");
    assert_eq!(doc["EventsProjected"], 5.0, "{doc}");
    assert!(
        doc["ProjectionLag"].is_number(),
        "the batch finished: {doc}"
    );
    assert_eq!(
        fields(&projection, "acme").await,
        (-6000, 0),
        "acme's commission is projected, its maturity parked"
    );
    assert_eq!(fields(&projection, "globex").await, (0, -6000));
    let listed = projection.parked_events(&tenant("acme")).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].stream, poison.stream.as_str());
    assert!(
        projection
            .parked_events(&tenant("globex"))
            .await
            .unwrap()
            .is_empty()
    );

    // Redelivered: nothing moves twice, the park is kept once.
    let again = project_ledger::handle(&projection, stream_batch(&events, poisoned)).await;
    assert!(again.response.batch_item_failures.is_empty());
    assert_eq!(fields(&projection, "globex").await, (0, -6000));
    assert_eq!(
        projection.parked(&tenant("acme")).await.unwrap(),
        listed,
        "the first park is kept"
    );

    // (b) Drafting refuses for acme, naming the stream and the command;
    // globex drafts.
    match draft(&store, &projection, "acme", "run-1").await {
        Err(e @ AppError::ProjectionParked { .. }) => {
            let AppError::ProjectionParked {
                stream,
                version,
                count,
                ..
            } = &e
            else {
                unreachable!()
            };
            assert_eq!(
                (stream.as_str(), *version, *count),
                (poison.stream.as_str(), poison.version, 1)
            );
            assert!(
                e.to_string()
                    .contains("ledger-admin projection retry --tenant acme"),
                "{e}"
            );
        }
        other => panic!("acme drafted with a parked event: {other:?}"),
    }
    let globex = draft(&store, &projection, "globex", "run-1").await.unwrap();
    assert_eq!((globex.batches.len(), globex.items), (1, 1));

    // (c) The event in the events table is readable: the retry projects it
    // and clears the park; drafting works again.
    let outcomes = projection
        .retry_parked(&store, &tenant("acme"))
        .await
        .unwrap();
    assert_eq!(
        outcomes,
        vec![RetryOutcome::Projected {
            stream: poison.stream.to_string(),
            version: poison.version,
            already_projected: false,
        }]
    );
    assert!(projection.parked(&tenant("acme")).await.unwrap().is_empty());
    assert_eq!(fields(&projection, "acme").await, (0, -6000));
    let acme = draft(&store, &projection, "acme", "run-2").await.unwrap();
    assert_eq!((acme.batches.len(), acme.items), (1, 1));

    // A parked event the retry cannot project stays parked, and drafting
    // keeps refusing.
    let missing = ParkedEvent {
        stream: "initech/commission/c-404".into(),
        version: 1,
        reason: "test".into(),
        parked_at: Utc::now().to_rfc3339(),
    };
    projection
        .park(&tenant("initech"), &missing, None)
        .await
        .unwrap();
    let outcomes = projection
        .retry_parked(&store, &tenant("initech"))
        .await
        .unwrap();
    assert!(
        matches!(&outcomes[..], [RetryOutcome::Missing { stream, version: 1 }] if stream == "initech/commission/c-404"),
        "{outcomes:?}"
    );
    assert_eq!(
        projection.parked(&tenant("initech")).await.unwrap().len(),
        1
    );
    assert!(matches!(
        draft(&store, &projection, "initech", "run-1").await,
        Err(AppError::ProjectionParked { .. })
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_failures_and_records_naming_no_tenant_are_reported_not_parked() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let (store, projection) =
        event_store_dynamodb::ledger_on_dynamodb(&emulator.sdk_config(), "transient-")
            .await
            .unwrap();
    program(&store, "acme").await;
    let events = all_events(&store).await;

    // (d) A journal table that does not exist: a transient failure (an
    // operator fixes it without touching the events), though the balances
    // table a park would go to is there. The first record is reported,
    // nothing is parked, no lag is reported.
    let mut tables = ProjectionTables::with_prefix("transient-");
    tables.journal = "missing-journal".into();
    let missing = DynamoProjection::new(store.client().clone(), tables);
    let outcome = project_ledger::handle(&missing, stream_batch(&events, poisoned)).await;
    let failed: Vec<_> = outcome
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, vec![Some(sequence_number(0))]);
    assert!(outcome.parked.is_empty());
    let doc = outcome.metrics.document(0);
    assert!(doc.get("ProjectionParked").is_none(), "{doc}");
    assert!(doc.get("ProjectionLag").is_none(), "{doc}");
    assert!(projection.parked(&tenant("acme")).await.unwrap().is_empty());

    // A record without stream or version (no image, no keys): its tenant is
    // unknown, so it is reported; what came before it is projected.
    let recorded: Vec<StoredEvent> = events
        .iter()
        .filter(|e| e.event_type == "commission.recorded")
        .cloned()
        .collect();
    let mut batch = stream_batch(&recorded, |_, image| image);
    let blank: aws_lambda_events::event::dynamodb::EventRecord =
        serde_json::from_value(record(1, json!({}), json!({}))).unwrap();
    batch.records.push(blank);
    let outcome = project_ledger::handle(&projection, batch).await;
    let failed: Vec<_> = outcome
        .response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(failed, vec![Some(sequence_number(1))]);
    assert!(outcome.parked.is_empty());
    assert_eq!(fields(&projection, "acme").await, (-6000, 0));
    assert!(projection.parked(&tenant("acme")).await.unwrap().is_empty());
}
