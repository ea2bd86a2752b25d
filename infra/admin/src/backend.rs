//! Opening the store a command works on: the embedded store or DynamoDB.

use event_store_dynamodb::table_scan::TABLE_SCAN_SEGMENTS_MAX;
use local_stack::Backend;

use crate::cli::{Cli, Source, SourceArgs};
use crate::failure::{Failure, failed, refused};

pub(crate) async fn backend(cli: &Cli) -> Result<Backend, Failure> {
    let backend = store_backend(cli).await?;
    match (backend, &cli.projection_prefix) {
        (backend, None) => Ok(backend),
        (Backend::Aws { store, .. }, Some(prefix)) => {
            let projection = event_store_dynamodb::projection::DynamoProjection::new(
                store.client().clone(),
                event_store_dynamodb::projection::ProjectionTables::with_prefix(prefix),
            );
            Ok(Backend::Aws { store, projection })
        }
        (Backend::Embedded(_), Some(_)) => Err(refused(
            "--projection-prefix is for DynamoDB (--aws-endpoint or --aws)",
        )),
    }
}

/// Refuses `--source table` on the embedded store (which always reads its
/// events table).
pub(crate) fn check_source(backend: &Backend, source: SourceArgs) -> Result<(), Failure> {
    if source.source == Source::Table && matches!(backend, Backend::Embedded(_)) {
        return Err(refused(
            "--source table is for DynamoDB: the embedded store always reads its events table",
        ));
    }
    if source.segments == 0 || source.segments > TABLE_SCAN_SEGMENTS_MAX {
        return Err(refused(format!(
            "--segments must be 1 to {TABLE_SCAN_SEGMENTS_MAX}"
        )));
    }
    Ok(())
}

/// The SDK configuration of `--aws-endpoint` (an emulator), or else of the
/// account and region in the environment.
pub(crate) async fn sdk_config(cli: &Cli) -> aws_config::SdkConfig {
    match &cli.aws_endpoint {
        Some(endpoint) => aws_emulator::sdk_config_for(endpoint),
        None => lambda_edge::config::aws_from_env().await,
    }
}

/// Whether the command works on DynamoDB (`--aws-endpoint` or `--aws`).
pub(crate) fn on_dynamodb(cli: &Cli) -> bool {
    cli.aws_endpoint.is_some() || cli.aws
}

async fn store_backend(cli: &Cli) -> Result<Backend, Failure> {
    if on_dynamodb(cli) {
        return Backend::aws(&sdk_config(cli).await, &cli.table_prefix, false)
            .await
            .map_err(failed);
    }
    let path = local_stack::database_path(&cli.data_dir);
    if !path.exists() {
        return Err(refused(format!(
            "{} does not exist: no embedded ledger here (use --data-dir, --aws-endpoint or --aws)",
            path.display()
        )));
    }
    Ok(Backend::Embedded(
        event_store_sqlite::SqliteEventStore::open(&path).map_err(failed)?,
    ))
}
