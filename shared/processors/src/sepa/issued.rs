//! Reading back the pain.001 files this system wrote: their end-to-end
//! ids, their transfers, and the message a status file names (directly or
//! through the message index).

use ledger_app::payouts::ProcessorError;
use ledger_domain::money::currency_from_code;
use ledger_domain::{Currency, Money, PayoutBatchId, TenantId};
use quick_xml::events::Event;

use super::FileStore;
use super::scheme::{SEPA_ID_LEN_MAX, sepa_id, store_error};

/// The end-to-end ids of a pain.001 document.
pub fn end_to_end_ids(xml: &[u8]) -> Result<Vec<String>, ProcessorError> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut ids = Vec::new();
    let mut inside = false;
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Ok(Event::Start(e)) if e.local_name().as_ref() == b"EndToEndId" => inside = true,
            Ok(Event::End(e)) if e.local_name().as_ref() == b"EndToEndId" => inside = false,
            Ok(Event::Text(t)) if inside => ids.push(
                t.decode()
                    .map_err(|e| ProcessorError::Invalid(format!("pain.001: {e}")))?
                    .into_owned(),
            ),
            Ok(Event::Eof) => return Ok(ids),
            Ok(_) => {}
            Err(e) => return Err(ProcessorError::Invalid(format!("pain.001: {e}"))),
        }
        buf.clear();
    }
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

/// Whether the element path ends with `suffix` (local names).
/// An amount element's `Ccy` attribute, if it has one.
pub(crate) fn currency_attribute(e: &quick_xml::events::BytesStart<'_>) -> Option<String> {
    e.try_get_attribute("Ccy")
        .ok()
        .flatten()
        .map(|a| String::from_utf8_lossy(&a.value).into_owned())
}

pub(crate) fn ends_with(path: &[String], suffix: &[&str]) -> bool {
    path.len() >= suffix.len()
        && path[path.len() - suffix.len()..]
            .iter()
            .zip(suffix)
            .all(|(a, b)| a == b)
}

/// Reads a pain.001 document back: its message id and every transfer
/// (end-to-end id, instructed amount and currency, creditor IBAN).
pub fn read_pain_001(xml: &[u8]) -> Result<(String, Vec<IssuedTransfer>), ProcessorError> {
    let invalid = |what: String| ProcessorError::Invalid(format!("pain.001: {what}"));
    let mut reader = quick_xml::Reader::from_reader(xml);
    reader.config_mut().trim_text(true);
    let mut path: Vec<String> = Vec::new();
    let mut message_id = None;
    let mut transfers = Vec::new();
    // (end-to-end id, amount text, currency, IBAN) of the transfer being read.
    let mut current: (
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
    ) = Default::default();
    let mut currency = None;
    let mut buf = Vec::new();
    loop {
        match reader
            .read_event_into(&mut buf)
            .map_err(|e| invalid(e.to_string()))?
        {
            Event::Start(e) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "CdtTrfTxInf" {
                    current = Default::default();
                }
                if name == "InstdAmt" {
                    currency = currency_attribute(&e);
                }
                path.push(name);
            }
            Event::End(_) => {
                let closed = path.pop();
                if closed.as_deref() == Some("CdtTrfTxInf") {
                    let (Some(id), Some(amount), Some(code), Some(iban)) =
                        std::mem::take(&mut current)
                    else {
                        return Err(invalid(
                            "a transfer without end-to-end id, amount, currency or IBAN".into(),
                        ));
                    };
                    let ccy = currency_from_code(&code).map_err(|e| invalid(e.to_string()))?;
                    let amount = Money::parse(&amount, ccy).map_err(|e| invalid(e.to_string()))?;
                    transfers.push(IssuedTransfer {
                        end_to_end_id: id,
                        amount,
                        iban,
                    });
                }
            }
            Event::Text(t) => {
                let text = t.decode().map_err(|e| invalid(e.to_string()))?.into_owned();
                let at = |suffix: &[&str]| ends_with(&path, suffix);
                if at(&["GrpHdr", "MsgId"]) {
                    message_id = Some(text);
                } else if at(&["PmtId", "EndToEndId"]) {
                    current.0 = Some(text);
                } else if at(&["Amt", "InstdAmt"]) {
                    current.1 = Some(text);
                    current.2 = currency.take();
                } else if at(&["CdtrAcct", "Id", "IBAN"]) {
                    current.3 = Some(text);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let message_id = message_id.ok_or_else(|| invalid("no GrpHdr/MsgId".into()))?;
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
