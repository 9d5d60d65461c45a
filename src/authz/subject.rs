//! Who an entry applies to (`to = [...]`), and the index that lets a decision look only at
//! the entries naming the requester.
//!
//! The index is what keeps decisions flat as policies grow: a requester visits the
//! entries of its own name, its groups and the `authenticated`/`anonymous`/`everyone`
//! buckets, never the entries written for the other 99,999 users.

use std::collections::HashMap;
use std::fmt;

use crate::domain::{PrincipalKind, Requester, Username};

/// One parsed `to` item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Subject {
    /// `user:NAME`: a user identity of that name (never a robot of the same name).
    User(Box<str>),
    /// `robot:NAME`.
    Robot(Box<str>),
    /// `group:NAME`: any identity whose groups contain NAME.
    Group(Box<str>),
    /// Any identity, user or robot.
    Authenticated,
    /// Only a request without credentials.
    Anonymous,
    /// Both of the above.
    Everyone,
}

/// The forms a subject may take; repeated in every error so the fix is on screen.
pub(crate) const SUBJECT_FORMS: &str =
    "user:NAME, robot:NAME, group:NAME, authenticated, anonymous, everyone";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SubjectError {
    #[error("bad subject {0:?}. Fix: use one of {SUBJECT_FORMS}")]
    Form(String),
    #[error("bad subject {subject:?}: {reason}. Fix: write the name as the user or robot logs in")]
    Name { subject: String, reason: String },
    #[error("bad subject {0:?}: a group name cannot be empty or hold spaces. Fix: write it as group:NAME")]
    Group(String),
}

impl Subject {
    pub(crate) fn parse(s: &str) -> Result<Subject, SubjectError> {
        // Names are checked with the same rules as login names, so a rule for `user:Alice`
        // (which no login could ever match) is refused instead of silently dead.
        let principal = |name: &str| {
            Username::parse(name)
                .map(|_| name.into())
                .map_err(|e| SubjectError::Name {
                    subject: s.to_owned(),
                    reason: e.to_string(),
                })
        };
        match s {
            "authenticated" => Ok(Subject::Authenticated),
            "anonymous" => Ok(Subject::Anonymous),
            "everyone" => Ok(Subject::Everyone),
            _ => match s.split_once(':') {
                Some(("user", name)) => principal(name).map(Subject::User),
                Some(("robot", name)) => principal(name).map(Subject::Robot),
                Some(("group", name)) => {
                    if name.is_empty() || name.chars().any(|c| c.is_whitespace() || c.is_control())
                    {
                        Err(SubjectError::Group(s.to_owned()))
                    } else {
                        Ok(Subject::Group(name.into()))
                    }
                }
                _ => Err(SubjectError::Form(s.to_owned())),
            },
        }
    }

    /// The meaning of a subject, stated directly. Decisions go through [`SubjectIndex`]
    /// instead; this is the reference the index is tested against.
    #[cfg(test)]
    pub(crate) fn matches(&self, who: &Requester) -> bool {
        let id = who.identity();
        match self {
            Subject::User(n) => id.is_some_and(|i| i.kind == PrincipalKind::User && *i.name == **n),
            Subject::Robot(n) => {
                id.is_some_and(|i| i.kind == PrincipalKind::Robot && *i.name == **n)
            }
            Subject::Group(g) => id.is_some_and(|i| i.groups.iter().any(|x| **x == **g)),
            Subject::Authenticated => id.is_some(),
            Subject::Anonymous => id.is_none(),
            Subject::Everyone => true,
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(n) => write!(f, "user:{n}"),
            Subject::Robot(n) => write!(f, "robot:{n}"),
            Subject::Group(n) => write!(f, "group:{n}"),
            Subject::Authenticated => f.write_str("authenticated"),
            Subject::Anonymous => f.write_str("anonymous"),
            Subject::Everyone => f.write_str("everyone"),
        }
    }
}

/// Entries by the subject that binds them. Every bucket is in load order, because entries
/// are inserted in load order; that is what lets the engine find "the first matching
/// grant" by taking the smallest entry number seen across buckets. The engine chooses what
/// a bucket holds (`T`): its entry number and whatever lets it skip the entry cheaply.
#[derive(Debug)]
pub(crate) struct SubjectIndex<T> {
    users: HashMap<Box<str>, Vec<T>>,
    robots: HashMap<Box<str>, Vec<T>>,
    groups: HashMap<Box<str>, Vec<T>>,
    authenticated: Vec<T>,
    anonymous: Vec<T>,
    everyone: Vec<T>,
}

impl<T> Default for SubjectIndex<T> {
    fn default() -> Self {
        SubjectIndex {
            users: HashMap::new(),
            robots: HashMap::new(),
            groups: HashMap::new(),
            authenticated: Vec::new(),
            anonymous: Vec::new(),
            everyone: Vec::new(),
        }
    }
}

impl<T: Copy + PartialEq> SubjectIndex<T> {
    /// Adds `entry` under `subject`. Entries must be added in load order.
    pub(crate) fn insert(&mut self, subject: &Subject, entry: T) {
        let bucket = match subject {
            Subject::User(n) => self.users.entry(n.clone()).or_default(),
            Subject::Robot(n) => self.robots.entry(n.clone()).or_default(),
            Subject::Group(n) => self.groups.entry(n.clone()).or_default(),
            Subject::Authenticated => &mut self.authenticated,
            Subject::Anonymous => &mut self.anonymous,
            Subject::Everyone => &mut self.everyone,
        };
        // `to = ["user:a", "user:a"]` lists one bucket twice; keep it once.
        if bucket.last() != Some(&entry) {
            bucket.push(entry);
        }
    }

    /// Every group bucket: `(group name, entries)`.
    pub(crate) fn groups(&self) -> impl Iterator<Item = (&str, &[T])> {
        self.groups.iter().map(|(g, b)| (&**g, b.as_slice()))
    }

    /// Calls `visit` with every bucket that applies to `who`. An entry naming several of the
    /// requester's subjects is seen more than once; callers keep the minimum, so that is
    /// harmless and cheaper than de-duplicating.
    pub(crate) fn for_each_bucket(&self, who: &Requester, mut visit: impl FnMut(&[T])) {
        visit(&self.everyone);
        let Some(id) = who.identity() else {
            visit(&self.anonymous);
            return;
        };
        visit(&self.authenticated);
        let own = match id.kind {
            PrincipalKind::User => Some(&self.users),
            PrincipalKind::Robot => Some(&self.robots),
            // Workloads have no name-bound subject form: groups, authenticated, everyone.
            PrincipalKind::Workload => None,
        };
        if let Some(bucket) = own.and_then(|o| o.get(id.name.as_str())) {
            visit(bucket);
        }
        if !self.groups.is_empty() {
            for g in &id.groups {
                if let Some(bucket) = self.groups.get(g.as_str()) {
                    visit(bucket);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuthSource, Identity};

    fn user(name: &str, groups: &[&str]) -> Requester {
        Requester::Authenticated(Identity::user(
            name,
            groups.iter().map(|g| g.to_string()).collect(),
            AuthSource::Password,
        ))
    }

    fn robot(name: &str, groups: &[&str]) -> Requester {
        let mut id = Identity::user(
            name,
            groups.iter().map(|g| g.to_string()).collect(),
            AuthSource::Password,
        );
        id.kind = PrincipalKind::Robot;
        Requester::Authenticated(id)
    }

    #[test]
    fn subjects_parse_into_their_forms_and_show_back_the_same() {
        for s in [
            "user:alice",
            "robot:ci-bot",
            "group:developers",
            "group:Team-Leads",
            "authenticated",
            "anonymous",
            "everyone",
        ] {
            assert_eq!(Subject::parse(s).unwrap().to_string(), s);
        }
    }

    #[test]
    fn subjects_outside_the_allowed_forms_are_refused() {
        for bad in [
            "team:x",
            "users:bob",
            "user:",
            "robot:",
            "group:",
            "group:a b",
            "user:Alice",
            "user:a/b",
            "User:alice",
            "alice",
            "",
            "Authenticated",
            "all",
            "*",
        ] {
            let err = Subject::parse(bad).expect_err(bad).to_string();
            assert!(err.contains(&format!("{bad:?}")), "{bad:?}: {err}");
            assert!(err.contains("Fix:"), "{bad:?}: {err}");
        }
        assert!(Subject::parse("team:x")
            .unwrap_err()
            .to_string()
            .contains(SUBJECT_FORMS));
    }

    #[test]
    fn subjects_match_requesters_as_the_table_says() {
        let alice = user("alice", &["developers"]);
        let bot = robot("alice", &["developers"]);
        let bob = user("bob", &[]);
        let anon = Requester::Anonymous;
        // (subject, [alice (user), alice (robot), bob, anonymous])
        let cases: &[(&str, [bool; 4])] = &[
            ("user:alice", [true, false, false, false]),
            ("robot:alice", [false, true, false, false]),
            ("group:developers", [true, true, false, false]),
            ("group:admins", [false, false, false, false]),
            ("authenticated", [true, true, true, false]),
            ("anonymous", [false, false, false, true]),
            ("everyone", [true, true, true, true]),
        ];
        for (subject, want) in cases {
            let s = Subject::parse(subject).unwrap();
            let got = [&alice, &bot, &bob, &anon].map(|w| s.matches(w));
            assert_eq!(got, *want, "subject {subject}");
        }
    }

    #[test]
    fn the_index_visits_exactly_the_entries_whose_subjects_match() {
        let subjects = [
            "user:alice",
            "robot:alice",
            "group:developers",
            "group:ops",
            "authenticated",
            "anonymous",
            "everyone",
            "user:bob",
        ]
        .map(|s| Subject::parse(s).unwrap());
        let mut index = SubjectIndex::default();
        for (i, s) in subjects.iter().enumerate() {
            index.insert(s, i as u32);
        }
        let requesters = [
            user("alice", &["developers", "ops"]),
            robot("alice", &["ops"]),
            user("bob", &[]),
            user("carol", &["nobody"]),
            Requester::Anonymous,
        ];
        for who in &requesters {
            let mut seen = Vec::new();
            index.for_each_bucket(who, |b| seen.extend_from_slice(b));
            seen.sort();
            let want: Vec<u32> = (0..subjects.len() as u32)
                .filter(|&i| subjects[i as usize].matches(who))
                .collect();
            assert_eq!(seen, want, "requester {who:?}");
        }
    }
}
