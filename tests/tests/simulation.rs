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
            let mut totals = (0usize, 0usize, 0usize, 0usize);
            let mut money_out = [0usize; 4];
            for seed in (worker..SEEDS).step_by(2) {
                let run = simulate(seed, STEPS, &dir).await;
                if let Err(violation) = check(&run, &dir).await {
                    panic!("{} (replay: cargo run -p end-to-end --bin simulate -- --seed {seed} --steps {STEPS})", violation.0);
                }
                totals.0 += run.acknowledged.len();
                totals.1 += run.crashes;
                totals.2 += run.batches.len();
                totals.3 += run.changes;
                money_out[0] += run.races;
                money_out[1] += run.method_changes;
                money_out[2] += run.forged;
                money_out[3] += run.partial_reversals;
                std::fs::remove_file(dir.join(format!("sim-{seed}.sqlite"))).ok();
            }
            (totals, money_out)
        }));
    }
    let mut totals = (0, 0, 0, 0);
    let mut money_out = [0usize; 4];
    for task in tasks {
        let (t, m) = task.await.unwrap();
        for (sum, n) in money_out.iter_mut().zip(m) {
            *sum += n;
        }
        totals = (
            totals.0 + t.0,
            totals.1 + t.1,
            totals.2 + t.2,
            totals.3 + t.3,
        );
    }
    // The faults really happened, and reversals and adjustments with them.
    assert!(
        totals.0 > 1_000 && totals.1 > 100 && totals.2 > 100 && totals.3 > 500,
        "{totals:?}"
    );
    // And where money leaves: racing dispatchers, methods changed after
    // drafting, forged notices, partial reversals.
    assert!(money_out.iter().all(|n| *n > 20), "{money_out:?}");
}

#[tokio::test]
async fn a_seed_replays_identically() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = simulate(7, 80, a.path()).await;
    let second = simulate(7, 80, b.path()).await;
    assert_eq!(first.acknowledged, second.acknowledged);
    assert_eq!(first.batches, second.batches);
    assert_eq!(first.crashes, second.crashes);
    assert_eq!(first.changes, second.changes);
}

/// Runs `seed`, checks it, changes the projection of its ledger file with
/// one SQL statement (which must change exactly one row) and returns what
/// the check then finds.
async fn violation_after(seed: u64, tamper: &str) -> end_to_end::Violation {
    let dir = tempfile::tempdir().unwrap();
    let run = simulate(seed, 150, dir.path()).await;
    check(&run, dir.path()).await.unwrap();
    let conn = rusqlite::Connection::open(dir.path().join(format!("sim-{seed}.sqlite"))).unwrap();
    assert_eq!(conn.execute(tamper, []).unwrap(), 1);
    drop(conn);
    check(&run, dir.path()).await.unwrap_err()
}

#[tokio::test]
async fn the_invariants_catch_a_broken_projection() {
    // Break the projection the way a double-applied batch would.
    let violation = violation_after(
        3,
        "UPDATE balances SET available = available - 1 WHERE rowid = (SELECT MIN(rowid) FROM balances)",
    )
    .await;
    assert!(
        violation.0.contains("projected balances differ"),
        "{violation:?}"
    );
}

/// A decide that let a paid item fail again (the bug "failed payouts are
/// credited back" invites) balances and projects cleanly, so only the
/// item-by-item money check can see it: the affiliate's reserved balance no
/// longer matches the items still open.
#[tokio::test]
async fn the_invariants_catch_a_paid_item_credited_back() {
    use event_store::{AppendRequest, EventStore, StreamId};
    use ledger_domain::{Event, EventBody, MoneyMovement};
    let dir = tempfile::tempdir().unwrap();
    let mut found = None;
    for seed in 0..50 {
        let run = simulate(seed, 150, dir.path()).await;
        check(&run, dir.path()).await.unwrap();
        let store = event_store_sqlite::SqliteEventStore::open(
            dir.path().join(format!("sim-{seed}.sqlite")),
        )
        .unwrap();
        // An item paid and never credited back: it stands paid.
        let mut paid = std::collections::BTreeMap::new();
        for event in end_to_end::all_events(&store).await.unwrap() {
            if let EventBody::PayoutItemPaid(o)
            | EventBody::PayoutItemFailed(o)
            | EventBody::PayoutItemReturned(o)
            | EventBody::PayoutItemUnclaimed(o) = event.body()
            {
                let key = (event.stream_name(), o.item_id.to_string());
                match o.movement {
                    MoneyMovement::ReservedToPaid => {
                        paid.insert(key, Some((event.clone(), o.clone())));
                    }
                    MoneyMovement::None => {}
                    _ => {
                        paid.insert(key, None);
                    }
                }
            }
        }
        let paid = paid.into_values().flatten().next();
        if let Some(paid) = paid {
            found = Some((run, store, paid));
            break;
        }
    }
    let (run, store, (paid, outcome)) = found.expect("some seed pays an item");
    let stream = StreamId::new(paid.stream_name()).unwrap();
    let version = store.read_stream(&stream, 1, 1000).await.unwrap().len() as u64;
    let forged = Event::new(
        paid.tenant_id().clone(),
        paid.actor().clone(),
        paid.recorded_at(),
        paid.effective_at(),
        EventBody::PayoutItemFailed(ledger_domain::events::PayoutItemOutcome {
            movement: MoneyMovement::ReservedToAvailable,
            processor_event_id: Some("forged".into()),
            ..outcome
        }),
    );
    store
        .append(AppendRequest::from_domain(version, &[forged]).unwrap())
        .await
        .unwrap();
    for _ in 0..100 {
        if store.project_ledger(1_000).await.unwrap().events == 0 {
            break;
        }
    }
    drop(store);
    let violation = check(&run, dir.path()).await.unwrap_err();
    assert!(
        violation
            .0
            .contains("reserved, but its open payout items hold"),
        "{violation:?}"
    );
}

/// A projector that updated the balance rows but lost a journal line is
/// invisible to the balance checks; the statements, which are built from
/// the journal and must tie to the balance rows, refuse to tie.
#[tokio::test]
async fn the_invariants_catch_a_lost_journal_line() {
    let violation = violation_after(
        5,
        "DELETE FROM journal_lines WHERE rowid = (SELECT MIN(rowid) FROM journal_lines WHERE owner LIKE '%/affiliate/%')",
    )
    .await;
    assert!(
        violation.0.contains("does not tie to the ledger"),
        "{violation:?}"
    );
}
