//! Browser sign-in with the company's identity provider (OIDC authorization code flow with
//! PKCE), so people can make their own personal access tokens: `docker login` cannot open a
//! browser, but a token made in one works everywhere.
//!
//! `start` makes the `state`, PKCE verifier and nonce and returns them (for the browser to
//! keep, see `login_state.rs`) with the provider's authorization URL; `finish` takes the
//! code and state back with what the browser kept, checks the state is the one this browser
//! started, exchanges the code (with the verifier), verifies the ID token (signature against
//! the provider's keys, issuer, audience, expiry, nonce) and returns who signed in: the
//! provider's issuer and `sub` (what the account is bound to), the configured username
//! claim, and the groups claim.
//!
//! The provider's keys are discovered on first use and fetched again when an ID token names
//! a key they do not hold (a key rotation), at most every [`JWKS_REFETCH_COOLDOWN`]. A token
//! that fails verification is logged at WARN with the reason.

use std::time::{Duration, Instant};

use data_encoding::BASE64URL_NOPAD;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken,
    EndpointMaybeSet, EndpointNotSet, EndpointSet, IssuerUrl, JsonWebKeySet, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope, SignatureVerificationError,
};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::sync::Mutex;

use super::login_state::{LoginState, LOGIN_STATE_TTL};
use crate::config::OidcConfig;
use crate::domain::Username;

/// A client from discovery: authorization endpoint set, token and userinfo endpoints as the
/// provider advertises them.
type RelyingParty = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// How often, at most, the provider's keys are fetched again for a token naming an unknown
/// key: an anonymous client cannot make portcullis hammer the provider.
pub const JWKS_REFETCH_COOLDOWN: Duration = Duration::from_secs(10);
/// How long a failed discovery is answered from memory before it is tried again.
pub const DISCOVERY_RETRY: Duration = Duration::from_secs(5);

/// Who signed in, as the provider vouches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedIn {
    /// The provider's issuer and the person's `sub` there: what the account is bound to.
    pub issuer: String,
    pub subject: String,
    /// The configured username claim, lowercased: the registry user name for a new account.
    pub username: String,
    /// The groups claim, as the provider gave it (not yet mapped).
    pub groups: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// The provider cannot be reached or answered nonsense: 503, and the log says why.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// This sign-in is refused (expired or forged state, bad token, unusable name): 400.
    #[error("{0}")]
    Refused(String),
}

pub struct OidcLogin {
    config: OidcConfig,
    redirect_url: String,
    http: openidconnect::reqwest::Client,
    /// The provider's metadata (with its keys), and when the keys were last fetched again
    /// for an unknown key (`None`: never).
    metadata: Mutex<Option<(CoreProviderMetadata, Option<Instant>)>>,
    /// When discovery last failed, and why.
    discovery_failed: std::sync::Mutex<Option<(Instant, String)>>,
}

impl OidcLogin {
    /// `public_url` is portcullis's own; the provider redirects back to `/login/callback`.
    pub fn new(config: OidcConfig, public_url: &str) -> OidcLogin {
        OidcLogin {
            config,
            redirect_url: format!("{public_url}/login/callback"),
            http: openidconnect::reqwest::ClientBuilder::new()
                // Following redirects would open the token request to SSRF.
                .redirect(openidconnect::reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(10))
                .build()
                .expect("an HTTP client"),
            metadata: Mutex::new(None),
            discovery_failed: std::sync::Mutex::new(None),
        }
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The provider's metadata, discovered on first use (so portcullis starts while the
    /// provider is down) and kept.
    ///
    /// While the provider is down, discovery is tried again at most every
    /// [`DISCOVERY_RETRY`]; meanwhile the last failure is answered at once, so anonymous
    /// requests to `/login` cannot pile up outbound requests (and waiting clients) behind it.
    async fn metadata(&self) -> Result<CoreProviderMetadata, LoginError> {
        let mut m = self.metadata.lock().await;
        if let Some((meta, _)) = m.as_ref() {
            return Ok(meta.clone());
        }
        {
            let failed = self
                .discovery_failed
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            if let Some((at, cause)) = failed.as_ref() {
                if at.elapsed() < DISCOVERY_RETRY {
                    return Err(LoginError::Unavailable(cause.clone()));
                }
            }
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| LoginError::Unavailable(e.to_string()))?;
        let meta = match CoreProviderMetadata::discover_async(issuer, &self.http).await {
            Ok(meta) => meta,
            Err(e) => {
                let cause = format!("{}: discovery failed: {e}", self.config.issuer);
                *self
                    .discovery_failed
                    .lock()
                    .unwrap_or_else(|e| e.into_inner()) = Some((Instant::now(), cause.clone()));
                return Err(LoginError::Unavailable(cause));
            }
        };
        *m = Some((meta.clone(), None));
        Ok(meta)
    }

    /// Fetches the provider's keys again, unless that was done less than
    /// [`JWKS_REFETCH_COOLDOWN`] ago; the metadata to verify with either way.
    async fn refetch_keys(&self) -> Result<CoreProviderMetadata, LoginError> {
        let mut m = self.metadata.lock().await;
        let Some((meta, refetched)) = m.as_mut() else {
            drop(m);
            return self.metadata().await;
        };
        if refetched.is_some_and(|t| t.elapsed() < JWKS_REFETCH_COOLDOWN) {
            return Ok(meta.clone());
        }
        let jwks = JsonWebKeySet::fetch_async(meta.jwks_uri(), &self.http)
            .await
            .map_err(|e| {
                LoginError::Unavailable(format!(
                    "{}: fetching its keys failed: {e}",
                    self.config.issuer
                ))
            })?;
        *meta = meta.clone().set_jwks(jwks);
        *refetched = Some(Instant::now());
        tracing::info!(issuer = %self.config.issuer, "fetched the identity provider's keys again (an ID token named a key they did not hold)");
        Ok(meta.clone())
    }

    /// The relying-party client for `meta`, redirecting back to `redirect` (this server's
    /// `/login/callback`).
    fn client(
        &self,
        meta: CoreProviderMetadata,
        redirect: &str,
    ) -> Result<RelyingParty, LoginError> {
        let redirect = RedirectUrl::new(redirect.to_owned())
            .map_err(|e| LoginError::Refused(e.to_string()))?;
        Ok(CoreClient::from_provider_metadata(
            meta,
            ClientId::new(self.config.client_id.clone()),
            self.config
                .client_secret
                .as_ref()
                .map(|s| ClientSecret::new(s.expose_secret().to_string())),
        )
        .set_redirect_uri(redirect))
    }

    /// Starts a sign-in: the URL to send the browser to, and what the browser must keep
    /// for the callback (sealed in a cookie). `base`: the address the browser reached this
    /// server at, as a trusted proxy said (`X-Forwarded-Proto`/`Host`); else
    /// `server.public_url`. The provider sends the browser back there.
    pub async fn start(&self, base: Option<&str>) -> Result<(String, LoginState), LoginError> {
        let meta = self.metadata().await?;
        let redirect = match base {
            Some(b) => format!("{b}/login/callback"),
            None => self.redirect_url.clone(),
        };
        let client = self.client(meta, &redirect)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        for s in self.config.scopes.iter().filter(|s| *s != "openid") {
            request = request.add_scope(Scope::new(s.clone()));
        }
        let (url, state, nonce) = request.set_pkce_challenge(challenge).url();
        Ok((
            url.to_string(),
            LoginState {
                state: state.secret().clone(),
                verifier: verifier.secret().clone(),
                nonce: nonce.secret().clone(),
                created: crate::store::now(),
                redirect: base.map(|_| redirect),
            },
        ))
    }

    /// Completes a sign-in from the provider's redirect (`code`, `state`), with what the
    /// browser kept since `start` (`None`: it kept nothing, e.g. it did not start this
    /// sign-in).
    pub async fn finish(
        &self,
        code: &str,
        state: &str,
        kept: Option<LoginState>,
    ) -> Result<SignedIn, LoginError> {
        let Some(kept) = kept else {
            return Err(LoginError::Refused(format!(
                "this browser did not start this sign-in, or took more than {} minutes: start again",
                LOGIN_STATE_TTL / 60
            )));
        };
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            kept.state.as_bytes(),
            state.as_bytes(),
        )) {
            return Err(LoginError::Refused(
                "this sign-in was not started in this browser (the state does not match): start again".into(),
            ));
        }
        // The code is exchanged with the redirect URI it was issued for.
        let redirect = kept
            .redirect
            .clone()
            .unwrap_or_else(|| self.redirect_url.clone());
        let meta = self.metadata().await?;
        let client = self.client(meta, &redirect)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| {
                LoginError::Unavailable(format!("the provider has no token endpoint: {e}"))
            })?
            .set_pkce_verifier(PkceCodeVerifier::new(kept.verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| LoginError::Refused(format!("the code exchange failed: {e}")))?;
        use openidconnect::TokenResponse as _;
        let id_token = response
            .id_token()
            .ok_or_else(|| LoginError::Refused("the provider returned no ID token".into()))?;
        let nonce = Nonce::new(kept.nonce);
        let verified = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(c) => Ok(c.clone()),
            // A key the cached set does not hold: the provider may have rotated its keys.
            Err(ClaimsVerificationError::SignatureVerification(
                SignatureVerificationError::NoMatchingKey,
            )) => {
                let refreshed = self.client(self.refetch_keys().await?, &redirect)?;
                let verifier = refreshed.id_token_verifier();
                let again = id_token.claims(&verifier, &nonce).cloned();
                again
            }
            Err(e) => Err(e),
        };
        let claims = verified.map_err(|e| {
            let cause = match &e {
                ClaimsVerificationError::SignatureVerification(inner) => {
                    format!("{e}: {inner}")
                }
                other => other.to_string(),
            };
            tracing::warn!(issuer = %self.config.issuer, error = %cause, "an ID token from the identity provider failed verification: sign-in refused");
            LoginError::Refused(format!("the ID token is not valid: {cause}"))
        })?;
        let subject = claims.subject().as_str().to_string();
        // Verified above; read the claims the standard set does not cover (groups, custom
        // username claims) from the same token.
        let raw = payload(&id_token.to_string())
            .ok_or_else(|| LoginError::Refused("unreadable ID token".into()))?;
        let raw_name = raw
            .get(&self.config.username_claim)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                LoginError::Refused(format!(
                    "the ID token has no {:?} claim (oidc.username_claim)",
                    self.config.username_claim
                ))
            })?;
        let username = raw_name.to_ascii_lowercase();
        Username::parse(&username).map_err(|e| {
            LoginError::Refused(format!("the name {raw_name:?} (claim {:?}) cannot be a registry user: {e}; choose another oidc.username_claim", self.config.username_claim))
        })?;
        let groups = match raw.get(&self.config.groups_claim) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            Some(Value::String(s)) => s
                .split([' ', ','])
                .filter(|g| !g.is_empty())
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        Ok(SignedIn {
            issuer: self.config.issuer.clone(),
            subject,
            username,
            groups,
        })
    }
}

fn payload(jwt: &str) -> Option<serde_json::Map<String, Value>> {
    let part = jwt.split('.').nth(1)?;
    serde_json::from_slice(
        &BASE64URL_NOPAD
            .decode(part.trim_end_matches('=').as_bytes())
            .ok()?,
    )
    .ok()
}

impl crate::probe::Probe for OidcLogin {
    fn name(&self) -> String {
        "oidc provider".into()
    }

    fn check(
        &self,
    ) -> futures_util::future::BoxFuture<'_, Result<Option<String>, crate::probe::ProbeError>> {
        Box::pin(async move {
            self.metadata().await?;
            Ok(None)
        })
    }

    fn required(&self) -> bool {
        false
    }
}
