//! Drives commissions through their whole life on the DynamoDB adapter,
//! against the local emulator, by the code paths the functions run:
//! ingest (keyed, one commission per request, as a queue message brings
//! it), projection, maturity, projection, drafting, projection, approval by
//! another person, projection, dispatch through the sandbox processor,
//! projection, the processor's paid notice, projection. Every DynamoDB
//! request is counted at the SDK in request units as DynamoDB bills them
//! on demand (see `tests/support/units.rs`); the table shows each stage, and
//! the totals per commission and in dollars per million commissions.
//!
//! Beside it, from the same run: the floor, what a commission's own two
//! events (recorded, matured) cost appended alone, with no key and no
//! projection.
//!
//! Payouts are per affiliate, not per commission: what drafting, approval,
//! dispatch and the notice cost per commission falls as more commissions
//! share one payout (`COMMISSIONS` over `AFFILIATES`).
//!
//! Stream reads (the projector's input) are not DynamoDB table requests and
//! are free to a Lambda trigger, so they are not counted.
//!
//! Run: `cargo bench -p event-store-dynamodb --bench lifecycle`
//! (`COMMISSIONS`, default 200; `AFFILIATES`, default 20: ten commissions per
//! payout. The emulator slows as its tables grow, so more takes long).

#[path = "../tests/support/units.rs"]
mod units;

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, Utc};
use event_store::{AppendRequest, Cursor, EventStore, IdempotencyKey};
use event_store_dynamodb::DynamoEventStore;
use event_store_dynamodb::projection::{
    DynamoProjection, ProjectionTables, create_projection_tables,
};
use event_store_dynamodb::schema::{Tables, create_tables};
use futures::stream::{self, StreamExt};
use ledger_app::payouts::{
    DraftOptions, MemoryQueue, approve_batch, change_profile, dispatch_item, draft_payouts,
    record_notice,
};
use ledger_app::{mature_until, record_commissions};
use ledger_domain::events::ApprovalAuthority;
use ledger_domain::profile::SandboxBehaviour;
use ledger_domain::{
    Actor, ActorKind, AffiliateId, ApprovalLimits, CommandContext, Commission, CommissionCommand,
    CommissionId, Currency, Money, PayoutMethod, PayoutRunId, Processor, ProfileChange, TenantId,
};
use processors::Processors;
use processors::sandbox::Sandbox;
use processors::webhooks::{Parsed, parse_sandbox};
use units::{UnitCounter, Units};

/// On-demand list prices, us-east-1, standard table class: dollars per
/// million write request units and per million read request units.
const DOLLARS_PER_MILLION_WRITE_UNITS: f64 = 1.25;
const DOLLARS_PER_MILLION_READ_UNITS: f64 = 0.25;
/// The target: write units per commission over its whole life.
const TARGET_WRITE_UNITS: f64 = 6.0;
/// Events per projection call: the stream trigger's batch size.
const STREAM_BATCH: usize = 90;
/// Requests in flight at once where the functions run many side by side.
const CONCURRENCY: usize = 8;
/// The hold period of every commission, in days.
const HOLD_DAYS: u32 = 30;
const TENANT: &str = "acme";
const PREFIX: &str = "life-";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

fn tenant() -> TenantId {
    TenantId::new(TENANT).unwrap()
}

fn ctx(actor: Actor, now: DateTime<Utc>) -> CommandContext {
    CommandContext {
        tenant_id: tenant(),
        actor,
        now,
        effective_at: now,
    }
}

fn affiliate(i: u64) -> AffiliateId {
    AffiliateId::new(format!("aff-{i:05}")).unwrap()
}

/// A message id as the queue gives one (the default idempotency key).
fn message_id(kind: u64, i: u64) -> String {
    format!("{kind:08x}-{:04x}-4000-8000-{i:012x}", i >> 16)
}

fn record_command(id: &str, affiliate_id: AffiliateId, i: u64) -> CommissionCommand {
    CommissionCommand::Record {
        commission_id: CommissionId::new(id).unwrap(),
        affiliate_id,
        amount: Money::from_minor(1_000 + (i % 977) as i64, Currency::EUR).unwrap(),
        hold_period_days: HOLD_DAYS,
        source_conversion_id: format!("conv-{id}"),
        order_reference: Some(format!("order-{i:08}")),
    }
}

struct Stage {
    name: &'static str,
    units: Units,
}

struct Ledger {
    store: DynamoEventStore,
    projection: DynamoProjection,
    counter: UnitCounter,
    /// Where the projector is in the events table's stream.
    cursor: Option<Cursor>,
    stages: Vec<Stage>,
    mark: Units,
}

impl Ledger {
    /// Closes a stage: what was counted since the last one.
    fn stage(&mut self, name: &'static str) {
        let now = self.counter.snapshot();
        self.stages.push(Stage {
            name,
            units: now.since(&self.mark),
        });
        self.mark = now;
    }

    /// Projects everything appended since the last projection, in stream
    /// trigger batches, as project-ledger does.
    async fn project(&mut self, name: &'static str) {
        loop {
            let page = self
                .store
                .read_all(self.cursor.as_ref(), STREAM_BATCH)
                .await
                .expect("read the events stream");
            if page.events.is_empty() {
                break;
            }
            self.projection
                .project(&page.events)
                .await
                .expect("project");
            self.cursor = Some(page.next);
        }
        self.stage(name);
    }
}

async fn open(config: &aws_config::SdkConfig) -> Ledger {
    let counter = UnitCounter::default();
    let client = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(config)
            .interceptor(counter.clone())
            .build(),
    );
    let tables = Tables::with_prefix(PREFIX);
    create_tables(&client, &tables)
        .await
        .expect("create tables");
    let projection_tables = ProjectionTables::with_prefix(PREFIX);
    create_projection_tables(&client, &projection_tables)
        .await
        .expect("create projection tables");
    let store = DynamoEventStore::new(client.clone(), tables)
        .with_streams(aws_sdk_dynamodbstreams::Client::new(config));
    let projection = DynamoProjection::new(client, projection_tables);
    let mark = counter.snapshot();
    Ledger {
        store,
        projection,
        counter,
        cursor: None,
        stages: Vec::new(),
        mark,
    }
}

struct Report {
    commissions: u64,
    affiliates: u64,
    setup: Units,
    stages: Vec<Stage>,
    floor: Units,
    paid: usize,
}

async fn run(config: &aws_config::SdkConfig, commissions: u64, affiliates: u64) -> Report {
    let mut ledger = open(config).await;
    let now = Utc::now();
    let ingested_at = now - Duration::days(i64::from(HOLD_DAYS) + 1);

    // Setup, not part of a commission's life: each affiliate's payout
    // profile (sandbox), projected; and one maturing run over the empty
    // schedule, so the schedule's cursor is where a running system keeps it.
    let finance = Actor::new(ActorKind::User, "maria").unwrap();
    for a in 0..affiliates {
        change_profile(
            &ledger.store,
            &affiliate(a),
            ProfileChange::MethodSet {
                method: PayoutMethod::Sandbox {
                    behaviour: SandboxBehaviour::Settle,
                },
            },
            &ctx(finance.clone(), ingested_at),
        )
        .await
        .expect("set a payout profile");
    }
    ledger.project("setup").await;
    let far = Instant::now() + StdDuration::from_secs(600);
    mature_until(&ledger.store, &ledger.projection, now, far)
        .await
        .expect("warm the maturity schedule");
    ledger.stage("setup");
    let setup = ledger
        .stages
        .drain(..)
        .fold(Units::default(), |mut all, s| {
            all.add(&s.units);
            all
        });

    // Ingest: one keyed request per commission, as a queue message brings it.
    let ingest_actor = Actor::new(ActorKind::Service, "tracking-network-queue").unwrap();
    let store = &ledger.store;
    stream::iter(0..commissions)
        .map(|i| {
            let id = message_id(1, i);
            let ctx = ctx(
                ingest_actor
                    .clone()
                    .acting(Some("ingest"), Some(&id))
                    .unwrap(),
                ingested_at,
            );
            async move {
                let command = record_command(&format!("c-{i:07}"), affiliate(i % affiliates), i);
                let key = IdempotencyKey::new(&id).unwrap();
                let recorded = record_commissions(store, &ctx, &[(command, None)], Some(&key))
                    .await
                    .expect("ingest");
                assert!(!recorded[0].duplicate);
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    ledger.stage("ingest (keyed request, 1 commission)");
    ledger.project("projection of ingest").await;

    // Maturity: the scheduled run, everything due.
    let matured = mature_until(&ledger.store, &ledger.projection, now, far)
        .await
        .expect("mature");
    assert_eq!(matured.matured as u64, commissions, "{matured:?}");
    ledger.stage("maturity (scheduled run)");
    ledger.project("projection of maturity").await;

    // Drafting: the scheduled run, as draft-payouts makes it.
    let scheduler = Actor::new(ActorKind::Scheduler, "draft-payouts").unwrap();
    let mut options = DraftOptions::new(
        PayoutRunId::new(format!("sched-{}", now.format("%Y%m%dT%H%M%S"))).unwrap(),
    );
    options.max_batches = 40;
    let drafted = draft_payouts(
        &ledger.store,
        &ledger.projection,
        &ctx(scheduler, now),
        &options,
    )
    .await
    .expect("draft");
    assert_eq!(drafted.items as u64, affiliates, "{drafted:?}");
    ledger.stage("drafting (scheduled run)");
    ledger.project("projection of drafting").await;

    // Approval by another person than the maker, items enqueued.
    let limits = ApprovalLimits::from_json(r#"{"EUR": {"batch_total_max": "100000000.00"}}"#)
        .expect("limits");
    let queue = MemoryQueue::default();
    let approver = Actor::new(ActorKind::User, "omar")
        .unwrap()
        .acting(Some("finance"), Some("approve-request"))
        .unwrap();
    for batch in &drafted.batches {
        approve_batch(
            &ledger.store,
            &queue,
            &batch.batch_id,
            ApprovalAuthority::Finance,
            &limits,
            &ctx(approver.clone(), now),
        )
        .await
        .expect("approve");
    }
    ledger.stage("approval (another person) + enqueue");
    ledger.project("projection of approval").await;

    // Dispatch: one message per item, paid through the sandbox.
    let sandbox = Arc::new(Sandbox::new());
    let processors = Processors {
        sandbox: Some(sandbox.clone()),
        stripe: None,
        paypal: None,
        sepa: None,
    };
    let messages = queue.messages();
    assert_eq!(messages.len() as u64, affiliates);
    // One after another, as one invocation handles its SQS batch: every
    // item of a batch is an event of the batch's one stream.
    for (i, message) in messages.iter().enumerate() {
        let actor = Actor::new(ActorKind::Processor, "dispatch-payouts")
            .unwrap()
            .acting(None, Some(&message_id(2, i as u64)))
            .unwrap();
        dispatch_item(&ledger.store, &processors, message, &ctx(actor, now))
            .await
            .expect("dispatch");
    }
    ledger.stage("dispatch (sandbox processor)");
    ledger.project("projection of dispatch").await;

    // The processor's paid notices, as processor-webhooks records them.
    let notices = sandbox.take_notifications();
    let paid = notices.len();
    for body in notices {
        let Parsed::Notice(notice) = parse_sandbox(body.as_bytes()).expect("a notice") else {
            panic!("not a notice: {body}");
        };
        record_notice(&ledger.store, &notice, |tenant_id| CommandContext {
            tenant_id,
            actor: Actor::new(ActorKind::Processor, Processor::Sandbox.as_str()).unwrap(),
            now,
            effective_at: now,
        })
        .await
        .expect("record the notice");
    }
    ledger.stage("paid notice (processor webhook)");
    ledger.project("projection of paid notice").await;
    let stages = std::mem::take(&mut ledger.stages);

    // The floor: other commissions' own two events, appended alone.
    let store = &ledger.store;
    stream::iter(0..commissions)
        .map(|i| async move {
            let tracker = Actor::new(ActorKind::Service, "tracking-network").unwrap();
            let id = format!("floor-{i:07}");
            let recorded = Commission::default()
                .handle(
                    record_command(&id, affiliate(i % affiliates), i),
                    &ctx(tracker.clone(), ingested_at),
                )
                .unwrap();
            let commission = Commission::from_events(&recorded);
            store
                .append(AppendRequest::from_domain(0, &recorded).unwrap())
                .await
                .expect("append the recording");
            let matured = commission
                .handle(CommissionCommand::Mature, &ctx(tracker, now))
                .unwrap();
            store
                .append(AppendRequest::from_domain(commission.version(), &matured).unwrap())
                .await
                .expect("append the maturity");
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<()>>()
        .await;
    let floor = ledger.counter.snapshot().since(&ledger.mark);
    Report {
        commissions,
        affiliates,
        setup,
        stages,
        floor,
        paid,
    }
}

fn dollars_per_million(units: &Units, commissions: u64) -> f64 {
    (units.write_units as f64 * DOLLARS_PER_MILLION_WRITE_UNITS
        + units.read_units() * DOLLARS_PER_MILLION_READ_UNITS)
        / commissions as f64
}

fn print(report: &Report) -> (Units, f64) {
    let n = report.commissions as f64;
    println!(
        "{} commissions, {} affiliates (one payout each), one tenant, EUR; {} paid notices",
        report.commissions, report.affiliates, report.paid
    );
    println!(
        "prices: ${DOLLARS_PER_MILLION_WRITE_UNITS} per million write request units, ${DOLLARS_PER_MILLION_READ_UNITS} per million read request units (on demand, us-east-1, standard)"
    );
    println!();
    println!(
        "| stage | requests | write units | write units / commission | read units | read units / commission | $ per million commissions |"
    );
    println!("|---|---|---|---|---|---|---|");
    let row = |name: &str, u: &Units| {
        println!(
            "| {name} | {} | {} | {:.2} | {:.1} | {:.2} | {:.2} |",
            u.requests,
            u.write_units,
            u.write_units as f64 / n,
            u.read_units(),
            u.read_units() / n,
            dollars_per_million(u, report.commissions)
        );
    };
    let mut total = Units::default();
    for stage in &report.stages {
        row(stage.name, &stage.units);
        total.add(&stage.units);
    }
    row("**whole life**", &total);
    row("floor: its own 2 events appended alone", &report.floor);
    row(
        "(setup, not counted: profiles of the affiliates, schedule warm-up)",
        &report.setup,
    );
    println!();
    println!("| write units / commission by table | {} |", {
        let tables: Vec<String> = total
            .write_units_by_table
            .keys()
            .map(|t| t.trim_start_matches(PREFIX).to_owned())
            .collect();
        tables.join(" | ")
    });
    println!("|---|{}", "---|".repeat(total.write_units_by_table.len()));
    for stage in &report.stages {
        let cells: Vec<String> = total
            .write_units_by_table
            .keys()
            .map(|t| {
                let units = stage
                    .units
                    .write_units_by_table
                    .get(t)
                    .copied()
                    .unwrap_or(0);
                format!("{:.2}", units as f64 / n)
            })
            .collect();
        println!("| {} | {} |", stage.name, cells.join(" | "));
    }
    let cells: Vec<String> = total
        .write_units_by_table
        .values()
        .map(|u| format!("{:.2}", *u as f64 / n))
        .collect();
    println!("| **whole life** | {} |", cells.join(" | "));
    println!();
    let cost = dollars_per_million(&total, report.commissions);
    (total, cost)
}

fn main() {
    let commissions = env("COMMISSIONS", 200);
    let affiliates = env("AFFILIATES", 20).min(commissions);
    let emulator = aws_emulator::Emulator::start()
        .expect("the benchmark needs the emulator (infra/setup-emulator.sh)");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let started = Instant::now();
    let report = runtime.block_on(run(&emulator.sdk_config(), commissions, affiliates));
    let (total, cost) = print(&report);
    let n = commissions as f64;
    let writes = total.write_units as f64 / n;
    let reads = total.read_units() / n;
    let floor_writes = report.floor.write_units as f64 / n;
    let floor_cost = dollars_per_million(&report.floor, commissions);
    let verdict = if writes <= TARGET_WRITE_UNITS {
        "MET"
    } else {
        "MISSED"
    };
    println!(
        "whole life: {writes:.2} write units and {reads:.2} read units per commission, ${cost:.2} per million commissions (floor {floor_writes:.2} write units, ${floor_cost:.2}); target {TARGET_WRITE_UNITS} write units: {verdict} ({:.0} s)",
        started.elapsed().as_secs_f64()
    );
    println!(
        "SUMMARY|DynamoDB write units per commission, whole life (emulator)|{writes:.2}|{floor_writes:.2}|{TARGET_WRITE_UNITS}|{verdict}"
    );
    println!(
        "SUMMARY|DynamoDB on-demand $ per million commissions, whole life (emulator)|{cost:.2}|{floor_cost:.2}|-|-"
    );
}
