//! SEPA pain.001.001.03 files: content checked field by field against the
//! scheme's rules, written once per batch and currency, never overwritten.

mod support;

use ledger_app::payouts::{PaymentOrder, SubmitBatchFile};
use ledger_domain::{Currency, PayoutBatchId, PayoutMethod, TenantId};
use processors::sepa::{Debtor, FileStore, SepaFiles, end_to_end_ids, pain_001, sepa_id};
use support::order;

fn sepa(iban: &str, bic: Option<&str>, holder: &str) -> PayoutMethod {
    PayoutMethod::Sepa {
        iban: iban.into(),
        bic: bic.map(str::to_owned),
        account_holder: holder.into(),
    }
}

fn orders() -> Vec<PaymentOrder> {
    vec![
        order(
            "pb-000007.1",
            "42.10",
            Currency::EUR,
            sepa(
                "DE89370400440532013000",
                Some("COBADEFFXXX"),
                "Chloe Martin",
            ),
        ),
        order(
            "pb-000007.2",
            "1000",
            Currency::EUR,
            sepa("FR1420041010050500013M02606", None, "Dora Lee"),
        ),
        // A bad checksum is left out, never written.
        order(
            "pb-000007.3",
            "5.00",
            Currency::EUR,
            sepa("DE89370400440532013001", None, "Bad Iban"),
        ),
    ]
}

fn debtor() -> Debtor {
    Debtor::new(
        "Acme Affiliates GmbH",
        "DE02120300000000202051",
        Some("BYLADEM1001"),
    )
    .unwrap()
}

#[test]
fn the_document_follows_the_scheme() {
    let created = chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let (xml, ids, refused) =
        pain_001(&debtor(), "acme-pb-000007-EUR", created, &orders()).unwrap();
    let xml = String::from_utf8(xml).unwrap();
    assert_eq!(ids, vec!["pb-000007.1", "pb-000007.2"]);
    assert_eq!(refused.len(), 1);
    assert!(refused[0].1.contains("IBAN"), "{refused:?}");
    for expected in [
        r#"<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.001.001.03""#,
        "<MsgId>acme-pb-000007-EUR</MsgId>",
        "<CreDtTm>2026-11-20T10:00:00</CreDtTm>",
        "<NbOfTxs>2</NbOfTxs>",
        "<CtrlSum>1042.10</CtrlSum>",
        "<PmtMtd>TRF</PmtMtd>",
        "<Cd>SEPA</Cd>",
        // Friday the 20th: executed on Monday.
        "<ReqdExctnDt>2026-11-23</ReqdExctnDt>",
        "<IBAN>DE02120300000000202051</IBAN>",
        "<BIC>BYLADEM1001</BIC>",
        "<ChrgBr>SLEV</ChrgBr>",
        "<EndToEndId>pb-000007.1</EndToEndId>",
        r#"<InstdAmt Ccy="EUR">42.10</InstdAmt>"#,
        r#"<InstdAmt Ccy="EUR">1000.00</InstdAmt>"#,
        "<BIC>COBADEFFXXX</BIC>",
        "<Nm>Chloe Martin</Nm>",
        "<IBAN>FR1420041010050500013M02606</IBAN>",
        "<Ustrd>Affiliate payout pb-000007.2</Ustrd>",
    ] {
        assert!(xml.contains(expected), "missing {expected} in\n{xml}");
    }
    assert!(!xml.contains("DE89370400440532013001"));
    assert_eq!(end_to_end_ids(xml.as_bytes()).unwrap(), ids);
}

#[test]
fn identifiers_longer_than_the_scheme_allows_become_stable_digests() {
    let long = "x".repeat(40);
    let id = sepa_id(&long);
    assert_eq!(id.len(), 35);
    assert_eq!(id, sepa_id(&long));
    assert_eq!(sepa_id("pb-1.2"), "pb-1.2");
}

#[test]
fn a_bad_debtor_account_is_refused() {
    assert!(Debtor::new("Acme", "DE02120300000000202052", None).is_err());
    assert!(Debtor::new("Acme", "DE02120300000000202051", Some("BYLA")).is_err());
    assert!(Debtor::new("Acme <script>", "DE02120300000000202051", None).is_err());
}

#[tokio::test]
async fn a_batch_file_is_written_once_and_read_back() {
    let dir = tempfile::tempdir().unwrap();
    let files = SepaFiles::new(debtor(), FileStore::Directory(dir.path().to_owned()));
    let key = files.file_key(
        &TenantId::new("acme").unwrap(),
        &PayoutBatchId::new("pb-000007").unwrap(),
        Currency::EUR,
    );
    assert_eq!(key, "sepa/acme/pb-000007/pain.001-EUR.xml");
    assert_eq!(files.payment_ids(&key).await.unwrap(), None);
    let ids = files.write(&key, &orders()).await.unwrap();
    assert_eq!(ids.len(), 2);
    let first = std::fs::read(dir.path().join(&key)).unwrap();
    // A second writer (another item's dispatch) does not replace it.
    let again = files.write(&key, &orders()[..1]).await.unwrap();
    assert_eq!(again, ids);
    assert_eq!(std::fs::read(dir.path().join(&key)).unwrap(), first);
    assert_eq!(files.payment_ids(&key).await.unwrap(), Some(ids));
}
