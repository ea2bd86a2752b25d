//! Property tests over random operation sequences driven through the real
//! aggregates and posting rules.

use std::collections::HashMap;

use ledger_domain::events::AggregateRef;
use ledger_domain::sample::{Op, SampleProgram};
use ledger_domain::{Balances, Event, EventBody, JournalEntry, MoneyMovement, journal_entry};
use proptest::prelude::*;

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (any::<u8>(), any::<u8>(), any::<u8>(), 1u32..100_000, 0u8..10).prop_map(|(tenant, affiliate, currency, amount_minor, hold_days)| Op::Record { tenant, affiliate, currency, amount_minor, hold_days }),
        3 => any::<u32>().prop_map(|pick| Op::Mature { pick }),
        2 => (any::<u32>(), any::<u8>(), any::<u8>()).prop_map(|(pick, percent, reason)| Op::Reverse { pick, percent, reason }),
        1 => (any::<u32>(), -5_000i32..5_000).prop_map(|(pick, delta_minor)| Op::Adjust { pick, delta_minor }),
        1 => (1u8..10).prop_map(|days| Op::Tick { days }),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(tenant, currency)| Op::Draft { tenant, currency }),
        1 => (any::<u32>(), any::<bool>()).prop_map(|(pick, by_maker)| Op::Approve { pick, by_maker }),
        1 => any::<u32>().prop_map(|pick| Op::Reject { pick }),
        3 => (any::<u32>(), any::<u16>(), any::<u8>()).prop_map(|(pick, item, outcome)| Op::Outcome { pick, item, outcome }),
    ]
}

fn run(ops: &[Op]) -> (Vec<Event>, Balances) {
    let mut program = SampleProgram::new(4);
    for op in ops {
        program.step(*op);
    }
    let incremental = program.balances().clone();
    (program.finish().events, incremental)
}

fn entries(events: &[Event]) -> Vec<JournalEntry> {
    events
        .iter()
        .map(|e| journal_entry(e).expect("posting rules accept every decided event"))
        .collect()
}

/// The single currency an event's money is in, if it has money.
fn event_currency(event: &Event) -> Option<ledger_domain::Currency> {
    match event.body() {
        EventBody::CommissionRecorded(e) => Some(e.amount.currency()),
        EventBody::CommissionMatured(e) => Some(e.amount.currency()),
        EventBody::CommissionReversed(e) => Some(e.amount.currency()),
        EventBody::CommissionAdjusted(e) => Some(e.delta.currency()),
        EventBody::PayoutBatchDrafted(e) => e.items.first().map(|i| i.amount.currency()),
        EventBody::PayoutBatchRejected(e) => e.released.first().map(|i| i.amount.currency()),
        EventBody::PayoutItemSubmitted(e) => Some(e.amount.currency()),
        EventBody::PayoutItemPaid(o)
        | EventBody::PayoutItemFailed(o)
        | EventBody::PayoutItemReturned(o)
        | EventBody::PayoutItemUnclaimed(o)
        | EventBody::PayoutItemReversed(o) => Some(o.amount.currency()),
        EventBody::PayoutBatchApproved(_)
        | EventBody::PayoutItemClaimed(_)
        | EventBody::PayoutApprovalTallied(_)
        | EventBody::PayoutProfileChanged(_)
        | EventBody::PayoutDraftRegistered(_)
        | EventBody::PayoutRunSkipped(_)
        | EventBody::ProcessorNoticeUnmatched(_)
        | EventBody::ReconciliationMismatchFound(_)
        | EventBody::ReconciliationMismatchResolved(_)
        | EventBody::ReconciliationRunRecorded(_)
        | EventBody::StatementPublished(_) => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn every_entry_balances_per_currency(ops in prop::collection::vec(op(), 1..300)) {
        let (events, _) = run(&ops);
        for entry in entries(&events) {
            let mut sums: HashMap<&str, i128> = HashMap::new();
            for p in entry.postings() {
                *sums.entry(p.amount.currency().code()).or_default() += i128::from(p.amount.amount_minor());
            }
            prop_assert!(sums.values().all(|s| *s == 0), "{} unbalanced: {:?}", entry.event_type(), sums);
        }
    }

    #[test]
    fn all_accounts_sum_to_zero_per_tenant_and_currency(ops in prop::collection::vec(op(), 1..300)) {
        let (_, balances) = run(&ops);
        for (key, sum) in balances.trial_balance() {
            prop_assert_eq!(sum, 0, "trial balance of {:?}", key);
        }
    }

    #[test]
    fn folding_in_one_batch_or_many_gives_identical_balances(
        ops in prop::collection::vec(op(), 1..300),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let (events, incremental) = run(&ops);
        let all = entries(&events);
        let mut whole = Balances::new();
        whole.apply_all(&all).unwrap();
        let mut cut_points: Vec<usize> = cuts.iter().map(|i| i.index(all.len() + 1)).collect();
        cut_points.push(0);
        cut_points.push(all.len());
        cut_points.sort_unstable();
        let mut batched = Balances::new();
        for w in cut_points.windows(2) {
            // Batch by batch, as successive projector invocations would apply them.
            batched.apply_all(&all[w[0]..w[1]]).unwrap();
        }
        prop_assert_eq!(whole.snapshot(), batched.snapshot());
        prop_assert_eq!(whole.snapshot(), incremental.snapshot());
    }

    #[test]
    fn money_never_changes_currency(ops in prop::collection::vec(op(), 1..300)) {
        let (events, _) = run(&ops);
        for event in &events {
            let entry = journal_entry(event).unwrap();
            if let Some(currency) = event_currency(event) {
                for p in entry.postings() {
                    prop_assert_eq!(p.amount.currency(), currency, "{}", event.type_name());
                }
            } else {
                prop_assert!(entry.postings().is_empty());
            }
        }
    }

    #[test]
    fn reversals_never_take_back_more_than_was_earned(ops in prop::collection::vec(op(), 1..300)) {
        let (events, _) = run(&ops);
        let mut earned: HashMap<String, i64> = HashMap::new();
        for event in &events {
            let AggregateRef::Commission(id) = event.body().aggregate() else { continue };
            let slot = earned.entry(id.to_string()).or_default();
            match event.body() {
                EventBody::CommissionRecorded(e) => *slot += e.amount.amount_minor(),
                EventBody::CommissionAdjusted(e) => *slot += e.delta.amount_minor(),
                EventBody::CommissionReversed(e) => *slot -= e.amount.amount_minor(),
                _ => {}
            }
            prop_assert!(*slot >= 0, "commission {} went below zero", id);
        }
    }

    #[test]
    fn payout_money_moves_at_most_once_each_way_per_item(ops in prop::collection::vec(op(), 1..400)) {
        let (events, balances) = run(&ops);
        let mut paid: HashMap<String, u32> = HashMap::new();
        let mut back: HashMap<String, u32> = HashMap::new();
        for event in &events {
            if let EventBody::PayoutItemPaid(o) | EventBody::PayoutItemFailed(o) | EventBody::PayoutItemReturned(o) | EventBody::PayoutItemUnclaimed(o) = event.body() {
                let key = format!("{}/{}", o.batch_id, o.item_id);
                match o.movement {
                    MoneyMovement::ReservedToPaid => *paid.entry(key).or_default() += 1,
                    MoneyMovement::ReservedToAvailable | MoneyMovement::PaidToAvailable => *back.entry(key).or_default() += 1,
                    MoneyMovement::None => {}
                }
            }
        }
        prop_assert!(paid.values().all(|n| *n <= 1));
        prop_assert!(back.values().all(|n| *n <= 1));
        // No affiliate account ever holds a reserved balance below zero.
        for ((account, _), minor) in balances.snapshot() {
            if let ledger_domain::Account::Affiliate { account: ledger_domain::AffiliateAccount::Reserved, .. } = account {
                prop_assert!(minor <= 0, "reserved is a liability: credit or zero, got {}", minor);
            }
        }
    }
}

#[test]
fn the_sample_program_exercises_every_event_type() {
    let events = ledger_domain::sample::mixed_events(7, 50_000, 8);
    let mut seen: std::collections::BTreeSet<&str> = events.iter().map(|e| e.type_name()).collect();
    // Submission is the dispatcher's job, not the sample program's.
    seen.insert("payout_item.submitted");
    seen.insert("payout_item.claimed");
    // Profiles and drafting runs' skip records carry no money: the drafting
    // use case and the profile rules are tested where they are driven.
    seen.insert("payout_profile.changed");
    seen.insert("payout_run.skipped");
    seen.insert("processor_notice.unmatched");
    assert_eq!(seen.len(), 19, "{seen:?}");
}
