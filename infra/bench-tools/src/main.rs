//! Cold start: for each bootstrap binary given, starts a stub of the Lambda
//! runtime API on 127.0.0.1, runs the binary against it, and measures the
//! time from process start to its first `GET /runtime/invocation/next` (the
//! function is initialised and ready for its first event). Prints the
//! median of `--runs` starts per binary, and the binary's size.
//!
//! `cargo run -p bench-tools --release -- target/lambda/*/bootstrap`

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::get;
use clap::Parser;

#[derive(Parser)]
struct Args {
    /// Bootstrap binaries (e.g. target/lambda/ledger-api/bootstrap).
    binaries: Vec<PathBuf>,
    /// Starts per binary; the median is printed.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

/// Starts the stub; every `next` request is reported on the channel and
/// then held open (no event is ever given).
async fn stub() -> (u16, tokio::sync::mpsc::UnboundedReceiver<Instant>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = Router::new().route(
        "/2018-06-01/runtime/invocation/next",
        get(move || {
            let tx = tx.clone();
            async move {
                let _ = tx.send(Instant::now());
                tokio::time::sleep(Duration::from_secs(60)).await;
                ""
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("local address").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (port, rx)
}

async fn cold_start(binary: &PathBuf, data: &std::path::Path) -> Result<Duration, String> {
    let (port, mut ready) = stub().await;
    let started = Instant::now();
    // Absolute, since the child starts in `data`.
    let binary = std::fs::canonicalize(binary).map_err(|e| format!("{}: {e}", binary.display()))?;
    let mut child = tokio::process::Command::new(&binary)
        .env_clear()
        // A fresh directory, so nothing a bootstrap writes lands here.
        .current_dir(data)
        .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
        .env("AWS_LAMBDA_FUNCTION_NAME", "cold-start")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "cold-start")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "cold-start")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "cold")
        .env("AWS_SECRET_ACCESS_KEY", "cold")
        // Nothing listens here: initialisation must not need the network.
        .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("EVENTS_TABLE_PREFIX", "cold-")
        .env("PROJECTION_TABLE_PREFIX", "cold-")
        .env(
            "DISPATCH_QUEUE_URL",
            "http://127.0.0.1:9/000000000000/dispatch",
        )
        .env("PAYOUT_TENANTS", "acme")
        .env("STATEMENT_TENANTS", "acme")
        .env("REPORTS_BUCKET", "cold-reports")
        .env("SEPA_FILES_BUCKET", "cold-payout-files")
        .env("WEBHOOKS_TABLE", "cold-webhooks")
        .env("EVENT_BUS_NAME", "cold-bus")
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let outcome = tokio::select! {
        at = ready.recv() => at.map(|at| at - started).ok_or_else(|| "stub stopped".to_owned()),
        status = child.wait() => {
            let mut said = String::new();
            if let Some(mut stderr) = child.stderr.take() {
                use tokio::io::AsyncReadExt;
                let _ = stderr.read_to_string(&mut said).await;
            }
            Err(format!("{} exited before it was ready ({status:?}): {}", binary.display(), said.trim()))
        }
        _ = tokio::time::sleep(Duration::from_secs(30)) => Err(format!("{} not ready within 30 s", binary.display())),
    };
    let _ = child.kill().await;
    outcome
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let data = tempfile::tempdir().expect("a temporary directory");
    println!(
        "| function | bootstrap size | cold start to ready (median of {}) |",
        args.runs
    );
    println!("|---|---|---|");
    let mut failed = false;
    for binary in &args.binaries {
        let name = binary
            .parent()
            .and_then(|p| p.file_name())
            .filter(|_| binary.file_name().is_some_and(|f| f == "bootstrap"))
            .or_else(|| binary.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let size = std::fs::metadata(binary).map(|m| m.len()).unwrap_or(0);
        let mut times = Vec::new();
        for _ in 0..args.runs.max(1) {
            match cold_start(binary, data.path()).await {
                Ok(t) => times.push(t),
                Err(e) => {
                    eprintln!("{e}");
                    failed = true;
                    break;
                }
            }
        }
        times.sort();
        let median = times
            .get(times.len() / 2)
            .map(|t| format!("{:.1} ms", t.as_secs_f64() * 1000.0))
            .unwrap_or_else(|| "failed".to_owned());
        println!(
            "| {name} | {:.1} MiB | {median} |",
            size as f64 / (1024.0 * 1024.0)
        );
    }
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}
