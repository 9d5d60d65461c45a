//! The window of recent audit records kept for the admin API: written a batch to a row by
//! `recent_audit.rs` (each record a line of JSON), bounded by count and age, read newest
//! first with filters applied here.
//!
//! A row per record cost each token request ~35,000 instructions (sqlx binds eleven values
//! and looks each parameter up again; callgrind, `benches/instructions.rs` with every
//! record different), which a window for admins cannot be allowed to cost. A row per batch
//! costs a few hundred per record. Filtering then reads the batches, newest first, and
//! stops once it has enough: the window is bounded, so a read is too.

use super::{Store, StoreError};

/// One record as stored. Token requests have `kind = "token"`; security events their event
/// name, with the actor as `subject`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    /// The batch's id times [`PER_BATCH`] plus the record's place in it: newer records have
    /// larger ids.
    pub id: i64,
    pub at: i64,
    /// Identical records of one batch are one row: how many, and the last one's time.
    pub count: i64,
    pub last_at: i64,
    pub kind: String,
    pub outcome: String,
    pub subject: String,
    pub target: String,
    pub client: String,
    pub requested: String,
    pub granted: String,
    pub detail: String,
}

/// A record to write, borrowed from wherever it was kept (no copy per field).
#[derive(Clone, Copy, Debug)]
pub struct AuditRecord<'a> {
    pub at: i64,
    pub last_at: i64,
    pub count: i64,
    pub kind: &'a str,
    pub outcome: &'a str,
    pub subject: &'a str,
    pub target: &'a str,
    pub client: &'a str,
    pub requested: &'a str,
    pub granted: &'a str,
    pub detail: &'a str,
}

impl AuditRow {
    pub fn as_record(&self) -> AuditRecord<'_> {
        AuditRecord {
            at: self.at,
            last_at: self.last_at,
            count: self.count,
            kind: &self.kind,
            outcome: &self.outcome,
            subject: &self.subject,
            target: &self.target,
            client: &self.client,
            requested: &self.requested,
            granted: &self.granted,
            detail: &self.detail,
        }
    }
}

/// Appends a record as one line of JSON: `[at,last_at,count,kind,outcome,subject,[target,
/// client,requested,granted,detail]]`. Values are usually plain and copied as they are.
fn push_line(out: &mut String, r: &AuditRecord<'_>) {
    use crate::log_escape::push_json_string;
    let mut n = itoa::Buffer::new();
    out.push('[');
    for v in [r.at, r.last_at, r.count] {
        out.push_str(n.format(v));
        out.push(',');
    }
    for v in [r.kind, r.outcome, r.subject] {
        push_json_string(out, v);
        out.push(',');
    }
    out.push('[');
    for (i, v) in [r.target, r.client, r.requested, r.granted, r.detail]
        .into_iter()
        .enumerate()
    {
        if i > 0 {
            out.push(',');
        }
        push_json_string(out, v);
    }
    out.push_str("]]\n");
}

/// Records a batch may hold at most (ids leave room for this many per batch).
pub const PER_BATCH: i64 = 1 << 20;

/// What to read: all optional, newest first, before `before_id`.
#[derive(Clone, Debug, Default)]
pub struct AuditQuery {
    pub subject: Option<String>,
    pub outcome: Option<String>,
    /// Records whose requested scopes name this repository.
    pub repository: Option<String>,
    pub kind: Option<String>,
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub before_id: Option<i64>,
    pub limit: i64,
}

impl AuditQuery {
    fn matches(&self, r: &AuditRow) -> bool {
        let eq = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        eq(&self.subject, &r.subject)
            && eq(&self.outcome, &r.outcome)
            && eq(&self.kind, &r.kind)
            && self.since.is_none_or(|s| r.last_at >= s)
            && self.until.is_none_or(|u| r.at <= u)
            && self.before_id.is_none_or(|b| r.id < b)
            && self.repository.as_deref().is_none_or(|repo| {
                r.requested.split(' ').any(|scope| {
                    scope
                        .strip_prefix("repository:")
                        .and_then(|s| s.rsplit_once(':'))
                        .is_some_and(|(name, _)| name == repo)
                })
            })
    }
}

type OwnedLine = (
    i64,
    i64,
    i64,
    String,
    String,
    String,
    (String, String, String, String, String),
);

/// Batches read per round trip while filtering.
const BATCHES_PER_READ: i64 = 16;

impl Store {
    /// Writes a batch of records as one row.
    pub async fn audit_insert(&self, rows: &[AuditRecord<'_>]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut body = String::with_capacity(rows.len() * 256);
        for r in rows.iter().take(PER_BATCH as usize) {
            push_line(&mut body, r);
        }
        let first_at = rows.iter().map(|r| r.at).min().unwrap_or(0);
        let last_at = rows.iter().map(|r| r.last_at).max().unwrap_or(0);
        let records: i64 = rows.iter().map(|r| r.count).sum();
        sqlx::query(
            "INSERT INTO audit_batches (first_at, last_at, records, body) VALUES ($1, $2, $3, $4)",
        )
        .bind(first_at)
        .bind(last_at)
        .bind(records)
        .bind(body)
        .execute(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(())
    }

    /// Deletes batches older than `older_than`, then the oldest batches beyond the newest
    /// `keep` records; how many batches went.
    pub async fn audit_prune(&self, keep: u64, older_than: i64) -> Result<u64, StoreError> {
        let pool = self.pool()?;
        let mut gone = sqlx::query("DELETE FROM audit_batches WHERE last_at < $1")
            .bind(older_than)
            .execute(&pool)
            .await
            .map_err(|e| self.unavailable(e))?
            .rows_affected();
        let counts: Vec<(i64, i64)> =
            sqlx::query_as("SELECT id, records FROM audit_batches ORDER BY id DESC")
                .fetch_all(&pool)
                .await
                .map_err(|e| self.unavailable(e))?;
        let mut total = 0i64;
        if let Some((cut, _)) = counts.iter().find(|(_, n)| {
            total += n;
            total > keep as i64
        }) {
            gone += sqlx::query("DELETE FROM audit_batches WHERE id <= $1")
                .bind(*cut)
                .execute(&pool)
                .await
                .map_err(|e| self.unavailable(e))?
                .rows_affected();
        }
        Ok(gone)
    }

    /// Records matching `q`, newest first, at most `q.limit`.
    pub async fn audit_query(&self, q: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let pool = self.pool()?;
        let mut out = Vec::new();
        let mut below = q.before_id.map_or(i64::MAX, |b| b / PER_BATCH + 1);
        loop {
            let batches: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, body FROM audit_batches WHERE id < $1 AND last_at >= $2 AND first_at <= $3 ORDER BY id DESC LIMIT $4",
            )
            .bind(below)
            .bind(q.since.unwrap_or(i64::MIN))
            .bind(q.until.unwrap_or(i64::MAX))
            .bind(BATCHES_PER_READ)
            .fetch_all(&pool)
            .await
            .map_err(|e| self.unavailable(e))?;
            let Some(last) = batches.last() else {
                return Ok(out);
            };
            below = last.0;
            let done = (batches.len() as i64) < BATCHES_PER_READ;
            for (batch, body) in batches {
                let lines: Vec<&str> = body.lines().collect();
                for (i, line) in lines.iter().enumerate().rev() {
                    let Ok((
                        at,
                        last_at,
                        count,
                        kind,
                        outcome,
                        subject,
                        (target, client, requested, granted, detail),
                    )) = serde_json::from_str::<OwnedLine>(line)
                    else {
                        continue;
                    };
                    let row = AuditRow {
                        id: batch * PER_BATCH + i as i64,
                        at,
                        count,
                        last_at,
                        kind,
                        outcome,
                        subject,
                        target,
                        client,
                        requested,
                        granted,
                        detail,
                    };
                    if q.matches(&row) {
                        out.push(row);
                        if out.len() as i64 >= q.limit {
                            return Ok(out);
                        }
                    }
                }
            }
            if done {
                return Ok(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory_store;

    fn row(subject: &str, outcome: &str, requested: &str, at: i64) -> AuditRow {
        AuditRow {
            id: 0,
            at,
            count: 1,
            last_at: at,
            kind: "token".into(),
            outcome: outcome.into(),
            subject: subject.into(),
            target: String::new(),
            client: "127.0.0.1".into(),
            requested: requested.into(),
            granted: String::new(),
            detail: String::new(),
        }
    }

    #[tokio::test]
    async fn records_are_filtered_newest_first_and_pruned_by_count_and_age() {
        let s = memory_store().await;
        let mut rows = Vec::new();
        for i in 0..250 {
            rows.push(row(
                if i % 2 == 0 { "alice" } else { "bob" },
                if i % 5 == 0 { "rejected" } else { "issued" },
                if i % 3 == 0 {
                    "repository:team/a_b:pull"
                } else {
                    "repository:team/axb:push"
                },
                1000 + i,
            ));
        }
        for batch in rows.chunks(10) {
            let records: Vec<_> = batch.iter().map(AuditRow::as_record).collect();
            s.audit_insert(&records).await.unwrap();
        }
        let all = AuditQuery {
            limit: 1000,
            ..Default::default()
        };
        let got = s.audit_query(&all).await.unwrap();
        assert_eq!(got.len(), 250);
        assert_eq!((got[0].at, got[0].count, got[0].last_at), (1249, 1, 1249));
        assert_eq!(got[0].requested, "repository:team/a_b:pull");
        let q = AuditQuery {
            subject: Some("alice".into()),
            outcome: Some("rejected".into()),
            limit: 1000,
            ..Default::default()
        };
        let got = s.audit_query(&q).await.unwrap();
        assert_eq!(got.len(), 25);
        assert!(got.windows(2).all(|w| w[0].id > w[1].id), "newest first");
        // `_` in a name is not a wildcard.
        let q = AuditQuery {
            repository: Some("team/a_b".into()),
            limit: 1000,
            ..Default::default()
        };
        assert_eq!(s.audit_query(&q).await.unwrap().len(), 84);
        let q = AuditQuery {
            since: Some(1200),
            until: Some(1209),
            limit: 1000,
            ..Default::default()
        };
        assert_eq!(s.audit_query(&q).await.unwrap().len(), 10);

        // Paging: the next page starts below the last id seen.
        let page = AuditQuery {
            limit: 7,
            ..Default::default()
        };
        let first = s.audit_query(&page).await.unwrap();
        let next = AuditQuery {
            before_id: Some(first[6].id),
            limit: 7,
            ..Default::default()
        };
        let second = s.audit_query(&next).await.unwrap();
        assert_eq!(second[0].at, first[6].at - 1);

        // Whole batches go: 15 of the 25 (of 10 records each), then those older than 1200.
        assert_eq!(s.audit_prune(100, 0).await.unwrap(), 15);
        assert_eq!(s.audit_prune(100, 1200).await.unwrap(), 5);
        assert_eq!(s.audit_query(&all).await.unwrap().len(), 50);
    }
}
