//! A real browser for the tests: Debian's headless Chromium, driven by Playwright
//! (`tests/fixtures/browser/drive.mjs`, `playwright-core` from npm; both installed by
//! `scripts/install-test-deps.sh`). A journey is a list of steps a person would take
//! (open, fill, click, read, screenshot); cookies persist between the journeys of one
//! [`Browser`], as they do in a person's browser.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use super::process::run_command;
use super::tools::require_tool;

pub struct Browser {
    profile: tempfile::TempDir,
    node: PathBuf,
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/browser")
}

/// Where the tests save screenshots of the pages they visit.
pub fn screenshot_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl Browser {
    /// A browser with a fresh profile (no cookies). Panics with the fix when Chromium or
    /// Playwright is missing.
    pub fn new() -> Browser {
        let node = require_tool("node");
        assert!(
            Path::new("/usr/bin/chromium").is_file(),
            "chromium is not installed: run scripts/install-test-deps.sh"
        );
        assert!(
            fixture().join("node_modules/playwright-core").is_dir(),
            "playwright-core is not installed in tests/fixtures/browser: run scripts/install-test-deps.sh"
        );
        Browser {
            profile: tempfile::tempdir().unwrap(),
            node,
        }
    }

    /// Runs `steps`; what the driver reported (`ok`, `captured`, `url`; on failure `error`,
    /// `step`, `body`).
    pub fn run(&self, steps: Vec<Value>) -> Value {
        let journey = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            journey.path(),
            json!({ "user_data_dir": self.profile.path().join("profile"), "steps": steps })
                .to_string(),
        )
        .unwrap();
        let mut cmd = Command::new(&self.node);
        cmd.arg(fixture().join("drive.mjs"))
            .arg(journey.path())
            .current_dir(fixture());
        let out = run_command(cmd, None, Duration::from_secs(120));
        out.assert_success("node drive.mjs");
        serde_json::from_str(out.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "the browser driver's output is not JSON ({e}):\n{}",
                out.combined()
            )
        })
    }

    /// Runs `steps` and panics, with the page's text, unless every one succeeded and no
    /// page opened a dialog (which would mean it ran script it should not); the values
    /// captured by `text`, `value` and `cookie` steps.
    pub fn journey(&self, steps: Vec<Value>) -> Value {
        let r = self.run(steps);
        assert!(
            r["dialogs"].as_array().is_none_or(|d| d.is_empty()),
            "a page opened a dialog: {}",
            r["dialogs"]
        );
        assert!(
            r["ok"] == true,
            "the browser journey failed at step {}: {}\nat {}\npage:\n{}",
            r["step"],
            r["error"],
            r["url"],
            r["body"].as_str().unwrap_or("")
        );
        r["captured"].clone()
    }
}
