//! A password someone is setting (not one presented to log in): long enough to resist
//! guessing, short enough to hash. The CLI and the admin API apply the same rule.

use secrecy::{ExposeSecret, SecretString};

/// Fewer characters than this are refused (NIST SP 800-63B's minimum).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// More bytes than this are refused: argon2 would hash them, but nobody types them.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// A checked new password.
pub struct NewPassword(SecretString);

impl NewPassword {
    /// The password, or why it is refused (never repeating it).
    pub fn parse(password: SecretString) -> Result<NewPassword, String> {
        let p = password.expose_secret();
        if p.chars().count() < MIN_PASSWORD_CHARS {
            return Err(format!(
                "the password must have at least {MIN_PASSWORD_CHARS} characters"
            ));
        }
        if p.len() > MAX_PASSWORD_BYTES {
            return Err(format!(
                "the password must have at most {MAX_PASSWORD_BYTES} bytes"
            ));
        }
        Ok(NewPassword(password))
    }

    pub fn into_secret(self) -> SecretString {
        self.0
    }
}
