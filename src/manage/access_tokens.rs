//! Personal access tokens: made for a user (by an admin, or by themselves on the token
//! page), listed, revoked. Authenticating with one is `authn/access_token.rs`.

use secrecy::SecretString;

use super::{audited, ManageError};
use crate::authn::{new_secret, ACCESS_TOKEN_PREFIX};
use crate::domain::{Actor, Lifetime, ScopeLimit, TokenName};
use crate::store::{now, AccessTokenRecord, NewAccessToken, Store};

#[derive(Clone)]
pub struct AccessTokens {
    store: Store,
}

/// A token just made: its only copy, its public id, and when it expires.
pub struct CreatedToken {
    pub secret: SecretString,
    pub id: String,
    pub expires_at: Option<i64>,
}

impl AccessTokens {
    pub fn new(store: Store) -> AccessTokens {
        AccessTokens { store }
    }

    /// Makes a token for `owner`: what it grants is the intersection of `scopes` and what
    /// the owner's policies allow at the time of use.
    pub async fn create(
        &self,
        actor: &Actor,
        owner: &str,
        name: &TokenName,
        scopes: &ScopeLimit,
        lifetime: Option<Lifetime>,
    ) -> Result<CreatedToken, ManageError> {
        let s = new_secret(ACCESS_TOKEN_PREFIX).map_err(|e| ManageError::Invalid(e.to_string()))?;
        let expires_at = lifetime.map(|l| l.expires_at(now()));
        self.store
            .access_token_insert(&NewAccessToken {
                id: &s.id,
                token_hash: &s.hash,
                owner,
                name: name.as_str(),
                scopes: &scopes.to_string(),
                expires_at,
            })
            .await?;
        audited(
            "access_token_created",
            actor,
            owner,
            &format!("id {} name {name} scopes {scopes}", s.id),
        );
        Ok(CreatedToken {
            secret: s.secret,
            id: s.id,
            expires_at,
        })
    }

    /// Tokens, oldest first; all of them, or one owner's.
    pub async fn list(&self, owner: Option<&str>) -> Result<Vec<AccessTokenRecord>, ManageError> {
        Ok(self.store.access_token_list(owner).await?)
    }

    /// Revokes token `id` if it is live and, with `owner`, belongs to them; false otherwise.
    pub async fn revoke(
        &self,
        actor: &Actor,
        id: &str,
        owner: Option<&str>,
    ) -> Result<bool, ManageError> {
        let Some(t) = self.store.access_token_get(id).await? else {
            return Ok(false);
        };
        if owner.is_some_and(|o| o != t.owner) || !self.store.access_token_revoke(id).await? {
            return Ok(false);
        }
        audited(
            "access_token_revoked",
            actor,
            &t.owner,
            &format!("id {id} name {}", t.name),
        );
        Ok(true)
    }
}
