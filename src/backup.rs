//! `portcullis backup` and `restore`: one archive (tar, gzip) holding a consistent snapshot
//! of the database taken while the server runs, the policy files, the configuration file and
//! what the registry reads (bundle, JWKS), listed with their SHA-256 in `manifest.json`.
//!
//! **Private keys only when asked.** The signing keys live in the database sealed under
//! `keys.dir/key-encryption.key`. Without `--include-keys` the snapshot's signing keys are
//! deleted from it (a restore then starts with a new key, whose bundle the registry must be
//! given) and no key file is archived. With it, the sealed keys stay in the snapshot and the
//! key-encryption key (with `login-state.key`) is archived encrypted under a passphrase:
//! argon2id (64 MiB, 3 passes) derives an AES-256-GCM key. That is ring and argon2, both
//! already used here; the `age` format would let other tools read it, at the price of some
//! 180 more crates, and nothing but portcullis needs to read these keys.
//!
//! **Restore** checks every entry against the manifest before writing anything, accepts only
//! the entry names it writes (no path from the archive reaches the file system), and refuses
//! to replace a database, policies or keys that exist unless told to.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context};
use data_encoding::{BASE64, HEXLOWER};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::store::{Backend, Store};

const FORMAT: &str = "portcullis-backup-1";
const SECRETS_AAD: &[u8] = b"portcullis backup secrets v1";
/// Bigger entries are refused when restoring: a damaged or hostile archive must not fill
/// the memory.
const MAX_ENTRY: u64 = 4 << 30;

#[derive(Serialize, Deserialize)]
struct Manifest {
    format: String,
    portcullis: String,
    created_at: String,
    /// `sqlite`, or `postgres` (then the database is not in the archive: pg_dump).
    backend: String,
    migrations: Vec<i64>,
    keys_included: bool,
    /// Entry name → SHA-256, hex.
    files: BTreeMap<String, String>,
}

/// The key files, encrypted under a passphrase.
#[derive(Serialize, Deserialize)]
struct SealedSecrets {
    kdf: String,
    m_cost: u32,
    t_cost: u32,
    p_cost: u32,
    salt: String,
    nonce: String,
    sealed: String,
}

pub struct BackupOptions {
    pub to: PathBuf,
    /// The passphrase the keys are encrypted under; `None`: no keys in the archive.
    pub keys_passphrase: Option<SecretString>,
}

/// What a backup holds, for the person who made it.
pub struct Summary {
    pub lines: Vec<String>,
}

fn sha256(data: &[u8]) -> String {
    HEXLOWER.encode(ring::digest::digest(&ring::digest::SHA256, data).as_ref())
}

/// The files in the keys directory the archive carries when keys are included.
const KEY_FILES: [&str; 2] = [crate::token::KEK_FILE, "login-state.key"];

pub async fn backup(config: &Config, store: &Store, o: &BackupOptions) -> anyhow::Result<Summary> {
    if o.to.exists() {
        bail!("{} exists: give a new file name", o.to.display());
    }
    let mut entries: Vec<(String, Vec<u8>)> = Vec::new();
    let mut lines = Vec::new();
    let work = tempfile::tempdir()?;
    match store.backend() {
        Backend::Sqlite => {
            let snap = work.path().join("portcullis.db");
            store.snapshot_sqlite(&snap).await?;
            if o.keys_passphrase.is_none() {
                crate::store::edit_sqlite_file(&snap, &["DELETE FROM signing_keys", "VACUUM"])
                    .await?;
            }
            crate::store::edit_sqlite_file(&snap, &[]).await?;
            let db = std::fs::read(&snap)?;
            lines.push(format!("database   a snapshot of {} ({} bytes)", store.display_url(), db.len()));
            entries.push(("portcullis.db".into(), db));
        }
        Backend::Postgres => lines.push(format!(
            "database   not in this archive: {} is PostgreSQL. Back it up with `pg_dump --format=custom` and restore it with `pg_restore`; this archive adds what the database does not hold (policies, configuration, bundle{})",
            store.display_url(),
            if o.keys_passphrase.is_some() { ", and the key-encryption key without which its signing keys cannot be opened" } else { "" }
        )),
    }
    for (name, text) in crate::authz::PolicySet::read_dir(&config.policies.dir)? {
        let file = Path::new(&name)
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or(name.clone());
        entries.push((format!("policies/{file}"), text.into_bytes()));
    }
    lines.push(format!(
        "policies   {} file(s) from {}",
        entries
            .iter()
            .filter(|(n, _)| n.starts_with("policies/"))
            .count(),
        config.policies.dir.display()
    ));
    if let Some(source) = &config.source {
        entries.push(("portcullis.toml".into(), std::fs::read(source)?));
        lines.push(format!("config     {}", source.display()));
    }
    for f in ["bundle.pem", "jwks.json"] {
        if let Ok(data) = std::fs::read(config.keys.dir.join(f)) {
            entries.push((format!("keys/{f}"), data));
        }
    }
    if let Some(pass) = &o.keys_passphrase {
        let mut files = BTreeMap::new();
        for f in KEY_FILES {
            if let Ok(data) = std::fs::read(config.keys.dir.join(f)) {
                files.insert(f.to_owned(), BASE64.encode(&data));
            }
        }
        let plain = serde_json::to_vec(&files)?;
        entries.push((
            "keys/secrets.enc".into(),
            serde_json::to_vec_pretty(&seal(pass, &plain)?)?,
        ));
        lines.push("keys       the signing keys, and the key-encryption key encrypted under the passphrase".into());
    } else {
        lines.push("keys       no private key (--include-keys to add them): a restore starts with a new signing key".into());
    }
    let manifest = Manifest {
        format: FORMAT.into(),
        portcullis: env!("CARGO_PKG_VERSION").into(),
        created_at: crate::timestamp::rfc3339(crate::store::now()),
        backend: store.backend().as_str().into(),
        migrations: store.migrations_applied().await?,
        keys_included: o.keys_passphrase.is_some(),
        files: entries
            .iter()
            .map(|(n, d)| (n.clone(), sha256(d)))
            .collect(),
    };
    write_archive(&o.to, &manifest, &entries)?;
    Ok(Summary { lines })
}

fn write_archive(
    to: &Path,
    manifest: &Manifest,
    entries: &[(String, Vec<u8>)],
) -> anyhow::Result<()> {
    let dir = to
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let tmp = tempfile::Builder::new()
        .prefix(".backup-")
        .tempfile_in(dir)?;
    {
        let gz = flate2::write::GzEncoder::new(tmp.as_file(), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let now = crate::store::now().max(0) as u64;
        let mut add = |name: &str, data: &[u8]| -> std::io::Result<()> {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o600);
            h.set_mtime(now);
            h.set_cksum();
            tar.append_data(&mut h, name, data)
        };
        add("manifest.json", &serde_json::to_vec_pretty(manifest)?)?;
        for (name, data) in entries {
            add(name, data)?;
        }
        tar.into_inner()?.finish()?.sync_all()?;
    }
    tmp.persist_noclobber(to)
        .map_err(|e| anyhow!("{}: {}", to.display(), e.error))?;
    Ok(())
}

fn key_from(pass: &SecretString, salt: &[u8], s: &SealedSecrets) -> anyhow::Result<LessSafeKey> {
    let params = argon2::Params::new(s.m_cost, s.t_cost, s.p_cost, Some(32))
        .map_err(|e| anyhow!("the archive's key derivation parameters: {e}"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut key = [0u8; 32];
    argon
        .hash_password_into(pass.expose_secret().as_bytes(), salt, &mut key)
        .map_err(|e| anyhow!("deriving the key from the passphrase: {e}"))?;
    Ok(LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, &key).expect("a 256-bit key"),
    ))
}

fn seal(pass: &SecretString, plain: &[u8]) -> anyhow::Result<SealedSecrets> {
    let rng = SystemRandom::new();
    let (mut salt, mut nonce) = ([0u8; 16], [0u8; NONCE_LEN]);
    rng.fill(&mut salt)
        .map_err(|_| anyhow!("the system random number generator failed"))?;
    rng.fill(&mut nonce)
        .map_err(|_| anyhow!("the system random number generator failed"))?;
    let mut s = SealedSecrets {
        kdf: "argon2id".into(),
        m_cost: 65536,
        t_cost: 3,
        p_cost: 1,
        salt: BASE64.encode(&salt),
        nonce: BASE64.encode(&nonce),
        sealed: String::new(),
    };
    let key = key_from(pass, &salt, &s)?;
    let mut data = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(SECRETS_AAD),
        &mut data,
    )
    .map_err(|_| anyhow!("sealing failed"))?;
    s.sealed = BASE64.encode(&data);
    Ok(s)
}

fn open(pass: &SecretString, s: &SealedSecrets) -> anyhow::Result<BTreeMap<String, Vec<u8>>> {
    if s.kdf != "argon2id" || s.m_cost > 1 << 21 || s.t_cost > 20 || s.p_cost > 16 {
        bail!("the archive's keys are sealed in a way this version does not read");
    }
    let bad = || anyhow!("the archive's keys are damaged");
    let salt = BASE64.decode(s.salt.as_bytes()).map_err(|_| bad())?;
    let nonce = BASE64.decode(s.nonce.as_bytes()).map_err(|_| bad())?;
    let mut data = BASE64.decode(s.sealed.as_bytes()).map_err(|_| bad())?;
    let key = key_from(pass, &salt, s)?;
    let plain = key
        .open_in_place(
            Nonce::try_assume_unique_for_key(&nonce).map_err(|_| bad())?,
            Aad::from(SECRETS_AAD),
            &mut data,
        )
        .map_err(|_| anyhow!("the passphrase does not open the keys in this archive"))?;
    let files: BTreeMap<String, String> = serde_json::from_slice(plain).map_err(|_| bad())?;
    files
        .into_iter()
        .map(|(k, v)| Ok((k, BASE64.decode(v.as_bytes()).map_err(|_| bad())?)))
        .collect()
}

/// An archive read whole and checked against its manifest.
pub struct Archive {
    manifest: Manifest,
    entries: BTreeMap<String, Vec<u8>>,
}

impl Archive {
    pub fn keys_included(&self) -> bool {
        self.manifest.keys_included
    }
}

/// The only names restore writes; anything else in an archive is refused.
fn allowed(name: &str) -> bool {
    match name {
        "manifest.json" | "portcullis.db" | "portcullis.toml" | "keys/bundle.pem"
        | "keys/jwks.json" | "keys/secrets.enc" => true,
        _ => name.strip_prefix("policies/").is_some_and(|f| {
            !f.is_empty()
                && !f.starts_with('.')
                && f.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        }),
    }
}

/// Reads `path` and checks every entry against the manifest; nothing is written.
pub fn read_archive(path: &Path) -> anyhow::Result<Archive> {
    let damaged = |why: String| {
        anyhow!(
            "{} is not a sound portcullis backup: {why}; nothing was restored",
            path.display()
        )
    };
    let file = std::fs::File::open(path).with_context(|| path.display().to_string())?;
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
    let mut entries = BTreeMap::new();
    for entry in tar.entries().map_err(|e| damaged(e.to_string()))? {
        let mut entry = entry.map_err(|e| damaged(e.to_string()))?;
        let name = entry
            .path()
            .map_err(|e| damaged(e.to_string()))?
            .to_string_lossy()
            .into_owned();
        if !allowed(&name) || entry.header().entry_type() != tar::EntryType::Regular {
            return Err(damaged(format!(
                "it holds {name:?}, which a backup never does"
            )));
        }
        if entry.size() > MAX_ENTRY {
            return Err(damaged(format!("{name} is too large")));
        }
        let mut data = Vec::with_capacity(entry.size() as usize);
        (&mut entry)
            .take(MAX_ENTRY)
            .read_to_end(&mut data)
            .map_err(|e| damaged(e.to_string()))?;
        if entries.insert(name.clone(), data).is_some() {
            return Err(damaged(format!("{name} appears twice")));
        }
    }
    let manifest: Manifest = serde_json::from_slice(
        entries
            .get("manifest.json")
            .ok_or_else(|| damaged("it has no manifest.json".into()))?,
    )
    .map_err(|e| damaged(format!("manifest.json: {e}")))?;
    if manifest.format != FORMAT {
        return Err(damaged(format!(
            "its format is {:?}, this version reads {FORMAT:?}",
            manifest.format
        )));
    }
    entries.remove("manifest.json");
    for (name, want) in &manifest.files {
        match entries.get(name) {
            None => return Err(damaged(format!("{name} is missing"))),
            Some(d) if sha256(d) != *want => {
                return Err(damaged(format!(
                    "{name} does not match its checksum in the manifest"
                )))
            }
            Some(_) => {}
        }
    }
    if let Some(extra) = entries.keys().find(|n| !manifest.files.contains_key(*n)) {
        return Err(damaged(format!("{extra} is not in the manifest")));
    }
    Ok(Archive { manifest, entries })
}

pub struct RestoreOptions {
    /// Replace a database, policies or keys that exist.
    pub force: bool,
    /// Where to write the archived configuration file, if it holds one and none is there.
    pub config_to: PathBuf,
}

/// Restores `a` to the places `config` names. `passphrase` is asked only when the archive
/// holds keys.
pub async fn restore(
    config: &Config,
    a: &Archive,
    o: &RestoreOptions,
    passphrase: impl FnOnce() -> anyhow::Result<SecretString>,
) -> anyhow::Result<Summary> {
    let known = crate::store::migrations_known();
    if let Some(newer) = a.manifest.migrations.iter().find(|v| !known.contains(v)) {
        bail!("the archive's database has migration {newer}, which this version ({}) does not know: restore it with portcullis {} or later", env!("CARGO_PKG_VERSION"), a.manifest.portcullis);
    }
    let mut lines = Vec::new();
    let db_target = crate::store::sqlite_path(&config.store.url);
    // Everything that would be replaced is checked before anything is written.
    if a.entries.contains_key("portcullis.db") {
        let Some(target) = &db_target else {
            bail!("the archive holds a SQLite database but store.url is {}: restore into a SQLite configuration, or copy the data with your own tools", crate::store::redact_url(&config.store.url));
        };
        if std::fs::metadata(target).is_ok_and(|m| m.len() > 0) && !o.force {
            bail!("{} exists: restore into an empty directory, or give --force to replace it (stop the servers using it first)", target.display());
        }
    }
    let policy_files: Vec<&String> = a
        .entries
        .keys()
        .filter(|n| n.starts_with("policies/"))
        .collect();
    let existing_policies = std::fs::read_dir(&config.policies.dir)
        .map(|d| {
            d.flatten()
                .any(|e| e.path().extension().is_some_and(|x| x == "toml"))
        })
        .unwrap_or(false);
    if !policy_files.is_empty() && existing_policies && !o.force {
        bail!("{} already holds policy files: restore into an empty directory, or give --force to replace them", config.policies.dir.display());
    }
    let kek = config.keys.dir.join(crate::token::KEK_FILE);
    let secrets = match a.entries.get("keys/secrets.enc") {
        Some(s) => {
            let sealed: SealedSecrets =
                serde_json::from_slice(s).map_err(|_| anyhow!("the archive's keys are damaged"))?;
            let files = open(&passphrase()?, &sealed)?;
            if let (Ok(have), Some(want)) = (std::fs::read(&kek), files.get(crate::token::KEK_FILE))
            {
                if have != *want && !o.force {
                    bail!("{} exists and is another key: restore into an empty directory, or give --force to replace it (the signing keys sealed under it could then no longer be opened)", kek.display());
                }
            }
            Some(files)
        }
        None => None,
    };

    if let (Some(db), Some(target)) = (a.entries.get("portcullis.db"), &db_target) {
        let dir = target
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let tmp = tempfile::Builder::new()
            .prefix(".restore-")
            .tempfile_in(dir)?;
        write_private(tmp.path(), db)?;
        if secrets.is_none() {
            crate::store::edit_sqlite_file(tmp.path(), &["DELETE FROM signing_keys"]).await?;
        } else {
            crate::store::edit_sqlite_file(tmp.path(), &[]).await?;
        }
        tmp.persist(target)
            .map_err(|e| anyhow!("{}: {}", target.display(), e.error))?;
        lines.push(format!("database   {}", target.display()));
    }
    if !policy_files.is_empty() {
        std::fs::create_dir_all(&config.policies.dir)?;
        for name in &policy_files {
            let file = name.trim_start_matches("policies/");
            std::fs::write(config.policies.dir.join(file), &a.entries[*name])?;
        }
        lines.push(format!(
            "policies   {} file(s) in {}",
            policy_files.len(),
            config.policies.dir.display()
        ));
    }
    std::fs::create_dir_all(&config.keys.dir)?;
    for f in ["bundle.pem", "jwks.json"] {
        if let Some(d) = a.entries.get(&format!("keys/{f}")) {
            std::fs::write(config.keys.dir.join(f), d)?;
        }
    }
    match secrets {
        Some(files) => {
            for (name, data) in files {
                if KEY_FILES.contains(&name.as_str()) {
                    write_private(&config.keys.dir.join(&name), &data)?;
                }
            }
            lines.push(format!("keys       the signing keys, and {}", kek.display()));
        }
        None => lines.push(format!(
            "keys       none in this archive: the first start makes a new signing key; give the registry the new {} (`portcullis registry-config`) and restart it",
            config.keys.dir.join("bundle.pem").display()
        )),
    }
    if let Some(c) = a.entries.get("portcullis.toml") {
        if o.config_to.exists() {
            lines.push(format!(
                "config     not written: {} exists (the archive's is left out)",
                o.config_to.display()
            ));
        } else {
            write_private(&o.config_to, c)?;
            lines.push(format!("config     {}", o.config_to.display()));
        }
    }
    Ok(Summary { lines })
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_sealed_under_a_passphrase_open_with_it_only() {
        let pass = SecretString::from("correct horse battery staple".to_owned());
        let s = seal(&pass, b"{\"key-encryption.key\":\"AAAA\"}").unwrap();
        assert_eq!(
            open(&pass, &s).unwrap()["key-encryption.key"],
            vec![0, 0, 0]
        );
        let wrong = SecretString::from("wrong".to_owned());
        assert!(open(&wrong, &s)
            .unwrap_err()
            .to_string()
            .contains("does not open"));
    }

    #[test]
    fn only_the_names_a_backup_writes_are_accepted_from_an_archive() {
        for ok in ["portcullis.db", "policies/10-team.toml", "keys/secrets.enc"] {
            assert!(allowed(ok), "{ok}");
        }
        for bad in [
            "../etc/passwd",
            "/etc/passwd",
            "policies/../x",
            "policies/.hidden",
            "keys/key-encryption.key",
            "policies/a/b.toml",
        ] {
            assert!(!allowed(bad), "{bad}");
        }
    }
}
