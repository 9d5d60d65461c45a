//! The window of recent audit records kept for the admin API (`audit_events`): written in
//! batches by `recent_audit.rs`, bounded by count and age, read newest first with filters.

use super::{Store, StoreError};

/// One record as stored. Token requests have `kind = "token"`; security events their event
/// name, with the actor as `subject`.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct AuditRow {
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

/// `%text%` for LIKE, with `!` escaping LIKE's wildcards.
fn like(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.chars() {
        if matches!(c, '%' | '_' | '!') {
            out.push('!');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl Store {
    /// Writes records with one statement whatever their number: their fields travel as one
    /// flat JSON array of scalars, which the database reads once and turns back into rows
    /// (`json_each`, `json_array_elements_text`, eleven values a row). Measured per record
    /// (callgrind, `benches/instructions.rs`): a statement per row cost ~35,000
    /// instructions through sqlx and its worker thread; a statement of many rows more (it is
    /// prepared again for every batch size); an array of arrays unpacked with `->>` more
    /// still (each value parses its row again).
    pub async fn audit_insert(&self, rows: &[AuditRow]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let mut flat: Vec<serde_json::Value> = Vec::with_capacity(rows.len() * 11);
        for r in rows {
            flat.extend([
                r.at.into(),
                r.last_at.into(),
                r.count.into(),
                r.kind.as_str().into(),
                r.outcome.as_str().into(),
                r.subject.as_str().into(),
                r.target.as_str().into(),
                r.client.as_str().into(),
                r.requested.as_str().into(),
                r.granted.as_str().into(),
                r.detail.as_str().into(),
            ]);
        }
        let json = serde_json::Value::Array(flat).to_string();
        let sql = match self.backend {
            super::Backend::Sqlite => {
                "INSERT INTO audit_events (at, last_at, count, kind, outcome, subject, target, client, requested, granted, detail) \
                 SELECT max(CASE WHEN key % 11 = 0 THEN value END), max(CASE WHEN key % 11 = 1 THEN value END), \
                        max(CASE WHEN key % 11 = 2 THEN value END), max(CASE WHEN key % 11 = 3 THEN value END), \
                        max(CASE WHEN key % 11 = 4 THEN value END), max(CASE WHEN key % 11 = 5 THEN value END), \
                        max(CASE WHEN key % 11 = 6 THEN value END), max(CASE WHEN key % 11 = 7 THEN value END), \
                        max(CASE WHEN key % 11 = 8 THEN value END), max(CASE WHEN key % 11 = 9 THEN value END), \
                        max(CASE WHEN key % 11 = 10 THEN value END) \
                 FROM json_each($1) GROUP BY key / 11 ORDER BY key / 11"
            }
            super::Backend::Postgres => {
                "INSERT INTO audit_events (at, last_at, count, kind, outcome, subject, target, client, requested, granted, detail) \
                 SELECT max(CASE WHEN (o - 1) % 11 = 0 THEN v END)::bigint, max(CASE WHEN (o - 1) % 11 = 1 THEN v END)::bigint, \
                        max(CASE WHEN (o - 1) % 11 = 2 THEN v END)::bigint, max(CASE WHEN (o - 1) % 11 = 3 THEN v END), \
                        max(CASE WHEN (o - 1) % 11 = 4 THEN v END), max(CASE WHEN (o - 1) % 11 = 5 THEN v END), \
                        coalesce(max(CASE WHEN (o - 1) % 11 = 6 THEN v END), ''), coalesce(max(CASE WHEN (o - 1) % 11 = 7 THEN v END), ''), \
                        coalesce(max(CASE WHEN (o - 1) % 11 = 8 THEN v END), ''), coalesce(max(CASE WHEN (o - 1) % 11 = 9 THEN v END), ''), \
                        coalesce(max(CASE WHEN (o - 1) % 11 = 10 THEN v END), '') \
                 FROM json_array_elements_text($1::json) WITH ORDINALITY AS t(v, o) GROUP BY (o - 1) / 11 ORDER BY (o - 1) / 11"
            }
        };
        sqlx::query(sql)
            .bind(json)
            .execute(&self.pool()?)
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(())
    }

    /// Deletes records beyond the newest `keep` and those before `older_than`; how many.
    pub async fn audit_prune(&self, keep: u64, older_than: i64) -> Result<u64, StoreError> {
        let pool = self.pool()?;
        let (newest,): (Option<i64>,) = sqlx::query_as("SELECT MAX(id) FROM audit_events")
            .fetch_one(&pool)
            .await
            .map_err(|e| self.unavailable(e))?;
        let cut = newest.unwrap_or(0) - keep as i64;
        let r = sqlx::query("DELETE FROM audit_events WHERE id <= $1 OR at < $2")
            .bind(cut)
            .bind(older_than)
            .execute(&pool)
            .await
            .map_err(|e| self.unavailable(e))?;
        Ok(r.rows_affected())
    }

    /// Records matching `q`, newest first.
    pub async fn audit_query(&self, q: &AuditQuery) -> Result<Vec<AuditRow>, StoreError> {
        let mut sql = String::from(
            "SELECT id, at, count, last_at, kind, outcome, subject, target, client, requested, granted, detail FROM audit_events WHERE 1 = 1",
        );
        let mut n = 0;
        let mut next = |sql: &mut String, clause: &str| {
            n += 1;
            sql.push_str(&clause.replace('?', &format!("${n}")));
        };
        if q.subject.is_some() {
            next(&mut sql, " AND subject = ?");
        }
        if q.outcome.is_some() {
            next(&mut sql, " AND outcome = ?");
        }
        if q.kind.is_some() {
            next(&mut sql, " AND kind = ?");
        }
        if q.repository.is_some() {
            next(&mut sql, " AND requested LIKE ? ESCAPE '!'");
        }
        if q.since.is_some() {
            next(&mut sql, " AND last_at >= ?");
        }
        if q.until.is_some() {
            next(&mut sql, " AND at <= ?");
        }
        if q.before_id.is_some() {
            next(&mut sql, " AND id < ?");
        }
        next(&mut sql, " ORDER BY id DESC LIMIT ?");
        let mut query = sqlx::query_as::<_, AuditRow>(sqlx::AssertSqlSafe(sql));
        if let Some(s) = &q.subject {
            query = query.bind(s.clone());
        }
        if let Some(o) = &q.outcome {
            query = query.bind(o.clone());
        }
        if let Some(k) = &q.kind {
            query = query.bind(k.clone());
        }
        if let Some(r) = &q.repository {
            // `repository:NAME:` as the requested scopes list it.
            query = query.bind(like(&format!("repository:{r}:")));
        }
        if let Some(s) = q.since {
            query = query.bind(s);
        }
        if let Some(u) = q.until {
            query = query.bind(u);
        }
        if let Some(b) = q.before_id {
            query = query.bind(b);
        }
        query
            .bind(q.limit)
            .fetch_all(&self.pool()?)
            .await
            .map_err(|e| self.unavailable(e))
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
        s.audit_insert(&rows).await.unwrap();
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

        assert_eq!(s.audit_prune(100, 0).await.unwrap(), 150);
        assert_eq!(s.audit_prune(100, 1200).await.unwrap(), 50);
        assert_eq!(s.audit_query(&all).await.unwrap().len(), 50);
    }
}
