//! The outcome of deciding one scope: a value, never an error.
//!
//! A denial is an ordinary answer (the token simply carries fewer actions), so it is
//! returned, not thrown. Every verdict names the entry that produced it, so the token
//! endpoint's audit log and `portcullis explain` tell the same story.

use std::fmt;
use std::sync::Arc;

use crate::domain::{Action, Scope};

/// Where a rule comes from: a policy file today; a rule kept in the database (made through
/// the admin API) or another decision engine tomorrow. `explain` and the audit print it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// An entry of a policy file: the file as loaded (`policies/10-team.toml`) and the
    /// 1-based line of its header (`[[grant]]`/`[[deny]]`, or its inline table).
    File { file: Arc<str>, line: usize },
    /// A rule kept in the database: its id, who made it, and when (Unix seconds).
    Binding {
        id: i64,
        made_by: Arc<str>,
        made_at: i64,
    },
    /// Any other source, in its own words (`rego: data.registry.allow`).
    Other(Arc<str>),
}

impl Origin {
    pub fn file(file: impl Into<Arc<str>>, line: usize) -> Origin {
        Origin::File {
            file: file.into(),
            line,
        }
    }
}

impl Origin {
    /// Appends what `Display` shows; a file's place without the formatter, since the audit
    /// record of every token request names the rule behind each action.
    pub fn write_to(&self, out: &mut String) {
        match self {
            Origin::File { file, line } => {
                out.push_str(file);
                out.push(':');
                out.push_str(itoa::Buffer::new().format(*line));
            }
            Origin::Other(text) => out.push_str(text),
            binding @ Origin::Binding { .. } => {
                use std::fmt::Write as _;
                let _ = write!(out, "{binding}");
            }
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::File { file, line } => write!(f, "{file}:{line}"),
            Origin::Binding {
                id,
                made_by,
                made_at,
            } => write!(f, "binding {id}, made by {made_by} on {}", day(*made_at)),
            Origin::Other(text) => f.write_str(text),
        }
    }
}

/// A Unix time as `2026-12-04`: the day a database rule was made.
pub(crate) fn day(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .unwrap_or_else(|| at.to_string())
}

/// The rule behind a verdict: where it comes from and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleRef {
    pub origin: Origin,
    /// The rule restated in one line: `grant writer to group:developers on team/**`.
    pub text: Arc<str>,
    /// The rule's `description`, if it has one. Kept apart from `text` so the audit line
    /// stays short while `explain` can still show the author's intent.
    pub description: Option<Arc<str>>,
}

impl RuleRef {
    /// `policies/team.toml:12` or `binding 42, made by alice on 2026-12-04`: the part a log
    /// line, an editor or an admin needs.
    pub fn location(&self) -> String {
        self.origin.to_string()
    }
}

impl fmt::Display for RuleRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.origin, self.text)
    }
}

/// What happened to one requested action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Granted by this entry (the first matching grant in load order).
    Allowed(RuleRef),
    /// Refused by this deny entry, whatever the grants say.
    Denied(RuleRef),
    /// No grant matched: access is denied by default.
    NotGranted,
    /// This grant allows it, but the credential is limited to other scopes (a personal
    /// access token's `--scope`s): the grant is the intersection of both.
    OutsideTokenScope(RuleRef),
}

impl Verdict {
    pub fn is_allowed(&self) -> bool {
        matches!(self, Verdict::Allowed(_))
    }

    pub fn rule(&self) -> Option<&RuleRef> {
        match self {
            Verdict::Allowed(r) | Verdict::Denied(r) | Verdict::OutsideTokenScope(r) => Some(r),
            Verdict::NotGranted => None,
        }
    }

    /// How `explain` names it: `allowed`, `denied`, `no grant`, `limited`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Allowed(_) => "allowed",
            Verdict::Denied(_) => "denied",
            Verdict::NotGranted => "no grant",
            Verdict::OutsideTokenScope(_) => "limited",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActionVerdict {
    pub action: Action,
    pub verdict: Verdict,
}

/// The answer for one requested scope: one verdict per requested action, in request order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub requested: Scope,
    /// The allowed actions, in request order.
    pub granted: Vec<Action>,
    pub verdicts: Vec<ActionVerdict>,
}

impl Decision {
    /// Nothing of `scope` granted, by no rule: for resources no policy may grant here.
    pub fn not_granted(scope: Scope) -> Decision {
        let verdicts = scope
            .actions
            .iter()
            .map(|a| ActionVerdict {
                action: a.clone(),
                verdict: Verdict::NotGranted,
            })
            .collect();
        Decision {
            requested: scope,
            granted: Vec::new(),
            verdicts,
        }
    }

    /// The scope to put in the token (requested resource with only the granted actions), or
    /// `None` when nothing was granted: the token spec wants such a resource left out of
    /// the `access` list rather than listed with no actions.
    pub fn granted_scope(&self) -> Option<Scope> {
        if self.granted.is_empty() {
            None
        } else {
            Some(self.requested.with_actions(self.granted.clone()))
        }
    }

    /// One short line for audit logs:
    /// `pull: allowed by policies/team.toml:12; push: denied by policies/freeze.toml:3`.
    pub fn reason(&self) -> String {
        let mut out = String::new();
        self.write_reason(&mut out);
        out
    }

    /// [`Decision::reason`], appended to `out`.
    pub fn write_reason(&self, out: &mut String) {
        for (i, v) in self.verdicts.iter().enumerate() {
            if i > 0 {
                out.push_str("; ");
            }
            out.push_str(v.action.as_str());
            match &v.verdict {
                Verdict::Allowed(r) => {
                    out.push_str(": allowed by ");
                    r.origin.write_to(out);
                }
                Verdict::Denied(r) => {
                    out.push_str(": denied by ");
                    r.origin.write_to(out);
                }
                Verdict::NotGranted => out.push_str(": not granted"),
                Verdict::OutsideTokenScope(r) => {
                    out.push_str(": outside the token's scopes (policy ");
                    r.origin.write_to(out);
                    out.push_str(" would allow it)");
                }
            }
        }
    }

    /// Why a `NotGranted` happened, phrased for the resource that was asked for: for a
    /// resource type policies cannot name, "no grant matches" would send the reader hunting
    /// for a typo that does not exist.
    fn not_granted_note(&self, action: &Action) -> &'static str {
        let ty = &self.requested.resource_type;
        if !(ty.is_repository() || (ty.is_registry() && self.requested.name == "catalog")) {
            "(policies grant only repository scopes and registry:catalog; denied)"
        } else if *action == Action::All && ty.is_repository() {
            // Usually a grant does match, just without `*`; say so rather than "no grant".
            "(no matching grant includes `*`, which only admin or actions = [\"*\"] give; denied by default)"
        } else {
            "(no grant matches; access is denied by default)"
        }
    }
}

/// The multi-line explanation printed by `portcullis explain`:
///
/// ```text
/// repository:team/app:pull,push,delete
///   pull   allowed   policies/10-team.toml:5    grant writer to group:developers on team/**
///   push   denied    policies/90-freeze.toml:3  deny push to authenticated on team/**
///                                               "release freeze until the 3.0 launch"
///   delete no grant  (no grant matches; access is denied by default)
/// ```
///
/// Every line, the last included, ends with `\n`, so explanations of several scopes can be
/// printed one after another with `print!`.
impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.requested)?;
        let action_w = self
            .verdicts
            .iter()
            .map(|v| v.action.as_str().len())
            .max()
            .unwrap_or(0);
        let loc_w = self
            .verdicts
            .iter()
            .filter_map(|v| v.verdict.rule())
            .map(|r| r.location().len())
            .max()
            .unwrap_or(0);
        for v in &self.verdicts {
            write!(
                f,
                "  {:<action_w$} {:<9} ",
                v.action.as_str(),
                v.verdict.label()
            )?;
            match v.verdict.rule() {
                Some(r) => {
                    writeln!(f, "{:<loc_w$}  {}", r.location(), r.text)?;
                    let indent = 2 + action_w + 1 + 9 + 1 + loc_w + 2;
                    if let Some(d) = &r.description {
                        writeln!(f, "{:indent$}{:?}", "", d)?;
                    }
                    if matches!(v.verdict, Verdict::OutsideTokenScope(_)) {
                        writeln!(
                            f,
                            "{:indent$}(but the credential's scopes do not include it)",
                            ""
                        )?;
                    }
                }
                None => writeln!(f, "{}", self.not_granted_note(&v.action))?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(file: &str, line: usize, text: &str, description: Option<&str>) -> RuleRef {
        RuleRef {
            origin: Origin::file(file, line),
            text: text.into(),
            description: description.map(Into::into),
        }
    }

    fn sample() -> Decision {
        let team = rule(
            "policies/10-team.toml",
            5,
            "grant writer to group:developers on team/**",
            None,
        );
        let freeze = rule(
            "policies/90-freeze.toml",
            3,
            "deny push to authenticated on team/**",
            Some("release freeze"),
        );
        Decision {
            requested: Scope::parse("repository:team/app:pull,push,delete").unwrap(),
            granted: vec![Action::Pull],
            verdicts: vec![
                ActionVerdict {
                    action: Action::Pull,
                    verdict: Verdict::Allowed(team),
                },
                ActionVerdict {
                    action: Action::Push,
                    verdict: Verdict::Denied(freeze),
                },
                ActionVerdict {
                    action: Action::Delete,
                    verdict: Verdict::NotGranted,
                },
            ],
        }
    }

    #[test]
    fn a_decision_explains_itself_one_aligned_line_per_action() {
        let want = "\
repository:team/app:pull,push,delete
  pull   allowed   policies/10-team.toml:5    grant writer to group:developers on team/**
  push   denied    policies/90-freeze.toml:3  deny push to authenticated on team/**
                                              \"release freeze\"
  delete no grant  (no grant matches; access is denied by default)
";
        assert_eq!(sample().to_string(), want);
    }

    #[test]
    fn the_audit_reason_is_one_line_naming_each_entry() {
        assert_eq!(
            sample().reason(),
            "pull: allowed by policies/10-team.toml:5; push: denied by policies/90-freeze.toml:3; delete: not granted"
        );
    }

    #[test]
    fn the_granted_scope_keeps_only_granted_actions_and_is_none_when_empty() {
        let d = sample();
        assert_eq!(
            d.granted_scope().unwrap().to_string(),
            "repository:team/app:pull"
        );
        let nothing = Decision {
            granted: vec![],
            ..d
        };
        assert_eq!(nothing.granted_scope(), None);
    }

    #[test]
    fn a_rule_ref_shows_where_and_what() {
        let r = rule(
            "policies/10-team.toml",
            5,
            "grant reader to authenticated on **",
            None,
        );
        assert_eq!(
            r.to_string(),
            "policies/10-team.toml:5 (grant reader to authenticated on **)"
        );
    }

    #[test]
    fn an_ungranted_star_says_which_grants_could_give_it() {
        let d = Decision {
            requested: Scope::parse("repository:x:*").unwrap(),
            granted: vec![],
            verdicts: vec![ActionVerdict {
                action: Action::All,
                verdict: Verdict::NotGranted,
            }],
        };
        assert_eq!(
            d.to_string(),
            "repository:x:*\n  * no grant  (no matching grant includes `*`, which only admin or actions = [\"*\"] give; denied by default)\n"
        );
    }

    #[test]
    fn an_ungrantable_resource_type_says_so_instead_of_blaming_the_policies() {
        let d = Decision {
            requested: Scope::parse("custom:thing:read").unwrap(),
            granted: vec![],
            verdicts: vec![ActionVerdict {
                action: Action::parse("read").unwrap(),
                verdict: Verdict::NotGranted,
            }],
        };
        assert!(d.to_string().ends_with(
            "read no grant  (policies grant only repository scopes and registry:catalog; denied)\n"
        ));
    }
}
