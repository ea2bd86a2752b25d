//! The webhook port: tenants' endpoints and the deliveries of public events
//! to them.
//!
//! The event log is the outbox: deliveries are derived from committed
//! events by a consumer with its own checkpoint, so an event committed is
//! an event delivered (at least once). What this port keeps is operational
//! state, not money: an endpoint's settings and secrets, and for each
//! (endpoint, event) its exact body, its status and its latest attempts.
//! It is mutable, but every change is conditional on the version read, so
//! two workers never record the same attempt twice.

use chrono::{DateTime, Utc};
use ledger_domain::TenantId;
use serde::{Deserialize, Serialize};

use crate::StoreError;

/// How many attempts a delivery keeps in its log (the latest ones; the
/// count of all of them is `attempts`).
pub const ATTEMPT_LOG_MAX: usize = 20;

/// One signing secret of an endpoint. During a rotation the previous one
/// stays valid until `expires_at`, and deliveries carry both signatures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningSecret {
    /// `whsec_` and 64 hex digits.
    pub secret: String,
    pub created_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A tenant's receiving endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub tenant_id: TenantId,
    /// `we_` and 24 hex digits.
    pub endpoint_id: String,
    pub url: String,
    /// The public event types it receives (sorted, no duplicates).
    pub event_types: Vec<String>,
    pub description: String,
    /// A disabled endpoint gets no new deliveries.
    pub enabled: bool,
    /// The current secret first, then any still valid during a rotation.
    pub secrets: Vec<SigningSecret>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// 1 when created; every update adds one.
    pub version: u64,
}

impl Endpoint {
    /// The secrets that sign a delivery made at `now`.
    pub fn signing_secrets(&self, now: DateTime<Utc>) -> Vec<&str> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .map(|s| s.secret.as_str())
            .collect()
    }

    /// Whether it takes events of this type.
    pub fn wants(&self, event_type: &str) -> bool {
        self.enabled && self.event_types.iter().any(|t| t == event_type)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Not delivered yet; tried again at `next_attempt_at`.
    Pending,
    /// The receiver answered 2xx.
    Delivered,
    /// Retried for the whole retry window without success: kept, shown,
    /// and sent again only when a person replays it.
    Parked,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Parked => "parked",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "pending" => Some(DeliveryStatus::Pending),
            "delivered" => Some(DeliveryStatus::Delivered),
            "parked" => Some(DeliveryStatus::Parked),
            _ => None,
        }
    }
}

/// One try to deliver.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// 1 for the first.
    pub attempt: u32,
    pub at: DateTime<Utc>,
    /// The receiver's HTTP status, if it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_code: Option<u16>,
    pub latency_ms: u64,
    /// Why it failed, if it did (a timeout, a refused address, a 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One public event for one endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivery {
    pub tenant_id: TenantId,
    pub endpoint_id: String,
    /// The public event's id (sorts by the time it was recorded).
    pub event_id: String,
    pub event_type: String,
    /// The exact body sent, so every attempt and replay signs the same bytes.
    pub payload: String,
    pub status: DeliveryStatus,
    /// When it was first queued (the retry window counts from here).
    pub created_at: DateTime<Utc>,
    /// Set while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<DateTime<Utc>>,
    /// How many attempts were made in all.
    pub attempts: u32,
    /// The latest attempts, oldest first, at most [`ATTEMPT_LOG_MAX`].
    pub log: Vec<Attempt>,
    /// 1 when queued; every saved change adds one.
    pub version: u64,
}

impl Delivery {
    /// A delivery queued at `now`, due at once.
    pub fn queued(
        tenant_id: TenantId,
        endpoint_id: &str,
        event: &ledger_domain::public::PublicEvent,
        now: DateTime<Utc>,
    ) -> Self {
        Delivery {
            tenant_id,
            endpoint_id: endpoint_id.to_owned(),
            event_id: event.id.clone(),
            event_type: event.event_type.clone(),
            payload: event.to_json(),
            status: DeliveryStatus::Pending,
            created_at: now,
            next_attempt_at: Some(now),
            delivered_at: None,
            attempts: 0,
            log: Vec::new(),
            version: 1,
        }
    }

    /// Adds an attempt to the log, keeping the latest [`ATTEMPT_LOG_MAX`].
    pub fn push_attempt(&mut self, attempt: Attempt) {
        self.attempts = attempt.attempt;
        self.log.push(attempt);
        if self.log.len() > ATTEMPT_LOG_MAX {
            let extra = self.log.len() - ATTEMPT_LOG_MAX;
            self.log.drain(..extra);
        }
    }
}

/// One page of an endpoint's deliveries, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryPage {
    pub deliveries: Vec<Delivery>,
    /// The event id to pass as `after` for the next page.
    pub next: Option<String>,
}

/// The most deliveries one read returns.
pub const DELIVERY_PAGE_MAX: usize = 500;

#[async_trait::async_trait]
pub trait WebhookStore: Send + Sync {
    /// Stores a new endpoint (version 1); a conflict if its id exists.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError>;
    /// Replaces an endpoint whose stored version is `endpoint.version - 1`;
    /// a version conflict otherwise.
    async fn update_endpoint(&self, endpoint: &Endpoint) -> Result<(), StoreError>;
    async fn endpoint(
        &self,
        tenant_id: &TenantId,
        endpoint_id: &str,
    ) -> Result<Option<Endpoint>, StoreError>;
    /// A tenant's endpoints, by id.
    async fn endpoints(&self, tenant_id: &TenantId) -> Result<Vec<Endpoint>, StoreError>;
    /// Queues deliveries; one that exists (same endpoint and event) is left
    /// as it is. Returns how many were new.
    async fn enqueue(&self, deliveries: &[Delivery]) -> Result<usize, StoreError>;
    /// Pending deliveries of every tenant due at `now`, earliest first.
    async fn due(&self, now: DateTime<Utc>, limit: usize) -> Result<Vec<Delivery>, StoreError>;
    /// Saves a changed delivery whose stored version is
    /// `delivery.version - 1`; a version conflict otherwise.
    async fn save_delivery(&self, delivery: &Delivery) -> Result<(), StoreError>;
    async fn delivery(
        &self,
        tenant_id: &TenantId,
        endpoint_id: &str,
        event_id: &str,
    ) -> Result<Option<Delivery>, StoreError>;
    /// An endpoint's deliveries, newest first, optionally of one status,
    /// starting after the event id `after`.
    async fn deliveries(
        &self,
        tenant_id: &TenantId,
        endpoint_id: &str,
        status: Option<DeliveryStatus>,
        after: Option<&str>,
        limit: usize,
    ) -> Result<DeliveryPage, StoreError>;
}

/// The conflict an adapter reports when a conditional webhook write loses:
/// `what` is `webhook-endpoint` or `webhook-delivery`, `expected` the
/// version the writer read and `actual` the stored one (0 when none).
pub fn webhook_conflict(what: &str, id: &str, expected: u64, actual: u64) -> StoreError {
    StoreError::VersionConflict {
        stream: format!("{what}/{id}"),
        expected,
        actual,
    }
}
