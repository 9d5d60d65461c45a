//! Rules kept in the database (role bindings and custom roles), parsed with exactly the
//! checks a policy file gets: the same subjects, role or action lists, repository patterns,
//! catalog and admin API. A binding that parses here compiles like a `[[grant]]` or
//! `[[deny]]` entry; one that does not is refused at the API with the field at fault.

use std::fmt;

use super::policy_file::{is_role_name, ActionWord, Effect, EntryDef, Permission, BUILTIN_ROLES};
use super::subject::Subject;
use crate::domain::{Action, RepoPattern};
use crate::store::{BindingFields, RoleRecord};

/// The longest description kept, in characters.
pub const MAX_DESCRIPTION: usize = 1000;
/// The most items in one list (subjects, actions, repositories).
pub const MAX_ITEMS: usize = 100;

/// A request field that is wrong, and how to fix it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    /// The field as the API names it: `subjects`, `repositories[2]`, `role`.
    pub field: String,
    pub message: String,
}

impl FieldError {
    fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

impl std::error::Error for FieldError {}

/// A binding, checked: everything but whether its role exists, which depends on the rest
/// of the policy (a role may live in a file).
#[derive(Debug)]
pub struct BindingSpec {
    pub(crate) entry: EntryDef,
    expires_at: Option<i64>,
}

impl BindingSpec {
    /// Checks what an admin sent. `now` bounds the expiry: a binding that has already
    /// expired would be in force for no one, which is a mistake, not an intent.
    pub fn parse(f: &BindingFields, now: Option<i64>) -> Result<BindingSpec, FieldError> {
        let effect = match f.effect.as_str() {
            "grant" => Effect::Grant,
            "deny" => Effect::Deny,
            other => {
                return Err(FieldError::new(
                    "effect",
                    format!("{other:?} is not an effect. Fix: use \"grant\" or \"deny\""),
                ))
            }
        };
        if f.subjects.is_empty() {
            return Err(FieldError::new(
                "subjects",
                "is empty, so the binding would apply to no one. Fix: list subjects, e.g. [\"group:developers\"]",
            ));
        }
        bounded("subjects", f.subjects.len())?;
        let mut subjects = Vec::with_capacity(f.subjects.len());
        for (i, s) in f.subjects.iter().enumerate() {
            let subject = Subject::parse(s)
                .map_err(|e| FieldError::new(format!("subjects[{i}]"), e.to_string()))?;
            if !subjects.contains(&subject) {
                subjects.push(subject);
            }
        }
        let permission = match (&f.role, f.actions.is_empty()) {
            (Some(_), false) => {
                return Err(FieldError::new(
                    "role",
                    "both `role` and `actions` are given. Fix: keep one of them (a role is a named list of actions)",
                ))
            }
            (None, true) => {
                return Err(FieldError::new(
                    "role",
                    format!("neither `role` nor `actions` is given, so the binding would {} nothing. Fix: add e.g. \"role\": \"reader\" or \"actions\": [\"pull\"]", effect.as_str()),
                ))
            }
            (Some(role), true) => {
                if !is_role_name(role) {
                    return Err(FieldError::new(
                        "role",
                        format!("bad role name {role:?}. Fix: use lower-case letters, digits, '-' and '_', starting with a letter"),
                    ));
                }
                Permission::Role {
                    name: role.clone(),
                    line: 0,
                }
            }
            (None, false) => Permission::Actions(action_words("actions", &f.actions)?),
        };
        bounded("repositories", f.repositories.len())?;
        let mut repositories = Vec::with_capacity(f.repositories.len());
        for (i, p) in f.repositories.iter().enumerate() {
            let pattern = RepoPattern::parse(p).map_err(|e| {
                FieldError::new(
                    format!("repositories[{i}]"),
                    format!("bad repository pattern: {e}"),
                )
            })?;
            repositories.push(pattern);
        }
        if repositories.is_empty() && !f.catalog && !f.admin_api {
            return Err(FieldError::new(
                "repositories",
                "names no resource: `repositories` is empty and neither `catalog` nor `admin_api` is true. Fix: add e.g. [\"team/**\"], or \"catalog\": true",
            ));
        }
        let description = match &f.description {
            Some(d) if d.chars().count() > MAX_DESCRIPTION => {
                return Err(FieldError::new(
                    "description",
                    format!("is longer than {MAX_DESCRIPTION} characters. Fix: shorten it"),
                ))
            }
            Some(d) if d.chars().any(char::is_control) => {
                return Err(FieldError::new(
                    "description",
                    "holds control characters (line breaks, tabs…). Fix: write it on one line",
                ))
            }
            Some(d) => Some(d.trim().to_owned()).filter(|d| !d.is_empty()),
            None => None,
        };
        if let (Some(at), Some(now)) = (f.expires_at, now) {
            if at <= now {
                return Err(FieldError::new(
                    "expires_at",
                    "is not in the future, so the binding would never be in force. Fix: give a later time, or none for a binding that does not expire",
                ));
            }
        }
        Ok(BindingSpec {
            entry: EntryDef {
                effect,
                line: 0,
                subjects,
                permission,
                repositories,
                catalog: f.catalog,
                admin_api: f.admin_api,
                description,
            },
            expires_at: f.expires_at,
        })
    }

    /// The binding as it is stored: normalised (subjects and actions once each,
    /// description trimmed).
    pub fn fields(&self) -> BindingFields {
        let e = &self.entry;
        let (role, actions) = match &e.permission {
            Permission::Role { name, .. } => (Some(name.clone()), Vec::new()),
            Permission::Actions(words) => (
                None,
                words.iter().map(|w| w.action.as_str().to_owned()).collect(),
            ),
        };
        BindingFields {
            effect: e.effect.as_str().to_owned(),
            subjects: e.subjects.iter().map(|s| s.to_string()).collect(),
            role,
            actions,
            repositories: e
                .repositories
                .iter()
                .map(|p| p.as_str().to_owned())
                .collect(),
            catalog: e.catalog,
            admin_api: e.admin_api,
            description: e.description.clone(),
            expires_at: self.expires_at,
        }
    }

    /// The role it names, if it names one.
    pub fn role(&self) -> Option<&str> {
        match &self.entry.permission {
            Permission::Role { name, .. } => Some(name),
            Permission::Actions(_) => None,
        }
    }

    /// The binding in one line, as `explain` shows it.
    pub fn text(&self) -> String {
        self.entry.text()
    }

    pub fn expires_at(&self) -> Option<i64> {
        self.expires_at
    }
}

/// A custom role from the database, checked.
#[derive(Debug)]
pub struct RoleSpec {
    pub name: String,
    pub actions: Vec<Action>,
}

impl RoleSpec {
    pub fn parse(name: &str, actions: &[String]) -> Result<RoleSpec, FieldError> {
        if BUILTIN_ROLES.iter().any(|(b, _)| *b == name) {
            return Err(FieldError::new(
                "name",
                format!("{name:?} is a built-in role and cannot be redefined. Fix: give your role another name"),
            ));
        }
        if !is_role_name(name) || name.len() > 64 {
            return Err(FieldError::new(
                "name",
                format!("bad role name {name:?}. Fix: use up to 64 lower-case letters, digits, '-' and '_', starting with a letter"),
            ));
        }
        let words = action_words("actions", actions)?;
        for (i, w) in words.iter().enumerate() {
            if BUILTIN_ROLES.iter().any(|(b, _)| *b == w.action.as_str()) {
                return Err(FieldError::new(
                    format!("actions[{i}]"),
                    format!("{:?} is a role, not an action; roles cannot include roles. Fix: list that role's actions instead", w.action.as_str()),
                ));
            }
        }
        Ok(RoleSpec {
            name: name.to_owned(),
            actions: words.into_iter().map(|w| w.action).collect(),
        })
    }

    pub(crate) fn from_record(r: &RoleRecord) -> Result<RoleSpec, FieldError> {
        RoleSpec::parse(&r.name, &r.actions)
    }

    pub fn action_names(&self) -> Vec<String> {
        self.actions.iter().map(|a| a.as_str().to_owned()).collect()
    }
}

fn bounded(field: &str, n: usize) -> Result<(), FieldError> {
    if n > MAX_ITEMS {
        return Err(FieldError::new(
            field,
            format!(
                "lists {n} items; at most {MAX_ITEMS} are allowed. Fix: use a group or a pattern"
            ),
        ));
    }
    Ok(())
}

fn action_words(field: &str, list: &[String]) -> Result<Vec<ActionWord>, FieldError> {
    if list.is_empty() {
        return Err(FieldError::new(
            field,
            "is empty. Fix: list actions such as \"pull\", \"push\", \"delete\" or \"*\"",
        ));
    }
    bounded(field, list.len())?;
    let mut words: Vec<ActionWord> = Vec::new();
    for (i, a) in list.iter().enumerate() {
        let Some(action) = Action::parse(a) else {
            return Err(FieldError::new(
                format!("{field}[{i}]"),
                format!(
                    "bad action {a:?}. Fix: use pull, push, delete, * or another lower-case word"
                ),
            ));
        };
        if !words.iter().any(|w| w.action == action) {
            words.push(ActionWord { action, line: 0 });
        }
    }
    Ok(words)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields() -> BindingFields {
        BindingFields {
            effect: "grant".into(),
            subjects: vec!["group:qa".into(), "group:qa".into()],
            role: Some("writer".into()),
            actions: vec![],
            repositories: vec!["team/**".into()],
            catalog: false,
            admin_api: false,
            description: Some("  qa  ".into()),
            expires_at: None,
        }
    }

    #[test]
    fn a_binding_is_checked_like_a_policy_entry_and_stored_normalised() {
        let spec = BindingSpec::parse(&fields(), Some(0)).unwrap();
        assert_eq!(spec.text(), "grant writer to group:qa on team/**");
        let stored = spec.fields();
        assert_eq!(stored.subjects, ["group:qa"]);
        assert_eq!(stored.description.as_deref(), Some("qa"));
    }

    #[test]
    fn each_mistake_names_its_field() {
        type Change = Box<dyn Fn(&mut BindingFields)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|f| f.effect = "allow".into()), "effect"),
            (Box::new(|f| f.subjects = vec![]), "subjects"),
            (
                Box::new(|f| f.subjects = vec!["group:qa".into(), "team:x".into()]),
                "subjects[1]",
            ),
            (Box::new(|f| f.actions = vec!["pull".into()]), "role"),
            (Box::new(|f| f.role = None), "role"),
            (Box::new(|f| f.role = Some("Writer".into())), "role"),
            (
                Box::new(|f| {
                    f.role = None;
                    f.actions = vec!["pull".into(), "Push!".into()]
                }),
                "actions[1]",
            ),
            (
                Box::new(|f| f.repositories = vec!["ok/**".into(), "Bad".into()]),
                "repositories[1]",
            ),
            (Box::new(|f| f.repositories = vec![]), "repositories"),
            (
                Box::new(|f| f.description = Some("a\nb".into())),
                "description",
            ),
            (Box::new(|f| f.expires_at = Some(5)), "expires_at"),
            (
                Box::new(|f| f.subjects = vec!["group:g".into(); 101]),
                "subjects",
            ),
        ];
        for (change, field) in cases {
            let mut f = fields();
            change(&mut f);
            let e = BindingSpec::parse(&f, Some(10)).unwrap_err();
            assert_eq!(e.field, field, "{e}");
            assert!(e.message.contains("Fix:"), "{e}");
        }
    }

    #[test]
    fn the_admin_api_or_the_catalog_alone_is_a_resource() {
        let mut f = fields();
        f.repositories = vec![];
        f.admin_api = true;
        let spec = BindingSpec::parse(&f, None).unwrap();
        assert_eq!(spec.text(), "grant writer to group:qa on the admin API");
    }

    #[test]
    fn roles_cannot_shadow_built_in_roles_or_contain_roles() {
        assert_eq!(
            RoleSpec::parse("writer", &["pull".into()])
                .unwrap_err()
                .field,
            "name"
        );
        assert_eq!(
            RoleSpec::parse("tagger", &["pull".into(), "reader".into()])
                .unwrap_err()
                .field,
            "actions[1]"
        );
        let r = RoleSpec::parse("tagger", &["pull".into(), "tag".into(), "pull".into()]).unwrap();
        assert_eq!(r.action_names(), ["pull", "tag"]);
    }
}
