//! SEPA credit transfers: one ISO 20022 `pain.001.001.03` file per batch
//! and currency (EUR), handed to the bank through S3 or a local directory.
//!
//! The file is written once and never overwritten (a conditional put): the
//! first of a batch's SEPA items to be dispatched writes it for all of them,
//! the others read it back and find their end-to-end id in it. Every field
//! is checked against the scheme's rules before anything is written: IBAN
//! checksum and format, BIC format, amounts (EUR, 0.01 to 999999999.99,
//! two decimals), identifiers of at most 35 characters. Names are kept as
//! the payee gave them and written in their EPC conversion to the SEPA
//! character set (`Ute Müller & Söhne` -> `Ute Mueller + Soehne`, see
//! `ledger_domain::sepa_text`).
//!
//! A message id that is a digest (tenant and batch too long for the 35
//! characters of `MsgId`) is indexed under `sepa/message-index/`, so a
//! status file naming it finds the file it answers ([`super::issued_message`]).

use async_trait::async_trait;
use chrono::{Datelike, Duration, NaiveDate, Utc, Weekday};
use ledger_app::payouts::{PaymentOrder, ProcessorError, SubmitBatchFile};
use ledger_domain::profile::{check_bic, check_iban};
use ledger_domain::sepa_text::{sepa_name, to_sepa_latin};
use ledger_domain::{Currency, PayoutBatchId, PayoutMethod, TenantId};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use super::issued::{end_to_end_ids, message_id_of, message_index_key};
use super::scheme::store_error;
pub use super::scheme::{SEPA_ID_LEN_MAX, sepa_id};

/// The pain.001 version written.
pub const PAIN_001_NAMESPACE: &str = "urn:iso:std:iso:20022:tech:xsd:pain.001.001.03";

/// The account payouts are paid from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Debtor {
    pub name: String,
    pub iban: String,
    pub bic: Option<String>,
}

impl Debtor {
    pub fn new(name: &str, iban: &str, bic: Option<&str>) -> Result<Self, String> {
        let iban = check_iban(iban).map_err(|e| format!("debtor: {e}"))?;
        if let Some(bic) = bic {
            check_bic(bic).map_err(|e| format!("debtor: {e}"))?;
        }
        // Written as the file carries it: the EPC conversion.
        let name = sepa_name(name).map_err(|e| format!("debtor name {e}"))?;
        Ok(Debtor {
            name,
            iban,
            bic: bic.map(str::to_owned),
        })
    }
}

pub use file_store::FileStore;

/// SEPA credit transfer files.
#[derive(Debug, Clone)]
pub struct SepaFiles {
    debtor: Debtor,
    store: FileStore,
}

/// The next weekday after `date` (TARGET2 holidays are the bank's to shift).
fn next_business_day(date: NaiveDate) -> NaiveDate {
    let mut d = date + Duration::days(1);
    while matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
        d += Duration::days(1);
    }
    d
}

/// One transfer as it goes in the file.
struct Transfer {
    end_to_end_id: String,
    amount: String,
    name: String,
    iban: String,
    bic: Option<String>,
    remittance: String,
}

fn transfer(order: &PaymentOrder) -> Result<Transfer, String> {
    let PayoutMethod::Sepa {
        iban,
        bic,
        account_holder,
    } = &order.method
    else {
        return Err("not a SEPA payout method".to_owned());
    };
    if order.amount.currency() != Currency::EUR {
        return Err(format!(
            "SEPA credit transfers are in EUR, not {}",
            order.amount.currency().code()
        ));
    }
    let minor = order.amount.amount_minor();
    if !(1..=99_999_999_999).contains(&minor) {
        return Err(format!(
            "amount {} is outside 0.01 to 999999999.99",
            order.amount.amount()
        ));
    }
    let iban = check_iban(iban).map_err(|e| e.to_string())?;
    if let Some(bic) = bic {
        check_bic(bic).map_err(|e| e.to_string())?;
    }
    // The name as given, written in its EPC conversion.
    let name = sepa_name(account_holder).map_err(|e| format!("account holder {e}"))?;
    let remittance = format!("Affiliate payout {}", order.item_id);
    Ok(Transfer {
        end_to_end_id: sepa_id(order.item_id.as_str()),
        amount: format!("{}.{:02}", minor / 100, minor % 100),
        name,
        iban,
        bic: bic.clone(),
        // Item ids are ASCII; the conversion maps the few characters
        // outside the set (`_` -> `-`).
        remittance: to_sepa_latin(&remittance).unwrap_or(remittance),
    })
}

type XmlResult = Result<(), std::io::Error>;

fn text(w: &mut Writer<Vec<u8>>, name: &str, value: &str) -> XmlResult {
    w.write_event(Event::Start(BytesStart::new(name)))?;
    w.write_event(Event::Text(BytesText::new(value)))?;
    w.write_event(Event::End(BytesEnd::new(name)))?;
    Ok(())
}

fn open(w: &mut Writer<Vec<u8>>, name: &str) -> XmlResult {
    w.write_event(Event::Start(BytesStart::new(name)))?;
    Ok(())
}

fn close(w: &mut Writer<Vec<u8>>, name: &str) -> XmlResult {
    w.write_event(Event::End(BytesEnd::new(name)))?;
    Ok(())
}

fn agent(w: &mut Writer<Vec<u8>>, name: &str, bic: Option<&str>) -> XmlResult {
    open(w, name)?;
    open(w, "FinInstnId")?;
    match bic {
        Some(bic) => text(w, "BIC", bic)?,
        None => {
            open(w, "Othr")?;
            text(w, "Id", "NOTPROVIDED")?;
            close(w, "Othr")?;
        }
    }
    close(w, "FinInstnId")?;
    close(w, name)
}

fn account(w: &mut Writer<Vec<u8>>, name: &str, iban: &str) -> XmlResult {
    open(w, name)?;
    open(w, "Id")?;
    text(w, "IBAN", iban)?;
    close(w, "Id")?;
    close(w, name)
}

/// A rendered document: its bytes, the end-to-end ids it holds, and the
/// orders left out with the rule each broke.
pub type Pain001 = (Vec<u8>, Vec<String>, Vec<(String, String)>);

/// Renders a pain.001.001.03 document. Orders that break a scheme rule
/// are left out and returned with the reason.
pub fn pain_001(
    debtor: &Debtor,
    message_id: &str,
    created: chrono::DateTime<Utc>,
    orders: &[PaymentOrder],
) -> Result<Pain001, ProcessorError> {
    let mut transfers = Vec::new();
    let mut refused = Vec::new();
    for order in orders {
        match transfer(order) {
            Ok(t) => transfers.push(t),
            Err(reason) => refused.push((order.item_id.to_string(), reason)),
        }
    }
    let count = transfers.len();
    let sum_minor: i64 = transfers
        .iter()
        .map(|t| {
            let (units, cents) = t.amount.split_once('.').unwrap_or((&t.amount, "0"));
            units.parse::<i64>().unwrap_or(0) * 100 + cents.parse::<i64>().unwrap_or(0)
        })
        .sum();
    let control_sum = format!("{}.{:02}", sum_minor / 100, sum_minor % 100);
    let io = |e: std::io::Error| ProcessorError::Invalid(format!("pain.001: {e}"));
    let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(io)?;
    let mut doc = BytesStart::new("Document");
    doc.push_attribute(("xmlns", PAIN_001_NAMESPACE));
    doc.push_attribute(("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"));
    w.write_event(Event::Start(doc)).map_err(io)?;
    let body = |w: &mut Writer<Vec<u8>>| -> XmlResult {
        open(w, "CstmrCdtTrfInitn")?;
        open(w, "GrpHdr")?;
        text(w, "MsgId", message_id)?;
        text(
            w,
            "CreDtTm",
            &created.format("%Y-%m-%dT%H:%M:%S").to_string(),
        )?;
        text(w, "NbOfTxs", &count.to_string())?;
        text(w, "CtrlSum", &control_sum)?;
        open(w, "InitgPty")?;
        text(w, "Nm", &debtor.name)?;
        close(w, "InitgPty")?;
        close(w, "GrpHdr")?;
        open(w, "PmtInf")?;
        text(w, "PmtInfId", message_id)?;
        text(w, "PmtMtd", "TRF")?;
        text(w, "BtchBookg", "true")?;
        text(w, "NbOfTxs", &count.to_string())?;
        text(w, "CtrlSum", &control_sum)?;
        open(w, "PmtTpInf")?;
        open(w, "SvcLvl")?;
        text(w, "Cd", "SEPA")?;
        close(w, "SvcLvl")?;
        close(w, "PmtTpInf")?;
        text(
            w,
            "ReqdExctnDt",
            &next_business_day(created.date_naive()).to_string(),
        )?;
        open(w, "Dbtr")?;
        text(w, "Nm", &debtor.name)?;
        close(w, "Dbtr")?;
        account(w, "DbtrAcct", &debtor.iban)?;
        agent(w, "DbtrAgt", debtor.bic.as_deref())?;
        text(w, "ChrgBr", "SLEV")?;
        for t in &transfers {
            open(w, "CdtTrfTxInf")?;
            open(w, "PmtId")?;
            text(w, "EndToEndId", &t.end_to_end_id)?;
            close(w, "PmtId")?;
            open(w, "Amt")?;
            let mut amt = BytesStart::new("InstdAmt");
            amt.push_attribute(("Ccy", "EUR"));
            w.write_event(Event::Start(amt))?;
            w.write_event(Event::Text(BytesText::new(&t.amount)))?;
            close(w, "InstdAmt")?;
            close(w, "Amt")?;
            if let Some(bic) = &t.bic {
                agent(w, "CdtrAgt", Some(bic))?;
            }
            open(w, "Cdtr")?;
            text(w, "Nm", &t.name)?;
            close(w, "Cdtr")?;
            account(w, "CdtrAcct", &t.iban)?;
            open(w, "RmtInf")?;
            text(w, "Ustrd", &t.remittance)?;
            close(w, "RmtInf")?;
            close(w, "CdtTrfTxInf")?;
        }
        close(w, "PmtInf")?;
        close(w, "CstmrCdtTrfInitn")?;
        close(w, "Document")
    };
    body(&mut w).map_err(io)?;
    let ids = transfers.into_iter().map(|t| t.end_to_end_id).collect();
    Ok((w.into_inner(), ids, refused))
}

impl SepaFiles {
    pub fn new(debtor: Debtor, store: FileStore) -> Self {
        SepaFiles { debtor, store }
    }

    /// Where the files are kept (status files are checked against them).
    pub fn store(&self) -> &FileStore {
        &self.store
    }
}

#[async_trait]
impl SubmitBatchFile for SepaFiles {
    fn file_key(
        &self,
        tenant_id: &TenantId,
        batch_id: &PayoutBatchId,
        currency: Currency,
    ) -> String {
        format!(
            "sepa/{tenant_id}/{batch_id}/pain.001-{}.xml",
            currency.code()
        )
    }

    async fn payment_ids(&self, key: &str) -> Result<Option<Vec<String>>, ProcessorError> {
        match self.store.read(key).await.map_err(store_error)? {
            None => Ok(None),
            Some(bytes) => end_to_end_ids(&bytes).map(Some),
        }
    }

    async fn write(
        &self,
        key: &str,
        orders: &[PaymentOrder],
    ) -> Result<Vec<String>, ProcessorError> {
        let message_id = message_id_of(key);
        let (xml, ids, refused) = pain_001(&self.debtor, &message_id, Utc::now(), orders)?;
        for (item, reason) in &refused {
            tracing::warn!(item, reason, "left out of the SEPA file");
        }
        if ids.is_empty() {
            return Ok(ids);
        }
        // A digest names no file by itself: index it before the file is
        // written, so a status file answering it always finds it.
        if message_id != key.trim_start_matches("sepa/").trim_end_matches(".xml") {
            self.store
                .create(
                    &message_index_key(&message_id),
                    "text/plain",
                    key.as_bytes().to_vec(),
                )
                .await
                .map_err(store_error)?;
        }
        if self
            .store
            .create(key, "application/xml", xml)
            .await
            .map_err(store_error)?
        {
            Ok(ids)
        } else {
            // Another dispatcher wrote it first: its file is the one.
            self.payment_ids(key)
                .await?
                .ok_or_else(|| ProcessorError::Unknown(format!("{key} vanished")))
        }
    }

    fn payment_id(&self, order: &PaymentOrder) -> String {
        sepa_id(order.item_id.as_str())
    }
}
