//! `create-tables`: the ledger's DynamoDB tables at an endpoint, by the
//! same code the tests and the local stack create theirs with.

use crate::cli::Cli;
use crate::failure::{Failure, failed, refused};

pub(crate) async fn create_tables(cli: &Cli) -> Result<(), Failure> {
    let config = match (&cli.aws_endpoint, cli.aws) {
        (Some(endpoint), _) => aws_emulator::sdk_config_for(endpoint),
        (None, true) => aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await,
        (None, false) => {
            return Err(refused(
                "create-tables is for DynamoDB: name --aws-endpoint URL (an emulator) or --aws",
            ));
        }
    };
    event_store_dynamodb::ledger_on_dynamodb(&config, &cli.table_prefix)
        .await
        .map_err(failed)?;
    let p = &cli.table_prefix;
    println!(
        "tables ready: {p}events, {p}idempotency, {p}checkpoints, {p}balances, {p}journal, {p}projected, {p}maturities, {p}webhooks"
    );
    Ok(())
}
