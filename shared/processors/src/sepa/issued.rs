//! Reading back the pain.001 files this system wrote: their end-to-end
//! ids, their transfers, and the message a status file names (directly or
//! through the message index).

use ledger_app::payouts::ProcessorError;
use ledger_domain::money::currency_from_code;
use ledger_domain::{Currency, Money, PayoutBatchId, TenantId};
use serde::Deserialize;

use super::FileStore;
use super::scheme::{SEPA_ID_LEN_MAX, sepa_id, store_error};
use super::xml::{Account, Amount, read_document};

/// The end-to-end ids of a pain.001 document this system wrote.
pub fn end_to_end_ids(xml: &[u8]) -> Result<Vec<String>, ProcessorError> {
    let (_, transfers) = read_pain_001(xml)?;
    Ok(transfers.into_iter().map(|t| t.end_to_end_id).collect())
}

/// One credit transfer of a pain.001 this system wrote, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedTransfer {
    pub end_to_end_id: String,
    pub amount: Money,
    /// The creditor's IBAN.
    pub iban: String,
}

/// A pain.001 message this system wrote: where it is kept, the batch it
/// pays, and its transfers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedMessage {
    pub key: String,
    pub tenant_id: TenantId,
    pub batch_id: PayoutBatchId,
    pub message_id: String,
    pub transfers: Vec<IssuedTransfer>,
}

impl IssuedMessage {
    pub fn transfer(&self, end_to_end_id: &str) -> Option<&IssuedTransfer> {
        self.transfers
            .iter()
            .find(|t| t.end_to_end_id == end_to_end_id)
    }

    /// The sum of the transfers (`CtrlSum`); `None` on overflow.
    pub fn control_sum(&self) -> Option<Money> {
        let first = self.transfers.first()?;
        self.transfers[1..]
            .iter()
            .try_fold(first.amount, |sum, t| sum.checked_add(&t.amount).ok())
    }
}

/// The message id of the file kept at `key`.
pub fn message_id_of(key: &str) -> String {
    sepa_id(key.trim_start_matches("sepa/").trim_end_matches(".xml"))
}

/// Where a message id that is a digest is indexed: the file holds the key
/// of the pain.001 it names.
pub fn message_index_key(message_id: &str) -> String {
    format!("sepa/message-index/{message_id}.txt")
}

/// The tenant, batch and currency of a pain.001 key
/// (`sepa/{tenant}/{batch}/pain.001-{currency}.xml`).
pub fn batch_of_key(key: &str) -> Option<(TenantId, PayoutBatchId, Currency)> {
    let mut parts = key.strip_prefix("sepa/")?.split('/');
    let (tenant, batch, file) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let code = file.strip_prefix("pain.001-")?.strip_suffix(".xml")?;
    Some((
        TenantId::new(tenant).ok()?,
        PayoutBatchId::new(batch).ok()?,
        currency_from_code(code).ok()?,
    ))
}

/// The parts of a pain.001 read back; names are the schema's.
#[derive(Deserialize)]
struct Pain001Document {
    #[serde(rename = "CstmrCdtTrfInitn")]
    initiation: Option<Initiation>,
}

#[derive(Deserialize)]
struct Initiation {
    #[serde(rename = "GrpHdr")]
    header: Option<GroupHeader>,
    #[serde(rename = "PmtInf", default)]
    payments: Vec<PaymentInformation>,
}

#[derive(Deserialize)]
struct GroupHeader {
    #[serde(rename = "MsgId")]
    message_id: Option<String>,
}

#[derive(Deserialize)]
struct PaymentInformation {
    #[serde(rename = "CdtTrfTxInf", default)]
    transfers: Vec<CreditTransfer>,
}

#[derive(Deserialize)]
struct CreditTransfer {
    #[serde(rename = "PmtId")]
    payment_id: Option<PaymentId>,
    #[serde(rename = "Amt")]
    amount: Option<InstructedAmount>,
    #[serde(rename = "CdtrAcct")]
    creditor_account: Option<Account>,
}

#[derive(Deserialize)]
struct PaymentId {
    #[serde(rename = "EndToEndId")]
    end_to_end_id: Option<String>,
}

#[derive(Deserialize)]
struct InstructedAmount {
    #[serde(rename = "InstdAmt")]
    instructed: Option<Amount>,
}

/// Reads a pain.001 document back: its message id and every transfer
/// (end-to-end id, instructed amount and currency, creditor IBAN).
pub fn read_pain_001(xml: &[u8]) -> Result<(String, Vec<IssuedTransfer>), ProcessorError> {
    let invalid = |what: String| ProcessorError::Invalid(format!("pain.001: {what}"));
    let document: Pain001Document = read_document(xml).map_err(|e| invalid(e.to_string()))?;
    let initiation = document
        .initiation
        .ok_or_else(|| invalid("no CstmrCdtTrfInitn".into()))?;
    let message_id = initiation
        .header
        .and_then(|h| h.message_id)
        .ok_or_else(|| invalid("no GrpHdr/MsgId".into()))?;
    let transfers = initiation
        .payments
        .into_iter()
        .flat_map(|p| p.transfers)
        .map(|t| {
            let id = t.payment_id.and_then(|p| p.end_to_end_id);
            let amount = t.amount.and_then(|a| a.instructed);
            let iban = t.creditor_account.and_then(Account::iban);
            let (Some(id), Some(amount), Some(iban)) = (id, amount, iban) else {
                return Err(invalid(
                    "a transfer without end-to-end id, amount, currency or IBAN".into(),
                ));
            };
            let ccy = currency_from_code(&amount.currency).map_err(|e| invalid(e.to_string()))?;
            let amount = Money::parse(&amount.value, ccy).map_err(|e| invalid(e.to_string()))?;
            Ok(IssuedTransfer {
                end_to_end_id: id,
                amount,
                iban,
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((message_id, transfers))
}

/// The pain.001 this system wrote under `message_id`, if it wrote one:
/// found by the id itself (`tenant/batch/pain.001-EUR` is the file's key)
/// or through the index (digest ids), and read back whole. The file must
/// carry that message id. `None` for a message this system never issued.
pub async fn issued_message(
    store: &FileStore,
    message_id: &str,
) -> Result<Option<IssuedMessage>, ProcessorError> {
    let direct = format!("sepa/{message_id}.xml");
    let key = if file_store::check_key(&direct).is_ok() && batch_of_key(&direct).is_some() {
        Some(direct)
    } else if message_id.len() == SEPA_ID_LEN_MAX
        && message_id.bytes().all(|b| b.is_ascii_hexdigit())
    {
        store
            .read(&message_index_key(message_id))
            .await
            .map_err(store_error)?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map(|key| key.trim().to_owned())
    } else {
        None
    };
    let Some(key) = key.filter(|k| file_store::check_key(k).is_ok()) else {
        return Ok(None);
    };
    let Some((tenant_id, batch_id, _)) = batch_of_key(&key) else {
        return Ok(None);
    };
    if message_id_of(&key) != message_id {
        return Ok(None);
    }
    let Some(bytes) = store.read(&key).await.map_err(store_error)? else {
        return Ok(None);
    };
    let (written, transfers) = read_pain_001(&bytes)?;
    if written != message_id {
        return Ok(None);
    }
    Ok(Some(IssuedMessage {
        key,
        tenant_id,
        batch_id,
        message_id: written,
        transfers,
    }))
}
