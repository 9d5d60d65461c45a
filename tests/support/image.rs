//! A tiny, deterministic OCI image layout built offline (no engine, no network).

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::run_command;
use super::tools::require_tool;

const TOOL_TIMEOUT: Duration = Duration::from_secs(60);

/// (Re)creates `dir` as an OCI image layout holding one single-layer image tagged `tag`
/// (in index.json) whose layer holds `/hello.txt` = `content` + "\n". Returns the manifest
/// digest (`sha256:…`).
///
/// The result depends only on `content` (fixed mtimes, owners and mode, `gzip -n`), so
/// digests are stable across runs and machines with the same tar; the blobs are
/// byte-identical to those of the shell harness's make-test-image.sh. Use it as
/// `oci:DIR:TAG` (see [`oci_ref`]) with skopeo copy or podman pull.
pub fn make_test_image(dir: &Path, tag: &str, content: &str) -> String {
    let tar = require_tool("tar");
    let gzip = require_tool("gzip");
    let work = tempfile::Builder::new()
        .prefix("e2e-image-")
        .tempdir()
        .expect("cannot create a temp dir");
    let rootfs = work.path().join("rootfs");
    fs::create_dir_all(&rootfs).expect("cannot create rootfs dir");
    let hello = rootfs.join("hello.txt");
    fs::write(&hello, format!("{content}\n")).expect("cannot write hello.txt");
    fs::set_permissions(&hello, fs::Permissions::from_mode(0o644)).expect("chmod hello.txt");

    if dir.exists() {
        fs::remove_dir_all(dir)
            .unwrap_or_else(|e| panic!("cannot remove old {}: {e}", dir.display()));
    }
    let blobs = dir.join("blobs").join("sha256");
    fs::create_dir_all(&blobs).unwrap_or_else(|e| panic!("cannot create {}: {e}", blobs.display()));

    // Uncompressed layer -> diff_id; compressed layer -> blob digest.
    let layer_tar = work.path().join("layer.tar");
    let mut cmd = Command::new(&tar);
    cmd.args([
        "--sort=name",
        "--owner=0",
        "--group=0",
        "--numeric-owner",
        "--mtime=@0",
        "--format=posix",
        "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
        "-C",
    ])
    .arg(&rootfs)
    .arg("-cf")
    .arg(&layer_tar)
    .arg("hello.txt");
    run_command(cmd, None, TOOL_TIMEOUT).assert_success("tar the test layer");
    let diff_id = sha256_file(&layer_tar);

    let mut cmd = Command::new(&gzip);
    cmd.args(["-n", "-9", "-k", "-f"]).arg(&layer_tar);
    run_command(cmd, None, TOOL_TIMEOUT).assert_success("gzip the test layer");
    let layer_gz = fs::read(work.path().join("layer.tar.gz")).expect("read layer.tar.gz");
    let (layer_digest, layer_size) = write_blob(&blobs, &layer_gz);

    let config = format!(
        concat!(
            r#"{{"architecture":"amd64","os":"linux","config":{{"Env":["PATH=/"],"Cmd":["/hello.txt"]}},"#,
            r#""rootfs":{{"type":"layers","diff_ids":["sha256:{diff_id}"]}},"#,
            r#""history":[{{"created":"1970-01-01T00:00:00Z","created_by":"make-test-image.sh"}}]}}"#
        ),
        diff_id = diff_id
    );
    let (cfg_digest, cfg_size) = write_blob(&blobs, config.as_bytes());

    let manifest = format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","#,
            r#""config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:{cd}","size":{cs}}},"#,
            r#""layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:{ld}","size":{ls}}}]}}"#
        ),
        cd = cfg_digest,
        cs = cfg_size,
        ld = layer_digest,
        ls = layer_size
    );
    let (man_digest, man_size) = write_blob(&blobs, manifest.as_bytes());

    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    let index = format!(
        concat!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"#,
            r#""mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:{md}","size":{ms},"#,
            r#""annotations":{{"org.opencontainers.image.ref.name":{tag}}}}}]}}"#
        ),
        md = man_digest,
        ms = man_size,
        tag = serde_json::Value::from(tag)
    );
    fs::write(dir.join("index.json"), index).expect("index.json");
    format!("sha256:{man_digest}")
}

/// `oci:DIR:TAG`, the containers-image reference of a layout made by [`make_test_image`].
pub fn oci_ref(dir: &Path, tag: &str) -> String {
    format!("oci:{}:{tag}", dir.display())
}

/// Writes `data` as a blob under `blobs` (a `blobs/sha256` dir); returns (hex digest, size).
fn write_blob(blobs: &Path, data: &[u8]) -> (String, usize) {
    let tmp = blobs.join(".blob.tmp");
    fs::write(&tmp, data).expect("cannot write a blob");
    let digest = sha256_file(&tmp);
    let dest: PathBuf = blobs.join(&digest);
    fs::rename(&tmp, &dest).expect("cannot rename a blob");
    (digest, data.len())
}

/// Hex SHA-256 of a file, from coreutils' sha256sum.
pub fn sha256_file(path: &Path) -> String {
    let mut cmd = Command::new(require_tool("sha256sum"));
    cmd.arg(path);
    let out = run_command(cmd, None, TOOL_TIMEOUT);
    out.assert_success("sha256sum");
    let hex = out.stdout.split_whitespace().next().unwrap_or_default();
    assert_eq!(hex.len(), 64, "unexpected sha256sum output: {}", out.stdout);
    hex.to_string()
}
