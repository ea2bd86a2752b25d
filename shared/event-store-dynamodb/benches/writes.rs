//! Prints DynamoDB write requests and items written per new commission event,
//! counted at the SDK by an interceptor, against the local emulator, beside
//! the cost of a keyed append to an existing stream measured in the same run.
//!
//! Run: `cargo bench -p event-store-dynamodb --bench writes`.

#[path = "../tests/support/writes.rs"]
mod writes;

fn main() {
    let commissions = std::env::var("COMMISSIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let emulator = aws_emulator::Emulator::start()
        .expect("the benchmark needs the emulator (infra/setup-emulator.sh)");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let report = runtime.block_on(writes::measure(
        &emulator.sdk_config(),
        "bench-",
        commissions,
    ));
    writes::print(&report);
    let items = report.new_commission.items_written as f64 / commissions as f64;
    println!(
        "SUMMARY|DynamoDB items written per new commission|{items:.2}|-|1|{}",
        if items <= 1.0 { "MET" } else { "MISSED" }
    );
    println!(
        "items written per new commission: {items:.2}; target 1: {}",
        if items <= 1.0 { "MET" } else { "MISSED" }
    );
}
