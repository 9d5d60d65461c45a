//! portcullis: a token authorization service for container registries.
//!
//! A registry configured with `auth.token.realm` pointing here sends its clients to
//! `/token`; portcullis authenticates them, decides each requested scope against the
//! policies, and signs a short-lived JWT the registry verifies with our certificate bundle.
//!
//! # Layout
//!
//! The request flow is `http` → `token_service` → (`authn`, `authz`, `token`), with `store`
//! underneath. Only `http` and `startup` know about actix-web; `authz` and `token` are pure.
//!
//! - [`config`]: the TOML file and `PORTCULLIS_*` overrides, parsed into typed values.
//! - [`domain`]: types parsed once at the edge (scopes, actions, identities, usernames).
//! - [`authn`]: credentials → identity (local users, personal access tokens, robots,
//!   refresh tokens), with the authenticated / no-match / rejected / error contract, the
//!   remembered-credentials cache and the argon2 pool.
//! - [`authz`]: policy files compiled into matchers; every decision carries its reason.
//! - [`token`]: signing key, `kid` formats, claims and the signer.
//! - [`token_service`]: one token request from credentials to signed grant, audited.
//! - [`store`]: SQLite or PostgreSQL through sqlx `Any`; users, groups, tokens, robots, and
//!   the credential epoch that tells every process when remembered credentials are stale.
//! - [`http`]: routes, handlers, the registry error shape.
//! - [`audit`]: one record per token request, whatever the log level, never a secret.
//! - [`telemetry`]: logging through a batched writer (no system call per line).
//! - [`log_escape`]: escaping values from outside, so that no log line can be forged.
//! - [`timestamp`]: RFC 3339 times for the token answer and the audit log, cached per second.
//! - [`manage`]: the changes admins make to accounts and credentials, one implementation
//!   each for the CLI, the sign-in page and the admin API, audited with who made them.
//! - [`probe`]: readiness, one method every backend answers.
//! - [`cli`]: the `portcullis` subcommands.

//! # Where new things go
//!
//! - **A new way to log in** (GitHub, client certificates): one file in `authn/` that
//!   implements [`authn::Authenticator`] (and [`probe::Probe`] if it has a backend), its
//!   section in `config`, and one line in `startup.rs` putting it in the chain.
//! - **A new source of rules** (database bindings, Rego, an external decision point): one file
//!   in `authz/` that implements [`authz::Authorizer`], its verdicts naming their
//!   [`authz::Origin`], which `explain` and the audit print like any other.
//! - **A new admin endpoint**: a handler in `http/` that parses its input into domain types
//!   and calls the [`manage`] service the CLI calls (which audits the change with its actor).
//! - **A new metric**: recorded where the event is already audited ([`audit`]), exported
//!   in one place.

pub mod audit;
pub mod audit_file;
pub mod authn;
pub mod authz;
pub mod backup;
pub mod batch_writer;
pub mod cli;
pub mod config;
pub mod dir_watch;
pub mod doctor;
pub mod domain;
pub mod http;
pub mod key_file;
pub mod log_escape;
pub mod manage;
pub mod metrics;
pub mod probe;
pub mod recent_audit;
pub mod rotating_file;
pub mod startup;
pub mod store;
pub mod telemetry;
pub mod timestamp;
pub mod token;
pub mod token_service;
