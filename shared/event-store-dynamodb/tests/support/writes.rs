//! Measures what the DynamoDB store writes per append, counted at the SDK.

use chrono::{Duration, TimeZone, Utc};
use event_store::{
    AppendRequest, EventStore, IdempotencyKey, IdempotencyRecord, IdempotencyScope, Once,
    Operation, fingerprint,
};
use event_store_dynamodb::schema::{Tables, create_tables};
use event_store_dynamodb::{DynamoEventStore, WriteCounter, WriteCounts};
use ledger_domain::{
    Actor, ActorKind, AffiliateId, CommandContext, Commission, CommissionCommand, CommissionId,
    Currency, Money, TenantId,
};

pub struct WriteReport {
    pub commissions: u64,
    /// Recording new commissions (first event of a new stream, with a key).
    pub new_commission: WriteCounts,
    /// Retrying the same recordings (idempotent replays).
    pub replay: WriteCounts,
    /// Maturing them (keyed appends to existing streams).
    pub follow_on: WriteCounts,
    /// Recording other new commissions as keyed requests, as ingest does:
    /// each event with its request's idempotency record.
    pub keyed_request: WriteCounts,
    /// Adjusting the matured commissions without a key (unkeyed appends to
    /// existing streams, as the scheduled maturing run and a payout batch's
    /// next event append).
    pub unkeyed_follow_on: WriteCounts,
}

fn delta(after: WriteCounts, before: WriteCounts) -> WriteCounts {
    WriteCounts {
        write_requests: after.write_requests - before.write_requests,
        items_written: after.items_written - before.items_written,
        condition_checks: after.condition_checks - before.condition_checks,
    }
}

pub async fn measure(
    config: &aws_config::SdkConfig,
    prefix: &str,
    commissions: u64,
) -> WriteReport {
    let counter = WriteCounter::default();
    let tables = Tables::with_prefix(prefix);
    let store = DynamoEventStore::from_config(config, tables.clone(), Some(counter.clone()));
    create_tables(store.client(), &tables)
        .await
        .expect("create tables");
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let ctx = |at| CommandContext {
        tenant_id: TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::Service, "tracking-network").unwrap(),
        now: at,
        effective_at: t0,
    };
    let recording = |id: String, i: u64| {
        let command = CommissionCommand::Record {
            commission_id: CommissionId::new(&id).unwrap(),
            affiliate_id: AffiliateId::new("aff-1").unwrap(),
            amount: Money::from_minor(1000 + i as i64, Currency::EUR).unwrap(),
            hold_period_days: 0,
            source_conversion_id: format!("conv-{id}"),
            order_reference: None,
        };
        Commission::default().handle(command, &ctx(t0)).unwrap()
    };
    let mut recorded = Vec::new();
    let mut requests = Vec::new();
    for i in 0..commissions {
        let events = recording(format!("c-{i}"), i);
        requests.push(
            AppendRequest::from_domain(0, &events)
                .unwrap()
                .with_idempotency_key(IdempotencyKey::new(format!("conv-{i}")).unwrap()),
        );
        recorded.push(events);
    }
    let start = counter.snapshot();
    for request in &requests {
        let appended = store.append(request.clone()).await.unwrap();
        assert!(!appended.duplicate);
    }
    let after_new = counter.snapshot();
    for request in &requests {
        assert!(store.append(request.clone()).await.unwrap().duplicate);
    }
    let after_replay = counter.snapshot();
    for (i, events) in recorded.iter().enumerate() {
        let commission = Commission::from_events(events);
        let matured = commission
            .handle(CommissionCommand::Mature, &ctx(t0 + Duration::days(1)))
            .unwrap();
        let request = AppendRequest::from_domain(commission.version(), &matured)
            .unwrap()
            .with_idempotency_key(IdempotencyKey::new(format!("mature-{i}")).unwrap());
        store.append(request).await.unwrap();
    }
    let after_follow_on = counter.snapshot();
    for i in 0..commissions {
        let events = recording(format!("keyed-{i}"), i);
        let record = IdempotencyRecord {
            scope: IdempotencyScope::new(
                TenantId::new("acme").unwrap(),
                Operation::new("ingest.commissions").unwrap(),
                IdempotencyKey::new(format!("request-{i}")).unwrap(),
            ),
            request_hash: fingerprint(format!("request {i}").as_bytes()),
            answer: format!("[{{\"commission_id\":\"keyed-{i}\",\"version\":1}}]"),
        };
        let request = AppendRequest::from_domain(0, &events).unwrap();
        let once = store.append_once(vec![request], record).await.unwrap();
        assert!(matches!(once, Once::Written(_)));
    }
    let after_keyed_request = counter.snapshot();
    for (i, events) in recorded.iter().enumerate() {
        let mut history = events.clone();
        history.extend(
            Commission::from_events(events)
                .handle(CommissionCommand::Mature, &ctx(t0 + Duration::days(1)))
                .unwrap(),
        );
        let commission = Commission::from_events(&history);
        let adjusted = commission
            .handle(
                CommissionCommand::Adjust {
                    delta: Money::from_minor(1 + i as i64, Currency::EUR).unwrap(),
                    reason: "rate correction".to_owned(),
                },
                &ctx(t0 + Duration::days(2)),
            )
            .unwrap();
        let request = AppendRequest::from_domain(commission.version(), &adjusted).unwrap();
        store.append(request).await.unwrap();
    }
    let after_unkeyed = counter.snapshot();
    WriteReport {
        commissions,
        new_commission: delta(after_new, start),
        replay: delta(after_replay, after_new),
        follow_on: delta(after_follow_on, after_replay),
        keyed_request: delta(after_keyed_request, after_follow_on),
        unkeyed_follow_on: delta(after_unkeyed, after_keyed_request),
    }
}

pub fn print(report: &WriteReport) {
    let n = report.commissions as f64;
    let row = |name: &str, c: &WriteCounts| {
        println!(
            "| {name} | {} | {:.2} | {:.2} | {:.2} |",
            report.commissions,
            c.write_requests as f64 / n,
            c.items_written as f64 / n,
            c.condition_checks as f64 / n
        );
    };
    println!(
        "| DynamoDB writes per append | appends | write requests each | items in write requests each (billed) | condition checks each |"
    );
    println!("|---|---|---|---|---|");
    row("new commission (target: 1 item)", &report.new_commission);
    row(
        "idempotent replay of it (one refused conditional put, original returned)",
        &report.replay,
    );
    row(
        "baseline: keyed append to an existing stream (guard item)",
        &report.follow_on,
    );
    row(
        "new commission as a keyed request, as ingest posts it (event + request record, one transaction)",
        &report.keyed_request,
    );
    row(
        "unkeyed append to an existing stream (one read that the expected version is there, one conditional put)",
        &report.unkeyed_follow_on,
    );
}
