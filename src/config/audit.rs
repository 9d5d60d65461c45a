//! `[audit]`: where the audit trail is written (with the log on stderr, or a file of its own
//! with size-based rotation), what happens when it cannot keep up, and what the server keeps
//! of it for the admin API: a bounded window of recent records in the database, to filter
//! without grepping logs. The written trail stays the record of truth.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Origins};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    pub keep_events: i64,
    pub keep_for: String,
    /// The audit trail's own file. Empty: with the log, on stderr.
    pub file: String,
    /// The size at which the file is rotated (`100MiB`).
    pub max_size: String,
    /// Rotated files kept besides the current one; older ones are deleted.
    pub keep_files: i64,
    /// `block`, `reject` or `drop`: see `batch_writer::WhenFull`.
    pub when_full: String,
    /// Unwritten records held at most (`8MiB`).
    pub buffer: String,
}

impl Default for RawAudit {
    fn default() -> Self {
        RawAudit {
            keep_events: 100_000,
            keep_for: "7d".into(),
            file: String::new(),
            max_size: "100MiB".into(),
            keep_files: 10,
            when_full: "block".into(),
            buffer: "8MiB".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// Records kept at most (0: none are kept; the API's audit list is then empty).
    pub keep_events: u64,
    /// Records older than this are deleted.
    pub keep_for: Duration,
    /// The audit trail's own file; `None`: with the log.
    pub file: Option<AuditFile>,
    pub when_full: crate::batch_writer::WhenFull,
    /// Bytes of unwritten records held at most.
    pub buffer: usize,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditFile {
    pub path: std::path::PathBuf,
    /// Rotated once it holds more than this many bytes.
    pub max_size: usize,
    /// Rotated files kept.
    pub keep_files: usize,
}

/// `512`, `64KiB`, `100MiB`, `1GiB` (also `KB`, `MB`, `GB`, powers of 1000).
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let n: usize = s[..digits].parse().ok()?;
    let unit: usize = match s[digits..].trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        _ => return None,
    };
    n.checked_mul(unit)
}

/// Ten million records (a few GB) is beyond what a window for the API should hold.
const MAX_KEEP: i64 = 10_000_000;

pub(super) fn parse(raw: &RawAudit, o: &Origins) -> Result<AuditConfig, ConfigError> {
    if !(0..=MAX_KEEP).contains(&raw.keep_events) {
        return Err(o.error(
            "audit.keep_events",
            format!("{} is out of range", raw.keep_events),
            "give 0 (keep none) to 10000000; the audit log itself keeps everything",
        ));
    }
    let keep_for = o.duration("audit.keep_for", &raw.keep_for)?;
    if keep_for < Duration::from_secs(60) || keep_for > Duration::from_secs(3650 * 86400) {
        return Err(o.error(
            "audit.keep_for",
            format!("{:?} is out of range", raw.keep_for),
            "give 1m to 3650d",
        ));
    }
    use crate::batch_writer::WhenFull;
    let size = |key: &str, value: &str, range: std::ops::RangeInclusive<usize>, fix: &str| {
        parse_size(value)
            .filter(|n| range.contains(n))
            .ok_or_else(|| o.error(key, format!("{value:?} is not a size in range"), fix))
    };
    let buffer = size(
        "audit.buffer",
        &raw.buffer,
        4096..=1 << 30,
        "give a size such as 8MiB (4KiB to 1GiB)",
    )?;
    let when_full = match raw.when_full.trim() {
        "block" => WhenFull::Block,
        "reject" => WhenFull::Reject,
        "drop" => WhenFull::Drop,
        other => {
            return Err(o.error(
                "audit.when_full",
                format!("{other:?} is not block, reject or drop"),
                "block: requests wait for the audit writer (nothing is lost); reject: token requests get 503 while records cannot be written; drop: records are dropped and counted in portcullis_audit_records_dropped_total",
            ))
        }
    };
    let file = match raw.file.trim() {
        "" if when_full != WhenFull::Block || buffer != crate::batch_writer::DEFAULT_LIMIT => {
            return Err(o.error(
                "audit.when_full",
                "audit.when_full and audit.buffer apply to audit.file, which is not set: records go with the log on stderr, which always waits for room".into(),
                "set audit.file, or remove audit.when_full and audit.buffer",
            ))
        }
        "" => None,
        path => {
            let max_size = size(
                "audit.max_size",
                &raw.max_size,
                4096..=1 << 40,
                "give a size such as 100MiB (4KiB to 1TiB)",
            )?;
            if !(1..=10_000).contains(&raw.keep_files) {
                return Err(o.error(
                    "audit.keep_files",
                    format!("{} is out of range", raw.keep_files),
                    "keep 1 to 10000 rotated files; ship older ones elsewhere",
                ));
            }
            Some(AuditFile {
                path: path.into(),
                max_size,
                keep_files: raw.keep_files as usize,
            })
        }
    };
    Ok(AuditConfig {
        keep_events: raw.keep_events as u64,
        keep_for,
        file,
        when_full,
        buffer,
    })
}
