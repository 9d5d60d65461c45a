//! Types parsed once at the edge. A value of one of these types is valid by construction:
//! code past the HTTP/CLI boundary never re-checks a scope string or a username.

mod action;
mod actor;
mod duration;
mod group_mapping;
mod identity;
mod lifetime;
mod new_password;
mod repo_pattern;
mod scope;
mod scope_limit;
mod token_name;
mod username;

pub use action::Action;
pub use actor::Actor;
pub use duration::{format_duration, parse_duration};
pub use group_mapping::{GroupMapping, MappedGroups, MAX_EXTERNAL_GROUPS};
pub use identity::{AuthSource, Identity, PrincipalKind, Requester, ROBOT_LOGIN_PREFIX};
pub use lifetime::{Lifetime, LifetimeError, MAX_LIFETIME_DAYS};
pub use new_password::{NewPassword, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};
pub use repo_pattern::{PatternError, RepoPattern};
pub use scope::{
    parse_scope_list, ResourceType, Scope, ScopeError, ADMIN_API_NAME, ADMIN_API_SCOPE,
    ADMIN_API_TYPE, MAX_SCOPES,
};
pub use scope_limit::{ScopeLimit, ScopeLimitError};
pub use token_name::{TokenName, TokenNameError};
pub use username::{Username, UsernameError};
