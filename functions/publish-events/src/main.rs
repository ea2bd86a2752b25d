//! The publish-events Lambda: the events table's stream (public events to
//! the bus and the webhooks), and a schedule (retries due).

use aws_lambda_events::event::dynamodb::Event as StreamEvent;
use lambda_edge::config::{aws_from_env, required_env, webhooks_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use tenant_webhooks::{Deliverer, UrlPolicy};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_edge::config::init_logging();
    let config = aws_from_env().await;
    let webhooks = webhooks_from_env(&config)?;
    let bus = publish_events::Bus {
        client: aws_sdk_eventbridge::Client::new(&config),
        name: required_env("EVENT_BUS_NAME")?,
    };
    let deliverer = Deliverer::new(UrlPolicy::Production);
    let (webhooks, bus, deliverer) = (&webhooks, &bus, &deliverer);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| async move {
        if event.payload.get("Records").is_some() {
            let stream: StreamEvent = serde_json::from_value(event.payload)?;
            let done =
                publish_events::handle_stream(&stream, Some(bus), webhooks, deliverer).await?;
            publish_events::emit(done.public_events, &done.deliveries);
            tracing::info!(
                public_events = done.public_events,
                on_bus = done.on_bus,
                queued = done.queued,
                delivered = done.deliveries.delivered,
                "published"
            );
            return Ok::<Value, Error>(Value::Null);
        }
        let report = publish_events::handle_schedule(webhooks, deliverer).await?;
        publish_events::emit(0, &report);
        Ok(serde_json::json!({
            "delivered": report.delivered,
            "failed": report.failed,
            "parked": report.parked,
        }))
    }))
    .await
}
