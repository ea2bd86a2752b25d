//! The webhooks Lambda: API Gateway HTTP API routes without the JWT
//! authorizer (processors sign their requests instead).

use std::sync::Arc;

use lambda_edge::config::{aws_from_env, init_logging, store_from_env};
use processor_webhooks::{WebhookState, now, router, secrets};

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    init_logging();
    processors::install_crypto_provider();
    let config = aws_from_env().await;
    let store = store_from_env(&config)?;
    // Each tenant's own endpoints (`/v1/webhooks/{processor}/{tenant_id}`)
    // where the deployment keeps processor accounts per tenant.
    let tenants = processors::credentials::tenant_secrets_from_env(
        &config,
        processors::credentials::Settings::from_env(None),
    )
    .map(Arc::new);
    let paypal: Option<Arc<dyn processors::webhooks::PaypalVerifier>> = match (
        std::env::var("PAYPAL_CLIENT_ID"),
        std::env::var("PAYPAL_SECRET"),
        std::env::var("PAYPAL_WEBHOOK_ID"),
    ) {
        (Ok(id), Ok(secret), Ok(webhook)) if !id.is_empty() && !webhook.is_empty() => {
            let base = std::env::var("PAYPAL_API_BASE")
                .unwrap_or_else(|_| processors::paypal::PAYPAL_LIVE.to_owned());
            let payouts = processors::paypal::PaypalPayouts::new(&base, &id, &secret)?;
            Some(Arc::new(processors::webhooks::PaypalEndpointVerifier::new(
                payouts, &webhook,
            )))
        }
        _ => None,
    };
    lambda_http::run(router(Arc::new(WebhookState {
        store,
        stripe_secrets: secrets("STRIPE_WEBHOOK_SECRETS"),
        sandbox_secrets: secrets("SANDBOX_WEBHOOK_SECRETS"),
        paypal,
        tenants,
        clock: now,
    })))
    .await
}
