//! The changes admins make to accounts and credentials, and people to their own tokens: one
//! implementation of each, used alike by the CLI, the sign-in page and (next) the admin API,
//! and each written to the audit trail with who made it.
//!
//! Callers parse their input into domain types first (`Username`, `TokenName`, `Lifetime`,
//! `ScopeLimit`); the services never see clap or HTTP, and callers never see the store.

mod access_tokens;
mod bindings;
mod explain;
mod groups;
mod keys;
mod refresh_tokens;
mod robots;
mod users;

pub use access_tokens::{AccessTokens, CreatedToken};
pub use bindings::{Bindings, Preview};
pub use explain::{explain, Explanation, ScopeExplanation};
pub use groups::Groups;
pub use keys::{KeyImport, Keys};
pub use refresh_tokens::RefreshTokenAdmin;
pub use robots::{RobotAdmin, RobotSummary};
pub use users::{UserSummary, Users};

use crate::audit::{self, EventOutcome};
use crate::domain::Actor;
use crate::store::StoreError;

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ManageError {
    /// The request itself is wrong; the message says how to fix it.
    #[error("{0}")]
    Invalid(String),
    /// One field of the request is wrong; the message says how to fix it.
    #[error("{0}")]
    Field(#[from] crate::authz::FieldError),
    /// Not found, already exists, a bound reached, or the database unavailable.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Not now: the state of things forbids it (the message says until when, or what first).
    #[error("{0}")]
    Refused(String),
}

/// Records a change that was made.
fn audited(event: &str, actor: &Actor, target: &str, detail: &str) {
    audit::event(&audit::Event {
        event,
        outcome: EventOutcome::Done,
        actor,
        target,
        detail,
    });
}
