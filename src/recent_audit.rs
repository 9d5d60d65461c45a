//! The window of recent audit records kept in the database for the admin API
//! (`GET /api/v1/audit`). The audit log stays the record of truth; this is a convenience
//! for finding "who did what" without grepping logs, so it must cost the token path next
//! to nothing and may lose records under pressure (the log has them all).
//!
//! - On the request's thread, a record already written for the log is copied once (its
//!   values are one buffer) into a bounded queue; a full queue drops the copy and counts it.
//! - A writer task drains the queue every quarter of a second, makes identical records one
//!   row with a count, and inserts them all with one statement.
//! - Every minute the table is cut to `audit.keep_events` records and `audit.keep_for`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::config::AuditConfig;
use crate::store::{AuditRow, Store};

/// Records waiting to be written, at most: at 30,000 tokens a second, a quarter of a
/// second's worth. With [`MAX_KEPT`] bytes each at most, the queue holds under 20 MB
/// whatever clients send (a usual record is ~400 bytes).
const QUEUE: usize = 8_192;
/// A record's values are kept whole up to this many bytes; a longer record (a request
/// with huge scopes) keeps at most [`FIELD_CUT`] characters of each field.
const MAX_KEPT: usize = 2_048;
const FIELD_CUT: usize = 128;
const DRAIN_EVERY: Duration = Duration::from_millis(250);
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Rows written per transaction at most.
const BATCH: usize = 5_000;

/// A record as the log got it: its values in one buffer, and where each field lies.
pub(crate) struct Captured {
    at: i64,
    text: Box<str>,
    fields: smallvec::SmallVec<[(&'static str, u32, u32); 12]>,
}

impl Captured {
    fn get(&self, key: &str) -> &str {
        self.fields
            .iter()
            .find(|(k, _, _)| *k == key)
            .map_or("", |(_, a, b)| &self.text[*a as usize..*b as usize])
    }

    fn into_row(self) -> AuditRow {
        let kind = self.get("event");
        let token = kind == "token";
        AuditRow {
            id: 0,
            at: self.at,
            count: 1,
            last_at: self.at,
            kind: kind.to_owned(),
            outcome: self.get("outcome").to_owned(),
            subject: self.get(if token { "subject" } else { "actor" }).to_owned(),
            target: self.get("target").to_owned(),
            client: self.get("client_ip").to_owned(),
            requested: self.get("requested").to_owned(),
            granted: self.get("granted").to_owned(),
            detail: self.get(if token { "reason" } else { "detail" }).to_owned(),
        }
    }
}

struct Recorder {
    queue: Sender<Captured>,
    dropped: AtomicU64,
}

static RECORDER: OnceLock<Recorder> = OnceLock::new();

/// Keeps a copy of every audit record from now on (once, at `serve`), unless
/// `audit.keep_events` is 0.
pub fn start(store: Store, config: &AuditConfig) {
    if config.keep_events == 0 {
        return;
    }
    let (tx, rx) = crossbeam_channel::bounded(QUEUE);
    if RECORDER
        .set(Recorder {
            queue: tx,
            dropped: AtomicU64::new(0),
        })
        .is_err()
    {
        return;
    }
    let (keep, keep_for) = (config.keep_events, config.keep_for);
    tokio::spawn(write_batches(store, rx, keep, keep_for));
}

/// Offers a record's values (`(key, value)` in one buffer) to the window; never blocks.
pub(crate) fn offer(text: &str, fields: impl Iterator<Item = (&'static str, (usize, usize))>) {
    let Some(r) = RECORDER.get() else { return };
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let captured = if text.len() <= MAX_KEPT {
        Captured {
            at,
            text: text.into(),
            fields: fields.map(|(k, (a, b))| (k, a as u32, b as u32)).collect(),
        }
    } else {
        let mut kept = String::new();
        let mut spans = smallvec::SmallVec::new();
        for (k, (a, b)) in fields {
            let start = kept.len();
            kept.push_str(&crate::log_escape::bounded(&text[a..b], FIELD_CUT));
            spans.push((k, start as u32, kept.len() as u32));
        }
        Captured {
            at,
            text: kept.into(),
            fields: spans,
        }
    };
    if let Err(TrySendError::Full(_)) = r.queue.try_send(captured) {
        r.dropped.fetch_add(1, Ordering::Relaxed);
    }
}

/// Identical records (all but their time) become one row with a count, in the order they
/// first came: a pull storm of 30,000 identical tokens a second is a few rows a second.
fn collapse(rows: impl Iterator<Item = AuditRow>) -> Vec<AuditRow> {
    use std::collections::hash_map::{DefaultHasher, HashMap};
    use std::hash::{Hash, Hasher};
    fn same(a: &AuditRow, b: &AuditRow) -> bool {
        (
            &a.kind,
            &a.outcome,
            &a.subject,
            &a.target,
            &a.client,
            &a.requested,
            &a.granted,
            &a.detail,
        ) == (
            &b.kind,
            &b.outcome,
            &b.subject,
            &b.target,
            &b.client,
            &b.requested,
            &b.granted,
            &b.detail,
        )
    }
    let mut out: Vec<AuditRow> = Vec::new();
    let mut seen: HashMap<u64, Vec<usize>> = HashMap::new();
    for row in rows {
        let mut h = DefaultHasher::new();
        (
            &row.kind,
            &row.outcome,
            &row.subject,
            &row.target,
            &row.client,
            &row.requested,
            &row.granted,
            &row.detail,
        )
            .hash(&mut h);
        let slots = seen.entry(h.finish()).or_default();
        match slots.iter().copied().find(|&i| same(&out[i], &row)) {
            Some(i) => {
                out[i].count += 1;
                out[i].last_at = out[i].last_at.max(row.at);
            }
            None => {
                slots.push(out.len());
                out.push(row);
            }
        }
    }
    out
}

async fn write_batches(store: Store, rx: Receiver<Captured>, keep: u64, keep_for: Duration) {
    let mut tick = tokio::time::interval(DRAIN_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_prune = tokio::time::Instant::now();
    let mut last_complaint: Option<tokio::time::Instant> = None;
    loop {
        tick.tick().await;
        let rows = collapse(rx.try_iter().take(BATCH).map(Captured::into_row));
        if !rows.is_empty() {
            if let Err(e) = store.audit_insert(&rows).await {
                if last_complaint.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                    last_complaint = Some(tokio::time::Instant::now());
                    tracing::error!(backend = store.backend().as_str(), error = %e, records = rows.len(), "recent audit records were not stored (the audit log has them)");
                }
            }
        }
        if let Some(r) = RECORDER.get() {
            let dropped = r.dropped.swap(0, Ordering::Relaxed);
            if dropped > 0 {
                tracing::warn!(dropped, "the recent audit store fell behind: records not kept for the admin API (the audit log has them)");
            }
        }
        if last_prune.elapsed() >= PRUNE_EVERY {
            last_prune = tokio::time::Instant::now();
            let older_than = crate::store::now() - keep_for.as_secs() as i64;
            if let Err(e) = store.audit_prune(keep, older_than).await {
                tracing::warn!(error = %e, "could not trim the recent audit records");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(subject: &str, at: i64) -> AuditRow {
        AuditRow {
            id: 0,
            at,
            count: 1,
            last_at: at,
            kind: "token".into(),
            outcome: "issued".into(),
            subject: subject.into(),
            target: String::new(),
            client: "10.0.0.1".into(),
            requested: "repository:a:pull".into(),
            granted: "repository:a:pull".into(),
            detail: String::new(),
        }
    }

    #[test]
    fn identical_records_of_a_batch_are_one_row_with_a_count() {
        let rows = collapse(
            [
                row("alice", 1),
                row("bob", 1),
                row("alice", 2),
                row("alice", 3),
            ]
            .into_iter(),
        );
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (
                rows[0].subject.as_str(),
                rows[0].count,
                rows[0].at,
                rows[0].last_at
            ),
            ("alice", 3, 1, 3)
        );
        assert_eq!((rows[1].subject.as_str(), rows[1].count), ("bob", 1));
    }
}
