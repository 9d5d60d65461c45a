//! The answer to "I have a password but no permission, why?": for a user (with their
//! groups from the database, plus any assumed) or an anonymous client, every requested
//! action's verdict with the rule that decided it, and for what was not granted, the rules
//! that grant it to others (so the refused person knows whom to ask). `portcullis explain`
//! prints it; `POST /api/v1/explain` returns it as JSON.

use crate::authz::{Authorizer, Decision, RuleRef, Verdict};
use crate::domain::{Action, AuthSource, Identity, Requester, Scope};
use crate::store::Store;

use super::ManageError;

pub struct Explanation {
    pub requester: Requester,
    /// Things worth knowing before the verdicts (a disabled user, an unknown one).
    pub notes: Vec<String>,
    pub scopes: Vec<ScopeExplanation>,
}

pub struct ScopeExplanation {
    pub decision: Decision,
    /// For each action not granted by any rule: the rules granting it to others.
    pub granted_to_others: Vec<(Action, Vec<RuleRef>)>,
}

/// Explains `scopes` for `user` (None: an anonymous client), assuming `extra_groups` too.
pub async fn explain(
    store: &Store,
    policies: &dyn Authorizer,
    user: Option<&str>,
    extra_groups: &[String],
    scopes: &[Scope],
) -> Result<Explanation, ManageError> {
    let mut notes = Vec::new();
    let requester = match user {
        None => Requester::Anonymous,
        Some(name) => {
            let mut groups = extra_groups.to_vec();
            match store.user_get(name).await? {
                Some(u) => {
                    if u.disabled {
                        notes.push(format!("{name} is disabled, so every request with their credentials is refused (401) before policies apply"));
                    }
                    for g in store.user_groups(name).await? {
                        if !groups.contains(&g) {
                            groups.push(g);
                        }
                    }
                }
                None if extra_groups.is_empty() => notes.push(format!(
                    "{name} is not a local user; deciding with no groups (add groups to assume some)"
                )),
                None => {}
            }
            groups.sort();
            groups.dedup();
            Requester::Authenticated(Identity::user(name, groups, AuthSource::Password))
        }
    };
    let scopes = scopes
        .iter()
        .map(|scope| {
            let decision = policies.decide(&requester, scope);
            let granted_to_others = decision
                .verdicts
                .iter()
                .filter(|v| matches!(v.verdict, Verdict::NotGranted))
                .map(|v| (v.action.clone(), policies.grants_allowing(scope, &v.action)))
                .collect();
            ScopeExplanation {
                decision,
                granted_to_others,
            }
        })
        .collect();
    Ok(Explanation {
        requester,
        notes,
        scopes,
    })
}
