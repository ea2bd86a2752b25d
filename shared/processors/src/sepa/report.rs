//! SEPA: the bank's ISO 20022 camt.053 statement (XML).

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeZone, Utc};
use ledger_domain::events::Processor;

use crate::report::{ParsedReport, ReportLine, ReportParser};
use crate::report::{Rejection, bad, check_duplicate, currency, decimal_money, utf8};

#[derive(Default)]
struct CamtEntry {
    line: u64,
    amount: String,
    currency: String,
    debit: Option<bool>,
    booked: Option<bool>,
    date: String,
    account_ref: String,
    transactions: Vec<(String, String, String)>,
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
    use quick_xml::events::Event as Xml;
    let text = utf8(bytes)?;
    let mut reader = quick_xml::Reader::from_str(text);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut entries: Vec<CamtEntry> = Vec::new();
    let mut current: Option<CamtEntry> = None;
    let mut tx: Option<(String, String, String)> = None;
    let mut pending_ccy: Option<String> = None;
    let mut from_to = (None, None);
    let mut saw_statement = false;
    let mut closed_root = false;
    loop {
        let event = reader.read_event().map_err(|e| Rejection::Truncated {
            reason: format!(
                "XML ends or breaks at byte {}: {e}",
                reader.buffer_position()
            ),
        })?;
        match event {
            Xml::Start(start) => {
                let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
                if path.is_empty() && name != "Document" {
                    return Err(Rejection::NotAReport {
                        reason: format!("root element is {name}, not Document"),
                    });
                }
                if name == "Stmt" && path.last().map(String::as_str) == Some("BkToCstmrStmt") {
                    saw_statement = true;
                }
                if name == "Ntry" {
                    current = Some(CamtEntry {
                        line: entries.len() as u64 + 1,
                        ..Default::default()
                    });
                }
                if name == "TxDtls" && current.is_some() {
                    tx = Some(Default::default());
                }
                if name == "Amt" {
                    pending_ccy = start
                        .attributes()
                        .flatten()
                        .find(|a| a.key.local_name().as_ref() == b"Ccy")
                        .map(|a| String::from_utf8_lossy(&a.value).into_owned());
                }
                path.push(name);
            }
            Xml::End(_) => {
                let name = path.pop().unwrap_or_default();
                if name == "TxDtls" {
                    if let (Some(entry), Some(t)) = (current.as_mut(), tx.take()) {
                        entry.transactions.push(t);
                    }
                }
                if name == "Ntry" {
                    if let Some(entry) = current.take() {
                        entries.push(entry);
                    }
                }
                if path.is_empty() {
                    closed_root = true;
                }
            }
            Xml::Text(t) => {
                let value = t
                    .decode()
                    .map_err(|e| Rejection::NotAReport {
                        reason: e.to_string(),
                    })?
                    .into_owned();
                let value = quick_xml::escape::unescape(&value)
                    .map(|v| v.into_owned())
                    .unwrap_or(value);
                let here = path.last().map(String::as_str).unwrap_or_default();
                let parent = path
                    .iter()
                    .rev()
                    .nth(1)
                    .map(String::as_str)
                    .unwrap_or_default();
                if parent == "FrToDt" && path.iter().any(|p| p == "Stmt") && current.is_none() {
                    match here {
                        "FrDtTm" => from_to.0 = Some(value.clone()),
                        "ToDtTm" => from_to.1 = Some(value.clone()),
                        _ => {}
                    }
                }
                if let Some(t) = tx.as_mut() {
                    match here {
                        "EndToEndId" => t.0 = value,
                        "Amt" => {
                            t.1 = value;
                            t.2 = pending_ccy.take().unwrap_or_default();
                        }
                        _ => {}
                    }
                } else if let Some(entry) = current.as_mut() {
                    match (parent, here) {
                        ("Ntry", "Amt") => {
                            entry.amount = value;
                            entry.currency = pending_ccy.take().unwrap_or_default();
                        }
                        ("Ntry", "CdtDbtInd") => entry.debit = Some(value == "DBIT"),
                        ("Ntry", "Sts") | ("Sts", "Cd") => entry.booked = Some(value == "BOOK"),
                        ("BookgDt", "Dt") | ("BookgDt", "DtTm") => entry.date = value,
                        ("Ntry", "AcctSvcrRef") => entry.account_ref = value,
                        _ => {}
                    }
                }
            }
            Xml::Eof => break,
            _ => {}
        }
    }
    if !closed_root || !path.is_empty() {
        return Err(Rejection::Truncated {
            reason: format!("the XML ends inside <{}>", path.join("/")),
        });
    }
    if !saw_statement {
        return Err(Rejection::NotAReport {
            reason: "no BkToCstmrStmt/Stmt".to_owned(),
        });
    }
    let mut lines = Vec::new();
    let mut other_lines = 0;
    let mut seen = HashMap::new();
    for entry in entries {
        let line = entry.line;
        let c = currency(line, &entry.currency)?;
        let total = decimal_money(line, "Ntry/Amt", &entry.amount, c)?;
        let date = camt_date(line, &entry.date)?;
        if entry.debit != Some(true) || entry.booked == Some(false) {
            other_lines += 1;
            continue;
        }
        if entry.transactions.is_empty() {
            return Err(bad(
                line,
                "NtryDtls/TxDtls",
                "",
                "a debit entry has no transaction details to match",
            ));
        }
        let single = entry.transactions.len() == 1;
        for (e2e, amount, ccy) in entry.transactions {
            if e2e.is_empty() || e2e == "NOTPROVIDED" {
                return Err(bad(line, "EndToEndId", &e2e, "is missing"));
            }
            check_duplicate(&mut seen, &e2e, line)?;
            let amount = if amount.is_empty() && single {
                total
            } else {
                decimal_money(line, "TxDtls/Amt", &amount, currency(line, &ccy)?)?
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
