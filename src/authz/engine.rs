//! The compiled policy set and the decision procedure.
//!
//! Loading does all the work that can be done once: roles are resolved to actions,
//! patterns are compiled, and entries are indexed by the subjects they bind. A decision
//! then only visits the entries that name the requester (its user or robot name, its
//! groups, and the `authenticated`/`anonymous`/`everyone` buckets), so its cost follows
//! the requester's own rules, not the size of the organisation.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::binding::{BindingSpec, RoleSpec};
use super::decision::{day, ActionVerdict, Decision, Origin, RuleRef, Verdict};
use super::policy_file::{
    self, Effect, EntryDef, ParsedFile, Permission, PolicyError, BUILTIN_ROLES,
};
use super::subject::SubjectIndex;
use crate::domain::RepoPattern;
use crate::domain::{Action, PrincipalKind, Requester, Scope};
use crate::store::{BindingRecord, RoleRecord};

/// Every loaded policy file, compiled. Immutable once built; share it behind an `Arc` and
/// swap the whole set to reload.
#[derive(Debug)]
pub struct PolicySet {
    grants: RuleTable,
    denies: RuleTable,
    files: usize,
    /// Every role, built-in, from files and from the database, with where it is defined.
    roles: Vec<RoleInfo>,
    /// Bindings from the database in force (expired and broken ones left out).
    bindings: usize,
}

/// A role as listed: its name, its actions, and where it is defined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RoleInfo {
    pub name: String,
    pub actions: Vec<String>,
    /// `built in`, `policies/10-team.toml:3`, or `database, made by alice on 2026-12-04`.
    pub origin: String,
    /// Whether it lives in the database (and can be changed through the API).
    pub in_database: bool,
}

/// Rules kept in the database, as read from it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatabaseRules {
    pub roles: Vec<RoleRecord>,
    pub bindings: Vec<BindingRecord>,
}

/// A compiled policy, and what compiling it noticed.
pub struct Compiled {
    pub set: PolicySet,
    /// Rules from the database left out, and why (a role that a policy file no longer
    /// defines, a role name a file now uses too).
    pub warnings: Vec<String>,
    /// When the first binding in force expires: the policy must be compiled again then.
    pub next_expiry: Option<i64>,
}

/// The grant (or deny) entries in load order, and their subject index. Grants and denies
/// are kept apart because a deny wins whatever its position: each table is asked for its
/// own first match, and the deny table's answer settles an action before grants are read.
#[derive(Debug, Default)]
struct RuleTable {
    rules: Vec<Rule>,
    /// Kept apart from `rules`: only the deciding entry's origin is ever read.
    origins: Vec<RuleRef>,
    /// Every entry's head in load order, for questions asked regardless of the subject
    /// (`explain`'s "who does have this"); decisions go through `index`.
    heads: Vec<Head>,
    index: SubjectIndex<Head>,
}

/// The cold part of an entry: only read once its [`Head`] says it might apply.
#[derive(Debug)]
struct Rule {
    /// Actions other than pull/push/delete/`*` (`Head::bits` says whether there are any).
    other_actions: Box<[Box<str>]>,
    repositories: Box<[RepoPattern]>,
}

/// What a bucket holds for each entry: its number, its actions as bits, and the literal
/// start every repository it names must have. With 10,000 entries the rules themselves are
/// a cache miss away each; the head, stored inline in the bucket, lets most entries that
/// cannot apply be skipped without touching them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Head {
    rule: u32,
    bits: u8,
    prefix_len: u8,
    prefix: [u8; Head::PREFIX_MAX],
}

impl Head {
    const PULL: u8 = 1;
    const PUSH: u8 = 2;
    const DELETE: u8 = 4;
    const ALL: u8 = 8;
    const OTHER: u8 = 16;
    const CATALOG: u8 = 32;
    const ADMIN_API: u8 = 64;
    const PREFIX_MAX: usize = 8;

    fn new(
        rule: u32,
        actions: &[Action],
        repositories: &[RepoPattern],
        catalog: bool,
        admin_api: bool,
    ) -> Head {
        let mut bits = if catalog { Head::CATALOG } else { 0 };
        if admin_api {
            bits |= Head::ADMIN_API;
        }
        for a in actions {
            bits |= match a {
                Action::Pull => Head::PULL,
                Action::Push => Head::PUSH,
                Action::Delete => Head::DELETE,
                Action::All => Head::ALL,
                Action::Other(_) => Head::OTHER,
            };
        }
        // The longest start shared by every pattern's literal prefix (`team/` for
        // `team/**`, nothing for `**` or `${user}/**`), cut to what fits inline.
        let mut common: &[u8] = repositories
            .first()
            .map_or(b"", |p| p.literal_prefix().as_bytes());
        for p in repositories.iter().skip(1) {
            let other = p.literal_prefix().as_bytes();
            let same = common.iter().zip(other).take_while(|(a, b)| a == b).count();
            common = &common[..same];
        }
        let common = &common[..common.len().min(Head::PREFIX_MAX)];
        let mut prefix = [0; Head::PREFIX_MAX];
        prefix[..common.len()].copy_from_slice(common);
        Head {
            rule,
            bits,
            prefix_len: common.len() as u8,
            prefix,
        }
    }

    /// Could this entry decide action `a` on `target`, judged on actions alone?
    ///
    /// - A requested `*` means "everything the registry knows", which only a `*` grant can
    ///   promise, while any deny refuses it: "everything" includes what the deny forbids.
    /// - The catalog is all-or-nothing (the registry only ever asks for
    ///   `registry:catalog:*`), so `catalog = true` covers every action there, whatever
    ///   the entry's role.
    fn covers(&self, rules: &[Rule], target: Target<'_>, a: &Action, effect: Effect) -> bool {
        match target {
            Target::Catalog => return self.bits & Head::CATALOG != 0,
            Target::AdminApi => return self.bits & Head::ADMIN_API != 0,
            Target::Repository(_) => {}
        }
        if self.bits & Head::ALL != 0 {
            return true;
        }
        match a {
            Action::Pull => self.bits & Head::PULL != 0,
            Action::Push => self.bits & Head::PUSH != 0,
            Action::Delete => self.bits & Head::DELETE != 0,
            Action::All => effect == Effect::Deny,
            Action::Other(o) => {
                self.bits & Head::OTHER != 0 && rules[self.rule as usize].other_actions.contains(o)
            }
        }
    }

    /// A cheap necessary condition for [`Rule::matches`].
    fn may_match(&self, target: Target<'_>) -> bool {
        match target {
            Target::Catalog => self.bits & Head::CATALOG != 0,
            Target::AdminApi => self.bits & Head::ADMIN_API != 0,
            Target::Repository(name) => name
                .as_bytes()
                .starts_with(&self.prefix[..self.prefix_len as usize]),
        }
    }
}

/// The resource of a scope, as far as policies can name it.
#[derive(Clone, Copy)]
enum Target<'a> {
    Repository(&'a str),
    Catalog,
    /// `portcullis:admin:*`: all-or-nothing, like the catalog.
    AdminApi,
}

impl<'a> Target<'a> {
    /// `None` for resources no policy can grant (other types, other registry resources).
    fn of(scope: &'a Scope) -> Option<Target<'a>> {
        let ty = &scope.resource_type;
        if ty.is_repository() {
            Some(Target::Repository(&scope.name))
        } else if ty.is_registry() && scope.name == "catalog" {
            Some(Target::Catalog)
        } else if scope.is_admin_api() {
            Some(Target::AdminApi)
        } else {
            None
        }
    }
}

impl Rule {
    /// Whether the entry names `target` (the catalog case is settled by its head).
    fn matches(&self, target: Target<'_>, user: Option<&str>) -> bool {
        match target {
            Target::Catalog | Target::AdminApi => true,
            Target::Repository(name) => self.repositories.iter().any(|p| p.matches(name, user)),
        }
    }
}

impl RuleTable {
    fn push(&mut self, entry: &EntryDef, actions: Vec<Action>, origin: RuleRef) -> Option<()> {
        let i = u32::try_from(self.rules.len()).ok()?;
        let head = Head::new(
            i,
            &actions,
            &entry.repositories,
            entry.catalog,
            entry.admin_api,
        );
        for s in &entry.subjects {
            self.index.insert(s, head);
        }
        let other_actions = actions
            .into_iter()
            .filter_map(|a| match a {
                Action::Other(o) => Some(o),
                _ => None,
            })
            .collect();
        self.rules.push(Rule {
            other_actions,
            repositories: entry.repositories.clone().into(),
        });
        self.origins.push(origin);
        self.heads.push(head);
        Some(())
    }

    /// For each requested action, lowers `best[k]` to the first (lowest load-order) entry
    /// that binds `who`, matches `target` and covers the action. Buckets are in load order,
    /// so a bucket is abandoned as soon as every slot already holds an earlier entry.
    fn first_matches(
        &self,
        effect: Effect,
        who: &Requester,
        target: Target<'_>,
        user: Option<&str>,
        actions: &[Action],
        best: &mut [Option<u32>],
    ) {
        self.index.for_each_bucket(who, |bucket| {
            for head in bucket {
                let i = head.rule;
                if best.iter().all(|b| b.is_some_and(|b| b < i)) {
                    break;
                }
                let improves = |a: &Action, b: &Option<u32>| {
                    b.is_none_or(|b| i < b) && head.covers(&self.rules, target, a, effect)
                };
                // Pattern matching is the costly part: skip it when the result could not matter.
                if !head.may_match(target)
                    || !actions.iter().zip(best.iter()).any(|(a, b)| improves(a, b))
                    || !self.rules[i as usize].matches(target, user)
                {
                    continue;
                }
                for (a, b) in actions.iter().zip(best.iter_mut()) {
                    if improves(a, b) {
                        *b = Some(i);
                    }
                }
            }
        });
    }
}

/// Role name → its definition, across all files.
struct Roles {
    by_name: HashMap<String, RoleDefinition>,
    /// Names in the order to list them in an error: built-ins, then custom in load order.
    names: Vec<String>,
    /// The names of the roles that come from the database.
    from_database: Vec<String>,
}

struct RoleDefinition {
    actions: Vec<Action>,
    /// `file:line` of a custom role, for the "already defined at" error; `None` if built in.
    defined_at: Option<String>,
}

impl Roles {
    fn collect(files: &[ParsedFile]) -> Result<Roles, PolicyError> {
        let mut roles = Roles {
            by_name: HashMap::new(),
            names: Vec::new(),
            from_database: Vec::new(),
        };
        for (name, actions) in BUILTIN_ROLES {
            let builtin = RoleDefinition {
                actions: actions.to_vec(),
                defined_at: None,
            };
            roles.by_name.insert((*name).to_owned(), builtin);
            roles.names.push((*name).to_owned());
        }
        for file in files {
            for role in &file.roles {
                let here = format!("{}:{}", file.name, role.line);
                if let Some(there) = roles
                    .by_name
                    .get(&role.name)
                    .and_then(|r| r.defined_at.as_ref())
                {
                    return Err(PolicyError::at(
                        &file.name,
                        role.line,
                        format!(
                            "[roles]: role {:?} is already defined at {there}. Fix: rename one of them or delete one definition (roles are shared by all policy files)",
                            role.name
                        ),
                    ));
                }
                let custom = RoleDefinition {
                    actions: role.actions.iter().map(|w| w.action.clone()).collect(),
                    defined_at: Some(here),
                };
                roles.by_name.insert(role.name.clone(), custom);
                roles.names.push(role.name.clone());
            }
        }
        // A role's list holds actions only; a role name there is a mistake, not a new action.
        for file in files {
            for role in &file.roles {
                for w in &role.actions {
                    if roles.by_name.contains_key(w.action.as_str()) {
                        return Err(PolicyError::at(
                            &file.name,
                            w.line,
                            format!(
                                "[roles]: role {:?} lists {:?}, which is a role, not an action; roles cannot include roles. Fix: list that role's actions instead",
                                role.name,
                                w.action.as_str()
                            ),
                        ));
                    }
                }
            }
        }
        Ok(roles)
    }

    /// Adds the database's custom roles after the files' ones. A role a file defines too
    /// is left out (the file wins: it is reviewed and in Git), with a warning.
    fn add_database(&mut self, roles: &[RoleRecord], warnings: &mut Vec<String>) {
        for r in roles {
            let spec = match RoleSpec::from_record(r) {
                Ok(s) => s,
                Err(e) => {
                    warnings.push(format!(
                        "role {:?} in the database is not in force: {e}",
                        r.name
                    ));
                    continue;
                }
            };
            if let Some(there) = self.by_name.get(&spec.name) {
                let there = there.defined_at.as_deref().unwrap_or("built in");
                warnings.push(format!(
                    "role {:?} in the database is not in force: a policy file defines it too ({there}). Fix: delete one of them",
                    r.name
                ));
                continue;
            }
            let defined_at = format!("database, made by {} on {}", r.made_by, day(r.made_at));
            self.by_name.insert(
                spec.name.clone(),
                RoleDefinition {
                    actions: spec.actions,
                    defined_at: Some(defined_at),
                },
            );
            self.names.push(spec.name);
            self.from_database.push(r.name.clone());
        }
    }

    fn known(&self) -> String {
        self.names.join(", ")
    }

    fn listing(&self) -> Vec<RoleInfo> {
        self.names
            .iter()
            .filter_map(|n| {
                let r = self.by_name.get(n)?;
                Some(RoleInfo {
                    name: n.clone(),
                    actions: r.actions.iter().map(|a| a.as_str().to_owned()).collect(),
                    origin: r.defined_at.clone().unwrap_or_else(|| "built in".into()),
                    in_database: self.from_database.contains(n),
                })
            })
            .collect()
    }
}

fn minute(at: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(at)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute] UTC"
            ))
            .ok()
        })
        .unwrap_or_else(|| at.to_string())
}

impl PolicySet {
    /// Loads every `*.toml` in `dir`, in byte order of file name, so that numbering files
    /// (`10-team.toml`, `90-freeze.toml`) fixes the load order. Other files (README.md) and
    /// hidden files (editor backups such as `.#team.toml`) are ignored. A directory with no
    /// policy file is an error: it would deny everything, which is far more often a wrong
    /// path than an intent (an empty `.toml` file says "deny everything" on purpose).
    pub fn read_dir(dir: &Path) -> Result<Vec<(String, String)>, PolicyError> {
        let shown = dir.display().to_string();
        let read_err = |e: std::io::Error| {
            PolicyError::whole(
                &shown,
                format!("cannot read the policy directory: {e}. Fix: check the path and its permissions"),
            )
        };
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(read_err)? {
            let entry = entry.map_err(read_err)?;
            let name = entry.file_name();
            let bytes = name.as_encoded_bytes();
            if !bytes.ends_with(b".toml") || bytes.starts_with(b".") {
                continue;
            }
            // Follows symlinks; a dangling one is kept so that reading it reports the problem.
            if std::fs::metadata(entry.path()).is_ok_and(|m| m.is_dir()) {
                continue;
            }
            names.push(name);
        }
        if names.is_empty() {
            return Err(PolicyError::whole(
                &shown,
                "holds no *.toml policy file, so every request would be denied. Fix: point at the right directory, or add a policy file (an empty one denies everything on purpose)",
            ));
        }
        names.sort_by(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
        read_named(dir, names)
    }
}

/// Reads the named files of `dir`, in order, as `(file as shown, text)`.
fn read_named(
    dir: &Path,
    names: Vec<std::ffi::OsString>,
) -> Result<Vec<(String, String)>, PolicyError> {
    {
        let mut sources = Vec::with_capacity(names.len());
        for name in names {
            let path = dir.join(&name);
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(&path).map_err(|e| {
                PolicyError::whole(&shown, format!("cannot read the policy file: {e}"))
            })?;
            sources.push((shown, text));
        }
        Ok(sources)
    }
}

impl PolicySet {
    /// Loads every `*.toml` in `dir` (see [`PolicySet::read_dir`]).
    pub fn load_dir(dir: &Path) -> Result<PolicySet, PolicyError> {
        PolicySet::from_sources(&PolicySet::read_dir(dir)?)
    }

    /// Parses and checks files given as `(name, text)` pairs, without compiling them.
    pub(crate) fn parse_sources(
        sources: &[(String, String)],
    ) -> Result<Vec<ParsedFile>, PolicyError> {
        sources
            .iter()
            .map(|(name, text)| policy_file::parse(name, text))
            .collect()
    }

    /// Builds a set from `(file name, TOML text)` pairs, in the order given. Roles may be
    /// used in any file, whatever the order, so files are all parsed before roles are
    /// resolved.
    pub fn from_sources(sources: &[(String, String)]) -> Result<PolicySet, PolicyError> {
        let files = PolicySet::parse_sources(sources)?;
        Ok(PolicySet::compile(&files, &DatabaseRules::default(), 0)?.set)
    }

    /// Compiles parsed files and the database's rules into one policy: files first, in
    /// load order, then the database's bindings, oldest first (order only decides which
    /// rule is named when several allow; a deny from either wins). An error in a file is
    /// an error; a database rule that no longer compiles (its role was removed from a
    /// file) is left out with a warning, and a binding expired at `now` is left out.
    pub(crate) fn compile(
        files: &[ParsedFile],
        db: &DatabaseRules,
        now: i64,
    ) -> Result<Compiled, PolicyError> {
        let mut warnings = Vec::new();
        let mut roles = Roles::collect(files)?;
        roles.add_database(&db.roles, &mut warnings);
        let mut set = PolicySet {
            grants: RuleTable::default(),
            denies: RuleTable::default(),
            files: files.len(),
            roles: roles.listing(),
            bindings: 0,
        };
        let mut next_expiry: Option<i64> = None;
        for file in files {
            for entry in &file.entries {
                let origin = Origin::file(file.name.clone(), entry.line);
                let (actions, origin) = compile(&file.name, entry, &roles, origin)?;
                let table = match entry.effect {
                    Effect::Grant => &mut set.grants,
                    Effect::Deny => &mut set.denies,
                };
                if table.push(entry, actions, origin).is_none() {
                    return Err(PolicyError::at(
                        &file.name,
                        entry.line,
                        "too many entries (over 4 billion)",
                    ));
                }
            }
        }
        for b in &db.bindings {
            if b.fields.expires_at.is_some_and(|at| at <= now) {
                continue;
            }
            let where_ = format!("binding {}", b.id);
            let spec = match BindingSpec::parse(&b.fields, None) {
                Ok(s) => s,
                Err(e) => {
                    warnings.push(format!("{where_} is not in force: {e}"));
                    continue;
                }
            };
            let origin = Origin::Binding {
                id: b.id,
                made_by: b.made_by.as_str().into(),
                made_at: b.made_at,
            };
            let compiled = compile(&where_.as_str().into(), &spec.entry, &roles, origin);
            let (actions, mut rule) = match compiled {
                Ok(c) => c,
                Err(e) => {
                    warnings.push(format!("{where_} is not in force: {}", e.message()));
                    continue;
                }
            };
            if let Some(at) = b.fields.expires_at {
                rule.text = format!("{} until {}", rule.text, minute(at)).into();
                next_expiry = Some(next_expiry.map_or(at, |n| n.min(at)));
            }
            let table = match spec.entry.effect {
                Effect::Grant => &mut set.grants,
                Effect::Deny => &mut set.denies,
            };
            if table.push(&spec.entry, actions, rule).is_some() {
                set.bindings += 1;
            }
        }
        Ok(Compiled {
            set,
            warnings,
            next_expiry,
        })
    }

    /// Every role: built in, from files, from the database, each with its origin.
    pub fn roles(&self) -> &[RoleInfo] {
        &self.roles
    }

    pub fn has_role(&self, name: &str) -> bool {
        self.roles.iter().any(|r| r.name == name)
    }

    /// Every rule in force, grants then denies, each in load order, with its origin.
    pub fn rules(&self) -> impl Iterator<Item = (&'static str, &RuleRef)> {
        self.grants
            .origins
            .iter()
            .map(|r| ("grant", r))
            .chain(self.denies.origins.iter().map(|r| ("deny", r)))
    }

    /// Decides one requested scope for one requester: deny entries first (any matching one
    /// refuses), then the first matching grant in load order, else "not granted".
    pub fn decide(&self, who: &Requester, scope: &Scope) -> Decision {
        let (granted, verdicts) = self.verdicts(who, scope);
        Decision {
            requested: scope.clone(),
            granted,
            verdicts,
        }
    }

    /// [`PolicySet::decide`] for a scope the caller gives up: kept, not copied.
    pub fn decide_owned(&self, who: &Requester, scope: Scope) -> Decision {
        let (granted, verdicts) = self.verdicts(who, &scope);
        Decision {
            requested: scope,
            granted,
            verdicts,
        }
    }

    fn verdicts(&self, who: &Requester, scope: &Scope) -> (Vec<Action>, Vec<ActionVerdict>) {
        let actions = &scope.actions;
        let n = actions.len();
        // deny[k], then grant[k]: the load-order number of the entry deciding action k.
        // On the stack for up to four actions (a request asks for one to three).
        let mut found: smallvec::SmallVec<[Option<u32>; 8]> = smallvec::smallvec![None; 2 * n];
        if let Some(target) = Target::of(scope) {
            // `${user}` stands for users only: a robot must never inherit a personal namespace.
            let user = who
                .identity()
                .filter(|id| id.kind == PrincipalKind::User)
                .map(|id| id.name.as_str());
            let (deny, grant) = found.split_at_mut(n);
            self.denies
                .first_matches(Effect::Deny, who, target, user, actions, deny);
            // A denied action needs no grant; marking its slot as taken by entry 0 makes the
            // grant scan skip it (nothing is earlier than 0) and stop sooner.
            for (d, g) in deny.iter().zip(grant.iter_mut()) {
                if d.is_some() {
                    *g = Some(0);
                }
            }
            self.grants
                .first_matches(Effect::Grant, who, target, user, actions, grant);
        }

        let limit = who.identity().and_then(|id| id.limit.as_deref());
        let mut granted = Vec::with_capacity(n);
        let mut verdicts = Vec::with_capacity(n);
        for (k, action) in actions.iter().enumerate() {
            let verdict = match (found[k], found[n + k]) {
                (Some(d), _) => Verdict::Denied(self.denies.origins[d as usize].clone()),
                (None, Some(g)) => {
                    let rule = self.grants.origins[g as usize].clone();
                    // A limited credential (a personal access token) gets the intersection
                    // of its own scopes and what the policies allow its owner.
                    if limit.is_some_and(|l| !l.allows(scope, action)) {
                        Verdict::OutsideTokenScope(rule)
                    } else {
                        granted.push(action.clone());
                        Verdict::Allowed(rule)
                    }
                }
                (None, None) => Verdict::NotGranted,
            };
            verdicts.push(ActionVerdict {
                action: action.clone(),
                verdict,
            });
        }
        (granted, verdicts)
    }

    /// The grants that would allow `action` on `scope`'s resource to *someone*, whoever
    /// they bind: what `explain` shows a refused user, so they know whom to ask or which
    /// group to join. Entries that only match through `${user}` are left out (they name
    /// each user's own namespace). Not used on the token path.
    pub fn grants_allowing(&self, scope: &Scope, action: &Action) -> Vec<RuleRef> {
        let Some(target) = Target::of(scope) else {
            return Vec::new();
        };
        let t = &self.grants;
        (0..t.rules.len())
            .filter(|&i| {
                let head = &t.heads[i];
                head.may_match(target)
                    && head.covers(&t.rules, target, action, Effect::Grant)
                    && t.rules[i].matches(target, None)
            })
            .map(|i| t.origins[i].clone())
            .collect()
    }

    /// Every grant and deny entry that binds `who` (through any of its subjects), in load
    /// order: what a user's groups and name bring them (`portcullis ldap test`).
    pub fn entries_binding(&self, who: &Requester) -> Vec<RuleRef> {
        let mut out = Vec::new();
        for table in [&self.grants, &self.denies] {
            let mut seen: Vec<u32> = Vec::new();
            table
                .index
                .for_each_bucket(who, |bucket| seen.extend(bucket.iter().map(|h| h.rule)));
            seen.sort_unstable();
            seen.dedup();
            out.extend(seen.into_iter().map(|i| table.origins[i as usize].clone()));
        }
        out
    }

    /// Groups that grants make admins (every action, `*`, or the catalog), with the grant:
    /// what `portcullis check` looks at when groups can come from outside.
    pub fn admin_groups(&self) -> Vec<(String, RuleRef)> {
        let t = &self.grants;
        let mut out: Vec<(String, RuleRef)> = t
            .index
            .groups()
            .flat_map(|(g, bucket)| {
                bucket
                    .iter()
                    .filter(|h| h.bits & (Head::ALL | Head::CATALOG | Head::ADMIN_API) != 0)
                    .map(move |h| (g.to_string(), t.origins[h.rule as usize].clone()))
            })
            .collect();
        out.sort_by(|a, b| (&a.0, a.1.location()).cmp(&(&b.0, b.1.location())));
        out
    }

    /// e.g. "3 files, 5 roles, 7 grants, 1 deny" (roles include the four built-in ones), with
    /// "2 bindings in the database" after the files when there are some.
    pub fn summary(&self) -> String {
        let count =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let files = match self.bindings {
            0 => count(self.files, "file", "files"),
            n => format!(
                "{}, {}",
                count(self.files, "file", "files"),
                count(n, "binding in the database", "bindings in the database")
            ),
        };
        format!(
            "{files}, {}, {}, {}",
            count(self.roles.len(), "role", "roles"),
            count(self.grants.rules.len(), "grant", "grants"),
            count(self.denies.rules.len(), "deny", "denies"),
        )
    }
}

/// Resolves an entry's role (or checks its action list) into the actions it names, and
/// states where the entry comes from.
fn compile(
    file: &Arc<str>,
    entry: &EntryDef,
    roles: &Roles,
    origin: Origin,
) -> Result<(Vec<Action>, RuleRef), PolicyError> {
    let ctx = entry.effect.entry();
    let actions = match &entry.permission {
        Permission::Role { name, line } => {
            let Some(role) = roles.by_name.get(name) else {
                let fix = if Action::parse(name).is_some_and(|a| !matches!(a, Action::Other(_))) {
                    format!("{name:?} is an action, so write actions = [{name:?}] instead of role.")
                } else {
                    "use one of them or define it under [roles].".to_owned()
                };
                return Err(PolicyError::at(
                    file,
                    *line,
                    format!(
                        "{ctx}: unknown role {name:?} (known roles: {}). Fix: {fix}",
                        roles.known()
                    ),
                ));
            };
            role.actions.clone()
        }
        Permission::Actions(words) => {
            let mut actions = Vec::with_capacity(words.len());
            for w in words {
                if roles.by_name.contains_key(w.action.as_str()) {
                    return Err(PolicyError::at(
                        file,
                        w.line,
                        format!(
                            "{ctx}: {:?} is a role, not an action. Fix: write role = {:?} instead of actions",
                            w.action.as_str(),
                            w.action.as_str()
                        ),
                    ));
                }
                actions.push(w.action.clone());
            }
            actions
        }
    };
    let origin = RuleRef {
        origin,
        text: entry.text().into(),
        description: entry.description.as_deref().map(Into::into),
    };
    Ok((actions, origin))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuthSource, Identity};

    fn sources(files: &[(&str, &str)]) -> Vec<(String, String)> {
        files
            .iter()
            .map(|(n, t)| (n.to_string(), t.to_string()))
            .collect()
    }

    fn load(files: &[(&str, &str)]) -> PolicySet {
        PolicySet::from_sources(&sources(files)).unwrap_or_else(|e| panic!("should load: {e}"))
    }

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

    /// Each requested action with its verdict in short form: `pull=allowed@a.toml:2`.
    fn verdicts(set: &PolicySet, who: &Requester, scope: &str) -> Vec<String> {
        let d = set.decide(who, &Scope::parse(scope).unwrap());
        d.verdicts
            .iter()
            .map(|v| match &v.verdict {
                Verdict::Allowed(r) => format!("{}=allowed@{}", v.action, r.origin),
                Verdict::Denied(r) => format!("{}=denied@{}", v.action, r.origin),
                Verdict::NotGranted => format!("{}=no", v.action),
                Verdict::OutsideTokenScope(r) => {
                    format!("{}=limited@{}", v.action, r.origin)
                }
            })
            .collect()
    }

    /// Just the granted actions, comma-separated ("" for none).
    fn granted(set: &PolicySet, who: &Requester, scope: &str) -> String {
        let d = set.decide(who, &Scope::parse(scope).unwrap());
        d.granted
            .iter()
            .map(Action::as_str)
            .collect::<Vec<_>>()
            .join(",")
    }

    const TEAM: &str = r#"
[[grant]]
to = ["group:developers"]
role = "writer"
repositories = ["team/**"]

[[grant]]
to = ["authenticated"]
role = "reader"
repositories = ["**"]
"#;

    const FREEZE: &str = r#"
[[deny]]
to = ["authenticated"]
actions = ["push"]
repositories = ["team/release/**"]
description = "release freeze"
"#;

    #[test]
    fn a_limited_credential_gets_the_intersection_of_its_scopes_and_the_policies() {
        let set = load(&[(
            "p.toml",
            "[[grant]]\nto = [\"user:alice\"]\nrole = \"maintainer\"\nrepositories = [\"team/**\"]\n",
        )]);
        let mut id = Identity::user("alice", vec![], AuthSource::AccessToken);
        id.limit = Some(std::sync::Arc::new(
            crate::domain::ScopeLimit::parse(&[
                "repository:team/app:pull,push",
                "repository:other/**:*",
            ])
            .unwrap(),
        ));
        let who = Requester::Authenticated(id);
        assert_eq!(
            verdicts(&set, &who, "repository:team/app:pull,push,delete"),
            [
                "pull=allowed@p.toml:1",
                "push=allowed@p.toml:1",
                "delete=limited@p.toml:1"
            ]
        );
        // The token's scope cannot widen what the policies allow.
        assert_eq!(verdicts(&set, &who, "repository:other/x:pull"), ["pull=no"]);
        let d = set.decide(&who, &Scope::parse("repository:team/app:delete").unwrap());
        assert!(
            d.reason().contains("outside the token's scopes"),
            "{}",
            d.reason()
        );
        assert!(d.to_string().contains("limited"), "{d}");
    }

    #[test]
    fn grants_allowing_lists_who_else_holds_an_action() {
        let set = load(&[(
            "p.toml",
            "[[grant]]\nto = [\"group:developers\"]\nrole = \"writer\"\nrepositories = [\"team/**\"]\n\n\
             [[grant]]\nto = [\"authenticated\"]\nrole = \"admin\"\nrepositories = [\"${user}/**\"]\n\n\
             [[grant]]\nto = [\"user:ops\"]\nrole = \"reader\"\nrepositories = [\"team/**\"]\n",
        )]);
        let scope = Scope::parse("repository:team/app:push").unwrap();
        let found = set.grants_allowing(&scope, &Action::Push);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].location(), "p.toml:1");
        assert_eq!(set.grants_allowing(&scope, &Action::Pull).len(), 2);
        assert!(set.grants_allowing(&scope, &Action::Delete).is_empty());
    }

    #[test]
    fn deny_wins_over_a_broader_grant() {
        let set = load(&[("10-team.toml", TEAM), ("90-freeze.toml", FREEZE)]);
        let dev = user("alice", &["developers"]);
        assert_eq!(
            verdicts(&set, &dev, "repository:team/release/app:pull,push"),
            [
                "pull=allowed@10-team.toml:2",
                "push=denied@90-freeze.toml:2"
            ]
        );
        assert_eq!(
            granted(&set, &dev, "repository:team/app:pull,push"),
            "pull,push"
        );
    }

    #[test]
    fn access_is_denied_by_default() {
        let set = load(&[("10-team.toml", TEAM)]);
        assert_eq!(
            verdicts(&set, &Requester::Anonymous, "repository:team/app:pull"),
            ["pull=no"]
        );
        assert_eq!(
            verdicts(
                &set,
                &user("bob", &[]),
                "repository:team/app:pull,push,delete"
            ),
            ["pull=allowed@10-team.toml:7", "push=no", "delete=no"]
        );
        let empty = load(&[]);
        assert_eq!(
            granted(&empty, &user("bob", &[]), "repository:app:pull"),
            ""
        );
    }

    #[test]
    fn the_first_matching_grant_in_load_order_is_the_one_reported() {
        // alice reaches these through three buckets (everyone, group, user); the answer is
        // the earliest entry by file order, then position in the file.
        let a = r#"
[[grant]]
to = ["user:alice"]
role = "writer"
repositories = ["app"]
"#;
        let b = r#"
[[grant]]
to = ["everyone"]
role = "admin"
repositories = ["other"]

[[grant]]
to = ["group:devs"]
role = "maintainer"
repositories = ["app"]

[[grant]]
to = ["everyone"]
role = "reader"
repositories = ["app"]
"#;
        let set = load(&[("a.toml", a), ("b.toml", b)]);
        assert_eq!(
            verdicts(
                &set,
                &user("alice", &["devs"]),
                "repository:app:pull,push,delete"
            ),
            [
                "pull=allowed@a.toml:2",
                "push=allowed@a.toml:2",
                "delete=allowed@b.toml:7"
            ]
        );
        assert_eq!(
            verdicts(&set, &user("bob", &[]), "repository:app:pull,push"),
            ["pull=allowed@b.toml:12", "push=no"]
        );
        let reversed = load(&[("b.toml", b), ("a.toml", a)]);
        assert_eq!(
            verdicts(&reversed, &user("alice", &["devs"]), "repository:app:pull"),
            ["pull=allowed@b.toml:7"]
        );
    }

    #[test]
    fn a_requested_star_needs_a_star_grant_and_falls_to_any_deny() {
        let policy = r#"
[[grant]]
to = ["user:alice"]
role = "maintainer"
repositories = ["team/**"]

[[grant]]
to = ["user:root"]
role = "admin"
repositories = ["**"]

[[deny]]
to = ["user:root"]
actions = ["delete"]
repositories = ["prod/**"]
"#;
        let set = load(&[("p.toml", policy)]);
        let alice = user("alice", &[]);
        let root = user("root", &[]);
        assert_eq!(granted(&set, &alice, "repository:team/app:*"), "");
        assert_eq!(
            granted(&set, &alice, "repository:team/app:pull,push,delete"),
            "pull,push,delete"
        );
        assert_eq!(granted(&set, &root, "repository:team/app:*"), "*");
        assert_eq!(
            granted(&set, &root, "repository:team/app:pull,tag"),
            "pull,tag"
        );
        // The deny names only delete, but "everything" includes delete.
        assert_eq!(
            verdicts(&set, &root, "repository:prod/db:pull,delete,*"),
            [
                "pull=allowed@p.toml:7",
                "delete=denied@p.toml:12",
                "*=denied@p.toml:12"
            ]
        );
    }

    #[test]
    fn unknown_actions_are_granted_only_by_star_or_by_naming_them() {
        let policy = r#"
[[grant]]
to = ["authenticated"]
role = "maintainer"
repositories = ["**"]

[[grant]]
to = ["group:taggers"]
actions = ["tag"]
repositories = ["**"]

[[deny]]
to = ["group:frozen"]
role = "reader"
repositories = ["**"]
"#;
        let set = load(&[("p.toml", policy)]);
        assert_eq!(
            granted(&set, &user("a", &[]), "repository:x:pull,tag"),
            "pull"
        );
        assert_eq!(
            granted(&set, &user("a", &["taggers"]), "repository:x:pull,tag"),
            "pull,tag"
        );
        // A deny by role refuses that role's actions only.
        assert_eq!(
            granted(&set, &user("a", &["frozen"]), "repository:x:pull,push"),
            "push"
        );
    }

    #[test]
    fn the_catalog_is_granted_only_by_catalog_entries_whatever_their_role() {
        let policy = r#"
[[grant]]
to = ["authenticated"]
role = "admin"
repositories = ["**"]

[[grant]]
to = ["group:browsers"]
role = "reader"
catalog = true

[[deny]]
to = ["user:mallory"]
role = "reader"
catalog = true
"#;
        let set = load(&[("p.toml", policy)]);
        assert_eq!(granted(&set, &user("a", &[]), "registry:catalog:*"), "");
        assert_eq!(
            verdicts(&set, &user("a", &["browsers"]), "registry:catalog:*"),
            ["*=allowed@p.toml:7"]
        );
        assert_eq!(
            verdicts(&set, &user("mallory", &["browsers"]), "registry:catalog:*"),
            ["*=denied@p.toml:12"]
        );
        // A catalog-only entry grants no repository, and `**` never names the catalog.
        assert_eq!(
            granted(&set, &user("a", &["browsers"]), "repository:catalog:pull"),
            "pull"
        );
        assert_eq!(
            granted(&set, &Requester::Anonymous, "registry:catalog:*"),
            ""
        );
    }

    #[test]
    fn resources_policies_cannot_name_are_never_granted() {
        let set = load(&[(
            "p.toml",
            "[[grant]]\nto = [\"everyone\"]\nrole = \"admin\"\nrepositories = [\"**\"]\ncatalog = true\n",
        )]);
        let who = user("a", &[]);
        assert_eq!(granted(&set, &who, "registry:other:*"), "");
        assert_eq!(granted(&set, &who, "custom:thing:read"), "");
        // A class does not change what the resource is.
        assert_eq!(
            granted(&set, &who, "repository(plugin):vieux/sshfs:pull"),
            "pull"
        );
    }

    #[test]
    fn a_personal_namespace_belongs_to_the_user_and_never_to_a_robot_or_anonymous() {
        let policy = r#"
[[grant]]
to = ["everyone"]
role = "maintainer"
repositories = ["${user}/**", "sandbox/${user}-*"]
"#;
        let set = load(&[("p.toml", policy)]);
        let cases: &[(&Requester, &str, &str)] = &[
            (&user("alice", &[]), "repository:alice/app:push", "push"),
            (
                &user("alice", &[]),
                "repository:sandbox/alice-tmp:push",
                "push",
            ),
            (&user("alice", &[]), "repository:bob/app:push", ""),
            (&user("alice", &[]), "repository:alice:push", ""),
            (&robot("alice", &[]), "repository:alice/app:push", ""),
            (&Requester::Anonymous, "repository:alice/app:push", ""),
        ];
        for (who, scope, want) in cases {
            assert_eq!(granted(&set, who, scope), *want, "{who:?} {scope}");
        }
    }

    #[test]
    fn an_entry_with_several_patterns_matches_through_any_of_them() {
        // Shared literal starts ("team/"), none ("" for `other`), and one longer than the
        // part kept inline for quick rejection ("registry.example.com/").
        let policy = r#"
[[grant]]
to = ["everyone"]
role = "reader"
repositories = ["team/a*", "team/b/**"]

[[grant]]
to = ["everyone"]
role = "writer"
repositories = ["team/**", "other"]

[[grant]]
to = ["everyone"]
role = "maintainer"
repositories = ["registry.example.com/team/*", "registry.example.com/ops/**"]
"#;
        let set = load(&[("p.toml", policy)]);
        let who = Requester::Anonymous;
        let cases = [
            ("repository:team/app:pull", "pull=allowed@p.toml:2"),
            ("repository:team/b/c:pull", "pull=allowed@p.toml:2"),
            ("repository:team/c:pull", "pull=allowed@p.toml:7"),
            ("repository:other:push", "push=allowed@p.toml:7"),
            ("repository:others:push", "push=no"),
            (
                "repository:registry.example.com/team/x:delete",
                "delete=allowed@p.toml:12",
            ),
            (
                "repository:registry.example.com/ops/a/b:delete",
                "delete=allowed@p.toml:12",
            ),
            ("repository:registry.example.com/dev/x:delete", "delete=no"),
            ("repository:registry.example.org/team/x:delete", "delete=no"),
        ];
        for (scope, want) in cases {
            assert_eq!(verdicts(&set, &who, scope), [want], "{scope}");
        }
    }

    #[test]
    fn each_subject_reaches_exactly_its_requesters() {
        let mut policy = String::new();
        let subjects = [
            "user:alice",
            "robot:alice",
            "group:ops",
            "authenticated",
            "anonymous",
            "everyone",
        ];
        for s in subjects {
            let repo = s.replace(':', "-");
            policy.push_str(&format!(
                "[[grant]]\nto = [\"{s}\"]\nrole = \"reader\"\nrepositories = [\"{repo}\"]\n\n"
            ));
        }
        let set = load(&[("p.toml", &policy)]);
        // (requester, which subjects' repositories it may pull)
        let cases: &[(Requester, [bool; 6])] = &[
            (user("alice", &[]), [true, false, false, true, false, true]),
            (
                robot("alice", &["ops"]),
                [false, true, true, true, false, true],
            ),
            (
                user("bob", &["ops"]),
                [false, false, true, true, false, true],
            ),
            (
                Requester::Anonymous,
                [false, false, false, false, true, true],
            ),
        ];
        for (who, want) in cases {
            let got = subjects.map(|s| {
                granted(
                    &set,
                    who,
                    &format!("repository:{}:pull", s.replace(':', "-")),
                ) == "pull"
            });
            assert_eq!(got, *want, "{who:?}");
        }
    }

    #[test]
    fn roles_may_be_used_before_the_file_that_defines_them() {
        let team =
            "[[grant]]\nto = [\"group:audit\"]\nrole = \"auditor\"\nrepositories = [\"**\"]\n";
        let roles = "[roles]\nauditor = [\"pull\", \"tag\"]\n";
        let set = load(&[("10-team.toml", team), ("99-roles.toml", roles)]);
        assert_eq!(
            granted(&set, &user("a", &["audit"]), "repository:x:pull,push,tag"),
            "pull,tag"
        );
        assert_eq!(set.summary(), "2 files, 5 roles, 1 grant, 0 denies");
    }

    fn binding(
        id: i64,
        effect: &str,
        subjects: &[&str],
        role: &str,
        repos: &[&str],
    ) -> BindingRecord {
        BindingRecord {
            id,
            fields: crate::store::BindingFields {
                effect: effect.into(),
                subjects: subjects.iter().map(|s| s.to_string()).collect(),
                role: Some(role.into()),
                actions: vec![],
                repositories: repos.iter().map(|s| s.to_string()).collect(),
                catalog: false,
                admin_api: false,
                description: None,
                expires_at: None,
            },
            made_by: "alice".into(),
            made_at: 1_796_400_000,
            updated_by: None,
            updated_at: None,
        }
    }

    #[test]
    fn database_bindings_join_the_files_and_a_deny_from_either_wins() {
        let files = PolicySet::parse_sources(&sources(&[
            ("10-team.toml", TEAM),
            ("20-roles.toml", "[roles]\ntagger = [\"pull\", \"tag\"]\n"),
        ]))
        .unwrap();
        let mut db = DatabaseRules::default();
        db.bindings
            .push(binding(7, "grant", &["group:qa"], "writer", &["qa/**"]));
        db.bindings
            .push(binding(8, "grant", &["group:qa"], "tagger", &["qa/tools"]));
        db.bindings
            .push(binding(9, "deny", &["user:bob"], "writer", &["team/**"]));
        let mut expired = binding(10, "grant", &["group:qa"], "admin", &["**"]);
        expired.fields.expires_at = Some(1_000);
        db.bindings.push(expired);
        let mut later = binding(11, "grant", &["group:qa"], "maintainer", &["later/**"]);
        later.fields.expires_at = Some(5_000);
        db.bindings.push(later);
        let compiled = PolicySet::compile(&files, &db, 2_000).unwrap();
        assert!(compiled.warnings.is_empty(), "{:?}", compiled.warnings);
        assert_eq!(compiled.next_expiry, Some(5_000));
        let set = compiled.set;
        assert_eq!(
            verdicts(&set, &user("carol", &["qa"]), "repository:qa/app:pull,push"),
            // Files load first: the file's reader grant is named for pull.
            [
                "pull=allowed@10-team.toml:7",
                "push=allowed@binding 7, made by alice on 2026-12-04"
            ]
        );
        // A role from a file, used by a database binding.
        assert_eq!(
            granted(&set, &user("carol", &["qa"]), "repository:qa/tools:tag"),
            "tag"
        );
        // The expired binding is not in force; the one expiring later is, and says until when.
        assert_eq!(
            granted(&set, &user("carol", &["qa"]), "repository:x:delete"),
            ""
        );
        let d = set.decide(
            &user("carol", &["qa"]),
            &Scope::parse("repository:later/a:delete").unwrap(),
        );
        assert!(d.verdicts[0]
            .verdict
            .rule()
            .unwrap()
            .text
            .ends_with("until 1970-01-01 01:23 UTC"));
        // A deny in the database beats a grant in a file.
        assert_eq!(
            verdicts(
                &set,
                &user("bob", &["developers"]),
                "repository:team/app:push"
            ),
            ["push=denied@binding 9, made by alice on 2026-12-04"]
        );
        assert_eq!(
            set.summary(),
            "2 files, 4 bindings in the database, 5 roles, 5 grants, 1 deny"
        );
    }

    #[test]
    fn a_database_rule_that_no_longer_compiles_is_left_out_with_a_warning() {
        let files = PolicySet::parse_sources(&sources(&[("10-team.toml", TEAM)])).unwrap();
        let mut db = DatabaseRules::default();
        db.bindings
            .push(binding(3, "grant", &["group:qa"], "tagger", &["qa/**"]));
        db.roles.push(RoleRecord {
            name: "reader".into(),
            actions: vec!["pull".into()],
            description: None,
            made_by: "alice".into(),
            made_at: 0,
            updated_by: None,
            updated_at: None,
        });
        let compiled = PolicySet::compile(&files, &db, 0).unwrap();
        assert_eq!(compiled.warnings.len(), 2, "{:?}", compiled.warnings);
        assert!(
            compiled.warnings[0].contains("reader"),
            "{:?}",
            compiled.warnings
        );
        assert!(
            compiled.warnings[1]
                .starts_with("binding 3 is not in force: grant entry: unknown role \"tagger\""),
            "{:?}",
            compiled.warnings
        );
        assert_eq!(
            granted(
                &compiled.set,
                &user("carol", &["qa"]),
                "repository:qa/a:tag"
            ),
            ""
        );
    }

    #[test]
    fn the_admin_api_is_granted_only_by_admin_api_entries() {
        let set = load(&[(
            "p.toml",
            "[[grant]]\nto = [\"group:ops\"]\nrole = \"reader\"\nadmin_api = true\n[[grant]]\nto = [\"authenticated\"]\nrole = \"admin\"\nrepositories = [\"**\"]\ncatalog = true\n",
        )]);
        assert_eq!(
            granted(&set, &user("a", &["ops"]), "portcullis:admin:*"),
            "*"
        );
        assert_eq!(granted(&set, &user("b", &[]), "portcullis:admin:*"), "");
        assert_eq!(
            set.admin_groups()
                .into_iter()
                .map(|(g, _)| g)
                .collect::<Vec<_>>(),
            ["ops"]
        );
    }

    #[test]
    fn the_summary_counts_files_roles_and_entries() {
        let set = load(&[
            ("10-team.toml", TEAM),
            ("90-freeze.toml", FREEZE),
            ("x.toml", ""),
        ]);
        assert_eq!(set.summary(), "3 files, 4 roles, 2 grants, 1 deny");
    }

    #[test]
    fn an_explanation_shows_each_verdict_with_its_entry() {
        let set = load(&[
            ("policies/10-team.toml", TEAM),
            ("policies/90-freeze.toml", FREEZE),
        ]);
        let d = set.decide(
            &user("alice", &["developers"]),
            &Scope::parse("repository:team/release/app:pull,push,delete").unwrap(),
        );
        let want = "\
repository:team/release/app:pull,push,delete
  pull   allowed   policies/10-team.toml:2    grant writer to group:developers on team/**
  push   denied    policies/90-freeze.toml:2  deny push to authenticated on team/release/**
                                              \"release freeze\"
  delete no grant  (no grant matches; access is denied by default)
";
        assert_eq!(d.to_string(), want);
        assert_eq!(
            d.reason(),
            "pull: allowed by policies/10-team.toml:2; push: denied by policies/90-freeze.toml:2; delete: not granted"
        );
        assert_eq!(
            d.granted_scope().unwrap().to_string(),
            "repository:team/release/app:pull"
        );
    }

    /// (files, file at fault, line, text the message must contain)
    type ErrorCase<'a> = (&'a [(&'a str, &'a str)], &'a str, usize, &'a str);

    #[test]
    fn every_load_error_names_the_file_and_the_line() {
        let roles = ("10-roles.toml", "[roles]\nauditor = [\"pull\"]\n");
        let cases: &[ErrorCase] = &[
            (
                &[("p.toml", "[[grant]]\nto = [\"authenticated\"]\nrol = \"reader\"\nrepositories = [\"**\"]\n")],
                "p.toml", 3, "unknown field `rol`",
            ),
            (&[("p.toml", "\n[[grants]]\nto = [\"authenticated\"]\n")], "p.toml", 2, "unknown field `grants`"),
            (
                &[roles, ("20-team.toml", "\n\n[[grant]]\nto = [\"group:developers\"]\nrole = \"writr\"\nrepositories = [\"team/**\"]\n")],
                "20-team.toml", 5,
                "grant entry: unknown role \"writr\" (known roles: admin, maintainer, reader, writer, auditor). Fix: use one of them or define it under [roles].",
            ),
            (
                &[("p.toml", "[[grant]]\nto = [\"authenticated\"]\nrole = \"pull\"\nrepositories = [\"**\"]\n")],
                "p.toml", 3, "unknown role \"pull\" (known roles: admin, maintainer, reader, writer). Fix: \"pull\" is an action, so write actions = [\"pull\"] instead of role.",
            ),
            (
                &[("p.toml", "[[deny]]\nto = [\"authenticated\"]\nactions = [\"writer\"]\nrepositories = [\"**\"]\n")],
                "p.toml", 3, "deny entry: \"writer\" is a role, not an action",
            ),
            (
                &[("p.toml", "\n[[grant]]\nto = [\"authenticated\"]\nrole = \"reader\"\nactions = [\"pull\"]\nrepositories = [\"**\"]\n")],
                "p.toml", 2, "grant entry: has both `role` and `actions`",
            ),
            (
                &[("p.toml", "\n[[deny]]\nto = [\"authenticated\"]\nrepositories = [\"**\"]\n")],
                "p.toml", 2, "deny entry: has neither `role` nor `actions`",
            ),
            (
                &[("p.toml", "[[grant]]\nrole = \"reader\"\n\nto = []\nrepositories = [\"**\"]\n")],
                "p.toml", 4, "grant entry: `to` is empty",
            ),
            (&[("p.toml", "[[grant]]\nrole = \"reader\"\nrepositories = [\"**\"]\n")], "p.toml", 1, "`to` is missing"),
            (
                &[("p.toml", "[[grant]]\nto = [\n  \"user:alice\",\n  \"team:x\",\n]\nrole = \"reader\"\nrepositories = [\"**\"]\n")],
                "p.toml", 4, "bad subject \"team:x\". Fix: use one of user:NAME, robot:NAME, group:NAME, authenticated, anonymous, everyone",
            ),
            (
                &[("p.toml", "[[grant]]\nto = [\"users:bob\"]\nrole = \"reader\"\nrepositories = [\"**\"]\n")],
                "p.toml", 2, "bad subject \"users:bob\"",
            ),
            (
                &[("p.toml", "[[grant]]\nto = [\"user:\"]\nrole = \"reader\"\nrepositories = [\"**\"]\n")],
                "p.toml", 2, "bad subject \"user:\"",
            ),
            (
                &[("p.toml", "[[grant]]\nto = [\"authenticated\"]\nrole = \"reader\"\nrepositories = [\n  \"team/**\",\n  \"Team/**\",\n]\n")],
                "p.toml", 6, "bad repository pattern: pattern \"Team/**\" has the upper-case letter 'T'",
            ),
            (
                &[("p.toml", "[[grant]]\nto = [\"authenticated\"]\nrole = \"reader\"\nrepositories = [\"team//app\"]\n")],
                "p.toml", 4, "has an empty segment",
            ),
            (
                &[("p.toml", "[[grant]]\nto = [\"authenticated\"]\nrole = \"reader\"\nrepositories = [\"team/app**\"]\n")],
                "p.toml", 4, "`**` must be a whole segment",
            ),
            (
                &[("p.toml", "[[grant]]\nto = [\"authenticated\"]\nrole = \"reader\"\nrepositories = [\"${group}/**\"]\n")],
                "p.toml", 4, "unknown placeholder \"${group}\"",
            ),
            (
                &[("p.toml", "[[grant]]\nto = [\"authenticated\"]\nrole = \"reader\"\n")],
                "p.toml", 1, "names no resource",
            ),
            (
                &[("p.toml", "[[grant]]\nto = [\"authenticated\"]\nrole = \"reader\"\nrepositories = []\ncatalog = false\n")],
                "p.toml", 1, "names no resource",
            ),
            (
                &[("p.toml", "[[grant]]\nto = [\"authenticated\"]\nactions = []\nrepositories = [\"**\"]\n")],
                "p.toml", 3, "grant entry: the action list is empty",
            ),
            (
                &[("p.toml", "[[grant]]\nto = [\"authenticated\"]\nactions = [\"pull\", \"PUSH\"]\nrepositories = [\"**\"]\n")],
                "p.toml", 3, "grant entry: bad action \"PUSH\"",
            ),
            (&[("p.toml", "[roles]\n\nwriter = [\"pull\"]\n")], "p.toml", 3, "\"writer\" is a built-in role and cannot be redefined"),
            (
                &[roles, ("20-more.toml", "# more roles\n[roles]\nauditor = [\"pull\", \"push\"]\n")],
                "20-more.toml", 3, "role \"auditor\" is already defined at 10-roles.toml:2",
            ),
            (&[("p.toml", "[roles]\nauditor = [\"pull\"]\nauditor = [\"push\"]\n")], "p.toml", 3, "duplicate key"),
            (&[("p.toml", "[roles]\nauditor = []\n")], "p.toml", 2, "role \"auditor\": the action list is empty"),
            (&[("p.toml", "[roles]\nauditor = [\"reader\"]\n")], "p.toml", 2, "\"reader\", which is a role, not an action"),
            (&[("p.toml", "[roles]\nAuditor = [\"pull\"]\n")], "p.toml", 2, "bad role name \"Auditor\""),
            (&[("p.toml", "[[grant]]\nto = \"authenticated\"\n")], "p.toml", 2, "expected a sequence"),
            (&[("p.toml", "[[grant]]\nto = [\"authenticated\"\n")], "p.toml", 2, "unclosed array"),
            (
                &[("ok.toml", TEAM), ("p.toml", "[[grant]]\nto = [\"authenticated\"]\ncatalog = \"yes\"\n")],
                "p.toml", 3, "expected a boolean",
            ),
        ];
        for (files, file, line, text) in cases {
            let err = PolicySet::from_sources(&sources(files))
                .expect_err(&format!("{files:?} should be refused"));
            let shown = err.to_string();
            assert_eq!((err.file(), err.line()), (*file, Some(*line)), "{shown}");
            assert!(shown.starts_with(&format!("{file}:{line}: ")), "{shown}");
            assert!(shown.contains(text), "expected {text:?} in {shown}");
        }
    }

    #[test]
    fn an_unknown_role_reads_exactly_as_documented() {
        let roles = "[roles]\nauditor = [\"pull\"]\n";
        let team = format!("{}[[grant]]\nto = [\"group:developers\"]\nrole = \"writr\"\nrepositories = [\"team/**\"]\n", "\n".repeat(9));
        let err = PolicySet::from_sources(&sources(&[
            ("policies/00-roles.toml", roles),
            ("policies/10-team.toml", &team),
        ]))
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "policies/10-team.toml:12: grant entry: unknown role \"writr\" (known roles: admin, maintainer, reader, writer, auditor). Fix: use one of them or define it under [roles]."
        );
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(files: &[(&str, &str)]) -> TempDir {
            use std::sync::atomic::{AtomicUsize, Ordering};
            static N: AtomicUsize = AtomicUsize::new(0);
            let dir = std::env::temp_dir().join(format!(
                "portcullis-authz-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::create_dir_all(&dir).unwrap();
            for (name, text) in files {
                std::fs::write(dir.join(name), text).unwrap();
            }
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn a_directory_loads_its_toml_files_in_byte_order_and_ignores_the_rest() {
        let grant = |role: &str| {
            format!(
                "[[grant]]\nto = [\"authenticated\"]\nrole = \"{role}\"\nrepositories = [\"**\"]\n"
            )
        };
        let dir = TempDir::new(&[
            ("20-b.toml", &grant("writer")),
            ("10-a.toml", &grant("reader")),
            ("B.toml", &grant("maintainer")),
            ("README.md", "not a policy = ["),
            (".#10-a.toml", "not a policy = ["),
            ("notes.toml.bak", "not a policy = ["),
        ]);
        std::fs::create_dir(dir.0.join("sub.toml")).unwrap();
        let set = PolicySet::load_dir(&dir.0).unwrap();
        assert_eq!(set.summary(), "3 files, 4 roles, 3 grants, 0 denies");
        // Byte order, not locale order: '1' < '2' < 'B'.
        let d = set.decide(
            &user("a", &[]),
            &Scope::parse("repository:x:pull,push,delete").unwrap(),
        );
        let files: Vec<String> = d
            .verdicts
            .iter()
            .map(|v| match &v.verdict.rule().unwrap().origin {
                Origin::File { file, .. } => file.to_string(),
                other => panic!("not from a file: {other}"),
            })
            .collect();
        let base = dir.0.display().to_string();
        assert_eq!(
            files,
            [
                format!("{base}/10-a.toml"),
                format!("{base}/20-b.toml"),
                format!("{base}/B.toml")
            ]
        );
    }

    #[test]
    fn a_directory_error_names_the_file_or_the_directory() {
        let bad = TempDir::new(&[
            ("10-ok.toml", ""),
            ("20-bad.toml", "\n[[grant]]\nto = [\"all\"]\n"),
        ]);
        let err = PolicySet::load_dir(&bad.0).unwrap_err();
        assert_eq!(err.file(), format!("{}/20-bad.toml", bad.0.display()));
        assert_eq!(err.line(), Some(3));

        let empty = TempDir::new(&[("README.md", "")]);
        let err = PolicySet::load_dir(&empty.0).unwrap_err();
        assert_eq!(
            (err.file(), err.line()),
            (empty.0.display().to_string().as_str(), None)
        );
        assert!(err.message().contains("no *.toml policy file"), "{err}");

        let missing = empty.0.join("nope");
        let err = PolicySet::load_dir(&missing).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "{}: cannot read the policy directory",
                missing.display()
            )),
            "{err}"
        );
    }

    #[test]
    fn the_shipped_default_policy_does_what_its_comments_say() {
        let set = load(&[(
            "policies/default.toml",
            include_str!("../../policies/default.toml"),
        )]);
        let alice = user("alice", &[]);
        let admin = user("root", &["admins"]);
        let cases: &[(&Requester, &str, &str)] = &[
            (&alice, "repository:library/ubuntu:pull,push", "pull"),
            (
                &alice,
                "repository:alice/app:pull,push,delete",
                "pull,push,delete",
            ),
            (&alice, "repository:alice/app:*", ""),
            (&alice, "repository:bob/app:push", ""),
            (&alice, "registry:catalog:*", ""),
            (
                &robot("alice", &[]),
                "repository:alice/app:pull,push",
                "pull",
            ),
            (&admin, "repository:bob/app:*", "*"),
            (&admin, "registry:catalog:*", "*"),
            (&Requester::Anonymous, "repository:library/ubuntu:pull", ""),
            (&Requester::Anonymous, "registry:catalog:*", ""),
        ];
        for (who, scope, want) in cases {
            assert_eq!(granted(&set, who, scope), *want, "{who:?} {scope}");
        }
    }
}
