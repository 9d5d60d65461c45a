//! A throwaway OpenLDAP `slapd` (Debian's 2.5) on 127.0.0.1 with a fixed test directory,
//! plain LDAP + StartTLS and LDAPS, for the LDAP identity backend's tests.
//!
//! # API
//!
//! Blocking std code, usable from `#[test]` and `#[tokio::test]` alike (from a
//! current-thread runtime, start it before the code under test needs it: `start` blocks).
//!
//! - `Slapd::start() -> Slapd`: starts slapd as the current user with a `slapd.conf` of its
//!   own in a temp dir (removed on drop), listening on `ldap://127.0.0.1:P` (StartTLS
//!   available) and `ldaps://127.0.0.1:Q`, with a server certificate for `127.0.0.1` and
//!   `localhost` issued by a test CA made for this instance (EC P-256, `openssl` CLI). Waits
//!   until a simple bind of [`ADMIN_DN`] succeeds (a real LDAP request), then loads the fixture
//!   (below) with `ldapadd` as [`ADMIN_DN`], so the memberof overlay fills `memberOf`.
//!   Panics (with slapd's log) if it exits or does not answer within 20 s; retries with
//!   other ports if a chosen port was taken meanwhile. Takes 0.1-0.2 s here (about 0.5 s
//!   each when 8 tests start one at once on 2 CPUs); `restart` 35-90 ms, `stop` 15-50 ms.
//! - `.ldap_url()` (`"ldap://127.0.0.1:P"`), `.ldaps_url()` (`"ldaps://127.0.0.1:Q"`),
//!   `.ldap_port()`, `.ldaps_port()`, `.ca_file() -> &Path` (PEM of the test CA: trust it
//!   for StartTLS and LDAPS), `.dir()`, `.config_path()`, `.pid() -> Option<u32>`,
//!   `.is_running()`.
//! - `.stop()`: SIGTERM (then SIGKILL after 5 s) and reap; the ports then refuse
//!   connections. The data stays. Idempotent.
//! - `.restart()`: (stops if running, then) starts slapd again on the SAME ports with the same
//!   data (the fixture is not reloaded: changes made with `ldapmodify` survive). Panics if a
//!   port was taken by someone else while it was stopped.
//! - `.log() -> String`: slapd's output across restarts, run with `-d stats`: one line per
//!   operation, e.g. `conn=1003 op=1 SRCH base="dc=example,dc=org" scope=2 deref=0
//!   filter="(uid=alice)"`, `BIND dn="…" method=128`, `RESULT tag=97 err=49`, `STARTTLS`,
//!   so tests can check which binds and filters the code under test sent.
//! - ldap-utils clients against it, each with a 30 s timeout, the test CA trusted
//!   (`LDAPTLS_CACERT`, `LDAPTLS_REQCERT=demand`), inherited `LDAP*` variables removed, HOME
//!   in the temp dir, passwords on stdin (`-y /dev/stdin`), never in argv:
//!   - `.ldapwhoami(url, dn, password, starttls: bool) -> CmdOutput` (`-ZZ` when `starttls`)
//!   - `.ldapsearch(filter, attrs) -> CmdOutput`: as [`BIND_DN`] on `ldap://`, base
//!     [`BASE_DN`], `-LLL -o ldif-wrap=no`
//!   - `.ldapsearch_with(url, bind: Option<(dn, password)>, base, filter, attrs)`
//!   - `.ldapmodify(ldif) -> CmdOutput`: as [`ADMIN_DN`] (e.g. to change group membership
//!     during a test; `changetype: add`/`delete` entries work too)
//!   - `.ldap_tool(name) -> Command`: any ldap-utils tool with that environment.
//!
//! A missing slapd (or ldap-utils, openssl) panics with the install hint of
//! [`require_tool`]: `slapd is not installed: run scripts/install-test-deps.sh`.
//!
//! # Fixture (`tests/fixtures/ldap/fixture.ldif`, suffix [`BASE_DN`] = `dc=example,dc=org`)
//!
//! | entry | password | notes |
//! | --- | --- | --- |
//! | `cn=admin,dc=example,dc=org` ([`ADMIN_DN`]) | `adminpass` | rootdn (in slapd.conf), full write |
//! | `cn=readonly,dc=example,dc=org` ([`BIND_DN`]) | `readonlypass` | service account: reads everything but `userPassword`, cannot write |
//! | `uid=alice,ou=people,…` | `alicepass` | member of registry-admins, developers |
//! | `uid=bob,ou=people,…` | `bobpass` | member of developers; `memberUid: bob` in posixGroup ops |
//! | `uid=carol,ou=people,…` | `carolpass` | member of readers |
//! | `uid=dave,ou=people,…` | `davepass` | in no group at all |
//!
//! People are `inetOrgPerson` with `uid`, `cn`, `sn`, `givenName`, `mail`
//! (`alice@example.org` …). Groups under `ou=groups,dc=example,dc=org`:
//! - `groupOfNames` with `member` = user DNs: `registry-admins` = {alice},
//!   `developers` = {alice, bob}, `readers` = {carol}. The memberof overlay fills the users'
//!   `memberOf` (alice: registry-admins and developers) and keeps it up to date on
//!   `ldapmodify` of `member` (and on rename/delete: `memberof-refint TRUE`).
//! - `platform`: a `groupOfNames` whose only `member` is `cn=developers,ou=groups,…` (a group
//!   of groups, for Active-Directory-style nesting tests). `memberOf` is **not** transitive:
//!   the developers group entry gets `memberOf: cn=platform,…`, alice and bob do not.
//! - `ops`: a `posixGroup` (gidNumber 5000) with `memberUid: bob` (RFC 2307 style, for
//!   `(memberUid={username})` group searches; no `memberOf` for these).
//!
//! Access: anonymous users may bind and read the root DSE and the schema only (a search of
//! `dc=example,dc=org` gives "No such object (32)"); a bound user reads every entry but no
//! `userPassword`; a wrong password gives `ldap_bind: Invalid credentials (49)`.
//!
//! # Nested groups: the AD in-chain rule is NOT implemented by OpenLDAP
//!
//! OpenLDAP does not implement Active Directory's `LDAP_MATCHING_RULE_IN_CHAIN`
//! ([`AD_IN_CHAIN_OID`], `1.2.840.113556.1.4.1941`). Observed with slapd 2.5.13: a filter such
//! as `(member:1.2.840.113556.1.4.1941:=uid=alice,ou=people,dc=example,dc=org)` is accepted
//! (no error: the search succeeds with result 0 "Success") but the unknown-rule item
//! evaluates to Undefined, so it matches nothing: the search returns **zero entries**. Inside
//! `(&…)` the whole AND matches nothing; inside `(|(uid=alice)(memberOf:…1941:=…))` the
//! other branches still match; `(!(…1941…))` is Undefined too, so it matches nothing (not
//! everything). slapd's log shows the item as `(?=undefined)`, e.g.
//! `filter="(&(objectClass=groupOfNames)(?=undefined))"`: the OID itself is not logged. So
//! nested-group tests against this server can only check that such a search is sent and
//! that it degrades gracefully (no groups / direct groups only), not real AD semantics.
//!
//! # Implementation notes (observed on Debian 12)
//!
//! - slapd runs in the foreground with `-d stats` (no daemonizing: the [`ChildGuard`]'s
//!   process group holds slapd itself, and SIGTERM stops it in ~15 ms). `-d 0` and `-d none`
//!   also stay in the foreground but log (almost) nothing.
//! - Config: `slapd.conf` (`-f`), not cn=config: one file from
//!   `tests/fixtures/ldap/slapd.conf.in`, mdb backend, memberof overlay, Debian's schema
//!   (core, cosine, nis, inetorgperson) and modules in /usr/lib/ldap. Certificates from
//!   `tests/fixtures/ldap/openssl.cnf` (v3 CA; leaf with SANs IP:127.0.0.1 and
//!   DNS:localhost, serverAuth EKU: what rustls/webpki requires). Checked with ldap3 0.12
//!   (`tls-rustls-ring`): StartTLS and LDAPS to both `127.0.0.1` and `localhost` verify
//!   against [`Slapd::ca_file`]; another instance's CA gives `invalid peer certificate:
//!   UnknownIssuer`. ldap3 sends the in-chain filter fine (rc 0, no entries).
//! - libldap (ldap-utils) quirk: for a URL with host `localhost` it checks the certificate
//!   against the machine's hostname instead ("TLS: hostname (vm) does not match common name
//!   in certificate"), so use `127.0.0.1` with ldap-utils; other clients (rustls) are fine
//!   with `localhost`.
//! - slapd also runs fine as a non-root user (tried as `nobody`). Debian's slapd has no
//!   AppArmor profile; Ubuntu's package has one, which may keep slapd from reading a temp
//!   dir (not tried).

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::process::{
    restart_on_same_ports, run_command, try_run_command, write_private_file, ChildGuard, CmdOutput,
    StartError,
};
use super::tools::require_tool;

/// Suffix of the test directory.
pub const BASE_DN: &str = "dc=example,dc=org";
/// Where the users are (`uid=NAME,ou=people,dc=example,dc=org`).
pub const PEOPLE_DN: &str = "ou=people,dc=example,dc=org";
/// Where the groups are (`cn=NAME,ou=groups,dc=example,dc=org`).
pub const GROUPS_DN: &str = "ou=groups,dc=example,dc=org";
/// The read-only service account (search/read, no writes, no `userPassword`).
pub const BIND_DN: &str = "cn=readonly,dc=example,dc=org";
pub const BIND_PASSWORD: &str = "readonlypass";
/// The rootdn (unrestricted; used to load the fixture and by [`Slapd::ldapmodify`]).
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=org";
pub const ADMIN_PASSWORD: &str = "adminpass";
/// Active Directory's LDAP_MATCHING_RULE_IN_CHAIN, which slapd does not implement (see the
/// module docs: items using it evaluate to Undefined and match nothing).
pub const AD_IN_CHAIN_OID: &str = "1.2.840.113556.1.4.1941";

/// The fixture's people: `(uid, password, groupOfNames cns it is a direct member of)`.
pub const USERS: &[(&str, &str, &[&str])] = &[
    ("alice", "alicepass", &["registry-admins", "developers"]),
    ("bob", "bobpass", &["developers"]),
    ("carol", "carolpass", &["readers"]),
    ("dave", "davepass", &[]),
];

/// The fixture's `groupOfNames` groups and their direct `member`s (DNs given as uid / cn).
/// `platform`'s member is the group `developers`.
pub const GROUPS: &[(&str, &[&str])] = &[
    ("registry-admins", &["alice"]),
    ("developers", &["alice", "bob"]),
    ("readers", &["carol"]),
    ("platform", &["cn=developers"]),
];

/// The fixture's `posixGroup`: `ops` with `memberUid: bob`.
pub const POSIX_GROUP: (&str, &[&str]) = ("ops", &["bob"]);

/// `uid=UID,ou=people,dc=example,dc=org`.
pub fn user_dn(uid: &str) -> String {
    format!("uid={uid},{PEOPLE_DN}")
}

/// `cn=CN,ou=groups,dc=example,dc=org`.
pub fn group_dn(cn: &str) -> String {
    format!("cn={cn},{GROUPS_DN}")
}

const SLAPD_CONF_TEMPLATE: &str = include_str!("../fixtures/ldap/slapd.conf.in");
const FIXTURE_LDIF: &str = include_str!("../fixtures/ldap/fixture.ldif");
const OPENSSL_CNF: &str = include_str!("../fixtures/ldap/openssl.cnf");

/// How long slapd gets to answer a bind after being started.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// Timeout of one readiness probe (`ldapwhoami`).
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of the ldap-utils commands and of `openssl`.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(30);
/// Attempts with new ports when a chosen port was taken meanwhile.
const PORT_ATTEMPTS: usize = 3;

/// A running (or stopped) slapd; stopped and its directory deleted on drop.
pub struct Slapd {
    // Field order matters: the process is stopped before its directory is removed.
    child: Option<ChildGuard>,
    ldap_port: u16,
    ldaps_port: u16,
    bin: PathBuf,
    config_path: PathBuf,
    ca_file: PathBuf,
    log_path: PathBuf,
    admin_pw_file: PathBuf,
    dir: TempDir,
}

/// Why one attempt to start slapd failed.
impl Slapd {
    /// Starts slapd with the fixture loaded; see the module docs.
    pub fn start() -> Slapd {
        let bin = require_tool("slapd");
        for tool in ["ldapwhoami", "ldapadd", "ldapsearch", "openssl"] {
            require_tool(tool);
        }
        for p in ["/etc/ldap/schema/nis.schema", "/usr/lib/ldap/memberof.so"] {
            assert!(
                Path::new(p).exists(),
                "{p} is missing: run scripts/install-test-deps.sh (Debian package slapd)"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("e2e-slapd-")
            .tempdir()
            .expect("cannot create a temp dir for slapd");
        let root = dir.path();
        let root_str = root.to_str().expect("temp dir path is not UTF-8");
        assert!(
            !root_str.contains(['"', '\\', '\n']),
            "temp dir path unusable in slapd.conf: {root_str:?}"
        );
        for sub in ["db", "tls", "home"] {
            fs::create_dir_all(root.join(sub))
                .unwrap_or_else(|e| panic!("cannot create {}/{sub}: {e}", root.display()));
        }
        let label = root.file_name().unwrap_or_default().to_string_lossy();
        let ca_file = make_certificates(&root.join("tls"), &label);
        let config_path = root.join("slapd.conf");
        fs::write(&config_path, SLAPD_CONF_TEMPLATE.replace("@DIR@", root_str))
            .expect("cannot write slapd.conf");
        let fixture = root.join("fixture.ldif");
        fs::write(&fixture, FIXTURE_LDIF).expect("cannot write fixture.ldif");
        let admin_pw_file = root.join("admin.pw");
        write_private_file(&admin_pw_file, ADMIN_PASSWORD.as_bytes())
            .expect("cannot write admin.pw");

        let mut slapd = Slapd {
            child: None,
            ldap_port: 0,
            ldaps_port: 0,
            bin,
            config_path,
            ca_file,
            log_path: root.join("slapd.log"),
            admin_pw_file,
            dir,
        };
        for attempt in 1..=PORT_ATTEMPTS {
            (slapd.ldap_port, slapd.ldaps_port) = two_free_ports();
            match slapd.spawn_and_wait() {
                Ok(()) => break,
                Err(StartError::AddrInUse) if attempt < PORT_ATTEMPTS => continue,
                Err(StartError::AddrInUse) => panic!(
                    "slapd: ports taken on {PORT_ATTEMPTS} attempts\n--- log ---\n{}",
                    slapd.log()
                ),
            }
        }

        let mut cmd = slapd.ldap_tool("ldapadd");
        cmd.args(["-x", "-H", &slapd.ldap_url(), "-D", ADMIN_DN, "-y"])
            .arg(&slapd.admin_pw_file)
            .arg("-f")
            .arg(&fixture);
        run_command(cmd, None, CLIENT_TIMEOUT).assert_success("loading the LDAP fixture");
        slapd
    }

    /// `ldap://127.0.0.1:P` (plain; StartTLS available).
    pub fn ldap_url(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap_port)
    }

    /// `ldaps://127.0.0.1:Q` (TLS from the first byte).
    pub fn ldaps_url(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps_port)
    }

    pub fn ldap_port(&self) -> u16 {
        self.ldap_port
    }

    pub fn ldaps_port(&self) -> u16 {
        self.ldaps_port
    }

    /// PEM of this instance's test CA, which issued the server certificate.
    pub fn ca_file(&self) -> &Path {
        &self.ca_file
    }

    /// The instance's temp dir (slapd.conf, db/, tls/, slapd.log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn config_path(&self) -> &Path {
        &self.config_path
    }

    /// slapd's pid while it runs.
    pub fn pid(&mut self) -> Option<u32> {
        self.is_running()
            .then(|| self.child.as_ref().map(ChildGuard::pid))
            .flatten()
    }

    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(ChildGuard::is_running)
    }

    /// Stops slapd (SIGTERM, SIGKILL after 5 s) and reaps it: its ports refuse connections
    /// afterwards. The data dir stays for [`Slapd::restart`]. Idempotent.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.stop();
        }
    }

    /// Starts slapd again (stopping it first if it runs) on the same ports with the same
    /// data; waits until a bind succeeds.
    pub fn restart(&mut self) {
        self.stop();
        // The ports were free a moment ago; slapd sets SO_REUSEADDR, so TIME_WAIT left by
        // connections it closed does not matter. Only another process that took a port
        // meanwhile does: retry briefly in case that was a short-lived probe.
        let (ldap_port, ldaps_port) = (self.ldap_port, self.ldaps_port);
        let log = self.log();
        restart_on_same_ports(
            || self.spawn_and_wait(),
            || {
                format!(
                    "slapd restart: port {ldap_port} or {ldaps_port} was taken by another process while slapd was stopped\n--- log ---\n{log}"
                )
            },
        );
    }

    /// slapd's output so far (`-d stats`: one line per connection event and operation),
    /// across restarts.
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// A `Command` for an ldap-utils tool (`ldapsearch`, `ldapwhoami`, …) trusting this
    /// instance's CA (`LDAPTLS_CACERT`, `LDAPTLS_REQCERT=demand`), with inherited `LDAP*`
    /// variables removed and HOME (for `~/.ldaprc`) in the temp dir.
    pub fn ldap_tool(&self, tool: &str) -> Command {
        let mut cmd = Command::new(require_tool(tool));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("LDAP") {
                cmd.env_remove(k);
            }
        }
        cmd.env("LDAPTLS_CACERT", &self.ca_file)
            .env("LDAPTLS_REQCERT", "demand")
            .env("HOME", self.dir.path().join("home"))
            .current_dir(self.dir.path().join("home"));
        cmd
    }

    /// `ldapwhoami -x -H URL -D DN [-ZZ]` with the password on stdin. Success prints
    /// `dn:DN`; a wrong password exits 49 with `ldap_bind: Invalid credentials (49)`.
    pub fn ldapwhoami(&self, url: &str, dn: &str, password: &str, starttls: bool) -> CmdOutput {
        let mut cmd = self.ldap_tool("ldapwhoami");
        cmd.args(["-x", "-o", "nettimeout=10", "-H", url])
            .args(["-D", dn, "-y", "/dev/stdin"]);
        if starttls {
            cmd.arg("-ZZ");
        }
        run_command(cmd, Some(password.as_bytes()), CLIENT_TIMEOUT)
    }

    /// `ldapsearch` as [`BIND_DN`] on [`Slapd::ldap_url`] under [`BASE_DN`] (subtree), LDIF
    /// without comments or line wrapping.
    pub fn ldapsearch(&self, filter: &str, attrs: &[&str]) -> CmdOutput {
        self.ldapsearch_with(
            &self.ldap_url(),
            Some((BIND_DN, BIND_PASSWORD)),
            BASE_DN,
            filter,
            attrs,
        )
    }

    /// `ldapsearch -x -LLL -o ldif-wrap=no -H URL [-D DN -y /dev/stdin] -b BASE FILTER ATTRS`
    /// (anonymous when `bind` is `None`; password on stdin).
    pub fn ldapsearch_with(
        &self,
        url: &str,
        bind: Option<(&str, &str)>,
        base: &str,
        filter: &str,
        attrs: &[&str],
    ) -> CmdOutput {
        let mut cmd = self.ldap_tool("ldapsearch");
        cmd.args(["-x", "-LLL", "-o", "ldif-wrap=no", "-o", "nettimeout=10"])
            .args(["-H", url, "-b", base]);
        if let Some((dn, _)) = bind {
            cmd.args(["-D", dn, "-y", "/dev/stdin"]);
        }
        cmd.arg(filter).args(attrs);
        run_command(cmd, bind.map(|(_, pw)| pw.as_bytes()), CLIENT_TIMEOUT)
    }

    /// Applies `ldif` (changetype records, or plain entries to modify) with `ldapmodify` as
    /// [`ADMIN_DN`] on the plain port.
    pub fn ldapmodify(&self, ldif: &str) -> CmdOutput {
        let mut cmd = self.ldap_tool("ldapmodify");
        cmd.args(["-x", "-H", &self.ldap_url(), "-D", ADMIN_DN, "-y"])
            .arg(&self.admin_pw_file);
        run_command(cmd, Some(ldif.as_bytes()), CLIENT_TIMEOUT)
    }

    /// Spawns slapd on the current ports and waits until [`ADMIN_DN`] can bind.
    fn spawn_and_wait(&mut self) -> Result<(), StartError> {
        let log_start = fs::metadata(&self.log_path).map(|m| m.len()).unwrap_or(0) as usize;
        let mut cmd = Command::new(&self.bin);
        cmd.arg("-h")
            .arg(format!("{}/ {}/", self.ldap_url(), self.ldaps_url()))
            .arg("-f")
            .arg(&self.config_path)
            // In the foreground (never forks), logging each operation to stderr.
            .args(["-d", "stats"])
            .current_dir(self.dir.path());
        let mut child = ChildGuard::spawn_with_log(cmd, "slapd", &self.log_path);
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last = String::from("not probed yet");
        loop {
            if child.exit_status().is_some() {
                let log = self.log();
                let this_run = log.get(log_start..).unwrap_or(&log);
                if this_run.contains("errno=98") {
                    return Err(StartError::AddrInUse);
                }
                child.assert_running(); // panics with the log
            }
            if port_open(self.ldap_port) {
                // The rootdn: the fixture (with BIND_DN) is not loaded yet on the first start.
                let mut cmd = self.ldap_tool("ldapwhoami");
                cmd.args(["-x", "-o", "nettimeout=2", "-H", &self.ldap_url()])
                    .args(["-D", ADMIN_DN, "-y"])
                    .arg(&self.admin_pw_file);
                match try_run_command(cmd, None, PROBE_TIMEOUT) {
                    Ok(out) if out.success() => break,
                    Ok(out) => last = out.combined(),
                    Err(e) => last = e,
                }
            }
            if Instant::now() >= deadline {
                panic!(
                    "slapd did not answer a bind on {} within {START_TIMEOUT:?} (last probe: \
                     {last}); command: {}\n--- log ---\n{}",
                    self.ldap_url(),
                    child.command(),
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(10));
        }
        self.child = Some(child);
        Ok(())
    }
}

/// Two distinct free ports on 127.0.0.1 (both bound at once, then released).
fn two_free_ports() -> (u16, u16) {
    let a = TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0");
    let b = TcpListener::bind("127.0.0.1:0").expect("cannot bind 127.0.0.1:0");
    let port = |l: &TcpListener| l.local_addr().expect("local_addr").port();
    (port(&a), port(&b))
}

fn port_open(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// Makes `dir/ca.pem` (+ `ca.key`) and `dir/server.pem` + `dir/server.key` (EC P-256, 7
/// days) with the openssl CLI; returns the CA's path.
fn make_certificates(dir: &Path, label: &str) -> PathBuf {
    let openssl = require_tool("openssl");
    let cnf = dir.join("openssl.cnf");
    fs::write(&cnf, OPENSSL_CNF).expect("cannot write openssl.cnf");
    let ca = dir.join("ca.pem");
    let ca_key = dir.join("ca.key");
    let ca_subject = format!("/O=portcullis tests/CN=slapd test CA {label}");
    let req = |ext: &str, key: &Path, cert: &Path, subject: &str| {
        let mut cmd = Command::new(&openssl);
        cmd.args(["req", "-x509", "-new", "-config"])
            .arg(&cnf)
            .args(["-extensions", ext, "-subj", subject, "-days", "7"])
            .args(["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"])
            .arg("-noenc")
            .arg("-keyout")
            .arg(key)
            .arg("-out")
            .arg(cert);
        cmd
    };
    let cmd = req("ca_ext", &ca_key, &ca, &ca_subject);
    run_command(cmd, None, CLIENT_TIMEOUT).assert_success("making the test CA");
    let mut cmd = req(
        "server_ext",
        &dir.join("server.key"),
        &dir.join("server.pem"),
        "/O=portcullis tests/CN=127.0.0.1",
    );
    cmd.arg("-CA").arg(&ca).arg("-CAkey").arg(&ca_key);
    run_command(cmd, None, CLIENT_TIMEOUT).assert_success("making the slapd certificate");
    ca
}
