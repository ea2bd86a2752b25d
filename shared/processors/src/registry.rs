//! The processors of one deployment: the payout adapters configured from
//! the environment, and every processor's settlement-report parser. A new
//! processor is its folder plus its lines here.

use std::sync::Arc;

use ledger_app::payouts::{ProcessorPorts, ProcessorRegistry};
use ledger_app::reports::{ReportParser, ReportParsers};
use ledger_domain::Processor;

use crate::credentials::{Credentials, Settings};
use crate::paypal::{PaypalPayouts, PaypalSettlementReport};
use crate::sandbox::{NoSandboxReports, Sandbox};
use crate::sepa::{Camt053Statement, SepaFiles};
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

impl Processors {
    /// The deployment's one set of processors, from the environment (see
    /// [`crate::credentials`]): `SANDBOX_PROCESSOR=enabled`,
    /// `STRIPE_SECRET_KEY` (and `STRIPE_API_BASE` for a test server),
    /// `PAYPAL_CLIENT_ID`, `PAYPAL_SECRET` (and `PAYPAL_API_BASE`),
    /// `SEPA_DEBTOR_NAME`, `SEPA_DEBTOR_IBAN`, `SEPA_DEBTOR_BIC` (optional)
    /// with `SEPA_FILES_BUCKET` (and the S3 client given) or `SEPA_FILES_DIR`.
    pub fn from_env(s3: Option<aws_sdk_s3::Client>) -> Result<Self, String> {
        Processors::build(&Settings::from_env(s3), &Credentials::from_env())
    }
}
