//! Events out, as the stack runs them: the event log read from its own
//! checkpoint, public events queued for the tenants' webhook endpoints and
//! delivered (as the publish-events function does on AWS), and the same
//! public events offered live as server-sent events for development
//! (`GET /v1/events/stream`).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use event_store::EventStore;
use event_store::webhooks::WebhookStore;
use lambda_edge::authz::{Action, authorize};
use lambda_edge::problem::Problem;
use lambda_edge::{Caller, TenantClaim};
use ledger_domain::public::{PublicEvent, is_public_type};
use tenant_webhooks::{Deliverer, UrlPolicy};
use tokio::sync::broadcast;

use crate::{Backend, StackError};

/// The checkpoint of the webhook fan-out in the store.
pub const WEBHOOKS_CHECKPOINT: &str = "tenant-webhooks";
/// How many deliveries one round sends at most.
const DELIVERIES_PER_ROUND: usize = 500;
/// How many public events the live feed holds for a slow reader before
/// it skips ahead (the reader is told with a `lagged` event).
const FEED_BUFFER: usize = 4096;

/// The stack's events-out side.
#[derive(Clone)]
pub struct EventsOut {
    pub store: Arc<dyn WebhookStore>,
    deliverer: Deliverer,
    feed: broadcast::Sender<Arc<PublicEvent>>,
}

/// What one step did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Step {
    pub public_events: usize,
    /// Events read and passed over: nobody could receive them.
    pub passed_over: usize,
    pub queued: usize,
    pub delivered: usize,
}

impl EventsOut {
    pub fn new(store: Arc<dyn WebhookStore>) -> Self {
        EventsOut {
            store,
            deliverer: Deliverer::new(UrlPolicy::Development),
            feed: broadcast::channel(FEED_BUFFER).0,
        }
    }

    /// Reads the next events from the log, queues their deliveries, offers
    /// them to the live feed, moves the checkpoint, then sends what is due.
    pub async fn step(&self, backend: &Backend) -> Result<Step, StackError> {
        let store: &dyn EventStore = match backend {
            Backend::Embedded(store) => store,
            Backend::Aws { store, .. } => store,
        };
        let cursor = store.load_checkpoint(WEBHOOKS_CHECKPOINT).await?;
        let page = store
            .read_all(cursor.as_ref(), event_store::READ_LIMIT_MAX)
            .await?;
        let now = chrono::Utc::now();
        let mut step = Step::default();
        if !page.events.is_empty() {
            // Nobody on the live feed and no endpoint for these events'
            // tenants: nothing to publish, so the page is passed over
            // without decoding.
            let public = if self.feed.receiver_count() > 0
                || tenant_webhooks::has_subscribers(&*self.store, &page.events).await?
            {
                let public = tenant_webhooks::public_of(&page.events)?;
                let fanned = tenant_webhooks::fan_out(&*self.store, &public, now).await?;
                step.public_events = fanned.public_events;
                step.queued = fanned.queued;
                public
            } else {
                step.passed_over = page.events.len();
                Vec::new()
            };
            store
                .save_checkpoint(WEBHOOKS_CHECKPOINT, &page.next)
                .await?;
            for event in public {
                // No reader is not an error: the feed is for whoever listens.
                let _ = self.feed.send(Arc::new(event));
            }
        }
        let report = self
            .deliverer
            .deliver_due(&*self.store, now, DELIVERIES_PER_ROUND)
            .await?;
        step.delivered = report.delivered;
        if report.failed + report.parked > 0 {
            tracing::info!(
                delivered = report.delivered,
                failed = report.failed,
                parked = report.parked,
                "webhook deliveries"
            );
        }
        Ok(step)
    }

    /// The webhook routes and the live feed.
    pub fn routes(&self) -> Router {
        let api = ledger_api::webhooks::router(Arc::new(ledger_api::webhooks::WebhookApi {
            store: self.store.clone(),
            tenant_claim: "tenant_id".into(),
            policy: UrlPolicy::Development,
        }));
        let feed = Router::new()
            .route("/v1/events/stream", get(stream))
            .with_state(Arc::new(Feed {
                feed: self.feed.clone(),
            }));
        api.merge(feed)
    }
}

pub(crate) struct Feed {
    feed: broadcast::Sender<Arc<PublicEvent>>,
}

impl TenantClaim for Feed {
    fn tenant_claim(&self) -> &str {
        "tenant_id"
    }
}

/// The caller's tenant's public events as they are committed (admins):
/// `text/event-stream`, each event's `id` the public event id, its `event`
/// the type, its `data` the JSON a webhook receives. `?types=a,b` keeps
/// only those types.
#[utoipa::path(get, path = "/v1/events/stream", tag = "webhooks",
    params(("types" = Option<String>, Query, description = "comma-separated public event types; all if absent")),
    responses((status = 200, content_type = "text/event-stream", description = "server-sent events, one per public event"), (status = "4XX", body = Problem, content_type = "application/problem+json", description = "401, 403 not an admin, 422 an unknown type")),
    security(("bearer" = [])))]
pub(crate) async fn stream(
    State(state): State<Arc<Feed>>,
    Caller(identity): Caller,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    authorize(&identity, Action::ManageWebhooks)?;
    let mut types: Option<Vec<String>> = None;
    for (key, value) in query
        .as_deref()
        .unwrap_or_default()
        .split('&')
        .filter_map(|p| p.split_once('='))
    {
        if key == "types" {
            let listed: Vec<String> = value
                .split([',', ' '])
                .flat_map(|t| t.split("%2C"))
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect();
            if let Some(bad) = listed.iter().find(|t| !is_public_type(t)) {
                return Err(Problem::unprocessable(vec![
                    lambda_edge::problem::FieldError {
                        field: "types".into(),
                        rule: format!("{bad:?} is not a public event type"),
                    },
                ]));
            }
            types = Some(listed);
        }
    }
    let tenant = identity.tenant_id.to_string();
    let receiver = state.feed.subscribe();
    let events = futures::stream::unfold(receiver, move |mut receiver| {
        let (tenant, types) = (tenant.clone(), types.clone());
        async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => {
                        // Never another tenant's.
                        if event.tenant_id != tenant
                            || types
                                .as_ref()
                                .is_some_and(|t| !t.contains(&event.event_type))
                        {
                            continue;
                        }
                        let sse = SseEvent::default()
                            .id(event.id.clone())
                            .event(event.event_type.clone())
                            .data(event.to_json());
                        return Some((Ok::<_, Infallible>(sse), receiver));
                    }
                    Err(broadcast::error::RecvError::Lagged(skipped)) => {
                        let sse = SseEvent::default()
                            .event("lagged")
                            .data(format!("{{\"skipped\":{skipped}}}"));
                        return Some((Ok(sse), receiver));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        }
    });
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
