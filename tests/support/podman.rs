//! podman (4.3 on Debian 12), with its own storage, registries.conf and auth file.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use tempfile::TempDir;

use super::process::{
    client_command, run_command, try_run_command, write_private_file, CmdOutput,
    DEFAULT_CMD_TIMEOUT,
};
use super::skopeo::{image_ref, POLICY_JSON, REGISTRIES_CONF};
use super::tools::require_tool;

static OCI_LINKS: AtomicUsize = AtomicUsize::new(0);

/// podman isolated in a temp dir. Every command runs as
///
/// `podman --root D/root --runroot D/runroot --tmpdir D/libpod --storage-driver vfs
///  --cgroup-manager cgroupfs --events-backend file --network-config-dir D/networks
///  --volumepath D/volumes SUBCOMMAND …`
///
/// with `CONTAINERS_REGISTRIES_CONF` (127.0.0.1 and localhost insecure),
/// `CONTAINERS_STORAGE_CONF` and `REGISTRY_AUTH_FILE` pointing into the temp dir, and
/// `HOME`/`TMPDIR` there too. `--root`/`--runroot` keep /var/lib/containers/storage
/// untouched, `--tmpdir` keeps /run/libpod untouched, vfs needs no kernel overlay or
/// fuse-overlayfs, cgroupfs and the file event log need no systemd/journald.
/// Registry commands also pass `--tls-verify=false`, `--authfile` and `--signature-policy`.
/// The global flags must be the same on every call (podman records them in its database
/// and refuses a mismatch), which is why they are all fixed here. The containers-image
/// blob-info cache is private too (see `client_command`).
pub struct Podman {
    bin: PathBuf,
    authfile: PathBuf,
    timeout: Duration,
    ran_containers: AtomicBool,
    dir: TempDir,
}

impl Podman {
    pub fn new() -> Podman {
        let bin = require_tool("podman");
        let dir = tempfile::Builder::new()
            .prefix("e2e-podman-")
            .tempdir()
            .expect("cannot create a temp dir for podman");
        let d = dir.path();
        for sub in ["root", "runroot", "libpod", "networks", "volumes"] {
            fs::create_dir_all(d.join(sub)).expect("create podman dirs");
        }
        fs::write(d.join("registries.conf"), REGISTRIES_CONF).expect("write registries.conf");
        fs::write(d.join("policy.json"), POLICY_JSON).expect("write policy.json");
        fs::write(
            d.join("storage.conf"),
            format!(
                "[storage]\ndriver = \"vfs\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
                d.join("root").display(),
                d.join("runroot").display()
            ),
        )
        .expect("write storage.conf");
        // podman pull/push refuse an --authfile that does not exist (login would create it).
        write_private_file(&d.join("auth.json"), b"{\"auths\": {}}\n").expect("write auth.json");
        Podman {
            bin,
            authfile: d.join("auth.json"),
            timeout: DEFAULT_CMD_TIMEOUT,
            ran_containers: AtomicBool::new(false),
            dir,
        }
    }

    /// Uses `path` as the auth file (e.g. a docker `config.json`). It must exist before
    /// `pull`/`push`: podman refuses a missing `--authfile` (only `login` creates one).
    pub fn with_authfile(mut self, path: impl Into<PathBuf>) -> Podman {
        self.authfile = path.into();
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Podman {
        self.timeout = timeout;
        self
    }

    pub fn authfile(&self) -> &Path {
        &self.authfile
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn command(&self) -> Command {
        let d = self.dir.path();
        let mut cmd = client_command(&self.bin, d);
        cmd.env("CONTAINERS_REGISTRIES_CONF", d.join("registries.conf"))
            .env("CONTAINERS_STORAGE_CONF", d.join("storage.conf"))
            .env("REGISTRY_AUTH_FILE", &self.authfile)
            .arg("--root")
            .arg(d.join("root"))
            .arg("--runroot")
            .arg(d.join("runroot"))
            .arg("--tmpdir")
            .arg(d.join("libpod"))
            .args([
                "--storage-driver",
                "vfs",
                "--cgroup-manager",
                "cgroupfs",
                "--events-backend",
                "file",
            ])
            .arg("--network-config-dir")
            .arg(d.join("networks"))
            .arg("--volumepath")
            .arg(d.join("volumes"));
        cmd
    }

    /// `podman ARGS…` (after the global flags), no stdin. Containers it may create are
    /// removed when this value is dropped.
    pub fn run(&self, args: &[&str]) -> CmdOutput {
        if args
            .iter()
            .any(|a| matches!(*a, "run" | "create" | "start"))
        {
            self.ran_containers.store(true, Ordering::Relaxed);
        }
        let mut cmd = self.command();
        cmd.args(args);
        run_command(cmd, None, self.timeout)
    }

    /// `podman ARGS…` with `stdin` (a password for `login --password-stdin`).
    pub fn run_with_stdin(&self, args: &[&str], stdin: &[u8]) -> CmdOutput {
        let mut cmd = self.command();
        cmd.args(args);
        run_command(cmd, Some(stdin), self.timeout)
    }

    /// `podman login --username USER --password-stdin HOST`.
    pub fn login(&self, host: &str, user: &str, password: &str) -> CmdOutput {
        let mut cmd = self.command();
        cmd.args(["login", "--tls-verify=false", "--authfile"])
            .arg(&self.authfile)
            .args(["--username", user, "--password-stdin", host]);
        run_command(cmd, Some(password.as_bytes()), self.timeout)
    }

    /// `podman logout HOST`.
    pub fn logout(&self, host: &str) -> CmdOutput {
        let mut cmd = self.command();
        cmd.args(["logout", "--authfile"])
            .arg(&self.authfile)
            .arg(host);
        run_command(cmd, None, self.timeout)
    }

    /// `podman pull REF`: `127.0.0.1:PORT/name:tag` (or `docker://…`) from a registry.
    /// For a layout made by `make_test_image` use [`Podman::pull_oci`].
    pub fn pull(&self, reference: &str) -> CmdOutput {
        let mut cmd = self.command();
        cmd.arg("pull");
        self.registry_flags(&mut cmd, reference);
        cmd.arg(reference);
        run_command(cmd, None, self.timeout)
    }

    /// Loads tag `tag` of the OCI layout `layout` (from `make_test_image`) into local
    /// storage as `name` (e.g. "127.0.0.1:PORT/team/app:v1"), offline.
    ///
    /// A plain `pull("oci:/abs/dir:tag")` names the image `localhost/abs/dir` and fails when
    /// the path is not a valid lowercase repository name, as temp dirs usually are not
    /// (`.tmpAbC12`). So this pulls through a lowercase relative symlink, tags the result as
    /// `name` and drops the temporary name. Returns the first failing step's output, else
    /// the pull's (stdout: the image ID).
    pub fn pull_oci(&self, layout: &Path, tag: &str, name: &str) -> CmdOutput {
        let links = self.dir.path().join("oci-links");
        fs::create_dir_all(&links).expect("create oci-links dir");
        let n = OCI_LINKS.fetch_add(1, Ordering::Relaxed);
        let link_name = format!("oci-layout-{n}");
        let link = links.join(&link_name);
        let _ = fs::remove_file(&link);
        let target = fs::canonicalize(layout)
            .unwrap_or_else(|e| panic!("no OCI layout at {}: {e}", layout.display()));
        symlink(target, &link).expect("symlink the OCI layout");
        let mut cmd = self.command();
        cmd.current_dir(&links).arg("pull");
        self.registry_flags(&mut cmd, "oci:");
        cmd.arg(format!("oci:{link_name}:{tag}"));
        let pulled = run_command(cmd, None, self.timeout);
        let _ = fs::remove_file(&link);
        if !pulled.success() {
            return pulled;
        }
        let tmp_name = format!("localhost/{link_name}:latest");
        let tagged = self.tag(&tmp_name, name);
        if !tagged.success() {
            return tagged;
        }
        let untagged = self.run(&["untag", &tmp_name, &tmp_name]);
        if !untagged.success() {
            return untagged;
        }
        pulled
    }

    /// `podman push IMAGE` (to the registry its name points at).
    pub fn push(&self, image: &str) -> CmdOutput {
        let mut cmd = self.command();
        cmd.arg("push");
        self.registry_flags(&mut cmd, image);
        cmd.arg(image);
        run_command(cmd, None, self.timeout)
    }

    /// `podman push IMAGE DEST` (DEST without transport means `docker://`).
    pub fn push_to(&self, image: &str, dest: &str) -> CmdOutput {
        let dest = image_ref(dest);
        let mut cmd = self.command();
        cmd.arg("push");
        self.registry_flags(&mut cmd, &dest);
        cmd.arg(image).arg(&dest);
        run_command(cmd, None, self.timeout)
    }

    /// `podman tag SRC DST`.
    pub fn tag(&self, src: &str, dst: &str) -> CmdOutput {
        self.run(&["tag", src, dst])
    }

    /// Whether local storage has `image` (`podman image exists`).
    pub fn image_exists(&self, image: &str) -> bool {
        self.run(&["image", "exists", image]).success()
    }

    fn registry_flags(&self, cmd: &mut Command, reference: &str) {
        cmd.arg("--authfile")
            .arg(&self.authfile)
            .arg("--signature-policy")
            .arg(self.dir.path().join("policy.json"));
        if !reference.starts_with("oci:") && !reference.starts_with("dir:") {
            cmd.arg("--tls-verify=false");
        }
    }
}

impl Default for Podman {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        if self.ran_containers.load(Ordering::Relaxed) {
            let mut cmd = self.command();
            cmd.args(["rm", "--all", "--force", "--time", "0"]);
            let _ = try_run_command(cmd, None, Duration::from_secs(60));
        }
    }
}
