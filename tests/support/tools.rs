//! Locating the external programs the tests drive.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Directories searched after `PATH`: daemons such as slapd live in sbin, which a
/// non-login shell or CI runner may not have on its `PATH`.
const EXTRA_DIRS: &[&str] = &["/usr/local/sbin", "/usr/sbin", "/sbin"];

/// Finds `name` like `require_tool` does, or returns `None`.
pub fn find_tool(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = PathBuf::from(name);
        return is_executable(&p).then_some(p);
    }
    let path = env::var_os("PATH").unwrap_or_default();
    let dirs = env::split_paths(&path).chain(EXTRA_DIRS.iter().map(PathBuf::from));
    for dir in dirs {
        let candidate = dir.join(name);
        if is_executable(&candidate) {
            return Some(candidate);
        }
    }
    if name == "docker-registry" {
        // Debian's package, in case its binary is somewhere unusual.
        let out = Command::new("dpkg")
            .args(["-L", "docker-registry"])
            .output()
            .ok()?;
        return String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(PathBuf::from)
            .find(|p| p.file_name().is_some_and(|f| f == "docker-registry") && is_executable(p));
    }
    None
}

/// Finds the binary `name` (PATH, then sbin dirs; for `docker-registry` also
/// `dpkg -L docker-registry`), or panics with the install hint, e.g.
/// `docker-registry is not installed: run scripts/install-test-deps.sh`.
/// End-to-end tests must fail loudly when a component is missing, never skip.
pub fn require_tool(name: &str) -> PathBuf {
    match find_tool(name) {
        Some(p) => p,
        None => panic!(
            "{name} is not installed: run scripts/install-test-deps.sh{}",
            match package_of(name) {
                Some(pkg) if pkg != name => format!(" (Debian package {pkg})"),
                _ => String::new(),
            }
        ),
    }
}

fn package_of(tool: &str) -> Option<&'static str> {
    Some(match tool {
        "docker-registry" => "docker-registry",
        "skopeo" => "skopeo",
        "podman" => "podman",
        "slapd" | "slappasswd" => "slapd",
        "ldapsearch" | "ldapadd" | "ldapwhoami" | "ldapmodify" => "ldap-utils",
        "wrk" => "wrk",
        "curl" => "curl",
        "openssl" => "openssl",
        "node" => "nodejs",
        "npm" => "npm",
        "docker" => "docker.io",
        _ => return None,
    })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    p.metadata()
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

/// `curl -sS --max-time 10 ARGS…` (for HTTPS and client certificates, which the tiny client
/// in `http.rs` does not speak), with a 20 s command timeout.
pub fn curl(args: &[&str]) -> super::process::CmdOutput {
    let mut cmd = std::process::Command::new(require_tool("curl"));
    cmd.args(["-sS", "--max-time", "10"]).args(args);
    super::process::run_command(cmd, None, std::time::Duration::from_secs(20))
}
