//! Creates the ledger's DynamoDB tables (event store and projection) at an endpoint (the emulator, or an
//! account where SAM is not used). The tests create theirs with the same code.

use clap::Parser;

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
    match aws_emulator::ledger_on_dynamodb(&config, &args.table_prefix).await {
        Ok(_) => {
            println!(
                "tables ready at {}: {p}events, {p}idempotency, {p}checkpoints, {p}balances, {p}journal, {p}projected, {p}maturities",
                args.endpoint_url,
                p = args.table_prefix
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
