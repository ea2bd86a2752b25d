//! The stack's whole HTTP surface: every function's router on the chosen
//! backend, behind the development authorizer.

use std::sync::Arc;

use axum::Router;

use crate::openapi::openapi_routes;
use crate::queues::{dispatch_routes, queue_routes};
use crate::{Backend, EventsOut, LocalDispatchQueue, LocalQueue, files, tokens, web};

impl Backend {
    /// The whole HTTP surface, behind the development authorizer (the
    /// webhook routes check the processors' signatures instead).
    pub fn app(
        &self,
        key: Vec<u8>,
        queue: LocalQueue,
        dispatch: LocalDispatchQueue,
        reports: Option<Arc<reporting::ReportFiles>>,
        events_out: &EventsOut,
    ) -> Router {
        let webhooks = self.webhooks(&key);
        let page = web::routes(Arc::new(key.clone()));
        let files = reports.clone().map(files::file_routes).unwrap_or_default();
        let app = match self {
            Backend::Embedded(store) => app_for(
                store.clone(),
                store.clone(),
                key,
                queue,
                dispatch,
                reports,
                events_out.routes(),
            ),
            Backend::Aws { store, projection } => app_for(
                store.clone(),
                projection.clone(),
                key,
                queue,
                dispatch,
                reports,
                events_out.routes(),
            ),
        };
        app.merge(webhooks)
            .merge(files)
            .merge(openapi_routes())
            .merge(page)
    }
}

fn app_for<S, R>(
    store: S,
    reads: R,
    key: Vec<u8>,
    queue: LocalQueue,
    dispatch: LocalDispatchQueue,
    reports: Option<Arc<reporting::ReportFiles>>,
    events_out: Router,
) -> Router
where
    S: event_store::EventStore + Clone + 'static,
    R: ledger_api::ApiReads + 'static,
{
    let events: Arc<dyn event_store::EventStore> = Arc::new(store.clone());
    let ingest = ingest_commissions::router(Arc::new(ingest_commissions::AppState {
        store,
        tenant_claim: "tenant_id".into(),
    }));
    let reads = ledger_api::router(Arc::new(ledger_api::ApiState {
        reads,
        events,
        tenant_claim: "tenant_id".into(),
        queue: Arc::new(dispatch.clone()),
        limits: lambda_edge::config::approval_limits_or(Some(
            lambda_edge::config::DEVELOPMENT_APPROVAL_LIMITS,
        ))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "PAYOUT_APPROVAL_LIMITS is invalid: every batch needs an admin");
            ledger_domain::ApprovalLimits::from_json(r#"{}"#).unwrap_or_default()
        }),
        reports,
    }));
    let key = Arc::new(key);
    ingest
        .merge(reads)
        .merge(queue_routes(queue))
        .merge(dispatch_routes(dispatch))
        .merge(events_out)
        .layer(axum::middleware::from_fn(move |request, next| {
            tokens::authorize(key.clone(), request, next)
        }))
}
