//! `ledger-admin projection parked` and `projection retry` as the binary,
//! against the DynamoDB emulator: a parked event listed, a dry run changing
//! nothing, the retry projecting it and clearing it, and a parked event the
//! retry cannot project staying parked (exit 1). On the embedded store,
//! which never parks, the retry is refused.

use std::path::Path;
use std::process::Command;

use event_store::{EventStore, ParkedEvent, PayoutReads};
use ledger_domain::TenantId;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parked_events_are_listed_and_retried_and_cleared_only_when_projected() {
    let emulator = aws_emulator::Emulator::start().expect("the AWS tests need the emulator");
    let endpoint = emulator.endpoint_url();
    let (store, projection) =
        event_store_dynamodb::ledger_on_dynamodb(&emulator.sdk_config(), "prk-")
            .await
            .unwrap();
    ledger_demo::run_sample_program(&store).await.unwrap();
    let acme = TenantId::new("acme").unwrap();
    // Every event projected but one of acme's, parked as the stream
    // projector parks what it cannot project.
    let mut events = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.read_all(cursor.as_ref(), 1000).await.unwrap();
        if page.events.is_empty() {
            break;
        }
        events.extend(page.events);
        cursor = Some(page.next);
    }
    let index = events
        .iter()
        .position(|e| {
            e.stream.as_str().starts_with("acme/commission/") && e.event_type.ends_with("recorded")
        })
        .unwrap();
    let poison = events.remove(index);
    projection.project(&events).await.unwrap();
    let event = ParkedEvent {
        stream: poison.stream.to_string(),
        version: poison.version,
        reason: "event acme cannot be read: test".into(),
        parked_at: "2026-12-01T00:00:00Z".into(),
    };
    projection.park(&acme, &event, Some("42")).await.unwrap();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let run = move |args: &[&str]| {
        let all: Vec<String> = ["--aws-endpoint", &endpoint, "--table-prefix", "prk-"]
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

    let (code, out, err) = run(&["projection", "parked", "--tenant", "acme"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("{} version {}", poison.stream, poison.version)),
        "{out}"
    );
    assert!(out.contains("test"), "{out}");
    let (code, out, _) = run(&["projection", "parked", "--tenant", "globex"])
        .await
        .unwrap();
    assert_eq!(code, 0);
    assert!(out.contains("no parked events"), "{out}");

    let (code, out, err) = run(&["projection", "retry", "--tenant", "acme", "--dry-run"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("would re-read"), "{out}");
    assert_eq!(projection.parked_events(&acme).await.unwrap().len(), 1);

    let (code, out, err) = run(&["projection", "retry", "--tenant", "acme"])
        .await
        .unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("projected; cleared"), "{out}");
    assert!(projection.parked_events(&acme).await.unwrap().is_empty());
    // It was projected by the retry: projecting it again finds it done.
    let again = projection
        .project(std::slice::from_ref(&poison))
        .await
        .unwrap();
    assert_eq!(again.already_projected, 1);

    // Not in the events table: it stays parked and the command fails.
    let missing = ParkedEvent {
        stream: "acme/commission/c-none".into(),
        version: 1,
        reason: "test".into(),
        parked_at: "2026-12-01T00:00:00Z".into(),
    };
    projection.park(&acme, &missing, None).await.unwrap();
    let (code, out, err) = run(&["projection", "retry", "--tenant", "acme"])
        .await
        .unwrap();
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("not in the events table"), "{out}");
    assert!(err.contains("stay parked"), "{err}");
    assert_eq!(projection.parked_events(&acme).await.unwrap().len(), 1);

    // Every balance row the projection wrote carries its tenant already:
    // indexing finds nothing to set, and says so.
    let (code, out, err) = run(&["projection", "index"]).await.unwrap();
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("gave 0 balance row(s) their tenant"), "{out}");
    assert!(out.contains("marked sharded"), "{out}");

    // The embedded store never parks.
    let embedded = tempfile::tempdir().unwrap();
    event_store_sqlite::SqliteEventStore::open(local_stack::database_path(embedded.path()))
        .unwrap();
    let (code, _, err) = admin(
        embedded.path(),
        &["projection", "retry", "--tenant", "acme"],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("parks nothing"), "{err}");
    let (code, out, _) = admin(
        embedded.path(),
        &["projection", "parked", "--tenant", "acme"],
    );
    assert_eq!(code, 0);
    assert!(out.contains("no parked events"), "{out}");
}
