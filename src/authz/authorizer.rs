//! The authorizer seam: given who is asking and one requested scope, which actions are
//! granted, each with the rule that decided it.
//!
//! The policy files ([`PolicySet`]) implement it today; rules kept in the database, a Rego
//! module or an external decision point implement it next, each in a file of its own, and
//! their verdicts carry an [`Origin`](super::Origin) that `explain` and the audit print like
//! any other.

use std::sync::Arc;

use arc_swap::ArcSwap;

use super::{Decision, PolicySet, RuleRef};
use crate::domain::{Action, Requester, Scope};

pub trait Authorizer: Send + Sync {
    /// The verdict on every action of `scope` for `who`. A denial is a value, never an error.
    fn decide(&self, who: &Requester, scope: &Scope) -> Decision;

    /// The same for a scope the caller gives up: the decision keeps it instead of a copy
    /// (the token path decides every request's scopes this way).
    fn decide_owned(&self, who: &Requester, scope: Scope) -> Decision {
        self.decide(who, &scope)
    }

    /// The rules that would allow `action` on `scope`'s resource to *someone*, whoever they
    /// bind: what `explain` shows a refused user, so they know whom to ask.
    fn grants_allowing(&self, scope: &Scope, action: &Action) -> Vec<RuleRef>;

    /// Every rule that binds `who`, through any of its subjects.
    fn entries_binding(&self, who: &Requester) -> Vec<RuleRef>;
}

impl Authorizer for PolicySet {
    fn decide(&self, who: &Requester, scope: &Scope) -> Decision {
        PolicySet::decide(self, who, scope)
    }

    fn decide_owned(&self, who: &Requester, scope: Scope) -> Decision {
        PolicySet::decide_owned(self, who, scope)
    }

    fn grants_allowing(&self, scope: &Scope, action: &Action) -> Vec<RuleRef> {
        PolicySet::grants_allowing(self, scope, action)
    }

    fn entries_binding(&self, who: &Requester) -> Vec<RuleRef> {
        PolicySet::entries_binding(self, who)
    }
}

/// The policies in force, swapped whole at run time (a reload replaces the compiled set
/// atomically: a request decides entirely under the old set or entirely under the new one,
/// and none waits for the swap).
pub struct LivePolicies {
    current: ArcSwap<PolicySet>,
}

impl LivePolicies {
    pub fn new(set: PolicySet) -> LivePolicies {
        LivePolicies {
            current: ArcSwap::from_pointee(set),
        }
    }

    /// The set in force now.
    pub fn current(&self) -> Arc<PolicySet> {
        self.current.load_full()
    }

    /// Puts `set` in force for every request from now on.
    pub fn replace(&self, set: PolicySet) {
        self.current.store(Arc::new(set));
    }
}

impl Authorizer for LivePolicies {
    fn decide(&self, who: &Requester, scope: &Scope) -> Decision {
        self.current.load().decide(who, scope)
    }

    fn decide_owned(&self, who: &Requester, scope: Scope) -> Decision {
        self.current.load().decide_owned(who, scope)
    }

    fn grants_allowing(&self, scope: &Scope, action: &Action) -> Vec<RuleRef> {
        self.current.load().grants_allowing(scope, action)
    }

    fn entries_binding(&self, who: &Requester) -> Vec<RuleRef> {
        self.current.load().entries_binding(who)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AuthSource, Identity};

    fn set(toml: &str) -> PolicySet {
        PolicySet::from_sources(&[("p.toml".into(), toml.into())]).unwrap()
    }

    #[test]
    fn a_replaced_policy_set_decides_the_next_request() {
        let live = LivePolicies::new(set(
            "[[grant]]\nto = [\"authenticated\"]\nrole = \"reader\"\nrepositories = [\"**\"]\n",
        ));
        let alice = Requester::Authenticated(Identity::user("alice", vec![], AuthSource::Password));
        let scope = Scope::parse("repository:team/app:push").unwrap();
        assert!(live.decide(&alice, &scope).granted_scope().is_none());
        live.replace(set(
            "[[grant]]\nto = [\"user:alice\"]\nrole = \"writer\"\nrepositories = [\"team/**\"]\n",
        ));
        let d = live.decide(&alice, &scope);
        assert_eq!(
            d.granted_scope().unwrap().to_string(),
            "repository:team/app:push"
        );
        assert_eq!(d.verdicts[0].verdict.rule().unwrap().location(), "p.toml:1");
    }
}
