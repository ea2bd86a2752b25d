//! `cargo run -p local-stack -- [--demo]`: the whole product on 127.0.0.1,
//! no AWS account. `cargo run -p local-stack -- token --tenant acme --role ingest`
//! prints a development token.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use event_store_sqlite::SqliteEventStore;
use local_stack::{
    Backend, ROLES, TokenArgs, database_path, local_processors, signing_key, start_full,
};

#[derive(Parser)]
#[command(
    about = "The affiliate ledger on 127.0.0.1: ingest, projector and read API on the embedded store"
)]
struct Args {
    /// Where the ledger (SQLite) and the development signing key live.
    #[arg(long, default_value = "data", global = true)]
    data_dir: PathBuf,
    /// The port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Load a sample program (two tenants, four currencies, a payout batch,
    /// refunds and a chargeback) before serving, if the ledger is empty.
    #[arg(long)]
    demo: bool,
    /// Keep the ledger in DynamoDB at this endpoint (the emulator, e.g.
    /// http://127.0.0.1:5000) instead of the embedded SQLite file.
    #[arg(long)]
    aws_endpoint: Option<String>,
    /// Table name prefix on DynamoDB.
    #[arg(long, default_value = "ledger-")]
    table_prefix: String,
    /// Create the DynamoDB tables if they do not exist.
    #[arg(long)]
    create_tables: bool,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Print a development token for one role.
    Token(TokenArgs),
}

async fn serve(args: Args) -> Result<(), String> {
    let key = signing_key(&args.data_dir).map_err(|e| e.to_string())?;
    let (backend, location) = match &args.aws_endpoint {
        Some(endpoint) => {
            let config = aws_emulator::sdk_config_for(endpoint);
            let backend = Backend::aws(&config, &args.table_prefix, args.create_tables)
                .await
                .map_err(|e| e.to_string())?;
            (
                backend,
                format!("DynamoDB at {endpoint}, tables {}*", args.table_prefix),
            )
        }
        None => {
            let path = database_path(&args.data_dir);
            let store = SqliteEventStore::open(&path).map_err(|e| e.to_string())?;
            (
                Backend::Embedded(store),
                format!("{} (open it with sqlite3)", path.display()),
            )
        }
    };
    if args.demo {
        use event_store::EventStore;
        let empty = match &backend {
            Backend::Embedded(store) => store.read_all(None, 1).await,
            Backend::Aws { store, .. } => store.read_all(None, 1).await,
        }
        .map_err(|e| e.to_string())?
        .events
        .is_empty();
        if empty {
            match &backend {
                Backend::Embedded(store) => ledger_demo::run_sample_program(store).await,
                Backend::Aws { store, .. } => ledger_demo::run_sample_program(store).await,
            }
            .map_err(|e| e.to_string())?;
            println!();
        } else {
            println!(
                "the ledger already holds events: serving it as it is (the sample program loads only into an empty ledger)\n"
            );
        }
    }
    let files = args.data_dir.join("files");
    let processors = local_processors(Some(&files)).map_err(|e| e.to_string())?;
    let inbox = local_stack::sepa_status_inbox(&files);
    std::fs::create_dir_all(&inbox).map_err(|e| e.to_string())?;
    let reports_inbox = local_stack::reports_inbox(&files);
    std::fs::create_dir_all(&reports_inbox).map_err(|e| e.to_string())?;
    let running = start_full(
        backend,
        key,
        args.port,
        std::sync::Arc::new(processors),
        Some(files.clone()),
    )
    .await
    .map_err(|e| e.to_string())?;
    let base = format!("http://{}", running.address);
    println!("ledger listening on {base}");
    println!("data: {location}");
    println!(
        "routes: POST {base}/v1/commissions  GET {base}/v1/affiliates/{{id}}/balances  GET {base}/v1/affiliates/{{id}}/journal?currency=EUR"
    );
    println!(
        "payouts: PUT {base}/v1/affiliates/{{id}}/payout-method  POST {base}/v1/payout-runs  POST {base}/v1/payout-batches/{{id}}/approve  GET {base}/v1/payout-batches/{{id}}"
    );
    println!(
        "processors: sandbox (in memory, notifying {base}/v1/webhooks/sandbox); SEPA pain.001 files in {}; SEPA status files (pain.002, camt.054) read from {}",
        files.display(),
        inbox.display()
    );
    println!(
        "tokens: cargo run -q -p local-stack -- token --tenant acme --role ingest   (roles: {})",
        ROLES.join(", ")
    );
    println!(
        "Ctrl-C stops it after finishing requests in flight and projecting every accepted event."
    );
    tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
    println!("stopping...");
    let projected = running.shutdown().await.map_err(|e| e.to_string())?;
    println!("stopped; {projected} events projected in this run");
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    lambda_edge::config::init_logging();
    let args = Args::parse();
    let result = match &args.command {
        Some(Command::Token(token)) => signing_key(&args.data_dir)
            .and_then(|key| token.mint(&key))
            .map(|token| println!("{token}"))
            .map_err(|e| e.to_string()),
        None => serve(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
