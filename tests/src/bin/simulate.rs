//! Runs the money-flow simulation over many seeds and reports the first
//! violated invariant with its seed (which replays identically).

use std::process::ExitCode;

use clap::Parser;

#[derive(Parser)]
#[command(about = "Deterministic fault-injection simulation of the ledger on the embedded store")]
struct Args {
    /// How many seeds, starting at --seed.
    #[arg(long, default_value_t = 1)]
    seeds: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Steps per seed.
    #[arg(long, default_value_t = 200)]
    steps: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let Ok(dir) = tempfile::tempdir() else {
        eprintln!("error: no temporary directory");
        return ExitCode::FAILURE;
    };
    let (mut acknowledged, mut crashes, mut batches) = (0, 0, 0);
    let (mut races, mut method_changes, mut forged, mut partial) = (0, 0, 0, 0);
    for seed in args.seed..args.seed.saturating_add(args.seeds) {
        let run = end_to_end::simulate(seed, args.steps, dir.path()).await;
        if let Err(violation) = end_to_end::check(&run, dir.path()).await {
            eprintln!(
                "FAILED {} (replay: --seed {seed} --steps {})",
                violation.0, args.steps
            );
            return ExitCode::FAILURE;
        }
        acknowledged += run.acknowledged.len();
        crashes += run.crashes;
        batches += run.batches.len();
        races += run.races;
        method_changes += run.method_changes;
        forged += run.forged;
        partial += run.partial_reversals;
        let _ = std::fs::remove_file(dir.path().join(format!("sim-{seed}.sqlite")));
    }
    println!(
        "{} seeds x {} steps: every invariant held ({acknowledged} commissions acknowledged, {batches} batches, {crashes} crashes, {races} racing dispatches, {method_changes} methods changed after drafting, {forged} forged notices, {partial} partial reversals)",
        args.seeds, args.steps
    );
    ExitCode::SUCCESS
}
