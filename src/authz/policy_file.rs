//! The TOML schema of one policy file, and its parse into checked definitions.
//!
//! Strict on purpose: an unknown key, a mistyped subject or an impossible pattern is an
//! error naming the file and line, never a rule that silently matches more (or less) than
//! its author meant. (docker_auth ignored a mistyped key and the rule then matched everyone.)
//!
//! Everything that can be checked within one file is checked here; only role names are left
//! for the engine, because a role may be defined in another file.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::subject::Subject;
use crate::domain::Action;
use crate::domain::RepoPattern;

/// The roles every policy set has; files may add more but never redefine these, so that
/// "writer" means the same thing in every deployment and every file.
pub(crate) const BUILTIN_ROLES: &[(&str, &[Action])] = &[
    ("admin", &[Action::All]),
    ("maintainer", &[Action::Pull, Action::Push, Action::Delete]),
    ("reader", &[Action::Pull]),
    ("writer", &[Action::Pull, Action::Push]),
];

/// A policy set that failed to load: which file, which line, what is wrong and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    file: String,
    line: Option<usize>,
    message: String,
}

impl PolicyError {
    pub(crate) fn at(file: &str, line: usize, message: impl Into<String>) -> PolicyError {
        PolicyError {
            file: file.to_owned(),
            line: Some(line),
            message: message.into(),
        }
    }

    /// For problems with no line: an unreadable file or directory.
    pub(crate) fn whole(file: &str, message: impl Into<String>) -> PolicyError {
        PolicyError {
            file: file.to_owned(),
            line: None,
            message: message.into(),
        }
    }

    /// The file (or directory) at fault, as it was named when loading.
    pub fn file(&self) -> &str {
        &self.file
    }

    /// The 1-based line at fault, when the problem has one.
    pub fn line(&self) -> Option<usize> {
        self.line
    }

    /// The problem and its fix, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

impl std::error::Error for PolicyError {}

// ---- The schema, as serde sees it. Spans are kept so every error can name its line. ----

type SpannedList = Spanned<Vec<Spanned<String>>>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    roles: BTreeMap<Spanned<String>, SpannedList>,
    #[serde(default)]
    grant: Vec<Spanned<RawEntry>>,
    #[serde(default)]
    deny: Vec<Spanned<RawEntry>>,
}

/// Every key is optional to serde so that a missing one gets our message (with a fix)
/// instead of serde's "missing field".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEntry {
    to: Option<SpannedList>,
    role: Option<Spanned<String>>,
    actions: Option<SpannedList>,
    repositories: Option<SpannedList>,
    catalog: Option<bool>,
    admin_api: Option<bool>,
    description: Option<String>,
}

// ---- What a file means, once checked. ----

/// One parsed file. Entries are in file order.
#[derive(Debug)]
pub(crate) struct ParsedFile {
    pub(crate) name: Arc<str>,
    pub(crate) roles: Vec<RoleDef>,
    pub(crate) entries: Vec<EntryDef>,
}

#[derive(Debug)]
pub(crate) struct RoleDef {
    pub(crate) name: String,
    pub(crate) line: usize,
    pub(crate) actions: Vec<ActionWord>,
}

/// An action as written, with its line: the engine still needs the line to refuse a role
/// name written where an action belongs (`actions = ["writer"]`).
#[derive(Debug)]
pub(crate) struct ActionWord {
    pub(crate) action: Action,
    pub(crate) line: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Effect {
    Grant,
    Deny,
}

impl Effect {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Effect::Grant => "grant",
            Effect::Deny => "deny",
        }
    }

    /// The context word for errors: "grant entry", "deny entry".
    pub(crate) fn entry(self) -> &'static str {
        match self {
            Effect::Grant => "grant entry",
            Effect::Deny => "deny entry",
        }
    }
}

/// `role = "..."` (resolved later, as roles may live in other files) or `actions = [...]`.
#[derive(Debug)]
pub(crate) enum Permission {
    Role { name: String, line: usize },
    Actions(Vec<ActionWord>),
}

/// One `[[grant]]` or `[[deny]]`, checked except for its role name.
#[derive(Debug)]
pub(crate) struct EntryDef {
    pub(crate) effect: Effect,
    /// The line of the entry's header, which is what explanations point at.
    pub(crate) line: usize,
    pub(crate) subjects: Vec<Subject>,
    pub(crate) permission: Permission,
    pub(crate) repositories: Vec<RepoPattern>,
    pub(crate) catalog: bool,
    /// Whether it grants (or denies) the admin API: `portcullis:admin:*`.
    pub(crate) admin_api: bool,
    pub(crate) description: Option<String>,
}

impl EntryDef {
    /// The entry restated in one line, as written: `grant writer to group:developers on team/**`.
    pub(crate) fn text(&self) -> String {
        let what = match &self.permission {
            Permission::Role { name, .. } => name.clone(),
            Permission::Actions(words) => words
                .iter()
                .map(|w| w.action.as_str())
                .collect::<Vec<_>>()
                .join(","),
        };
        let to = self
            .subjects
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        let repos = self
            .repositories
            .iter()
            .map(|p| p.as_str())
            .collect::<Vec<_>>()
            .join(", ");
        let mut on: Vec<String> = Vec::new();
        if !repos.is_empty() {
            on.push(repos);
        }
        if self.catalog {
            on.push("the catalog".to_owned());
        }
        if self.admin_api {
            on.push("the admin API".to_owned());
        }
        let on = on.join(" and ");
        format!("{} {what} to {to} on {on}", self.effect.as_str())
    }
}

/// Parses and checks one file. `name` is how errors and explanations will refer to it.
pub(crate) fn parse(name: &str, text: &str) -> Result<ParsedFile, PolicyError> {
    // Offsets of line starts, so that each span's line is a binary search: a generated
    // policy of 10,000 entries must not cost a scan of the whole text per key.
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let line_of = |offset: usize| line_starts.partition_point(|&start| start <= offset);

    let raw: RawFile = toml::from_str(text).map_err(|e| {
        let mut message = e.message().trim_end().to_owned();
        if message.starts_with("unknown field") {
            message.push_str(
                ". Fix: check the spelling; unknown keys are refused so that a typo cannot silently change what a rule matches",
            );
        } else if message == "duplicate key" {
            message.push_str(
                ": this key was already set in the same table. Fix: keep one of them (a role is defined once, in one file)",
            );
        }
        match e.span() {
            Some(span) => PolicyError::at(name, line_of(span.start), message),
            None => PolicyError::whole(name, message),
        }
    })?;

    let mut roles = Vec::new();
    for (role, list) in raw.roles {
        let line = line_of(role.span().start);
        let role = role.into_inner();
        let err = |msg: String| PolicyError::at(name, line, format!("[roles]: {msg}"));
        if BUILTIN_ROLES.iter().any(|(b, _)| *b == role) {
            return Err(err(format!(
                "{role:?} is a built-in role and cannot be redefined. Fix: give your role another name"
            )));
        }
        if !is_role_name(&role) {
            return Err(err(format!(
                "bad role name {role:?}. Fix: use lower-case letters, digits, '-' and '_', starting with a letter"
            )));
        }
        let context = format!("[roles]: role {role:?}");
        let actions = action_words(name, &context, list, &line_of)?;
        roles.push(RoleDef {
            name: role,
            line,
            actions,
        });
    }
    // The map came back sorted by name; report and count in the order the file reads.
    roles.sort_by_key(|r| r.line);

    let mut entries = Vec::new();
    for (effect, list) in [(Effect::Grant, raw.grant), (Effect::Deny, raw.deny)] {
        for entry in list {
            let line = line_of(entry.span().start);
            entries.push(parse_entry(
                name,
                effect,
                line,
                entry.into_inner(),
                &line_of,
            )?);
        }
    }
    entries.sort_by_key(|e| e.line);

    Ok(ParsedFile {
        name: name.into(),
        roles,
        entries,
    })
}

fn parse_entry(
    file: &str,
    effect: Effect,
    line: usize,
    raw: RawEntry,
    line_of: &dyn Fn(usize) -> usize,
) -> Result<EntryDef, PolicyError> {
    let ctx = effect.entry();
    let err = |line: usize, msg: String| PolicyError::at(file, line, format!("{ctx}: {msg}"));

    let Some(to) = raw.to else {
        return Err(err(
            line,
            "`to` is missing, so it would apply to no one. Fix: add e.g. to = [\"group:developers\"]".into(),
        ));
    };
    if to.get_ref().is_empty() {
        return Err(err(
            line_of(to.span().start),
            "`to` is empty, so it would apply to no one. Fix: list subjects, e.g. to = [\"group:developers\"]".into(),
        ));
    }
    let mut subjects = Vec::new();
    for s in to.into_inner() {
        let subject =
            Subject::parse(s.get_ref()).map_err(|e| err(line_of(s.span().start), e.to_string()))?;
        subjects.push(subject);
    }

    let permission = match (raw.role, raw.actions) {
        (Some(_), Some(_)) => {
            return Err(err(
                line,
                "has both `role` and `actions`. Fix: keep one of them (a role is a named list of actions)".into(),
            ))
        }
        (None, None) => {
            let verb = effect.as_str();
            return Err(err(
                line,
                format!("has neither `role` nor `actions`, so it would {verb} nothing. Fix: add e.g. role = \"reader\" or actions = [\"pull\"]"),
            ));
        }
        (Some(role), None) => Permission::Role {
            line: line_of(role.span().start),
            name: role.into_inner(),
        },
        (None, Some(actions)) => Permission::Actions(action_words(file, ctx, actions, line_of)?),
    };

    let mut repositories = Vec::new();
    for p in raw
        .repositories
        .map(Spanned::into_inner)
        .unwrap_or_default()
    {
        let pattern = RepoPattern::parse(p.get_ref()).map_err(|e| {
            err(
                line_of(p.span().start),
                format!("bad repository pattern: {e}"),
            )
        })?;
        repositories.push(pattern);
    }
    let catalog = raw.catalog.unwrap_or(false);
    let admin_api = raw.admin_api.unwrap_or(false);
    if repositories.is_empty() && !catalog && !admin_api {
        return Err(err(
            line,
            "names no resource: `repositories` is missing or empty and neither `catalog` nor `admin_api` is true. Fix: add e.g. repositories = [\"team/**\"], or catalog = true".into(),
        ));
    }

    Ok(EntryDef {
        effect,
        line,
        subjects,
        permission,
        repositories,
        catalog,
        admin_api,
        description: raw
            .description
            .map(|d| d.trim().to_owned())
            .filter(|d| !d.is_empty()),
    })
}

fn action_words(
    file: &str,
    context: &str,
    list: SpannedList,
    line_of: &dyn Fn(usize) -> usize,
) -> Result<Vec<ActionWord>, PolicyError> {
    let list_line = line_of(list.span().start);
    let list = list.into_inner();
    if list.is_empty() {
        return Err(PolicyError::at(
            file,
            list_line,
            format!("{context}: the action list is empty. Fix: list actions such as \"pull\", \"push\", \"delete\" or \"*\""),
        ));
    }
    let mut words: Vec<ActionWord> = Vec::new();
    for w in list {
        let line = line_of(w.span().start);
        let Some(action) = Action::parse(w.get_ref()) else {
            return Err(PolicyError::at(
                file,
                line,
                format!(
                    "{context}: bad action {:?}. Fix: use pull, push, delete, * or another lower-case word",
                    w.get_ref()
                ),
            ));
        };
        if !words.iter().any(|x| x.action == action) {
            words.push(ActionWord { action, line });
        }
    }
    Ok(words)
}

pub(crate) fn is_role_name(s: &str) -> bool {
    s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_restates_itself_as_written() {
        let f = parse(
            "t.toml",
            r#"
[[grant]]
to = ["group:developers", "user:alice"]
role = "writer"
repositories = ["team/**", "shared/*"]

[[deny]]
to = ["authenticated"]
actions = ["push", "delete", "push"]
repositories = ["library/**"]
catalog = true

[[grant]]
to = ["group:admins"]
role = "admin"
catalog = true
description = "  ops  "
"#,
        )
        .unwrap();
        let texts: Vec<String> = f.entries.iter().map(EntryDef::text).collect();
        assert_eq!(
            texts,
            [
                "grant writer to group:developers, user:alice on team/**, shared/*",
                "deny push,delete to authenticated on library/** and the catalog",
                "grant admin to group:admins on the catalog",
            ]
        );
        assert_eq!(
            f.entries.iter().map(|e| e.line).collect::<Vec<_>>(),
            [2, 7, 13]
        );
        assert_eq!(f.entries[2].description.as_deref(), Some("ops"));
    }

    #[test]
    fn roles_keep_the_order_of_the_file() {
        let f = parse(
            "t.toml",
            "[roles]\nzeta = [\"pull\"]\nalpha = [\"push\", \"tag\"]\n",
        )
        .unwrap();
        let names: Vec<(&str, usize)> = f.roles.iter().map(|r| (r.name.as_str(), r.line)).collect();
        assert_eq!(names, [("zeta", 2), ("alpha", 3)]);
        assert_eq!(f.roles[1].actions[1].action, Action::Other("tag".into()));
    }

    #[test]
    fn an_error_reads_file_colon_line_colon_message() {
        let e = PolicyError::at("policies/a.toml", 3, "grant entry: oops");
        assert_eq!(e.to_string(), "policies/a.toml:3: grant entry: oops");
        assert_eq!(
            PolicyError::whole("policies", "unreadable").to_string(),
            "policies: unreadable"
        );
    }
}
