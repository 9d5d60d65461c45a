//! A throwaway PostgreSQL server for the tests: its own cluster in a temp dir, on
//! 127.0.0.1:<free port>, started in the foreground under a [`ChildGuard`] (so it stops with
//! the test), fsync off. Debian's `postgresql` package provides the binaries
//! (scripts/install-test-deps.sh installs it); as root, the server runs as the `postgres`
//! user, because initdb refuses to run as root.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use super::process::{free_port, run_command, wait_for_port, ChildGuard};

pub struct Postgres {
    _child: ChildGuard,
    _dir: tempfile::TempDir,
    port: u16,
}

/// `/usr/lib/postgresql/<newest>/bin`.
fn bin_dir() -> PathBuf {
    let root = PathBuf::from("/usr/lib/postgresql");
    let mut versions: Vec<PathBuf> = std::fs::read_dir(&root)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions
        .pop()
        .unwrap_or_else(|| panic!("postgresql is not installed: run scripts/install-test-deps.sh (Debian package postgresql)"))
}

/// A command run as `postgres` when we are root.
fn as_postgres(program: PathBuf) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

impl Postgres {
    /// Starts a server with an empty database `portcullis`.
    pub fn start() -> Postgres {
        let bin = bin_dir();
        let dir = tempfile::tempdir().expect("temp dir");
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            let out = run_command(
                {
                    let mut c = Command::new("chown");
                    c.arg("-R").arg("postgres").arg(dir.path());
                    c
                },
                None,
                Duration::from_secs(10),
            );
            out.assert_success("chown the cluster directory to postgres");
        }
        let data = dir.path().join("data");
        let mut initdb = as_postgres(bin.join("initdb"));
        initdb.arg("-D").arg(&data).args([
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run_command(initdb, None, Duration::from_secs(60)).assert_success("initdb");

        let port = free_port();
        let mut server = as_postgres(bin.join("postgres"));
        server
            .arg("-D")
            .arg(&data)
            .args([
                "-p",
                &port.to_string(),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
                "-c",
            ])
            .arg(format!("unix_socket_directories={}", dir.path().display()));
        let child = ChildGuard::spawn(server, "postgres");
        wait_for_port(&format!("127.0.0.1:{port}"), Duration::from_secs(30));
        let mut created = false;
        for _ in 0..50 {
            let mut psql = Command::new(bin.join("psql"));
            psql.args([
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "-U",
                "postgres",
                "-c",
                "CREATE DATABASE portcullis",
            ]);
            if run_command(psql, None, Duration::from_secs(10)).success() {
                created = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            created,
            "the test PostgreSQL never accepted CREATE DATABASE:\n{}",
            child.log()
        );
        Postgres {
            _child: child,
            _dir: dir,
            port,
        }
    }

    /// `postgres://postgres@127.0.0.1:PORT/portcullis`.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/portcullis", self.port)
    }
}
