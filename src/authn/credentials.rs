use secrecy::SecretString;

/// What a token request presented.
#[derive(Debug)]
pub enum Credentials {
    Anonymous,
    /// A username with a password, a personal access token (`pcp_…`) or, for
    /// `robot+NAME`, a robot secret.
    Password {
        username: String,
        password: SecretString,
    },
    /// A refresh token (docker's identity token).
    RefreshToken(SecretString),
    /// `Authorization: Bearer pcp_…` on the admin API: a personal access token alone,
    /// which names its owner.
    Bearer(SecretString),
    /// A client certificate the TLS handshake verified, naming a robot or a user through
    /// `server.tls.client_identities`.
    ClientCertificate(crate::config::ClientPrincipal),
}

impl Credentials {
    /// The name a request claimed, for audit records of refused requests.
    pub fn claimed_name(&self) -> &str {
        match self {
            Credentials::Password { username, .. } => username,
            Credentials::ClientCertificate(who) => who.login(),
            _ => "",
        }
    }
}
