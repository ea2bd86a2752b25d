//! The DynamoDB ledger projection on the emulator: exactly once under
//! redelivery, coalesced per transaction, equal to one fold of the events.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use aws_emulator::Emulator;
use event_store::StoredEvent;
use event_store_dynamodb::projection::{
    DynamoProjection, ProjectionTables, create_projection_tables,
};
use ledger_domain::projection::{BalanceDeltas, BalanceOwner};
use ledger_domain::sample::mixed_events;
use ledger_domain::{Event, journal_entry};

fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        Emulator::start().unwrap_or_else(|e| panic!("the DynamoDB tests need the emulator: {e}"))
    })
}

async fn projection(prefix: &str) -> DynamoProjection {
    let client = aws_sdk_dynamodb::Client::new(&emulator().sdk_config());
    let tables = ProjectionTables::with_prefix(prefix);
    create_projection_tables(&client, &tables).await.unwrap();
    DynamoProjection::new(client, tables)
}

/// Domain events as the events table's stream delivers them.
fn stored(events: &[Event]) -> Vec<StoredEvent> {
    event_store::stored_in_order(events).unwrap()
}

async fn assert_rows_match(projection: &DynamoProjection, events: &[Event]) {
    let mut expected = BalanceDeltas::default();
    for e in events {
        expected.add(&journal_entry(e).unwrap()).unwrap();
    }
    for ((owner, currency), fields) in &expected.rows {
        let stored = projection.balance(owner, currency).await.unwrap();
        let want: BTreeMap<String, i64> = fields
            .iter()
            .filter(|(_, v)| **v != 0)
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        let got: BTreeMap<String, i64> = stored
            .into_iter()
            .filter(|(k, v)| *v != 0 && k != "owner" && k != "currency")
            .collect();
        assert_eq!(got, want, "{}/{currency}", owner.key());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_batches_are_projected_once() {
    let projection = projection("proj-once-").await;
    let events = mixed_events(21, 400, 3);
    let records = stored(&events);
    let mut projected = 0;
    for chunk in records.chunks(37) {
        let first = projection.project(chunk).await.unwrap();
        projected += first.events - first.already_projected;
        // Lambda redelivers the same batch (a timeout after the write).
        let again = projection.project(chunk).await.unwrap();
        assert_eq!(
            again.already_projected,
            chunk.len(),
            "a redelivery projects nothing"
        );
    }
    assert_eq!(projected, 400);
    assert_rows_match(&projection, &events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hot_affiliate_batch_is_one_transaction_with_one_write_per_row() {
    let projection = projection("proj-hot-").await;
    let events: Vec<Event> = mixed_events(4, 3_000, 1)
        .into_iter()
        .filter(|e| e.tenant_id().as_str() == "acme")
        .filter(|e| {
            // Events that move EUR only, and not drafts (which also count
            // the tenant's drafted batches on a row of their own).
            let entry = journal_entry(e).unwrap();
            !entry.postings().is_empty()
                && entry.batch_drafted().is_none()
                && entry
                    .postings()
                    .iter()
                    .all(|p| p.amount.currency().code() == "EUR")
        })
        .take(98)
        .collect();
    assert_eq!(events.len(), 98);
    let report = projection.project(&stored(&events)).await.unwrap();
    assert_eq!(report.transactions, 1);
    assert_eq!(
        report.balance_writes, 2,
        "the affiliate's row and the tenant's row, once each"
    );
    assert_rows_match(&projection, &events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_larger_than_a_transaction_is_split_and_still_exactly_once() {
    use ledger_domain::{
        Actor, ActorKind, CommandContext, DraftedItem, Money, PayoutBatch, PayoutBatchCommand,
    };
    let ctx = CommandContext {
        tenant_id: ledger_domain::TenantId::new("acme").unwrap(),
        actor: Actor::new(ActorKind::User, "maker").unwrap(),
        now: chrono::Utc::now(),
        effective_at: chrono::Utc::now(),
    };
    let items: Vec<DraftedItem> = (0..150)
        .map(|i| DraftedItem {
            item_id: ledger_domain::PayoutItemId::new(format!("i{i}")).unwrap(),
            affiliate_id: ledger_domain::AffiliateId::new(format!("aff-{i}")).unwrap(),
            amount: Money::from_minor(100 + i, ledger_domain::Currency::EUR).unwrap(),
            receivable_netted: Money::from_minor(0, ledger_domain::Currency::EUR).unwrap(),
            processor: ledger_domain::Processor::Stripe,
            destination: None,
        })
        .collect();
    let batch_id = ledger_domain::PayoutBatchId::new("b-big").unwrap();
    let events = PayoutBatch::default()
        .handle(
            PayoutBatchCommand::Draft {
                batch_id,
                items,
                sequence: 1,
                run_id: None,
            },
            &ctx,
        )
        .unwrap();
    let projection = projection("proj-big-").await;
    let records = stored(&events);
    let first = projection.project(&records).await.unwrap();
    assert_eq!(first.transactions, 2);
    // 150 affiliate rows and the tenant's drafted-batches counter.
    assert_eq!(first.balance_writes, 151);
    let again = projection.project(&records).await.unwrap();
    assert_eq!(again.balance_writes, 0);
    assert_rows_match(&projection, &events).await;
    let one = projection
        .balance(
            &BalanceOwner::Affiliate {
                tenant_id: ctx.tenant_id.clone(),
                affiliate_id: ledger_domain::AffiliateId::new("aff-149").unwrap(),
            },
            "EUR",
        )
        .await
        .unwrap();
    assert_eq!((one["available"], one["reserved"]), (249, -249));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_event_stops_the_batch_after_projecting_those_before_it() {
    let projection = projection("proj-stop-").await;
    let events: Vec<Event> = mixed_events(8, 40, 2)
        .into_iter()
        .filter(|e| matches!(e.body(), ledger_domain::EventBody::CommissionRecorded(_)))
        .take(3)
        .collect();
    let mut records = stored(&events);
    records[1].payload = "{not json".into();
    let failure = projection.project(&records).await.unwrap_err();
    assert_eq!(failure.first_unprojected, 1);
    assert!(
        matches!(
            failure.error,
            event_store::StoreError::CorruptEvent { version: 1, .. }
        ),
        "{}",
        failure.error
    );
    // The first event is projected; the third waits for the retry from the second.
    assert_rows_match(&projection, &events[..1]).await;
    let retry = projection.project(&records[..1]).await.unwrap();
    assert_eq!(retry.already_projected, 1);
}

/// A recorded and matured commission of `tenant`'s affiliate `affiliate`.
fn matured_commission(tenant: &str, affiliate: &str, id: &str, minor: i64) -> Vec<Event> {
    matured_commission_in(ledger_domain::Currency::EUR, tenant, affiliate, id, minor)
}

fn matured_commission_in(
    currency: ledger_domain::Currency,
    tenant: &str,
    affiliate: &str,
    id: &str,
    minor: i64,
) -> Vec<Event> {
    use chrono::{TimeZone, Utc};
    use ledger_domain::{
        Actor, ActorKind, AffiliateId, CommandContext, Commission, CommissionCommand, CommissionId,
        Money, TenantId,
    };
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let ctx = |at| CommandContext {
        tenant_id: TenantId::new(tenant).unwrap(),
        actor: Actor::new(ActorKind::Service, "tracking-network").unwrap(),
        now: at,
        effective_at: at,
    };
    let mut events = Commission::default()
        .handle(
            CommissionCommand::Record {
                commission_id: CommissionId::new(id).unwrap(),
                affiliate_id: AffiliateId::new(affiliate).unwrap(),
                amount: Money::from_minor(minor, currency).unwrap(),
                hold_period_days: 0,
                source_conversion_id: format!("conv-{id}"),
                order_reference: None,
            },
            &ctx(t0),
        )
        .unwrap();
    let matured = Commission::from_events(&events)
        .handle(
            CommissionCommand::Mature,
            &ctx(t0 + chrono::Duration::hours(1)),
        )
        .unwrap();
    events.extend(matured);
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_rows_are_read_through_its_index_and_old_rows_are_indexed_once() {
    use event_store::{LedgerReads, PayoutReads};
    use ledger_domain::TenantId;
    let projection = projection("tenant-index-").await;
    let mut events = Vec::new();
    for (tenant, affiliate, id, minor) in [
        ("acme", "aff-1", "c-1", 1_000),
        ("acme", "aff-2", "c-2", 2_000),
        ("globex", "aff-1", "c-3", 5_000),
    ] {
        events.extend(matured_commission(tenant, affiliate, id, minor));
    }
    projection.project(&stored(&events)).await.unwrap();
    let acme = TenantId::new("acme").unwrap();
    let globex = TenantId::new("globex").unwrap();

    let candidates = |tenant: TenantId| {
        let projection = projection.clone();
        async move {
            let page = projection
                .payout_candidates(&tenant, None, 100)
                .await
                .unwrap();
            assert!(page.next.is_none());
            page.candidates
                .iter()
                .map(|c| {
                    (
                        c.affiliate_id.as_str().to_owned(),
                        c.available.amount_minor(),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        candidates(acme.clone()).await,
        vec![("aff-1".to_owned(), 1_000), ("aff-2".to_owned(), 2_000)]
    );
    assert_eq!(
        candidates(globex.clone()).await,
        vec![("aff-1".to_owned(), 5_000)]
    );
    let rows = projection.tenant_rows(&acme, None, 100).await.unwrap();
    assert!(rows.next.is_none());
    assert!(!rows.rows.is_empty());
    assert!(rows.rows.iter().all(|r| r.owner.key().starts_with("acme/")));
    // Pages of one index entry each still list every row once, in order.
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = projection
            .tenant_rows(&acme, after.as_deref(), 1)
            .await
            .unwrap();
        paged.extend(
            page.rows
                .iter()
                .map(|r| (r.owner.key(), r.currency.clone())),
        );
        match page.next {
            Some(next) => after = Some(next),
            None => break,
        }
    }
    let all: Vec<_> = rows
        .rows
        .iter()
        .map(|r| (r.owner.key(), r.currency.clone()))
        .collect();
    assert_eq!(paged, all);

    // A row written before the index (no `tenant`) is not listed until it
    // is indexed: the reads go through the index, not a scan.
    let client = aws_sdk_dynamodb::Client::new(&emulator().sdk_config());
    let balances = ProjectionTables::with_prefix("tenant-index-").balances;
    client
        .update_item()
        .table_name(&balances)
        .key(
            "owner",
            aws_sdk_dynamodb::types::AttributeValue::S("acme/affiliate/aff-2".into()),
        )
        .key(
            "currency",
            aws_sdk_dynamodb::types::AttributeValue::S("EUR".into()),
        )
        .update_expression("REMOVE tenant")
        .send()
        .await
        .unwrap();
    assert_eq!(
        candidates(acme.clone()).await,
        vec![("aff-1".to_owned(), 1_000)]
    );
    let set = event_store_dynamodb::projection::index_balance_rows(&projection)
        .await
        .unwrap();
    assert_eq!(set, 1);
    assert_eq!(
        candidates(acme.clone()).await,
        vec![("aff-1".to_owned(), 1_000), ("aff-2".to_owned(), 2_000)]
    );
    // A second run finds nothing to do.
    assert_eq!(
        event_store_dynamodb::projection::index_balance_rows(&projection)
            .await
            .unwrap(),
        0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_maturity_schedule_is_spread_over_shards_and_read_in_due_order() {
    use chrono::{Duration, TimeZone, Utc};
    use event_store::MaturitySchedule;
    use ledger_domain::{
        Actor, ActorKind, AffiliateId, CommandContext, Commission, CommissionCommand, CommissionId,
        Currency, Money, TenantId,
    };
    let projection = projection("maturity-shards-").await;
    let t0 = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
    let mut events = Vec::new();
    // 40 commissions of two tenants, recorded a minute apart, each held
    // for one day: all due on 2026-03-02.
    for i in 0..40i64 {
        let tenant = if i % 2 == 0 { "acme" } else { "globex" };
        let at = t0 + Duration::minutes(i);
        let ctx = CommandContext {
            tenant_id: TenantId::new(tenant).unwrap(),
            actor: Actor::new(ActorKind::Service, "tracking-network").unwrap(),
            now: at,
            effective_at: at,
        };
        events.extend(
            Commission::default()
                .handle(
                    CommissionCommand::Record {
                        commission_id: CommissionId::new(format!("c-{i}")).unwrap(),
                        affiliate_id: AffiliateId::new("aff-1").unwrap(),
                        amount: Money::from_minor(1_000 + i, Currency::EUR).unwrap(),
                        hold_period_days: 1,
                        source_conversion_id: format!("conv-{i}"),
                        order_reference: None,
                    },
                    &ctx,
                )
                .unwrap(),
        );
    }
    projection.project(&stored(&events)).await.unwrap();
    let client = aws_sdk_dynamodb::Client::new(&emulator().sdk_config());
    let maturities = ProjectionTables::with_prefix("maturity-shards-").maturities;
    let items = client
        .scan()
        .table_name(&maturities)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    let partitions: std::collections::BTreeSet<String> = items
        .iter()
        .filter_map(|i| i.get("day")?.as_s().ok().cloned())
        .filter(|d| d != "cursor")
        .collect();
    assert!(
        partitions.len() > 1 && partitions.iter().all(|p| p.starts_with("shard#")),
        "entries are spread over shards: {partitions:?}"
    );
    let now = t0 + Duration::days(2);
    let all = projection.due(now, 100).await.unwrap();
    let ids: Vec<&str> = all.iter().map(|d| d.commission_id.as_str()).collect();
    let expected: Vec<String> = (0..40).map(|i| format!("c-{i}")).collect();
    assert_eq!(
        ids, expected,
        "every entry once, earliest first across shards"
    );
    // Nothing is due before its time.
    assert!(projection.due(t0, 100).await.unwrap().is_empty());

    // A table from before the schedule was sharded (its cursor item has no
    // `sharded` mark) keeps entries under the day they mature: read too.
    let text = |v: &str| aws_sdk_dynamodb::types::AttributeValue::S(v.to_owned());
    client
        .delete_item()
        .table_name(&maturities)
        .key("day", text("cursor"))
        .key("due", text("cursor"))
        .send()
        .await
        .unwrap();
    client
        .put_item()
        .table_name(&maturities)
        .item("day", text("2026-03-02"))
        .item("due", text("2026-03-02T00:00:30.000000Z#acme#c-legacy"))
        .item("tenant_id", text("acme"))
        .item("commission_id", text("c-legacy"))
        .send()
        .await
        .unwrap();
    let due = projection.due(now, 100).await.unwrap();
    let ids: Vec<&str> = due.iter().map(|d| d.commission_id.as_str()).collect();
    let mut expected: Vec<String> = vec!["c-0".to_owned(), "c-legacy".to_owned()];
    expected.extend((1..40).map(|i| format!("c-{i}")));
    assert_eq!(ids, expected, "every entry once, earliest first");
    // A page smaller than the day takes the earliest, across shards.
    let page = projection.due(now, 5).await.unwrap();
    let ids: Vec<&str> = page.iter().map(|d| d.commission_id.as_str()).collect();
    assert_eq!(ids, ["c-0", "c-legacy", "c-1", "c-2", "c-3"]);
    // Removing an entry takes it off the schedule, in its shard.
    projection.remove(&page[2]).await.unwrap();
    let after = projection.due(now, 100).await.unwrap();
    assert_eq!(after.len(), 40);
    assert!(after.iter().all(|d| d.commission_id != "c-1"));

    // The old table is not marked sharded while a day entry remains; once
    // it is gone, it is, and its days are no longer walked.
    use event_store_dynamodb::projection::mark_schedule_sharded;
    assert!(!mark_schedule_sharded(&projection).await.unwrap());
    let legacy = after
        .iter()
        .find(|d| d.commission_id == "c-legacy")
        .unwrap();
    projection.remove(legacy).await.unwrap();
    assert!(mark_schedule_sharded(&projection).await.unwrap());
    client
        .put_item()
        .table_name(&maturities)
        .item("day", text("2026-03-02"))
        .item("due", text("2026-03-02T00:00:40.000000Z#acme#c-late"))
        .item("tenant_id", text("acme"))
        .item("commission_id", text("c-late"))
        .send()
        .await
        .unwrap();
    let marked = projection.due(now, 100).await.unwrap();
    assert_eq!(marked.len(), 39);
    assert!(marked.iter().all(|d| d.commission_id != "c-late"));
}

/// Writes an event's first journal line as a projector from before line
/// guards did (ahead of its transaction, without the guard mark), and,
/// when `committed`, the guard item its transaction wrote.
async fn legacy_first_line(prefix: &str, stored: &StoredEvent, committed: bool) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let event = stored.decode().unwrap();
    let batch = ledger_domain::projection::plan([(stored.stream.as_str(), stored.version, &event)]);
    let line = batch.events[0].lines.first().expect("the event has a line");
    let tables = ProjectionTables::with_prefix(prefix);
    let client = aws_sdk_dynamodb::Client::new(&emulator().sdk_config());
    let text = |v: &str| AttributeValue::S(v.to_owned());
    client
        .put_item()
        .table_name(&tables.journal)
        .item(
            "owner",
            text(&format!("{}#{}", line.owner.key(), line.currency)),
        )
        .item("line", text(&line.key))
        .item("stream", text(&line.stream))
        .item("version", AttributeValue::N(line.version.to_string()))
        .item("event_type", text(line.event_type))
        .item("effective_at", text(&line.effective_at_text()))
        .item("deltas", text(&line.deltas_json()))
        .send()
        .await
        .unwrap();
    if committed {
        client
            .put_item()
            .table_name(&tables.projected)
            .item("id", text(&batch.events[0].guard()))
            .send()
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_written_before_line_guards_neither_hide_nor_repeat_an_event() {
    let prefix = "legacy-lines-";
    let projection = projection(prefix).await;
    // A journal table from before has no layout item: its lines are
    // unsharded, and the projector finds so from the lines it holds.
    forget_journal_layout(prefix).await;
    let events = matured_commission("acme", "aff-1", "c-1", 1_000);
    let stored = stored(&events);
    // The recorded event: its line written ahead of a transaction that
    // never committed. The matured one: projected by the old projector.
    legacy_first_line(prefix, &stored[0], false).await;
    legacy_first_line(prefix, &stored[1], true).await;
    let report = projection.project(&stored).await.unwrap();
    assert_eq!(
        report.already_projected, 1,
        "only the committed one was done"
    );
    // The recorded event's balance is applied now. The matured one counts
    // as projected by the old projector (whose balance write these fresh
    // tables never got), so it is not applied again.
    assert_rows_match(&projection, &events[..1]).await;
    // Delivered again: both are projected, nothing moves.
    let again = projection.project(&stored).await.unwrap();
    assert_eq!(again.already_projected, 2);
    assert_rows_match(&projection, &events[..1]).await;
    // The same event twice in one batch is projected once (another
    // tenant, so its rows are its own).
    let twice = matured_commission("initech", "aff-2", "c-2", 2_000);
    let stored_twice = super_stored_twice(&twice);
    let report = projection.project(&stored_twice).await.unwrap();
    assert_eq!(report.already_projected, 1);
    assert_rows_match(&projection, &twice[..1]).await;
}

/// Removes a journal table's layout item, as a table from before has none.
async fn forget_journal_layout(prefix: &str) {
    use aws_sdk_dynamodb::types::AttributeValue;
    use event_store_dynamodb::projection::JOURNAL_LAYOUT_KEY;
    let client = aws_sdk_dynamodb::Client::new(&emulator().sdk_config());
    client
        .delete_item()
        .table_name(ProjectionTables::with_prefix(prefix).journal)
        .key("owner", AttributeValue::S(JOURNAL_LAYOUT_KEY.into()))
        .key("line", AttributeValue::S(JOURNAL_LAYOUT_KEY.into()))
        .send()
        .await
        .unwrap();
}

/// The journal items' partition keys, in key order.
async fn journal_partitions(prefix: &str) -> Vec<String> {
    let client = aws_sdk_dynamodb::Client::new(&emulator().sdk_config());
    let scan = client
        .scan()
        .table_name(ProjectionTables::with_prefix(prefix).journal)
        .send()
        .await
        .unwrap();
    let mut owners: Vec<String> = scan
        .items()
        .iter()
        .map(|i| i["owner"].as_s().unwrap().clone())
        .collect();
    owners.sort();
    owners.dedup();
    owners
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_affiliates_journal_is_spread_over_shards_and_read_in_order() {
    use event_store::LedgerReads;
    use event_store_dynamodb::projection::{JOURNAL_LAYOUT_KEY, JOURNAL_SHARDS};
    let prefix = "journal-shards-";
    let projection = projection(prefix).await;
    let mut events = Vec::new();
    for n in 0..40 {
        events.extend(matured_commission(
            "acme",
            "aff-1",
            &format!("c-{n:02}"),
            100 + n,
        ));
    }
    projection.project(&stored(&events)).await.unwrap();
    assert_rows_match(&projection, &events).await;
    let owners = journal_partitions(prefix).await;
    let shards: Vec<_> = owners
        .iter()
        .filter(|o| o.starts_with("acme/affiliate/aff-1#EUR#"))
        .collect();
    assert!(
        shards.len() > 1,
        "one partition took every line: {owners:?}"
    );
    assert!(shards.len() <= JOURNAL_SHARDS as usize);
    assert!(
        !owners.contains(&"acme/affiliate/aff-1#EUR".to_owned()),
        "{owners:?}"
    );
    assert!(owners.contains(&JOURNAL_LAYOUT_KEY.to_owned()));

    // Read back in line order, once each, whatever the page size; from a
    // fresh reader (the layout read from the table).
    let reader = DynamoProjection::new(
        aws_sdk_dynamodb::Client::new(&emulator().sdk_config()),
        ProjectionTables::with_prefix(prefix),
    );
    let owner = BalanceOwner::Affiliate {
        tenant_id: ledger_domain::TenantId::new("acme").unwrap(),
        affiliate_id: ledger_domain::AffiliateId::new("aff-1").unwrap(),
    };
    let mut whole = Vec::new();
    for limit in [1, 7, 80, 500] {
        let mut lines = Vec::new();
        let mut after = None;
        loop {
            let page = LedgerReads::journal(&reader, &owner, "EUR", after.as_deref(), limit)
                .await
                .unwrap();
            assert!(page.lines.len() <= limit);
            lines.extend(
                page.lines
                    .into_iter()
                    .map(|l| (l.token, l.stream, l.version)),
            );
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(lines.len(), 80, "limit {limit}: two events per commission");
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(lines, sorted, "limit {limit}: in line order");
        if whole.is_empty() {
            whole = lines;
        } else {
            assert_eq!(lines, whole, "limit {limit}");
        }
    }
    // Redelivered: the guards are found in their shards, nothing twice.
    let again = projection.project(&stored(&events)).await.unwrap();
    assert_eq!(again.already_projected, events.len());
    assert_rows_match(&projection, &events).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_from_before_keeps_its_lines_unsharded() {
    let prefix = "journal-unsharded-";
    let projection = projection(prefix).await;
    forget_journal_layout(prefix).await;
    let first = matured_commission("acme", "aff-1", "c-1", 1_000);
    // Its lines, as the projector before shards wrote them.
    legacy_first_line(prefix, &stored(&first)[0], true).await;
    let second = matured_commission("acme", "aff-1", "c-2", 2_000);
    projection.project(&stored(&second)).await.unwrap();
    assert_eq!(
        journal_partitions(prefix).await,
        ["#layout", "acme/affiliate/aff-1#EUR"],
        "the layout found is unsharded, and new lines go where the old ones are"
    );
    // A fresh reader reads them all from there.
    let reader = DynamoProjection::new(
        aws_sdk_dynamodb::Client::new(&emulator().sdk_config()),
        ProjectionTables::with_prefix(prefix),
    );
    let owner = BalanceOwner::Affiliate {
        tenant_id: ledger_domain::TenantId::new("acme").unwrap(),
        affiliate_id: ledger_domain::AffiliateId::new("aff-1").unwrap(),
    };
    let page = event_store::LedgerReads::journal(&reader, &owner, "EUR", None, 100)
        .await
        .unwrap();
    assert_eq!(page.lines.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_journal_is_sharded_only_when_known_to_be_empty() {
    use event_store_dynamodb::projection::{JOURNAL_SHARDS, JournalLayout, mark_journal_sharded};
    // A table CloudFormation created (no layout item), marked after the
    // deploy before any event: sharded.
    let fresh = projection("journal-mark-fresh-").await;
    forget_journal_layout("journal-mark-fresh-").await;
    assert_eq!(
        mark_journal_sharded(&fresh).await.unwrap(),
        JournalLayout::Sharded(JOURNAL_SHARDS)
    );
    // Marking again changes nothing.
    assert_eq!(
        mark_journal_sharded(&fresh).await.unwrap(),
        JournalLayout::Sharded(JOURNAL_SHARDS)
    );
    // A table holding lines from before: unsharded, and it stays so.
    let old = projection("journal-mark-old-").await;
    forget_journal_layout("journal-mark-old-").await;
    let events = matured_commission("acme", "aff-1", "c-1", 1_000);
    legacy_first_line("journal-mark-old-", &stored(&events)[0], true).await;
    assert_eq!(
        mark_journal_sharded(&old).await.unwrap(),
        JournalLayout::Unsharded
    );
    // A projector finding no layout item never decides the table is empty:
    // it records unsharded, even on an empty table, and marking later
    // keeps that.
    let first = projection("journal-mark-first-").await;
    forget_journal_layout("journal-mark-first-").await;
    first.project(&stored(&events)).await.unwrap();
    assert_eq!(
        journal_partitions("journal-mark-first-").await,
        ["#layout", "acme/affiliate/aff-1#EUR"]
    );
    assert_eq!(
        mark_journal_sharded(&first).await.unwrap(),
        JournalLayout::Unsharded
    );
}

/// The recorded event of `events` delivered twice in one batch.
fn super_stored_twice(events: &[Event]) -> Vec<StoredEvent> {
    let first = stored(&events[..1]);
    vec![first[0].clone(), first[0].clone()]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenants_own_rows_are_spread_over_shards_and_read_as_one() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use event_store::LedgerReads;
    use event_store_dynamodb::projection::TENANT_TOTAL_SHARDS;
    use ledger_domain::TenantId;
    let projection = projection("tenant-shards-").await;
    let client = aws_sdk_dynamodb::Client::new(&emulator().sdk_config());
    let balances = ProjectionTables::with_prefix("tenant-shards-").balances;
    let mut events = Vec::new();
    // One transaction per commission: each picks its shard afresh.
    for n in 0..24 {
        let commission = matured_commission("acme", &format!("aff-{n}"), &format!("c-{n}"), 100);
        projection.project(&stored(&commission)).await.unwrap();
        events.extend(commission);
    }
    assert_rows_match(&projection, &events).await;
    let scan = client.scan().table_name(&balances).send().await.unwrap();
    let owners: std::collections::BTreeSet<String> = scan
        .items()
        .iter()
        .filter(|i| i["currency"].as_s().unwrap() == "EUR")
        .map(|i| i["owner"].as_s().unwrap().clone())
        .filter(|o| o.starts_with("acme/tenant"))
        .collect();
    assert!(
        owners.len() >= 2,
        "one item took every transaction: {owners:?}"
    );
    assert!(
        owners
            .iter()
            .all(|o| (0..TENANT_TOTAL_SHARDS).any(|n| *o == format!("acme/tenant#{n}"))),
        "{owners:?}"
    );

    // An unsharded row from before is part of the sum.
    let tenant = BalanceOwner::Tenant {
        tenant_id: TenantId::new("acme").unwrap(),
    };
    let before = projection.balance(&tenant, "EUR").await.unwrap();
    client
        .put_item()
        .table_name(&balances)
        .item("owner", AttributeValue::S("acme/tenant".into()))
        .item("currency", AttributeValue::S("EUR".into()))
        .item("tenant", AttributeValue::S("acme".into()))
        .item("marker", AttributeValue::N("7".into()))
        .send()
        .await
        .unwrap();
    let after = projection.balance(&tenant, "EUR").await.unwrap();
    assert_eq!(after.get("marker"), Some(&7));
    assert_eq!(
        after
            .iter()
            .filter(|(k, _)| *k != "marker")
            .collect::<Vec<_>>(),
        before.iter().collect::<Vec<_>>()
    );
    assert_eq!(
        projection.balances(&tenant).await.unwrap(),
        vec![("EUR".to_owned(), after.clone())]
    );

    // Two more currencies, so the tenant's own rows span pages too.
    for (currency, id) in [
        (ledger_domain::Currency::USD, "c-usd"),
        (ledger_domain::Currency::JPY, "c-jpy"),
    ] {
        let commission = matured_commission_in(currency, "acme", "aff-0", id, 500);
        projection.project(&stored(&commission)).await.unwrap();
    }
    // A tenant's rows list its own once per currency, summed, whatever the
    // page size.
    let acme = TenantId::new("acme").unwrap();
    for limit in [1, 2, 5, 26, 1000] {
        let mut listed = Vec::new();
        let mut token = None;
        loop {
            let page = projection
                .tenant_rows(&acme, token.as_deref(), limit)
                .await
                .unwrap();
            assert!(page.rows.len() <= limit);
            listed.extend(page.rows);
            match page.next {
                Some(next) => token = Some(next),
                None => break,
            }
        }
        // 24 affiliates in EUR, aff-0 also in USD and JPY, and the
        // tenant's own row in each of the three.
        assert_eq!(listed.len(), 29, "limit {limit}");
        let own: Vec<_> = listed
            .iter()
            .filter(|r| r.owner == tenant)
            .map(|r| r.currency.as_str())
            .collect();
        assert_eq!(own, ["EUR", "JPY", "USD"], "limit {limit}");
        let eur = listed
            .iter()
            .find(|r| r.owner == tenant && r.currency == "EUR")
            .unwrap();
        assert_eq!(eur.fields, after, "limit {limit}");
    }
    // A token from before (owner and currency of the tenant's own row)
    // resumes after that currency.
    let page = projection
        .tenant_rows(&acme, Some("acme/tenant EUR"), 1000)
        .await
        .unwrap();
    let currencies: Vec<_> = page.rows.iter().map(|r| r.currency.as_str()).collect();
    assert_eq!(currencies, ["JPY", "USD"]);
    assert!(page.next.is_none());

    // Shards that would overflow when summed are an error, not a wrapped
    // total.
    for n in 0..2 {
        client
            .put_item()
            .table_name(&balances)
            .item("owner", AttributeValue::S(format!("acme/tenant#{n}")))
            .item("currency", AttributeValue::S("CHF".into()))
            .item("tenant", AttributeValue::S("acme".into()))
            .item("pending", AttributeValue::N(i64::MAX.to_string()))
            .send()
            .await
            .unwrap();
    }
    assert!(projection.balance(&tenant, "CHF").await.is_err());
}
