//! SEPA: the bank's ISO 20022 camt.053 statement (XML).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use ledger_domain::events::Processor;
use serde::Deserialize;

use crate::report::{ParsedReport, ReportLine, ReportParser};
use crate::report::{Rejection, bad, check_duplicate, currency, decimal_money, utf8};

use super::xml::{Amount, AmountDetails, EntryStatus, XmlError, read_document};

/// The parts of a camt.053 (any `.001.0x` version) the reconciliation
/// reads; every other element is skipped. Names are the schema's.
#[derive(Deserialize)]
struct Document {
    #[serde(rename = "BkToCstmrStmt")]
    statement_message: StatementMessage,
}

#[derive(Deserialize)]
struct StatementMessage {
    #[serde(rename = "Stmt", default)]
    statements: Vec<Statement>,
}

#[derive(Deserialize)]
struct Statement {
    #[serde(rename = "FrToDt")]
    period: Option<Period>,
    #[serde(rename = "Ntry", default)]
    entries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Period {
    #[serde(rename = "FrDtTm")]
    from: Option<String>,
    #[serde(rename = "ToDtTm")]
    to: Option<String>,
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "Amt", default)]
    amount: Amount,
    #[serde(rename = "CdtDbtInd")]
    credit_debit: Option<String>,
    #[serde(rename = "Sts")]
    status: Option<EntryStatus>,
    #[serde(rename = "BookgDt")]
    booking_date: Option<DateChoice>,
    #[serde(rename = "AcctSvcrRef", default)]
    account_ref: String,
    #[serde(rename = "NtryDtls", default)]
    details: Vec<EntryDetails>,
}

#[derive(Deserialize)]
struct DateChoice {
    #[serde(rename = "Dt")]
    date: Option<String>,
    #[serde(rename = "DtTm")]
    date_time: Option<String>,
}

#[derive(Deserialize)]
struct EntryDetails {
    #[serde(rename = "TxDtls", default)]
    transactions: Vec<Transaction>,
}

#[derive(Deserialize)]
struct Transaction {
    #[serde(rename = "Refs")]
    refs: Option<References>,
    /// The transaction's own amount (.001.08 on).
    #[serde(rename = "Amt")]
    amount: Option<Amount>,
    #[serde(rename = "AmtDtls")]
    amount_details: Option<AmountDetails>,
}

impl Transaction {
    /// The amount the transaction gives, best first: its own, the
    /// transaction amount of its details, the instructed amount.
    fn amount(self) -> Amount {
        let details = self.amount_details.unwrap_or_default();
        self.amount
            .or(details.transaction.map(|a| a.amount))
            .or(details.instructed.map(|a| a.amount))
            .unwrap_or_default()
    }
}

#[derive(Deserialize)]
struct References {
    #[serde(rename = "EndToEndId", default)]
    end_to_end_id: String,
}

fn rejection(e: XmlError) -> Rejection {
    match e {
        XmlError::Broken(reason) => Rejection::Truncated { reason },
        XmlError::Shape(reason) => Rejection::NotAReport { reason },
    }
}

fn camt_date(line: u64, value: &str) -> Result<DateTime<Utc>, Rejection> {
    if let Ok(d) = NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        return Ok(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).expect("midnight exists")));
    }
    DateTime::parse_from_rfc3339(value)
        .map(|d| d.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDateTime::parse_from_str(value, "%Y-%m-%dT%H:%M:%S")
                .map(|d| Utc.from_utc_datetime(&d))
        })
        .map_err(|_| bad(line, "date", value, "is not an ISO date or date-time"))
}

/// An ISO 20022 camt.053 bank statement.
pub fn parse_camt053(bytes: &[u8]) -> Result<ParsedReport, Rejection> {
    utf8(bytes)?;
    let document: Document = read_document(bytes).map_err(rejection)?;
    let statements = document.statement_message.statements;
    if statements.is_empty() {
        return Err(Rejection::NotAReport {
            reason: "no BkToCstmrStmt/Stmt".to_owned(),
        });
    }
    let from_to = statements
        .iter()
        .find_map(|s| s.period.as_ref())
        .map(|p| (p.from.clone(), p.to.clone()))
        .unwrap_or_default();
    let entries = statements.into_iter().flat_map(|s| s.entries);
    let mut lines = Vec::new();
    let mut other_lines = 0;
    let mut seen = HashMap::new();
    for (index, entry) in entries.enumerate() {
        let line = index as u64 + 1;
        let c = currency(line, &entry.amount.currency)?;
        let total = decimal_money(line, "Ntry/Amt", &entry.amount.value, c)?;
        let booking = entry.booking_date.and_then(|d| d.date.or(d.date_time));
        let date = camt_date(line, booking.as_deref().unwrap_or_default())?;
        let debit = entry.credit_debit.as_deref() == Some("DBIT");
        let booked = entry
            .status
            .and_then(EntryStatus::code)
            .map(|s| s == "BOOK");
        if !debit || booked == Some(false) {
            other_lines += 1;
            continue;
        }
        let transactions: Vec<(String, Amount)> = entry
            .details
            .into_iter()
            .flat_map(|d| d.transactions)
            .map(|t| {
                let e2e = t.refs.as_ref().map(|r| r.end_to_end_id.clone());
                (e2e.unwrap_or_default(), t.amount())
            })
            .collect();
        if transactions.is_empty() {
            return Err(bad(
                line,
                "NtryDtls/TxDtls",
                "",
                "a debit entry has no transaction details to match",
            ));
        }
        let single = transactions.len() == 1;
        for (e2e, amount) in transactions {
            if e2e.is_empty() || e2e == "NOTPROVIDED" {
                return Err(bad(line, "EndToEndId", &e2e, "is missing"));
            }
            check_duplicate(&mut seen, &e2e, line)?;
            let amount = if amount.value.is_empty() && single {
                total
            } else {
                decimal_money(
                    line,
                    "TxDtls/Amt",
                    &amount.value,
                    currency(line, &amount.currency)?,
                )?
            };
            let mut keys = vec![e2e];
            if !entry.account_ref.is_empty() {
                keys.push(entry.account_ref.clone());
            }
            lines.push(ReportLine {
                line,
                keys,
                amount,
                date,
            });
        }
    }
    let period = match from_to {
        (Some(from), Some(to)) => Some((camt_date(0, &from)?, camt_date(0, &to)?)),
        _ => None,
    };
    Ok(ParsedReport {
        processor: Processor::Sepa,
        lines,
        other_lines,
        period,
    })
}

/// The bank's camt.053 statement, as the port's parser.
#[derive(Debug, Clone, Copy, Default)]
pub struct Camt053Statement;

impl ReportParser for Camt053Statement {
    fn parse(&self, bytes: &[u8]) -> Result<ParsedReport, Rejection> {
        parse_camt053(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(status: &str, details: &str) -> String {
        format!(
            r#"<Ntry><Amt Ccy="EUR">30.00</Amt><CdtDbtInd>DBIT</CdtDbtInd>{status}
               <BookgDt><DtTm>2026-11-30T10:00:00</DtTm></BookgDt>
               <AcctSvcrRef>BANK-1</AcctSvcrRef><NtryDtls>{details}</NtryDtls></Ntry>"#
        )
    }

    fn document(prefix: &str, entries: &str) -> String {
        let p = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}:")
        };
        let xmlns = if prefix.is_empty() {
            "xmlns".to_owned()
        } else {
            format!("xmlns:{prefix}")
        };
        // Prefix every element of the body the same way a bank's
        // exporter would.
        let body = format!("<BkToCstmrStmt><Stmt>{entries}</Stmt></BkToCstmrStmt>")
            .replace("</", "\u{0}")
            .replace('<', &format!("<{p}"))
            .replace('\u{0}', &format!("</{p}"));
        format!(
            r#"<?xml version="1.0"?><{p}Document {xmlns}="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">{body}</{p}Document>"#
        )
    }

    #[test]
    fn the_status_is_read_in_both_schema_forms_and_only_booked_debits_count() {
        let tx = |id: &str| format!("<TxDtls><Refs><EndToEndId>{id}</EndToEndId></Refs></TxDtls>");
        let entries = [
            entry("<Sts><Cd>BOOK</Cd></Sts>", &tx("E2E-A")),
            entry("<Sts>BOOK</Sts>", &tx("E2E-B")),
            entry("<Sts><Cd>PDNG</Cd></Sts>", &tx("E2E-C")),
            entry("<Sts>INFO</Sts>", &tx("E2E-D")),
        ]
        .concat();
        let parsed = parse_camt053(document("", &entries).as_bytes()).unwrap();
        let keys: Vec<_> = parsed.lines.iter().map(|l| l.keys[0].as_str()).collect();
        assert_eq!(keys, ["E2E-A", "E2E-B"]);
        assert_eq!(parsed.other_lines, 2);
        assert_eq!(parsed.lines[0].keys[1], "BANK-1");
        assert_eq!(parsed.lines[1].line, 2);
    }

    #[test]
    fn a_prefixed_namespace_reads_the_same_as_the_default_one() {
        let tx = "<TxDtls><Refs><EndToEndId>E2E-A</EndToEndId></Refs></TxDtls>";
        let entries = entry("<Sts><Cd>BOOK</Cd></Sts>", tx);
        let plain = parse_camt053(document("", &entries).as_bytes()).unwrap();
        let prefixed = parse_camt053(document("camt", &entries).as_bytes()).unwrap();
        assert_eq!(plain.lines.len(), 1);
        assert_eq!(prefixed.lines.len(), 1);
        assert_eq!(prefixed.lines[0].keys, plain.lines[0].keys);
        assert_eq!(prefixed.lines[0].amount, plain.lines[0].amount);
    }

    #[test]
    fn a_batch_booking_splits_into_its_transactions_with_their_own_amounts() {
        let tx = |id: &str, amount: &str| {
            format!(
                r#"<TxDtls><Refs><EndToEndId>{id}</EndToEndId></Refs>
                   <AmtDtls><TxAmt><Amt Ccy="EUR">{amount}</Amt></TxAmt></AmtDtls></TxDtls>"#
            )
        };
        let details = [tx("E2E-A", "10.00"), tx("E2E-B", "20.00")].concat();
        let parsed =
            parse_camt053(document("", &entry("<Sts>BOOK</Sts>", &details)).as_bytes()).unwrap();
        let amounts: Vec<_> = parsed.lines.iter().map(|l| l.amount.to_string()).collect();
        assert_eq!(parsed.lines.len(), 2);
        assert_ne!(amounts[0], amounts[1]);
        assert!(parsed.lines.iter().all(|l| l.line == 1));
    }

    #[test]
    fn a_debit_without_an_end_to_end_id_or_details_is_refused() {
        let no_id = entry("<Sts>BOOK</Sts>", "<TxDtls><Refs/></TxDtls>");
        assert!(parse_camt053(document("", &no_id).as_bytes()).is_err());
        let no_details = entry("<Sts>BOOK</Sts>", "");
        assert!(parse_camt053(document("", &no_details).as_bytes()).is_err());
        let foreign = "<Invoice><BkToCstmrStmt/></Invoice>";
        assert!(matches!(
            parse_camt053(foreign.as_bytes()),
            Err(Rejection::NotAReport { .. })
        ));
    }
}
