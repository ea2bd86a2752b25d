//! The sandbox has no settlement report: its parser rejects every file,
//! so a report filed under it is quarantined with that reason.

use crate::report::{ParsedReport, Rejection, ReportParser};

/// The sandbox's report parser: nothing is a sandbox report.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSandboxReports;

impl ReportParser for NoSandboxReports {
    fn parse(&self, _bytes: &[u8]) -> Result<ParsedReport, Rejection> {
        Err(Rejection::NotAReport {
            reason: "the sandbox has no reports".to_owned(),
        })
    }
}
