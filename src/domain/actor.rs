//! Who made a change: every security event in the audit trail names one.

use std::fmt;

/// A person signed in (`alice`), an operator at the command line (`cli:root`), or the
/// server itself acting on its own (`portcullis`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// A signed-in person or an authenticated principal (its subject: `alice`, `robot:ci`).
    pub fn principal(subject: impl Into<String>) -> Actor {
        Actor(subject.into())
    }

    /// The operator running this command: `cli:` and their login name on this machine.
    pub fn cli() -> Actor {
        let name = std::env::var("SUDO_USER")
            .or_else(|_| std::env::var("USER"))
            .ok()
            .filter(|n| !n.is_empty())
            // SAFETY: getuid cannot fail.
            .unwrap_or_else(|| format!("uid{}", unsafe { libc::getuid() }));
        Actor(format!("cli:{name}"))
    }

    /// The server, for what it does by itself (e.g. binding an account at first sign-in).
    pub fn server() -> Actor {
        Actor("portcullis".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
