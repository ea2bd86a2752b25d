//! `webhooks endpoints`, `webhooks deliveries` and `webhooks replay`: the
//! tenants' webhook endpoints, their delivery logs (parked ones among
//! them), and sending deliveries again, on either store.

use clap::Subcommand;
use event_store::webhooks::{DELIVERY_PAGE_MAX, DeliveryStatus};
use local_stack::Backend;
use tenant_webhooks::endpoints;

use crate::failure::tenant;
use crate::failure::{Failure, failed, refused};

#[derive(Subcommand)]
pub(crate) enum Webhooks {
    /// The tenant's endpoints: id, enabled, url, event types.
    Endpoints {
        #[arg(long)]
        tenant: String,
    },
    /// An endpoint's deliveries, newest first, with their last attempt.
    Deliveries {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        endpoint: String,
        /// pending, delivered or parked.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
    /// Send one delivery again (--event), or every parked one (--parked),
    /// now, with a fresh retry window.
    Replay {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        endpoint: String,
        #[arg(long, conflicts_with = "parked", required_unless_present = "parked")]
        event: Option<String>,
        #[arg(long)]
        parked: bool,
        /// Say what would be sent again, do nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

pub(crate) async fn webhooks(backend: &Backend, action: &Webhooks) -> Result<(), Failure> {
    let store = backend.webhook_store();
    let store = &*store;
    let problem = |e: tenant_webhooks::WebhookError| match e {
        tenant_webhooks::WebhookError::Store(e) => failed(e),
        other => refused(other.to_string()),
    };
    match action {
        Webhooks::Endpoints { tenant: t } => {
            let found = store.endpoints(&tenant(t)?).await.map_err(failed)?;
            if found.is_empty() {
                println!("tenant {t} has no webhook endpoints");
            }
            for e in found {
                println!(
                    "{}  {}  {}  {}",
                    e.endpoint_id,
                    if e.enabled { "enabled " } else { "disabled" },
                    e.url,
                    e.event_types.join(",")
                );
            }
        }
        Webhooks::Deliveries {
            tenant: t,
            endpoint,
            status,
            limit,
        } => {
            let tenant_id = tenant(t)?;
            let status = match status.as_deref() {
                None => None,
                Some(s) => Some(
                    DeliveryStatus::parse(s)
                        .ok_or_else(|| refused("--status must be pending, delivered or parked"))?,
                ),
            };
            if *limit == 0 || *limit > DELIVERY_PAGE_MAX {
                return Err(refused(format!("--limit must be 1 to {DELIVERY_PAGE_MAX}")));
            }
            endpoints::load(store, &tenant_id, endpoint)
                .await
                .map_err(problem)?;
            let page = store
                .deliveries(&tenant_id, endpoint, status, None, *limit)
                .await
                .map_err(failed)?;
            if page.deliveries.is_empty() {
                println!("no deliveries");
            }
            for d in page.deliveries {
                let last = d.log.last();
                println!(
                    "{}  {:9}  {:28}  attempts {:3}  last {}{}",
                    d.event_id,
                    d.status.as_str(),
                    d.event_type,
                    d.attempts,
                    last.map(|a| a.at.to_rfc3339())
                        .unwrap_or_else(|| "-".into()),
                    last.and_then(|a| a.error.as_deref())
                        .map(|e| format!("  ({e})"))
                        .unwrap_or_default()
                );
            }
            if page.next.is_some() {
                println!("(more: raise --limit, or page with the API)");
            }
        }
        Webhooks::Replay {
            tenant: t,
            endpoint,
            event,
            parked,
            dry_run,
        } => {
            let tenant_id = tenant(t)?;
            let now = chrono::Utc::now();
            match (event, *parked, *dry_run) {
                (Some(event), _, true) => {
                    let d = store
                        .delivery(&tenant_id, endpoint, event)
                        .await
                        .map_err(failed)?
                        .ok_or_else(|| {
                            refused(format!("endpoint {endpoint} has no delivery of {event}"))
                        })?;
                    println!(
                        "would send {} ({}, now {}) again",
                        d.event_id,
                        d.event_type,
                        d.status.as_str()
                    );
                }
                (Some(event), _, false) => {
                    endpoints::replay(store, &tenant_id, endpoint, event, now)
                        .await
                        .map_err(problem)?;
                    println!("{event} is due again now");
                }
                (None, true, true) => {
                    endpoints::load(store, &tenant_id, endpoint)
                        .await
                        .map_err(problem)?;
                    let page = store
                        .deliveries(
                            &tenant_id,
                            endpoint,
                            Some(DeliveryStatus::Parked),
                            None,
                            DELIVERY_PAGE_MAX,
                        )
                        .await
                        .map_err(failed)?;
                    println!(
                        "would send {} parked deliveries again",
                        page.deliveries.len()
                    );
                }
                (None, true, false) => {
                    let n = endpoints::replay_parked(
                        store,
                        &tenant_id,
                        endpoint,
                        DELIVERY_PAGE_MAX,
                        now,
                    )
                    .await
                    .map_err(problem)?;
                    println!("{n} parked deliveries are due again now");
                }
                (None, false, _) => return Err(refused("name --event EVT or --parked")),
            }
        }
    }
    Ok(())
}
