//! One projection, two stores: random histories (the simulation's, with
//! every fault on) projected by the embedded store and by the DynamoDB
//! adapter against the emulator give the same balance rows, the same
//! journal lines (with the same keys, in the same order) and the same draft
//! counts, row for row. The DynamoDB side is fed in random batch sizes with
//! random redeliveries, as a stream mapping delivers, so exactly-once is
//! part of what is compared.

use std::collections::{BTreeMap, BTreeSet};

use end_to_end::simulate;
use event_store::{EventStore, LedgerReads, PayoutReads, StoredEvent};
use event_store_sqlite::SqliteEventStore;
use ledger_domain::TenantId;
use ledger_domain::projection::BalanceOwner;

const SEEDS: [u64; 4] = [3, 17, 42, 101];
const STEPS: usize = 200;

type Rows = BTreeMap<(String, String), BTreeMap<String, i64>>;

/// A small deterministic generator (xorshift), so a failing seed replays.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn stored_events(store: &SqliteEventStore) -> Vec<StoredEvent> {
    let mut events = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.read_all(cursor.as_ref(), 1000).await.unwrap();
        if page.events.is_empty() {
            return events;
        }
        events.extend(page.events);
        cursor = Some(page.next);
    }
}

/// Every balance row of a tenant, with the fields that are not zero (a
/// DynamoDB item holds only the fields ever added to; an SQLite row has
/// every column).
async fn tenant_rows<R: LedgerReads + ?Sized>(reads: &R, tenant: &TenantId) -> Rows {
    let mut rows = Rows::new();
    let mut after: Option<String> = None;
    loop {
        let page = reads
            .tenant_rows(tenant, after.as_deref(), 500)
            .await
            .unwrap();
        for row in page.rows {
            let fields: BTreeMap<String, i64> =
                row.fields.into_iter().filter(|(_, v)| *v != 0).collect();
            rows.insert((row.owner.key(), row.currency), fields);
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return rows,
        }
    }
}

async fn journal<R: LedgerReads + ?Sized>(
    reads: &R,
    owner: &BalanceOwner,
    currency: &str,
) -> Vec<(String, String, u64, String, String, BTreeMap<String, i64>)> {
    let mut lines = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = reads
            .journal(owner, currency, after.as_deref(), 37)
            .await
            .unwrap();
        for l in page.lines {
            lines.push((
                l.token,
                l.stream,
                l.version,
                l.event_type,
                l.effective_at,
                l.deltas,
            ));
        }
        match page.next {
            Some(next) => after = Some(next),
            None => return lines,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_stores_project_random_histories_to_the_same_rows() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let dir = tempfile::tempdir().unwrap();
    let mut compared = (0usize, 0usize);
    for seed in SEEDS {
        simulate(seed, STEPS, dir.path()).await;
        let sqlite = SqliteEventStore::open(dir.path().join(format!("sim-{seed}.sqlite"))).unwrap();
        while sqlite.project_ledger(1000).await.unwrap().events > 0 {}
        let events = stored_events(&sqlite).await;
        assert!(
            events.len() > 50,
            "seed {seed}: a real history ({} events)",
            events.len()
        );

        let (_, dynamo) = event_store_dynamodb::ledger_on_dynamodb(
            &emulator.sdk_config(),
            &format!("parity{seed}-"),
        )
        .await
        .unwrap();
        // Random batch sizes, and now and then a batch delivered again.
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut start = 0;
        let mut redelivered = 0;
        while start < events.len() {
            let end = (start + 1 + rng.below(40) as usize).min(events.len());
            dynamo.project(&events[start..end]).await.unwrap();
            if start == 0 || rng.below(3) == 0 {
                let report = dynamo.project(&events[start..end]).await.unwrap();
                assert_eq!(report.already_projected, end - start, "seed {seed}");
                redelivered += 1;
            }
            start = end;
        }
        assert!(redelivered > 0, "seed {seed}: redeliveries happened");

        let tenants: BTreeSet<TenantId> = events
            .iter()
            .map(|e| e.decode().unwrap().tenant_id().clone())
            .collect();
        for tenant in &tenants {
            let on_sqlite = tenant_rows(&sqlite, tenant).await;
            let on_dynamo = tenant_rows(&dynamo, tenant).await;
            assert_eq!(
                on_sqlite, on_dynamo,
                "seed {seed}, tenant {tenant}: balance rows"
            );
            assert!(!on_sqlite.is_empty());
            for (owner, currency) in on_sqlite.keys() {
                let owner = BalanceOwner::from_key(owner).unwrap();
                if !matches!(owner, BalanceOwner::Affiliate { .. }) {
                    continue;
                }
                let a = journal(&sqlite, &owner, currency).await;
                let b = journal(&dynamo, &owner, currency).await;
                assert_eq!(a, b, "seed {seed}: journal of {} {currency}", owner.key());
                assert!(!a.is_empty());
                compared.1 += a.len();
            }
            compared.0 += on_sqlite.len();
            assert_eq!(
                sqlite.batches_drafted(tenant).await.unwrap(),
                dynamo.batches_drafted(tenant).await.unwrap(),
                "seed {seed}, tenant {tenant}: drafted batches"
            );
        }
    }
    assert!(compared.0 > 20 && compared.1 > 200, "{compared:?}");
}
