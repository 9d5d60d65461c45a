use std::fmt;

/// A local username: 1–64 characters of `[a-z0-9._-]`, starting with a letter or digit.
///
/// Lower case only, because the `${user}` namespace placeholder puts the name into
/// repository names, which the registry requires to be lower case. No `:` (it would split a
/// Basic credential) and no `/` (it would escape a personal namespace).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Username(String);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UsernameError {
    #[error("a username cannot be empty")]
    Empty,
    #[error("a username is at most 64 characters long")]
    TooLong,
    #[error("a username must start with a lower-case letter or a digit")]
    BadStart,
    #[error("a username may only hold lower-case letters, digits, '.', '_' and '-' (found {0:?})")]
    BadChar(char),
}

impl Username {
    pub fn parse(s: &str) -> Result<Username, UsernameError> {
        let first = s.chars().next().ok_or(UsernameError::Empty)?;
        if s.len() > 64 {
            return Err(UsernameError::TooLong);
        }
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return Err(UsernameError::BadStart);
        }
        if let Some(c) = s.chars().find(|c| {
            !(c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        }) {
            return Err(UsernameError::BadChar(c));
        }
        Ok(Username(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lower_case_names_without_separators() {
        let cases: &[(&str, Result<(), UsernameError>)] = &[
            ("alice", Ok(())),
            ("a.b_c-d9", Ok(())),
            ("0day", Ok(())),
            ("", Err(UsernameError::Empty)),
            ("Alice", Err(UsernameError::BadStart)),
            ("-x", Err(UsernameError::BadStart)),
            ("bob:x", Err(UsernameError::BadChar(':'))),
            ("a/b", Err(UsernameError::BadChar('/'))),
            ("aB", Err(UsernameError::BadChar('B'))),
        ];
        for (input, want) in cases {
            assert_eq!(Username::parse(input).map(|_| ()), *want, "input {input:?}");
        }
        assert_eq!(
            Username::parse(&"a".repeat(65)),
            Err(UsernameError::TooLong)
        );
    }
}
