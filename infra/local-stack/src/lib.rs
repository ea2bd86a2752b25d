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

use aws_lambda_events::event::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
    ApiGatewayV2httpRequestContext,
};
use axum::Router;
use axum::body::Body;
use axum::http::Request;
use axum::middleware::Next;
use axum::response::Response;
use event_store_sqlite::SqliteEventStore;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use lambda_http::request::RequestContext;
use serde::{Deserialize, Serialize};

pub mod web;

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

/// The claims of a development token: what API Gateway's JWT authorizer
/// would pass on from a real identity provider.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct DevClaims {
    pub iss: String,
    pub sub: String,
    pub tenant_id: String,
    pub roles: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub affiliate_id: Option<String>,
    pub exp: i64,
}

/// The signing key of the data directory, created on first use.
pub fn signing_key(data_dir: &Path) -> Result<Vec<u8>, StackError> {
    let path = data_dir.join("dev-signing-key");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(key) = hex::decode(text.trim()) {
            if key.len() == 32 {
                return Ok(key);
            }
        }
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| StackError::Io(format!("create {}: {e}", data_dir.display())))?;
    let mut key = vec![0u8; 32];
    getrandom::fill(&mut key).map_err(|e| StackError::Io(format!("random key: {e}")))?;
    std::fs::write(&path, hex::encode(&key))
        .map_err(|e| StackError::Io(format!("write {}: {e}", path.display())))?;
    Ok(key)
}

/// Mints a development token for a role.
pub fn mint_token(
    key: &[u8],
    tenant: &str,
    role: &str,
    subject: &str,
    affiliate: Option<&str>,
) -> Result<String, StackError> {
    if !ROLES.contains(&role) {
        return Err(StackError::UnknownRole(role.to_owned()));
    }
    if role == "affiliate" && affiliate.is_none() {
        return Err(StackError::AffiliateMissing);
    }
    let claims = DevClaims {
        iss: DEV_ISSUER.to_owned(),
        sub: subject.to_owned(),
        tenant_id: tenant.to_owned(),
        roles: role.to_owned(),
        affiliate_id: affiliate.map(str::to_owned),
        exp: chrono::Utc::now().timestamp() + TOKEN_TTL_SECONDS,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .map_err(|e| StackError::Token(e.to_string()))
}

/// Verifies a bearer token; None for anything missing, forged or expired.
fn verify(key: &[u8], authorization: Option<&str>) -> Option<DevClaims> {
    let token = authorization?.strip_prefix("Bearer ")?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[DEV_ISSUER]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    jsonwebtoken::decode::<DevClaims>(token, &DecodingKey::from_secret(key), &validation)
        .ok()
        .map(|d| d.claims)
}

/// Turns a verified token into the authorizer context API Gateway would
/// give the handler; strips any context a client tried to smuggle in.
async fn authorize(key: Arc<Vec<u8>>, mut request: Request<Body>, next: Next) -> Response {
    request.extensions_mut().remove::<RequestContext>();
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok());
    if let Some(claims) = verify(&key, authorization) {
        let mut map = std::collections::HashMap::new();
        map.insert("sub".to_owned(), claims.sub);
        map.insert("tenant_id".to_owned(), claims.tenant_id);
        map.insert("roles".to_owned(), claims.roles);
        if let Some(affiliate) = claims.affiliate_id {
            map.insert("affiliate_id".to_owned(), affiliate);
        }
        let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
        jwt.claims = map;
        let mut authorizer = ApiGatewayRequestAuthorizer::default();
        authorizer.jwt = Some(jwt);
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.authorizer = Some(authorizer);
        // Like API Gateway, give every request an id the events will carry.
        let mut id = [0u8; 8];
        if getrandom::fill(&mut id).is_ok() {
            context.request_id = Some(format!("local-{}", hex::encode(id)));
        }
        request
            .extensions_mut()
            .insert(RequestContext::ApiGatewayV2(context));
    }
    next.run(request).await
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

    /// The whole HTTP surface, behind the development authorizer (the
    /// webhook routes check the processors' signatures instead).
    pub fn app(
        &self,
        key: Vec<u8>,
        queue: LocalQueue,
        dispatch: LocalDispatchQueue,
        reports: Option<Arc<reporting::ReportFiles>>,
    ) -> Router {
        let webhooks = self.webhooks(&key);
        let page = web::routes(Arc::new(key.clone()));
        let files = reports.clone().map(file_routes).unwrap_or_default();
        let app = match self {
            Backend::Embedded(store) => {
                app_for(store.clone(), store.clone(), key, queue, dispatch, reports)
            }
            Backend::Aws { store, projection } => app_for(
                store.clone(),
                projection.clone(),
                key,
                queue,
                dispatch,
                reports,
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
        .layer(axum::middleware::from_fn(move |request, next| {
            authorize(key.clone(), request, next)
        }))
}

/// The secret the stack signs its download links with, derived from its
/// development key.
pub fn download_link_secret(key: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    hasher.update(key);
    hasher.update(b"download-links");
    hasher.finalize().to_vec()
}

/// `GET /files/{key}?expires=&signature=`: what S3 presigned URLs are on
/// AWS. Serves a file of the local directory only with a valid, unexpired
/// link; no token needed (the link is the credential).
fn file_routes(reports: Arc<reporting::ReportFiles>) -> Router {
    Router::new()
        .route("/files/{*key}", axum::routing::get(download_file))
        .with_state(reports)
}

/// A file of the local directory, with a link the API handed out.
#[utoipa::path(get, path = "/files/{key}", tag = "local",
    params(("key" = String, Path, description = "the file's key (slashes included)"), ("expires" = i64, Query), ("signature" = String, Query)),
    responses((status = 200, description = "the file (text/csv or application/json)"), (status = 403, body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "no link, an altered one, or an expired one"), (status = 404, body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "no such file")))]
async fn download_file(
    axum::extract::State(reports): axum::extract::State<Arc<reporting::ReportFiles>>,
    axum::extract::Path(key): axum::extract::Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
) -> Response {
    use axum::response::IntoResponse;
    let denied = || {
        lambda_edge::problem::Problem::forbidden("the download link is invalid or has expired")
            .into_response()
    };
    let Some(links) = &reports.links else {
        return denied();
    };
    let mut expires = None;
    let mut signature = None;
    for pair in query.as_deref().unwrap_or_default().split('&') {
        match pair.split_once('=') {
            Some(("expires", v)) => expires = v.parse::<i64>().ok(),
            Some(("signature", v)) => signature = Some(v.to_owned()),
            _ => {}
        }
    }
    let (Some(expires), Some(signature)) = (expires, signature) else {
        return denied();
    };
    if links
        .verify(&key, expires, &signature, chrono::Utc::now())
        .is_err()
    {
        return denied();
    }
    match reports.files.read(&key).await {
        Ok(Some(bytes)) => {
            let kind = if key.ends_with(".csv") {
                "text/csv"
            } else {
                "application/json"
            };
            ([("content-type", kind)], bytes).into_response()
        }
        Ok(None) => lambda_edge::problem::Problem::not_found("file").into_response(),
        Err(_) => lambda_edge::problem::Problem::unavailable().into_response(),
    }
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
        "The ledger's HTTP API: ingest, balances and journal, payouts, statements, audit, processor webhooks, and the local stack's own routes (tag `local`).".to_owned(),
    );
    doc
}

/// The local stack's own routes.
#[derive(utoipa::OpenApi)]
#[openapi(
    paths(enqueue, dead_letters, redrive_commissions, dispatch_dead_letters, redrive_dispatch, download_file, serve_openapi),
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
    queue: LocalQueue,
    dispatch: LocalDispatchQueue,
    processors: Arc<processors::Processors>,
    notifications: Option<(Vec<u8>, Option<PathBuf>)>,
    reports: Option<(Arc<reporting::ReportFiles>, PathBuf)>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<u64, StackError> {
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
        if events > 0 || delivered > 0 || dispatched > 0 || notified > 0 {
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
    let (stop_server, mut server_stopped) = tokio::sync::watch::channel(false);
    let (stop_projector, projector_stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(
        axum::serve(
            listener,
            backend.app(key, queue.clone(), dispatch.clone(), reports.clone()),
        )
        .with_graceful_shutdown(async move {
            let _ = server_stopped.wait_for(|s| *s).await;
        })
        .into_future(),
    );
    let projector = tokio::spawn(run_projector(
        backend,
        queue.clone(),
        dispatch.clone(),
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

/// Receives before a message moves to the dead letters (the template's
/// `maxReceiveCount` for the commissions queue).
pub const QUEUE_RECEIVES_MAX: u32 = 5;
/// Messages handed to the SQS handler at once (the template's batch size).
pub const QUEUE_BATCH_MAX: usize = 10;
/// The most messages the local queue holds.
pub const QUEUE_LENGTH_MAX: usize = 10_000;

/// One message of the local commissions queue.
#[derive(Debug, Clone, Serialize)]
pub struct QueuedMessage {
    pub message_id: String,
    pub tenant_id: String,
    pub idempotency_key: Option<String>,
    pub body: String,
    pub receives: u32,
}

/// What the local queues hold: a message with its id and receive count.
trait Queued: Clone {
    fn id(&self) -> &str;
    fn receives(&mut self) -> &mut u32;
    /// The record the SQS handler is given.
    fn record(&self) -> serde_json::Value;
    /// Called when the handler left the message for retry.
    fn left_for_retry(&mut self) {}
}

/// A queue and its dead-letter queue, in memory, with SQS's receive
/// semantics: batches of `QUEUE_BATCH_MAX`, a failed message received
/// again until `QUEUE_RECEIVES_MAX`, then kept as a dead letter.
struct Lanes<T> {
    pending: Arc<std::sync::Mutex<std::collections::VecDeque<T>>>,
    dead: Arc<std::sync::Mutex<Vec<T>>>,
}

impl<T> Clone for Lanes<T> {
    fn clone(&self) -> Self {
        Lanes {
            pending: Arc::clone(&self.pending),
            dead: Arc::clone(&self.dead),
        }
    }
}

impl<T> Default for Lanes<T> {
    fn default() -> Self {
        Lanes {
            pending: Arc::default(),
            dead: Arc::default(),
        }
    }
}

impl<T: Queued> Lanes<T> {
    /// Queues all of `messages` or, past `QUEUE_LENGTH_MAX`, none.
    fn push(&self, messages: Vec<T>) -> Result<(), &'static str> {
        let mut pending = self
            .pending
            .lock()
            .map_err(|_| "the local queue is broken")?;
        if pending.len() + messages.len() > QUEUE_LENGTH_MAX {
            return Err("the local queue is full");
        }
        pending.extend(messages);
        Ok(())
    }

    fn pending(&self) -> usize {
        self.pending.lock().map(|p| p.len()).unwrap_or_default()
    }

    fn dead_letters(&self) -> Vec<T> {
        self.dead.lock().map(|d| d.clone()).unwrap_or_default()
    }

    /// Takes the next batch as an SQS event for the handler.
    fn receive(&self) -> Option<(Vec<T>, aws_lambda_events::event::sqs::SqsEvent)> {
        let batch: Vec<T> = {
            let mut pending = self.pending.lock().ok()?;
            let n = pending.len().min(QUEUE_BATCH_MAX);
            pending.drain(..n).collect()
        };
        if batch.is_empty() {
            return None;
        }
        let records: Vec<serde_json::Value> = batch.iter().map(Queued::record).collect();
        match serde_json::from_value(serde_json::json!({"Records": records})) {
            Ok(event) => Some((batch, event)),
            Err(e) => {
                tracing::error!(error = %e, "a local queue batch is not an SQS event; kept for retry");
                self.settle(&batch, &batch.iter().map(|m| m.id().to_owned()).collect());
                None
            }
        }
    }

    /// After the handler: the messages it reported failed are received
    /// again, or kept as dead letters once out of receives.
    fn settle(&self, batch: &[T], failed: &std::collections::HashSet<String>) {
        for message in batch {
            if !failed.contains(message.id()) {
                continue;
            }
            let mut message = message.clone();
            *message.receives() += 1;
            message.left_for_retry();
            if *message.receives() >= QUEUE_RECEIVES_MAX {
                tracing::warn!(message_id = %message.id(), "message moved to the dead letters");
                if let Ok(mut dead) = self.dead.lock() {
                    dead.push(message);
                }
            } else if let Ok(mut pending) = self.pending.lock() {
                pending.push_back(message);
            }
        }
    }

    /// Moves the chosen dead letters of one tenant back to the queue with
    /// their receives reset (safe: ingest is idempotent by key, dispatch
    /// asks the processor before paying); returns their ids.
    fn redrive(
        &self,
        body: &RedriveBody,
        tenant_of: impl Fn(&T) -> bool,
    ) -> Result<Vec<String>, &'static str> {
        let mut dead = self.dead.lock().map_err(|_| "the local queue is broken")?;
        let mut pending = self
            .pending
            .lock()
            .map_err(|_| "the local queue is broken")?;
        let (taken, kept): (Vec<T>, Vec<T>) = dead.drain(..).partition(|m| {
            tenant_of(m) && (body.all || body.message_ids.iter().any(|id| id == m.id()))
        });
        if pending.len() + taken.len() > QUEUE_LENGTH_MAX {
            dead.extend(kept);
            dead.extend(taken);
            return Err("the local queue is full");
        }
        *dead = kept;
        let mut ids = Vec::with_capacity(taken.len());
        for mut message in taken {
            *message.receives() = 0;
            ids.push(message.id().to_owned());
            pending.push_back(message);
        }
        Ok(ids)
    }
}

fn failed_ids(
    response: aws_lambda_events::event::sqs::SqsBatchResponse,
) -> std::collections::HashSet<String> {
    response
        .batch_item_failures
        .into_iter()
        .map(|f| f.item_identifier)
        .collect()
}

impl Queued for QueuedMessage {
    fn id(&self) -> &str {
        &self.message_id
    }

    fn receives(&mut self) -> &mut u32 {
        &mut self.receives
    }

    fn record(&self) -> serde_json::Value {
        let mut attributes =
            serde_json::json!({"tenant_id": {"stringValue": self.tenant_id, "dataType": "String"}});
        if let Some(key) = &self.idempotency_key {
            attributes["idempotency_key"] =
                serde_json::json!({"stringValue": key, "dataType": "String"});
        }
        serde_json::json!({
            "messageId": self.message_id,
            "body": self.body,
            "attributes": {"ApproximateReceiveCount": (self.receives + 1).to_string()},
            "messageAttributes": attributes,
            "eventSource": "aws:sqs",
        })
    }
}

/// The in-process stand-in for the commissions queue and its dead-letter
/// queue: messages go through the same SQS handler as on AWS, failed ones
/// are received again, and after `QUEUE_RECEIVES_MAX` receives they are kept
/// as dead letters. It lives in memory: Ctrl-C drains it, a crash loses what
/// it has not handed over yet.
#[derive(Clone, Default)]
pub struct LocalQueue {
    lanes: Lanes<QueuedMessage>,
}

impl LocalQueue {
    fn push(&self, message: QueuedMessage) -> Result<(), lambda_edge::problem::Problem> {
        self.lanes
            .push(vec![message])
            .map_err(|_| lambda_edge::problem::Problem::unavailable())
    }

    pub fn dead_letters(&self) -> Vec<QueuedMessage> {
        self.lanes.dead_letters()
    }

    /// Hands one batch to the SQS handler; returns how many were handled.
    async fn deliver(&self, backend: &Backend) -> usize {
        let Some((batch, event)) = self.lanes.receive() else {
            return 0;
        };
        let response = match backend {
            Backend::Embedded(store) => ingest_commissions::handle_sqs(store, event).await,
            Backend::Aws { store, .. } => ingest_commissions::handle_sqs(store, event).await,
        };
        self.lanes.settle(&batch, &failed_ids(response));
        batch.len()
    }
}

struct QueueState {
    queue: LocalQueue,
}

impl lambda_edge::TenantClaim for QueueState {
    fn tenant_claim(&self) -> &str {
        "tenant_id"
    }
}

/// The commissions queue's stand-in: one message, handed to the SQS handler:
/// a commission (or `{"commissions": [...]}`), or a reversal or adjustment
/// with its `kind` and `commission_id` (or `{"changes": [...]}`).
#[utoipa::path(post, path = "/local/queues/commissions", tag = "local", params(("Idempotency-Key" = Option<String>, Header)),
    request_body(content(
        (ingest_commissions::wire::CommissionWire = "application/json"),
    ), description = "a commission, as `POST /v1/commissions` takes it (no `kind`, or `\"kind\": \"commission\"`); or a change, as one item of `POST /v1/commission-changes` (ChangeWire: `\"kind\": \"reversal\"` or `\"adjustment\"` with its `commission_id`); or either's bulk body"),
    responses((status = 202, description = "queued: `{\"message_id\": …}`"), (status = "4XX", body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "refused; the problem names the rule")), security(("bearer" = [])))]
async fn enqueue(
    axum::extract::State(state): axum::extract::State<Arc<QueueState>>,
    lambda_edge::Caller(identity): lambda_edge::Caller,
    headers: axum::http::HeaderMap,
    body: Body,
) -> Result<Response, lambda_edge::problem::Problem> {
    use axum::response::IntoResponse;
    lambda_edge::authz::authorize(&identity, lambda_edge::authz::Action::IngestCommissions)?;
    let bytes = axum::body::to_bytes(body, ingest_commissions::BODY_BYTES_MAX)
        .await
        .map_err(|_| {
            lambda_edge::problem::Problem::too_large(ingest_commissions::BODY_BYTES_MAX)
        })?;
    let body = String::from_utf8(bytes.to_vec()).map_err(|_| {
        lambda_edge::problem::Problem::malformed_json("the body is not UTF-8".into())
    })?;
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|_| lambda_edge::problem::Problem::unavailable())?;
    let message_id = hex::encode(id);
    state.queue.push(QueuedMessage {
        message_id: message_id.clone(),
        tenant_id: identity.tenant_id.to_string(),
        idempotency_key: headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        body,
        receives: 0,
    })?;
    Ok((
        axum::http::StatusCode::ACCEPTED,
        axum::Json(serde_json::json!({"message_id": message_id})),
    )
        .into_response())
}

/// The tenant's commission messages that exhausted their receives (admins).
#[utoipa::path(get, path = "/local/queues/commissions/dead-letters", tag = "local", responses((status = 200, description = "`{\"dead_letters\": [...]}`"), (status = "4XX", body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "refused; the problem names the rule")), security(("bearer" = [])))]
async fn dead_letters(
    axum::extract::State(state): axum::extract::State<Arc<QueueState>>,
    lambda_edge::Caller(identity): lambda_edge::Caller,
) -> Result<Response, lambda_edge::problem::Problem> {
    use axum::response::IntoResponse;
    lambda_edge::authz::authorize(&identity, lambda_edge::authz::Action::ReadAudit)?;
    // Only the caller's own tenant's messages.
    let mine: Vec<QueuedMessage> = state
        .queue
        .dead_letters()
        .into_iter()
        .filter(|m| m.tenant_id == identity.tenant_id.as_str())
        .collect();
    Ok(axum::Json(serde_json::json!({"dead_letters": mine})).into_response())
}

/// Which dead letters to move back: named ones, or all of the tenant's
/// (which must be said explicitly).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedriveBody {
    #[serde(default)]
    pub message_ids: Vec<String>,
    #[serde(default)]
    pub all: bool,
}

fn redrive_selection(body: &RedriveBody) -> Result<(), lambda_edge::problem::Problem> {
    if body.message_ids.is_empty() != body.all {
        return Err(lambda_edge::problem::Problem::unprocessable(vec![
            lambda_edge::problem::FieldError {
                field: "message_ids".into(),
                rule: "name the messages, or send \"all\": true (and no ids) to move every one of your tenant's".into(),
            },
        ]));
    }
    Ok(())
}

/// Moves named dead letters (or, said explicitly, all of the tenant's) back to the queue (admins).
#[utoipa::path(post, path = "/local/queues/commissions/dead-letters/redrive", tag = "local", request_body = RedriveBody,
    responses((status = 200, description = "`{\"redriven\": [ids]}`"), (status = "4XX", body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "refused; the problem names the rule")), security(("bearer" = [])))]
async fn redrive_commissions(
    axum::extract::State(state): axum::extract::State<Arc<QueueState>>,
    lambda_edge::Caller(identity): lambda_edge::Caller,
    axum::Json(body): axum::Json<RedriveBody>,
) -> Result<Response, lambda_edge::problem::Problem> {
    use axum::response::IntoResponse;
    lambda_edge::authz::authorize(&identity, lambda_edge::authz::Action::ReadAudit)?;
    redrive_selection(&body)?;
    let ids = state
        .queue
        .lanes
        .redrive(&body, |m| m.tenant_id == identity.tenant_id.as_str())
        .map_err(|_| lambda_edge::problem::Problem::unavailable())?;
    tracing::info!(tenant = %identity.tenant_id, count = ids.len(), "commission dead letters re-driven");
    Ok(axum::Json(serde_json::json!({"redriven": ids})).into_response())
}

fn queue_routes(queue: LocalQueue) -> Router {
    Router::new()
        .route("/local/queues/commissions", axum::routing::post(enqueue))
        .route(
            "/local/queues/commissions/dead-letters",
            axum::routing::get(dead_letters),
        )
        .route(
            "/local/queues/commissions/dead-letters/redrive",
            axum::routing::post(redrive_commissions),
        )
        .with_state(Arc::new(QueueState { queue }))
}

/// One message of the local dispatch queue.
#[derive(Debug, Clone, Serialize)]
pub struct DispatchEnvelope {
    pub message_id: String,
    pub message: ledger_app::payouts::DispatchMessage,
    pub receives: u32,
    /// Why the last attempt left it for retry.
    pub last_error: Option<String>,
}

impl Queued for DispatchEnvelope {
    fn id(&self) -> &str {
        &self.message_id
    }

    fn receives(&mut self) -> &mut u32 {
        &mut self.receives
    }

    fn record(&self) -> serde_json::Value {
        serde_json::json!({
            "messageId": self.message_id,
            "body": serde_json::to_string(&self.message).unwrap_or_default(),
            "attributes": {"ApproximateReceiveCount": (self.receives + 1).to_string()},
            "messageAttributes": {},
            "eventSource": "aws:sqs",
        })
    }

    fn left_for_retry(&mut self) {
        self.last_error = Some("left for retry (see the stack's log)".into());
    }
}

/// The in-process stand-in for the dispatch queue and its dead-letter
/// queue, consumed by the same handler as the dispatch-payouts function.
#[derive(Clone, Default)]
pub struct LocalDispatchQueue {
    lanes: Lanes<DispatchEnvelope>,
    sequence: Arc<std::sync::atomic::AtomicU64>,
}

#[async_trait::async_trait]
impl ledger_app::payouts::DispatchQueue for LocalDispatchQueue {
    async fn enqueue(
        &self,
        messages: &[ledger_app::payouts::DispatchMessage],
    ) -> Result<(), event_store::StoreError> {
        let envelopes = messages
            .iter()
            .map(|message| {
                let n = self
                    .sequence
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                DispatchEnvelope {
                    message_id: format!("dispatch-{n:08}"),
                    message: message.clone(),
                    receives: 0,
                    last_error: None,
                }
            })
            .collect();
        self.lanes
            .push(envelopes)
            .map_err(|e| event_store::StoreError::Unavailable(format!("dispatch queue: {e}")))
    }
}

impl LocalDispatchQueue {
    pub fn dead_letters(&self) -> Vec<DispatchEnvelope> {
        self.lanes.dead_letters()
    }

    pub fn pending(&self) -> usize {
        self.lanes.pending()
    }

    /// Hands one batch to the dispatch handler; returns how many it took.
    async fn deliver(&self, backend: &Backend, processors: &processors::Processors) -> usize {
        let Some((batch, event)) = self.lanes.receive() else {
            return 0;
        };
        let response = match backend {
            Backend::Embedded(store) => {
                dispatch_payouts::handle_sqs(store, processors, event).await
            }
            Backend::Aws { store, .. } => {
                dispatch_payouts::handle_sqs(store, processors, event).await
            }
        };
        self.lanes.settle(&batch, &failed_ids(response));
        batch.len()
    }
}

struct DispatchState {
    queue: LocalDispatchQueue,
}

impl lambda_edge::TenantClaim for DispatchState {
    fn tenant_claim(&self) -> &str {
        "tenant_id"
    }
}

/// The tenant's payout items that exhausted their dispatch retries (finance).
#[utoipa::path(get, path = "/local/queues/dispatch/dead-letters", tag = "local", responses((status = 200, description = "`{\"dead_letters\": [...]}`"), (status = "4XX", body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "refused; the problem names the rule")), security(("bearer" = [])))]
async fn dispatch_dead_letters(
    axum::extract::State(state): axum::extract::State<Arc<DispatchState>>,
    lambda_edge::Caller(identity): lambda_edge::Caller,
) -> Result<Response, lambda_edge::problem::Problem> {
    use axum::response::IntoResponse;
    lambda_edge::authz::authorize(&identity, lambda_edge::authz::Action::ReadPayouts)?;
    let mine: Vec<DispatchEnvelope> = state
        .queue
        .dead_letters()
        .into_iter()
        .filter(|m| m.message.tenant_id == identity.tenant_id)
        .collect();
    Ok(axum::Json(serde_json::json!({"dead_letters": mine})).into_response())
}

/// Moves dispatch dead letters back (finance approvers, admins); dispatch asks the processor before paying.
#[utoipa::path(post, path = "/local/queues/dispatch/dead-letters/redrive", tag = "local", request_body = RedriveBody,
    responses((status = 200, description = "`{\"redriven\": [ids]}`"), (status = "4XX", body = lambda_edge::problem::Problem, content_type = "application/problem+json", description = "refused; the problem names the rule")), security(("bearer" = [])))]
async fn redrive_dispatch(
    axum::extract::State(state): axum::extract::State<Arc<DispatchState>>,
    lambda_edge::Caller(identity): lambda_edge::Caller,
    axum::Json(body): axum::Json<RedriveBody>,
) -> Result<Response, lambda_edge::problem::Problem> {
    use axum::response::IntoResponse;
    lambda_edge::authz::authorize(&identity, lambda_edge::authz::Action::DispatchPayouts)?;
    redrive_selection(&body)?;
    let ids = state
        .queue
        .lanes
        .redrive(&body, |m| m.message.tenant_id == identity.tenant_id)
        .map_err(|_| lambda_edge::problem::Problem::unavailable())?;
    tracing::info!(tenant = %identity.tenant_id, count = ids.len(), "dispatch dead letters re-driven");
    Ok(axum::Json(serde_json::json!({"redriven": ids})).into_response())
}

fn dispatch_routes(queue: LocalDispatchQueue) -> Router {
    Router::new()
        .route(
            "/local/queues/dispatch/dead-letters",
            axum::routing::get(dispatch_dead_letters),
        )
        .route(
            "/local/queues/dispatch/dead-letters/redrive",
            axum::routing::post(redrive_dispatch),
        )
        .with_state(Arc::new(DispatchState { queue }))
}
