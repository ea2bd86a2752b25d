//! The ledger's main job, end to end, on the embedded store: two tenants,
//! four currencies, commissions recorded by the tracking network, a refund in
//! the hold period, maturity, a payout batch drafted by one person and
//! approved by another, a paid, a failed and a returned item, a chargeback
//! after payout netted against the next payout, then every balance rebuilt
//! from the stored events.
//!
//! Until the local stack exists this is what `cargo run` shows a newcomer.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use event_store_sqlite::SqliteEventStore;
use ledger_app::rebuild_balances;
use ledger_demo::run_sample_program;

#[derive(Parser)]
#[command(
    about = "Run the affiliate ledger's main job on the embedded store and print the balances"
)]
struct Args {
    /// Where the SQLite ledger is written. The demo replaces its own file there.
    #[arg(long, default_value = "data")]
    data_dir: PathBuf,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(e) = std::fs::create_dir_all(&args.data_dir) {
        eprintln!("error: cannot create {}: {e}", args.data_dir.display());
        return ExitCode::FAILURE;
    }
    let path = args.data_dir.join("demo-ledger.sqlite");
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let store = match SqliteEventStore::open(&path) {
        Ok(store) => store,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("ledger file: {} (open it with sqlite3)\n", path.display());
    let result = async {
        run_sample_program(&store).await?;
        rebuild_balances(&store).await
    }
    .await;
    let balances = match result {
        Ok(b) => b,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!(
        "balances rebuilt from {} stored events:",
        balances.entries_applied()
    );
    println!(
        "{:<8} {:<10} {:<4} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
        "tenant",
        "affiliate",
        "cur",
        "pending",
        "available",
        "reserved",
        "receivable",
        "paid out",
        "net payable"
    );
    for (tenant, affiliate, currency) in balances.affiliate_keys() {
        let Ok(v) = balances.affiliate(&tenant, &affiliate, currency) else {
            continue;
        };
        println!(
            "{:<8} {:<10} {:<4} {:>12} {:>12} {:>12} {:>12} {:>12} {:>12}",
            tenant.as_str(),
            affiliate.as_str(),
            currency.code(),
            v.pending.amount(),
            v.available.amount(),
            v.reserved.amount(),
            v.receivable.amount(),
            v.paid_out.amount(),
            v.net_payable.amount()
        );
    }
    let trial = balances.trial_balance();
    let balanced = trial.values().all(|s| *s == 0);
    println!(
        "\ntrial balance (all accounts per tenant and currency): {}",
        if balanced {
            "every sum is zero"
        } else {
            "UNBALANCED"
        }
    );
    if balanced {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
