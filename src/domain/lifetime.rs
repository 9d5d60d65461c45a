//! How long a credential made by hand lives (`--expires 30d`, the token page's "Expires
//! after"): at least a second, at most [`MAX_LIFETIME_DAYS`] days. Parsed once, so that
//! `now + lifetime` can never overflow into a date in the past: a secret printed as
//! created must not be already expired.

use std::fmt;
use std::time::Duration;

use super::duration::{format_duration, parse_duration};

/// The longest lifetime accepted; without an expiry a credential never expires.
pub const MAX_LIFETIME_DAYS: u64 = 3650;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lifetime(Duration);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LifetimeError {
    #[error("{0:?} is not a duration: {1} (write e.g. 30d or 12h)")]
    Unreadable(String, String),
    #[error("{0:?} is not a lifetime: give at least 1s")]
    TooShort(String),
    #[error("{0:?} is longer than {MAX_LIFETIME_DAYS} days: give a shorter lifetime, or none for a credential that never expires")]
    TooLong(String),
}

impl Lifetime {
    pub fn parse(text: &str) -> Result<Lifetime, LifetimeError> {
        let d = parse_duration(text).map_err(|e| LifetimeError::Unreadable(text.to_string(), e))?;
        if d < Duration::from_secs(1) {
            return Err(LifetimeError::TooShort(text.to_string()));
        }
        if d > Duration::from_secs(MAX_LIFETIME_DAYS * 86400) {
            return Err(LifetimeError::TooLong(text.to_string()));
        }
        Ok(Lifetime(d))
    }

    /// When a credential made at `now` (Unix seconds) expires.
    pub fn expires_at(self, now: i64) -> i64 {
        now.saturating_add(self.0.as_secs() as i64)
    }
}

impl fmt::Display for Lifetime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifetimes_are_bounded_so_an_expiry_is_never_in_the_past() {
        assert_eq!(
            Lifetime::parse("30d").unwrap().expires_at(1000),
            1000 + 30 * 86400
        );
        for (text, want) in [
            ("9223372036854775807s", "longer than 3650 days"),
            ("3651d", "longer than 3650 days"),
            ("0s", "at least 1s"),
            ("0d", "at least 1s"),
            ("soon", "not a duration"),
            ("99999999999999999999d", "not a duration"),
        ] {
            let e = Lifetime::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{text}: {e}");
        }
        assert!(Lifetime::parse("3650d").is_ok());
    }
}
