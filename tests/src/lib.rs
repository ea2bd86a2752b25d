//! A deterministic simulation of the money flow on the embedded store.
//!
//! A seeded generator drives tenants, affiliates, commissions, reversals,
//! maturities, payout batches, approvals and processor outcomes through the
//! real use cases, while injecting faults: every ingest delivered twice
//! (commissions, and their reversals and adjustments),
//! processor outcomes duplicated and delivered out of order, the maker trying
//! to approve, and crashes (the process state dropped, the store reopened
//! from its file) between steps, between a draft and its approval and
//! between two dispatched items, with the projector resuming from its
//! checkpoint. Approved items are dispatched through a simulated processor
//! that pays, refuses, times out before or after paying (a late success),
//! or accepts and reports later; its notices arrive twice and out of order,
//! some of them returns after payment, and unknown outcomes are redelivered.
//! [`check`] then asserts the ledger's invariants, among them that the
//! processor never received a payment request for an item it had already
//! paid, that every item's money is where its status says (credited back
//! exactly once when it failed, reserved while it is open), and that every
//! affiliate's monthly statements tie to the ledger and chain. The same
//! seed always replays the same run.
//!
//! Where money leaves, the simulation also races two dispatchers on one
//! item, changes an affiliate's payout method between drafting and
//! dispatch, forges notices (another processor, another account), and has
//! the processor reverse paid items partly, then wholly; the checks add
//! that no payment went to a destination other than the one approved and
//! that every reversal moved back only what it reversed.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use chrono::{DateTime, Duration, TimeZone, Utc};
use event_store::{EventStore, IdempotencyKey};
use event_store_sqlite::SqliteEventStore;
use ledger_app::{AppError, mature_due, rebuild_balances, record_commissions, run_payout_batch};
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
    /// Reversals and adjustments applied (each delivered twice).
    pub changes: usize,
    pub steps: usize,
    pub crashes: usize,
    pub batches: Vec<(String, String, Vec<String>)>,
    pub refused_self_approvals: usize,
    /// Items dispatched, and unknown outcomes redelivered.
    pub dispatched: usize,
    pub redelivered: usize,
    /// Submissions the processor received for an item it had already paid
    /// (must stay zero).
    pub second_payment_requests: usize,
    /// Notices delivered (each twice).
    pub notices: usize,
    /// Items dispatched by two dispatchers at once.
    pub races: usize,
    /// Payout methods changed after drafting.
    pub method_changes: usize,
    /// Forged notices, each refused as unmatched.
    pub forged: usize,
    /// Partial reversals the processor reported.
    pub partial_reversals: usize,
    /// Payments the processor made to a method other than the one the
    /// item was approved for (must stay zero).
    pub wrong_destinations: usize,
    /// The simulated clock when the run ended.
    pub until: DateTime<Utc>,
}

/// A processor with faults, deterministic per seed.
struct SimProcessor {
    rng: std::sync::Mutex<Rng>,
    /// Idempotency keys paid, with the reference.
    paid: std::sync::Mutex<HashMap<String, String>>,
    second_requests: std::sync::atomic::AtomicUsize,
    /// Notices to deliver later.
    news: std::sync::Mutex<Vec<ledger_app::payouts::ProcessorNotice>>,
    /// The method fingerprint each key was paid to.
    paid_to: std::sync::Mutex<HashMap<String, String>>,
}

impl SimProcessor {
    fn roll(&self) -> u64 {
        self.rng.lock().map(|mut r| r.below(100)).unwrap_or(0)
    }

    fn pay(&self, order: &ledger_app::payouts::PaymentOrder) -> String {
        let reference = format!("ref-{}", order.idempotency_key);
        if let Ok(mut paid) = self.paid.lock() {
            paid.insert(order.idempotency_key.clone(), reference.clone());
        }
        if let Ok(mut to) = self.paid_to.lock() {
            to.insert(order.idempotency_key.clone(), order.method.fingerprint());
        }
        reference
    }

    /// A notice as the processor sends it: its reference, the account it
    /// paid and the amount (for a reversal, the total reversed so far).
    fn notice(
        &self,
        order: &ledger_app::payouts::PaymentOrder,
        outcome: ItemOutcome,
        n: u64,
        amount: Money,
    ) {
        if let Ok(mut news) = self.news.lock() {
            news.push(ledger_app::payouts::ProcessorNotice {
                processor: order.method.processor(),
                event_id: format!("sim-{}-{outcome:?}-{n}", order.idempotency_key),
                outcome,
                tenant_id: Some(order.tenant_id.to_string()),
                batch_id: Some(order.batch_id.to_string()),
                item_id: Some(order.item_id.to_string()),
                reference: Some(format!("ref-{}", order.idempotency_key)),
                account: Some(order.method.account()),
                amount: Some(amount),
                reason: None,
            });
        }
    }
}

#[async_trait::async_trait]
impl ledger_app::payouts::SubmitPayment for SimProcessor {
    async fn submit(
        &self,
        order: &ledger_app::payouts::PaymentOrder,
    ) -> Result<ledger_app::payouts::PaymentStatus, ledger_app::payouts::ProcessorError> {
        use ledger_app::payouts::{PaymentStatus, ProcessorError};
        let already = self
            .paid
            .lock()
            .map(|p| p.contains_key(&order.idempotency_key))
            .unwrap_or(false);
        if already {
            self.second_requests
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        // A call takes time: another dispatcher may run meanwhile.
        tokio::task::yield_now().await;
        let roll = self.roll();
        match roll {
            0..=39 => Ok(PaymentStatus::Paid {
                reference: self.pay(order),
            }),
            // Timed out after paying: a late success.
            40..=54 => {
                self.pay(order);
                Err(ProcessorError::Unknown("timeout after payment".into()))
            }
            // Timed out before anything happened.
            55..=64 => Err(ProcessorError::Unknown("timeout".into())),
            65..=74 => Ok(PaymentStatus::Failed {
                reference: None,
                reason: "refused".into(),
            }),
            // Accepted; the news comes later, sometimes followed by a
            // return, or by a partial reversal and then the rest of it.
            _ => {
                let reference = self.pay(order);
                self.notice(order, ItemOutcome::Paid, 0, order.amount);
                if roll >= 96 {
                    self.notice(order, ItemOutcome::Returned, 1, order.amount);
                } else if roll >= 90 {
                    let half = Money::from_minor(
                        (order.amount.amount_minor() / 2).max(1),
                        order.amount.currency(),
                    )
                    .unwrap_or(order.amount);
                    self.notice(order, ItemOutcome::Reversed, 1, half);
                    if roll >= 93 {
                        self.notice(order, ItemOutcome::Reversed, 2, order.amount);
                    }
                }
                Ok(PaymentStatus::Accepted { reference })
            }
        }
    }
}

#[async_trait::async_trait]
impl ledger_app::payouts::FetchPaymentStatus for SimProcessor {
    async fn status(
        &self,
        order: &ledger_app::payouts::PaymentOrder,
    ) -> Result<Option<ledger_app::payouts::PaymentStatus>, ledger_app::payouts::ProcessorError>
    {
        tokio::task::yield_now().await;
        // Sometimes the status service is down too.
        if self.roll() < 15 {
            return Err(ledger_app::payouts::ProcessorError::Unknown(
                "status unavailable".into(),
            ));
        }
        Ok(self
            .paid
            .lock()
            .ok()
            .and_then(|p| p.get(&order.idempotency_key).cloned())
            .map(|reference| ledger_app::payouts::PaymentStatus::Paid { reference }))
    }
}

impl ledger_app::payouts::ProcessorRegistry for SimProcessor {
    fn ports(&self, processor: Processor) -> Option<ledger_app::payouts::ProcessorPorts<'_>> {
        // SEPA is not configured here: its items fail with their money back.
        (processor != Processor::Sepa).then_some(ledger_app::payouts::ProcessorPorts::Api {
            submit: self,
            status: self,
        })
    }
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
    let processor = SimProcessor {
        rng: std::sync::Mutex::new(Rng(seed ^ 0x5EED)),
        paid: std::sync::Mutex::new(HashMap::new()),
        second_requests: std::sync::atomic::AtomicUsize::new(0),
        news: std::sync::Mutex::new(Vec::new()),
        paid_to: std::sync::Mutex::new(HashMap::new()),
    };
    // The total a processor reversed of an item so far (its notices carry it).
    let mut reversal_totals: HashMap<String, Money> = HashMap::new();
    // Messages whose outcome was unknown, waiting for redelivery.
    let mut redeliveries: Vec<ledger_app::payouts::DispatchMessage> = Vec::new();
    // Every affiliate gets a payout method of the processor it is drafted for.
    for tenant in TENANTS {
        for a in 0..AFFILIATES {
            let method = match a % 3 {
                0 => ledger_domain::PayoutMethod::Stripe {
                    account_id: format!("acct_sim{a}"),
                },
                1 => ledger_domain::PayoutMethod::Paypal {
                    receiver: format!("aff{a}@sim.example"),
                },
                _ => ledger_domain::PayoutMethod::Sepa {
                    iban: "DE89370400440532013000".into(),
                    bic: None,
                    account_holder: format!("Affiliate {a}"),
                },
            };
            ledger_app::payouts::change_profile(
                &store,
                &id(AffiliateId::new(format!("aff-{a}"))),
                ledger_domain::ProfileChange::MethodSet { method },
                &ctx(tenant, ActorKind::User, "finance", now),
            )
            .await
            .expect("payout method");
        }
    }
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
                    record_commissions(&store, &c, &[(command.clone(), Some(now))], Some(&key))
                        .await;
                let again =
                    record_commissions(&store, &c, &[(command, Some(now))], Some(&key)).await;
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
            // A refund, chargeback or fraud reversal (a share of what is
            // left, or all of it) or an adjustment either way, before or
            // after payout, through the tracking network's use case; every
            // delivery comes twice.
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
                        let money = |minor| id(Money::from_minor(minor, remaining.currency()));
                        let pick = rng.below(2);
                        let reason = [
                            ReversalReason::Refund,
                            ReversalReason::Chargeback,
                            ReversalReason::Fraud,
                        ][(pick as usize + percent as usize) % 3];
                        let (operation, change) = if percent % 10 == 0 {
                            let delta = if pick == 0 { minor } else { -minor };
                            (
                                ledger_app::adjustments::OPERATION_ADJUSTMENT,
                                ledger_app::adjustments::Change::Adjust {
                                    delta: money(delta),
                                    reason: "order corrected".to_owned(),
                                },
                            )
                        } else {
                            (
                                ledger_app::adjustments::OPERATION_REVERSAL,
                                ledger_app::adjustments::Change::Reverse {
                                    // From 95 %: all that is left.
                                    amount: (percent < 95).then(|| money(minor)),
                                    currency: remaining.currency(),
                                    reason,
                                    reference: format!("ref-{step}"),
                                },
                            )
                        };
                        let changes = [ledger_app::adjustments::CommissionChange {
                            commission_id,
                            change,
                            occurred_at: None,
                        }];
                        let operation = id(event_store::Operation::new(operation));
                        let key = id(IdempotencyKey::new(format!("change-{step}")));
                        let first = ledger_app::adjustments::change_commissions(
                            &store, &c, &operation, &changes, &key,
                        )
                        .await;
                        let again = ledger_app::adjustments::change_commissions(
                            &store, &c, &operation, &changes, &key,
                        )
                        .await;
                        match (&first, &again) {
                            (Ok(first), Ok(again)) => {
                                assert!(
                                    !first[0].duplicate
                                        && again[0].duplicate
                                        && (first[0].version, &first[0].effect)
                                            == (again[0].version, &again[0].effect),
                                    "seed {seed}: a redelivered change must get the first answer"
                                );
                                run.changes += 1;
                            }
                            // Nothing left to take, or below zero: refused
                            // both times, and nothing written.
                            (
                                Err(ledger_app::adjustments::ChangeError::Refused { .. }),
                                Err(ledger_app::adjustments::ChangeError::Refused { .. }),
                            ) => {}
                            _ => panic!(
                                "seed {seed}: a change and its redelivery must agree: {first:?} / {again:?}"
                            ),
                        }
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
                        // Bound to the method as it stands at drafting.
                        let destination =
                            ledger_app::payouts::load_profile(&store, &tenant_id, &affiliate_id)
                                .await
                                .expect("profile")
                                .profile()
                                .method
                                .as_ref()
                                .map(|m| m.destination());
                        items.push(DraftedItem {
                            item_id: id(PayoutItemId::new(format!("b{n}-{a}"))),
                            affiliate_id,
                            amount: id(Money::from_minor(available - receivable, currency)),
                            receivable_netted: id(Money::from_minor(receivable, currency)),
                            processor: [Processor::Stripe, Processor::Paypal, Processor::Sepa]
                                [a as usize % 3],
                            destination,
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
                if rng.chance(20) {
                    // A crash between the draft and its approval: the
                    // approval comes from a restarted process.
                    store = restart(store, &path, &mut run.crashes);
                }
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
                let drafted =
                    ledger_app::payouts::load_batch(&store, &processor.tenant_id, &batch_id)
                        .await
                        .expect("batch")
                        .state()
                        .and_then(|s| {
                            s.items
                                .iter()
                                .find(|i| i.drafted.item_id.as_str() == item)
                                .map(|i| i.drafted.clone())
                        })
                        .expect("the item is in its batch");
                // Sometimes a reversal: half of the item so far, or all.
                if rng.chance(25) {
                    let amount = drafted.amount;
                    let total = if rng.chance(60) {
                        run.partial_reversals += 1;
                        id(Money::from_minor(
                            (amount.amount_minor() / 2).max(1),
                            amount.currency(),
                        ))
                    } else {
                        amount
                    };
                    news.push(ItemOutcome::Reversed);
                    reversal_totals.insert(item.clone(), total);
                }
                for outcome in news {
                    for _ in 0..2 {
                        let facts = ledger_domain::OutcomeFacts {
                            processor: Some(drafted.processor),
                            amount: (outcome == ItemOutcome::Reversed)
                                .then(|| reversal_totals.get(&item).copied())
                                .flatten(),
                            ..Default::default()
                        };
                        let command = PayoutBatchCommand::RecordOutcome {
                            item_id: id(PayoutItemId::new(&item)),
                            outcome,
                            processor_event_id: Some(format!("evt-{}", rng.below(1000))),
                            reason: None,
                            facts,
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
                // A forged outcome: the item's news from another processor.
                if rng.chance(30) {
                    let other = if drafted.processor == Processor::Stripe {
                        Processor::Paypal
                    } else {
                        Processor::Stripe
                    };
                    let forged = PayoutBatchCommand::RecordOutcome {
                        item_id: id(PayoutItemId::new(&item)),
                        outcome: ItemOutcome::Failed,
                        processor_event_id: Some(format!("forged-{step}")),
                        reason: None,
                        facts: ledger_domain::OutcomeFacts {
                            processor: Some(other),
                            ..Default::default()
                        },
                    };
                    match run_payout_batch(&store, &batch_id, forged, &processor, None).await {
                        Err(AppError::PayoutBatch(
                            ledger_domain::PayoutBatchError::NoticeMismatch { .. }
                            | ledger_domain::PayoutBatchError::Rejected(_),
                        )) => run.forged += 1,
                        other => {
                            panic!("seed {seed}: a forged outcome must be refused, got {other:?}")
                        }
                    }
                }
            }
            // Dispatch: an approved batch's items through the processor;
            // unknown outcomes wait for redelivery, which asks first.
            90..=93 if !run.batches.is_empty() => {
                let (tenant, batch, items) =
                    run.batches[rng.below(run.batches.len() as u64) as usize].clone();
                let dispatcher = ctx(&tenant, ActorKind::Processor, "dispatch-payouts", now);
                if rng.chance(15) {
                    // Someone points an affiliate elsewhere after drafting:
                    // its items in flight must not be paid there.
                    let a = rng.below(AFFILIATES);
                    let method = match a % 3 {
                        0 => ledger_domain::PayoutMethod::Stripe {
                            account_id: format!("acct_sim{a}x{step}"),
                        },
                        1 => ledger_domain::PayoutMethod::Paypal {
                            receiver: format!("aff{a}.{step}@sim.example"),
                        },
                        _ => ledger_domain::PayoutMethod::Sepa {
                            iban: "FR1420041010050500013M02606".into(),
                            bic: None,
                            account_holder: format!("Affiliate {a} {step}"),
                        },
                    };
                    ledger_app::payouts::change_profile(
                        &store,
                        &id(AffiliateId::new(format!("aff-{a}"))),
                        ledger_domain::ProfileChange::MethodSet { method },
                        &ctx(&tenant, ActorKind::User, "finance", now),
                    )
                    .await
                    .expect("method change");
                    run.method_changes += 1;
                }
                for item in items {
                    if rng.chance(10) {
                        // A crash between two items' writes.
                        store = restart(store, &path, &mut run.crashes);
                    }
                    let message = ledger_app::payouts::DispatchMessage {
                        tenant_id: id(TenantId::new(&tenant)),
                        batch_id: id(PayoutBatchId::new(&batch)),
                        item_id: id(PayoutItemId::new(&item)),
                    };
                    run.dispatched += 1;
                    let results = if rng.chance(20) {
                        // The same message delivered twice at once.
                        run.races += 1;
                        let other = ctx(&tenant, ActorKind::Processor, "dispatch-payouts-2", now);
                        let (a, b) = tokio::join!(
                            ledger_app::payouts::dispatch_item(
                                &store,
                                &processor,
                                &message,
                                &dispatcher
                            ),
                            ledger_app::payouts::dispatch_item(
                                &store, &processor, &message, &other
                            )
                        );
                        vec![a, b]
                    } else {
                        vec![
                            ledger_app::payouts::dispatch_item(
                                &store,
                                &processor,
                                &message,
                                &dispatcher,
                            )
                            .await,
                        ]
                    };
                    for result in results {
                        match result {
                            Ok(_) => {}
                            Err(
                                ledger_app::payouts::DispatchError::Unknown(_)
                                | ledger_app::payouts::DispatchError::InFlight(_)
                                | ledger_app::payouts::DispatchError::Held(_),
                            ) => redeliveries.push(message.clone()),
                            Err(e) => panic!("seed {seed}: dispatch failed: {e}"),
                        }
                    }
                }
            }
            // Redelivery of unknown outcomes (SQS after the visibility timeout).
            94..=95 if !redeliveries.is_empty() => {
                let message = redeliveries.remove(rng.below(redeliveries.len() as u64) as usize);
                let dispatcher = ctx(
                    message.tenant_id.as_str(),
                    ActorKind::Processor,
                    "dispatch-payouts",
                    now,
                );
                run.redelivered += 1;
                // A later delivery: after the queue's visibility timeout,
                // so any claim of a crashed attempt has run out.
                let dispatcher = CommandContext {
                    now: dispatcher.now
                        + Duration::seconds(ledger_app::payouts::DISPATCH_LEASE_SECONDS + 1),
                    ..dispatcher
                };
                match ledger_app::payouts::dispatch_item(&store, &processor, &message, &dispatcher)
                    .await
                {
                    Ok(_) => {}
                    Err(
                        ledger_app::payouts::DispatchError::Unknown(_)
                        | ledger_app::payouts::DispatchError::InFlight(_)
                        | ledger_app::payouts::DispatchError::Held(_),
                    ) => redeliveries.push(message),
                    Err(e) => panic!("seed {seed}: redelivery failed: {e}"),
                }
            }
            // Processor notices: each delivered twice, in random order.
            96..=97 => {
                let mut news = processor
                    .news
                    .lock()
                    .map(|mut n| std::mem::take(&mut *n))
                    .unwrap_or_default();
                // Out of order: a random rotation of what is pending.
                if !news.is_empty() {
                    let k = rng.below(news.len() as u64) as usize;
                    news.rotate_left(k);
                }
                // Now and then, a forged copy of one: another processor, or
                // another account, for the same item.
                if let Some(genuine) = news.first().cloned() {
                    if rng.chance(30) {
                        let mut forged = genuine;
                        forged.event_id = format!("forged-{step}");
                        forged.outcome = ItemOutcome::Failed;
                        if rng.chance(50) {
                            forged.processor = if forged.processor == Processor::Stripe {
                                Processor::Paypal
                            } else {
                                Processor::Stripe
                            };
                        } else {
                            forged.account = Some(format!("acct_forged{step}"));
                        }
                        let got = ledger_app::payouts::record_notice(&store, &forged, |t| {
                            ctx(t.as_str(), ActorKind::Processor, "forger", now)
                        })
                        .await
                        .unwrap_or_else(|e| panic!("seed {seed}: forged notice: {e}"));
                        assert_eq!(
                            got,
                            ledger_app::payouts::NoticeRecorded::Unmatched,
                            "seed {seed}: a forged notice must move nothing"
                        );
                        run.forged += 1;
                    }
                }
                run.partial_reversals += news
                    .iter()
                    .filter(|n| {
                        n.outcome == ItemOutcome::Reversed && n.event_id.ends_with("-Reversed-1")
                    })
                    .count();
                for notice in &news {
                    for _ in 0..2 {
                        let processor_kind = notice.processor;
                        ledger_app::payouts::record_notice(&store, notice, |t| CommandContext {
                            tenant_id: t,
                            actor: Actor {
                                kind: ActorKind::Processor,
                                id: processor_kind.as_str().to_owned(),
                                role: None,
                                request_id: None,
                            },
                            now,
                            effective_at: now,
                        })
                        .await
                        .unwrap_or_else(|e| panic!("seed {seed}: notice not recorded: {e}"));
                        run.notices += 1;
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
                store = restart(store, &path, &mut run.crashes);
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
    run.until = now;
    run.second_payment_requests = processor
        .second_requests
        .load(std::sync::atomic::Ordering::SeqCst);
    // Every payment went to the destination its item was approved for.
    let events = all_events(&store).await.expect("events");
    let paid_to = processor
        .paid_to
        .lock()
        .map(|p| p.clone())
        .unwrap_or_default();
    for event in &events {
        if let EventBody::PayoutBatchDrafted(d) = event.body() {
            for item in &d.items {
                let key = format!("{}:{}", event.tenant_id(), item.item_id);
                let approved = item.destination.as_ref().map(|d| d.fingerprint.as_str());
                if let Some(paid) = paid_to.get(&key) {
                    if approved != Some(paid.as_str()) {
                        run.wrong_destinations += 1;
                    }
                }
            }
        }
    }
    run
}

/// A crash: the process state is dropped and the store reopened from its
/// file, as a restarted process would find it. Counted in `crashes`.
fn restart(store: SqliteEventStore, path: &Path, crashes: &mut usize) -> SqliteEventStore {
    drop(store);
    *crashes += 1;
    SqliteEventStore::open(path).expect("reopen")
}

/// Every event of the store, decoded, in global order.
pub async fn all_events(store: &SqliteEventStore) -> Result<Vec<ledger_domain::Event>, String> {
    let mut events = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .read_all(cursor.as_ref(), 1000)
            .await
            .map_err(|e| e.to_string())?;
        if page.events.is_empty() {
            return Ok(events);
        }
        for stored in &page.events {
            events.push(stored.decode().map_err(|e| e.to_string())?);
        }
        cursor = Some(page.next);
    }
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
    let events = all_events(&store).await.map_err(fail)?;
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
    if run.second_payment_requests > 0 {
        return Err(fail(format!(
            "the processor was asked {} times to pay an item it had already paid",
            run.second_payment_requests
        )));
    }
    if run.wrong_destinations > 0 {
        return Err(fail(format!(
            "{} payments went to a destination other than the one approved",
            run.wrong_destinations
        )));
    }
    // No item paid twice; what comes back of an item (a failure, a return,
    // partial reversals) adds up to at most the item, in minor units.
    let mut paid: HashMap<String, u32> = HashMap::new();
    let mut back: HashMap<String, i64> = HashMap::new();
    for event in &events {
        if let EventBody::PayoutItemPaid(o)
        | EventBody::PayoutItemFailed(o)
        | EventBody::PayoutItemReturned(o)
        | EventBody::PayoutItemUnclaimed(o)
        | EventBody::PayoutItemReversed(o) = event.body()
        {
            let key = format!("{}/{}/{}", event.tenant_id(), o.batch_id, o.item_id);
            match o.movement {
                MoneyMovement::ReservedToPaid => *paid.entry(key).or_default() += 1,
                MoneyMovement::ReservedToAvailable | MoneyMovement::PaidToAvailable => {
                    *back.entry(key).or_default() += o.amount.amount_minor()
                }
                MoneyMovement::None => {}
            }
        }
    }
    if let Some((item, n)) = paid.iter().find(|(_, n)| **n > 1) {
        return Err(fail(format!("item {item} paid {n} times")));
    }
    // Every item's money is where its status says, exactly once: a failed,
    // returned or unclaimed item was credited back once, a paid one was paid
    // once and never credited back, a rejected batch's items neither, and
    // what is still open (drafted, awaiting, submitted) is exactly what each
    // affiliate's reserved balance holds.
    let mut by_stream: HashMap<String, Vec<&ledger_domain::Event>> = HashMap::new();
    for event in &events {
        by_stream
            .entry(event.stream_name())
            .or_default()
            .push(event);
    }
    let mut open: BTreeMap<(String, String), i64> = BTreeMap::new();
    for (tenant, batch, _) in &run.batches {
        let tenant_id = TenantId::new(tenant).map_err(|e| fail(e.to_string()))?;
        let batch_id = PayoutBatchId::new(batch).map_err(|e| fail(e.to_string()))?;
        let stream = ledger_domain::events::stream_name(
            &tenant_id,
            ledger_domain::events::AggregateRef::PayoutBatch(&batch_id),
        );
        let replayed = ledger_domain::PayoutBatch::from_events(
            by_stream.get(&stream).into_iter().flatten().copied(),
        );
        let state = replayed
            .state()
            .ok_or_else(|| fail(format!("batch {stream} has no draft")))?;
        let rejected = state.status == ledger_domain::payout::BatchStatus::Rejected;
        for item in &state.items {
            let key = format!("{tenant}/{batch}/{}", item.drafted.item_id);
            let paid_n = paid.get(&key).copied().unwrap_or(0);
            let back_n = back.get(&key).copied().unwrap_or(0);
            let whole = item.drafted.amount.amount_minor();
            use ledger_domain::payout::ItemStatus;
            let (paid_ok, back_ok) = match item.status {
                _ if rejected => (paid_n == 0, back_n == 0),
                // All of it came back, once in total.
                ItemStatus::Final(_) => (paid_n <= 1, back_n == whole),
                // Paid; partial reversals brought back what they reversed.
                ItemStatus::Paid => (
                    paid_n == 1,
                    back_n == item.reversed.amount_minor() && back_n < whole,
                ),
                ItemStatus::Awaiting | ItemStatus::Submitted => (paid_n == 0, back_n == 0),
            };
            if !paid_ok || !back_ok {
                return Err(fail(format!(
                    "item {key} of {whole} minor units is {:?}{} but was paid {paid_n} times and {back_n} came back",
                    item.status,
                    if rejected { " in a rejected batch" } else { "" }
                )));
            }
            if !rejected && matches!(item.status, ItemStatus::Awaiting | ItemStatus::Submitted) {
                let owner = ledger_domain::projection::BalanceOwner::Affiliate {
                    tenant_id: tenant_id.clone(),
                    affiliate_id: item.drafted.affiliate_id.clone(),
                };
                *open
                    .entry((
                        owner.key(),
                        item.drafted.amount.currency().code().to_owned(),
                    ))
                    .or_default() += item.drafted.amount.amount_minor();
            }
        }
    }
    let rows = projected
        .keys()
        .filter(|(owner, _)| !owner.ends_with("/tenant"))
        .chain(open.keys())
        .collect::<std::collections::BTreeSet<_>>();
    for row in rows {
        let (owner, currency) = row;
        // Liabilities to the affiliate are credits: negative on the row.
        let reserved = -projected
            .get(row)
            .and_then(|f| f.get("reserved"))
            .copied()
            .unwrap_or(0);
        let expected = open.get(row).copied().unwrap_or(0);
        if reserved != expected {
            return Err(fail(format!(
                "{owner} {currency}: {reserved} reserved, but its open payout items hold {expected}"
            )));
        }
    }
    check_statements(&store, &projected, run.until)
        .await
        .map_err(fail)?;
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

/// Each tenant's statement time zone: one ahead of UTC, one behind, so
/// month boundaries fall on other instants than the simulated clock's.
fn statement_zone(tenant: &str) -> &'static str {
    if tenant == TENANTS[0] {
        "Europe/Berlin"
    } else {
        "America/New_York"
    }
}

/// Every affiliate's monthly statements, from the month before the run
/// began to the month after it ended, tie to the ledger and chain: the
/// first opens at zero, each opens where the one before closed, each ties
/// (its closing plus what is dated later equals the balance row, asserted
/// by `Statement::build`), and the last has nothing dated after it.
async fn check_statements(
    store: &SqliteEventStore,
    projected: &BTreeMap<(String, String), BTreeMap<String, i64>>,
    until: DateTime<Utc>,
) -> Result<(), String> {
    use chrono::Datelike;
    use ledger_domain::projection::BalanceOwner;
    use reporting::statement::{Period, Statement, time_zone};
    let last = until + Duration::days(1);
    let mut labels = Vec::new();
    let (mut year, mut month) = (2025, 12);
    while (year, month) <= (last.year(), last.month()) {
        labels.push(format!("{year:04}-{month:02}"));
        (year, month) = if month == 12 {
            (year + 1, 1)
        } else {
            (year, month + 1)
        };
    }
    for ((owner_key, currency), fields) in projected {
        let Some(owner) = BalanceOwner::from_key(owner_key) else {
            return Err(format!("balance row owner {owner_key} is unreadable"));
        };
        let BalanceOwner::Affiliate {
            tenant_id,
            affiliate_id,
        } = &owner
        else {
            continue;
        };
        let tz = time_zone(statement_zone(tenant_id.as_str())).map_err(|e| e.to_string())?;
        let journal = reporting::statements::read_journal(store, &owner, currency)
            .await
            .map_err(|e| e.to_string())?;
        let mut opening = [0i64; 5];
        let mut later_lines = 0;
        for label in &labels {
            let period = Period::month(label, tz).map_err(|e| e.to_string())?;
            let statement = Statement::build(
                tenant_id.clone(),
                affiliate_id.clone(),
                currency,
                period,
                journal.clone(),
                fields,
            )
            .map_err(|e| format!("statement {owner_key} {currency} {label}: {e}"))?;
            if statement.opening != opening {
                return Err(format!(
                    "statement {owner_key} {currency} {label} opens at {:?}, the month before closed at {opening:?}",
                    statement.opening
                ));
            }
            opening = statement.closing;
            later_lines = statement.later_lines;
        }
        if later_lines != 0 {
            return Err(format!(
                "{owner_key} {currency}: {later_lines} journal lines dated after the run"
            ));
        }
    }
    Ok(())
}

fn approve() -> PayoutBatchCommand {
    PayoutBatchCommand::Approve {
        authority: ledger_domain::events::ApprovalAuthority::Finance,
        limits: ledger_domain::ApprovalLimits::from_json(
            r#"{"EUR": {"batch_total_max": "100000000.00"}, "USD": {"batch_total_max": "100000000.00"}, "JPY": {"batch_total_max": "10000000000"}, "KWD": {"batch_total_max": "100000000.000"}}"#,
        )
        .expect("simulation limits"),
        approved_today: Vec::new(),
    }
}
