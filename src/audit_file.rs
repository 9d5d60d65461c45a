//! `audit.file`: the audit trail in a file of its own, apart from the diagnostic log,
//! rotated by size with a retention count (`rotating_file.rs`: files are cut between whole
//! lines, so no record spans two files). At ~30,000
//! warm tokens a second a record a token is some 650 MB a minute: the operator decides how
//! much of it stays on disk (`max_size` × (`keep_files` + 1)) and ships the rest.

use crate::batch_writer::{self, BatchWriter, Options, WriterGuard};
use crate::config::AuditConfig;
use crate::rotating_file::RotatingFile;

/// The writer of `audit.file`, or `None` when the trail goes with the log. The file's
/// directory is made if missing; a file that cannot be opened for writing stops start-up
/// with the reason.
pub fn open(audit: &AuditConfig, json: bool) -> Result<Option<(BatchWriter, WriterGuard)>, String> {
    let Some(file) = &audit.file else {
        return Ok(None);
    };
    let out =
        RotatingFile::open(&file.path, file.max_size as u64, file.keep_files).map_err(|e| {
            format!(
                "audit.file: cannot open {} for writing: {e}",
                file.path.display()
            )
        })?;
    Ok(Some(batch_writer::start(
        out,
        json,
        Options {
            name: "audit",
            limit: audit.buffer,
            when_full: audit.when_full,
            retries: true,
        },
    )))
}
