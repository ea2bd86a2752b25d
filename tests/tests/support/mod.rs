//! Helpers shared by the tests that drive the local stack over HTTP.

#![allow(dead_code)]

use std::time::Duration;

use axum::body::Body;
use http_body_util::BodyExt;
use serde_json::Value;

pub type HttpClient =
    hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Body>;

pub async fn call(
    client: &HttpClient,
    method: &str,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    // One key per distinct request: the same call again is a retry, and
    // another body under one key would be refused as a reused key.
    let key = {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::hash::DefaultHasher::new();
        (method, url, body.as_ref().map(Value::to_string)).hash(&mut hasher);
        format!("k-{:016x}", hasher.finish())
    };
    let mut request = axum::http::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {token}"))
        .header("idempotency-key", key);
    let body = match body {
        Some(b) => {
            request = request.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    let response = client.request(request.body(body).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// Polls `check` until it returns Some, for at most `seconds`.
pub async fn eventually<T, F, Fut>(seconds: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {seconds}s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub type Received = std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>;

/// A receiver that answers 200 and keeps (signature, event id, body).
pub async fn receiver() -> (String, Received) {
    let got: Received = Received::default();
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/hooks/ledger",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let kept = kept.clone();
            async move {
                let h = |n: &str| {
                    headers
                        .get(n)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default()
                        .to_owned()
                };
                kept.lock().unwrap().push((
                    h(tenant_webhooks::signing::SIGNATURE_HEADER),
                    h("ledger-event-id"),
                    body,
                ));
                "thanks"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/ledger", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, got)
}
