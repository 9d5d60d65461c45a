//! `[keys]` and `[policies]`: the directories of the signing keys and of the policy files.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Origins};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawKeys {
    pub dir: String,
}

impl Default for RawKeys {
    fn default() -> Self {
        RawKeys { dir: "keys".into() }
    }
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPolicies {
    pub dir: String,
    pub watch: bool,
}

impl Default for RawPolicies {
    fn default() -> Self {
        RawPolicies {
            dir: "policies".into(),
            watch: true,
        }
    }
}

#[derive(Clone, Debug)]
pub struct KeysConfig {
    pub dir: PathBuf,
}

#[derive(Clone, Debug)]
pub struct PoliciesConfig {
    pub dir: PathBuf,
    /// Reload when a file in `dir` changes (off where file events do not arrive, such as
    /// some network file systems: reload with SIGHUP or the API there).
    pub watch: bool,
}

/// `require_policies`: the policies directory must exist (always, but for a restore).
pub(super) fn parse(
    keys: &RawKeys,
    policies: &RawPolicies,
    o: &Origins,
    require_policies: bool,
) -> Result<(KeysConfig, PoliciesConfig), ConfigError> {
    let err = |key: &str, problem: String, fix: &str| o.error(key, problem, fix);
    let non_empty_path = |key: &str, value: &str| {
        if value.trim().is_empty() {
            Err(err(
                key,
                "must not be empty".into(),
                "give a directory path",
            ))
        } else {
            Ok(PathBuf::from(value.trim()))
        }
    };
    let keys_dir = non_empty_path("keys.dir", &keys.dir)?;
    let policies_dir = non_empty_path("policies.dir", &policies.dir)?;
    if require_policies && !policies_dir.is_dir() {
        return Err(err(
            "policies.dir",
            format!("{} is not a readable directory", policies_dir.display()),
            "create it with at least one *.toml policy (see policies/README.md), or point policies.dir at one; relative paths are relative to the working directory",
        ));
    }

    Ok((
        KeysConfig { dir: keys_dir },
        PoliciesConfig {
            dir: policies_dir,
            watch: policies.watch,
        },
    ))
}
