//! Reconciliation: a processor's own report, line by line, against the
//! payout items the ledger paid through that processor.
//!
//! Reports read:
//!
//! - Stripe: the itemized "balance change from activity" CSV
//!   (`balance_transaction_id, created_utc, currency, gross, fee, net,
//!   reporting_category, source_id, description`, plus Stripe's optional
//!   columns). Transfers to connected accounts (`reporting_category =
//!   transfer`) are payouts; `source_id` is the transfer id (`tr_…`) the
//!   ledger recorded.
//! - PayPal: the settlement report (STL) CSV, with its `RH/FH/SH/CH/SB/SF/
//!   SC/RF/RC/FF` record types. Debits with event code `T0001` (payouts,
//!   formerly MassPay) are payouts; amounts are minor units. The line is
//!   matched on any of its identifiers (`Transaction ID`, `Invoice ID`,
//!   `PayPal Reference ID`, `Custom Field`) against the item's PayPal
//!   payout id or its `sender_item_id` (`tenant/item`).
//! - SEPA: the bank's ISO 20022 `camt.053` statement (any `.001.0x`
//!   version): booked debit entries, one line per transaction detail,
//!   matched on `EndToEndId`.
//!
//! A report is parsed whole before anything is written: unknown or missing
//! columns, a currency that is not ISO 4217, a duplicate line, a value that
//! does not parse, or a truncated file quarantines the report (a report
//! with the reason is written under `quarantine/`) and nothing is matched.
//!
//! Mismatch classes: `missing_in_ledger` (a payout line no paid item
//! explains), `missing_at_processor` (an item paid in the report's period
//! that the report does not show), `amount_mismatch`, `currency_mismatch`,
//! `outside_date_window` (same reference, but dated more than the window
//! away from the ledger's payment), `not_paid_in_ledger` (the report shows
//! a payment of an item the ledger holds as not paid, failed or returned).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, TimeZone, Utc};
use event_store::{AppendRequest, EventStore, LedgerReads, StreamId};
use file_store::FileStore;
use ledger_domain::events::{
    AggregateRef, EventBody, MoneyMovement, Processor, ReconciliationMismatchFound,
    ReconciliationRunRecorded, stream_name,
};
use ledger_domain::money::currency_from_code;
use ledger_domain::payout::{ItemStatus, PayoutBatch};
use ledger_domain::{Actor, ActorKind, Event, Money, ReconciliationRunId, TenantId};
use rust_decimal::Decimal;
use serde::Serialize;

use crate::ReportError;
use crate::statement::sha256_hex;
use crate::trial::{TrialBalanceLine, trial_balance};

/// Days a processor's date may differ from the ledger's payment.
pub const DATE_WINDOW_DAYS: i64 = 5;
/// The largest report accepted.
pub const REPORT_BYTES_MAX: usize = 50 * 1024 * 1024;

/// One payout as the processor reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReportLine {
    /// 1-based line (CSV row or camt.053 entry) in the file.
    pub line: u64,
    /// The processor's identifiers of this payout, any of which may match.
    pub keys: Vec<String>,
    /// What was paid out, positive.
    pub amount: Money,
    pub date: DateTime<Utc>,
}

/// A report read whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsedReport {
    pub processor: Processor,
    pub lines: Vec<ReportLine>,
    /// Lines read that are not payouts (charges, fees, credits).
    pub other_lines: usize,
    /// The period the report covers, if it says (camt.053 `FrToDt`).
    pub period: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// Why a report is quarantined.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum Rejection {
    #[error("unknown columns {columns:?}: the report is not the format expected")]
    UnknownColumns { columns: Vec<String> },
    #[error("missing columns {columns:?}")]
    MissingColumns { columns: Vec<String> },
    #[error("line {line}: {value:?} is not an ISO 4217 currency")]
    BadCurrency { line: u64, value: String },
    #[error("line {line}: {column} {value:?} {reason}")]
    BadValue {
        line: u64,
        column: String,
        value: String,
        reason: String,
    },
    #[error("line {line} repeats {id:?} (first on line {first})")]
    DuplicateLine { line: u64, first: u64, id: String },
    #[error("the file is truncated: {reason}")]
    Truncated { reason: String },
    #[error("the file is not a report of this kind: {reason}")]
    NotAReport { reason: String },
}

fn bad(line: u64, column: &str, value: &str, reason: impl Into<String>) -> Rejection {
    Rejection::BadValue {
        line,
        column: column.to_owned(),
        value: value.chars().take(60).collect(),
        reason: reason.into(),
    }
}

fn currency(line: u64, value: &str) -> Result<ledger_domain::Currency, Rejection> {
    currency_from_code(&value.trim().to_ascii_uppercase()).map_err(|_| Rejection::BadCurrency {
        line,
        value: value.chars().take(12).collect(),
    })
}

fn decimal_money(
    line: u64,
    column: &str,
    value: &str,
    c: ledger_domain::Currency,
) -> Result<Money, Rejection> {
    let d = Decimal::from_str(value.trim())
        .map_err(|_| bad(line, column, value, "is not a decimal"))?;
    Money::new(d.abs(), c).map_err(|e| bad(line, column, value, e.to_string()))
}

fn check_duplicate(seen: &mut HashMap<String, u64>, id: &str, line: u64) -> Result<(), Rejection> {
    if let Some(first) = seen.insert(id.to_owned(), line) {
        return Err(Rejection::DuplicateLine {
            line,
            first,
            id: id.to_owned(),
        });
    }
    Ok(())
}

fn utf8(bytes: &[u8]) -> Result<&str, Rejection> {
    std::str::from_utf8(bytes).map_err(|e| Rejection::NotAReport {
        reason: format!("not UTF-8 text ({e})"),
    })
}

/// Reads records of a CSV file; a record with fewer or more fields than
/// the header (a cut-off last line) is a truncated file.
fn csv_records(text: &str, has_headers: bool) -> csv::StringRecordsIntoIter<&[u8]> {
    csv::ReaderBuilder::new()
        .has_headers(has_headers)
        .flexible(!has_headers)
        .from_reader(text.as_bytes())
        .into_records()
}

fn csv_error(e: csv::Error) -> Rejection {
    match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => Rejection::Truncated {
            reason: format!(
                "line {} has {len} fields, the header {expected_len}",
                pos.as_ref().map_or(0, |p| p.line())
            ),
        },
        _ => Rejection::NotAReport {
            reason: e.to_string(),
        },
    }
}

const STRIPE_REQUIRED: [&str; 9] = [
    "balance_transaction_id",
    "created_utc",
    "currency",
    "gross",
    "fee",
    "net",
    "reporting_category",
    "source_id",
    "description",
];
const STRIPE_OPTIONAL: [&str; 8] = [
    "created",
    "available_on_utc",
    "available_on",
    "customer_facing_amount",
    "customer_facing_currency",
    "automatic_payout_id",
    "automatic_payout_effective_at_utc",
    "connected_account",
];

fn columns(
    header: &[String],
    required: &[&str],
    optional: &[&str],
) -> Result<HashMap<String, usize>, Rejection> {
    let unknown: Vec<String> = header
        .iter()
        .filter(|h| !required.contains(&h.as_str()) && !optional.contains(&h.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(Rejection::UnknownColumns { columns: unknown });
    }
    let missing: Vec<String> = required
        .iter()
        .filter(|r| !header.iter().any(|h| h == *r))
        .map(|r| (*r).to_owned())
        .collect();
    if !missing.is_empty() {
        return Err(Rejection::MissingColumns { columns: missing });
    }
    let mut index = HashMap::new();
    for (i, h) in header.iter().enumerate() {
        if index.insert(h.clone(), i).is_some() {
            return Err(Rejection::NotAReport {
                reason: format!("column {h:?} appears twice"),
            });
        }
    }
    Ok(index)
}

/// Stripe's itemized balance change from activity report.
pub fn parse_stripe_csv(bytes: &[u8]) -> Result<ParsedReport, Rejection> {
    let text = utf8(bytes)?;
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(csv_error)?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let col = columns(&header, &STRIPE_REQUIRED, &STRIPE_OPTIONAL)?;
    let mut lines = Vec::new();
    let mut other_lines = 0;
    let mut seen = HashMap::new();
    for (i, record) in csv_records(text, true).enumerate() {
        let record = record.map_err(csv_error)?;
        let line = i as u64 + 2;
        let get = |name: &str| record.get(col[name]).unwrap_or_default().trim();
        let id = get("balance_transaction_id");
        if id.is_empty() {
            return Err(bad(line, "balance_transaction_id", id, "is empty"));
        }
        check_duplicate(&mut seen, id, line)?;
        let c = currency(line, get("currency"))?;
        let gross = decimal_money(line, "gross", get("gross"), c)?;
        let created = get("created_utc");
        let date = NaiveDateTime::parse_from_str(created, "%Y-%m-%d %H:%M:%S")
            .map(|d| Utc.from_utc_datetime(&d))
            .map_err(|_| bad(line, "created_utc", created, "is not YYYY-MM-DD HH:MM:SS"))?;
        if get("reporting_category") != "transfer" {
            other_lines += 1;
            continue;
        }
        let source = get("source_id");
        if source.is_empty() {
            return Err(bad(line, "source_id", source, "is empty on a transfer"));
        }
        lines.push(ReportLine {
            line,
            keys: vec![source.to_owned()],
            amount: gross,
            date,
        });
    }
    Ok(ParsedReport {
        processor: Processor::Stripe,
        lines,
        other_lines,
        period: None,
    })
}

const PAYPAL_COLUMNS: [&str; 21] = [
    "Transaction ID",
    "Invoice ID",
    "PayPal Reference ID",
    "PayPal Reference ID Type",
    "Transaction Event Code",
    "Transaction Initiation Date",
    "Transaction Completion Date",
    "Transaction  Debit or Credit",
    "Gross Transaction Amount",
    "Gross Transaction Currency",
    "Fee Debit or Credit",
    "Fee Amount",
    "Fee Currency",
    "Custom Field",
    "Consumer ID",
    "Payment Tracking ID",
    "Store ID",
    "Bank Reference ID",
    "Credit Transactional Fee",
    "Credit Promotional Fee",
    "Credit Term",
];
/// Columns PayPal requires for matching; the rest of `PAYPAL_COLUMNS` are
/// optional.
const PAYPAL_REQUIRED: [&str; 7] = [
    "Transaction ID",
    "Transaction Event Code",
    "Transaction Initiation Date",
    "Transaction  Debit or Credit",
    "Gross Transaction Amount",
    "Gross Transaction Currency",
    "Custom Field",
];

/// PayPal's settlement report (STL), CSV.
pub fn parse_paypal_stl(bytes: &[u8]) -> Result<ParsedReport, Rejection> {
    let text = utf8(bytes)?;
    let mut col: Option<HashMap<String, usize>> = None;
    let mut lines = Vec::new();
    let mut other_lines = 0;
    let mut seen = HashMap::new();
    let mut footer = false;
    let mut body_rows = 0u64;
    for (i, record) in csv_records(text, false).enumerate() {
        let record = record.map_err(csv_error)?;
        let line = i as u64 + 1;
        if footer {
            return Err(Rejection::NotAReport {
                reason: format!("line {line} follows the file footer"),
            });
        }
        match record.get(0).unwrap_or_default() {
            "RH" | "FH" | "SH" | "SF" | "SC" | "RF" | "RC" => {}
            "FF" => footer = true,
            "CH" => {
                let header: Vec<String> =
                    record.iter().skip(1).map(|h| h.trim().to_owned()).collect();
                let optional: Vec<&str> = PAYPAL_COLUMNS
                    .iter()
                    .filter(|c| !PAYPAL_REQUIRED.contains(c))
                    .copied()
                    .collect();
                col = Some(columns(&header, &PAYPAL_REQUIRED, &optional)?);
            }
            "SB" => {
                let col = col.as_ref().ok_or_else(|| Rejection::NotAReport {
                    reason: format!("line {line}: a body row before the column header (CH)"),
                })?;
                if record.len() != col.len() + 1 {
                    return Err(Rejection::Truncated {
                        reason: format!(
                            "line {line} has {} fields, the header {}",
                            record.len(),
                            col.len() + 1
                        ),
                    });
                }
                body_rows += 1;
                let get = |name: &str| {
                    col.get(name)
                        .and_then(|i| record.get(i + 1))
                        .unwrap_or_default()
                        .trim()
                };
                let id = get("Transaction ID");
                if id.is_empty() {
                    return Err(bad(line, "Transaction ID", id, "is empty"));
                }
                check_duplicate(&mut seen, id, line)?;
                let c = currency(line, get("Gross Transaction Currency"))?;
                let raw = get("Gross Transaction Amount");
                let minor: i64 = raw.parse().map_err(|_| {
                    bad(
                        line,
                        "Gross Transaction Amount",
                        raw,
                        "is not a whole number of minor units",
                    )
                })?;
                let amount = Money::from_minor(minor.abs(), c)
                    .map_err(|e| bad(line, "Gross Transaction Amount", raw, e.to_string()))?;
                let started = get("Transaction Initiation Date");
                let date = DateTime::parse_from_str(started, "%Y/%m/%d %H:%M:%S %z")
                    .map(|d| d.with_timezone(&Utc))
                    .map_err(|_| {
                        bad(
                            line,
                            "Transaction Initiation Date",
                            started,
                            "is not YYYY/MM/DD HH:MM:SS +ZZZZ",
                        )
                    })?;
                let direction = get("Transaction  Debit or Credit");
                if !matches!(direction, "DR" | "CR") {
                    return Err(bad(
                        line,
                        "Transaction  Debit or Credit",
                        direction,
                        "is neither DR nor CR",
                    ));
                }
                if get("Transaction Event Code") != "T0001" || direction != "DR" {
                    other_lines += 1;
                    continue;
                }
                let keys = [
                    "Transaction ID",
                    "Invoice ID",
                    "PayPal Reference ID",
                    "Custom Field",
                ]
                .iter()
                .map(|c| get(c))
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
                .collect();
                lines.push(ReportLine {
                    line,
                    keys,
                    amount,
                    date,
                });
            }
            other => {
                return Err(Rejection::NotAReport {
                    reason: format!(
                        "line {line}: unknown record type {:?}",
                        other.chars().take(8).collect::<String>()
                    ),
                });
            }
        }
    }
    if col.is_none() {
        return Err(Rejection::NotAReport {
            reason: "no column header (CH) row".to_owned(),
        });
    }
    if !footer {
        return Err(Rejection::Truncated {
            reason: format!("no file footer (FF) after {body_rows} body rows"),
        });
    }
    Ok(ParsedReport {
        processor: Processor::Paypal,
        lines,
        other_lines,
        period: None,
    })
}

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

/// Parses a report of `processor`'s kind.
pub fn parse_report(processor: Processor, bytes: &[u8]) -> Result<ParsedReport, Rejection> {
    if bytes.len() > REPORT_BYTES_MAX {
        return Err(Rejection::NotAReport {
            reason: format!("larger than {REPORT_BYTES_MAX} bytes"),
        });
    }
    match processor {
        Processor::Stripe => parse_stripe_csv(bytes),
        Processor::Paypal => parse_paypal_stl(bytes),
        Processor::Sepa => parse_camt053(bytes),
        Processor::Sandbox => Err(Rejection::NotAReport {
            reason: "the sandbox has no reports".to_owned(),
        }),
    }
}

/// Where one payout item stands in the ledger, for matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LedgerItem {
    pub batch_id: String,
    pub item_id: String,
    pub affiliate_id: String,
    pub amount: Money,
    /// `paid`, `submitted`, `awaiting`, `failed`, `returned`, `unclaimed`.
    pub status: String,
    pub reference: Option<String>,
    pub paid_at: Option<DateTime<Utc>>,
    #[serde(skip)]
    keys: Vec<String>,
}

/// Every payout item of a tenant paid (or sent) through `processor`, from
/// the batches of its draft log.
pub async fn ledger_items<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
    processor: Processor,
) -> Result<Vec<LedgerItem>, ReportError> {
    let drafts = StreamId::new(stream_name(tenant_id, AggregateRef::PayoutDrafts))?;
    let mut items = Vec::new();
    for registered in ledger_app::load(store, &drafts).await.map_err(app)? {
        let EventBody::PayoutDraftRegistered(r) = registered.body() else {
            continue;
        };
        let stream = StreamId::new(stream_name(
            tenant_id,
            AggregateRef::PayoutBatch(&r.batch_id),
        ))?;
        let events = ledger_app::load(store, &stream).await.map_err(app)?;
        let batch = PayoutBatch::from_events(&events);
        let Some(state) = batch.state() else { continue };
        for item in &state.items {
            if item.drafted.processor != processor {
                continue;
            }
            let mut reference = None;
            let mut paid_at = None;
            for e in &events {
                match e.body() {
                    EventBody::PayoutItemSubmitted(s)
                        if s.item_id == item.drafted.item_id && s.processor_reference.is_some() =>
                    {
                        reference.clone_from(&s.processor_reference);
                    }
                    EventBody::PayoutItemPaid(o)
                        if o.item_id == item.drafted.item_id
                            && o.movement == MoneyMovement::ReservedToPaid =>
                    {
                        paid_at = Some(e.effective_at());
                    }
                    _ => {}
                }
            }
            let status = match item.status {
                ItemStatus::Awaiting => "awaiting".to_owned(),
                ItemStatus::Submitted => "submitted".to_owned(),
                ItemStatus::Paid => "paid".to_owned(),
                ItemStatus::Final(outcome) => format!("{outcome:?}").to_lowercase(),
            };
            let mut keys = vec![format!("{tenant_id}/{}", item.drafted.item_id)];
            if let Some(r) = &reference {
                keys.push(r.clone());
                // SEPA references are `file#end-to-end-id`.
                if let Some((_, e2e)) = r.rsplit_once('#') {
                    keys.push(e2e.to_owned());
                }
            }
            items.push(LedgerItem {
                batch_id: r.batch_id.to_string(),
                item_id: item.drafted.item_id.to_string(),
                affiliate_id: item.drafted.affiliate_id.to_string(),
                amount: item.drafted.amount,
                status,
                reference,
                paid_at,
                keys,
            });
        }
    }
    Ok(items)
}

fn app(e: ledger_app::AppError) -> ReportError {
    ReportError::Invalid(e.to_string())
}

/// A line and the item it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Matched {
    pub line: u64,
    pub batch_id: String,
    pub item_id: String,
    pub amount: Money,
}

/// A difference between the report and the ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mismatch {
    pub kind: &'static str,
    pub line: Option<u64>,
    pub processor_reference: Option<String>,
    pub batch_id: Option<String>,
    pub item_id: Option<String>,
    pub ledger_amount: Option<Money>,
    pub report_amount: Option<Money>,
}

/// Totals of one currency, in minor units.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CurrencyTotals {
    pub report_lines: usize,
    pub report_total_minor: i64,
    pub matched_lines: usize,
    pub matched_total_minor: i64,
    pub ledger_paid_in_period_minor: i64,
    pub mismatches: usize,
}

/// The outcome of matching a report against the ledger.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Matching {
    pub period_from: Option<DateTime<Utc>>,
    pub period_to: Option<DateTime<Utc>>,
    pub matched: Vec<Matched>,
    pub mismatches: Vec<Mismatch>,
    pub totals: BTreeMap<String, CurrencyTotals>,
}

fn add_minor(total: &mut i64, money: &Money) {
    *total = total.saturating_add(money.amount_minor());
}

/// Matches report lines with ledger items (pure).
pub fn match_report(report: &ParsedReport, items: &[LedgerItem]) -> Matching {
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        for key in &item.keys {
            by_key.insert(key.as_str(), i);
        }
    }
    let window = Duration::days(DATE_WINDOW_DAYS);
    let mut out = Matching::default();
    let mut explained: HashSet<usize> = HashSet::new();
    for line in &report.lines {
        let totals = out
            .totals
            .entry(line.amount.currency().code().to_owned())
            .or_default();
        totals.report_lines += 1;
        add_minor(&mut totals.report_total_minor, &line.amount);
        let found = line
            .keys
            .iter()
            .find_map(|k| by_key.get(k.as_str()).copied());
        let mismatch = |kind, item: Option<&LedgerItem>| Mismatch {
            kind,
            line: Some(line.line),
            processor_reference: line.keys.first().cloned(),
            batch_id: item.map(|i| i.batch_id.clone()),
            item_id: item.map(|i| i.item_id.clone()),
            ledger_amount: item.map(|i| i.amount),
            report_amount: Some(line.amount),
        };
        let Some(index) = found else {
            totals.mismatches += 1;
            out.mismatches.push(mismatch("missing_in_ledger", None));
            continue;
        };
        explained.insert(index);
        let item = &items[index];
        let kind = if item.status != "paid" {
            Some("not_paid_in_ledger")
        } else if item.amount.currency() != line.amount.currency() {
            Some("currency_mismatch")
        } else if item.amount != line.amount {
            Some("amount_mismatch")
        } else if item
            .paid_at
            .is_some_and(|at| line.date < at - window || line.date > at + window)
        {
            Some("outside_date_window")
        } else {
            None
        };
        match kind {
            Some(kind) => {
                totals.mismatches += 1;
                out.mismatches.push(mismatch(kind, Some(item)));
            }
            None => {
                totals.matched_lines += 1;
                add_minor(&mut totals.matched_total_minor, &line.amount);
                out.matched.push(Matched {
                    line: line.line,
                    batch_id: item.batch_id.clone(),
                    item_id: item.item_id.clone(),
                    amount: line.amount,
                });
            }
        }
    }
    // The period: the report's own, else its first to last day.
    let period = report.period.or_else(|| {
        let first = report.lines.iter().map(|l| l.date).min()?;
        let last = report.lines.iter().map(|l| l.date).max()?;
        let day = |t: DateTime<Utc>| {
            Utc.from_utc_datetime(
                &t.date_naive()
                    .and_hms_opt(0, 0, 0)
                    .expect("midnight exists"),
            )
        };
        Some((day(first), day(last) + Duration::days(1)))
    });
    if let Some((from, to)) = period {
        out.period_from = Some(from);
        out.period_to = Some(to);
        for (index, item) in items.iter().enumerate() {
            let Some(paid_at) = item.paid_at.filter(|_| item.status == "paid") else {
                continue;
            };
            if paid_at < from || paid_at >= to {
                continue;
            }
            let totals = out
                .totals
                .entry(item.amount.currency().code().to_owned())
                .or_default();
            add_minor(&mut totals.ledger_paid_in_period_minor, &item.amount);
            if explained.contains(&index) {
                continue;
            }
            totals.mismatches += 1;
            out.mismatches.push(Mismatch {
                kind: "missing_at_processor",
                line: None,
                processor_reference: item.reference.clone(),
                batch_id: Some(item.batch_id.clone()),
                item_id: Some(item.item_id.clone()),
                ledger_amount: Some(item.amount),
                report_amount: None,
            });
        }
    }
    out
}

/// The reconciliation report written for one processor report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReconciliationReport {
    pub format: &'static str,
    pub run_id: String,
    pub tenant_id: String,
    pub processor: Processor,
    /// The processor report's key and SHA-256.
    pub source: String,
    pub source_sha256: String,
    pub generated_at: DateTime<Utc>,
    /// `reconciled`, `mismatches`, or `quarantined`.
    pub status: &'static str,
    pub rejection: Option<Rejection>,
    pub other_lines: usize,
    #[serde(flatten)]
    pub matching: Matching,
    pub trial_balance: Vec<TrialBalanceLine>,
}

/// Where a report's reconciliation is written.
pub fn report_key(
    tenant_id: &TenantId,
    processor: Processor,
    run_id: &str,
    quarantined: bool,
) -> String {
    let folder = if quarantined { "quarantine" } else { "reports" };
    format!(
        "reconciliation/{tenant_id}/{}/{folder}/{run_id}.json",
        processor.as_str()
    )
}

/// Reads `reports/{tenant}/{processor}/{file}`: who it belongs to and whose
/// format it is.
pub fn source_of(key: &str) -> Result<(TenantId, Processor), ReportError> {
    let invalid = |why: &str| ReportError::Invalid(format!("report key {key:?}: {why}"));
    let mut parts = key.split('/');
    if parts.next() != Some("reports") {
        return Err(invalid("does not start with reports/"));
    }
    let tenant =
        TenantId::new(parts.next().unwrap_or_default()).map_err(|e| invalid(&e.to_string()))?;
    let processor = match parts.next() {
        Some("stripe") => Processor::Stripe,
        Some("paypal") => Processor::Paypal,
        Some("sepa") => Processor::Sepa,
        _ => return Err(invalid("the third segment must be stripe, paypal or sepa")),
    };
    if parts.next().is_none_or(str::is_empty) {
        return Err(invalid("names no file"));
    }
    Ok((tenant, processor))
}

/// Reconciles one processor report: parse it whole, match it, add the
/// trial balance, write the report (once: a run id is the report's hash),
/// and record every mismatch as a `reconciliation.mismatch_found` event.
/// Running the same report again writes and records nothing new.
pub async fn reconcile_report<S, R>(
    store: &S,
    reads: &R,
    files: &FileStore,
    source_key: &str,
    bytes: &[u8],
    now: DateTime<Utc>,
) -> Result<ReconciliationReport, ReportError>
where
    S: EventStore + ?Sized,
    R: LedgerReads + ?Sized,
{
    let (tenant_id, processor) = source_of(source_key)?;
    let source_sha256 = sha256_hex(bytes);
    let run_id = format!("rr-{}", &source_sha256[..16]);
    let trial = trial_balance(reads, &tenant_id).await?;
    let (status, rejection, matching, other_lines) = match parse_report(processor, bytes) {
        Err(rejection) => ("quarantined", Some(rejection), Matching::default(), 0),
        Ok(parsed) => {
            let items = ledger_items(store, &tenant_id, processor).await?;
            let matching = match_report(&parsed, &items);
            let status = if matching.mismatches.is_empty() {
                "reconciled"
            } else {
                "mismatches"
            };
            (status, None, matching, parsed.other_lines)
        }
    };
    let report = ReconciliationReport {
        format: "reconciliation-report/1",
        run_id: run_id.clone(),
        tenant_id: tenant_id.to_string(),
        processor,
        source: source_key.to_owned(),
        source_sha256,
        generated_at: now,
        status,
        rejection,
        other_lines,
        matching,
        trial_balance: trial,
    };
    // Events first: if writing the report fails, a rerun finds them and
    // writes the report; if the events fail, nothing is written.
    record_mismatches(
        store,
        &tenant_id,
        processor,
        source_key,
        &run_id,
        &report.matching.mismatches,
        now,
    )
    .await?;
    let key = report_key(&tenant_id, processor, &run_id, status == "quarantined");
    let body =
        serde_json::to_vec_pretty(&report).map_err(|e| ReportError::Invalid(e.to_string()))?;
    files.create(&key, "application/json", body).await?;
    Ok(report)
}

/// The most mismatch events appended in one request.
const EVENTS_PER_APPEND: usize = 50;

async fn record_mismatches<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
    processor: Processor,
    source_key: &str,
    run_id: &str,
    mismatches: &[Mismatch],
    now: DateTime<Utc>,
) -> Result<(), ReportError> {
    if mismatches.is_empty() {
        return Ok(());
    }
    let run = ReconciliationRunId::new(run_id).map_err(|e| ReportError::Invalid(e.to_string()))?;
    let stream = StreamId::new(stream_name(tenant_id, AggregateRef::Reconciliation(&run)))?;
    let actor = Actor::new(ActorKind::Scheduler, "reconcile")
        .map_err(|e| ReportError::Invalid(e.to_string()))?;
    let recorded = ledger_app::load(store, &stream).await.map_err(app)?.len();
    for (chunk_index, chunk) in mismatches.chunks(EVENTS_PER_APPEND).enumerate() {
        let first = chunk_index * EVENTS_PER_APPEND;
        if first + chunk.len() <= recorded {
            continue; // recorded by an earlier run of this report
        }
        let events: Vec<Event> = chunk
            .iter()
            .map(|m| {
                Event::new(
                    tenant_id.clone(),
                    actor.clone(),
                    now,
                    now,
                    EventBody::ReconciliationMismatchFound(ReconciliationMismatchFound {
                        run_id: run.clone(),
                        processor,
                        kind: m.kind.to_owned(),
                        report: source_key.chars().take(200).collect(),
                        line: m.line,
                        processor_reference: m
                            .processor_reference
                            .as_ref()
                            .map(|r| r.chars().take(200).collect()),
                        batch_id: m.batch_id.clone(),
                        item_id: m.item_id.clone(),
                        ledger_amount: m.ledger_amount,
                        report_amount: m.report_amount,
                    }),
                )
            })
            .collect();
        let request = AppendRequest::from_domain(first as u64, &events)?;
        match store.append(request).await {
            Ok(_) => {}
            // A concurrent run of the same report recorded it.
            Err(event_store::StoreError::VersionConflict { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    register_run(
        store,
        tenant_id,
        &actor,
        processor,
        source_key,
        &run,
        mismatches.len(),
        now,
    )
    .await
}

/// Adds the run to the tenant's list of runs with mismatches, once.
#[allow(clippy::too_many_arguments)]
async fn register_run<S: EventStore + ?Sized>(
    store: &S,
    tenant_id: &TenantId,
    actor: &Actor,
    processor: Processor,
    source_key: &str,
    run: &ReconciliationRunId,
    mismatches: usize,
    now: DateTime<Utc>,
) -> Result<(), ReportError> {
    let stream = StreamId::new(stream_name(tenant_id, AggregateRef::ReconciliationRuns))?;
    for _ in 0..5 {
        let known = ledger_app::load(store, &stream).await.map_err(app)?;
        if known.iter().any(
            |e| matches!(e.body(), EventBody::ReconciliationRunRecorded(r) if &r.run_id == run),
        ) {
            return Ok(());
        }
        let event = Event::new(
            tenant_id.clone(),
            actor.clone(),
            now,
            now,
            EventBody::ReconciliationRunRecorded(ReconciliationRunRecorded {
                run_id: run.clone(),
                processor,
                report: source_key.chars().take(200).collect(),
                mismatches: mismatches as u64,
            }),
        );
        let request = AppendRequest::from_domain(known.len() as u64, &[event])?;
        match store.append(request).await {
            Ok(_) => return Ok(()),
            // Another run registered meanwhile: look again.
            Err(event_store::StoreError::VersionConflict { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ReportError::Invalid(
        "the list of reconciliation runs kept changing".to_owned(),
    ))
}
