//! `audit.file`'s rotation by size, with a retention count.
//!
//! Hand-written, after trying the `file-rotate` crate (0.8): on a full disk its `write`
//! returned an error after part of the chunk was on disk, saying nothing of how much, so the
//! writer could neither resume where it stopped nor tell a cut record from a whole one (it
//! wrote records twice, and glued a cut one to the next); when the file could not be opened
//! again after a rotation it dropped what it was given and returned `Ok`; and some failures
//! were panics, which would have stopped the audit writer thread for good (and every request
//! waiting on it). This one does what the audit writer needs and no more: each `write` is one
//! `write(2)` whose count is exact, rotation happens only between whole lines, and every
//! failure is an `Err` the writer retries.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub struct RotatingFile {
    path: PathBuf,
    max_size: u64,
    keep: usize,
    file: Option<File>,
    size: u64,
    /// Whether the last byte written ends a line: rotation waits for it, so that no record
    /// spans two files.
    at_line_start: bool,
    /// The last rotation's time stamp, and how many rotations had it: names within one
    /// second go on counting up, never reusing one that pruning freed (a reused name would
    /// sort among the oldest, and be the next deleted).
    last_stamp: (String, u32),
}

impl RotatingFile {
    /// Opens (or makes, 0640, and its directory) `path` for appending; it is rotated past
    /// `max_size` bytes, and `keep` rotated files are kept.
    pub fn open(path: &Path, max_size: u64, keep: usize) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            max_size,
            keep,
            file: Some(file),
            size,
            at_line_start: true,
            last_stamp: (String::new(), 0),
        })
    }

    /// Renames the current file to `NAME.YYYYMMDDTHHMMSS` (`.001`, `.002`… when that is
    /// taken), starts a new one, and deletes the oldest beyond `keep`. A rename that fails
    /// keeps the current file in use (its records are not lost, it only grows) and says so.
    fn rotate(&mut self) -> io::Result<()> {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]"
            ))
            .unwrap_or_default();
        let mut n = if self.last_stamp.0 == stamp {
            self.last_stamp.1 + 1
        } else {
            0
        };
        let named = |n: u32| match n {
            0 => self.path.with_file_name(format!("{name}.{stamp}")),
            n => self.path.with_file_name(format!("{name}.{stamp}.{n:03}")),
        };
        let mut target = named(n);
        while target.exists() {
            n += 1;
            target = named(n);
        }
        self.last_stamp = (stamp.clone(), n);
        self.file = None;
        if let Err(e) = std::fs::rename(&self.path, &target) {
            tracing::error!(file = %self.path.display(), error = %e, "cannot rotate the audit file: it goes on growing until this is fixed");
            // The size is not reset: the next write tries again.
            self.file = Some(open(&self.path)?);
            return Ok(());
        }
        self.file = Some(open(&self.path)?);
        self.size = 0;
        self.prune(&name);
        Ok(())
    }

    /// Deletes the oldest rotated files beyond `keep` (their names sort in time order).
    fn prune(&self, name: &str) {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let prefix = format!("{name}.");
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        let mut rotated: Vec<PathBuf> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
            })
            .collect();
        rotated.sort();
        let excess = rotated.len().saturating_sub(self.keep);
        for old in &rotated[..excess] {
            if let Err(e) = std::fs::remove_file(old) {
                tracing::warn!(file = %old.display(), error = %e, "cannot delete an old rotated audit file");
            }
        }
    }
}

fn open(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
}

impl Write for RotatingFile {
    /// One `write(2)`: the count is what is on disk.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.size >= self.max_size && self.at_line_start {
            self.rotate()?;
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(open(&self.path)?),
        };
        let n = file.write(buf)?;
        self.size += n as u64;
        if n > 0 {
            self.at_line_start = buf[n - 1] == b'\n';
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        match &mut self.file {
            Some(f) => f.flush(),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_cut_between_whole_lines_past_the_size_and_only_keep_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let mut f = RotatingFile::open(&path, 100, 3).unwrap();
        let mut written = Vec::new();
        for i in 0..100 {
            let line = format!("record {i:03} {}\n", "x".repeat(20));
            // Half a line, then the rest: a file is never cut in between.
            let (a, b) = line.as_bytes().split_at(10);
            f.write_all(a).unwrap();
            f.write_all(b).unwrap();
            written.push(line);
        }
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        assert_eq!(files.len(), 4, "the current file and 3 rotated: {files:?}");
        let mut text = String::new();
        // Rotated files (oldest first), then the current one.
        files.rotate_left(1);
        for p in &files {
            let t = std::fs::read_to_string(p).unwrap();
            assert!(t.ends_with('\n') || t.is_empty(), "{p:?} ends a line");
            assert!(t.len() < 100 + 40, "{p:?}: {}", t.len());
            text.push_str(&t);
        }
        let tail: String = written[written.len() - text.lines().count()..].concat();
        assert_eq!(text, tail, "the newest records, whole and in order");
    }
}
