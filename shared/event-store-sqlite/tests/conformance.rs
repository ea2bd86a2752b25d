//! The conformance suite against the embedded SQLite store, in a real file.

use event_store_sqlite::SqliteEventStore;

fn fresh_store() -> SqliteEventStore {
    // Under the target directory, kept after the run so a failing test's
    // ledger can be opened with sqlite3.
    let dir = tempfile::Builder::new()
        .prefix("conformance-")
        .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
        .expect("temp dir")
        .keep();
    SqliteEventStore::open(dir.join("ledger.sqlite")).expect("open store")
}

event_store_conformance::conformance_suite!(fresh_store());

#[tokio::test]
async fn events_cannot_be_edited_even_with_sql() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.sqlite");
    let store = SqliteEventStore::open(&path).unwrap();
    use event_store::{AppendRequest, EventStore, NewEvent, StreamId};
    store
        .append(AppendRequest::new(
            StreamId::new("s").unwrap(),
            0,
            vec![NewEvent::raw("t", 1, "{}".into(), chrono::Utc::now())],
        ))
        .await
        .unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let err = conn
        .execute("UPDATE events SET payload = '{\"hacked\":1}'", [])
        .unwrap_err();
    assert!(err.to_string().contains("events are immutable"), "{err}");
    let err = conn.execute("DELETE FROM events", []).unwrap_err();
    assert!(err.to_string().contains("events are immutable"), "{err}");
}
