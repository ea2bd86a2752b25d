//! The files dropped into the stack's files directory: processor reports to
//! reconcile and SEPA status files to record, each moved to `done/` or
//! `failed/` once taken.

use std::path::{Path, PathBuf};

use crate::Backend;

impl Backend {
    /// Reconciles the processor reports dropped in
    /// `{files}/reports/inbox/{tenant}/{stripe|paypal|sepa}/`: each is kept
    /// under `reports/{tenant}/{processor}/` (as on S3, never replaced),
    /// reconciled, and moved to `reports/done/` (or `reports/failed/` with
    /// the reason beside it). Returns how many files it took.
    pub(crate) async fn reconcile_inbox(
        &self,
        reports: &reporting::ReportFiles,
        files_dir: &Path,
    ) -> usize {
        let inbox = files_dir.join("reports").join("inbox");
        let mut taken = 0;
        let Ok(tenants) = std::fs::read_dir(&inbox) else {
            return 0;
        };
        for tenant in tenants.flatten() {
            let Ok(processors) = std::fs::read_dir(tenant.path()) else {
                continue;
            };
            for processor in processors.flatten() {
                let Ok(entries) = std::fs::read_dir(processor.path()) else {
                    continue;
                };
                for entry in entries.flatten() {
                    let path = entry.path();
                    if !path.is_file() {
                        continue;
                    }
                    let Ok(bytes) = std::fs::read(&path) else {
                        continue;
                    };
                    let key = format!(
                        "reports/{}/{}/{}",
                        tenant.file_name().to_string_lossy(),
                        processor.file_name().to_string_lossy(),
                        entry.file_name().to_string_lossy()
                    );
                    let result = self.reconcile(reports, &key, bytes).await;
                    let (folder, note) = match &result {
                        Ok(summary) => ("done", summary.clone()),
                        Err(reason) => ("failed", reason.clone()),
                    };
                    tracing::info!(report = %key, outcome = folder, %note, "processor report");
                    let target = files_dir.join("reports").join(folder);
                    let _ = std::fs::create_dir_all(&target);
                    let name = key.replace('/', "_");
                    let _ = std::fs::rename(&path, target.join(&name));
                    if result.is_err() {
                        let _ = std::fs::write(target.join(format!("{name}.reason.txt")), note);
                    }
                    taken += 1;
                }
            }
        }
        taken
    }
    async fn reconcile(
        &self,
        reports: &reporting::ReportFiles,
        key: &str,
        bytes: Vec<u8>,
    ) -> Result<String, String> {
        reporting::reconcile::source_of(key).map_err(|e| e.to_string())?;
        let created = reports
            .files
            .create(key, "application/octet-stream", bytes.clone())
            .await
            .map_err(|e| e.to_string())?;
        if !created {
            let existing = reports.files.read(key).await.map_err(|e| e.to_string())?;
            if existing.as_deref() != Some(&bytes[..]) {
                return Err(format!(
                    "{key} already holds another report: rename the file"
                ));
            }
        }
        let now = chrono::Utc::now();
        let report = match self {
            Backend::Embedded(store) => {
                reporting::reconcile::reconcile_report_with(
                    &processors::ProcessorReports,
                    store,
                    store,
                    &reports.files,
                    key,
                    &bytes,
                    now,
                )
                .await
            }
            Backend::Aws { store, projection } => {
                reporting::reconcile::reconcile_report_with(
                    &processors::ProcessorReports,
                    store,
                    projection,
                    &reports.files,
                    key,
                    &bytes,
                    now,
                )
                .await
            }
        }
        .map_err(|e| e.to_string())?;
        Ok(format!(
            "{}: {} matched, {} mismatches; report {}",
            report.status,
            report.matching.matched.len(),
            report.matching.mismatches.len(),
            reporting::reconcile::report_key(
                &ledger_domain::TenantId::new(report.tenant_id.as_str())
                    .map_err(|e| e.to_string())?,
                report.processor,
                &report.run_id,
                report.status == "quarantined"
            )
        ))
    }
    /// Records the SEPA status files dropped in `inbox` (pain.002,
    /// camt.054), checked against the payment files in `files`, moving each
    /// to `done/` or, quarantined (it answers no message this stack issued,
    /// or cannot be read), to `failed/` with the rule beside it; the
    /// quarantine record is in `sepa-quarantine/`, as on S3. Returns how
    /// many files it took.
    pub(crate) async fn sepa_status_files(
        &self,
        inbox: &Path,
        files: &processors::sepa::FileStore,
    ) -> usize {
        let Ok(entries) = std::fs::read_dir(inbox) else {
            return 0;
        };
        let mut taken = 0;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some("xml") {
                continue;
            }
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let key = format!("sepa-status/{}", entry.file_name().to_string_lossy());
            let result = match self {
                Backend::Embedded(store) => {
                    processor_webhooks::handle_sepa_file(store, files, &key, &bytes).await
                }
                Backend::Aws { store, .. } => {
                    processor_webhooks::handle_sepa_file(store, files, &key, &bytes).await
                }
            };
            let parent = inbox.parent().unwrap_or(inbox);
            let result = match result {
                Ok(processor_webhooks::SepaFileOutcome::Recorded(recorded)) => Ok(recorded),
                Ok(processor_webhooks::SepaFileOutcome::Quarantined { key, rejection }) => {
                    Err(format!("quarantined ({key}): {rejection}"))
                }
                Err(reason) => Err(reason),
            };
            let (dir, note) = match &result {
                Ok(recorded) => ("done", format!("{} transactions recorded", recorded.len())),
                Err(reason) => ("failed", reason.clone()),
            };
            tracing::info!(file = %key, outcome = dir, %note, "SEPA status file");
            let target = parent.join(dir);
            let _ = std::fs::create_dir_all(&target);
            let _ = std::fs::rename(&path, target.join(entry.file_name()));
            if result.is_err() {
                let _ = std::fs::write(
                    target.join(format!(
                        "{}.reason.txt",
                        entry.file_name().to_string_lossy()
                    )),
                    note,
                );
            }
            taken += 1;
        }
        taken
    }
}

/// Where the stack reads SEPA status files in its files directory.
pub fn sepa_status_inbox(files_dir: &Path) -> PathBuf {
    files_dir.join("sepa-status").join("inbox")
}

/// Where the stack reads processor reports to reconcile.
pub fn reports_inbox(files_dir: &Path) -> PathBuf {
    files_dir.join("reports").join("inbox")
}
