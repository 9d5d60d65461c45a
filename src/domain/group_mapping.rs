//! How groups from an external source (the LDAP directory, an OIDC provider) become the
//! `group:NAME` subjects policies bind.
//!
//! Whoever controls group names at the source must not become a local admin by choosing a
//! name: by default every external group gets its source's prefix (`ldap:developers`,
//! `oidc:admins`). A local group name cannot contain `:`, so the two can never meet. An
//! explicit `group_map` entry is how an operator says "this directory group *is* our local
//! group `developers`"; an empty prefix opts out entirely (`portcullis check` warns).
//!
//! An external source also cannot make the server hold unbounded data: at most
//! [`MAX_EXTERNAL_GROUPS`] groups of at most [`MAX_GROUP_NAME`] bytes are kept per person.

use std::collections::BTreeMap;

/// Groups kept per person from one sign-in; more are dropped (and logged).
pub const MAX_EXTERNAL_GROUPS: usize = 256;
/// Longest external group name kept.
pub const MAX_GROUP_NAME: usize = 256;

#[derive(Clone, Copy, Debug)]
pub struct GroupMapping<'a> {
    /// Put before unmapped names (`ldap:`).
    pub prefix: &'a str,
    /// External name (compared without case) → the exact `group:` name.
    pub map: &'a BTreeMap<String, String>,
    /// Keep only the groups `map` names.
    pub only_mapped: bool,
}

/// The groups an external source gave, mapped, and how many were left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedGroups {
    pub groups: Vec<String>,
    /// Dropped for being too many, too long, empty, or holding control characters. (Names
    /// with spaces, such as Active Directory's `Domain Users`, are kept: policies cannot bind
    /// them unless `group_map` renames them, which it can.)
    pub dropped: usize,
}

impl GroupMapping<'_> {
    pub fn apply(&self, external: &[String]) -> MappedGroups {
        let mut dropped = 0;
        let mut groups: Vec<String> = Vec::new();
        for g in external {
            if g.is_empty() || g.len() > MAX_GROUP_NAME || g.chars().any(char::is_control) {
                dropped += 1;
                continue;
            }
            let mapped = match self.map.iter().find(|(k, _)| k.eq_ignore_ascii_case(g)) {
                Some((_, to)) => to.clone(),
                None if self.only_mapped => continue,
                None => format!("{}{g}", self.prefix),
            };
            groups.push(mapped);
        }
        groups.sort();
        groups.dedup();
        if groups.len() > MAX_EXTERNAL_GROUPS {
            dropped += groups.len() - MAX_EXTERNAL_GROUPS;
            groups.truncate(MAX_EXTERNAL_GROUPS);
        }
        MappedGroups { groups, dropped }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn external_groups_are_prefixed_unless_mapped_and_bounded() {
        let map = BTreeMap::from([("Registry-Admins".to_string(), "admins".to_string())]);
        let m = GroupMapping {
            prefix: "oidc:",
            map: &map,
            only_mapped: false,
        };
        let out = m.apply(&[
            "admins".into(),
            "registry-admins".into(),
            "dev".into(),
            "Domain Users".into(),
            "bad\nname".into(),
            "x".repeat(300),
        ]);
        assert_eq!(
            out.groups,
            ["admins", "oidc:Domain Users", "oidc:admins", "oidc:dev"]
        );
        assert_eq!(out.dropped, 2);
        let many: Vec<String> = (0..1000).map(|i| format!("g{i}")).collect();
        let out = m.apply(&many);
        assert_eq!(out.groups.len(), MAX_EXTERNAL_GROUPS);
        assert_eq!(out.dropped, 1000 - MAX_EXTERNAL_GROUPS);
        let only = GroupMapping {
            only_mapped: true,
            ..m
        };
        assert_eq!(
            only.apply(&["dev".into(), "REGISTRY-ADMINS".into()]).groups,
            ["admins"]
        );
    }
}
