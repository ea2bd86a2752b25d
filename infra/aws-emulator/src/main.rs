//! Creates the store's DynamoDB tables at an endpoint (the emulator, or an
//! account where SAM is not used). The tests create theirs with the same code.

use clap::Parser;
use event_store_dynamodb::schema::{Tables, create_tables};

#[derive(Parser)]
#[command(about = "Create the ledger's DynamoDB tables at an AWS-compatible endpoint")]
struct Args {
    /// The endpoint, e.g. http://127.0.0.1:5000 for a local emulator.
    #[arg(long)]
    endpoint_url: String,
    /// Prefix of the table names.
    #[arg(long, default_value = "ledger-")]
    table_prefix: String,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let config = aws_emulator::sdk_config_for(&args.endpoint_url);
    let client = aws_sdk_dynamodb::Client::new(&config);
    let tables = Tables::with_prefix(&args.table_prefix);
    match create_tables(&client, &tables).await {
        Ok(()) => {
            println!(
                "tables ready at {}: {}, {}, {}",
                args.endpoint_url, tables.events, tables.idempotency, tables.checkpoints
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
