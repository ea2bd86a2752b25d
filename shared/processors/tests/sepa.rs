//! SEPA pain.001.001.03 files: content checked field by field against the
//! scheme's rules, written once per batch and currency, never overwritten.

mod support;

use ledger_app::payouts::{PaymentOrder, SubmitBatchFile};
use ledger_domain::{Currency, PayoutBatchId, PayoutMethod, TenantId};
use processors::sepa::{
    Debtor, FileStore, SepaFiles, end_to_end_ids, issued_message, message_id_of, message_index_key,
    pain_001, read_pain_001, sepa_id,
};
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
    // A name with no conversion to the SEPA set, or a control character.
    let refused = Debtor::new("株式会社", "DE02120300000000202051", None).unwrap_err();
    assert!(refused.starts_with("debtor name "), "{refused}");
    assert!(Debtor::new("Acme\u{0}", "DE02120300000000202051", None).is_err());
    // A German name is written in its conversion.
    assert_eq!(
        Debtor::new("Zahlstelle Müller & Co", "DE02120300000000202051", None)
            .unwrap()
            .name,
        "Zahlstelle Mueller + Co"
    );
}

#[test]
fn payee_names_are_written_in_their_epc_conversion() {
    let created = chrono::DateTime::parse_from_rfc3339("2026-11-20T10:00:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let mut orders = orders();
    orders.push(order(
        "pb-000007.4",
        "12.34",
        Currency::EUR,
        sepa("DE89370400440532013000", None, "Ute Müller & Söhne"),
    ));
    orders.push(order(
        "pb-000007.5",
        "1.00",
        Currency::EUR,
        sepa("DE89370400440532013000", None, "山田太郎"),
    ));
    let (xml, ids, refused) = pain_001(&debtor(), "acme-pb-000007-EUR", created, &orders).unwrap();
    let text = String::from_utf8(xml.clone()).unwrap();
    assert!(text.contains("<Nm>Ute Mueller + Soehne</Nm>"), "{text}");
    assert!(!text.contains("Müller") && !text.contains('&'), "{text}");
    assert_eq!(ids, vec!["pb-000007.1", "pb-000007.2", "pb-000007.4"]);
    // The unconvertible name is left out with the rule, never written.
    let (item, reason) = refused.iter().find(|(i, _)| i == "pb-000007.5").unwrap();
    assert_eq!(item, "pb-000007.5");
    assert!(reason.starts_with("account holder contains"), "{reason}");
    assert!(!text.contains("pb-000007.5"));
    // Every name and remittance in the file is in the SEPA set, and the
    // file still reads back with its totals.
    for line in text
        .lines()
        .filter(|l| l.contains("<Nm>") || l.contains("<Ustrd>"))
    {
        let inner = line
            .trim()
            .split('>')
            .nth(1)
            .unwrap()
            .split('<')
            .next()
            .unwrap();
        assert!(ledger_domain::profile::is_sepa_text(inner), "{line}");
    }
    assert!(text.contains("<NbOfTxs>3</NbOfTxs>"), "{text}");
    assert!(text.contains("<CtrlSum>1054.44</CtrlSum>"), "{text}");
    let (message_id, transfers) = read_pain_001(&xml).unwrap();
    assert_eq!(message_id, "acme-pb-000007-EUR");
    assert_eq!(
        transfers
            .iter()
            .map(|t| (
                t.end_to_end_id.as_str(),
                t.amount.to_string(),
                t.iban.as_str()
            ))
            .collect::<Vec<_>>(),
        vec![
            (
                "pb-000007.1",
                "42.10 EUR".to_owned(),
                "DE89370400440532013000"
            ),
            (
                "pb-000007.2",
                "1000.00 EUR".to_owned(),
                "FR1420041010050500013M02606"
            ),
            (
                "pb-000007.4",
                "12.34 EUR".to_owned(),
                "DE89370400440532013000"
            ),
        ]
    );
}

#[tokio::test]
async fn issued_messages_are_found_by_their_id_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::Directory(dir.path().to_owned());
    let files = SepaFiles::new(debtor(), store.clone());
    let key = files.file_key(
        &TenantId::new("acme").unwrap(),
        &PayoutBatchId::new("pb-000007").unwrap(),
        Currency::EUR,
    );
    files.write(&key, &orders()).await.unwrap();
    let message = issued_message(&store, "acme/pb-000007/pain.001-EUR")
        .await
        .unwrap()
        .expect("the message written");
    assert_eq!(message.key, key);
    assert_eq!(
        (message.tenant_id.as_str(), message.batch_id.as_str()),
        ("acme", "pb-000007")
    );
    assert_eq!(message.transfers.len(), 2);
    assert_eq!(message.control_sum().unwrap().to_string(), "1042.10 EUR");
    for unknown in [
        "acme/pb-000008/pain.001-EUR",
        "acme/pb-000007/pain.001-USD",
        "other/pb-000007/pain.001-EUR",
        "../../etc/passwd",
        "acme/pb-000007",
        "",
        &"0".repeat(35),
    ] {
        assert_eq!(
            issued_message(&store, unknown).await.unwrap(),
            None,
            "{unknown:?}"
        );
    }

    // A tenant and batch too long for MsgId: the id is a digest, found
    // through the index written with the file.
    let tenant = TenantId::new(format!("tenant-{}", "t".repeat(40))).unwrap();
    let long_key = files.file_key(
        &tenant,
        &PayoutBatchId::new("pb-000007").unwrap(),
        Currency::EUR,
    );
    files.write(&long_key, &orders()).await.unwrap();
    let digest = message_id_of(&long_key);
    assert_eq!(digest.len(), 35);
    assert!(dir.path().join(message_index_key(&digest)).exists());
    let found = issued_message(&store, &digest).await.unwrap().unwrap();
    assert_eq!(found.key, long_key);
    assert_eq!(found.tenant_id, tenant);
    let xml = std::fs::read(dir.path().join(&long_key)).unwrap();
    assert!(
        String::from_utf8(xml)
            .unwrap()
            .contains(&format!("<MsgId>{digest}</MsgId>"))
    );

    // A file whose own MsgId is not the one asked for is not that message.
    let forged = "sepa/acme/pb-000009/pain.001-EUR.xml";
    let (xml, _, _) = pain_001(&debtor(), "something-else", chrono::Utc::now(), &orders()).unwrap();
    assert!(store.create(forged, "application/xml", xml).await.unwrap());
    assert_eq!(
        issued_message(&store, "acme/pb-000009/pain.001-EUR")
            .await
            .unwrap(),
        None
    );
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
