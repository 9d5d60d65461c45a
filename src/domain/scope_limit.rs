//! What a machine credential (a personal access token) may be used for, whatever its
//! owner may do: a list such as `repository:team/app:pull,push`, `repository:team/**:pull`
//! or `registry:catalog:*`. The effective grant is the *intersection* of this list and what
//! the owner's policies allow today, so a token never outlives its owner's permissions.

use std::fmt;

use super::{Action, RepoPattern, Scope};

#[derive(Clone, Debug)]
pub struct ScopeLimit {
    entries: Vec<LimitEntry>,
}

#[derive(Clone, Debug)]
struct LimitEntry {
    source: String,
    target: Target,
    actions: Vec<Action>,
}

#[derive(Clone, Debug)]
enum Target {
    Repository(RepoPattern),
    Catalog,
    /// The admin API: a token made for pushing images never opens it; one made with this
    /// scope does, for as long as policy lets its owner administer.
    AdminApi,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("token scope {scope:?}: {problem}")]
pub struct ScopeLimitError {
    pub scope: String,
    pub problem: String,
}

impl ScopeLimit {
    /// Parses `type:pattern:actions` items: `repository:PATTERN:a,b` (patterns as in
    /// policies: `*` within a segment, `**` across segments) or `registry:catalog:*`.
    pub fn parse<S: AsRef<str>>(items: &[S]) -> Result<ScopeLimit, ScopeLimitError> {
        let mut entries = Vec::new();
        for item in items {
            let item = item.as_ref().trim();
            let err = |problem: &str| ScopeLimitError {
                scope: item.to_string(),
                problem: problem.to_string(),
            };
            let (ty, rest) = item.split_once(':').ok_or_else(|| {
                err("expected type:name:actions, e.g. repository:team/app:pull,push")
            })?;
            let (name, actions) = rest.rsplit_once(':').ok_or_else(|| {
                err("expected type:name:actions, e.g. repository:team/app:pull,push")
            })?;
            let target = match ty {
                "repository" => {
                    if name.contains("${") {
                        return Err(err(
                            "placeholders are for policies; write the repository name",
                        ));
                    }
                    Target::Repository(RepoPattern::parse(name).map_err(|e| err(&e.to_string()))?)
                }
                "registry" if name == "catalog" => Target::Catalog,
                super::scope::ADMIN_API_TYPE if name == super::scope::ADMIN_API_NAME => {
                    Target::AdminApi
                }
                _ => {
                    return Err(err(
                        "only repository:NAME:ACTIONS, registry:catalog:* and portcullis:admin:* (the admin API) can be given",
                    ))
                }
            };
            let mut parsed = Vec::new();
            for a in actions.split(',').filter(|a| !a.is_empty()) {
                let action =
                    Action::parse(a).ok_or_else(|| err("actions are pull, push, delete or *"))?;
                if !parsed.contains(&action) {
                    parsed.push(action);
                }
            }
            if parsed.is_empty() {
                return Err(err("no action given"));
            }
            entries.push(LimitEntry {
                source: item.to_string(),
                target,
                actions: parsed,
            });
        }
        if entries.is_empty() {
            return Err(ScopeLimitError {
                scope: String::new(),
                problem: "a token needs at least one scope".into(),
            });
        }
        Ok(ScopeLimit { entries })
    }

    /// Whether `action` on `scope`'s resource is within the limit. A requested `*` needs an
    /// entry that gives `*`.
    pub fn allows(&self, scope: &Scope, action: &Action) -> bool {
        let ty = &scope.resource_type;
        self.entries.iter().any(|e| {
            let target_matches = match &e.target {
                Target::Repository(p) => ty.is_repository() && p.matches(&scope.name, None),
                Target::Catalog => ty.is_registry() && scope.name == "catalog",
                Target::AdminApi => scope.is_admin_api(),
            };
            target_matches && (e.actions.contains(&Action::All) || e.actions.contains(action))
        })
    }

    /// The items as given, for storage and display.
    pub fn items(&self) -> Vec<&str> {
        self.entries.iter().map(|e| e.source.as_str()).collect()
    }
}

impl PartialEq for ScopeLimit {
    fn eq(&self, other: &Self) -> bool {
        self.items() == other.items()
    }
}

impl Eq for ScopeLimit {}

impl fmt::Display for ScopeLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.items().join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(items: &[&str]) -> ScopeLimit {
        ScopeLimit::parse(items).unwrap()
    }

    #[test]
    fn a_limit_allows_only_its_resources_and_actions() {
        let l = limit(&[
            "repository:team/app:pull,push",
            "repository:libs/**:pull",
            "registry:catalog:*",
        ]);
        let cases = [
            ("repository:team/app:push", Action::Push, true),
            ("repository:team/app:delete", Action::Delete, false),
            ("repository:team/other:pull", Action::Pull, false),
            ("repository:libs/a/b:pull", Action::Pull, true),
            ("repository:libs/a:push", Action::Push, false),
            ("repository:team/app:*", Action::All, false),
            ("registry:catalog:*", Action::All, true),
            ("portcullis:admin:*", Action::All, false),
        ];
        for (scope, action, want) in cases {
            assert_eq!(
                l.allows(&Scope::parse(scope).unwrap(), &action),
                want,
                "{scope} {action}"
            );
        }
        assert!(limit(&["portcullis:admin:*"])
            .allows(&Scope::parse("portcullis:admin:*").unwrap(), &Action::All));
        assert!(!limit(&["repository:**:*"])
            .allows(&Scope::parse("portcullis:admin:*").unwrap(), &Action::All));
        assert!(limit(&["repository:**:*"]).allows(
            &Scope::parse("repository:x:delete").unwrap(),
            &Action::Delete
        ));
    }

    #[test]
    fn malformed_limits_are_refused_with_the_reason() {
        for bad in [
            "team/app:pull",
            "repository:team/app",
            "repository:team/app:",
            "repository:Team/app:pull",
            "repository:${user}/**:pull",
            "registry:other:*",
            "plugin:x:pull",
            "repository:a:fly;rm",
        ] {
            assert!(
                ScopeLimit::parse(&[bad]).is_err(),
                "{bad} should be refused"
            );
        }
        assert!(ScopeLimit::parse::<&str>(&[]).is_err());
    }
}
