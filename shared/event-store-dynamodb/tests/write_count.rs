//! A new commission costs one DynamoDB item write: its first event is its own
//! idempotency guard; posted as a keyed request it costs two (its request's
//! idempotency record is the second). An unkeyed append to an existing stream
//! is one conditional put after a read. Counted at the SDK against the
//! emulator.

#[path = "support/writes.rs"]
mod writes;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_item_write_per_new_commission() {
    let emulator = aws_emulator::Emulator::start().expect("the DynamoDB tests need the emulator");
    let report = writes::measure(&emulator.sdk_config(), "writes-", 50).await;
    writes::print(&report);
    assert_eq!(report.new_commission.write_requests, 50);
    assert_eq!(report.new_commission.items_written, 50);
    assert_eq!(report.new_commission.condition_checks, 0);
    // A replay is one attempted conditional put and one read, never a second item.
    assert_eq!(report.replay.write_requests, 50);
    // Appends to existing streams pay for the gap check and the guard item.
    assert_eq!(report.follow_on.items_written, 100);
    assert_eq!(report.follow_on.condition_checks, 50);
    // A keyed request (the ingest path) writes its record with the event:
    // one transaction of two items per new commission.
    assert_eq!(report.keyed_request.write_requests, 50);
    assert_eq!(report.keyed_request.items_written, 100);
    assert_eq!(report.keyed_request.condition_checks, 0);
    // An unkeyed append to an existing stream (maturing, a payout batch's
    // next event) is one conditional put: its gap check is a read.
    assert_eq!(report.unkeyed_follow_on.write_requests, 50);
    assert_eq!(report.unkeyed_follow_on.items_written, 50);
    assert_eq!(report.unkeyed_follow_on.condition_checks, 0);
}
