//! portcullis: a token authorization service for container registries.
//!
//! # Layout
//!
//! The request flow is `http` → `authn` → `authz` → `token`, with `store` underneath:
//!
//! - [`config`]: the TOML file and `PORTCULLIS_*` overrides, parsed into typed values.
//! - [`domain`]: types parsed once at the edge (scopes, actions, identities, usernames).
//! - [`store`]: SQLite or PostgreSQL through sqlx `Any`; users, groups, refresh tokens.
//! - [`token`]: signing key, `kid` formats, claims and the signer. Pure apart from key files.

pub mod authn;
pub mod config;
pub mod domain;
pub mod store;
pub mod token;
