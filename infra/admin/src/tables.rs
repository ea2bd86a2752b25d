//! `create-tables`: the ledger's DynamoDB tables at an endpoint, by the
//! same code the tests and the local stack create theirs with.

use crate::backend::{on_dynamodb, sdk_config};
use crate::cli::Cli;
use crate::failure::{Failure, failed, refused};

pub(crate) async fn create_tables(cli: &Cli) -> Result<(), Failure> {
    if !on_dynamodb(cli) {
        return Err(refused(
            "create-tables is for DynamoDB: name --aws-endpoint URL (an emulator) or --aws",
        ));
    }
    event_store_dynamodb::ledger_on_dynamodb(&sdk_config(cli).await, &cli.table_prefix)
        .await
        .map_err(failed)?;
    let p = &cli.table_prefix;
    println!(
        "tables ready: {p}events, {p}idempotency, {p}checkpoints, {p}balances, {p}journal, {p}projected, {p}maturities, {p}webhooks"
    );
    Ok(())
}
