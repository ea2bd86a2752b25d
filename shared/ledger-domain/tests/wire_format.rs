//! The stored wire format is a contract: every sample under `events/ledger/`
//! parses, keeps its stable type name, and serialises back to exactly the
//! same JSON. Renaming a field or a type breaks this test, not the ledger.

use std::path::PathBuf;

use ledger_domain::{Event, journal_entry};

fn samples() -> Vec<(String, serde_json::Value)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../events/ledger");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("events/ledger exists") {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let value: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        out.push((name, value));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[test]
fn every_event_type_has_a_sample_that_round_trips() {
    let samples = samples();
    assert_eq!(samples.len(), 20, "one sample per event type");
    for (name, value) in samples {
        let event: Event =
            serde_json::from_value(value.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(event.type_name(), name);
        assert_eq!(
            serde_json::to_value(&event).unwrap(),
            value,
            "{name} round trip"
        );
        let entry = journal_entry(&event).unwrap();
        let sum: i64 = entry
            .postings()
            .iter()
            .map(|p| p.amount.amount_minor())
            .sum();
        assert_eq!(sum, 0, "{name} posts a balanced entry");
    }
}

#[test]
fn malformed_payloads_are_refused_with_the_reason() {
    let (_, mut value) = samples()
        .into_iter()
        .find(|(n, _)| n == "commission.recorded")
        .unwrap();
    value["body"]["data"]["amount"]["amount"] = "1.001".into();
    let err = serde_json::from_value::<Event>(value.clone())
        .unwrap_err()
        .to_string();
    assert!(err.contains("EUR allows at most 2"), "{err}");
    value["body"]["type"] = "commission.teleported".into();
    assert!(serde_json::from_value::<Event>(value.clone()).is_err());
    value["body"]["type"] = "commission.recorded".into();
    value["body"]["data"]["affiliate_id"] = "bad id".into();
    let err = serde_json::from_value::<Event>(value)
        .unwrap_err()
        .to_string();
    assert!(err.contains("affiliate_id"), "{err}");
}
