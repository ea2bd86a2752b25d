//! The ISO 20022 element shapes the SEPA readers share, deserialized with
//! serde (quick-xml matches elements by local name, so a namespace prefix
//! makes no difference), and the one call that reads a document.

use serde::Deserialize;
use serde::de::DeserializeOwned;

/// An amount: `<Amt Ccy="EUR">12.50</Amt>`, kept as written.
#[derive(Debug, Deserialize, Default, Clone)]
pub(crate) struct Amount {
    #[serde(rename = "@Ccy", default)]
    pub currency: String,
    #[serde(rename = "$text", default)]
    pub value: String,
}

impl Amount {
    /// The amount's text and currency code, as written.
    pub fn pair(self) -> (String, String) {
        (self.value, self.currency)
    }
}

/// An element that only wraps an amount (`<TxAmt><Amt …/></TxAmt>`).
#[derive(Debug, Deserialize)]
pub(crate) struct AmountHolder {
    #[serde(rename = "Amt")]
    pub amount: Amount,
}

/// A transaction's amount details (`AmtDtls`).
#[derive(Debug, Deserialize, Default)]
pub(crate) struct AmountDetails {
    #[serde(rename = "InstdAmt")]
    pub instructed: Option<AmountHolder>,
    #[serde(rename = "TxAmt")]
    pub transaction: Option<AmountHolder>,
}

/// An entry status: `<Sts>BOOK</Sts>` (camt up to .001.07) or
/// `<Sts><Cd>BOOK</Cd></Sts>` (.001.08 on).
#[derive(Debug, Deserialize)]
pub(crate) struct EntryStatus {
    #[serde(rename = "$text")]
    text: Option<String>,
    #[serde(rename = "Cd")]
    code: Option<String>,
}

impl EntryStatus {
    pub fn code(self) -> Option<String> {
        self.code.or(self.text)
    }
}

/// A reason (`StsRsnInf` or `RtrInf`): its `Rsn/Cd`.
#[derive(Debug, Deserialize)]
pub(crate) struct ReasonInfo {
    #[serde(rename = "Rsn")]
    reason: Option<Code>,
}

impl ReasonInfo {
    pub fn code(&self) -> Option<String> {
        self.reason.as_ref().and_then(|r| r.code.clone())
    }
}

#[derive(Debug, Deserialize)]
struct Code {
    #[serde(rename = "Cd")]
    code: Option<String>,
}

/// An account (`CdtrAcct`): its `Id/IBAN`.
#[derive(Debug, Deserialize)]
pub(crate) struct Account {
    #[serde(rename = "Id")]
    id: Option<AccountId>,
}

impl Account {
    pub fn iban(self) -> Option<String> {
        self.id.and_then(|id| id.iban)
    }
}

#[derive(Debug, Deserialize)]
struct AccountId {
    #[serde(rename = "IBAN")]
    iban: Option<String>,
}

/// Why a document could not be read.
#[derive(Debug)]
pub(crate) enum XmlError {
    /// Not UTF-8, not well-formed, or it ends early.
    Broken(String),
    /// Well-formed, but not the document expected.
    Shape(String),
}

impl std::fmt::Display for XmlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            XmlError::Broken(reason) | XmlError::Shape(reason) => f.write_str(reason),
        }
    }
}

/// The name of the document's root element, read before the document is
/// deserialized (serde does not look at it).
fn root_name(text: &str) -> Result<String, XmlError> {
    use quick_xml::events::Event as Xml;
    let mut reader = quick_xml::Reader::from_str(text);
    loop {
        match reader.read_event() {
            Ok(Xml::Start(start) | Xml::Empty(start)) => {
                return Ok(String::from_utf8_lossy(start.local_name().as_ref()).into_owned());
            }
            Ok(Xml::Eof) => return Err(XmlError::Broken("the XML has no root element".into())),
            Ok(_) => {}
            Err(e) => {
                return Err(XmlError::Broken(format!(
                    "the XML breaks at byte {}: {e}",
                    reader.buffer_position()
                )));
            }
        }
    }
}

/// Reads an ISO 20022 `<Document>` into `T`.
pub(crate) fn read_document<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, XmlError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|e| XmlError::Broken(format!("the file is not UTF-8: {e}")))?;
    let root = root_name(text)?;
    if root != "Document" {
        return Err(XmlError::Shape(format!(
            "root element is {root}, not Document"
        )));
    }
    quick_xml::de::from_str(text).map_err(|e| {
        use quick_xml::DeError;
        match e {
            DeError::UnexpectedEof | DeError::InvalidXml(_) => {
                XmlError::Broken(format!("the XML ends or breaks: {e}"))
            }
            other => XmlError::Shape(other.to_string()),
        }
    })
}
