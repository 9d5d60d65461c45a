//! The `portcullis` command line. Every subcommand reads the same configuration (file,
//! then `PORTCULLIS_*` variables) and works on the same database as the server, so an
//! admin can manage users while it runs.

mod backup;
mod binding;
mod check;
mod doctor;
mod explain;
mod group;
mod healthcheck;
mod key;
mod ldap;
mod password_input;
mod policy;
mod refresh_token;
mod registry_config;
mod robot;
mod role;
mod serve;
mod token;
mod user;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::authz::Reloader;
use crate::config::Config;
use crate::domain::Actor;
use crate::manage::{AccessTokens, Bindings, Groups, RefreshTokenAdmin, RobotAdmin, Users};
use crate::store::Store;

#[derive(Parser, Debug)]
#[command(
    name = "portcullis",
    version,
    about = "Token authorization service for container registries (Docker token spec)",
    long_about = "Token authorization service for container registries (Docker token spec).\n\n\
        A registry configured with `auth.token` pointing at portcullis sends clients (docker, podman, \
        skopeo, containerd, crane, helm, oras) to its /token endpoint; portcullis authenticates them, \
        decides each requested scope from the policies in policies/, and signs a short-lived JWT.\n\n\
        Start with `portcullis serve`, then paste the output of `portcullis registry-config` into the \
        registry's config.yml.",
    after_help = "Configuration: --config FILE or PORTCULLIS_CONFIG; every key can be overridden with \
        PORTCULLIS_SECTION__KEY (e.g. PORTCULLIS_TOKEN__TTL=10m). See portcullis.example.toml."
)]
pub struct Cli {
    /// Configuration file (TOML). Without one, embedded defaults apply.
    #[arg(
        short,
        long,
        global = true,
        env = "PORTCULLIS_CONFIG",
        value_name = "FILE"
    )]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the token server (GET/POST /token, /healthz, /readyz).
    ///
    /// On first start it creates the SQLite database and generates an ES256 (or RS256)
    /// signing key with a self-signed certificate, kept in the database sealed under
    /// keys.dir/key-encryption.key (or imports keys.dir/signing-key.pem of an earlier
    /// version), and logs the realm, service, issuer and the certificate bundle the registry
    /// must trust (keys.dir/bundle.pem). SIGTERM lets in-flight
    /// requests finish.
    Serve,
    /// Validate configuration, keys, policies and the database; exit non-zero on any problem.
    Check,
    /// Probe a live registry as a client would, and name the setting at fault when it does
    /// not accept portcullis's tokens (realm, service, issuer, key, kid form, clocks, TLS).
    /// Exit status 0 only when it accepted a token.
    Doctor(doctor::Args),
    /// Ask the local server whether it is alive (`/healthz`) or ready (`--ready`,
    /// `/readyz`): for container health checks, where there is no curl. Exit 0 on 200.
    Healthcheck(healthcheck::Args),
    /// Print the registry's `auth.token` configuration and write the bundle it names.
    RegistryConfig(registry_config::Args),
    /// Manage local users (passwords are read from stdin or a prompt, never from arguments).
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage local groups, which policies bind as `group:NAME`.
    #[command(subcommand)]
    Group(group::GroupCommand),
    /// Show what a user would be granted for some scopes, and which policy decided it.
    Explain(explain::Args),
    /// Personal access tokens: scoped, named, revocable secrets for machines.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// The LDAP directory: `ldap test --user NAME` shows what it says about a user.
    #[command(subcommand)]
    Ldap(ldap::LdapCommand),
    /// Robot accounts (`robot:NAME` in policies) with regenerable secrets.
    #[command(subcommand)]
    Robot(robot::RobotCommand),
    /// List or revoke refresh tokens (what `docker login` stores as its identity token).
    #[command(subcommand)]
    RefreshToken(refresh_token::RefreshTokenCommand),
    /// Role bindings kept in the database, beside the policy files (as /api/v1/bindings).
    #[command(subcommand)]
    Binding(binding::BindingCommand),
    /// Custom roles kept in the database (as /api/v1/roles); `role list` shows every role.
    #[command(subcommand)]
    Role(role::RoleCommand),
    /// Reload the policy files on every server sharing the database (as
    /// POST /api/v1/policies/reload).
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Archive a consistent snapshot of the database (taken while the server serves), the
    /// policies, the configuration and the bundle; the private keys only with
    /// --include-keys, encrypted under a passphrase.
    Backup(backup::BackupArgs),
    /// Restore an archive of `backup` (checked whole first) into an empty directory.
    Restore(backup::RestoreArgs),
    /// The token signing keys: list, add a next key, activate it, retire the old one (as
    /// /api/v1/keys). A rotation with no failed pull, in the README's order.
    #[command(subcommand)]
    Key(key::KeyCommand),
}

/// Runs the command; the error is printed by `main`.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = match cli.command {
        Command::Restore(_) => Config::load_for_restore(cli.config.as_deref())?,
        _ => Config::load(cli.config.as_deref())?,
    };
    // Commands other than `serve` log warnings, and their changes' audit records, on stderr.
    let _log = (!matches!(cli.command, Command::Serve)).then(|| {
        let (guard, writer) = crate::telemetry::init_for_commands(&config.log);
        crate::audit::install(writer, config.log.format);
        guard
    });
    let actor = Actor::cli();
    match cli.command {
        Command::Serve => serve::run(config).await,
        Command::Check => check::run(config).await,
        Command::RegistryConfig(args) => registry_config::run(config, args).await,
        Command::Doctor(args) => doctor::run(config, args).await,
        Command::Healthcheck(args) => healthcheck::run(config, args).await,
        Command::User(cmd) => user::run(&Users::new(connect(&config).await?), &actor, cmd).await,
        Command::Group(cmd) => group::run(&Groups::new(connect(&config).await?), &actor, cmd).await,
        Command::Explain(args) => explain::run(config, args).await,
        Command::Ldap(cmd) => ldap::run(config, cmd).await,
        Command::Token(cmd) => {
            token::run(&AccessTokens::new(connect(&config).await?), &actor, cmd).await
        }
        Command::Robot(cmd) => {
            robot::run(&RobotAdmin::new(connect(&config).await?), &actor, cmd).await
        }
        Command::RefreshToken(cmd) => {
            let admin = RefreshTokenAdmin::new(connect(&config).await?);
            refresh_token::run(&admin, &actor, cmd).await
        }
        Command::Binding(cmd) => binding::run(&bindings(&config).await?, &actor, cmd).await,
        Command::Role(cmd) => role::run(&bindings(&config).await?, &actor, cmd).await,
        Command::Policy(cmd) => policy::run(config, &actor, cmd).await,
        Command::Key(cmd) => key::run(config, &actor, cmd).await,
        Command::Backup(args) => backup::run_backup(config, &actor, args).await,
        Command::Restore(args) => backup::run_restore(config, &actor, args).await,
    }
}

async fn connect(config: &Config) -> anyhow::Result<Store> {
    Ok(Store::connect(&config.store.url).await?)
}

/// The rules in the database, checked against the policy files as the server has them.
async fn bindings(config: &Config) -> anyhow::Result<Bindings> {
    let store = connect(config).await?;
    let reloader = Reloader::start(&config.policies.dir, store.clone()).await?;
    Ok(Bindings::new(store, reloader))
}

/// Unix seconds as a short UTC date-time for tables.
fn date(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]"
            ))
            .ok()
        })
        .unwrap_or_else(|| t.to_string())
}
