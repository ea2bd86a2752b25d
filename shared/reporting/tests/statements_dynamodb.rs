//! Statements on the DynamoDB projection (AWS emulator): they tie to the
//! ledger for random histories, like on the embedded store.

mod support {
    pub mod tie;
}

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_emulator::Emulator;
use event_store::StoredEvent;
use event_store_dynamodb::projection::{
    DynamoProjection, ProjectionTables, create_projection_tables,
};
use ledger_domain::Event;
use ledger_domain::sample::{Op, SampleProgram};
use proptest::prelude::*;

fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        Emulator::start().unwrap_or_else(|e| panic!("the DynamoDB tests need the emulator: {e}"))
    })
}

fn stored(events: &[Event]) -> Vec<StoredEvent> {
    event_store::stored_in_order(events).unwrap()
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0u8..2, 0u8..3, any::<u8>(), 1u32..100_000, 0u8..20).prop_map(|(tenant, affiliate, currency, amount_minor, hold_days)| Op::Record { tenant, affiliate, currency, amount_minor, hold_days }),
        3 => any::<u32>().prop_map(|pick| Op::Mature { pick }),
        2 => (any::<u32>(), any::<u8>(), any::<u8>()).prop_map(|(pick, percent, reason)| Op::Reverse { pick, percent, reason }),
        2 => (1u8..25).prop_map(|days| Op::Tick { days }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(tenant, currency)| Op::Draft { tenant, currency }),
        1 => (any::<u32>(), any::<bool>()).prop_map(|(pick, by_maker)| Op::Approve { pick, by_maker }),
        3 => (any::<u32>(), any::<u16>(), any::<u8>()).prop_map(|(pick, item, outcome)| Op::Outcome { pick, item, outcome }),
    ]
}

proptest! {
    // Each case creates tables on the emulator: fewer, shorter cases.
    #![proptest_config(ProptestConfig { cases: 8, ..ProptestConfig::default() })]

    #[test]
    fn statements_tie_to_the_dynamodb_ledger_for_random_histories(ops in prop::collection::vec(op(), 1..80)) {
        static CASE: AtomicUsize = AtomicUsize::new(0);
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        runtime.block_on(async {
            let mut program = SampleProgram::new(3);
            for op in &ops {
                program.step(*op);
            }
            let events = program.finish().events;
            let client = aws_sdk_dynamodb::Client::new(&emulator().sdk_config());
            let tables = ProjectionTables::with_prefix(&format!("stmt-{}-", CASE.fetch_add(1, Ordering::Relaxed)));
            create_projection_tables(&client, &tables).await.unwrap();
            let projection = DynamoProjection::new(client, tables);
            for chunk in stored(&events).chunks(50) {
                projection.project(chunk).await.unwrap();
            }
            support::tie::statements_tie(&projection, &events).await;
        });
    }
}
