//! The local stack: every function's HTTP handler in one process on
//! 127.0.0.1, on the embedded store (one SQLite file), with the ledger
//! projector running beside them, and a development token issuer.
//!
//! Identity takes the same path as on AWS: a verified token becomes the API
//! Gateway authorizer context the handlers read. Locally the issuer is this
//! stack, signing HS256 tokens with a key it keeps in the data directory.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use event_store_sqlite::SqliteEventStore;

pub mod events_out;
mod files;
mod queues;
mod tokens;
pub mod web;
pub use events_out::EventsOut;

pub use files::download_link_secret;
pub use queues::*;
pub use tokens::{DevClaims, mint_token, signing_key};

/// Who issues development tokens.
pub const DEV_ISSUER: &str = "local-stack";
/// How long a development token lives, in seconds.
pub const TOKEN_TTL_SECONDS: i64 = 12 * 3600;
/// How often the projector looks for new events when idle.
pub const PROJECTOR_IDLE_MS: u64 = 100;
/// Events per projector step.
pub const PROJECTOR_BATCH: usize = 1000;
/// The roles a development token may carry.
pub const ROLES: [&str; 5] = lambda_edge::authz::role::ALL;

#[derive(Debug, thiserror::Error)]
pub enum StackError {
    #[error("{0}")]
    Io(String),
    #[error(transparent)]
    Store(#[from] event_store::StoreError),
    #[error("role {0:?} is not one of {ROLES:?}")]
    UnknownRole(String),
    #[error("the affiliate role needs --affiliate")]
    AffiliateMissing,
    #[error("token: {0}")]
    Token(String),
}

/// Where the stack keeps its data.
pub fn database_path(data_dir: &Path) -> PathBuf {
    data_dir.join("ledger.sqlite")
}

/// Where the stack keeps the ledger: the embedded SQLite file (the default),
/// or DynamoDB at an endpoint (the emulator, or AWS).
#[derive(Clone)]
pub enum Backend {
    Embedded(SqliteEventStore),
    Aws {
        store: event_store_dynamodb::DynamoEventStore,
        projection: event_store_dynamodb::projection::DynamoProjection,
    },
}

/// The projector's checkpoint on DynamoDB (a cursor on the events stream).
pub const AWS_PROJECTOR_CHECKPOINT: &str = "ledger-local-stack";

impl Backend {
    /// DynamoDB at an endpoint, creating the tables if asked.
    pub async fn aws(
        config: &aws_config::SdkConfig,
        table_prefix: &str,
        create_tables: bool,
    ) -> Result<Self, StackError> {
        use event_store_dynamodb::projection::{DynamoProjection, ProjectionTables};
        if create_tables {
            let (store, projection) =
                aws_emulator::ledger_on_dynamodb(config, table_prefix).await?;
            return Ok(Backend::Aws { store, projection });
        }
        let store = event_store_dynamodb::DynamoEventStore::from_config(
            config,
            event_store_dynamodb::schema::Tables::with_prefix(table_prefix),
            None,
        );
        let projection = DynamoProjection::new(
            store.client().clone(),
            ProjectionTables::with_prefix(table_prefix),
        );
        Ok(Backend::Aws { store, projection })
    }

    /// Where tenants' webhook endpoints and deliveries are kept: beside
    /// the events (the SQLite file, or the `{prefix}webhooks` table).
    pub fn webhook_store(&self) -> Arc<dyn event_store::webhooks::WebhookStore> {
        match self {
            Backend::Embedded(store) => Arc::new(store.clone()),
            Backend::Aws { store, .. } => {
                let events = &store.tables().events;
                let prefix = events.strip_suffix("events").unwrap_or(events);
                Arc::new(event_store_dynamodb::webhooks::DynamoWebhooks::new(
                    store.client().clone(),
                    event_store_dynamodb::webhooks::WebhookTable::with_prefix(prefix),
                ))
            }
        }
    }

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

    /// Reconciles the processor reports dropped in
    /// `{files}/reports/inbox/{tenant}/{stripe|paypal|sepa}/`: each is kept
    /// under `reports/{tenant}/{processor}/` (as on S3, never replaced),
    /// reconciled, and moved to `reports/done/` (or `reports/failed/` with
    /// the reason beside it). Returns how many files it took.
    async fn reconcile_inbox(&self, reports: &reporting::ReportFiles, files_dir: &Path) -> usize {
        let inbox = files_dir.join("reports").join("inbox");
        let mut taken = 0;
        let Ok(tenants) = std::fs::read_dir(&inbox) else {
            return 0;
        };
        for tenant in tenants.flatten() {
            let Ok(processors) = std::fs::read_dir(tenant.path()) else {
                continue;
            };
            for processor in processors.flatten() {
                let Ok(entries) = std::fs::read_dir(processor.path()) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if !path.is_file() {
                        continue;
                    }
                    let Ok(bytes) = std::fs::read(&path) else {
                        continue;
                    };
                    let key = format!(
                        "reports/{}/{}/{}",
                        tenant.file_name().to_string_lossy(),
                        processor.file_name().to_string_lossy(),
                        entry.file_name().to_string_lossy()
                    );
                    let result = self.reconcile(reports, &key, bytes).await;
                    let (folder, note) = match &result {
                        Ok(summary) => ("done", summary.clone()),
                        Err(reason) => ("failed", reason.clone()),
                    };
                    tracing::info!(report = %key, outcome = folder, %note, "processor report");
                    let target = files_dir.join("reports").join(folder);
                    let _ = std::fs::create_dir_all(&target);
                    let name = key.replace('/', "_");
                    let _ = std::fs::rename(&path, target.join(&name));
                    if result.is_err() {
                        let _ = std::fs::write(target.join(format!("{name}.reason.txt")), note);
                    }
                    taken += 1;
                }
            }
        }
        taken
    }

    async fn reconcile(
        &self,
        reports: &reporting::ReportFiles,
        key: &str,
        bytes: Vec<u8>,
    ) -> Result<String, String> {
        reporting::reconcile::source_of(key).map_err(|e| e.to_string())?;
        let created = reports
            .files
            .create(key, "application/octet-stream", bytes.clone())
            .await
            .map_err(|e| e.to_string())?;
        if !created {
            let existing = reports.files.read(key).await.map_err(|e| e.to_string())?;
            if existing.as_deref() != Some(&bytes[..]) {
                return Err(format!(
                    "{key} already holds another report: rename the file"
                ));
            }
        }
        let now = chrono::Utc::now();
        let report = match self {
            Backend::Embedded(store) => {
                reporting::reconcile::reconcile_report(
                    store,
                    store,
                    &reports.files,
                    key,
                    &bytes,
                    now,
                )
                .await
            }
            Backend::Aws { store, projection } => {
                reporting::reconcile::reconcile_report(
                    store,
                    projection,
                    &reports.files,
                    key,
                    &bytes,
                    now,
                )
                .await
            }
        }
        .map_err(|e| e.to_string())?;
        Ok(format!(
            "{}: {} matched, {} mismatches; report {}",
            report.status,
            report.matching.matched.len(),
            report.matching.mismatches.len(),
            reporting::reconcile::report_key(
                &ledger_domain::TenantId::new(report.tenant_id.as_str())
                    .map_err(|e| e.to_string())?,
                report.processor,
                &report.run_id,
                report.status == "quarantined"
            )
        ))
    }

    /// The processor webhook routes, verifying as on AWS: Stripe with
    /// `STRIPE_WEBHOOK_SECRETS` if set, the sandbox with the stack's own
    /// sandbox secret.
    pub fn webhooks(&self, key: &[u8]) -> Router {
        let stripe_secrets = processor_webhooks::secrets("STRIPE_WEBHOOK_SECRETS");
        let sandbox_secrets = vec![sandbox_webhook_secret(key)];
        match self {
            Backend::Embedded(store) => {
                processor_webhooks::router(Arc::new(processor_webhooks::WebhookState {
                    store: store.clone(),
                    stripe_secrets,
                    sandbox_secrets,
                    paypal: None,
                    clock: processor_webhooks::now,
                }))
            }
            Backend::Aws { store, .. } => {
                processor_webhooks::router(Arc::new(processor_webhooks::WebhookState {
                    store: store.clone(),
                    stripe_secrets,
                    sandbox_secrets,
                    paypal: None,
                    clock: processor_webhooks::now,
                }))
            }
        }
    }

    /// Records the SEPA status files dropped in `inbox` (pain.002,
    /// camt.054), checked against the payment files in `files`, moving each
    /// to `done/` or, quarantined (it answers no message this stack issued,
    /// or cannot be read), to `failed/` with the rule beside it; the
    /// quarantine record is in `sepa-quarantine/`, as on S3. Returns how
    /// many files it took.
    async fn sepa_status_files(&self, inbox: &Path, files: &processors::sepa::FileStore) -> usize {
        let Ok(entries) = std::fs::read_dir(inbox) else {
            return 0;
        };
        let mut taken = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("xml") {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let key = format!("sepa-status/{}", entry.file_name().to_string_lossy());
            let result = match self {
                Backend::Embedded(store) => {
                    processor_webhooks::handle_sepa_file(store, files, &key, &bytes).await
                }
                Backend::Aws { store, .. } => {
                    processor_webhooks::handle_sepa_file(store, files, &key, &bytes).await
                }
            };
            let parent = inbox.parent().unwrap_or(inbox);
            let result = match result {
                Ok(processor_webhooks::SepaFileOutcome::Recorded(recorded)) => Ok(recorded),
                Ok(processor_webhooks::SepaFileOutcome::Quarantined { key, rejection }) => {
                    Err(format!("quarantined ({key}): {rejection}"))
                }
                Err(reason) => Err(reason),
            };
            let (dir, note) = match &result {
                Ok(recorded) => ("done", format!("{} transactions recorded", recorded.len())),
                Err(reason) => ("failed", reason.clone()),
            };
            tracing::info!(file = %key, outcome = dir, %note, "SEPA status file");
            let target = parent.join(dir);
            let _ = std::fs::create_dir_all(&target);
            let _ = std::fs::rename(&path, target.join(entry.file_name()));
            if result.is_err() {
                let _ = std::fs::write(
                    target.join(format!(
                        "{}.reason.txt",
                        entry.file_name().to_string_lossy()
                    )),
                    note,
                );
            }
            taken += 1;
        }
        taken
    }

    /// One projector step; returns how many events it projected.
    async fn project_step(&self) -> Result<usize, StackError> {
        use event_store::EventStore;
        match self {
            Backend::Embedded(store) => {
                let report = store.project_ledger(PROJECTOR_BATCH).await?;
                if report.events > 0 {
                    tracing::info!(
                        events = report.events,
                        balance_writes = report.balance_writes,
                        position = report.position,
                        "projected"
                    );
                }
                Ok(report.events)
            }
            Backend::Aws { store, projection } => {
                let cursor = store.load_checkpoint(AWS_PROJECTOR_CHECKPOINT).await?;
                let page = store
                    .read_all(cursor.as_ref(), event_store::READ_LIMIT_MAX)
                    .await?;
                if page.events.is_empty() {
                    return Ok(0);
                }
                let report = projection
                    .project(&page.events)
                    .await
                    .map_err(|f| StackError::Store(f.error))?;
                store
                    .save_checkpoint(AWS_PROJECTOR_CHECKPOINT, &page.next)
                    .await?;
                tracing::info!(
                    events = report.events,
                    balance_writes = report.balance_writes,
                    "projected"
                );
                Ok(page.events.len())
            }
        }
    }

    async fn mature(&self) -> Result<ledger_app::MatureReport, ledger_app::AppError> {
        let (now, limit) = (chrono::Utc::now(), ledger_app::MATURE_PER_RUN_MAX);
        match self {
            Backend::Embedded(store) => ledger_app::mature_due(store, store, now, limit).await,
            Backend::Aws { store, projection } => {
                ledger_app::mature_due(store, projection, now, limit).await
            }
        }
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

/// The OpenAPI 3.1 document of everything the stack serves: the functions'
/// routes (generated from their handlers) and the stack's own.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    use utoipa::OpenApi;
    let mut doc = ledger_api::openapi::document();
    doc.merge(ingest_commissions::IngestApiDoc::openapi());
    doc.merge(processor_webhooks::WebhooksApiDoc::openapi());
    doc.merge(LocalApiDoc::openapi());
    doc.merge(web::WebApiDoc::openapi());
    doc.info.title = "Affiliate payouts ledger".to_owned();
    doc.info.description = Some(
        "The ledger's HTTP API: ingest, balances and journal, payouts, statements, audit, processor webhooks, tenant webhooks (events out), and the local stack's own routes (tag `local`).".to_owned(),
    );
    doc
}

/// The local stack's own routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(queues::enqueue, queues::dead_letters, queues::redrive_commissions, queues::dispatch_dead_letters, queues::redrive_dispatch, files::download_file, events_out::stream, serve_openapi),
    tags((name = "local", description = "the local stack only: in-process queues, file links, this document"))
)]
struct LocalApiDoc;

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "local", responses((status = 200, description = "the OpenAPI 3.1 document", content_type = "application/json")))]
async fn serve_openapi() -> Response {
    use axum::response::IntoResponse;
    axum::Json(openapi_document()).into_response()
}

fn openapi_routes() -> Router {
    Router::new().route("/openapi.json", axum::routing::get(serve_openapi))
}

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
async fn deliver_sandbox_notifications(
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

/// How long the projector waits after a failed step.
pub const PROJECTOR_RETRY_MS: u64 = 1_000;

/// How often the local stack runs the maturing job.
pub const MATURE_EVERY_MS: u64 = 2_000;

/// Runs the projector until `stop` resolves, then drains what is left, so
/// every acknowledged event is projected before the stack exits.
pub async fn run_projector(
    backend: Backend,
    workers: Workers,
    processors: Arc<processors::Processors>,
    notifications: Option<(Vec<u8>, Option<PathBuf>)>,
    reports: Option<(Arc<reporting::ReportFiles>, PathBuf)>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<u64, StackError> {
    let Workers {
        queue,
        dispatch,
        events_out,
    } = workers;
    let webhooks = notifications
        .as_ref()
        .map(|(key, _)| (backend.webhooks(key), sandbox_webhook_secret(key)));
    let inbox = notifications.and_then(|(_, files)| {
        files.map(|f| {
            // Status files answer the payment files the SEPA processor writes.
            let payment_files = processors
                .sepa
                .as_ref()
                .map(|s| s.store().clone())
                .unwrap_or_else(|| processors::sepa::FileStore::Directory(f.clone()));
            (sepa_status_inbox(&f), payment_files)
        })
    });
    let mut projected = 0u64;
    let mut last_maturing = tokio::time::Instant::now() - Duration::from_millis(MATURE_EVERY_MS);
    loop {
        // The maturing job, as the schedule runs it on AWS.
        if last_maturing.elapsed() >= Duration::from_millis(MATURE_EVERY_MS) && !*stop.borrow() {
            last_maturing = tokio::time::Instant::now();
            match backend.mature().await {
                Ok(report) if report.matured + report.settled + report.failed > 0 => {
                    tracing::info!(
                        matured = report.matured,
                        settled = report.settled,
                        failed = report.failed,
                        "maturing run"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "maturing run failed; retrying on the next run")
                }
            }
        }
        let events = match backend.project_step().await {
            Ok(events) => events,
            // The projector stays at an event it cannot project (never
            // skipping it) and says so, while the stack keeps serving.
            Err(e) if !*stop.borrow() => {
                tracing::error!(error = %e, "projection stopped; retrying");
                tokio::time::sleep(Duration::from_millis(PROJECTOR_RETRY_MS)).await;
                continue;
            }
            Err(e) => return Err(e),
        };
        projected += events as u64;
        // The local commissions queue, as the SQS event source would poll it.
        let delivered = queue.deliver(&backend).await;
        // The dispatch queue, as the dispatch-payouts function consumes it.
        let dispatched = dispatch.deliver(&backend, &processors).await;
        // The sandbox's notifications and the bank's status files.
        let mut notified = 0;
        if let Some((router, secret)) = &webhooks {
            notified += deliver_sandbox_notifications(router, &processors, secret).await;
        }
        if let Some((inbox, payment_files)) = &inbox {
            notified += backend.sepa_status_files(inbox, payment_files).await;
        }
        if let Some((reports, files_dir)) = &reports {
            notified += backend.reconcile_inbox(reports, files_dir).await;
        }
        // Public events out: webhooks and the live feed.
        let sent = match events_out.step(&backend).await {
            Ok(step) => step.public_events + step.queued + step.delivered,
            Err(e) => {
                tracing::error!(error = %e, "webhook fan-out stopped; retrying");
                0
            }
        };
        if events > 0 || delivered > 0 || dispatched > 0 || notified > 0 || sent > 0 {
            continue;
        }
        if *stop.borrow() {
            return Ok(projected);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(PROJECTOR_IDLE_MS)) => {}
            _ = stop.changed() => {}
        }
    }
}

/// What the stack's background loop works through besides projecting: the
/// in-process queues, as their event sources would poll them on AWS, and
/// public events out.
pub struct Workers {
    pub queue: LocalQueue,
    pub dispatch: LocalDispatchQueue,
    pub events_out: EventsOut,
}

/// A running stack.
pub struct Running {
    pub address: SocketAddr,
    /// The in-process commissions queue.
    pub queue: LocalQueue,
    /// The in-process payout dispatch queue.
    pub dispatch: LocalDispatchQueue,
    /// The processors dispatch pays through (the sandbox among them).
    pub processors: Arc<processors::Processors>,
    stop_server: tokio::sync::watch::Sender<bool>,
    stop_projector: tokio::sync::watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    projector: tokio::task::JoinHandle<Result<u64, StackError>>,
}

impl Running {
    /// Stops accepting, finishes in-flight requests, drains the projector.
    pub async fn shutdown(self) -> Result<u64, StackError> {
        // The server first: every request in flight finishes and its events
        // are committed; then the projector drains everything committed.
        let _ = self.stop_server.send(true);
        self.server
            .await
            .map_err(|e| StackError::Io(e.to_string()))?
            .map_err(|e| StackError::Io(e.to_string()))?;
        let _ = self.stop_projector.send(true);
        self.projector
            .await
            .map_err(|e| StackError::Io(e.to_string()))?
    }
}

/// The processors of the local stack: those configured in the environment
/// (see `processors::Processors::from_env`), the sandbox always, and SEPA
/// files in `files_dir` from a demonstration debtor account unless a
/// debtor is configured.
pub fn local_processors(files_dir: Option<&Path>) -> Result<processors::Processors, StackError> {
    let mut p = processors::Processors::from_env(None).map_err(StackError::Io)?;
    if p.sandbox.is_none() {
        p.sandbox = Some(Arc::new(processors::sandbox::Sandbox::new()));
    }
    if let (None, Some(dir)) = (&p.sepa, files_dir) {
        let debtor = processors::sepa::Debtor::new(
            "Local Demo Payouts",
            "DE02120300000000202051",
            Some("BYLADEM1001"),
        )
        .map_err(StackError::Io)?;
        p.sepa = Some(processors::sepa::SepaFiles::new(
            debtor,
            processors::sepa::FileStore::Directory(dir.to_owned()),
        ));
    }
    Ok(p)
}

/// Starts the stack on `127.0.0.1:port` (0 picks a free port), paying
/// through the sandbox only.
pub async fn start(backend: Backend, key: Vec<u8>, port: u16) -> Result<Running, StackError> {
    start_with(backend, key, port, Arc::new(local_processors(None)?)).await
}

/// Starts the stack with the given processors.
pub async fn start_with(
    backend: Backend,
    key: Vec<u8>,
    port: u16,
    processors: Arc<processors::Processors>,
) -> Result<Running, StackError> {
    start_full(backend, key, port, processors, None).await
}

/// Where the stack reads SEPA status files in its files directory.
pub fn sepa_status_inbox(files_dir: &Path) -> PathBuf {
    files_dir.join("sepa-status").join("inbox")
}

/// Where the stack reads processor reports to reconcile.
pub fn reports_inbox(files_dir: &Path) -> PathBuf {
    files_dir.join("reports").join("inbox")
}

/// Starts the stack with the given processors. With a files directory it
/// reads SEPA status files from `sepa-status/inbox/` and processor reports
/// from `reports/inbox/{tenant}/{processor}/` there, and keeps statements
/// and reconciliation reports in it (downloaded through signed links).
pub async fn start_full(
    backend: Backend,
    key: Vec<u8>,
    port: u16,
    processors: Arc<processors::Processors>,
    files_dir: Option<PathBuf>,
) -> Result<Running, StackError> {
    let notifications = Some((key.clone(), files_dir.clone()));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| StackError::Io(format!("bind 127.0.0.1:{port}: {e}")))?;
    let address = listener
        .local_addr()
        .map_err(|e| StackError::Io(e.to_string()))?;
    let reports = match &files_dir {
        None => None,
        Some(dir) => {
            let time_zones = reporting::statement::TimeZones::from_env().map_err(StackError::Io)?;
            Some(Arc::new(reporting::ReportFiles {
                files: file_store::FileStore::Directory(dir.clone()),
                links: Some(file_store::LocalLinks::new(
                    format!("http://{address}"),
                    download_link_secret(&key),
                )),
                time_zones,
            }))
        }
    };
    let queue = LocalQueue::default();
    let dispatch = LocalDispatchQueue::default();
    let events_out = EventsOut::new(backend.webhook_store());
    let (stop_server, mut server_stopped) = tokio::sync::watch::channel(false);
    let (stop_projector, projector_stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(
        axum::serve(
            listener,
            backend.app(
                key,
                queue.clone(),
                dispatch.clone(),
                reports.clone(),
                &events_out,
            ),
        )
        .with_graceful_shutdown(async move {
            let _ = server_stopped.wait_for(|s| *s).await;
        })
        .into_future(),
    );
    let projector = tokio::spawn(run_projector(
        backend,
        Workers {
            queue: queue.clone(),
            dispatch: dispatch.clone(),
            events_out,
        },
        processors.clone(),
        notifications,
        reports.zip(files_dir),
        projector_stopped,
    ));
    Ok(Running {
        address,
        queue,
        dispatch,
        processors,
        stop_server,
        stop_projector,
        server,
        projector,
    })
}
