//! The local sandbox processor's notifications: the secret they are signed
//! with, and their delivery to the webhook route.

use axum::Router;
use axum::body::Body;

/// The secret the local sandbox signs its notifications with, derived from
/// the stack's development key.
pub fn sandbox_webhook_secret(key: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(key);
    hasher.update(b"sandbox-webhooks");
    format!("sbx_{}", hex::encode(hasher.finalize()))
}

/// Posts the sandbox's pending notifications, signed, to the webhook
/// route: the same verification path as a real processor's.
pub(crate) async fn deliver_sandbox_notifications(
    webhooks: &Router,
    processors: &processors::Processors,
    secret: &str,
) -> usize {
    use tower::ServiceExt;
    let Some(sandbox) = &processors.sandbox else {
        return 0;
    };
    let notes = sandbox.take_notifications();
    for body in &notes {
        let signature = processors::webhooks::stripe_signature_header(
            secret,
            chrono::Utc::now().timestamp(),
            body.as_bytes(),
        );
        let request = axum::http::Request::builder()
            .method("POST")
            .uri("/v1/webhooks/sandbox")
            .header("content-type", "application/json")
            .header("sandbox-signature", signature)
            .body(Body::from(body.clone()));
        let Ok(request) = request else { continue };
        match webhooks.clone().oneshot(request).await {
            Ok(response) if response.status().is_success() => {}
            Ok(response) => {
                tracing::warn!(status = %response.status(), "sandbox notification refused")
            }
            Err(e) => tracing::warn!(error = %e, "sandbox notification not delivered"),
        }
    }
    notes.len()
}
