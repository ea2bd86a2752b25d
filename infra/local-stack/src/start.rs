//! Starting and stopping the stack: binding the port, wiring the server
//! and the background loop, and the processors it pays through.

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::{
    Backend, EventsOut, LocalDispatchQueue, LocalQueue, StackError, Workers, download_link_secret,
    run_projector,
};

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
