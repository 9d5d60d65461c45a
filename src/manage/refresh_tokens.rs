//! Refresh tokens (what `docker login` keeps as its identity token): listed and revoked.
//! Issuing and redeeming them is `authn/refresh_token.rs`.

use super::{audited, ManageError};
use crate::domain::Actor;
use crate::store::{RefreshTokenRecord, Store};

#[derive(Clone)]
pub struct RefreshTokenAdmin {
    store: Store,
}

impl RefreshTokenAdmin {
    pub fn new(store: Store) -> RefreshTokenAdmin {
        RefreshTokenAdmin { store }
    }

    /// Newest first; all of them, or one subject's (`NAME`, `robot:NAME`).
    pub async fn list(
        &self,
        subject: Option<&str>,
    ) -> Result<Vec<RefreshTokenRecord>, ManageError> {
        Ok(self.store.refresh_token_list(subject).await?)
    }

    /// Revokes one token by id; false when there is no such live token.
    pub async fn revoke(&self, actor: &Actor, id: &str) -> Result<bool, ManageError> {
        let done = self.store.refresh_token_revoke(id).await?;
        if done {
            audited("refresh_token_revoked", actor, id, "");
        }
        Ok(done)
    }

    /// Revokes every live token of `subject`; returns how many.
    pub async fn revoke_subject(&self, actor: &Actor, subject: &str) -> Result<u64, ManageError> {
        let n = self.store.refresh_token_revoke_subject(subject).await?;
        audited(
            "refresh_tokens_revoked",
            actor,
            subject,
            &format!("{n} token(s)"),
        );
        Ok(n)
    }
}
