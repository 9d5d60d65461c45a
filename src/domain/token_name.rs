//! The name of a personal access token: how its owner recognises it (`laptop`, `ci-build`).

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenName(String);

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("a token name is 1 to 64 characters without spaces, e.g. ci-build (got {0:?})")]
pub struct TokenNameError(String);

impl TokenName {
    pub fn parse(s: &str) -> Result<TokenName, TokenNameError> {
        let t = s.trim();
        if t.is_empty() || t.len() > 64 || t.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TokenNameError(s.chars().take(80).collect()));
        }
        Ok(TokenName(t.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_names_are_short_and_without_spaces() {
        assert_eq!(TokenName::parse(" ci-build ").unwrap().as_str(), "ci-build");
        for bad in ["", "  ", "two words", "tab\there", &"x".repeat(65)] {
            assert!(TokenName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
