//! The processors of one deployment: the payout adapters configured from
//! the environment, and every processor's settlement-report parser. A new
//! processor is its folder plus its lines here.

use std::path::PathBuf;
use std::sync::Arc;

use ledger_app::payouts::{ProcessorPorts, ProcessorRegistry};
use ledger_app::reports::{ReportParser, ReportParsers};
use ledger_domain::Processor;

use crate::paypal::{PAYPAL_LIVE, PaypalPayouts, PaypalSettlementReport};
use crate::sandbox::{NoSandboxReports, Sandbox};
use crate::sepa::{Camt053Statement, Debtor, FileStore, SepaFiles};
use crate::stripe::{StripeBalanceReport, StripeTransfers};

/// The configured adapters; a processor left unconfigured fails its items
/// with a clear reason (their money goes back to available).
#[derive(Default)]
pub struct Processors {
    pub sandbox: Option<Arc<Sandbox>>,
    pub stripe: Option<StripeTransfers>,
    pub paypal: Option<PaypalPayouts>,
    pub sepa: Option<SepaFiles>,
}

impl std::fmt::Debug for Processors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Processors")
            .field("sandbox", &self.sandbox.is_some())
            .field("stripe", &self.stripe.is_some())
            .field("paypal", &self.paypal.is_some())
            .field("sepa", &self.sepa.is_some())
            .finish()
    }
}

impl ProcessorRegistry for Processors {
    fn ports(&self, processor: Processor) -> Option<ProcessorPorts<'_>> {
        match processor {
            Processor::Sandbox => self.sandbox.as_deref().map(|s| ProcessorPorts::Api {
                submit: s,
                status: s,
            }),
            Processor::Stripe => self.stripe.as_ref().map(|s| ProcessorPorts::Api {
                submit: s,
                status: s,
            }),
            Processor::Paypal => self.paypal.as_ref().map(|p| ProcessorPorts::Api {
                submit: p,
                status: p,
            }),
            Processor::Sepa => self
                .sepa
                .as_ref()
                .map(|s| ProcessorPorts::File(s as &dyn ledger_app::payouts::SubmitBatchFile)),
        }
    }
}

/// The settlement-report parser of `processor` (they need no
/// configuration): Stripe's balance change from activity CSV, PayPal's
/// settlement report (STL), the bank's camt.053 for SEPA; the sandbox's
/// rejects every file.
pub fn report_parser(processor: Processor) -> &'static dyn ReportParser {
    match processor {
        Processor::Stripe => &StripeBalanceReport,
        Processor::Paypal => &PaypalSettlementReport,
        Processor::Sepa => &Camt053Statement,
        Processor::Sandbox => &NoSandboxReports,
    }
}

/// Every processor's report parser, as the reconciliation use case's port.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessorReports;

impl ReportParsers for ProcessorReports {
    fn report_parser(&self, processor: Processor) -> Option<&dyn ReportParser> {
        Some(report_parser(processor))
    }
}

/// The configured deployment parses reports as [`ProcessorReports`] does.
impl ReportParsers for Processors {
    fn report_parser(&self, processor: Processor) -> Option<&dyn ReportParser> {
        Some(report_parser(processor))
    }
}

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Processors {
    /// Reads the configuration:
    /// - `SANDBOX_PROCESSOR=enabled`;
    /// - `STRIPE_SECRET_KEY` (and `STRIPE_API_BASE` for a test server);
    /// - `PAYPAL_CLIENT_ID`, `PAYPAL_SECRET` (and `PAYPAL_API_BASE`);
    /// - `SEPA_DEBTOR_NAME`, `SEPA_DEBTOR_IBAN`, `SEPA_DEBTOR_BIC` (optional),
    ///   with `SEPA_FILES_BUCKET` (and the S3 client given) or `SEPA_FILES_DIR`.
    pub fn from_env(s3: Option<aws_sdk_s3::Client>) -> Result<Self, String> {
        let mut processors = Processors::default();
        if var("SANDBOX_PROCESSOR").as_deref() == Some("enabled") {
            processors.sandbox = Some(Arc::new(Sandbox::new()));
        }
        if let Some(key) = var("STRIPE_SECRET_KEY") {
            processors.stripe = Some(
                StripeTransfers::new(&key, var("STRIPE_API_BASE").as_deref())
                    .map_err(|e| e.to_string())?,
            );
        }
        if let (Some(id), Some(secret)) = (var("PAYPAL_CLIENT_ID"), var("PAYPAL_SECRET")) {
            let base = var("PAYPAL_API_BASE").unwrap_or_else(|| PAYPAL_LIVE.to_owned());
            processors.paypal =
                Some(PaypalPayouts::new(&base, &id, &secret).map_err(|e| e.to_string())?);
        }
        if let (Some(name), Some(iban)) = (var("SEPA_DEBTOR_NAME"), var("SEPA_DEBTOR_IBAN")) {
            let debtor = Debtor::new(&name, &iban, var("SEPA_DEBTOR_BIC").as_deref())?;
            let store = match (var("SEPA_FILES_BUCKET"), var("SEPA_FILES_DIR"), s3) {
                (Some(bucket), _, Some(client)) => FileStore::S3 { client, bucket },
                (None, Some(dir), _) => FileStore::Directory(PathBuf::from(dir)),
                _ => {
                    return Err(
                        "SEPA needs SEPA_FILES_BUCKET (with S3) or SEPA_FILES_DIR".to_owned()
                    );
                }
            };
            processors.sepa = Some(SepaFiles::new(debtor, store));
        }
        Ok(processors)
    }
}
