//! `portcullis check`: everything `serve` would refuse to start with, and the warnings it
//! would log, without starting. Exit status 1 when anything is wrong.

use crate::authz::{PolicySet, Reloader};
use crate::config::{Config, KidFormat};
use crate::store::Store;
use crate::token::{KeyFiles, KeyRing, KeyState, SigningKey};

pub async fn run(config: Config) -> anyhow::Result<()> {
    let mut problems = 0;
    let source = config
        .source
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "embedded defaults".into());
    println!("ok       config     {source}");
    println!("         realm      {}", config.server.realm());
    println!(
        "         service    {}   issuer {}",
        config.token.service, config.token.issuer
    );
    if config.server.public_url_derived && config.server.listen.ip().is_unspecified() {
        println!("warning  config     server.public_url is unset while listening on all interfaces: the realm names localhost; set server.public_url");
    }

    if let Some(tls) = &config.server.tls {
        match crate::http::tls::server_config(tls) {
            Ok((_, cert, clients)) => println!(
                "ok       https      {} (expires in {}{})",
                tls.cert_file.display(),
                crate::config::format_duration(std::time::Duration::from_secs(
                    (cert.not_after() - crate::store::now()).max(0) as u64
                )),
                if clients.is_some() {
                    ", client certificates accepted"
                } else {
                    ""
                }
            ),
            Err(e) => {
                problems += 1;
                println!("error    https      server.tls: {e}");
            }
        }
    }
    if let Some(w) = config.server.cleartext_warning() {
        println!("warning  config     {w}");
    }
    if let Some(file) = &config.audit.file {
        // Opened for appending as the server would (made if missing, nothing written).
        match crate::rotating_file::RotatingFile::open(
            &file.path,
            file.max_size as u64,
            file.keep_files,
        ) {
            Ok(_) => println!(
                "ok       audit      {} (rotated past {} bytes, {} kept; when full: {:?})",
                file.path.display(),
                file.max_size,
                file.keep_files,
                config.audit.when_full
            ),
            Err(e) => {
                problems += 1;
                println!(
                    "error    audit      audit.file {} cannot be opened for writing: {e}",
                    file.path.display()
                );
            }
        }
    }

    let policies_ok = match PolicySet::load_dir(&config.policies.dir) {
        Ok(p) => {
            println!(
                "ok       policies   {} ({})",
                config.policies.dir.display(),
                p.summary()
            );
            for w in external_admin_warnings(&config, &p) {
                println!("warning  groups     {w}");
            }
            true
        }
        Err(e) => {
            problems += 1;
            println!("error    policies   {e}");
            false
        }
    };

    match Store::connect(&config.store.url).await {
        Ok(store) => {
            store.ping().await?;
            println!(
                "ok       database   {} ({})",
                store.display_url(),
                store.backend().as_str()
            );
            if let Some(file) = store.sqlite_file() {
                for w in crate::store::mode_warnings(file) {
                    println!("warning  database   {w}");
                }
            }
            problems += check_keys(&config, &store).await;
            // The rules in the database, compiled with the files as the server will.
            if policies_ok {
                match Reloader::start(&config.policies.dir, store.clone()).await {
                    Ok(r) => {
                        let status = r.status();
                        println!(
                            "ok       policy     {} (files and database)",
                            status.summary
                        );
                        for w in &status.warnings {
                            println!("warning  bindings   {w}");
                        }
                    }
                    Err(e) => {
                        problems += 1;
                        println!("error    bindings   {e}");
                    }
                }
            }
        }
        Err(e) => {
            problems += 1;
            println!("error    database   {e}");
        }
    }

    if problems > 0 {
        anyhow::bail!("{problems} problem(s) found");
    }
    Ok(())
}

/// The signing keys in the database (or the files an earlier version left, to be imported),
/// as `serve` would open them, without making or writing anything. The number of errors.
async fn check_keys(config: &Config, store: &Store) -> usize {
    let files = KeyFiles::in_dir(&config.keys.dir);
    let keys = match KeyRing::inspect(store, &files).await {
        Ok(keys) => keys,
        Err(e) => {
            println!("error    keys       {e}");
            return 1;
        }
    };
    if keys.is_empty() {
        if !files.key.exists() && !files.cert.exists() {
            println!(
                "ok       keys       none yet: `portcullis serve` (or `registry-config`) will make the first one"
            );
            return 0;
        }
        return match SigningKey::load(&files, config.token.algorithm) {
            Ok(key) => {
                println!(
                    "ok       keys       {} {} (kid {}): imported into the database on the next start",
                    key.algorithm.as_str(),
                    files.key.display(),
                    key.kid(config.token.kid_format)
                );
                0
            }
            Err(e) => {
                println!("error    keys       {e}");
                1
            }
        };
    }
    let t = crate::store::now();
    let ring_bundle: String = keys.iter().map(|k| k.key.bundle_pem()).collect();
    for k in &keys {
        let days_left = (k.key.not_after - t) / 86400;
        println!(
            "ok       keys       {:<7} {} kid {} (certificate: {days_left} days left)",
            k.state.as_str(),
            k.key.algorithm.as_str(),
            k.key.kid(config.token.kid_format)
        );
        if days_left < 30 && k.state != KeyState::Retired {
            println!("warning  keys       the certificate of {} key {} expires in {days_left} days: rotate (portcullis key add, then activate)", k.state.as_str(), k.id());
        }
        if config.token.kid_format == KidFormat::Thumbprint
            && k.key.jwk.has_leading_zero_coordinate()
        {
            println!("warning  keys       key {}'s coordinates start with a zero byte: distribution 3.1 computes its thumbprint differently; tokens still verify through x5c", k.id());
        }
        if let (KeyState::Retired, Some(at)) = (k.state, k.retired_at) {
            let safe = at
                + (config.token.ttl + config.token.clock_skew + crate::token::REGISTRY_LEEWAY)
                    .as_secs() as i64
                + 1;
            if t >= safe {
                println!("ok       keys       retired key {} signed nothing still valid: `portcullis key retire {}` drops it", k.id(), k.id());
            }
        }
    }
    let kek = files.dir.join(crate::token::KEK_FILE);
    if let Ok(m) = std::fs::metadata(&kek) {
        use std::os::unix::fs::PermissionsExt;
        let mode = m.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            println!("warning  keys       {} is mode {mode:o}: others can open the signing keys; chmod 600 {}", kek.display(), kek.display());
        }
    }
    let bundle = std::fs::read_to_string(&files.bundle).unwrap_or_default();
    if bundle != ring_bundle {
        println!("warning  keys       {} does not hold every published key: run `portcullis registry-config` to rewrite it, then restart the registry", files.bundle.display());
    }
    0
}

/// Where groups from outside (the directory, the identity provider) can reach a grant that
/// makes its members admins: whoever names groups there would be an admin here.
fn external_admin_warnings(config: &Config, policies: &PolicySet) -> Vec<String> {
    let admin = policies.admin_groups();
    let mut out = Vec::new();
    let sources = [
        config.ldap.as_ref().map(|l| {
            (
                "ldap",
                "the directory",
                &l.group_prefix,
                &l.group_map,
                l.only_mapped_groups,
            )
        }),
        config.oidc.as_ref().map(|o| {
            (
                "oidc",
                "the identity provider",
                &o.group_prefix,
                &o.group_map,
                o.only_mapped_groups,
            )
        }),
    ];
    for (section, source, prefix, map, only_mapped) in sources.into_iter().flatten() {
        for (group, rule) in &admin {
            if let Some((from, _)) = map.iter().find(|(_, to)| *to == group) {
                out.push(format!(
                    "{section}.group_map makes {source}'s group {from:?} group:{group}, which {} makes admin: whoever controls that group in {source} is an admin here",
                    rule.location()
                ));
            } else if prefix.is_empty() && !only_mapped {
                out.push(format!(
                    "{section}.group_prefix is empty: a group named {group:?} in {source} would be group:{group}, which {} makes admin; set {section}.group_prefix = \"{section}:\" and map the groups you trust with [{section}.group_map]",
                    rule.location()
                ));
            } else if !prefix.is_empty() && group.starts_with(prefix.as_str()) && !only_mapped {
                out.push(format!(
                    "group:{group} comes from {source} and {} makes it admin: whoever controls that group in {source} is an admin here",
                    rule.location()
                ));
            }
        }
        if !prefix.is_empty() && !prefix.contains(':') {
            out.push(format!(
                "{section}.group_prefix {prefix:?} has no ':': {source}'s groups can take the name of a local group (local names cannot hold ':'); end it with ':'"
            ));
        }
    }
    out
}
