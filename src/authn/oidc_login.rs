//! Browser sign-in with the company's identity provider (OIDC authorization code flow with
//! PKCE), so people can make their own personal access tokens: `docker login` cannot open a
//! browser, but a token made in one works everywhere.
//!
//! `start` remembers the PKCE verifier and nonce under a random `state` (10 minutes at most)
//! and returns the provider's authorization URL; `finish` takes the code and state back,
//! exchanges the code (with the verifier), verifies the ID token (signature against the
//! provider's keys, issuer, audience, expiry, nonce) and returns who signed in: the
//! configured username claim, and the groups claim for `group:` policies.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use data_encoding::BASE64URL_NOPAD;
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointMaybeSet, EndpointNotSet,
    EndpointSet, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, Scope,
};
use secrecy::ExposeSecret;
use serde_json::Value;
use tokio::sync::Mutex;

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

const PENDING_FOR: Duration = Duration::from_secs(600);
const MAX_PENDING: usize = 10_000;

/// Who signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedIn {
    pub username: String,
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

struct Pending {
    verifier: PkceCodeVerifier,
    nonce: Nonce,
    created: Instant,
}

pub struct OidcLogin {
    config: OidcConfig,
    redirect_url: String,
    http: openidconnect::reqwest::Client,
    metadata: Mutex<Option<CoreProviderMetadata>>,
    pending: Mutex<HashMap<String, Pending>>,
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
            pending: Mutex::new(HashMap::new()),
        }
    }

    pub fn config(&self) -> &OidcConfig {
        &self.config
    }

    /// The provider's metadata, discovered on first use (so portcullis starts while the
    /// provider is down) and kept.
    async fn metadata(&self) -> Result<CoreProviderMetadata, LoginError> {
        let mut m = self.metadata.lock().await;
        if let Some(meta) = m.as_ref() {
            return Ok(meta.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| LoginError::Unavailable(e.to_string()))?;
        let meta = CoreProviderMetadata::discover_async(issuer, &self.http)
            .await
            .map_err(|e| {
                LoginError::Unavailable(format!("{}: discovery failed: {e}", self.config.issuer))
            })?;
        *m = Some(meta.clone());
        Ok(meta)
    }

    /// The relying-party client for `meta`, redirecting back to `/login/callback`.
    fn client(&self, meta: CoreProviderMetadata) -> Result<RelyingParty, LoginError> {
        let redirect = RedirectUrl::new(self.redirect_url.clone())
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

    /// Starts a sign-in: the URL to send the browser to.
    pub async fn start(&self) -> Result<String, LoginError> {
        let meta = self.metadata().await?;
        let client = self.client(meta)?;
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
        let mut pending = self.pending.lock().await;
        pending.retain(|_, p| p.created.elapsed() < PENDING_FOR);
        if pending.len() >= MAX_PENDING {
            return Err(LoginError::Unavailable(
                "too many sign-ins in progress".into(),
            ));
        }
        pending.insert(
            state.secret().clone(),
            Pending {
                verifier,
                nonce,
                created: Instant::now(),
            },
        );
        Ok(url.to_string())
    }

    /// Completes a sign-in from the provider's redirect.
    pub async fn finish(&self, code: &str, state: &str) -> Result<SignedIn, LoginError> {
        let pending = self.pending.lock().await.remove(state);
        let Some(p) = pending.filter(|p| p.created.elapsed() < PENDING_FOR) else {
            return Err(LoginError::Refused(
                "this sign-in is unknown or expired: start again".into(),
            ));
        };
        let meta = self.metadata().await?;
        let client = self.client(meta)?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| {
                LoginError::Unavailable(format!("the provider has no token endpoint: {e}"))
            })?
            .set_pkce_verifier(p.verifier)
            .request_async(&self.http)
            .await
            .map_err(|e| LoginError::Refused(format!("the code exchange failed: {e}")))?;
        use openidconnect::TokenResponse as _;
        let id_token = response
            .id_token()
            .ok_or_else(|| LoginError::Refused("the provider returned no ID token".into()))?;
        id_token
            .claims(&client.id_token_verifier(), &p.nonce)
            .map_err(|e| LoginError::Refused(format!("the ID token is not valid: {e}")))?;
        // Verified above; read the claims the standard set does not cover (groups, custom
        // username claims) from the same token.
        let claims = payload(&id_token.to_string())
            .ok_or_else(|| LoginError::Refused("unreadable ID token".into()))?;
        let raw_name = claims
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
        let groups = match claims.get(&self.config.groups_claim) {
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
        Ok(SignedIn { username, groups })
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
