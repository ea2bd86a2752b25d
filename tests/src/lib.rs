//! A deterministic simulation of the money flow on the embedded store.
//!
//! A seeded generator drives tenants, affiliates, commissions, reversals,
//! maturities, payout batches, approvals and processor outcomes through the
//! real use cases, while injecting faults: every ingest delivered twice,
//! processor outcomes duplicated and delivered out of order, the maker trying
//! to approve, and crashes (the process state dropped, the store reopened
//! from its file) between steps, with the projector resuming from its
//! checkpoint. [`check`] then asserts the ledger's invariants. The same seed
//! always replays the same run.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use event_store::{EventStore, IdempotencyKey};
use event_store_sqlite::SqliteEventStore;
use ledger_app::{
    AppError, mature_due, rebuild_balances, record_commissions, run_commission, run_payout_batch,
};
use ledger_domain::projection::BalanceDeltas;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, CommissionCommand, CommissionId, Currency,
    DraftedItem, EventBody, ItemOutcome, Money, MoneyMovement, PayoutBatchCommand, PayoutBatchId,
    PayoutItemId, Processor, ReversalReason, TenantId, journal_entry,
};

const TENANTS: [&str; 2] = ["acme", "globex"];
const CURRENCIES: [Currency; 3] = [Currency::EUR, Currency::JPY, Currency::KWD];
const AFFILIATES: u64 = 4;

/// splitmix64: small, fixed and seedable, so a seed replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What the run did, for the invariants and for a failing seed's report.
#[derive(Debug, Default)]
pub struct Run {
    pub seed: u64,
    /// Commissions whose recording was acknowledged (Ok from ingest).
    pub acknowledged: Vec<(String, String)>,
    pub steps: usize,
    pub crashes: usize,
    pub batches: Vec<(String, String, Vec<String>)>,
    pub refused_self_approvals: usize,
}

fn ctx(tenant: &str, kind: ActorKind, actor: &str, now: DateTime<Utc>) -> CommandContext {
    CommandContext {
        tenant_id: TenantId::new(tenant).unwrap_or_else(|e| panic!("{e}")),
        actor: Actor {
            kind,
            id: actor.to_owned(),
            role: None,
            request_id: None,
        },
        now,
        effective_at: now,
    }
}

fn id<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("simulation ids are valid: {e}"))
}

/// Runs one seed for `steps` steps against a ledger file in `dir`.
pub async fn simulate(seed: u64, steps: usize, dir: &Path) -> Run {
    let path = dir.join(format!("sim-{seed}.sqlite"));
    let mut store = SqliteEventStore::open(&path).expect("open");
    let mut rng = Rng(seed);
    let mut run = Run {
        seed,
        ..Run::default()
    };
    let mut now = Utc
        .with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
        .single()
        .unwrap_or_default();
    let mut commissions: Vec<(String, String)> = Vec::new();
    for step in 0..steps {
        run.steps = step + 1;
        match rng.below(100) {
            // The tracking network posts a commission; every delivery comes twice.
            0..=39 => {
                let tenant = TENANTS[rng.below(2) as usize];
                let n = commissions.len();
                let currency = CURRENCIES[rng.below(3) as usize];
                let command = CommissionCommand::Record {
                    commission_id: id(CommissionId::new(format!("c-{n}"))),
                    affiliate_id: id(AffiliateId::new(format!("aff-{}", rng.below(AFFILIATES)))),
                    amount: id(Money::from_minor(1 + rng.below(100_000) as i64, currency)),
                    hold_period_days: rng.below(4) as u32,
                    source_conversion_id: format!("conv-{n}"),
                    order_reference: None,
                };
                let key = id(IdempotencyKey::new(format!("conv-{n}")));
                let c = ctx(tenant, ActorKind::Service, "tracking", now);
                let first =
                    record_commissions(&store, &c, &[(command.clone(), now)], Some(&key)).await;
                let again = record_commissions(&store, &c, &[(command, now)], Some(&key)).await;
                if let Ok(recorded) = &first {
                    assert!(
                        !recorded[0].duplicate,
                        "seed {seed}: a first delivery is new"
                    );
                    run.acknowledged.push((tenant.to_owned(), format!("c-{n}")));
                    commissions.push((tenant.to_owned(), format!("c-{n}")));
                }
                match again {
                    Ok(r) => assert!(
                        r[0].duplicate,
                        "seed {seed}: the second delivery is a duplicate"
                    ),
                    Err(e) => {
                        panic!("seed {seed}: a repeated delivery must be acknowledged, got {e}")
                    }
                }
            }
            // A refund or chargeback, before or after payout.
            40..=49 if !commissions.is_empty() => {
                let (tenant, commission) =
                    commissions[rng.below(commissions.len() as u64) as usize].clone();
                let percent = 1 + rng.below(100) as i64;
                let c = ctx(&tenant, ActorKind::Service, "tracking", now);
                let commission_id = id(CommissionId::new(&commission));
                // Reverse a share of what is left; the aggregate refuses more.
                let events = store
                    .read_stream(
                        &id(event_store::StreamId::new(format!(
                            "{tenant}/commission/{commission}"
                        ))),
                        1,
                        1000,
                    )
                    .await
                    .expect("read");
                let state = ledger_domain::Commission::from_events(
                    &events
                        .iter()
                        .map(|e| e.decode().expect("decode"))
                        .collect::<Vec<_>>(),
                );
                if let Some(remaining) = state.state().and_then(|s| s.remaining().ok()) {
                    let minor = remaining.amount_minor() * percent / 100;
                    if minor > 0 {
                        let amount = id(Money::from_minor(minor, remaining.currency()));
                        let reason = [ReversalReason::Refund, ReversalReason::Chargeback]
                            [rng.below(2) as usize];
                        let _ = run_commission(
                            &store,
                            &commission_id,
                            CommissionCommand::Reverse {
                                amount,
                                reason,
                                reference: None,
                            },
                            &c,
                            None,
                        )
                        .await;
                    }
                }
            }
            // Time passes; the scheduler matures what is due.
            50..=59 => {
                now += Duration::hours(6 + rng.below(48) as i64);
                store
                    .project_ledger(1 + rng.below(500) as usize)
                    .await
                    .expect("project");
                mature_due(&store, &store, now, 1 + rng.below(50) as usize)
                    .await
                    .expect("mature");
            }
            // Finance drafts a batch from the projected balances; the maker
            // tries to approve it; a second person approves or rejects.
            60..=67 => {
                drain_projection(&store).await;
                let tenant = TENANTS[rng.below(2) as usize];
                let currency = CURRENCIES[rng.below(3) as usize];
                let tenant_id = id(TenantId::new(tenant));
                let n = run.batches.len();
                let mut items = Vec::new();
                for a in 0..AFFILIATES {
                    let affiliate_id = id(AffiliateId::new(format!("aff-{a}")));
                    let Some(row) = store
                        .affiliate_balance(&tenant_id, &affiliate_id, currency.code())
                        .await
                        .expect("read")
                    else {
                        continue;
                    };
                    let available = -row.fields["available"];
                    let receivable = row.fields["receivable"];
                    if available - receivable > 0 && receivable >= 0 {
                        items.push(DraftedItem {
                            item_id: id(PayoutItemId::new(format!("b{n}-{a}"))),
                            affiliate_id,
                            amount: id(Money::from_minor(available - receivable, currency)),
                            receivable_netted: id(Money::from_minor(receivable, currency)),
                            processor: [Processor::Stripe, Processor::Paypal, Processor::Sepa]
                                [a as usize % 3],
                        });
                    }
                }
                if items.is_empty() {
                    continue;
                }
                let batch_id = id(PayoutBatchId::new(format!("b-{n}")));
                let item_ids: Vec<String> = items.iter().map(|i| i.item_id.to_string()).collect();
                let maker = ctx(tenant, ActorKind::User, "maker", now);
                let sequence = ledger_app::payouts::drafts_sequence(&store, &maker.tenant_id)
                    .await
                    .expect("draft sequence");
                ledger_app::payouts::draft_batch(&store, &maker, &batch_id, items, sequence)
                    .await
                    .expect("draft");
                match run_payout_batch(&store, &batch_id, approve(), &maker, None).await {
                    Err(AppError::PayoutBatch(
                        ledger_domain::PayoutBatchError::MakerCannotApprove { .. },
                    )) => run.refused_self_approvals += 1,
                    other => {
                        panic!("seed {seed}: the maker's approval must be refused, got {other:?}")
                    }
                }
                let approver = ctx(tenant, ActorKind::User, "approver", now);
                let command = if rng.chance(80) {
                    approve()
                } else {
                    PayoutBatchCommand::Reject {
                        reason: "review".into(),
                    }
                };
                run_payout_batch(&store, &batch_id, command, &approver, None)
                    .await
                    .expect("approve or reject");
                run.batches
                    .push((tenant.to_owned(), batch_id.to_string(), item_ids));
            }
            // A processor reports on an item: duplicated, and sometimes a
            // later status arrives before an earlier one.
            68..=84 if !run.batches.is_empty() => {
                let (tenant, batch, items) =
                    run.batches[rng.below(run.batches.len() as u64) as usize].clone();
                let item = items[rng.below(items.len() as u64) as usize].clone();
                let outcomes = [
                    ItemOutcome::Paid,
                    ItemOutcome::Paid,
                    ItemOutcome::Failed,
                    ItemOutcome::Returned,
                    ItemOutcome::Unclaimed,
                ];
                let mut news = vec![outcomes[rng.below(5) as usize]];
                if rng.chance(30) {
                    news.insert(0, outcomes[rng.below(5) as usize]);
                }
                let processor = ctx(&tenant, ActorKind::Processor, "processor", now);
                let batch_id = id(PayoutBatchId::new(&batch));
                for outcome in news {
                    for _ in 0..2 {
                        let command = PayoutBatchCommand::RecordOutcome {
                            item_id: id(PayoutItemId::new(&item)),
                            outcome,
                            processor_event_id: Some(format!("evt-{}", rng.below(1000))),
                            reason: None,
                        };
                        match run_payout_batch(&store, &batch_id, command, &processor, None).await {
                            Ok(_)
                            | Err(AppError::PayoutBatch(
                                ledger_domain::PayoutBatchError::Rejected(_),
                            )) => {}
                            Err(e) => panic!(
                                "seed {seed}: an outcome for an approved batch is always recorded, got {e}"
                            ),
                        }
                    }
                }
            }
            // A crash: the process state is dropped; the store is reopened
            // from its file and the projector resumes from its checkpoint.
            85..=89 => {
                store
                    .project_ledger(1 + rng.below(50) as usize)
                    .await
                    .expect("project");
                drop(store);
                store = SqliteEventStore::open(&path).expect("reopen");
                run.crashes += 1;
            }
            // The projector runs a step of random size.
            _ => {
                store
                    .project_ledger(1 + rng.below(300) as usize)
                    .await
                    .expect("project");
            }
        }
    }
    drain_projection(&store).await;
    run
}

async fn drain_projection(store: &SqliteEventStore) {
    for _ in 0..1_000 {
        if store.project_ledger(1_000).await.expect("project").events == 0 {
            return;
        }
    }
    panic!("the projector did not catch up within 1,000 steps");
}

/// A violated invariant.
#[derive(Debug, PartialEq, Eq)]
pub struct Violation(pub String);

/// Checks every invariant of a finished run against its ledger file.
pub async fn check(run: &Run, dir: &Path) -> Result<(), Violation> {
    let seed = run.seed;
    let store = SqliteEventStore::open(dir.join(format!("sim-{seed}.sqlite")))
        .map_err(|e| Violation(e.to_string()))?;
    let fail = |what: String| Violation(format!("seed {seed}: {what}"));
    // Every event decodes and posts a balanced entry (JournalEntry::new
    // refuses anything else), and the fold is the projection's reference.
    let mut events = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .read_all(cursor.as_ref(), 1000)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if page.events.is_empty() {
            break;
        }
        for stored in &page.events {
            events.push(stored.decode().map_err(|e| fail(e.to_string()))?);
        }
        cursor = Some(page.next);
    }
    let mut expected = BalanceDeltas::default();
    for event in &events {
        let entry =
            journal_entry(event).map_err(|e| fail(format!("{}: {e}", event.type_name())))?;
        expected.add(&entry).map_err(|e| fail(e.to_string()))?;
    }
    // The incrementally projected rows equal a fold of all events.
    let mut projected: BTreeMap<(String, String), BTreeMap<String, i64>> = BTreeMap::new();
    for row in store
        .all_balances()
        .await
        .map_err(|e| fail(e.to_string()))?
    {
        let fields = row
            .fields
            .into_iter()
            .filter(|(_, v)| *v != 0)
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        projected.insert((row.owner, row.currency), fields);
    }
    let folded: BTreeMap<(String, String), BTreeMap<String, i64>> = expected
        .rows
        .iter()
        .map(|((owner, currency), fields)| {
            (
                (owner.key(), (*currency).to_owned()),
                fields
                    .iter()
                    .filter(|(_, v)| **v != 0)
                    .map(|(k, v)| ((*k).to_owned(), *v))
                    .collect(),
            )
        })
        .collect();
    // The drafted-batch counters (the draft guard) are kept apart on the
    // embedded store: each must equal the count folded from the events.
    let mut folded = folded;
    let counters: Vec<(String, i64)> = folded
        .iter()
        .filter(|((_, currency), _)| currency == ledger_domain::projection::DRAFTS_ROW)
        .map(|((owner, _), f)| {
            let n = f
                .get(ledger_domain::projection::BATCHES_DRAFTED_FIELD)
                .copied()
                .unwrap_or(0);
            (owner.trim_end_matches("/tenant").to_owned(), n)
        })
        .collect();
    folded.retain(|(_, currency), _| currency != ledger_domain::projection::DRAFTS_ROW);
    for (tenant, n) in counters {
        let tenant_id = ledger_domain::TenantId::new(&tenant).map_err(|e| fail(e.to_string()))?;
        let projected_n = event_store::PayoutReads::batches_drafted(&store, &tenant_id)
            .await
            .map_err(|e| fail(e.to_string()))?;
        if projected_n != n as u64 {
            return Err(fail(format!(
                "tenant {tenant}: {projected_n} drafted batches projected, {n} in the events"
            )));
        }
    }
    let nonempty = |m: &BTreeMap<(String, String), BTreeMap<String, i64>>| {
        m.iter()
            .filter(|(_, f)| !f.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    };
    if nonempty(&projected) != nonempty(&folded) {
        return Err(fail(
            "the projected balances differ from a fold of the events".into(),
        ));
    }
    // The domain's own fold agrees and the trial balance is zero.
    let balances = rebuild_balances(&store)
        .await
        .map_err(|e| fail(e.to_string()))?;
    if let Some((key, sum)) = balances.trial_balance().into_iter().find(|(_, s)| *s != 0) {
        return Err(fail(format!("trial balance of {key:?} is {sum}")));
    }
    // No item paid twice; every failed item's money back at most once.
    let mut paid: HashMap<String, u32> = HashMap::new();
    let mut back: HashMap<String, u32> = HashMap::new();
    for event in &events {
        if let EventBody::PayoutItemPaid(o)
        | EventBody::PayoutItemFailed(o)
        | EventBody::PayoutItemReturned(o)
        | EventBody::PayoutItemUnclaimed(o) = event.body()
        {
            let key = format!("{}/{}/{}", event.tenant_id(), o.batch_id, o.item_id);
            match o.movement {
                MoneyMovement::ReservedToPaid => *paid.entry(key).or_default() += 1,
                MoneyMovement::ReservedToAvailable | MoneyMovement::PaidToAvailable => {
                    *back.entry(key).or_default() += 1
                }
                MoneyMovement::None => {}
            }
        }
    }
    if let Some((item, n)) = paid.iter().find(|(_, n)| **n > 1) {
        return Err(fail(format!("item {item} paid {n} times")));
    }
    if let Some((item, n)) = back.iter().find(|(_, n)| **n > 1) {
        return Err(fail(format!("item {item} credited back {n} times")));
    }
    // No acknowledged commission is lost, and none was recorded twice.
    let mut recorded: HashMap<(String, String), u32> = HashMap::new();
    for event in &events {
        if let EventBody::CommissionRecorded(e) = event.body() {
            *recorded
                .entry((event.tenant_id().to_string(), e.commission_id.to_string()))
                .or_default() += 1;
        }
    }
    for ack in &run.acknowledged {
        match recorded.get(ack) {
            Some(1) => {}
            Some(n) => return Err(fail(format!("commission {ack:?} recorded {n} times"))),
            None => return Err(fail(format!("acknowledged commission {ack:?} is lost"))),
        }
    }
    Ok(())
}

fn approve() -> PayoutBatchCommand {
    PayoutBatchCommand::Approve {
        authority: ledger_domain::events::ApprovalAuthority::Finance,
        limits: ledger_domain::ApprovalLimits::default(),
    }
}
