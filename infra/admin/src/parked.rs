//! `projection index`: every balance row of the DynamoDB projection given
//! its tenant, so the tenant index lists it (once, after upgrading to the
//! index; a second run finds nothing).
//!
//! `projection parked` and `projection retry`: the events the DynamoDB
//! stream projector could not project and parked for their tenant (instead
//! of skipping them), listed, and projected again from the events table.
//! While a tenant has a parked event, drafting refuses for that tenant.
//!
//! The embedded store never parks: its projector stops at an event it
//! cannot project (`replay` says where), so there is nothing to list or
//! retry there.

use clap::Subcommand;
use event_store::PayoutReads;
use event_store_dynamodb::projection::RetryOutcome;
use ledger_domain::TenantId;
use local_stack::Backend;

use crate::failure::{Failure, failed, refused};

#[derive(Subcommand)]
pub(crate) enum Projection {
    /// The tenant's parked events: stream, version, when and why.
    Parked {
        #[arg(long)]
        tenant: String,
    },
    /// Re-read each parked event from the events table and project it;
    /// clear it only when that succeeded (what still fails stays parked).
    Retry {
        #[arg(long)]
        tenant: String,
        /// Say what would be retried, do nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Give every balance row written before the tenant index its tenant,
    /// so drafting, statements and reconciliation (which read a tenant's
    /// rows through the index) see it, and mark the maturity schedule
    /// sharded once it holds no entry by day. Run once after upgrading (or
    /// after the first deploy); running it again sets nothing.
    Index,
}

fn tenant_id(value: &str) -> Result<TenantId, Failure> {
    TenantId::new(value).map_err(|e| refused(format!("--tenant: {e}")))
}

pub(crate) async fn projection(backend: &Backend, action: &Projection) -> Result<(), Failure> {
    let (t, retry, dry_run) = match action {
        Projection::Parked { tenant } => (tenant, false, true),
        Projection::Retry { tenant, dry_run } => (tenant, true, *dry_run),
        Projection::Index => {
            let Backend::Aws { projection, .. } = backend else {
                println!("nothing to index: the embedded store reads a tenant's rows by their key");
                return Ok(());
            };
            let set = event_store_dynamodb::projection::index_balance_rows(projection)
                .await
                .map_err(failed)?;
            println!(
                "gave {set} balance row(s) their tenant; every balance row is in the tenant index"
            );
            let sharded = event_store_dynamodb::projection::mark_schedule_sharded(projection)
                .await
                .map_err(failed)?;
            if sharded {
                println!(
                    "the maturity schedule holds no entry by day: marked sharded, the maturing run reads its shards only"
                );
            } else {
                println!(
                    "the maturity schedule still holds entries by day (from before it was sharded): the maturing run keeps reading those days; run this again once they have matured"
                );
            }
            match event_store_dynamodb::projection::mark_journal_sharded(projection)
                .await
                .map_err(failed)?
            {
                event_store_dynamodb::projection::JournalLayout::Sharded(shards) => println!(
                    "the journal is spread over {shards} partitions per owner and currency"
                ),
                event_store_dynamodb::projection::JournalLayout::Unsharded => println!(
                    "the journal keeps one partition per owner and currency (it held lines before its layout was recorded; it stays so)"
                ),
            }
            return Ok(());
        }
    };
    let tenant_id = tenant_id(t)?;
    let (store, projection) = match backend {
        Backend::Aws { store, projection } => (store, projection),
        Backend::Embedded(_) if retry => {
            return Err(refused(
                "the embedded store parks nothing (its projector stops at an event it cannot project): run `ledger-admin replay`, which says where it stops",
            ));
        }
        Backend::Embedded(_) => {
            println!(
                "no parked events: the embedded projector stops at an event it cannot project instead of parking it (see `ledger-admin replay`)"
            );
            return Ok(());
        }
    };
    let parked = projection.parked_events(&tenant_id).await.map_err(failed)?;
    if parked.is_empty() {
        println!("tenant {tenant_id} has no parked events");
        return Ok(());
    }
    if !retry || dry_run {
        println!(
            "tenant {tenant_id} has {} parked event(s); drafting refuses until they are projected:",
            parked.len()
        );
        for p in &parked {
            println!(
                "  {} version {}  parked {}  {}",
                p.stream, p.version, p.parked_at, p.reason
            );
        }
        if retry {
            println!(
                "would re-read each from the events table, project it, and clear it if that succeeds"
            );
        } else {
            println!("retry: ledger-admin projection retry --tenant {tenant_id}");
        }
        return Ok(());
    }
    let outcomes = projection
        .retry_parked(store, &tenant_id)
        .await
        .map_err(failed)?;
    let mut left = 0;
    for outcome in &outcomes {
        match outcome {
            RetryOutcome::Projected {
                stream,
                version,
                already_projected,
            } => println!(
                "{stream} version {version}: {}; cleared",
                if *already_projected {
                    "was projected already"
                } else {
                    "projected"
                }
            ),
            RetryOutcome::StillFailing {
                stream,
                version,
                error,
            } => {
                left += 1;
                println!("{stream} version {version}: still fails ({error}); stays parked");
            }
            RetryOutcome::Missing { stream, version } => {
                left += 1;
                println!("{stream} version {version}: not in the events table; stays parked");
            }
        }
    }
    if left > 0 {
        return Err(failed(format!(
            "{left} of {} parked event(s) of tenant {tenant_id} could not be projected and stay parked; drafting keeps refusing",
            outcomes.len()
        )));
    }
    println!("tenant {tenant_id}: every parked event is projected; drafting may go on");
    Ok(())
}
