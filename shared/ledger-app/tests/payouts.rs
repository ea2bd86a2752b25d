//! Payout use cases on the embedded store: drafting from projected balances
//! with skip reasons, continuation and the draft-sequence guard; approval
//! that enqueues dispatch; dispatch that pays each item once, whatever the
//! processor answers.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use event_store::{EventStore, StoreError, StreamId};
use event_store_sqlite::SqliteEventStore;
use ledger_app::payouts::{
    DispatchError, DispatchMessage, DispatchQueue, Dispatched, DraftOptions, FetchPaymentStatus,
    PaymentOrder, PaymentStatus, ProcessorError, ProcessorPorts, ProcessorRegistry, SubmitPayment,
    approve_batch, change_profile, dispatch_item, draft_payouts, load_batch,
};
use ledger_app::{AppError, run_commission};
use ledger_domain::events::{ApprovalAuthority, EventBody, SkipReason};
use ledger_domain::payout::ItemStatus;
use ledger_domain::profile::SandboxBehaviour;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, CommissionCommand, CommissionId, Currency,
    HoldReason, Money, PayoutBatchError, PayoutMethod, PayoutRunId, Processor, ProfileChange,
    TenantId,
};

fn ctx(actor: &str, days: i64) -> CommandContext {
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    CommandContext {
        tenant_id: TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::User, actor).unwrap(),
        now: t0 + Duration::days(days),
        effective_at: t0 + Duration::days(days),
    }
}

fn eur(amount: &str) -> Money {
    Money::parse(amount, Currency::EUR).unwrap()
}

async fn earn(store: &SqliteEventStore, affiliate: &str, amount: Money) {
    let id = CommissionId::new(format!("c-{affiliate}-{}", amount.currency().code())).unwrap();
    let record = CommissionCommand::Record {
        commission_id: id.clone(),
        affiliate_id: AffiliateId::new(affiliate).unwrap(),
        amount,
        hold_period_days: 0,
        source_conversion_id: format!("conv-{id}"),
        order_reference: None,
    };
    run_commission(store, &id, record, &ctx("tracker", 0), None)
        .await
        .unwrap();
    run_commission(
        store,
        &id,
        CommissionCommand::Mature,
        &ctx("scheduler", 1),
        None,
    )
    .await
    .unwrap();
}

async fn set_method(store: &SqliteEventStore, affiliate: &str, method: PayoutMethod) {
    change_profile(
        store,
        &AffiliateId::new(affiliate).unwrap(),
        ProfileChange::MethodSet { method },
        &ctx("finance", 1),
    )
    .await
    .unwrap();
}

fn sandbox(behaviour: SandboxBehaviour) -> PayoutMethod {
    PayoutMethod::Sandbox { behaviour }
}

async fn project(store: &SqliteEventStore) {
    while store.project_ledger(10_000).await.unwrap().events > 0 {}
}

fn options(run: &str) -> DraftOptions {
    DraftOptions::new(PayoutRunId::new(run).unwrap())
}

async fn available(store: &SqliteEventStore, affiliate: &str) -> i64 {
    let row = store
        .affiliate_balance(
            &TenantId::new("acme").unwrap(),
            &AffiliateId::new(affiliate).unwrap(),
            "EUR",
        )
        .await
        .unwrap()
        .unwrap();
    -row.fields["available"]
}

/// Five affiliates with money, each in a different situation.
async fn program() -> SqliteEventStore {
    let store = SqliteEventStore::in_memory().unwrap();
    for a in ["aff-1", "aff-2", "aff-3", "aff-4", "aff-5"] {
        earn(&store, a, eur("60.00")).await;
    }
    earn(&store, "aff-1", Money::parse("15", Currency::USD).unwrap()).await;
    set_method(&store, "aff-1", sandbox(SandboxBehaviour::Settle)).await;
    set_method(&store, "aff-2", sandbox(SandboxBehaviour::Fail)).await;
    set_method(&store, "aff-3", sandbox(SandboxBehaviour::Settle)).await;
    change_profile(
        &store,
        &AffiliateId::new("aff-3").unwrap(),
        ProfileChange::HoldPlaced {
            reason: HoldReason::KycPending,
            note: "passport expired".into(),
        },
        &ctx("finance", 1),
    )
    .await
    .unwrap();
    // aff-4 has no payout method; aff-5 wants at least 100 EUR.
    set_method(
        &store,
        "aff-5",
        PayoutMethod::Sepa {
            iban: "DE89370400440532013000".into(),
            bic: None,
            account_holder: "Five".into(),
        },
    )
    .await;
    change_profile(
        &store,
        &AffiliateId::new("aff-5").unwrap(),
        ProfileChange::MinimumSet {
            minimum: eur("100.00"),
        },
        &ctx("finance", 1),
    )
    .await
    .unwrap();
    project(&store).await;
    store
}

#[tokio::test]
async fn drafting_reserves_what_is_payable_and_records_why_the_rest_is_not() {
    let store = program().await;
    let report = draft_payouts(&store, &store, &ctx("maria", 2), &options("run-1"))
        .await
        .unwrap();
    assert_eq!(report.batches.len(), 1);
    assert_eq!(report.items, 3, "aff-1 EUR and USD, aff-2 EUR");
    assert_eq!(report.skipped, 3);
    assert_eq!(report.next, None);
    let batch = &report.batches[0];
    assert_eq!(batch.batch_id.as_str(), "pb-000001");
    assert_eq!(
        batch.totals,
        vec![eur("120.00"), Money::parse("15", Currency::USD).unwrap()]
    );
    // The skip reasons are on record, in the run's stream.
    let skipped = store
        .read_stream(&StreamId::new("acme/payout-run/run-1").unwrap(), 1, 10)
        .await
        .unwrap();
    let EventBody::PayoutRunSkipped(s) = skipped[0].decode().unwrap().body().clone() else {
        panic!("not a skip record");
    };
    let reasons: Vec<(String, SkipReason)> = s
        .skipped
        .into_iter()
        .map(|s| (s.affiliate_id.to_string(), s.reason))
        .collect();
    assert_eq!(
        reasons,
        vec![
            (
                "aff-3".into(),
                SkipReason::OnHold {
                    holds: vec![HoldReason::KycPending]
                }
            ),
            ("aff-4".into(), SkipReason::NoPayoutMethod),
            (
                "aff-5".into(),
                SkipReason::BelowMinimum {
                    minimum: eur("100.00")
                }
            ),
        ]
    );
    // Until the projection applies this draft, no other draft may run.
    let early = draft_payouts(&store, &store, &ctx("maria", 2), &options("run-2")).await;
    assert!(matches!(
        early,
        Err(AppError::DraftSequenceMoved { applied: 0 })
    ));
    project(&store).await;
    assert_eq!(available(&store, "aff-1").await, 0);
    let again = draft_payouts(&store, &store, &ctx("maria", 2), &options("run-3"))
        .await
        .unwrap();
    assert_eq!(
        again.items, 0,
        "the money is reserved: nothing to draft twice"
    );
}

#[tokio::test]
async fn concurrent_drafts_never_reserve_the_same_money_twice() {
    let store = program().await;
    let (maria, omar) = (ctx("maria", 2), ctx("omar", 2));
    let (run_a, run_b) = (options("run-a"), options("run-b"));
    let (a, b) = tokio::join!(
        draft_payouts(&store, &store, &maria, &run_a),
        draft_payouts(&store, &store, &omar, &run_b),
    );
    let ok = [&a, &b].iter().filter(|r| r.is_ok()).count();
    assert_eq!(ok, 1, "{a:?} {b:?}");
    let loser = if a.is_err() { a } else { b };
    assert!(matches!(loser, Err(AppError::DraftSequenceMoved { .. })));
    project(&store).await;
    let drafted = store
        .read_stream(&StreamId::new("acme/payout-drafts").unwrap(), 1, 10)
        .await
        .unwrap();
    assert_eq!(drafted.len(), 1);
}

#[tokio::test]
async fn long_drafts_continue_where_they_stopped() {
    let store = SqliteEventStore::in_memory().unwrap();
    for n in 0..7 {
        let a = format!("aff-{n}");
        earn(&store, &a, eur("10.00")).await;
        set_method(&store, &a, sandbox(SandboxBehaviour::Settle)).await;
    }
    project(&store).await;
    let mut opts = options("run-long");
    opts.items_per_batch = 2;
    opts.max_batches = 2;
    let first = draft_payouts(&store, &store, &ctx("maria", 2), &opts)
        .await
        .unwrap();
    assert_eq!((first.batches.len(), first.items), (2, 4));
    assert!(first.next.is_some());
    project(&store).await;
    opts.after = first.next.clone();
    let rest = draft_payouts(&store, &store, &ctx("maria", 2), &opts)
        .await
        .unwrap();
    assert_eq!((rest.batches.len(), rest.items, rest.next), (2, 3, None));
    assert_eq!(rest.batches[0].batch_id.as_str(), "pb-000003");
    // A bad token is refused, not misread.
    opts.after = Some("other/affiliate/x EUR".into());
    assert!(matches!(
        draft_payouts(&store, &store, &ctx("maria", 2), &opts).await,
        Err(AppError::Store(StoreError::InvalidCursor { .. }))
    ));
}

#[derive(Default)]
struct Queue(Mutex<Vec<DispatchMessage>>);

#[async_trait]
impl DispatchQueue for Queue {
    async fn enqueue(&self, messages: &[DispatchMessage]) -> Result<(), StoreError> {
        self.0.lock().unwrap().extend_from_slice(messages);
        Ok(())
    }
}

/// A processor double that pays by the sandbox behaviour in the order,
/// keeps what it paid by idempotency key, and counts submissions.
#[derive(Default)]
struct Scripted {
    paid: Mutex<Vec<String>>,
    submits: AtomicUsize,
}

#[async_trait]
impl SubmitPayment for Scripted {
    async fn submit(&self, order: &PaymentOrder) -> Result<PaymentStatus, ProcessorError> {
        self.submits.fetch_add(1, Ordering::SeqCst);
        match &order.method {
            PayoutMethod::Sandbox {
                behaviour: SandboxBehaviour::Fail,
            } => Ok(PaymentStatus::Failed {
                reference: None,
                reason: "account closed".into(),
            }),
            PayoutMethod::Sandbox {
                behaviour: SandboxBehaviour::TimeoutThenSettle,
            } => {
                // The payment goes through, but the answer is lost.
                self.paid
                    .lock()
                    .unwrap()
                    .push(order.idempotency_key.clone());
                Err(ProcessorError::Unknown("timed out".into()))
            }
            _ => {
                self.paid
                    .lock()
                    .unwrap()
                    .push(order.idempotency_key.clone());
                Ok(PaymentStatus::Paid {
                    reference: format!("ref-{}", order.item_id),
                })
            }
        }
    }
}

#[async_trait]
impl FetchPaymentStatus for Scripted {
    async fn status(&self, order: &PaymentOrder) -> Result<Option<PaymentStatus>, ProcessorError> {
        let paid = self.paid.lock().unwrap().contains(&order.idempotency_key);
        Ok(paid.then(|| PaymentStatus::Paid {
            reference: format!("ref-{}", order.item_id),
        }))
    }
}

impl ProcessorRegistry for Scripted {
    fn ports(&self, processor: Processor) -> Option<ProcessorPorts<'_>> {
        (processor == Processor::Sandbox).then_some(ProcessorPorts::Api {
            submit: self,
            status: self,
        })
    }
}

#[tokio::test]
async fn approval_enqueues_every_item_and_dispatch_pays_each_once() {
    let store = program().await;
    set_method(
        &store,
        "aff-4",
        sandbox(SandboxBehaviour::TimeoutThenSettle),
    )
    .await;
    project(&store).await;
    let report = draft_payouts(&store, &store, &ctx("maria", 2), &options("run-1"))
        .await
        .unwrap();
    let batch_id = report.batches[0].batch_id.clone();
    let queue = Queue::default();
    let limits = ledger_domain::ApprovalLimits::from_json(r#"{"EUR": {"batch_total_max": "1000000.00"}, "USD": {"batch_total_max": "1000000.00"}, "JPY": {"batch_total_max": "100000000"}, "KWD": {"batch_total_max": "1000000.000"}}"#).expect("test limits");
    let own = approve_batch(
        &store,
        &queue,
        &batch_id,
        ApprovalAuthority::Finance,
        &limits,
        &ctx("maria", 2),
    )
    .await;
    assert!(matches!(
        own,
        Err(AppError::PayoutBatch(
            PayoutBatchError::MakerCannotApprove { .. }
        ))
    ));
    assert!(queue.0.lock().unwrap().is_empty());
    let (_, queued) = approve_batch(
        &store,
        &queue,
        &batch_id,
        ApprovalAuthority::Finance,
        &limits,
        &ctx("omar", 2),
    )
    .await
    .unwrap();
    assert_eq!(queued, 4);
    let again = approve_batch(
        &store,
        &queue,
        &batch_id,
        ApprovalAuthority::Finance,
        &limits,
        &ctx("omar", 2),
    )
    .await;
    assert!(matches!(
        again,
        Err(AppError::PayoutBatch(PayoutBatchError::AlreadyApproved(_)))
    ));

    let processors = Scripted::default();
    let dispatcher = ctx("dispatch-payouts", 3);
    let messages = queue.0.lock().unwrap().clone();
    let mut results = Vec::new();
    for m in &messages {
        results.push(dispatch_item(&store, &processors, m, &dispatcher).await);
    }
    // aff-1 EUR and USD paid, aff-2 refused (money back), aff-4 unknown at
    // first, then found paid by asking: never submitted twice.
    let outcomes: Vec<String> = results
        .iter()
        .map(|r| match r {
            Ok(Dispatched::Submitted { paid, .. }) => format!("submitted paid={paid}"),
            Ok(Dispatched::Failed { reason }) => format!("failed: {reason}"),
            Ok(Dispatched::AlreadyHandled) => "handled".into(),
            Err(e) => format!("error: {e}"),
        })
        .collect();
    assert_eq!(
        outcomes,
        vec![
            "submitted paid=true",
            "submitted paid=true",
            "failed: account closed",
            "submitted paid=true",
        ],
        "the timed-out payment was found by asking the processor"
    );
    assert_eq!(processors.submits.load(Ordering::SeqCst), 4);
    // Redelivered messages do nothing more.
    for m in &messages {
        let again = dispatch_item(&store, &processors, m, &dispatcher).await;
        assert!(matches!(again, Ok(Dispatched::AlreadyHandled)), "{again:?}");
    }
    assert_eq!(processors.submits.load(Ordering::SeqCst), 4);
    let batch = load_batch(&store, &TenantId::new("acme").unwrap(), &batch_id)
        .await
        .unwrap();
    let states: Vec<ItemStatus> = batch
        .state()
        .unwrap()
        .items
        .iter()
        .map(|i| i.status)
        .collect();
    assert_eq!(
        states,
        vec![
            ItemStatus::Paid,
            ItemStatus::Paid,
            ItemStatus::Final(ledger_domain::ItemOutcome::Failed),
            ItemStatus::Paid
        ]
    );
    project(&store).await;
    assert_eq!(
        available(&store, "aff-2").await,
        6000,
        "failed money is back"
    );
    assert_eq!(available(&store, "aff-1").await, 0);
}

#[tokio::test]
async fn an_unknown_outcome_that_stays_unknown_is_retried_not_guessed() {
    struct Down;
    #[async_trait]
    impl SubmitPayment for Down {
        async fn submit(&self, _: &PaymentOrder) -> Result<PaymentStatus, ProcessorError> {
            Err(ProcessorError::Unknown("503".into()))
        }
    }
    #[async_trait]
    impl FetchPaymentStatus for Down {
        async fn status(&self, _: &PaymentOrder) -> Result<Option<PaymentStatus>, ProcessorError> {
            Err(ProcessorError::Unknown("503".into()))
        }
    }
    impl ProcessorRegistry for Down {
        fn ports(&self, _: Processor) -> Option<ProcessorPorts<'_>> {
            Some(ProcessorPorts::Api {
                submit: self,
                status: self,
            })
        }
    }
    let store = program().await;
    let report = draft_payouts(&store, &store, &ctx("maria", 2), &options("run-1"))
        .await
        .unwrap();
    let batch_id = report.batches[0].batch_id.clone();
    let queue = Queue::default();
    approve_batch(
        &store,
        &queue,
        &batch_id,
        ApprovalAuthority::Finance,
        &ledger_domain::ApprovalLimits::from_json(r#"{"EUR": {"batch_total_max": "1000000.00"}, "USD": {"batch_total_max": "1000000.00"}, "JPY": {"batch_total_max": "100000000"}, "KWD": {"batch_total_max": "1000000.000"}}"#).expect("test limits"),
        &ctx("omar", 2),
    )
    .await
    .unwrap();
    let m = queue.0.lock().unwrap()[0].clone();
    let result = dispatch_item(&store, &Down, &m, &ctx("dispatch-payouts", 3)).await;
    assert!(
        matches!(result, Err(DispatchError::Unknown(_))),
        "{result:?}"
    );
    let batch = load_batch(&store, &TenantId::new("acme").unwrap(), &batch_id)
        .await
        .unwrap();
    assert_eq!(batch.state().unwrap().items[0].status, ItemStatus::Awaiting);
}

/// Accepts payments, and settles them only when asked later (its webhook
/// was lost).
#[derive(Default)]
struct Quiet {
    asked: AtomicUsize,
    submitted: Mutex<Vec<String>>,
}

#[async_trait]
impl SubmitPayment for Quiet {
    async fn submit(&self, order: &PaymentOrder) -> Result<PaymentStatus, ProcessorError> {
        self.submitted
            .lock()
            .unwrap()
            .push(order.idempotency_key.clone());
        Ok(PaymentStatus::Accepted {
            reference: format!("ref-{}", order.item_id),
        })
    }
}

#[async_trait]
impl FetchPaymentStatus for Quiet {
    async fn status(&self, order: &PaymentOrder) -> Result<Option<PaymentStatus>, ProcessorError> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        if !self
            .submitted
            .lock()
            .unwrap()
            .contains(&order.idempotency_key)
        {
            return Ok(None);
        }
        Ok(Some(match &order.method {
            PayoutMethod::Sandbox {
                behaviour: SandboxBehaviour::Fail,
            } => PaymentStatus::Failed {
                reference: Some(format!("ref-{}", order.item_id)),
                reason: "returned by the bank".into(),
            },
            _ => PaymentStatus::Paid {
                reference: format!("ref-{}", order.item_id),
            },
        }))
    }
}

impl ProcessorRegistry for Quiet {
    fn ports(&self, _: Processor) -> Option<ProcessorPorts<'_>> {
        Some(ProcessorPorts::Api {
            submit: self,
            status: self,
        })
    }
}

#[tokio::test]
async fn the_poller_settles_items_whose_news_was_lost() {
    use ledger_app::payouts::poll_stale_items;
    let store = program().await;
    let report = draft_payouts(&store, &store, &ctx("maria", 2), &options("run-1"))
        .await
        .unwrap();
    let batch_id = report.batches[0].batch_id.clone();
    let queue = Queue::default();
    approve_batch(
        &store,
        &queue,
        &batch_id,
        ApprovalAuthority::Finance,
        &ledger_domain::ApprovalLimits::from_json(r#"{"EUR": {"batch_total_max": "1000000.00"}, "USD": {"batch_total_max": "1000000.00"}, "JPY": {"batch_total_max": "100000000"}, "KWD": {"batch_total_max": "1000000.000"}}"#).expect("test limits"),
        &ctx("omar", 2),
    )
    .await
    .unwrap();
    let quiet = Quiet::default();
    let messages = queue.0.lock().unwrap().clone();
    for m in messages {
        dispatch_item(&store, &quiet, &m, &ctx("dispatch-payouts", 3))
            .await
            .unwrap();
    }
    let tenant = TenantId::new("acme").unwrap();
    // Too recent: nothing asked yet.
    let early = poll_stale_items(
        &store,
        &quiet,
        &tenant,
        Duration::hours(1),
        100,
        &ctx("poller", 3),
    )
    .await
    .unwrap();
    // (Dispatch asked once per item before submitting.)
    assert_eq!((early.stale, quiet.asked.load(Ordering::SeqCst)), (0, 3));
    // A day later: every submitted item is asked about and settled.
    let late = poll_stale_items(
        &store,
        &quiet,
        &tenant,
        Duration::hours(1),
        100,
        &ctx("poller", 4),
    )
    .await
    .unwrap();
    assert_eq!((late.stale, late.settled, late.unknown), (3, 3, 0));
    let again = poll_stale_items(
        &store,
        &quiet,
        &tenant,
        Duration::hours(1),
        100,
        &ctx("poller", 5),
    )
    .await
    .unwrap();
    assert_eq!(again.stale, 0, "settled items are not asked about again");
    let batch = load_batch(&store, &tenant, &batch_id).await.unwrap();
    let states: Vec<ItemStatus> = batch
        .state()
        .unwrap()
        .items
        .iter()
        .map(|i| i.status)
        .collect();
    assert_eq!(
        states,
        vec![
            ItemStatus::Paid,
            ItemStatus::Paid,
            ItemStatus::Final(ledger_domain::ItemOutcome::Failed)
        ]
    );
    project(&store).await;
    assert_eq!(
        available(&store, "aff-2").await,
        6000,
        "aff-2's money is back"
    );
}

fn limits(json: &str) -> ledger_domain::ApprovalLimits {
    ledger_domain::ApprovalLimits::from_json(json).unwrap()
}

const EUR_USD_LIMITS: &str =
    r#"{"EUR": {"batch_total_max": "1000000.00"}, "USD": {"batch_total_max": "1000000.00"}}"#;

/// Drafts the program's payouts and approves the first batch as omar.
async fn approved(
    store: &SqliteEventStore,
) -> (ledger_domain::PayoutBatchId, Vec<DispatchMessage>) {
    let report = draft_payouts(store, store, &ctx("maria", 2), &options("run-1"))
        .await
        .unwrap();
    let batch_id = report.batches[0].batch_id.clone();
    let queue = Queue::default();
    approve_batch(
        store,
        &queue,
        &batch_id,
        ApprovalAuthority::Finance,
        &limits(EUR_USD_LIMITS),
        &ctx("omar", 2),
    )
    .await
    .unwrap();
    let messages = queue.0.lock().unwrap().clone();
    (batch_id, messages)
}

#[tokio::test]
async fn an_item_pays_only_the_destination_it_was_approved_with() {
    let store = program().await;
    let (batch_id, messages) = approved(&store).await;
    let tenant = TenantId::new("acme").unwrap();
    let batch = load_batch(&store, &tenant, &batch_id).await.unwrap();
    let first = &batch.state().unwrap().items[0].drafted;
    assert_eq!(first.affiliate_id.as_str(), "aff-1");
    let destination = first.destination.clone().expect("bound at drafting");
    assert_eq!(destination.masked, "sandbox settle");
    // After approval, someone points aff-1 elsewhere.
    change_profile(
        &store,
        &AffiliateId::new("aff-1").unwrap(),
        ProfileChange::MethodSet {
            method: sandbox(SandboxBehaviour::ReturnAfterPaid),
        },
        &ctx("mallory", 2),
    )
    .await
    .unwrap();
    let processors = Scripted::default();
    let result = dispatch_item(
        &store,
        &processors,
        &messages[0],
        &ctx("dispatch-payouts", 3),
    )
    .await
    .unwrap();
    match result {
        Dispatched::Failed { reason } => assert!(
            reason.contains("changed after drafting")
                && reason.contains("approved destination sandbox settle"),
            "{reason}"
        ),
        other => panic!("must not pay a changed destination: {other:?}"),
    }
    assert_eq!(processors.submits.load(Ordering::SeqCst), 0, "nothing sent");
    project(&store).await;
    assert_eq!(available(&store, "aff-1").await, 6000, "the money is back");
    // The change itself is held until someone other than mallory lifts it.
    let profile =
        ledger_app::payouts::load_profile(&store, &tenant, &AffiliateId::new("aff-1").unwrap())
            .await
            .unwrap();
    assert!(profile.profile().holds.contains(&HoldReason::MethodChanged));
}

/// An attempt ends unknown (the processor may have paid: its answer was
/// lost), then the affiliate's method changes. Failing the item now would
/// put its money back on available beside a payment that may exist, to be
/// paid out again: it is held instead (retried, then dead-lettered for a
/// person), neither sent nor failed, its money still reserved.
#[tokio::test]
async fn an_item_whose_attempt_is_unknown_is_held_not_failed_when_its_method_changes() {
    struct LostAnswer(AtomicUsize);
    #[async_trait]
    impl SubmitPayment for LostAnswer {
        async fn submit(&self, _: &PaymentOrder) -> Result<PaymentStatus, ProcessorError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(ProcessorError::Unknown("timed out after sending".into()))
        }
    }
    #[async_trait]
    impl FetchPaymentStatus for LostAnswer {
        async fn status(&self, _: &PaymentOrder) -> Result<Option<PaymentStatus>, ProcessorError> {
            Err(ProcessorError::Unknown("timed out".into()))
        }
    }
    impl ProcessorRegistry for LostAnswer {
        fn ports(&self, _: Processor) -> Option<ProcessorPorts<'_>> {
            Some(ProcessorPorts::Api {
                submit: self,
                status: self,
            })
        }
    }
    let store = program().await;
    let (batch_id, messages) = approved(&store).await;
    let processor = LostAnswer(AtomicUsize::new(0));
    let first = dispatch_item(&store, &processor, &messages[0], &ctx("dispatch-a", 3)).await;
    assert!(matches!(first, Err(DispatchError::Unknown(_))), "{first:?}");
    set_method(&store, "aff-1", sandbox(SandboxBehaviour::ReturnAfterPaid)).await;
    let asked = processor.0.load(Ordering::SeqCst);
    let retry = dispatch_item(&store, &processor, &messages[0], &ctx("dispatch-b", 3)).await;
    match &retry {
        Err(DispatchError::Held(reason)) => assert!(reason.contains("changed after drafting")),
        other => panic!("must be held: {other:?}"),
    }
    assert_eq!(processor.0.load(Ordering::SeqCst), asked, "nothing sent");
    let batch = load_batch(&store, &TenantId::new("acme").unwrap(), &batch_id)
        .await
        .unwrap();
    assert_eq!(batch.state().unwrap().items[0].status, ItemStatus::Awaiting);
    project(&store).await;
    assert_eq!(available(&store, "aff-1").await, 0, "still reserved");
}

/// Pays, but only once the test lets it: the first call blocks in flight.
#[derive(Default)]
struct Slow {
    entered: tokio::sync::Notify,
    release: tokio::sync::Notify,
    submits: AtomicUsize,
}

#[async_trait]
impl SubmitPayment for Slow {
    async fn submit(&self, order: &PaymentOrder) -> Result<PaymentStatus, ProcessorError> {
        // Only the first call is held in flight (so the test cannot hang
        // whatever the code under test does).
        if self.submits.fetch_add(1, Ordering::SeqCst) == 0 {
            self.entered.notify_one();
            self.release.notified().await;
        }
        Ok(PaymentStatus::Paid {
            reference: format!("ref-{}", order.item_id),
        })
    }
}

#[async_trait]
impl FetchPaymentStatus for Slow {
    async fn status(&self, _: &PaymentOrder) -> Result<Option<PaymentStatus>, ProcessorError> {
        // Nothing is visible at the processor until the first call returns,
        // as with a request still in flight.
        Ok(None)
    }
}

impl ProcessorRegistry for Slow {
    fn ports(&self, _: Processor) -> Option<ProcessorPorts<'_>> {
        Some(ProcessorPorts::Api {
            submit: self,
            status: self,
        })
    }
}

#[tokio::test]
async fn two_dispatchers_racing_on_one_item_send_it_once() {
    let store = program().await;
    let (_, messages) = approved(&store).await;
    let slow = Slow::default();
    let message = &messages[0];
    let ctx_a = ctx("dispatch-a", 3);
    let first = dispatch_item(&store, &slow, message, &ctx_a);
    let second = async {
        // The second delivery of the same message arrives while the first
        // is waiting on the processor.
        slow.entered.notified().await;
        let result = dispatch_item(&store, &slow, message, &ctx("dispatch-b", 3)).await;
        slow.release.notify_one();
        result
    };
    let (first, second) = tokio::join!(first, second);
    assert!(
        matches!(first, Ok(Dispatched::Submitted { paid: true, .. })),
        "{first:?}"
    );
    assert!(
        matches!(second, Err(DispatchError::InFlight(_))),
        "the second dispatcher leaves the item to the first: {second:?}"
    );
    assert_eq!(slow.submits.load(Ordering::SeqCst), 1, "sent once");
    // Its redelivery later finds the item paid.
    let later = dispatch_item(&store, &slow, message, &ctx("dispatch-b", 4)).await;
    assert!(matches!(later, Ok(Dispatched::AlreadyHandled)), "{later:?}");
}

#[tokio::test]
async fn an_attempt_that_ends_unknown_lets_the_retry_take_the_item_at_once() {
    struct Flaky(AtomicUsize);
    #[async_trait]
    impl SubmitPayment for Flaky {
        async fn submit(&self, order: &PaymentOrder) -> Result<PaymentStatus, ProcessorError> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                return Err(ProcessorError::Unknown("connection reset".into()));
            }
            Ok(PaymentStatus::Paid {
                reference: format!("ref-{}", order.item_id),
            })
        }
    }
    #[async_trait]
    impl FetchPaymentStatus for Flaky {
        async fn status(&self, _: &PaymentOrder) -> Result<Option<PaymentStatus>, ProcessorError> {
            Ok(None)
        }
    }
    impl ProcessorRegistry for Flaky {
        fn ports(&self, _: Processor) -> Option<ProcessorPorts<'_>> {
            Some(ProcessorPorts::Api {
                submit: self,
                status: self,
            })
        }
    }
    let store = program().await;
    let (_, messages) = approved(&store).await;
    let flaky = Flaky(AtomicUsize::new(0));
    let first = dispatch_item(&store, &flaky, &messages[0], &ctx("dispatch-a", 3)).await;
    assert!(matches!(first, Err(DispatchError::Unknown(_))), "{first:?}");
    let retry = dispatch_item(&store, &flaky, &messages[0], &ctx("dispatch-b", 3)).await;
    assert!(
        matches!(retry, Ok(Dispatched::Submitted { paid: true, .. })),
        "{retry:?}"
    );
}

/// The tenant's credentials switch to another processor account while an
/// item's first attempt is unknown: the new account has never heard of the
/// item's key, so sending from it could pay the affiliate twice. The
/// dispatch is held (retried, then dead-lettered for a person) and the new
/// account is never asked; back on the first account, the item is asked
/// about and paid once.
#[tokio::test]
async fn an_item_first_tried_from_one_account_is_never_sent_from_another() {
    struct Account {
        name: &'static str,
        answers_unknown: bool,
        submitted: AtomicUsize,
    }
    #[async_trait]
    impl SubmitPayment for Account {
        async fn submit(&self, order: &PaymentOrder) -> Result<PaymentStatus, ProcessorError> {
            self.submitted.fetch_add(1, Ordering::SeqCst);
            if self.answers_unknown {
                return Err(ProcessorError::Unknown("connection reset".into()));
            }
            Ok(PaymentStatus::Paid {
                reference: format!("{}-{}", self.name, order.item_id),
            })
        }
        fn paying_account(&self) -> Option<String> {
            Some(format!("stripe {}", self.name))
        }
    }
    #[async_trait]
    impl FetchPaymentStatus for Account {
        async fn status(&self, _: &PaymentOrder) -> Result<Option<PaymentStatus>, ProcessorError> {
            Ok(None)
        }
    }
    impl ProcessorRegistry for Account {
        fn ports(&self, _: Processor) -> Option<ProcessorPorts<'_>> {
            Some(ProcessorPorts::Api {
                submit: self,
                status: self,
            })
        }
    }
    let account = |name, answers_unknown| Account {
        name,
        answers_unknown,
        submitted: AtomicUsize::new(0),
    };
    let store = program().await;
    let (batch_id, messages) = approved(&store).await;
    let (old, new) = (account("acct_old", true), account("acct_new", false));
    let first = dispatch_item(&store, &old, &messages[0], &ctx("dispatch-a", 3)).await;
    assert!(matches!(first, Err(DispatchError::Unknown(_))), "{first:?}");
    let switched = dispatch_item(&store, &new, &messages[0], &ctx("dispatch-b", 3)).await;
    assert!(
        matches!(
            &switched,
            Err(DispatchError::App(AppError::PayoutBatch(
                PayoutBatchError::AccountChanged { first, now, .. }
            ))) if first == "stripe acct_old" && now.as_deref() == Some("stripe acct_new")
        ),
        "{switched:?}"
    );
    assert_eq!(
        new.submitted.load(Ordering::SeqCst),
        0,
        "never asked to pay"
    );
    let batch = load_batch(&store, &TenantId::new("acme").unwrap(), &batch_id)
        .await
        .unwrap();
    let item = &batch.state().unwrap().items[0];
    assert_eq!(item.status, ItemStatus::Awaiting, "held, money reserved");
    // Back on the first account (its outcome now readable there).
    let old_again = account("acct_old", false);
    let retry = dispatch_item(&store, &old_again, &messages[0], &ctx("dispatch-c", 3)).await;
    assert!(
        matches!(retry, Ok(Dispatched::Submitted { paid: true, .. })),
        "{retry:?}"
    );
    assert_eq!(old_again.submitted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_notice_that_names_another_processor_or_reference_is_kept_for_finance() {
    use ledger_app::payouts::{NoticeRecorded, ProcessorNotice, record_notice};
    let store = program().await;
    let (batch_id, messages) = approved(&store).await;
    let processors = Scripted::default();
    dispatch_item(
        &store,
        &processors,
        &messages[0],
        &ctx("dispatch-payouts", 3),
    )
    .await
    .unwrap();
    let item = messages[0].item_id.to_string();
    let notice = |event_id: &str, processor, reference: &str| ProcessorNotice {
        processor,
        event_id: event_id.into(),
        outcome: ledger_domain::ItemOutcome::Failed,
        tenant_id: Some("acme".into()),
        batch_id: Some(batch_id.to_string()),
        item_id: Some(item.clone()),
        reference: Some(reference.into()),
        account: None,
        amount: None,
        reason: Some("payout failed".into()),
    };
    let by = |t: TenantId| CommandContext {
        tenant_id: t,
        ..ctx("stripe", 4)
    };
    // A Stripe notice (a connected account's payout) for a sandbox item.
    let forged = notice("evt_1", Processor::Stripe, &format!("ref-{item}"));
    assert_eq!(
        record_notice(&store, &forged, by).await.unwrap(),
        NoticeRecorded::Unmatched
    );
    // The right processor, another payment.
    let other = notice("evt_2", Processor::Sandbox, "po_123");
    assert_eq!(
        record_notice(&store, &other, by).await.unwrap(),
        NoticeRecorded::Unmatched
    );
    let tenant = TenantId::new("acme").unwrap();
    let batch = load_batch(&store, &tenant, &batch_id).await.unwrap();
    assert_eq!(batch.state().unwrap().items[0].status, ItemStatus::Paid);
    // Finance finds both, each with why.
    let mut reasons = Vec::new();
    let page = store.read_all(None, 1000).await.unwrap();
    for stored in &page.events {
        if let EventBody::ProcessorNoticeUnmatched(u) = stored.decode().unwrap().body() {
            reasons.push(u.reason.clone().unwrap_or_default());
        }
    }
    assert_eq!(reasons.len(), 2, "{reasons:?}");
    assert!(reasons[0].contains("comes from stripe"), "{reasons:?}");
    assert!(reasons[1].contains("po_123"), "{reasons:?}");
    // The genuine notice still moves it.
    let genuine = notice("evt_3", Processor::Sandbox, &format!("ref-{item}"));
    assert!(matches!(
        record_notice(&store, &genuine, by).await.unwrap(),
        NoticeRecorded::Outcome(ledger_domain::MoneyMovement::PaidToAvailable)
    ));
}

#[tokio::test]
async fn many_small_batches_cannot_get_past_an_approvers_daily_limit() {
    let store = program().await;
    let mut one_per_batch = options("run-1");
    one_per_batch.items_per_batch = 1;
    let report = draft_payouts(&store, &store, &ctx("maria", 2), &one_per_batch)
        .await
        .unwrap();
    // aff-1 EUR 60, aff-1 USD 15, aff-2 EUR 60: three one-item batches.
    assert_eq!(report.batches.len(), 3, "{report:?}");
    let daily =
        limits(r#"{"EUR": {"approver_daily_max": "100.00"}, "USD": {"item_max": "1000.00"}}"#);
    let queue = Queue::default();
    let mut refused = Vec::new();
    for batch in &report.batches {
        let result = approve_batch(
            &store,
            &queue,
            &batch.batch_id,
            ApprovalAuthority::Finance,
            &daily,
            &ctx("omar", 2),
        )
        .await;
        if let Err(AppError::PayoutBatch(PayoutBatchError::NeedsAdmin { rule, .. })) = result {
            refused.push((batch.batch_id.clone(), rule));
        } else {
            result.unwrap();
        }
    }
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(
        refused[0].1.contains("already approved 60.00 EUR today"),
        "{refused:?}"
    );
    // Another approver's day is their own; omar's next day is new.
    approve_batch(
        &store,
        &queue,
        &refused[0].0,
        ApprovalAuthority::Finance,
        &daily,
        &ctx("sara", 2),
    )
    .await
    .unwrap();
}

#[test]
fn business_days_skip_weekends_and_target_holidays() {
    use ledger_app::payouts::business_days_between;
    let at = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 10, 0, 0).unwrap();
    // Friday to Monday: one business day.
    assert_eq!(business_days_between(at(2026, 11, 27), at(2026, 11, 30)), 1);
    // 24 December to 28 December: the 25th and 26th are closed.
    assert_eq!(business_days_between(at(2026, 12, 24), at(2026, 12, 28)), 1);
    assert_eq!(business_days_between(at(2026, 12, 2), at(2026, 12, 2)), 0);
}

#[tokio::test]
async fn sepa_items_with_no_bank_status_are_reported_after_the_business_days_allowed() {
    use ledger_app::payouts::{draft_batch, drafts_sequence, overdue_file_items};
    let store = SqliteEventStore::in_memory().unwrap();
    earn(&store, "aff-s", eur("80.00")).await;
    project(&store).await;
    let tenant = TenantId::new("acme").unwrap();
    let batch_id = ledger_domain::PayoutBatchId::new("pb-sepa").unwrap();
    let item_id = ledger_domain::PayoutItemId::new("pb-sepa.1").unwrap();
    let items = vec![ledger_domain::DraftedItem {
        item_id: item_id.clone(),
        affiliate_id: AffiliateId::new("aff-s").unwrap(),
        amount: eur("80.00"),
        receivable_netted: eur("0"),
        processor: Processor::Sepa,
        destination: None,
    }];
    let sequence = drafts_sequence(&store, &tenant).await.unwrap();
    // Monday 2 March 2026.
    draft_batch(&store, &ctx("maria", 1), &batch_id, items, sequence)
        .await
        .unwrap();
    approve_batch(
        &store,
        &Queue::default(),
        &batch_id,
        ApprovalAuthority::Finance,
        &limits(EUR_USD_LIMITS),
        &ctx("omar", 1),
    )
    .await
    .unwrap();
    ledger_app::run_payout_batch(
        &store,
        &batch_id,
        ledger_domain::PayoutBatchCommand::Submit {
            item_id: item_id.clone(),
            processor_reference: Some("sepa/acme/pb-sepa/EUR.xml#pb-sepa.1".into()),
        },
        &ctx("dispatch-payouts", 1),
        None,
    )
    .await
    .unwrap();
    let at = |days| ctx("poller", days).now;
    // Three business days later (Thursday): still within the allowance.
    assert!(
        overdue_file_items(&store, &tenant, 3, 100, at(4))
            .await
            .unwrap()
            .is_empty()
    );
    // The next Monday: five business days, reported.
    let overdue = overdue_file_items(&store, &tenant, 3, 100, at(8))
        .await
        .unwrap();
    assert_eq!(overdue.len(), 1, "{overdue:?}");
    assert_eq!(overdue[0].item_id, item_id);
    assert_eq!(overdue[0].business_days, 5);
    // Once the bank answers, it is no longer overdue.
    ledger_app::run_payout_batch(
        &store,
        &batch_id,
        ledger_domain::PayoutBatchCommand::RecordOutcome {
            item_id,
            outcome: ledger_domain::ItemOutcome::Paid,
            processor_event_id: Some("pain002#1".into()),
            reason: None,
            facts: Default::default(),
        },
        &ctx("bank", 9),
        None,
    )
    .await
    .unwrap();
    assert!(
        overdue_file_items(&store, &tenant, 3, 100, at(10))
            .await
            .unwrap()
            .is_empty()
    );
}
