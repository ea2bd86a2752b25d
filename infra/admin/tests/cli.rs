//! Every `ledger-admin` command on the embedded default, run as the binary:
//! what it prints, what it changes, and how it refuses.

use std::path::Path;
use std::process::Command;

use event_store_sqlite::SqliteEventStore;

fn admin(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_ledger-admin"))
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The sample program's events, not projected yet.
async fn ledger(dir: &Path) -> SqliteEventStore {
    let store = SqliteEventStore::open(local_stack::database_path(dir)).unwrap();
    ledger_demo::run_sample_program(&store).await.unwrap();
    store
}

#[test]
fn tokens_are_minted_per_role_and_bad_roles_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (code, token, _) = admin(
        dir.path(),
        &["token", "--tenant", "acme", "--role", "finance-maker"],
    );
    assert_eq!(code, 0);
    assert_eq!(token.trim().split('.').count(), 3, "{token}");
    let (code, _, err) = admin(dir.path(), &["token", "--tenant", "acme", "--role", "boss"]);
    assert_eq!(code, 2);
    assert!(err.contains("boss"), "{err}");
    let (code, _, err) = admin(
        dir.path(),
        &["token", "--tenant", "acme", "--role", "affiliate"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("--affiliate"), "{err}");
    let (code, _, err) = admin(dir.path(), &["token", "--tenant", "a b", "--role", "admin"]);
    assert_eq!(code, 2, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_is_explained_guarded_resumable_and_verified() {
    let dir = tempfile::tempdir().unwrap();
    let store = ledger(dir.path()).await;
    let (total, done) = store.projection_progress().await.unwrap();
    assert!(total > 20 && done == 0, "{total} {done}");

    let (code, out, _) = admin(dir.path(), &["replay", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("would project {total} events")),
        "{out}"
    );
    assert_eq!(
        store.projection_progress().await.unwrap().1,
        0,
        "a dry run changes nothing"
    );

    // Behind: verify refuses to compare.
    let (code, _, err) = admin(dir.path(), &["verify"]);
    assert_eq!(code, 2);
    assert!(err.contains("run `ledger-admin replay` first"), "{err}");

    // Stopped early, then resumed where it stopped.
    let (code, out, _) = admin(
        dir.path(),
        &["replay", "--batch", "5", "--max-events", "10"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("stopped before the end"), "{out}");
    assert_eq!(store.projection_progress().await.unwrap().1, 10);
    let (code, out, _) = admin(dir.path(), &["replay"]);
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("projected {} events", total - 10)),
        "{out}"
    );
    assert_eq!(store.projection_progress().await.unwrap(), (total, total));

    let (code, out, _) = admin(dir.path(), &["verify"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("0 differences"), "{out}");
    assert!(
        out.contains("trial balance acme EUR") && !out.contains("DOES NOT BALANCE"),
        "{out}"
    );

    // From scratch needs --yes; with it the projection is rebuilt the same.
    let (code, _, err) = admin(dir.path(), &["replay", "--from-scratch"]);
    assert_eq!(code, 2);
    assert!(err.contains("--yes"), "{err}");
    let (code, out, _) = admin(dir.path(), &["replay", "--from-scratch", "--dry-run"]);
    assert_eq!(code, 0);
    assert!(out.contains("would clear the projection"), "{out}");
    let (code, out, _) = admin(dir.path(), &["replay", "--from-scratch", "--yes"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("projection cleared") && out.contains(&format!("projected {total} events")),
        "{out}"
    );
    let (code, out, _) = admin(dir.path(), &["verify", "--tenant", "acme"]);
    assert_eq!(code, 0, "{out}");

    // A stored balance that disagrees with the events is reported.
    let conn = rusqlite::Connection::open(local_stack::database_path(dir.path())).unwrap();
    conn.execute(
        "UPDATE balances SET available = available - 7 WHERE owner = 'acme/affiliate/aff-anna' AND currency = 'EUR'",
        [],
    )
    .unwrap();
    let (code, out, err) = admin(dir.path(), &["verify"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DIFFERENCE acme/affiliate/aff-anna EUR available"),
        "{out}"
    );
    assert!(out.contains("DOES NOT BALANCE"), "{out}");
    assert!(err.contains("does not verify"), "{err}");
    let (code, _, _) = admin(dir.path(), &["replay", "--batch", "0"]);
    assert_eq!(code, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn show_an_affiliate_and_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let store = ledger(dir.path()).await;
    while store.project_ledger(1000).await.unwrap().events > 0 {}

    let (code, out, _) = admin(
        dir.path(),
        &["show", "affiliate", "--tenant", "acme", "aff-anna"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("acme/affiliate/aff-anna"), "{out}");
    assert!(
        out.contains("journal EUR") && out.contains("commission.recorded"),
        "{out}"
    );
    let (code, out, _) = admin(
        dir.path(),
        &["show", "affiliate", "--tenant", "acme", "aff-nobody"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("no balances"), "{out}");
    let (code, _, err) = admin(
        dir.path(),
        &["show", "affiliate", "--tenant", "acme", "bad id!"],
    );
    assert_eq!(code, 2, "{err}");

    let (code, out, _) = admin(
        dir.path(),
        &["show", "batch", "--tenant", "acme", "b-2026-10"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("acme/payout-batch/b-2026-10") && out.contains("drafted"),
        "{out}"
    );
    assert!(out.contains("payout_item.paid"), "{out}");
    let (code, _, err) = admin(
        dir.path(),
        &["show", "batch", "--tenant", "acme", "pb-999999"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("no payout batch pb-999999"), "{err}");
    let (code, _, err) = admin(
        &dir.path().join("missing"),
        &["show", "batch", "--tenant", "acme", "b-2026-10"],
    );
    assert_eq!(code, 2);
    assert!(err.contains("does not exist"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_letters_are_listed_and_redriven_only_when_named() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteEventStore::open(local_stack::database_path(dir.path())).unwrap();
    let key = local_stack::signing_key(dir.path()).unwrap();
    let running = local_stack::start(local_stack::Backend::Embedded(store), key.clone(), 0)
        .await
        .unwrap();
    let url = format!("http://{}", running.address);
    processors::install_crypto_provider();
    let ingest = local_stack::mint_token(&key, "acme", "ingest", "tracking", None).unwrap();
    // Three decimals in EUR: refused by the SQS handler five times, then dead.
    let response = reqwest::Client::new()
        .post(format!("{url}/local/queues/commissions"))
        .bearer_auth(&ingest)
        .header("content-type", "application/json")
        .body(r#"{"commission_id":"c-bad","affiliate_id":"aff-anna","amount":"1.001","currency":"EUR","conversion_id":"conv-bad"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while running.queue.dead_letters().is_empty() {
        assert!(std::time::Instant::now() < deadline, "no dead letter");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let id = running.queue.dead_letters()[0].message_id.clone();
    let path = dir.path().to_owned();
    let run = move |args: Vec<String>| {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            admin(&path, &args)
        })
    };
    let base = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = ["dead-letters"]
            .iter()
            .chain(extra)
            .map(|s| (*s).to_owned())
            .collect();
        v.extend(
            [
                "--queue",
                "commissions",
                "--tenant",
                "acme",
                "--stack-url",
                &url,
            ]
            .iter()
            .map(|s| (*s).to_owned()),
        );
        v
    };
    let (code, out, _) = run(base(&["list"])).await.unwrap();
    assert_eq!(code, 0);
    assert!(
        out.contains("1 dead letters") && out.contains(&id) && out.contains("1.001"),
        "{out}"
    );
    // Another tenant sees none of them.
    let mut other = base(&["list"]);
    let at = other.iter().position(|a| a == "acme").unwrap();
    other[at] = "globex".into();
    let (_, out, _) = run(other).await.unwrap();
    assert!(out.contains("0 dead letters"), "{out}");

    let (code, _, err) = run(base(&["redrive"])).await.unwrap();
    assert_eq!(code, 2, "the whole queue needs --all");
    assert!(err.contains("--all"), "{err}");
    let (code, _, err) = run(base(&["redrive", "--message-id", "nope"]))
        .await
        .unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("not dead letters"), "{err}");
    let (code, out, _) = run(base(&["redrive", "--message-id", &id, "--dry-run"]))
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert!(
        out.contains("would move 1 dead letters") && out.contains(&id),
        "{out}"
    );
    assert_eq!(
        running.queue.dead_letters().len(),
        1,
        "a dry run moves nothing"
    );
    let (code, out, _) = run(base(&["redrive", "--message-id", &id])).await.unwrap();
    assert_eq!(code, 0, "{out}");
    // The stack took it off the dead letters and queued it again (still
    // bad, it will die again after five more receives).
    assert!(
        out.contains(&format!("moved back to commissions: [\"{id}\"]")),
        "{out}"
    );
    let (code, _, err) = admin(
        dir.path(),
        &[
            "dead-letters",
            "list",
            "--queue",
            "commissions",
            "--tenant",
            "acme",
            "--stack-url",
            "http://127.0.0.1:9",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("the local stack at"), "{err}");
    running.shutdown().await.unwrap();
}

/// Every item of a DynamoDB table as comparable text, sorted.
async fn table_rows(store: &event_store_dynamodb::DynamoEventStore, table: &str) -> Vec<String> {
    let mut rows = Vec::new();
    let mut start = None;
    loop {
        let out = store
            .client()
            .scan()
            .table_name(table)
            .set_exclusive_start_key(start.take())
            .send()
            .await
            .unwrap();
        rows.extend(out.items().iter().cloned());
        match out.last_evaluated_key {
            Some(key) if !key.is_empty() => start = Some(key),
            _ => break,
        }
    }
    if !table.ends_with("balances") {
        // Every other table row for row, by its whole item.
        let mut rows: Vec<String> = rows
            .iter()
            .map(|item| {
                let sorted: std::collections::BTreeMap<&String, String> =
                    item.iter().map(|(k, v)| (k, format!("{v:?}"))).collect();
                format!("{sorted:?}")
            })
            .collect();
        rows.sort();
        return rows;
    }
    // A tenant's own balance row is spread over shards (`…/tenant#n`), each
    // transaction adding to one of them: two projections of the same events
    // agree on the sum, not on the spread.
    let mut merged: std::collections::BTreeMap<
        (String, String),
        std::collections::BTreeMap<String, String>,
    > = Default::default();
    for mut item in rows {
        use aws_sdk_dynamodb::types::AttributeValue;
        if let Some(AttributeValue::S(owner)) = item.get("owner")
            && let Some((base, shard)) = owner.rsplit_once('#')
            && base.ends_with("/tenant")
            && shard.parse::<u64>().is_ok()
        {
            let base = base.to_owned();
            item.insert("owner".to_owned(), AttributeValue::S(base));
        }
        let key = (
            format!("{:?}", item.get("owner")),
            format!("{:?}", item.get("currency")),
        );
        let slot = merged.entry(key).or_default();
        for (name, value) in item {
            match value {
                AttributeValue::N(n) => {
                    let sum = slot
                        .get(&name)
                        .and_then(|s| s.strip_prefix("N(").and_then(|s| s.strip_suffix(')')))
                        .map(|s| s.trim_matches('"').parse::<i128>().unwrap())
                        .unwrap_or(0)
                        + n.parse::<i128>().unwrap();
                    slot.insert(name, format!("N({:?})", sum.to_string()));
                }
                other => {
                    slot.insert(name, format!("{other:?}"));
                }
            }
        }
    }
    let mut rows: Vec<String> = merged.values().map(|row| format!("{row:?}")).collect();
    rows.sort();
    rows
}

/// The number in "N events of" of a verify report.
fn events_folded(out: &str) -> u64 {
    out.lines()
        .find_map(|l| {
            l.split_once(" events of ")
                .map(|(n, _)| n.trim().to_owned())
        })
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no events count in {out}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replay_from_the_events_table_rebuilds_the_streams_projection() {
    use event_store_dynamodb::projection::{ProjectionTables, create_projection_tables};
    let emulator = aws_emulator::Emulator::start().expect("the AWS tests need the emulator");
    let endpoint = emulator.endpoint_url();
    let (store, _) = event_store_dynamodb::ledger_on_dynamodb(&emulator.sdk_config(), "adm-")
        .await
        .unwrap();
    // Commissions, a refund, maturities, a payout batch drafted, approved,
    // paid and failed: through the use cases.
    ledger_demo::run_sample_program(&store).await.unwrap();
    let fresh = ProjectionTables::with_prefix("rebuilt-");
    create_projection_tables(store.client(), &fresh)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let endpoint_arg = endpoint.clone();
    let run = move |args: &[&str]| {
        let all: Vec<String> = ["--aws-endpoint", &endpoint_arg, "--table-prefix", "adm-"]
            .iter()
            .chain(args)
            .map(|s| (*s).to_owned())
            .collect();
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = all.iter().map(String::as_str).collect();
            admin(&path, &args)
        })
    };

    // As today: the stream projected into the live tables.
    let (code, out, err) = run(&["replay"]).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let (code, stream_verify, err) = run(&["verify"]).await.unwrap();
    assert_eq!(code, 0, "{stream_verify}{err}");
    let live = ProjectionTables::with_prefix("adm-");
    let tables = |t: &ProjectionTables| {
        [
            t.balances.clone(),
            t.journal.clone(),
            t.maturities.clone(),
            t.projected.clone(),
        ]
    };
    let mut before = Vec::new();
    for table in tables(&live) {
        before.push(table_rows(&store, &table).await);
    }

    // Rebuilt into fresh tables from the events table: stopped, then
    // resumed from its checkpoint.
    let rebuild = [
        "--projection-prefix",
        "rebuilt-",
        "replay",
        "--source",
        "table",
    ];
    let (code, out, _) = run(&[&rebuild[..], &["--dry-run"]].concat()).await.unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("would scan the events table in 4 segments from the start"),
        "{out}"
    );
    assert!(
        table_rows(&store, &fresh.balances).await.is_empty(),
        "a dry run writes nothing"
    );
    let (code, out, err) = run(&[
        &rebuild[..],
        &["--segments", "3", "--batch", "3", "--max-events", "10"],
    ]
    .concat())
    .await
    .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("stopped before the end"), "{out}");
    let (code, out, err) = run(&rebuild).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("the scan of the events table is complete"),
        "{out}"
    );
    let (code, out, _) = run(&rebuild).await.unwrap();
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("--from-scratch scans again"), "{out}");
    // Exactly once: a whole second scan projects nothing again.
    let (code, out, err) = run(&[&rebuild[..], &["--from-scratch", "--yes"]].concat())
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    let total = events_folded(&stream_verify);
    assert!(
        out.contains(&format!(
            "read {total} events from the events table, 0 newly projected"
        )),
        "{out}"
    );

    // Row for row the same as the stream's projection.
    for (table, want) in tables(&fresh).iter().zip(&before) {
        let have = table_rows(&store, table).await;
        assert!(!want.is_empty(), "{table}: nothing to compare");
        assert_eq!(&have, want, "{table}");
    }
    let balances = table_rows(&store, &fresh.balances).await;
    assert!(
        balances
            .iter()
            .any(|r| r.contains("acme/affiliate/aff-anna")),
        "{balances:?}"
    );

    // Verify from the table folds every event and agrees with the rebuild.
    let verify = [
        "--projection-prefix",
        "rebuilt-",
        "verify",
        "--source",
        "table",
    ];
    let (code, out, err) = run(&verify).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("0 differences"), "{out}");
    assert_eq!(events_folded(&out), total, "{out}");
    // A rebuilt row lost is reported.
    let out = store
        .client()
        .scan()
        .table_name(&fresh.balances)
        .send()
        .await
        .unwrap();
    let anna = out
        .items()
        .iter()
        .find(|i| {
            format!("{:?}", i.get("owner")).contains("acme/affiliate/aff-anna")
                && format!("{:?}", i.get("currency")).contains("EUR")
        })
        .unwrap();
    store
        .client()
        .delete_item()
        .table_name(&fresh.balances)
        .key("owner", anna["owner"].clone())
        .key("currency", anna["currency"].clone())
        .send()
        .await
        .unwrap();
    let (code, out, _) = run(&verify).await.unwrap();
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("DIFFERENCE acme/affiliate/aff-anna EUR"),
        "{out}"
    );

    // The embedded store has no other source.
    SqliteEventStore::open(local_stack::database_path(dir.path())).unwrap();
    let (code, _, err) = admin(dir.path(), &["verify", "--source", "table"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--source table is for DynamoDB"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_tables_makes_every_table_once_and_only_on_dynamodb() {
    let emulator = aws_emulator::Emulator::start().expect("the AWS tests need the emulator");
    let endpoint = emulator.endpoint_url();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let run = move |args: Vec<String>| {
        let path = path.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            admin(&path, &args)
        })
    };
    let args: Vec<String> = [
        "--aws-endpoint",
        &endpoint,
        "--table-prefix",
        "mk-",
        "create-tables",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let (code, out, err) = run(args.clone()).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("mk-webhooks"), "{out}");
    let store = event_store_dynamodb::DynamoEventStore::from_config(
        &emulator.sdk_config(),
        event_store_dynamodb::schema::Tables::with_prefix("mk-"),
        None,
    );
    let mut names = store
        .client()
        .list_tables()
        .send()
        .await
        .unwrap()
        .table_names()
        .to_vec();
    names.retain(|n| n.starts_with("mk-"));
    names.sort();
    assert_eq!(
        names,
        [
            "mk-balances",
            "mk-checkpoints",
            "mk-events",
            "mk-idempotency",
            "mk-journal",
            "mk-maturities",
            "mk-projected",
            "mk-webhooks"
        ]
    );
    // Again: the tables exist, nothing changes.
    let (code, _, err) = run(args).await.unwrap();
    assert_eq!(code, 0, "{err}");
    // The embedded store has no tables to create: refused, exit 2.
    let (code, _, err) = run(vec!["create-tables".to_owned()]).await.unwrap();
    assert_eq!(code, 2);
    assert!(err.contains("--aws-endpoint"), "{err}");
}
