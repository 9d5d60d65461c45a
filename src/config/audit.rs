//! `[audit]`: what the server keeps of the audit trail for the admin API. The audit log
//! (every record, on the log writer) stays the record of truth; this is a bounded window of
//! recent records in the database, to filter without grepping logs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Origins};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAudit {
    pub keep_events: i64,
    pub keep_for: String,
}

impl Default for RawAudit {
    fn default() -> Self {
        RawAudit {
            keep_events: 100_000,
            keep_for: "7d".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// Records kept at most (0: none are kept; the API's audit list is then empty).
    pub keep_events: u64,
    /// Records older than this are deleted.
    pub keep_for: Duration,
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
    Ok(AuditConfig {
        keep_events: raw.keep_events as u64,
        keep_for,
    })
}
