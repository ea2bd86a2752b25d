//! The payout pieces that speak AWS, against the emulator: approval sends
//! one SQS message per item to a real queue, the dispatch function takes
//! them as the SQS event source delivers them, the SEPA file lands in S3
//! with a conditional put that never overwrites it, and an unknown outcome
//! is left on the queue.

use std::sync::Arc;

use aws_sdk_s3::config::Builder as S3ConfigBuilder;
use chrono::Utc;
use ledger_app::payouts::{DispatchQueue, approve_batch, change_profile, draft_payouts};
use ledger_app::run_commission;
use ledger_domain::events::ApprovalAuthority;
use ledger_domain::profile::SandboxBehaviour;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, CommissionCommand, CommissionId, Currency,
    Money, PayoutMethod, PayoutRunId, ProfileChange, TenantId,
};
use processors::sepa::{Debtor, FileStore, SepaFiles};

fn ctx(actor: &str) -> CommandContext {
    let now = Utc::now();
    CommandContext {
        tenant_id: TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::User, actor).unwrap(),
        now,
        effective_at: now,
    }
}

/// SQS messages as the Lambda event source hands them over.
fn sqs_event(messages: &[aws_sdk_sqs::types::Message]) -> aws_lambda_events::event::sqs::SqsEvent {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": {"ApproximateReceiveCount": m
                    .attributes()
                    .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount))
                    .cloned()
                    .unwrap_or_else(|| "1".into())},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
            })
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_to_sqs_to_dispatch_to_s3() {
    let emulator = aws_emulator::Emulator::start().expect("the AWS tests need the emulator");
    let config = emulator.sdk_config();
    let (store, projection) = event_store_dynamodb::ledger_on_dynamodb(&config, "payaws-")
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = sqs
        .create_queue()
        .queue_name("dispatch")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let s3 = aws_sdk_s3::Client::from_conf(
        S3ConfigBuilder::from(&config)
            .force_path_style(true)
            .build(),
    );
    s3.create_bucket()
        .bucket("payout-files")
        .send()
        .await
        .unwrap();

    // Two affiliates with money: one paid by SEPA, one by the sandbox.
    for (affiliate, method) in [
        (
            "aff-dora",
            PayoutMethod::Sepa {
                iban: "DE89370400440532013000".into(),
                bic: None,
                account_holder: "Dora Lee".into(),
            },
        ),
        (
            "aff-eve",
            PayoutMethod::Sandbox {
                behaviour: SandboxBehaviour::TimeoutThenSettle,
            },
        ),
    ] {
        let id = CommissionId::new(format!("c-{affiliate}")).unwrap();
        let record = CommissionCommand::Record {
            commission_id: id.clone(),
            affiliate_id: AffiliateId::new(affiliate).unwrap(),
            amount: Money::parse("25.00", Currency::EUR).unwrap(),
            hold_period_days: 0,
            source_conversion_id: format!("conv-{affiliate}"),
            order_reference: None,
        };
        let mut early = ctx("tracker");
        early.effective_at -= chrono::Duration::hours(1);
        run_commission(&store, &id, record, &early, None)
            .await
            .unwrap();
        run_commission(
            &store,
            &id,
            CommissionCommand::Mature,
            &ctx("tracker"),
            None,
        )
        .await
        .unwrap();
        change_profile(
            &store,
            &AffiliateId::new(affiliate).unwrap(),
            ProfileChange::MethodSet { method },
            &ctx("maria"),
        )
        .await
        .unwrap();
    }
    // Project through the events table's stream, as the projector does.
    use event_store::EventStore;
    let mut cursor = None;
    loop {
        let page = store.read_all(cursor.as_ref(), 1000).await.unwrap();
        if page.events.is_empty() {
            break;
        }
        projection.project(&page.events).await.unwrap();
        cursor = Some(page.next);
    }

    let report = draft_payouts(
        &store,
        &projection,
        &ctx("maria"),
        &ledger_app::payouts::DraftOptions::new(PayoutRunId::new("run-aws").unwrap()),
    )
    .await
    .unwrap();
    assert_eq!(report.items, 2);
    let batch_id = report.batches[0].batch_id.clone();
    let queue: Arc<dyn DispatchQueue> = Arc::new(lambda_edge::config::SqsDispatchQueue::new(
        sqs.clone(),
        queue_url.clone(),
    ));
    let (_, queued) = approve_batch(
        &store,
        &*queue,
        &batch_id,
        ApprovalAuthority::Finance,
        &ledger_domain::ApprovalLimits::from_json(r#"{"EUR": {"batch_total_max": "1000000.00"}, "USD": {"batch_total_max": "1000000.00"}, "JPY": {"batch_total_max": "100000000"}, "KWD": {"batch_total_max": "1000000.000"}}"#).expect("test limits"),
        &ctx("omar"),
    )
    .await
    .unwrap();
    assert_eq!(queued, 2);

    let mut processors = local_stack::local_processors(None).unwrap();
    processors.sepa = Some(SepaFiles::new(
        Debtor::new(
            "Acme Affiliates",
            "DE02120300000000202051",
            Some("BYLADEM1001"),
        )
        .unwrap(),
        FileStore::S3 {
            client: s3.clone(),
            bucket: "payout-files".into(),
        },
    ));
    // Receive as the event source would, until both items are handled.
    let mut rounds = 0;
    let mut retried = 0;
    loop {
        rounds += 1;
        assert!(rounds < 20, "dispatch did not finish");
        let received = sqs
            .receive_message()
            .queue_url(&queue_url)
            .max_number_of_messages(10)
            .visibility_timeout(0)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
            .send()
            .await
            .unwrap();
        let messages = received.messages().to_vec();
        if messages.is_empty() {
            break;
        }
        let response =
            dispatch_payouts::handle_sqs(&store, &processors, sqs_event(&messages)).await;
        let failed: Vec<String> = response
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        retried += failed.len();
        for m in &messages {
            if !failed.iter().any(|f| Some(f.as_str()) == m.message_id()) {
                sqs.delete_message()
                    .queue_url(&queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }
    // The sandbox timed out after paying; asking it at once found the
    // payment, so nothing was left to retry and nothing was paid twice.
    assert_eq!(retried, 0);
    assert_eq!(processors.sandbox.as_ref().unwrap().payments().len(), 1);
    let batch = ledger_app::payouts::load_batch(&store, &TenantId::new("acme").unwrap(), &batch_id)
        .await
        .unwrap();
    let states: Vec<_> = batch
        .state()
        .unwrap()
        .items
        .iter()
        .map(|i| i.status)
        .collect();
    use ledger_domain::payout::ItemStatus;
    assert_eq!(states, vec![ItemStatus::Submitted, ItemStatus::Paid]);
    // The file is in S3, and a second write does not replace it.
    let key = format!("sepa/acme/{batch_id}/pain.001-EUR.xml");
    let object = s3
        .get_object()
        .bucket("payout-files")
        .key(&key)
        .send()
        .await
        .unwrap();
    let xml = object.body.collect().await.unwrap().into_bytes();
    let xml = String::from_utf8(xml.to_vec()).unwrap();
    assert!(
        xml.contains(r#"<InstdAmt Ccy="EUR">25.00</InstdAmt>"#),
        "{xml}"
    );
    assert!(!xml.contains("999.00"));
    use ledger_app::payouts::SubmitBatchFile;
    let sepa = processors.sepa.as_ref().unwrap();
    let intruder = ledger_app::payouts::PaymentOrder {
        tenant_id: TenantId::new("acme").unwrap(),
        batch_id: batch_id.clone(),
        item_id: ledger_domain::PayoutItemId::new("intruder").unwrap(),
        affiliate_id: AffiliateId::new("aff-mallory").unwrap(),
        amount: Money::parse("999.00", Currency::EUR).unwrap(),
        method: PayoutMethod::Sepa {
            iban: "FR1420041010050500013M02606".into(),
            bic: None,
            account_holder: "Mallory".into(),
        },
        idempotency_key: "acme:intruder".into(),
        reference: None,
    };
    let ids = sepa.write(&key, &[intruder]).await.unwrap();
    assert_eq!(ids, vec![format!("{batch_id}.1")], "the first file stands");
    let again = sepa
        .payment_ids(&key)
        .await
        .unwrap()
        .expect("the file is there");
    assert_eq!(again, vec![format!("{batch_id}.1")]);
}
