//! publish-events with the sample stream batch of `events/dynamodb/`,
//! against the emulator: public events on an EventBridge bus (read back
//! through a rule's SQS target), and signed deliveries to a receiver.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use aws_lambda_events::event::dynamodb::Event;
use event_store_dynamodb::webhooks::{DynamoWebhooks, WebhookTable, create_webhook_table};
use ledger_domain::TenantId;
use tenant_webhooks::endpoints::{self, Registration};
use tenant_webhooks::signing::verify;
use tenant_webhooks::{Deliverer, UrlPolicy};

fn fixture(name: &str) -> Event {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../events/dynamodb")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

type Got = Arc<Mutex<Vec<(String, String)>>>;

async fn receiver() -> (String, Got) {
    let got: Got = Arc::default();
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let signature = headers
                    .get("ledger-signature")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                kept.lock().unwrap().push((signature, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_batch_goes_to_the_bus_and_to_subscribed_receivers_once() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let config = emulator.sdk_config();
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let table = WebhookTable::with_prefix("pub-");
    create_webhook_table(&dynamodb, &table.name).await.unwrap();
    let webhooks = DynamoWebhooks::new(dynamodb, table);

    // The bus, and a rule sending the matured commissions to a queue.
    let events = aws_sdk_eventbridge::Client::new(&config);
    events
        .create_event_bus()
        .name("ledger-test")
        .send()
        .await
        .unwrap();
    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue_url = sqs
        .create_queue()
        .queue_name("matured")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    events
        .put_rule()
        .name("matured")
        .event_bus_name("ledger-test")
        .event_pattern(r#"{"source": ["affiliate-ledger"], "detail-type": ["commission.matured"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("matured")
        .event_bus_name("ledger-test")
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("q")
                .arn(&queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let bus = publish_events::Bus {
        client: events,
        name: "ledger-test".into(),
    };

    // A receiver for the recorded commissions of acme, and one of another
    // tenant for everything.
    let (url, got) = receiver().await;
    let (_, secret) = endpoints::register(
        &webhooks,
        &TenantId::new("acme").unwrap(),
        Registration {
            url,
            event_types: vec!["commission.recorded".into()],
            description: String::new(),
        },
        UrlPolicy::Development,
        chrono::Utc::now(),
    )
    .await
    .unwrap();
    let (other_url, other_got) = receiver().await;
    endpoints::register(
        &webhooks,
        &TenantId::new("globex").unwrap(),
        Registration {
            url: other_url,
            event_types: ledger_domain::public::PUBLIC_EVENT_TYPES
                .iter()
                .map(|t| t.to_string())
                .collect(),
            description: String::new(),
        },
        UrlPolicy::Development,
        chrono::Utc::now(),
    )
    .await
    .unwrap();

    let deliverer = Deliverer::new(UrlPolicy::Development);
    let batch = fixture("stream-batch.json");
    let done = publish_events::handle_stream(&batch, Some(&bus), &webhooks, &deliverer)
        .await
        .unwrap();
    assert_eq!((done.public_events, done.on_bus, done.queued), (3, 3, 2));
    assert_eq!(done.deliveries.delivered, 2);
    let received = got.lock().unwrap().clone();
    assert_eq!(received.len(), 2);
    for (signature, body) in &received {
        verify(
            signature,
            &secret,
            body.as_bytes(),
            chrono::Utc::now().timestamp(),
            300,
        )
        .unwrap();
        let event: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(event["type"], "commission.recorded");
    }
    assert!(
        other_got.lock().unwrap().is_empty(),
        "another tenant's receiver"
    );

    // The bus routed the matured commission to the queue, as the public event.
    let mut routed = Vec::new();
    for _ in 0..10 {
        let out = sqs
            .receive_message()
            .queue_url(&queue_url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        routed.extend(out.messages.unwrap_or_default());
        if !routed.is_empty() {
            break;
        }
    }
    assert_eq!(routed.len(), 1, "{routed:?}");
    let envelope: serde_json::Value = serde_json::from_str(routed[0].body().unwrap()).unwrap();
    assert_eq!(envelope["source"], "affiliate-ledger");
    assert_eq!(envelope["detail-type"], "commission.matured");
    assert_eq!(envelope["detail"]["data"]["commission_id"], "c-7001");
    assert_eq!(envelope["detail"]["tenant_id"], "acme");

    // Lambda delivering the same batch again queues and sends nothing twice.
    let again = publish_events::handle_stream(&batch, Some(&bus), &webhooks, &deliverer)
        .await
        .unwrap();
    assert_eq!((again.queued, again.deliveries.delivered), (0, 0));
    assert_eq!(got.lock().unwrap().len(), 2);

    // An unreadable record fails the batch (retried by Lambda), never skipped.
    let broken = fixture("stream-batch-with-unreadable-record.json");
    assert!(
        publish_events::handle_stream(&broken, Some(&bus), &webhooks, &deliverer)
            .await
            .is_err()
    );
}
