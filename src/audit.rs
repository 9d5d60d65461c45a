//! The audit trail: one structured event per token request, on the `audit` tracing target
//! (so it can be routed or filtered apart from operational logs: `RUST_LOG=audit=info`).
//!
//! What it records is chosen so that "why was I refused?" can be answered from the log
//! alone, and what it never records is any secret: no password, refresh token or JWT,
//! only the token's `jti`.

/// How a token request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A token was issued (possibly with fewer actions than asked: see `granted`).
    Issued,
    /// Credentials were refused (401).
    Rejected,
    /// The request was malformed (4xx).
    Invalid,
    /// A backend failed (503).
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::Rejected => "rejected",
            Outcome::Invalid => "invalid",
            Outcome::Failed => "failed",
        }
    }
}

#[derive(Clone, Copy)]
pub struct TokenEvent<'a> {
    pub outcome: Outcome,
    /// The authenticated subject, or the name a refused request claimed, or "" (anonymous).
    pub subject: &'a str,
    /// How the requester authenticated: password, refresh_token, anonymous.
    pub auth: &'a str,
    pub client_ip: &'a str,
    pub client_id: &'a str,
    pub service: &'a str,
    /// Requested scopes, space-separated.
    pub requested: &'a str,
    /// Granted scopes, space-separated.
    pub granted: &'a str,
    /// Why: which policy allowed or denied each action, or why credentials were refused.
    pub reason: &'a str,
    pub jti: &'a str,
}

pub fn token(e: &TokenEvent<'_>) {
    tracing::info!(
        target: "audit",
        event = "token",
        outcome = e.outcome.as_str(),
        subject = e.subject,
        auth = e.auth,
        client_ip = e.client_ip,
        client_id = e.client_id,
        service = e.service,
        requested = e.requested,
        granted = e.granted,
        reason = e.reason,
        jti = e.jti,
    );
}
