//! Folds a stream of 1,000,000 mixed events into balances: posting rules plus
//! the balances projection, on one core. Prints events per second beside a
//! baseline measured in the same run: adding the same number of postings into
//! a plain integer-keyed hash map (the floor any fold must pay).
//!
//! Run: `cargo bench -p ledger-domain --bench fold` (EVENTS=n to change the size).

use std::hint::black_box;
use std::time::Instant;

use ledger_domain::sample::mixed_events;
use ledger_domain::{Balances, journal_entry};
use rustc_hash::FxHashMap;

const ROUNDS: usize = 3;

fn main() {
    let events_n: usize = std::env::var("EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let started = Instant::now();
    let events = mixed_events(42, events_n, 64);
    println!(
        "generated {} mixed events through the aggregates in {:.2?}",
        events.len(),
        started.elapsed()
    );
    let mut by_type: std::collections::BTreeMap<&str, usize> = Default::default();
    for e in &events {
        *by_type.entry(e.type_name()).or_default() += 1;
    }
    println!("mix: {by_type:?}");

    let mut best_fold = f64::MAX;
    let mut postings_n = 0usize;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut balances = Balances::new();
        let mut postings = 0usize;
        for event in &events {
            let entry = journal_entry(event).expect("sample events post");
            postings += entry.postings().len();
            balances.apply(&entry).expect("no overflow");
        }
        let seconds = start.elapsed().as_secs_f64();
        assert!(balances.trial_balance().values().all(|s| *s == 0));
        black_box(&balances);
        best_fold = best_fold.min(seconds);
        postings_n = postings;
    }

    // Baseline: the same number of postings as (key, amount) integer adds.
    let keys: Vec<(u64, i64)> = (0..postings_n as u64)
        .map(|i| ((i * 2_654_435_761) % 4_096, (i % 1_000) as i64 - 500))
        .collect();
    let mut best_base = f64::MAX;
    for _ in 0..ROUNDS {
        let start = Instant::now();
        let mut map: FxHashMap<u64, i64> = FxHashMap::default();
        for (k, v) in &keys {
            *map.entry(*k).or_insert(0) += *v;
        }
        black_box(&map);
        best_base = best_base.min(start.elapsed().as_secs_f64());
    }

    let rate = events.len() as f64 / best_fold;
    let base_rate = events.len() as f64 / best_base;
    println!("| benchmark | events | best of {ROUNDS} | events/s | target |");
    println!("|---|---|---|---|---|");
    println!(
        "| ledger fold (posting rules + balances) | {} | {:.3} s | {:.0} | >= 1,000,000 |",
        events.len(),
        best_fold,
        rate
    );
    println!(
        "| baseline: raw integer map adds ({} postings) | {} | {:.3} s | {:.0} | - |",
        postings_n,
        events.len(),
        best_base,
        base_rate
    );
    println!(
        "SUMMARY|ledger fold, 1 M mixed events|{rate:.0} events/s|raw map adds: {base_rate:.0}/s|>= 1,000,000 events/s|{}",
        if rate >= 1_000_000.0 { "MET" } else { "MISSED" }
    );
    println!(
        "fold runs at {:.1}% of the baseline; target {}",
        100.0 * rate / base_rate,
        if rate >= 1_000_000.0 { "MET" } else { "MISSED" }
    );
}
