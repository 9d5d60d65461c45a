//! Role-based authorization: which actions of a requested scope a requester may have.
//!
//! Policies are TOML files (`policies/*.toml`, see `policies/README.md`) of `[[grant]]` and
//! `[[deny]]` entries binding subjects (`user:alice`, `group:developers`, `authenticated`…)
//! to roles or actions on repository patterns (`team/**`, `${user}/**`) and the catalog.
//!
//! The design choices, in one place:
//! - Parse, don't validate: files are checked completely at load (unknown keys, subjects,
//!   patterns, roles), so a running server never meets a malformed rule, and a typo stops
//!   startup with a file and line instead of quietly widening access.
//! - Default deny, deny wins: an action is allowed only by a matching grant, and refused by
//!   any matching deny whatever the grants say, so a freeze or a block can be added as its
//!   own file without auditing every grant.
//! - A denial is a value ([`Decision`]), not an error: the token endpoint issues a token with
//!   fewer actions, and the same value explains itself to logs and to `portcullis explain`.
//! - Decisions are pure and indexed by subject, so their cost does not grow with the number
//!   of users or of rules written for other people.

mod authorizer;
mod binding;
mod decision;
mod engine;
mod policy_file;
mod reloader;
mod subject;

pub use authorizer::{Authorizer, LivePolicies};
pub use binding::{BindingSpec, FieldError, RoleSpec};
pub use decision::{ActionVerdict, Decision, Origin, RuleRef, Verdict};
pub use engine::{Compiled, DatabaseRules, PolicySet, RoleInfo};
pub use policy_file::PolicyError;
pub use reloader::{FileError, ReloadStatus, Reloader};
