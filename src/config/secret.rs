//! Secrets in the configuration file.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A secret read from the configuration: never printed by `Debug`.
#[derive(Clone, Default, Deserialize, Serialize)]
#[serde(transparent)]
pub struct RawSecret(pub String);

impl fmt::Debug for RawSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() {
            "\"\""
        } else {
            "[redacted]"
        })
    }
}
