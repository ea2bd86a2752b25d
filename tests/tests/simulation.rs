//! The deterministic simulation in CI: 200 seeds with every fault on, and
//! proof that its invariants catch a broken projection.
//! Thousands of seeds: `cargo run -p end-to-end --release --bin simulate -- --seeds 5000`.

use end_to_end::{check, simulate};

const SEEDS: u64 = 200;
const STEPS: usize = 120;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_seeds_keep_every_invariant() {
    let dir = tempfile::tempdir().unwrap();
    let dir = std::sync::Arc::new(dir.path().to_owned());
    let mut tasks = Vec::new();
    for worker in 0..2u64 {
        let dir = dir.clone();
        tasks.push(tokio::spawn(async move {
            let mut totals = (0usize, 0usize, 0usize);
            for seed in (worker..SEEDS).step_by(2) {
                let run = simulate(seed, STEPS, &dir).await;
                if let Err(violation) = check(&run, &dir).await {
                    panic!("{} (replay: cargo run -p end-to-end --bin simulate -- --seed {seed} --steps {STEPS})", violation.0);
                }
                totals.0 += run.acknowledged.len();
                totals.1 += run.crashes;
                totals.2 += run.batches.len();
                std::fs::remove_file(dir.join(format!("sim-{seed}.sqlite"))).ok();
            }
            totals
        }));
    }
    let mut totals = (0, 0, 0);
    for task in tasks {
        let t = task.await.unwrap();
        totals = (totals.0 + t.0, totals.1 + t.1, totals.2 + t.2);
    }
    // The faults really happened.
    assert!(
        totals.0 > 1_000 && totals.1 > 100 && totals.2 > 100,
        "{totals:?}"
    );
}

#[tokio::test]
async fn a_seed_replays_identically() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = simulate(7, 80, a.path()).await;
    let second = simulate(7, 80, b.path()).await;
    assert_eq!(first.acknowledged, second.acknowledged);
    assert_eq!(first.batches, second.batches);
    assert_eq!(first.crashes, second.crashes);
}

#[tokio::test]
async fn the_invariants_catch_a_broken_projection() {
    let dir = tempfile::tempdir().unwrap();
    let run = simulate(3, 150, dir.path()).await;
    check(&run, dir.path()).await.unwrap();
    // Break the projection the way a double-applied batch would.
    let conn = rusqlite::Connection::open(dir.path().join("sim-3.sqlite")).unwrap();
    let changed = conn.execute("UPDATE balances SET available = available - 1 WHERE rowid = (SELECT MIN(rowid) FROM balances)", []).unwrap();
    assert_eq!(changed, 1);
    drop(conn);
    let violation = check(&run, dir.path()).await.unwrap_err();
    assert!(
        violation.0.contains("projected balances differ"),
        "{violation:?}"
    );
}
