//! The resource scope grammar of the Docker token spec (`docs/spec/auth/scope.md`):
//!
//! ```text
//! resourcescope  := resourcetype ":" resourcename ":" action [ ',' action ]*
//! resourcetype   := /[a-z0-9]+/ [ '(' /[a-z0-9]+/ ')' ]
//! resourcename   := [ hostname '/' ] component [ '/' component ]*
//! ```
//!
//! The type ends at the *first* `:` and the actions start after the *last* one, so a name
//! may hold a `host:port` prefix (`repository:localhost:5000/app:pull`). That is the bug
//! other token servers shipped with, and why this parser is table-tested.

use std::fmt;

use super::Action;

/// Most scopes one token request may carry. A push with cross-repository mounts asks for a
/// handful; 64 leaves room and bounds the work an anonymous request can cause.
pub const MAX_SCOPES: usize = 64;
/// The registry's own limit on repository names.
const MAX_NAME_LEN: usize = 255;

/// `repository`, `registry`, or another type; with the optional class of `repository(plugin)`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ResourceType {
    pub name: String,
    /// The class in `type(class)`. It is emitted in the token's access entry as `class`
    /// (the registry ignores it when matching), while `type` stays the bare type.
    pub class: Option<String>,
}

impl ResourceType {
    pub fn is_repository(&self) -> bool {
        self.name == "repository"
    }

    pub fn is_registry(&self) -> bool {
        self.name == "registry"
    }

    /// `portcullis`: resources of portcullis itself (the admin API), never a registry's.
    pub fn is_portcullis(&self) -> bool {
        self.name == ADMIN_API_TYPE
    }
}

/// The resource type and name of the admin API's permission, `portcullis:admin:*`: granted
/// by policy entries with `admin_api = true`, carried by personal access tokens made for
/// administration, and never put in a registry token.
pub const ADMIN_API_TYPE: &str = "portcullis";
pub const ADMIN_API_NAME: &str = "admin";
pub const ADMIN_API_SCOPE: &str = "portcullis:admin:*";

impl Scope {
    /// `portcullis:admin:*`, the permission to use the admin API.
    pub fn admin_api() -> Scope {
        Scope::parse(ADMIN_API_SCOPE).expect("the admin API scope parses")
    }

    /// Whether this is the admin API's permission.
    pub fn is_admin_api(&self) -> bool {
        self.resource_type.is_portcullis() && self.name == ADMIN_API_NAME
    }
}

/// One parsed resource scope. Actions are de-duplicated, in request order.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    pub resource_type: ResourceType,
    pub name: String,
    pub actions: Vec<Action>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScopeError {
    #[error("scope {0:?} is not of the form type:name:actions")]
    Shape(String),
    #[error(
        "scope {0:?} has a bad resource type (expected e.g. `repository` or `repository(plugin)`)"
    )]
    Type(String),
    #[error("scope {0:?} has a bad repository name (lower-case components separated by '/', optionally after a host[:port])")]
    RepositoryName(String),
    #[error("scope {0:?} has an empty or over-long resource name")]
    Name(String),
    #[error(
        "scope {0:?} has a bad action (expected lower-case words such as pull, push, delete, or *)"
    )]
    Action(String),
    #[error("too many scopes in one request (at most {MAX_SCOPES})")]
    TooMany,
}

impl Scope {
    pub fn parse(s: &str) -> Result<Scope, ScopeError> {
        let shape = || ScopeError::Shape(truncate(s));
        let (ty, rest) = s.split_once(':').ok_or_else(shape)?;
        let (name, actions) = rest.rsplit_once(':').ok_or_else(shape)?;
        let resource_type = parse_type(ty).ok_or_else(|| ScopeError::Type(truncate(s)))?;

        if name.is_empty() || name.len() > MAX_NAME_LEN || name.chars().any(char::is_whitespace) {
            return Err(ScopeError::Name(truncate(s)));
        }
        if resource_type.is_repository() && !is_repository_name(name) {
            return Err(ScopeError::RepositoryName(truncate(s)));
        }

        let mut parsed: Vec<Action> = Vec::new();
        for a in actions.split(',') {
            // The grammar allows an empty action (`/[a-z]*/`); it asks for nothing.
            if a.is_empty() {
                continue;
            }
            let action = Action::parse(a).ok_or_else(|| ScopeError::Action(truncate(s)))?;
            if !parsed.contains(&action) {
                parsed.push(action);
            }
        }
        if parsed.is_empty() {
            return Err(ScopeError::Action(truncate(s)));
        }
        Ok(Scope {
            resource_type,
            name: name.to_owned(),
            actions: parsed,
        })
    }

    /// The same resource with another action list (a grant is a scope with fewer actions).
    pub fn with_actions(&self, actions: Vec<Action>) -> Scope {
        Scope {
            resource_type: self.resource_type.clone(),
            name: self.name.clone(),
            actions,
        }
    }
}

impl Scope {
    /// `repository:team/app:pull,push` appended to `out`, as `Display` writes it but without
    /// the formatter (the audit record writes every scope of every request).
    pub fn write_to(&self, out: &mut String) {
        self.write_with_actions(&self.actions, out);
    }

    /// This resource with `actions` instead of its own (what a decision granted).
    pub fn write_with_actions(&self, actions: &[Action], out: &mut String) {
        out.push_str(&self.resource_type.name);
        if let Some(class) = &self.resource_type.class {
            out.push('(');
            out.push_str(class);
            out.push(')');
        }
        out.push(':');
        out.push_str(&self.name);
        out.push(':');
        for (i, a) in actions.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(a.as_str());
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.resource_type.name)?;
        if let Some(class) = &self.resource_type.class {
            write!(f, "({class})")?;
        }
        write!(f, ":{}:", self.name)?;
        for (i, a) in self.actions.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            f.write_str(a.as_str())?;
        }
        Ok(())
    }
}

/// Parses every scope in a list of `scope` parameter values. Each value may itself hold
/// several space-separated scopes (go-containerregistry and the OAuth2 form send them so);
/// the same resource asked twice is merged into one entry.
pub fn parse_scope_list<'a, I>(values: I) -> Result<Vec<Scope>, ScopeError>
where
    I: IntoIterator<Item = &'a str>,
{
    let mut scopes: Vec<Scope> = Vec::new();
    for value in values {
        for item in value.split(' ').filter(|s| !s.is_empty()) {
            let scope = Scope::parse(item)?;
            match scopes
                .iter_mut()
                .find(|s| s.resource_type == scope.resource_type && s.name == scope.name)
            {
                Some(existing) => {
                    for a in scope.actions {
                        if !existing.actions.contains(&a) {
                            existing.actions.push(a);
                        }
                    }
                }
                None => {
                    if scopes.len() == MAX_SCOPES {
                        return Err(ScopeError::TooMany);
                    }
                    scopes.push(scope);
                }
            }
        }
    }
    Ok(scopes)
}

fn parse_type(ty: &str) -> Option<ResourceType> {
    let word = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let (name, class) = match ty.split_once('(') {
        Some((name, rest)) => (name, Some(rest.strip_suffix(')')?)),
        None => (ty, None),
    };
    // Classes are free-form words in the wild (`plugin`); allow upper case there only.
    let class_ok = |c: &str| !c.is_empty() && c.bytes().all(|b| b.is_ascii_alphanumeric());
    if !word(name) || !class.is_none_or(class_ok) {
        return None;
    }
    Some(ResourceType {
        name: name.to_owned(),
        class: class.map(str::to_owned),
    })
}

/// `[ hostname '/' ] component [ '/' component ]*`, as the registry's reference grammar.
fn is_repository_name(name: &str) -> bool {
    let mut parts = name.split('/').peekable();
    let first = parts.peek().copied().unwrap_or("");
    // A first part that is not a valid component but is a valid hostname (with a dot, a
    // port, upper case, or `localhost`) is a registry host prefix; at least one path
    // component must follow it.
    if !is_component(first) || first.contains(':') {
        if !is_hostname(first) {
            return false;
        }
        parts.next();
        if parts.peek().is_none() {
            return false;
        }
    }
    parts.all(is_component)
}

/// `alpha-numeric [ separator alpha-numeric ]*`, separator := `[_.]|__|[-]*`.
fn is_component(c: &str) -> bool {
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let ok = sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-');
        if !ok {
            return false;
        }
    }
    true
}

/// `hostcomponent ['.' hostcomponent]* [':' port]`; IPv6 literals in brackets too.
fn is_hostname(h: &str) -> bool {
    let (host, port) = match h.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(']') || h.starts_with('[') => (host, Some(port)),
        _ => (h, None),
    };
    if let Some(p) = port {
        if p.is_empty() || p.len() > 5 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    if let Some(inner) = host.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        return !inner.is_empty()
            && inner
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.');
    }
    !host.is_empty()
        && host.split('.').all(|hc| {
            let b = hc.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|x| x.is_ascii_alphanumeric() || *x == b'-')
        })
}

fn truncate(s: &str) -> String {
    const MAX: usize = 80;
    if s.len() <= MAX {
        return s.to_owned();
    }
    let mut end = MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> (String, Option<String>, String, Vec<String>) {
        let sc = Scope::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"));
        (
            sc.resource_type.name,
            sc.resource_type.class,
            sc.name,
            sc.actions.iter().map(|a| a.to_string()).collect(),
        )
    }

    #[test]
    fn valid_scopes_split_type_at_first_colon_and_actions_at_last() {
        type Case<'a> = (&'a str, &'a str, Option<&'a str>, &'a str, &'a [&'a str]);
        let cases: &[Case] = &[
            (
                "repository:team/app:pull",
                "repository",
                None,
                "team/app",
                &["pull"],
            ),
            (
                "repository:team/app:pull,push",
                "repository",
                None,
                "team/app",
                &["pull", "push"],
            ),
            (
                "repository:team/app:push,pull",
                "repository",
                None,
                "team/app",
                &["push", "pull"],
            ),
            ("repository:app:*", "repository", None, "app", &["*"]),
            (
                "repository:a/b/c/d:delete",
                "repository",
                None,
                "a/b/c/d",
                &["delete"],
            ),
            (
                "repository:localhost:5000/app:pull",
                "repository",
                None,
                "localhost:5000/app",
                &["pull"],
            ),
            (
                "repository:registry.example.com/team/app:pull",
                "repository",
                None,
                "registry.example.com/team/app",
                &["pull"],
            ),
            (
                "repository:Registry.Example.com:443/x:pull",
                "repository",
                None,
                "Registry.Example.com:443/x",
                &["pull"],
            ),
            (
                "repository:[::1]:5000/app:pull",
                "repository",
                None,
                "[::1]:5000/app",
                &["pull"],
            ),
            (
                "repository(plugin):vieux/sshfs:pull",
                "repository",
                Some("plugin"),
                "vieux/sshfs",
                &["pull"],
            ),
            ("registry:catalog:*", "registry", None, "catalog", &["*"]),
            (
                "repository:a.b_c__d--e/f-g:pull",
                "repository",
                None,
                "a.b_c__d--e/f-g",
                &["pull"],
            ),
            (
                "repository:app:pull,pull,push",
                "repository",
                None,
                "app",
                &["pull", "push"],
            ),
            (
                "repository:app:pull,,push,",
                "repository",
                None,
                "app",
                &["pull", "push"],
            ),
            ("repository:app:tag", "repository", None, "app", &["tag"]),
            (
                "custom:Anything.Goes:read",
                "custom",
                None,
                "Anything.Goes",
                &["read"],
            ),
        ];
        for (input, ty, class, name, actions) in cases {
            let (t, c, n, a) = ok(input);
            assert_eq!(t, *ty, "type of {input:?}");
            assert_eq!(c.as_deref(), *class, "class of {input:?}");
            assert_eq!(n, *name, "name of {input:?}");
            assert_eq!(
                a,
                actions.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                "actions of {input:?}"
            );
        }
    }

    #[test]
    fn malformed_scopes_are_refused_with_the_reason() {
        use ScopeError::*;
        type Case<'a> = (&'a str, fn(String) -> ScopeError);
        let cases: &[Case] = &[
            ("repository", Shape),
            ("repository:app", Shape),
            (":app:pull", Type),
            ("Repository:app:pull", Type),
            ("repository(:app:pull", Type),
            ("repository(plugin:app:pull", Type),
            ("repository():app:pull", Type),
            ("repo-sitory:app:pull", Type),
            ("repository::pull", Name),
            ("repository:App:pull", RepositoryName),
            ("repository:app/:pull", RepositoryName),
            ("repository:/app:pull", RepositoryName),
            ("repository:a//b:pull", RepositoryName),
            ("repository:-app:pull", RepositoryName),
            ("repository:app-:pull", RepositoryName),
            ("repository:a..b:pull", RepositoryName),
            ("repository:a___b:pull", RepositoryName),
            ("repository:localhost:5000:pull", RepositoryName),
            ("repository:host:port/app:pull", RepositoryName),
            ("repository:app:", Action),
            ("repository:app:PULL", Action),
            ("repository:app:pull;rm", Action),
            ("repository:app:pu-ll", Action),
        ];
        for (input, want) in cases {
            assert_eq!(
                Scope::parse(input),
                Err(want(input.to_string())),
                "input {input:?}"
            );
        }
    }

    #[test]
    fn scope_names_over_255_bytes_are_refused() {
        let long = format!("repository:{}:pull", "a".repeat(256));
        assert!(matches!(Scope::parse(&long), Err(ScopeError::Name(_))));
        let max = format!("repository:{}:pull", "a".repeat(255));
        assert!(Scope::parse(&max).is_ok());
    }

    #[test]
    fn scope_lists_split_on_spaces_and_merge_repeated_resources() {
        let got = parse_scope_list([
            "repository:a:pull repository:b:pull",
            "repository:a:push",
            "",
            "  registry:catalog:*  ",
        ])
        .unwrap();
        let shown: Vec<String> = got.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            shown,
            [
                "repository:a:pull,push",
                "repository:b:pull",
                "registry:catalog:*"
            ]
        );
    }

    #[test]
    fn scope_lists_are_bounded() {
        let many: Vec<String> = (0..=MAX_SCOPES)
            .map(|i| format!("repository:r{i}:pull"))
            .collect();
        assert_eq!(
            parse_scope_list(many.iter().map(String::as_str)),
            Err(ScopeError::TooMany)
        );
        assert!(parse_scope_list(many[..MAX_SCOPES].iter().map(String::as_str)).is_ok());
    }

    #[test]
    fn scopes_display_in_wire_form() {
        for s in [
            "repository:a/b:pull,push",
            "repository(plugin):x:pull",
            "registry:catalog:*",
        ] {
            assert_eq!(Scope::parse(s).unwrap().to_string(), s);
        }
    }
}
