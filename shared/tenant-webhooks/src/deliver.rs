//! Sending due deliveries: signed, with a timeout, one endpoint's
//! deliveries in event order, endpoints side by side so a slow or failing
//! receiver delays only itself.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use event_store::StoreError;
use event_store::webhooks::{Attempt, Delivery, DeliveryStatus, Endpoint, WebhookStore};
use futures::StreamExt;

use crate::address::{self, UrlPolicy};
use crate::retry::{RetryPolicy, jitter};
use crate::signing::{SIGNATURE_HEADER, sign};

/// The header naming the public event (deduplicate on it).
pub const EVENT_ID_HEADER: &str = "Ledger-Event-Id";
pub const EVENT_TYPE_HEADER: &str = "Ledger-Event-Type";
/// 1 for the first attempt.
pub const ATTEMPT_HEADER: &str = "Ledger-Delivery-Attempt";
/// How long a receiver may take to answer.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How many endpoints are delivered to at once.
pub const ENDPOINTS_IN_PARALLEL: usize = 16;
/// The longest error text kept per attempt.
const ERROR_LEN_MAX: usize = 300;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DeliveryReport {
    pub delivered: usize,
    pub failed: usize,
    pub parked: usize,
    /// Deliveries brought forward because their endpoint answered again.
    pub resumed: usize,
}

impl DeliveryReport {
    fn add(&mut self, other: DeliveryReport) {
        self.delivered += other.delivered;
        self.failed += other.failed;
        self.parked += other.parked;
        self.resumed += other.resumed;
    }
}

/// Sends deliveries.
#[derive(Debug, Clone)]
pub struct Deliverer {
    pub policy: UrlPolicy,
    pub retry: RetryPolicy,
    pub timeout: Duration,
}

impl Deliverer {
    pub fn new(policy: UrlPolicy) -> Self {
        // reqwest's rustls needs a process-wide provider; installing it twice is harmless.
        let _ = rustls::crypto::ring::default_provider().install_default();
        Deliverer {
            policy,
            retry: RetryPolicy::default(),
            timeout: DELIVERY_TIMEOUT,
        }
    }

    /// Sends every delivery due at `now` (at most `limit`).
    pub async fn deliver_due(
        &self,
        store: &dyn WebhookStore,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<DeliveryReport, StoreError> {
        let due = store.due(now, limit).await?;
        self.deliver(store, due, now).await
    }

    /// Sends the given deliveries (due ones a caller already holds).
    pub async fn deliver(
        &self,
        store: &dyn WebhookStore,
        deliveries: Vec<Delivery>,
        now: DateTime<Utc>,
    ) -> Result<DeliveryReport, StoreError> {
        let mut by_endpoint: BTreeMap<(String, String), Vec<Delivery>> = BTreeMap::new();
        for d in deliveries {
            by_endpoint
                .entry((d.tenant_id.to_string(), d.endpoint_id.clone()))
                .or_default()
                .push(d);
        }
        let mut report = DeliveryReport::default();
        let mut rounds = futures::stream::iter(by_endpoint.into_values())
            .map(|mut group| async move {
                group.sort_by(|a, b| a.event_id.cmp(&b.event_id));
                self.deliver_to_endpoint(store, group, now).await
            })
            .buffer_unordered(ENDPOINTS_IN_PARALLEL);
        let mut first_error = None;
        while let Some(done) = rounds.next().await {
            match done {
                Ok(r) => report.add(r),
                Err(e) => {
                    tracing::warn!(error = %e, "webhook deliveries of one endpoint were not recorded");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) if report == DeliveryReport::default() => Err(e),
            _ => Ok(report),
        }
    }

    async fn deliver_to_endpoint(
        &self,
        store: &dyn WebhookStore,
        group: Vec<Delivery>,
        now: DateTime<Utc>,
    ) -> Result<DeliveryReport, StoreError> {
        let mut report = DeliveryReport::default();
        let Some(first) = group.first() else {
            return Ok(report);
        };
        let endpoint = store.endpoint(&first.tenant_id, &first.endpoint_id).await?;
        let endpoint = match endpoint {
            Some(e) if e.enabled => e,
            gone => {
                // Disabled or removed: parked, to be replayed once enabled.
                let why = if gone.is_some() {
                    "the endpoint is disabled"
                } else {
                    "the endpoint no longer exists"
                };
                for mut d in group {
                    record(&mut d, now, None, 0, Some(why.to_owned()), None);
                    save(store, &d).await?;
                    report.parked += 1;
                }
                return Ok(report);
            }
        };
        // Checked (again) before every round, and the connection goes to
        // the address that was checked.
        let client = match address::resolve(&endpoint.url, self.policy).await {
            Ok(target) => reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(Duration::from_secs(5))
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!(
                    "affiliate-ledger-webhooks/",
                    env!("CARGO_PKG_VERSION")
                ))
                .resolve(&target.host, target.address)
                .build()
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("url: {e}")),
        };
        let mut failed = false;
        for mut d in group {
            if failed {
                // The endpoint failed this round: the rest wait for the next,
                // untouched, so one endpoint's order is kept.
                break;
            }
            let attempt = d.attempts + 1;
            let started = Instant::now();
            let outcome = match &client {
                Ok(client) => self.post(client, &endpoint, &d, attempt, now).await,
                Err(e) => Err((None, e.clone())),
            };
            let latency = started.elapsed().as_millis() as u64;
            match outcome {
                Ok(status) => {
                    record(&mut d, now, Some(status), latency, None, None);
                    d.status = DeliveryStatus::Delivered;
                    d.delivered_at = Some(now);
                    d.next_attempt_at = None;
                    report.delivered += 1;
                }
                Err((status, error)) => {
                    failed = true;
                    let next = self
                        .retry
                        .next_attempt(attempt, d.created_at, now, jitter());
                    record(&mut d, now, status, latency, Some(error), next);
                    if next.is_none() {
                        report.parked += 1;
                        tracing::warn!(endpoint = %d.endpoint_id, event = %d.event_id, attempts = d.attempts, "webhook delivery parked");
                    } else {
                        report.failed += 1;
                    }
                }
            }
            save(store, &d).await?;
        }
        if report.delivered > 0 {
            report.resumed += self.resume(store, &endpoint, now).await?;
        }
        Ok(report)
    }

    /// The endpoint answered: its deliveries waiting out a backoff are due
    /// now, so a receiver that was down gets its backlog as soon as it is
    /// back, not an hour later.
    async fn resume(
        &self,
        store: &dyn WebhookStore,
        endpoint: &Endpoint,
        now: DateTime<Utc>,
    ) -> Result<usize, StoreError> {
        let page = store
            .deliveries(
                &endpoint.tenant_id,
                &endpoint.endpoint_id,
                Some(DeliveryStatus::Pending),
                None,
                event_store::webhooks::DELIVERY_PAGE_MAX,
            )
            .await?;
        let mut resumed = 0;
        for mut d in page.deliveries {
            if d.next_attempt_at.is_some_and(|at| at > now) {
                d.next_attempt_at = Some(now);
                d.version += 1;
                match store.save_delivery(&d).await {
                    Ok(()) => resumed += 1,
                    Err(StoreError::VersionConflict { .. }) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(resumed)
    }

    async fn post(
        &self,
        client: &reqwest::Client,
        endpoint: &Endpoint,
        delivery: &Delivery,
        attempt: u32,
        now: DateTime<Utc>,
    ) -> Result<u16, (Option<u16>, String)> {
        let secrets = endpoint.signing_secrets(now);
        let signature = sign(&secrets, now.timestamp(), delivery.payload.as_bytes());
        let response = client
            .post(endpoint.url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(SIGNATURE_HEADER, signature)
            .header(EVENT_ID_HEADER, &delivery.event_id)
            .header(EVENT_TYPE_HEADER, &delivery.event_type)
            .header(ATTEMPT_HEADER, attempt.to_string())
            .body(delivery.payload.clone())
            .send()
            .await
            .map_err(|e| (None, short(&describe(&e))))?;
        let status = response.status();
        if status.is_success() {
            Ok(status.as_u16())
        } else {
            let body = response.text().await.unwrap_or_default();
            Err((
                Some(status.as_u16()),
                short(&format!("the receiver answered {status}: {body}")),
            ))
        }
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        format!("could not connect: {e}")
    } else {
        e.to_string()
    }
}

fn short(text: &str) -> String {
    text.chars().take(ERROR_LEN_MAX).collect()
}

/// Adds an attempt to `d`: with `next` set it stays pending until then;
/// a failure with no `next` parks it.
fn record(
    d: &mut Delivery,
    now: DateTime<Utc>,
    status_code: Option<u16>,
    latency_ms: u64,
    error: Option<String>,
    next: Option<DateTime<Utc>>,
) {
    let failed = error.is_some();
    d.push_attempt(Attempt {
        attempt: d.attempts + 1,
        at: now,
        status_code,
        latency_ms,
        error,
    });
    if failed {
        d.next_attempt_at = next;
        if next.is_none() {
            d.status = DeliveryStatus::Parked;
        }
    }
    d.version += 1;
}

async fn save(store: &dyn WebhookStore, d: &Delivery) -> Result<(), StoreError> {
    match store.save_delivery(d).await {
        // Another worker recorded this attempt first: its record stands.
        Err(StoreError::VersionConflict { .. }) => Ok(()),
        other => other,
    }
}
