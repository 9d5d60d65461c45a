//! The window of recent audit records kept in the database for the admin API
//! (`GET /api/v1/audit`). The audit log stays the record of truth; this is a convenience
//! for finding "who did what" without grepping logs, so it must cost the token path next
//! to nothing and may lose records under pressure (the log has them all).
//!
//! - On the request's thread, a record already written for the log is copied once (its
//!   values are one buffer) into a bounded queue; a full queue drops the copy and counts it.
//! - A writer task drains the queue every second (sooner when it is half full), makes
//!   identical records one row with a count, and inserts them all with one statement.
//! - Every minute the table is cut to `audit.keep_events` records and `audit.keep_for`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TrySendError};

use crate::config::AuditConfig;
use crate::store::{AuditRecord, Store};

/// Records waiting to be written, at most: at 30,000 tokens a second, a quarter of a
/// second's worth (the writer is woken when half of it is used). With [`MAX_KEPT`] bytes each at most, the queue holds under 20 MB
/// whatever clients send (a usual record is ~400 bytes).
const QUEUE: usize = 8_192;
/// A record's values are kept whole up to this many bytes; a longer record (a request
/// with huge scopes) keeps at most [`FIELD_CUT`] characters of each field.
const MAX_KEPT: usize = 2_048;
const FIELD_CUT: usize = 128;
/// The writer wakes this often, or as soon as the queue is half full: under load a batch
/// holds thousands of records, so its fixed cost (one statement) is spread thin.
const DRAIN_EVERY: Duration = Duration::from_secs(1);
const PRUNE_EVERY: Duration = Duration::from_secs(60);
/// Records written per statement at most.
const BATCH: usize = QUEUE;

/// The fields a stored record has, in this order; a record's values for them are kept in
/// one buffer (and nothing else of it: not its `jti`, which would make every record unique).
const KIND: usize = 0;
const OUTCOME: usize = 1;
const SUBJECT: usize = 2;
const TARGET: usize = 3;
const CLIENT: usize = 4;
const REQUESTED: usize = 5;
const GRANTED: usize = 6;
const DETAIL: usize = 7;
const SLOTS: usize = 8;

/// Which stored field a record's field goes to: token records name the subject and the
/// reason, events the actor and the detail.
fn slot(key: &str) -> Option<usize> {
    Some(match key {
        "event" => KIND,
        "outcome" => OUTCOME,
        "subject" | "actor" => SUBJECT,
        "target" => TARGET,
        "client_ip" => CLIENT,
        "requested" => REQUESTED,
        "granted" => GRANTED,
        "reason" | "detail" => DETAIL,
        _ => return None,
    })
}

/// A record as the log got it: its stored fields' values one after another in one buffer.
pub(crate) struct Captured {
    at: i64,
    /// How many identical records this one stands for, and when the last of them was.
    count: i64,
    last_at: i64,
    text: Box<str>,
    /// Where each slot's value ends in `text` (each starts where the previous one ends).
    ends: [u32; SLOTS],
}

impl Captured {
    /// Whether `values` are this record's.
    fn is(&self, values: &[&str; SLOTS]) -> bool {
        values.iter().enumerate().all(|(i, v)| self.get(i) == *v)
    }

    fn get(&self, slot: usize) -> &str {
        let start = if slot == 0 {
            0
        } else {
            self.ends[slot - 1] as usize
        };
        &self.text[start..self.ends[slot] as usize]
    }

    fn record(&self, count: i64, last_at: i64) -> AuditRecord<'_> {
        AuditRecord {
            at: self.at,
            last_at,
            count,
            kind: self.get(KIND),
            outcome: self.get(OUTCOME),
            subject: self.get(SUBJECT),
            target: self.get(TARGET),
            client: self.get(CLIENT),
            requested: self.get(REQUESTED),
            granted: self.get(GRANTED),
            detail: self.get(DETAIL),
        }
    }
}

/// The record a thread saw last, still counting: a pull storm repeats one record, and a
/// repeat then costs a comparison and an increment, not a copy. The writer takes every
/// thread's pending record when it writes, so none waits longer than a batch.
type Pending = Arc<Mutex<Option<Captured>>>;

/// Threads that keep a pending record at most (the server's workers and a few others);
/// records of threads beyond go straight to the queue.
const MAX_PENDING: usize = 256;

struct Recorder {
    queue: Sender<Captured>,
    dropped: AtomicU64,
    /// Wakes the writer early when the queue is half full.
    half_full: tokio::sync::Notify,
    pending: Mutex<Vec<Pending>>,
}

thread_local! {
    static MINE: std::cell::OnceCell<Option<Pending>> = const { std::cell::OnceCell::new() };
}

impl Recorder {
    fn send(&self, c: Captured) {
        match self.queue.try_send(c) {
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
            _ if self.queue.len() == QUEUE / 2 => self.half_full.notify_one(),
            _ => {}
        }
    }

    /// This thread's pending slot, made on first use.
    fn mine(&self) -> Option<Pending> {
        MINE.with(|m| {
            m.get_or_init(|| {
                let mut all = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                (all.len() < MAX_PENDING).then(|| {
                    let p = Pending::default();
                    all.push(p.clone());
                    p
                })
            })
            .clone()
        })
    }

    /// Every thread's pending record, taken.
    fn take_pending(&self) -> Vec<Captured> {
        let all = self
            .pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        all.iter()
            .filter_map(|p| p.lock().unwrap_or_else(|e| e.into_inner()).take())
            .collect()
    }
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
            half_full: tokio::sync::Notify::new(),
            pending: Mutex::new(Vec::new()),
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
    let mut values = [""; SLOTS];
    let mut len = 0;
    for (key, (a, b)) in fields {
        if let Some(i) = slot(key) {
            values[i] = &text[a..b];
            len += b - a;
        }
    }
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let mine = r.mine();
    let mut pending = mine
        .as_ref()
        .map(|p| p.lock().unwrap_or_else(|e| e.into_inner()));
    if let Some(Some(p)) = pending.as_deref_mut() {
        if p.is(&values) {
            p.count += 1;
            p.last_at = at;
            return;
        }
    }
    let mut kept = String::with_capacity(len.min(MAX_KEPT));
    let mut ends = [0u32; SLOTS];
    for (i, v) in values.iter().enumerate() {
        if len <= MAX_KEPT {
            kept.push_str(v);
        } else {
            kept.push_str(&crate::log_escape::bounded(v, FIELD_CUT));
        }
        ends[i] = kept.len() as u32;
    }
    let captured = Captured {
        at,
        count: 1,
        last_at: at,
        text: kept.into_boxed_str(),
        ends,
    };
    match pending.as_deref_mut() {
        // This one waits in its place; the one it replaces goes to the writer.
        Some(slot) => {
            if let Some(previous) = slot.replace(captured) {
                r.send(previous);
            }
        }
        None => r.send(captured),
    }
}

/// Identical records (all but their time) become one row with a count, in the order they
/// first came: a pull storm of 30,000 identical tokens a second is a few rows a second.
/// The usual case, a record equal to the one before, costs one comparison.
struct Group {
    first: Captured,
    count: i64,
    last_at: i64,
}

fn collapse(records: impl Iterator<Item = Captured>) -> Vec<Group> {
    use std::collections::hash_map::{DefaultHasher, HashMap};
    use std::hash::{Hash, Hasher};
    let mut groups: Vec<Group> = Vec::new();
    let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::new();
    let mut last: Option<usize> = None;
    for c in records {
        let same_as = |g: &Group| g.first.text == c.text && g.first.ends == c.ends;
        let found = match last.filter(|&i| same_as(&groups[i])) {
            Some(i) => Some(i),
            None => {
                let mut h = DefaultHasher::new();
                (&c.text, &c.ends).hash(&mut h);
                let slots = by_hash.entry(h.finish()).or_default();
                match slots.iter().copied().find(|&i| same_as(&groups[i])) {
                    Some(i) => Some(i),
                    None => {
                        slots.push(groups.len());
                        None
                    }
                }
            }
        };
        match found {
            Some(i) => {
                let g = &mut groups[i];
                g.count += c.count;
                g.last_at = g.last_at.max(c.last_at);
                last = Some(i);
            }
            None => {
                last = Some(groups.len());
                groups.push(Group {
                    last_at: c.last_at,
                    count: c.count,
                    first: c,
                });
            }
        }
    }
    groups
}

async fn write_batches(store: Store, rx: Receiver<Captured>, keep: u64, keep_for: Duration) {
    let mut last_prune = tokio::time::Instant::now();
    let mut last_complaint: Option<tokio::time::Instant> = None;
    let Some(recorder) = RECORDER.get() else {
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(DRAIN_EVERY) => {}
            _ = recorder.half_full.notified() => {}
        }
        // The queue first, then what each thread still holds: newer than anything it queued.
        let queued: Vec<Captured> = rx.try_iter().take(BATCH).collect();
        let groups = collapse(queued.into_iter().chain(recorder.take_pending()));
        let rows: Vec<AuditRecord<'_>> = groups
            .iter()
            .map(|g| g.first.record(g.count, g.last_at))
            .collect();
        if !rows.is_empty() {
            if let Err(e) = store.audit_insert(&rows).await {
                if last_complaint.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                    last_complaint = Some(tokio::time::Instant::now());
                    tracing::error!(backend = store.backend().as_str(), error = %e, records = rows.len(), "recent audit records were not stored (the audit log has them)");
                }
            }
        }
        let dropped = recorder.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(dropped, "the recent audit store fell behind: records not kept for the admin API (the audit log has them)");
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

    fn captured(subject: &str, at: i64) -> Captured {
        let values = [
            "token",
            "issued",
            subject,
            "",
            "10.0.0.1",
            "repository:a:pull",
            "repository:a:pull",
            "",
        ];
        let mut text = String::new();
        let mut ends = [0u32; SLOTS];
        for (i, v) in values.iter().enumerate() {
            text.push_str(v);
            ends[i] = text.len() as u32;
        }
        Captured {
            at,
            count: 1,
            last_at: at,
            text: text.into(),
            ends,
        }
    }

    #[test]
    fn identical_records_of_a_batch_are_one_row_with_a_count() {
        let groups = collapse(
            [
                captured("alice", 1),
                captured("bob", 1),
                captured("alice", 2),
                captured("alice", 3),
            ]
            .into_iter(),
        );
        let rows: Vec<AuditRecord<'_>> = groups
            .iter()
            .map(|g| g.first.record(g.count, g.last_at))
            .collect();
        assert_eq!(rows.len(), 2);
        let a = &rows[0];
        assert_eq!(
            (a.subject, a.count, a.at, a.last_at, a.client),
            ("alice", 3, 1, 3, "10.0.0.1")
        );
        assert_eq!((rows[1].subject, rows[1].count), ("bob", 1));
        assert_eq!(a.requested, "repository:a:pull");
        assert_eq!(a.target, "");
    }
}
