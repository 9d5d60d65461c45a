//! Group prefixes and maps, shared by `[ldap]` and `[oidc]`.

use std::collections::BTreeMap;

use super::{ConfigError, Origins};

/// A group prefix and map of section `section` hold only names policies can bind.
pub(super) fn group_names(
    section: &str,
    prefix: &str,
    map: &BTreeMap<String, String>,
    o: &Origins,
) -> Result<(), ConfigError> {
    if prefix.trim().chars().any(char::is_whitespace) {
        return Err(o.error(
            &format!("{section}.group_prefix"),
            format!("{prefix:?} holds a space"),
            "a prefix such as \"ldap:\" (ending in ':' keeps external groups apart from local ones, whose names cannot hold ':')",
        ));
    }
    if let Some((from, to)) = map
        .iter()
        .find(|(_, to)| to.is_empty() || to.chars().any(char::is_whitespace))
    {
        return Err(o.error(
            &format!("{section}.group_map"),
            format!("{from:?} maps to {to:?}, which cannot be a group name"),
            "map to a group name without spaces, as policies bind it (group:NAME)",
        ));
    }
    Ok(())
}
