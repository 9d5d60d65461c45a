use std::fmt;

use super::{now, Run, Store, StoreError};

/// An argon2id PHC string. Not a secret in itself, but it never needs printing either.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(pub String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash([redacted])")
    }
}

/// How a sign-in at an identity provider ended, as far as accounts go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExternalSignIn {
    /// Signed in as `account`; `bound_now` when the account was made (or bound) just now.
    SignedIn { account: String, bound_now: bool },
    /// A local account has the name: an identity provider never signs in as it.
    LocalNameTaken,
    /// Another person at the provider (another `sub`) already has an account of the name.
    NameTakenByAnother,
    /// The account is disabled.
    Disabled,
}

#[derive(Clone, Debug)]
pub struct UserRecord {
    pub name: String,
    pub password_hash: PasswordHash,
    pub disabled: bool,
    pub created_at: i64,
    pub password_changed_at: i64,
}

/// A user as its row holds it (flags are 0/1 integers in both databases).
#[derive(sqlx::FromRow)]
struct UserRow {
    name: String,
    password_hash: String,
    disabled: i64,
    created_at: i64,
    password_changed_at: i64,
}

impl From<UserRow> for UserRecord {
    fn from(r: UserRow) -> UserRecord {
        UserRecord {
            name: r.name,
            password_hash: PasswordHash(r.password_hash),
            disabled: r.disabled != 0,
            created_at: r.created_at,
            password_changed_at: r.password_changed_at,
        }
    }
}

macro_rules! user_columns {
    () => {
        "name, password_hash, disabled, created_at, password_changed_at"
    };
}

impl Store {
    pub async fn user_create(&self, name: &str, hash: &PasswordHash) -> Result<(), StoreError> {
        let t = now();
        let res = sqlx::query(
            "INSERT INTO users (name, password_hash, disabled, created_at, password_changed_at) VALUES ($1, $2, 0, $3, $3)",
        )
        .bind(name)
        .bind(&hash.0)
        .bind(t)
        .execute(&self.pool()?)
        .await;
        match res {
            Ok(_) => {
                self.changed().await;
                Ok(())
            }
            Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                Err(StoreError::Conflict(format!("user {name:?}")))
            }
            Err(e) => Err(self.unavailable(e)),
        }
    }

    pub async fn user_get(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let row: Option<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE name = $1"
        ))
        .bind(name)
        .fetch_optional(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(row.map(UserRecord::from))
    }

    pub async fn user_list(&self) -> Result<Vec<UserRecord>, StoreError> {
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users ORDER BY name"
        ))
        .fetch_all(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(rows.into_iter().map(UserRecord::from).collect())
    }

    /// A page of users by name: those after `after` whose name contains `filter`, at
    /// most `limit`, in name order.
    pub async fn user_page(
        &self,
        filter: &str,
        after: &str,
        limit: i64,
    ) -> Result<Vec<UserRecord>, StoreError> {
        // `!` escapes LIKE's wildcards, which user names (`a_b`) may hold.
        let mut pattern = String::from("%");
        for c in filter.chars() {
            if matches!(c, '%' | '_' | '!') {
                pattern.push('!');
            }
            pattern.push(c);
        }
        pattern.push('%');
        let rows: Vec<UserRow> = sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE name > $1 AND name LIKE $2 ESCAPE '!' ORDER BY name LIMIT $3"
        ))
        .bind(after)
        .bind(pattern)
        .bind(limit)
        .fetch_all(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(rows.into_iter().map(UserRecord::from).collect())
    }

    /// Sets a new password and revokes the user's refresh tokens: a password change is how
    /// a user signs every machine out.
    pub async fn user_set_password(
        &self,
        name: &str,
        hash: &PasswordHash,
    ) -> Result<(), StoreError> {
        let t = now();
        let mut tx = self.begin_write().await?;
        let n = sqlx::query(
            "UPDATE users SET password_hash = $1, password_changed_at = $2 WHERE name = $3",
        )
        .bind(&hash.0)
        .bind(t)
        .bind(name)
        .run_in(&mut tx, self)
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("user {name:?}")));
        }
        sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE subject_kind = 'user' AND subject = $2 AND revoked_at IS NULL",
        )
        .bind(t)
        .bind(name)
        .run_in(&mut tx, self).await?;
        tx.commit().await.map_err(|e| self.unavailable(e))?;
        self.changed().await;
        Ok(())
    }

    /// Records a person who signed in at an identity provider (`source`, e.g. `oidc`), bound
    /// to the provider's `issuer` and the person's `subject` (`sub`) there:
    /// - the account bound to (`issuer`, `subject`), whatever name the provider now gives;
    /// - else a new account named `name` (with a password hash that never verifies: they sign
    ///   in at their provider, and use access tokens with registry clients);
    /// - an account of that name made by a sign-in before accounts were bound (no subject
    ///   recorded) is bound now, to whoever signs in with it first;
    /// - a local account of that name, or one bound to someone else, is never taken over.
    ///
    /// The account's groups are replaced with `groups`. A refusal is a value, not an error.
    pub async fn user_sign_in_external(
        &self,
        source: &str,
        issuer: &str,
        subject: &str,
        name: &str,
        groups: &[String],
    ) -> Result<ExternalSignIn, StoreError> {
        let t = now();
        let mut tx = self.begin_write().await?;
        let bound: Option<(String, i64)> = sqlx::query_as(
            "SELECT name, disabled FROM users WHERE external_issuer = $1 AND external_subject = $2",
        )
        .bind(issuer)
        .bind(subject)
        .fetch_optional(&mut *tx)
        .await
        .map_err(|e| self.unavailable(e))?;
        let (account, outcome) = match bound {
            Some((_, disabled)) if disabled != 0 => return Ok(ExternalSignIn::Disabled),
            Some((account, _)) => (
                account.clone(),
                ExternalSignIn::SignedIn {
                    account,
                    bound_now: false,
                },
            ),
            None => {
                let existing: Option<(String, Option<String>, i64)> = sqlx::query_as(
                    "SELECT source, external_subject, disabled FROM users WHERE name = $1",
                )
                .bind(name)
                .fetch_optional(&mut *tx)
                .await
                .map_err(|e| self.unavailable(e))?;
                match existing {
                    Some((s, _, _)) if s != source => return Ok(ExternalSignIn::LocalNameTaken),
                    Some((_, Some(_), _)) => return Ok(ExternalSignIn::NameTakenByAnother),
                    Some((_, None, disabled)) if disabled != 0 => {
                        return Ok(ExternalSignIn::Disabled)
                    }
                    Some((_, None, _)) => {
                        sqlx::query(
                            "UPDATE users SET external_issuer = $1, external_subject = $2 WHERE name = $3",
                        )
                        .bind(issuer)
                        .bind(subject)
                        .bind(name)
                        .run_in(&mut tx, self)
                        .await?;
                    }
                    None => {
                        sqlx::query(
                            "INSERT INTO users (name, password_hash, disabled, created_at, password_changed_at, source, external_issuer, external_subject) VALUES ($1, '!', 0, $2, $2, $3, $4, $5)",
                        )
                        .bind(name)
                        .bind(t)
                        .bind(source)
                        .bind(issuer)
                        .bind(subject)
                        .run_in(&mut tx, self)
                        .await?;
                    }
                }
                (
                    name.to_string(),
                    ExternalSignIn::SignedIn {
                        account: name.to_string(),
                        bound_now: true,
                    },
                )
            }
        };
        sqlx::query("DELETE FROM external_groups WHERE user_name = $1")
            .bind(&account)
            .run_in(&mut tx, self)
            .await?;
        for g in groups {
            sqlx::query("INSERT INTO external_groups (user_name, group_name) VALUES ($1, $2)")
                .bind(&account)
                .bind(g)
                .run_in(&mut tx, self)
                .await?;
        }
        tx.commit().await.map_err(|e| self.unavailable(e))?;
        self.changed().await;
        Ok(outcome)
    }

    pub async fn user_set_disabled(&self, name: &str, disabled: bool) -> Result<(), StoreError> {
        let n = sqlx::query("UPDATE users SET disabled = $1 WHERE name = $2")
            .bind(i64::from(disabled))
            .bind(name)
            .run(self)
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("user {name:?}")));
        }
        self.changed().await;
        Ok(())
    }

    /// Removes the user, its group memberships and its refresh tokens.
    pub async fn user_delete(&self, name: &str) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        for sql in [
            "DELETE FROM refresh_tokens WHERE subject_kind = 'user' AND subject = $1",
            "DELETE FROM group_members WHERE user_name = $1",
            "DELETE FROM external_groups WHERE user_name = $1",
        ] {
            sqlx::query(sql).bind(name).run_in(&mut tx, self).await?;
        }
        let n = sqlx::query("DELETE FROM users WHERE name = $1")
            .bind(name)
            .run_in(&mut tx, self)
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound(format!("user {name:?}")));
        }
        tx.commit().await.map_err(|e| self.unavailable(e))?;
        self.changed().await;
        Ok(())
    }

    /// The user's groups: local memberships, and for people who sign in through OIDC the
    /// groups their identity provider gave them at their last sign-in.
    pub async fn user_groups(&self, name: &str) -> Result<Vec<String>, StoreError> {
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT group_name FROM group_members WHERE user_name = $1 UNION SELECT group_name FROM external_groups WHERE user_name = $1 ORDER BY 1",
        )
        .bind(name)
        .fetch_all(&self.pool()?)
        .await
        .map_err(|e| self.unavailable(e))?;
        Ok(rows.into_iter().map(|(g,)| g).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory_store;

    fn h(s: &str) -> PasswordHash {
        PasswordHash(s.into())
    }

    #[tokio::test]
    async fn users_are_created_listed_disabled_and_removed() {
        let s = memory_store().await;
        s.user_create("alice", &h("x")).await.unwrap();
        assert!(matches!(
            s.user_create("alice", &h("y")).await,
            Err(StoreError::Conflict(_))
        ));
        s.user_set_disabled("alice", true).await.unwrap();
        let u = s.user_get("alice").await.unwrap().unwrap();
        assert!(u.disabled);
        assert_eq!(s.user_list().await.unwrap().len(), 1);
        assert_eq!(s.user_page("lic", "", 10).await.unwrap().len(), 1);
        assert_eq!(s.user_page("l_c", "", 10).await.unwrap().len(), 0);
        assert_eq!(s.user_page("", "alice", 10).await.unwrap().len(), 0);
        s.user_delete("alice").await.unwrap();
        assert!(s.user_get("alice").await.unwrap().is_none());
        assert!(matches!(
            s.user_delete("alice").await,
            Err(StoreError::NotFound(_))
        ));
    }

    fn signed_in(account: &str, bound_now: bool) -> ExternalSignIn {
        ExternalSignIn::SignedIn {
            account: account.into(),
            bound_now,
        }
    }

    #[tokio::test]
    async fn people_signing_in_elsewhere_get_a_user_row_and_their_current_groups() {
        let s = memory_store().await;
        let idp = "https://idp.example";
        assert_eq!(
            s.user_sign_in_external("oidc", idp, "sub-1", "carol", &["dev".into(), "ops".into()])
                .await
                .unwrap(),
            signed_in("carol", true)
        );
        assert_eq!(s.user_groups("carol").await.unwrap(), ["dev", "ops"]);
        assert_eq!(
            s.user_sign_in_external("oidc", idp, "sub-1", "carol", &["dev".into()])
                .await
                .unwrap(),
            signed_in("carol", false)
        );
        assert_eq!(
            s.user_groups("carol").await.unwrap(),
            ["dev"],
            "replaced at each sign-in"
        );
        s.user_create("dave", &h("x")).await.unwrap();
        assert_eq!(
            s.user_sign_in_external("oidc", idp, "sub-2", "dave", &[])
                .await
                .unwrap(),
            ExternalSignIn::LocalNameTaken,
            "a local account is never taken over"
        );
    }

    #[tokio::test]
    async fn an_account_is_bound_to_the_providers_subject_not_to_a_name() {
        let s = memory_store().await;
        let idp = "https://idp.example";
        s.user_sign_in_external("oidc", idp, "sub-1", "erin", &["dev".into()])
            .await
            .unwrap();
        // Someone else at the provider picks the same preferred_username.
        assert_eq!(
            s.user_sign_in_external("oidc", idp, "sub-666", "erin", &["admins".into()])
                .await
                .unwrap(),
            ExternalSignIn::NameTakenByAnother
        );
        assert_eq!(s.user_groups("erin").await.unwrap(), ["dev"], "untouched");
        // The same person renamed at the provider keeps their account.
        assert_eq!(
            s.user_sign_in_external("oidc", idp, "sub-1", "erin-renamed", &[])
                .await
                .unwrap(),
            signed_in("erin", false)
        );
        // The same subject at another issuer is another person.
        assert_eq!(
            s.user_sign_in_external("oidc", "https://other.example", "sub-1", "erin", &[])
                .await
                .unwrap(),
            ExternalSignIn::NameTakenByAnother
        );
        s.user_set_disabled("erin", true).await.unwrap();
        assert_eq!(
            s.user_sign_in_external("oidc", idp, "sub-1", "erin", &[])
                .await
                .unwrap(),
            ExternalSignIn::Disabled
        );
    }

    #[tokio::test]
    async fn a_password_hash_never_appears_in_debug_output() {
        assert!(!format!("{:?}", h("$argon2id$secret")).contains("argon2"));
    }
}
