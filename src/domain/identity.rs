use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use super::ScopeLimit;

/// Who is asking for a token, once authentication has run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Requester {
    /// No credentials were sent. (Wrong credentials never become anonymous: they are a 401.)
    Anonymous,
    Authenticated(Identity),
}

impl Requester {
    /// The JWT `sub` claim: the principal's subject string, or `""` for anonymous (jwt.md).
    pub fn subject(&self) -> Cow<'_, str> {
        match self {
            Requester::Anonymous => Cow::Borrowed(""),
            Requester::Authenticated(id) => id.subject(),
        }
    }

    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Requester::Anonymous => None,
            Requester::Authenticated(id) => Some(id),
        }
    }
}

/// What kind of principal an identity is. Policies bind `user:NAME` and `robot:NAME`
/// separately so that a robot can never pick up a human's personal namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PrincipalKind {
    User,
    Robot,
    /// A CI job or other workload, vouched for by its own OIDC token (federation). Policies
    /// bind it through the groups its federation entry gives it.
    Workload,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::Robot => "robot",
            PrincipalKind::Workload => "workload",
        }
    }
}

/// Which authenticator vouched for an identity; recorded in audit events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthSource {
    /// A local user's password (argon2id).
    Password,
    /// A refresh token (docker's `identitytoken`).
    RefreshToken,
    /// A personal access token, as the password of its owner.
    AccessToken,
    /// A robot account's secret.
    RobotSecret,
    /// A password verified by the LDAP directory.
    Ldap,
    /// A workload's OIDC token from a trusted issuer (federation).
    Federation,
    /// A client certificate verified by the TLS handshake (`server.tls.client_identities`).
    ClientCertificate,
}

impl AuthSource {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthSource::Password => "password",
            AuthSource::RefreshToken => "refresh_token",
            AuthSource::AccessToken => "access_token",
            AuthSource::RobotSecret => "robot_secret",
            AuthSource::Ldap => "ldap",
            AuthSource::Federation => "federation",
            AuthSource::ClientCertificate => "client_certificate",
        }
    }
}

/// An authenticated principal: its name, kind and the groups it belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub kind: PrincipalKind,
    pub name: String,
    pub groups: Vec<String>,
    pub source: AuthSource,
    /// What the credential itself is limited to (a personal access token's scopes); the
    /// grant is the intersection of this and the policies. `None`: the policies alone.
    pub limit: Option<Arc<ScopeLimit>>,
}

impl Identity {
    pub fn user(name: impl Into<String>, groups: Vec<String>, source: AuthSource) -> Identity {
        Identity {
            kind: PrincipalKind::User,
            name: name.into(),
            groups,
            source,
            limit: None,
        }
    }

    pub fn robot(name: impl Into<String>, source: AuthSource) -> Identity {
        Identity {
            kind: PrincipalKind::Robot,
            name: name.into(),
            groups: Vec::new(),
            source,
            limit: None,
        }
    }

    /// The token subject. Users are their bare name (what `docker login -u` typed, and what
    /// the registry logs); other principals carry their kind so they cannot be confused.
    pub fn subject(&self) -> Cow<'_, str> {
        match self.kind {
            PrincipalKind::User => Cow::Borrowed(&self.name),
            PrincipalKind::Robot => Cow::Owned(format!("robot:{}", self.name)),
            // Already a full subject, made from the entry's template (e.g. `ci:acme/api`).
            PrincipalKind::Workload => Cow::Borrowed(&self.name),
        }
    }
}

/// The login name of robot NAME is `robot+NAME` (a `+` cannot appear in a user name, so the
/// two never collide).
pub const ROBOT_LOGIN_PREFIX: &str = "robot+";

impl Identity {
    /// Whether `login` is the name this principal logs in with (`alice`, `robot+ci`). A
    /// workload logs in with its federation entry's name, which its identity does not keep:
    /// never true for one.
    pub fn logs_in_as(&self, login: &str) -> bool {
        match self.kind {
            PrincipalKind::User => self.name == login,
            PrincipalKind::Workload => false,
            PrincipalKind::Robot => login
                .strip_prefix(ROBOT_LOGIN_PREFIX)
                .is_some_and(|n| n == self.name),
        }
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind.as_str(), self.name)
    }
}
