//! What an admin does with endpoints: register, change, rotate the secret,
//! replay deliveries. Each checks its input and names the field it refuses.

use chrono::{DateTime, Duration, Utc};
use event_store::StoreError;
use event_store::webhooks::{Delivery, DeliveryStatus, Endpoint, SigningSecret, WebhookStore};
use ledger_domain::TenantId;
use ledger_domain::public::{PUBLIC_EVENT_TYPES, is_public_type};

use crate::address::{self, AddressError, UrlPolicy};
use crate::signing;

/// The longest description, in characters.
pub const DESCRIPTION_LEN_MAX: usize = 500;
/// The most endpoints one tenant may register.
pub const ENDPOINTS_PER_TENANT_MAX: usize = 20;
/// How long the previous secret stays valid after a rotation unless told.
pub const ROTATION_OVERLAP_DEFAULT_HOURS: i64 = 24;
/// The longest overlap a rotation may ask for.
pub const ROTATION_OVERLAP_MAX_HOURS: i64 = 7 * 24;

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error("{field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("{field}: {source}")]
    Address {
        field: &'static str,
        source: AddressError,
    },
    #[error("no webhook endpoint {0}")]
    EndpointNotFound(String),
    #[error("endpoint {endpoint} has no delivery of event {event}")]
    DeliveryNotFound { endpoint: String, event: String },
    #[error("the tenant already has {ENDPOINTS_PER_TENANT_MAX} endpoints")]
    TooManyEndpoints,
    #[error("no random source for a secret: {0}")]
    Random(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn invalid(field: &'static str, reason: impl Into<String>) -> WebhookError {
    WebhookError::Invalid {
        field,
        reason: reason.into(),
    }
}

/// Checks a subscription: at least one type, each a public event type.
pub fn event_types(types: &[String]) -> Result<Vec<String>, WebhookError> {
    if types.is_empty() {
        return Err(invalid(
            "event_types",
            format!("name at least one of: {}", PUBLIC_EVENT_TYPES.join(", ")),
        ));
    }
    let mut out = Vec::with_capacity(types.len());
    for t in types {
        if !is_public_type(t) {
            return Err(invalid(
                "event_types",
                format!(
                    "{t:?} is not a public event type; the types are: {}",
                    PUBLIC_EVENT_TYPES.join(", ")
                ),
            ));
        }
        out.push(t.clone());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

fn description(text: &str) -> Result<String, WebhookError> {
    if text.chars().count() > DESCRIPTION_LEN_MAX {
        return Err(invalid(
            "description",
            format!("must be at most {DESCRIPTION_LEN_MAX} characters"),
        ));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid(
            "description",
            "must not contain control characters",
        ));
    }
    Ok(text.trim().to_owned())
}

/// Checks an endpoint URL: its form, what it resolves to, and that
/// something listens there (a TCP connection, no request).
pub async fn check_url(url: &str, policy: UrlPolicy) -> Result<String, WebhookError> {
    let target = address::resolve(url, policy)
        .await
        .map_err(|source| WebhookError::Address {
            field: "url",
            source,
        })?;
    let connect = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect(target.address),
    )
    .await;
    match connect {
        Ok(Ok(_)) => Ok(target.url.to_string()),
        Ok(Err(e)) => Err(invalid(
            "url",
            format!(
                "nothing answers at {} ({}): {e}",
                target.host, target.address
            ),
        )),
        Err(_) => Err(invalid(
            "url",
            format!(
                "connecting to {} ({}) timed out",
                target.host, target.address
            ),
        )),
    }
}

/// A new endpoint.
#[derive(Debug, Clone)]
pub struct Registration {
    pub url: String,
    pub event_types: Vec<String>,
    pub description: String,
}

fn random<T>(made: Result<T, getrandom::Error>) -> Result<T, WebhookError> {
    made.map_err(|e| WebhookError::Random(e.to_string()))
}

/// Registers an endpoint and returns it with its secret (the only time the
/// secret is shown).
pub async fn register(
    store: &dyn WebhookStore,
    tenant_id: &TenantId,
    registration: Registration,
    policy: UrlPolicy,
    now: DateTime<Utc>,
) -> Result<(Endpoint, String), WebhookError> {
    let event_types = event_types(&registration.event_types)?;
    let description = description(&registration.description)?;
    if store.endpoints(tenant_id).await?.len() >= ENDPOINTS_PER_TENANT_MAX {
        return Err(WebhookError::TooManyEndpoints);
    }
    let url = check_url(&registration.url, policy).await?;
    let secret = random(signing::new_secret())?;
    let endpoint = Endpoint {
        tenant_id: tenant_id.clone(),
        endpoint_id: random(signing::new_endpoint_id())?,
        url,
        event_types,
        description,
        enabled: true,
        secrets: vec![SigningSecret {
            secret: secret.clone(),
            created_at: now,
            expires_at: None,
        }],
        created_at: now,
        updated_at: now,
        version: 1,
    };
    store.create_endpoint(&endpoint).await?;
    Ok((endpoint, secret))
}

pub async fn load(
    store: &dyn WebhookStore,
    tenant_id: &TenantId,
    endpoint_id: &str,
) -> Result<Endpoint, WebhookError> {
    store
        .endpoint(tenant_id, endpoint_id)
        .await?
        .ok_or_else(|| WebhookError::EndpointNotFound(endpoint_id.to_owned()))
}

/// What a change sets; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub url: Option<String>,
    pub event_types: Option<Vec<String>>,
    pub description: Option<String>,
    pub enabled: Option<bool>,
}

/// Changes an endpoint (conditional on the version read).
pub async fn change(
    store: &dyn WebhookStore,
    tenant_id: &TenantId,
    endpoint_id: &str,
    change: Change,
    policy: UrlPolicy,
    now: DateTime<Utc>,
) -> Result<Endpoint, WebhookError> {
    let mut endpoint = load(store, tenant_id, endpoint_id).await?;
    if let Some(types) = &change.event_types {
        endpoint.event_types = event_types(types)?;
    }
    if let Some(text) = &change.description {
        endpoint.description = description(text)?;
    }
    if let Some(url) = &change.url {
        endpoint.url = check_url(url, policy).await?;
    }
    if let Some(enabled) = change.enabled {
        endpoint.enabled = enabled;
    }
    endpoint.updated_at = now;
    endpoint.version += 1;
    store.update_endpoint(&endpoint).await?;
    Ok(endpoint)
}

/// Gives the endpoint a new secret; the previous one keeps signing (a
/// second signature) for `overlap_hours`, so receivers can switch without
/// dropping a delivery. Secrets already expired are removed.
pub async fn rotate(
    store: &dyn WebhookStore,
    tenant_id: &TenantId,
    endpoint_id: &str,
    overlap_hours: Option<i64>,
    now: DateTime<Utc>,
) -> Result<(Endpoint, String), WebhookError> {
    let hours = overlap_hours.unwrap_or(ROTATION_OVERLAP_DEFAULT_HOURS);
    if !(0..=ROTATION_OVERLAP_MAX_HOURS).contains(&hours) {
        return Err(invalid(
            "overlap_hours",
            format!("must be from 0 to {ROTATION_OVERLAP_MAX_HOURS}"),
        ));
    }
    let mut endpoint = load(store, tenant_id, endpoint_id).await?;
    let until = now + Duration::hours(hours);
    let mut kept: Vec<SigningSecret> = endpoint
        .secrets
        .drain(..)
        .filter(|s| s.expires_at.is_none_or(|at| at > now))
        .map(|mut s| {
            s.expires_at = Some(s.expires_at.map_or(until, |at| at.min(until)));
            s
        })
        .filter(|s| s.expires_at.is_some_and(|at| at > now))
        .collect();
    let secret = random(signing::new_secret())?;
    kept.insert(
        0,
        SigningSecret {
            secret: secret.clone(),
            created_at: now,
            expires_at: None,
        },
    );
    endpoint.secrets = kept;
    endpoint.updated_at = now;
    endpoint.version += 1;
    store.update_endpoint(&endpoint).await?;
    Ok((endpoint, secret))
}

/// Sends a delivery again (parked, delivered or pending), now.
pub async fn replay(
    store: &dyn WebhookStore,
    tenant_id: &TenantId,
    endpoint_id: &str,
    event_id: &str,
    now: DateTime<Utc>,
) -> Result<Delivery, WebhookError> {
    load(store, tenant_id, endpoint_id).await?;
    let mut delivery = store
        .delivery(tenant_id, endpoint_id, event_id)
        .await?
        .ok_or_else(|| WebhookError::DeliveryNotFound {
            endpoint: endpoint_id.to_owned(),
            event: event_id.to_owned(),
        })?;
    delivery.status = DeliveryStatus::Pending;
    delivery.next_attempt_at = Some(now);
    // The retry window starts again: a replayed delivery gets the whole
    // window, not what was left of the first one.
    delivery.created_at = now;
    delivery.version += 1;
    store.save_delivery(&delivery).await?;
    Ok(delivery)
}

/// Replays every parked delivery of an endpoint (at most `limit`, oldest
/// parked pages last); returns how many.
pub async fn replay_parked(
    store: &dyn WebhookStore,
    tenant_id: &TenantId,
    endpoint_id: &str,
    limit: usize,
    now: DateTime<Utc>,
) -> Result<usize, WebhookError> {
    load(store, tenant_id, endpoint_id).await?;
    let page = store
        .deliveries(
            tenant_id,
            endpoint_id,
            Some(DeliveryStatus::Parked),
            None,
            limit,
        )
        .await?;
    let mut replayed = 0;
    for mut delivery in page.deliveries {
        delivery.status = DeliveryStatus::Pending;
        delivery.next_attempt_at = Some(now);
        delivery.created_at = now;
        delivery.version += 1;
        match store.save_delivery(&delivery).await {
            Ok(()) => replayed += 1,
            // Someone else changed it meanwhile: theirs stands.
            Err(StoreError::VersionConflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(replayed)
}
