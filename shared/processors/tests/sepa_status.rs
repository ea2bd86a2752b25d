//! SEPA status files checked against the pain.001 this system wrote: each
//! rule a file can break is refused with that rule, and a file that
//! answers an issued message yields its notices, tenant and batch taken
//! from the issued file.

mod support;

use std::collections::BTreeMap;

use ledger_domain::{Currency, ItemOutcome, PayoutMethod};
use processors::sepa::{Debtor, IssuedMessage, batch_of_key, message_id_of, pain_001};
use processors::sepa_status::{
    QuarantinedStatusFile, StatusFileRejection, StatusKind, read_status_file, status_notices,
};
use support::order;

const KEY: &str = "sepa/acme/pb-000007/pain.001-EUR.xml";
const MSG: &str = "acme/pb-000007/pain.001-EUR";

/// The issued message: pb-000007.1 42.10 EUR to DE89..., .2 1000.00 EUR to FR14....
fn issued() -> BTreeMap<String, IssuedMessage> {
    let sepa = |iban: &str| PayoutMethod::Sepa {
        iban: iban.into(),
        bic: None,
        account_holder: "Ute Müller & Söhne".into(),
    };
    let orders = vec![
        order(
            "pb-000007.1",
            "42.10",
            Currency::EUR,
            sepa("DE89370400440532013000"),
        ),
        order(
            "pb-000007.2",
            "1000",
            Currency::EUR,
            sepa("FR1420041010050500013M02606"),
        ),
    ];
    let debtor = Debtor::new("Acme", "DE02120300000000202051", None).unwrap();
    assert_eq!(message_id_of(KEY), MSG);
    let (xml, _, refused) = pain_001(&debtor, MSG, chrono::Utc::now(), &orders).unwrap();
    assert!(refused.is_empty());
    let (message_id, transfers) = processors::sepa::read_pain_001(&xml).unwrap();
    let (tenant_id, batch_id, _) = batch_of_key(KEY).unwrap();
    BTreeMap::from([(
        MSG.to_owned(),
        IssuedMessage {
            key: KEY.into(),
            tenant_id,
            batch_id,
            message_id,
            transfers,
        },
    )])
}

fn pain002(group: &str, transactions: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:pain.002.001.03"><CstmrPmtStsRpt>
<GrpHdr><MsgId>STS-1</MsgId><CreDtTm>2026-11-20T09:00:00</CreDtTm></GrpHdr>
<OrgnlGrpInfAndSts>{group}</OrgnlGrpInfAndSts>
<OrgnlPmtInfAndSts><OrgnlPmtInfId>{MSG}</OrgnlPmtInfId>{transactions}</OrgnlPmtInfAndSts>
</CstmrPmtStsRpt></Document>"#
    )
}

fn tx(end_to_end: &str, status: &str, extra: &str) -> String {
    format!(
        "<TxInfAndSts><OrgnlEndToEndId>{end_to_end}</OrgnlEndToEndId><TxSts>{status}</TxSts>{extra}</TxInfAndSts>"
    )
}

fn camt054(message_id: &str, end_to_end: &str, tx_amount: &str, entry_amount: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.054.001.02"><BkToCstmrDbtCdtNtfctn>
<GrpHdr><MsgId>N-1</MsgId></GrpHdr><Ntfctn><Id>N-1</Id>
<Ntry>{entry_amount}<CdtDbtInd>CRDT</CdtDbtInd><Sts>BOOK</Sts><NtryDtls><TxDtls>
<Refs><MsgId>{message_id}</MsgId><EndToEndId>{end_to_end}</EndToEndId></Refs>{tx_amount}
<RtrInf><Rsn><Cd>MD07</Cd></Rsn></RtrInf></TxDtls></NtryDtls></Ntry>
</Ntfctn></BkToCstmrDbtCdtNtfctn></Document>"#
    )
}

fn check(xml: &str) -> Result<Vec<(String, ItemOutcome, Option<String>)>, StatusFileRejection> {
    let file = read_status_file(xml.as_bytes())?;
    let notices = status_notices("sepa-status/f.xml", &file, &issued())?;
    for n in &notices {
        assert_eq!(n.tenant_id.as_deref(), Some("acme"));
        assert_eq!(n.batch_id.as_deref(), Some("pb-000007"));
    }
    Ok(notices
        .into_iter()
        .map(|n| (n.item_id.unwrap(), n.outcome, n.reason))
        .collect())
}

fn group(extra: &str) -> String {
    format!("<OrgnlMsgId>{MSG}</OrgnlMsgId><OrgnlMsgNmId>pain.001.001.03</OrgnlMsgNmId>{extra}")
}

#[test]
fn a_status_report_answering_an_issued_message_is_read() {
    let xml = pain002(
        &group(
            "<OrgnlNbOfTxs>2</OrgnlNbOfTxs><OrgnlCtrlSum>1042.1</OrgnlCtrlSum><GrpSts>PART</GrpSts>",
        ),
        &(tx(
            "pb-000007.1",
            "ACSC",
            r#"<OrgnlTxRef><Amt><InstdAmt Ccy="EUR">42.10</InstdAmt></Amt><CdtrAcct><Id><IBAN>DE89 3704 0044 0532 0130 00</IBAN></Id></CdtrAcct></OrgnlTxRef>"#,
        ) + &tx(
            "pb-000007.2",
            "RJCT",
            "<StsRsnInf><Rsn><Cd>AC04</Cd></Rsn></StsRsnInf>",
        )),
    );
    assert_eq!(
        check(&xml).unwrap(),
        vec![
            ("pb-000007.1".into(), ItemOutcome::Paid, None),
            (
                "pb-000007.2".into(),
                ItemOutcome::Failed,
                Some("SEPA reason AC04".into())
            ),
        ]
    );
    // Accepted but not settled: nothing to record yet.
    let accepted = pain002(&group(""), &tx("pb-000007.1", "ACSP", ""));
    assert_eq!(check(&accepted).unwrap(), vec![]);
    // A return with the amount issued (at the transaction, or the entry's
    // when the entry has one transaction).
    for (tx_amount, entry_amount) in [
        (r#"<Amt Ccy="EUR">42.10</Amt>"#, ""),
        (
            r#"<AmtDtls><InstdAmt><Amt Ccy="EUR">42.1</Amt></InstdAmt></AmtDtls>"#,
            "",
        ),
        ("", r#"<Amt Ccy="EUR">42.10</Amt>"#),
    ] {
        assert_eq!(
            check(&camt054(MSG, "pb-000007.1", tx_amount, entry_amount)).unwrap(),
            vec![(
                "pb-000007.1".into(),
                ItemOutcome::Returned,
                Some("SEPA reason MD07".into())
            )],
            "{tx_amount} {entry_amount}"
        );
    }
}

#[test]
fn a_rejected_group_fails_every_transfer_it_does_not_list() {
    let xml = pain002(
        &group("<GrpSts>RJCT</GrpSts><StsRsnInf><Rsn><Cd>FF01</Cd></Rsn></StsRsnInf>"),
        "",
    );
    assert_eq!(
        check(&xml).unwrap(),
        vec![
            (
                "pb-000007.1".into(),
                ItemOutcome::Failed,
                Some("SEPA reason FF01".into())
            ),
            (
                "pb-000007.2".into(),
                ItemOutcome::Failed,
                Some("SEPA reason FF01".into())
            ),
        ]
    );
}

#[test]
fn each_rule_a_status_file_breaks_is_named() {
    let amount = |value: &str, ccy: &str| {
        format!(r#"<OrgnlTxRef><Amt><InstdAmt Ccy="{ccy}">{value}</InstdAmt></Amt></OrgnlTxRef>"#)
    };
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "unknown message id",
            pain002(
                "<OrgnlMsgId>acme/pb-000099/pain.001-EUR</OrgnlMsgId>",
                &tx("pb-000007.1", "ACSC", ""),
            ),
            "unknown_message",
        ),
        (
            "another tenant's batch named in the message id",
            pain002(
                "<OrgnlMsgId>evil/pb-000007/pain.001-EUR</OrgnlMsgId>",
                &tx("pb-000007.1", "ACSC", ""),
            ),
            "unknown_message",
        ),
        (
            "no message id",
            pain002("", &tx("pb-000007.1", "ACSC", "")),
            "no_message_id",
        ),
        (
            "unknown end-to-end id",
            pain002(&group(""), &tx("pb-000007.9", "ACSC", "")),
            "unknown_end_to_end_id",
        ),
        (
            "a known and an unknown end-to-end id: the whole file",
            pain002(
                &group(""),
                &(tx("pb-000007.1", "ACSC", "") + &tx("pb-000008.1", "ACSC", "")),
            ),
            "unknown_end_to_end_id",
        ),
        (
            "no end-to-end id",
            pain002(&group(""), "<TxInfAndSts><TxSts>ACSC</TxSts></TxInfAndSts>"),
            "no_end_to_end_id",
        ),
        (
            "wrong amount",
            pain002(
                &group(""),
                &tx("pb-000007.1", "ACSC", &amount("4210.00", "EUR")),
            ),
            "amount_mismatch",
        ),
        (
            "an amount that is not a decimal",
            pain002(
                &group(""),
                &tx("pb-000007.1", "ACSC", &amount("42,10", "EUR")),
            ),
            "amount_mismatch",
        ),
        (
            "wrong currency",
            pain002(
                &group(""),
                &tx("pb-000007.1", "ACSC", &amount("42.10", "USD")),
            ),
            "currency_mismatch",
        ),
        (
            "another creditor account",
            pain002(
                &group(""),
                &tx(
                    "pb-000007.1",
                    "ACSC",
                    "<OrgnlTxRef><CdtrAcct><Id><IBAN>GB33BUKB20201555555555</IBAN></Id></CdtrAcct></OrgnlTxRef>",
                ),
            ),
            "account_mismatch",
        ),
        (
            "wrong number of transactions",
            pain002(
                &group("<OrgnlNbOfTxs>3</OrgnlNbOfTxs>"),
                &tx("pb-000007.1", "ACSC", ""),
            ),
            "group_mismatch",
        ),
        (
            "wrong control sum",
            pain002(
                &group("<OrgnlCtrlSum>1042.11</OrgnlCtrlSum>"),
                &tx("pb-000007.1", "ACSC", ""),
            ),
            "group_mismatch",
        ),
        (
            "unknown status",
            pain002(&group(""), &tx("pb-000007.1", "WHAT", "")),
            "unknown_status",
        ),
        (
            "camt.054 wrong amount",
            camt054(MSG, "pb-000007.1", r#"<Amt Ccy="EUR">42.11</Amt>"#, ""),
            "amount_mismatch",
        ),
        (
            "camt.054 without any amount",
            camt054(MSG, "pb-000007.1", "", ""),
            "no_amount",
        ),
        (
            "camt.054 unknown message",
            camt054(
                "acme/pb-000001/pain.001-EUR",
                "pb-000007.1",
                r#"<Amt Ccy="EUR">42.10</Amt>"#,
                "",
            ),
            "unknown_message",
        ),
        (
            "truncated",
            pain002(&group(""), &tx("pb-000007.1", "ACSC", ""))[..300].to_owned(),
            "unreadable",
        ),
        (
            "not a status file",
            "<Document><Other/></Document>".to_owned(),
            "unreadable",
        ),
    ];
    for (case, xml, rule) in cases {
        let rejection = check(&xml).expect_err(case);
        let json = serde_json::to_value(&rejection).unwrap();
        assert_eq!(json["rule"], rule, "{case}: {rejection}");
        assert!(!rejection.to_string().is_empty());
    }
}

#[test]
fn the_quarantine_record_names_the_file_and_the_rule() {
    let xml = pain002(
        "<OrgnlMsgId>nope</OrgnlMsgId>",
        &tx("pb-000007.1", "ACSC", ""),
    );
    let file = read_status_file(xml.as_bytes()).unwrap();
    assert_eq!(file.kind, StatusKind::Pain002);
    let rejection = status_notices("sepa-status/2026 11.xml", &file, &issued()).unwrap_err();
    let record = QuarantinedStatusFile::new(
        "sepa-status/2026 11.xml",
        xml.as_bytes(),
        Some(&file),
        rejection,
        chrono::Utc::now(),
    );
    let key = record.key();
    assert!(key.starts_with("sepa-quarantine/sq-"), "{key}");
    assert!(key.ends_with("-2026-11-xml.json"), "{key}");
    file_store::check_key(&key).unwrap();
    let json = serde_json::to_value(&record).unwrap();
    assert_eq!(json["status"], "quarantined");
    assert_eq!(json["kind"], "pain.002");
    assert_eq!(json["message_ids"], serde_json::json!(["nope"]));
    assert_eq!(json["rejection"]["rule"], "unknown_message");
    assert_eq!(json["rejection"]["message_id"], "nope");
    assert_eq!(json["source_sha256"].as_str().unwrap().len(), 64);
}
