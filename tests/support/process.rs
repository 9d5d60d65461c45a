//! Spawned servers (killed on drop), client commands with timeouts, ports and waiting.

use std::ffi::OsStr;
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::http::{http_request_timeout, HttpResponse, PROBE_TIMEOUT};

/// Timeout for one client command (skopeo, podman, docker ...): a hung client fails the test
/// instead of hanging CI.
pub const DEFAULT_CMD_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a stopped process gets between SIGTERM and SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(5);

/// Lines of a server's log printed when its guard is dropped during a panic.
const LOG_TAIL_ON_PANIC: usize = 60;

const SIGTERM: i32 = 15;
const SIGKILL: i32 = 9;

unsafe extern "C" {
    // libc's kill(2); std links libc already, so no extra dependency is needed.
    fn kill(pid: i32, sig: i32) -> i32;
}

/// Sends `sig` to the whole process group `pgid` (our children lead their own group).
fn kill_group(pgid: u32, sig: i32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return; // never signal "every process" or init's group
    }
    // SAFETY: kill(2) has no memory-safety preconditions; errors (ESRCH) are ignored.
    unsafe {
        kill(-pgid, sig);
    }
}

/// Whether a process of group `pgid` other than a zombie still exists (from /proc).
fn group_has_live_members(pgid: u32) -> bool {
    let Ok(entries) = fs::read_dir("/proc") else {
        return false;
    };
    entries.flatten().any(|e| {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            return false;
        };
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // "pid (comm) state ppid pgrp ...": comm may contain spaces, so split after ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            return false;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let pgrp = fields.nth(1).and_then(|s| s.parse::<u32>().ok());
        pgrp == Some(pgid) && state != "Z" && state != "X"
    })
}

/// A currently free TCP port on 127.0.0.1 (bound to port 0, then released). Another process
/// may take it before it is used; `Registry::start` retries on "address already in use".
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("cannot bind 127.0.0.1:0 to find a free port")
}

/// Polls `cond` every 50 ms until it returns true; panics with `what` after `timeout`.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}

fn port_open(addr: &str) -> bool {
    let addrs: Vec<SocketAddr> = match addr.to_socket_addrs() {
        Ok(a) => a.collect(),
        Err(_) => return false,
    };
    addrs
        .iter()
        .any(|a| TcpStream::connect_timeout(a, Duration::from_millis(500)).is_ok())
}

/// Waits until a TCP connection to `addr` ("127.0.0.1:PORT") succeeds; panics on timeout.
pub fn wait_for_port(addr: &str, timeout: Duration) {
    wait_until(timeout, &format!("a TCP listener on {addr}"), || {
        port_open(addr)
    });
}

/// Renders a command line for messages: the env vars set on `cmd`, program and arguments,
/// shell-quoted when needed. Values of env vars whose name contains PASS, SECRET, TOKEN or
/// PRIVATE are redacted; the clients here pass passwords on stdin, never in argv.
pub fn command_line(cmd: &Command) -> String {
    let mut s = String::new();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            let k = k.to_string_lossy();
            let upper = k.to_ascii_uppercase();
            let secret = ["PASS", "SECRET", "TOKEN", "PRIVATE"]
                .iter()
                .any(|w| upper.contains(w));
            let v = if secret {
                "<redacted>".into()
            } else {
                quote(v)
            };
            let _ = write!(s, "{k}={v} ");
        }
    }
    s.push_str(&quote(cmd.get_program()));
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&quote(a));
    }
    s
}

fn quote(s: &OsStr) -> String {
    let s = s.to_string_lossy();
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c))
    {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn tail_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A long-running process started by a test (a registry, slapd, the token server ...).
///
/// It runs in its own process group with stdin from /dev/null and stdout+stderr appended to
/// one log file. Dropping the guard sends SIGTERM to the group, waits up to 5 s, then
/// SIGKILLs the group and reaps the child. When dropped during a panic, the last lines of
/// the log are printed to stderr (the test harness shows them with the failure).
pub struct ChildGuard {
    name: String,
    command: String,
    child: Child,
    log_path: PathBuf,
    exited: Option<ExitStatus>,
    _log_dir: Option<TempDir>,
}

impl ChildGuard {
    /// Spawns `cmd` with its output in a fresh temp log file (removed on drop).
    pub fn spawn(cmd: Command, name: &str) -> ChildGuard {
        let dir = tempfile::Builder::new()
            .prefix(&format!("e2e-{}-log-", sanitize(name)))
            .tempdir()
            .expect("cannot create a temp dir for a log");
        let log = dir.path().join(format!("{}.log", sanitize(name)));
        let mut guard = Self::spawn_with_log(cmd, name, &log);
        guard._log_dir = Some(dir);
        guard
    }

    /// Spawns `cmd` with stdout and stderr appended to `log_path` (kept after drop).
    pub fn spawn_with_log(mut cmd: Command, name: &str, log_path: &Path) -> ChildGuard {
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log_path)
            .unwrap_or_else(|e| panic!("cannot open log {}: {e}", log_path.display()));
        let log2 = log.try_clone().expect("cannot clone a log file handle");
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log2))
            .process_group(0);
        let command = command_line(&cmd);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command}): {e}"));
        ChildGuard {
            name: name.to_string(),
            command,
            child,
            log_path: log_path.to_path_buf(),
            exited: None,
            _log_dir: None,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The command line it was started with.
    pub fn command(&self) -> &str {
        &self.command
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Everything the process wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        fs::read(&self.log_path)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// `Some(status)` once the process has exited, `None` while it runs.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        self.exited
    }

    pub fn is_running(&mut self) -> bool {
        self.exit_status().is_none()
    }

    /// Panics with the log tail if the process has already exited.
    pub fn assert_running(&mut self) {
        if let Some(st) = self.exit_status() {
            panic!(
                "{} exited early ({st}); command: {}\n--- log {} ---\n{}",
                self.name,
                self.command,
                self.log_path.display(),
                tail_lines(&self.log(), 200)
            );
        }
    }

    /// Waits until `url` answers with one of `ok_statuses` (any status if empty). Panics
    /// with the process log if it exits first or `timeout` passes.
    pub fn wait_for_http(&mut self, url: &str, timeout: Duration, ok: &[u16]) -> HttpResponse {
        let deadline = Instant::now() + timeout;
        loop {
            self.assert_running();
            let last = match http_request_timeout("GET", url, &[], None, PROBE_TIMEOUT) {
                Ok(r) if ok.is_empty() || ok.contains(&r.status) => return r,
                Ok(r) => format!("status {}", r.status),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                panic!(
                    "{} did not answer {url} with {ok:?} within {timeout:?} (last: {last}); \
                     command: {}\n--- log {} ---\n{}",
                    self.name,
                    self.command,
                    self.log_path.display(),
                    tail_lines(&self.log(), 200)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `addr` accepts TCP connections; panics with the log on exit or timeout.
    pub fn wait_for_port(&mut self, addr: &str, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        loop {
            self.assert_running();
            if port_open(addr) {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "{} not listening on {addr} within {timeout:?}; command: {}\n--- log ---\n{}",
                    self.name,
                    self.command,
                    tail_lines(&self.log(), 200)
                );
            }
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process group: SIGTERM to every member, up to 5 s for the leader and the
    /// rest of the group to exit, then SIGKILL to whatever is left; reaps the leader and
    /// returns its exit status. Idempotent.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let pgid = self.child.id();
        if self.exited.is_none() {
            self.exited = self.child.try_wait().ok().flatten();
        }
        if self.exited.is_none() || group_has_live_members(pgid) {
            kill_group(pgid, SIGTERM);
        }
        let deadline = Instant::now() + TERM_GRACE;
        while Instant::now() < deadline {
            if self.exited.is_none() {
                self.exited = self.child.try_wait().ok().flatten();
            }
            if self.exited.is_some() && !group_has_live_members(pgid) {
                return self.exited;
            }
            thread::sleep(Duration::from_millis(20));
        }
        kill_group(pgid, SIGKILL);
        if self.exited.is_none() {
            self.exited = self.child.wait().ok();
        }
        self.exited
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let was_running = self.exited.is_none();
        self.stop();
        if thread::panicking() {
            eprintln!(
                "--- {} (pid {}, {}) log tail, {} ---\n{}\n--- end of {} log ---",
                self.name,
                self.child.id(),
                if was_running {
                    "stopped by the test"
                } else {
                    "had exited"
                },
                self.log_path.display(),
                tail_lines(&self.log(), LOG_TAIL_ON_PANIC),
                self.name
            );
        }
    }
}

fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// What a finished client command produced.
#[derive(Debug, Clone)]
pub struct CmdOutput {
    /// The command line (with the env vars set on the `Command`), for messages.
    pub command: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub duration: Duration,
}

impl CmdOutput {
    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// The exit code (`None` when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// stdout followed by stderr.
    pub fn combined(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// stdout parsed as JSON; panics with the whole output when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.describe()))
    }

    /// Command line, status, duration, stdout and stderr, for failure messages.
    pub fn describe(&self) -> String {
        format!(
            "command: {}\nstatus: {} (after {:.1?})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.duration, self.stdout, self.stderr
        )
    }

    /// Panics (printing the command and both streams) unless it exited 0.
    #[track_caller]
    pub fn assert_success(&self, what: &str) -> &Self {
        if !self.success() {
            panic!("{what}: expected success\n{}", self.describe());
        }
        self
    }

    /// Panics (printing the command and both streams) if it exited 0.
    #[track_caller]
    pub fn assert_failure(&self, what: &str) -> &Self {
        if self.success() {
            panic!("{what}: expected failure\n{}", self.describe());
        }
        self
    }
}

/// Runs `cmd` to completion: stdin gets `stdin` (then EOF) or /dev/null; stdout and stderr
/// are captured through temp files (no pipe deadlock). The command runs in its own process
/// group; after `timeout` the group is killed and this panics with what it printed so far.
pub fn run_command(cmd: Command, stdin: Option<&[u8]>, timeout: Duration) -> CmdOutput {
    try_run_command(cmd, stdin, timeout).unwrap_or_else(|e| panic!("{e}"))
}

/// Like [`run_command`], but returns the failure to start or the timeout as `Err`.
pub fn try_run_command(
    mut cmd: Command,
    stdin: Option<&[u8]>,
    timeout: Duration,
) -> Result<CmdOutput, String> {
    let tmp = |what| {
        tempfile::tempfile().map_err(|e| format!("cannot create a temp file for {what}: {e}"))
    };
    let out_file = tmp("stdout")?;
    let err_file = tmp("stderr")?;
    let out_read = out_file.try_clone().map_err(|e| e.to_string())?;
    let err_read = err_file.try_clone().map_err(|e| e.to_string())?;
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::from(out_file))
    .stderr(Stdio::from(err_file))
    .process_group(0);
    let command = command_line(&cmd);
    let started = Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("cannot run {command}: {e}"))?;
    if let Some(data) = stdin {
        if let Some(mut pipe) = child.stdin.take() {
            // A client that exits without reading stdin gives EPIPE: its output tells why.
            let _ = pipe.write_all(data);
        }
    }
    let pgid = child.id();
    let deadline = started + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
            Ok(None) => {
                kill_group(pgid, SIGKILL);
                let _ = child.wait();
                return Err(format!(
                    "command timed out after {timeout:?} and was killed: {command}\n\
                     --- stdout ---\n{}\n--- stderr ---\n{}",
                    read_all(out_read),
                    read_all(err_read)
                ));
            }
            Err(e) => return Err(format!("waiting for {command}: {e}")),
        }
    };
    // Helpers it left in its group (none expected) must not outlive the command.
    kill_group(pgid, SIGKILL);
    Ok(CmdOutput {
        command,
        status,
        stdout: read_all(out_read),
        stderr: read_all(err_read),
        duration: started.elapsed(),
    })
}

fn read_all(mut f: File) -> String {
    use std::io::{Read, Seek, SeekFrom};
    let mut buf = Vec::new();
    let _ = f.seek(SeekFrom::Start(0));
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// An `ExitStatus` for synthetic results (e.g. "not run").
pub fn exit_status_from_code(code: i32) -> ExitStatus {
    ExitStatus::from_raw(code << 8)
}

/// Creates (mode 0600) and writes a file that holds secrets.
pub fn write_private_file(path: &Path, contents: &[u8]) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(contents)
}

/// Environment variables through which a developer's or CI's own settings would leak into a
/// client (credentials, registries.conf, storage, docker daemon/context): removed by
/// [`isolate_client_env`].
const LEAKY_ENV: &[&str] = &[
    "REGISTRY_AUTH_FILE",
    "DOCKER_CONFIG",
    "DOCKER_HOST",
    "DOCKER_CONTEXT",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CERT_PATH",
    "DOCKER_AUTH_CONFIG",
    "CONTAINERS_CONF",
    "CONTAINERS_REGISTRIES_CONF",
    "CONTAINERS_STORAGE_CONF",
    "CONTAINER_HOST",
    "CONTAINER_CONNECTION",
    "XDG_RUNTIME_DIR",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_CACHE_HOME",
];

/// Makes `cmd` a client isolated in `dir`: `HOME=dir/home`, `TMPDIR=dir/tmp` (both
/// created), and the variables that point clients at user or system state removed.
/// containers-image falls back to `$HOME/.docker/config.json` and
/// `$XDG_CONFIG_HOME/containers/auth.json` even with `--authfile`, hence the private HOME.
pub fn isolate_client_env(cmd: &mut Command, dir: &Path) {
    let home = dir.join("home");
    let tmp = dir.join("tmp");
    for d in [&home, &tmp] {
        fs::create_dir_all(d).unwrap_or_else(|e| panic!("cannot create {}: {e}", d.display()));
    }
    for k in LEAKY_ENV {
        cmd.env_remove(k);
    }
    cmd.env("HOME", &home).env("TMPDIR", &tmp);
}

/// Where containers-image keeps its blob-info cache when running as root, whatever
/// `--root`/`--authfile` say (podman 4.3 and skopeo 1.9 both use it).
const SYSTEM_BLOB_INFO_CACHE: &str = "/var/lib/containers/cache";

/// Whether clients can get a private blob-info cache: a private mount namespace
/// (`unshare --mount`, needs root) with a bind mount over /var/lib/containers/cache.
/// Probed once per test binary; without it clients share the system cache (a note is
/// printed), which only changes request patterns (known blobs, cross-repo mount attempts).
pub fn private_blob_cache_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        let probe = || -> Result<(), String> {
            let unshare = super::tools::find_tool("unshare").ok_or("no unshare")?;
            fs::create_dir_all(SYSTEM_BLOB_INFO_CACHE).map_err(|e| e.to_string())?;
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let mut cmd = Command::new(unshare);
            cmd.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
                .arg(format!(
                    "mount --bind \"$0\" {SYSTEM_BLOB_INFO_CACHE} && touch {SYSTEM_BLOB_INFO_CACHE}/probe"
                ))
                .arg(dir.path());
            let out = try_run_command(cmd, None, Duration::from_secs(20))?;
            if out.success() && dir.path().join("probe").exists() {
                Ok(())
            } else {
                Err(out.describe())
            }
        };
        match probe() {
            Ok(()) => true,
            Err(e) => {
                eprintln!(
                    "note: clients share {SYSTEM_BLOB_INFO_CACHE} (no private mount namespace: {e})"
                );
                false
            }
        }
    })
}

/// A `Command` running `bin` as an isolated client of `dir` (see [`isolate_client_env`]),
/// inside a private mount namespace where `dir/blob-info-cache` is bind-mounted over
/// /var/lib/containers/cache when [`private_blob_cache_available`]. Add the client's
/// arguments with `.arg(…)` as usual: they reach `bin` unchanged.
pub fn client_command(bin: &Path, dir: &Path) -> Command {
    let mut cmd = if private_blob_cache_available() {
        let cache = dir.join("blob-info-cache");
        fs::create_dir_all(&cache)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", cache.display()));
        let mut c = Command::new(super::tools::require_tool("unshare"));
        c.args(["--mount", "--propagation", "private", "--", "sh", "-c"])
            .arg(format!(
                "mount --bind \"$0\" {SYSTEM_BLOB_INFO_CACHE} && exec \"$@\""
            ))
            .arg(&cache)
            .arg(bin);
        c
    } else {
        Command::new(bin)
    };
    isolate_client_env(&mut cmd, dir);
    cmd
}

/// Why a server the tests start did not come up: its port was taken (`EADDRINUSE`), which
/// happens when another process grabbed a free port between our choosing it and the server
/// binding it.
pub enum StartError {
    AddrInUse,
}

/// Starts a server again on the same port(s) it had (`start`), retrying for up to 5 s
/// while another process holds one briefly (a probe, a TIME_WAIT): after that, panics with
/// `describe()` (which port, and the server's log).
pub fn restart_on_same_ports(
    mut start: impl FnMut() -> Result<(), StartError>,
    describe: impl Fn() -> String,
) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match start() {
            Ok(()) => return,
            Err(StartError::AddrInUse) if Instant::now() < deadline => {
                thread::sleep(Duration::from_millis(200));
            }
            Err(StartError::AddrInUse) => panic!("{}", describe()),
        }
    }
}
