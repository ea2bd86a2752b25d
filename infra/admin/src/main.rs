//! `ledger-admin`: what the people who run the ledger need without writing
//! code. The embedded store (`--data-dir`, default `data/`) by default;
//! DynamoDB with `--aws-endpoint URL` (an emulator) or `--aws` (the account
//! in the environment), tables `--table-prefix`.
//!
//! Every command that changes something explains itself with `--dry-run`,
//! refuses what is ambiguous or dangerous without an explicit flag, and
//! exits non-zero with a message on any error (2 for a refused or invalid
//! request, 1 for a failure or a ledger that does not verify).

mod backend;
mod cli;
mod dead_letters;
mod failure;
mod parked;
mod replay;
mod show;
mod tables;
mod token;
mod verify;
mod webhooks;

use std::process::ExitCode;

use clap::Parser;
use local_stack::Backend;

use backend::{backend, check_source};
use cli::{Cli, Command, Show};
use dead_letters::dead_letters;
use failure::Failure;
use failure::tenant;
use replay::replay;
use show::{show_affiliate, show_batch};
use token::token;
use verify::verify;

async fn run(cli: Cli) -> Result<bool, Failure> {
    match &cli.command {
        Command::CreateTables => {
            tables::create_tables(&cli).await?;
            Ok(true)
        }
        Command::Token(args) => {
            token(&cli, args)?;
            Ok(true)
        }
        Command::Replay {
            from_scratch,
            yes,
            dry_run,
            batch,
            max_events,
            source,
        } => {
            let backend = backend(&cli).await?;
            check_source(&backend, *source)?;
            replay(
                &backend,
                *from_scratch,
                *yes,
                *dry_run,
                *batch,
                *max_events,
                *source,
            )
            .await?;
            Ok(true)
        }
        Command::Verify { tenant: t, source } => {
            let only = t.as_deref().map(tenant).transpose()?;
            let backend = backend(&cli).await?;
            check_source(&backend, *source)?;
            verify(&backend, only, *source).await
        }
        Command::Show {
            what:
                Show::Affiliate {
                    tenant: t,
                    affiliate,
                    currency,
                    lines,
                },
        } => {
            let tenant_id = tenant(t)?;
            match backend(&cli).await? {
                Backend::Embedded(s) => {
                    show_affiliate(&s, tenant_id, affiliate, currency.as_deref(), *lines).await?
                }
                Backend::Aws { projection, .. } => {
                    show_affiliate(
                        &projection,
                        tenant_id,
                        affiliate,
                        currency.as_deref(),
                        *lines,
                    )
                    .await?
                }
            }
            Ok(true)
        }
        Command::Show {
            what: Show::Batch { tenant: t, batch },
        } => {
            let tenant_id = tenant(t)?;
            match backend(&cli).await? {
                Backend::Embedded(s) => show_batch(&s, tenant_id, batch).await?,
                Backend::Aws { store, .. } => show_batch(&store, tenant_id, batch).await?,
            }
            Ok(true)
        }
        Command::DeadLetters { action } => {
            dead_letters(&cli, action).await?;
            Ok(true)
        }
        Command::Projection { action } => {
            parked::projection(&backend(&cli).await?, action).await?;
            Ok(true)
        }
        Command::Webhooks { action } => {
            webhooks::webhooks(&backend(&cli).await?, action).await?;
            Ok(true)
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    processors::install_crypto_provider();
    match run(Cli::parse()).await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => {
            eprintln!("ledger-admin: the ledger does not verify (see above)");
            ExitCode::from(1)
        }
        Err(Failure::Refused(message)) => {
            eprintln!("ledger-admin: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("ledger-admin: {message}");
            ExitCode::from(1)
        }
    }
}
