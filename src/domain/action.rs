use std::fmt;

/// One action of a resource scope (`pull`, `push`, `delete`, `*`, or anything else the
/// grammar allows: `/[a-z]*/`). Unknown actions are kept, not rejected: the registry
/// defines their meaning, and a policy can only grant them through `*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Action {
    Pull,
    Push,
    Delete,
    /// `*`: every action on the resource. The registry honours it as such.
    All,
    Other(Box<str>),
}

impl Action {
    /// Parses one action; `None` when it is not `*` and not `/[a-z]+/`.
    pub fn parse(s: &str) -> Option<Action> {
        Some(match s {
            "pull" => Action::Pull,
            "push" => Action::Push,
            "delete" => Action::Delete,
            "*" => Action::All,
            other if !other.is_empty() && other.bytes().all(|b| b.is_ascii_lowercase()) => {
                Action::Other(other.into())
            }
            _ => return None,
        })
    }

    pub fn as_str(&self) -> &str {
        match self {
            Action::Pull => "pull",
            Action::Push => "push",
            Action::Delete => "delete",
            Action::All => "*",
            Action::Other(s) => s,
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Action {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}
