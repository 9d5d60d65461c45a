//! Lines written in batches by a thread of their own: the log (stderr) and the audit trail
//! (stderr with it, or `audit.file`).
//!
//! Every token request writes an audit line, so writing must cost the request next to
//! nothing: formatted lines are appended to a shared buffer, and a writer thread writes the
//! buffer out every 20 ms, or sooner once it holds 256 KiB. There is no system call and no
//! thread wake-up per line.
//!
//! The buffer is bounded (`limit`, 8 MiB by default; while a write fails, what it kept is
//! held besides, so memory is at most twice the limit). What happens when it is full (the
//! destination is slower than the requests) is the writer's [`WhenFull`]. When a write fails
//! (a full disk), a writer that `retries` keeps the unwritten lines, says why in the log once
//! (and once a minute while it lasts), and tries again every second; in the meantime the
//! buffer fills, and `WhenFull` decides. A line a failed write may have cut is written
//! again whole, on a line of its own.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::log_escape::sanitize_record;

const FLUSH_EVERY: Duration = Duration::from_millis(20);
const FLUSH_AT: usize = 256 * 1024;
/// The default bound of the unwritten lines.
pub const DEFAULT_LIMIT: usize = 8 * 1024 * 1024;
/// How long a failed write waits before it is tried again.
const RETRY_EVERY: Duration = Duration::from_secs(1);
/// How often a write failure that goes on is logged again.
const REPORT_EVERY: Duration = Duration::from_secs(60);

/// What a full buffer does to whoever writes the next line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WhenFull {
    /// Waits until the writer has made room: nothing is lost, requests slow down.
    Block,
    /// As `Block` for the line itself; in addition, [`BatchWriter::accepting`] turns false,
    /// so that token requests are refused (503) before they are served.
    Reject,
    /// The line is dropped, and counted (`portcullis_audit_records_dropped_total`).
    Drop,
}

/// How a [`BatchWriter`] behaves; `name` is what its log lines call it.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    pub name: &'static str,
    pub limit: usize,
    pub when_full: WhenFull,
    /// Keep and retry what a failed write did not write (the audit file), or let it go
    /// (stderr: there is nowhere to report the failure to).
    pub retries: bool,
}

impl Options {
    /// The log on stderr: 8 MiB, blocking, failures let go.
    pub fn log() -> Options {
        Options {
            name: "log",
            limit: DEFAULT_LIMIT,
            when_full: WhenFull::Block,
            retries: false,
        }
    }
}

struct Shared {
    state: Mutex<State>,
    /// Wakes the writer: the buffer is large, a producer waits for room, or stopping.
    work: Condvar,
    /// Wakes the producers waiting for room: the writer took the buffer. Two condition
    /// variables, so that waiting producers never wake one another.
    room: Condvar,
    options: Options,
    /// False while the buffer is over its limit or the last write failed.
    accepting: AtomicBool,
    dropped: AtomicU64,
}

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    stopping: bool,
}

/// The `MakeWriter` handed to tracing: each event's line is appended to the buffer.
/// (tracing formats an event completely, then writes it with one `write_all`: each `write`
/// is one record.)
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
    json: bool,
}

impl BatchWriter {
    /// Appends a record whose every value was already escaped (`log_escape`), skipping the
    /// scan `write` gives every other record: the audit trail writes one per token request.
    pub fn append_escaped(&self, record: &[u8]) {
        self.append(record);
    }

    /// Whether lines are being written as fast as they come (false: the buffer is full or
    /// the destination failed). One atomic load: token requests ask it every time.
    pub fn accepting(&self) -> bool {
        self.shared.accepting.load(Ordering::Relaxed)
    }

    /// What this writer does when full.
    pub fn when_full(&self) -> WhenFull {
        self.shared.options.when_full
    }

    /// Lines dropped because the buffer was full (only with `WhenFull::Drop`).
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    fn append(&self, bytes: &[u8]) {
        let limit = self.shared.options.limit;
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.buf.len() > limit && !st.stopping {
            self.shared.accepting.store(false, Ordering::Relaxed);
            if self.shared.options.when_full == WhenFull::Drop {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                crate::metrics::audit_dropped();
                return;
            }
        }
        while st.buf.len() > limit && !st.stopping {
            self.shared.work.notify_one();
            st = self.shared.room.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        st.buf.extend_from_slice(bytes);
        if st.buf.len() >= FLUSH_AT {
            self.shared.work.notify_one();
        }
    }
}

impl Write for BatchWriter {
    fn write(&mut self, record: &[u8]) -> std::io::Result<usize> {
        self.append(&sanitize_record(record, self.json));
        Ok(record.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Writes out what is buffered, and stops the writer thread, when dropped.
pub struct WriterGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for WriterGuard {
    fn drop(&mut self) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stopping = true;
        self.shared.work.notify_one();
        self.shared.room.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes as much of `chunk` as `out` takes; the error, and how much was written, if not all.
fn write_some(out: &mut impl Write, chunk: &[u8]) -> Result<(), (usize, std::io::Error)> {
    let mut done = 0;
    while done < chunk.len() {
        match out.write(&chunk[done..]) {
            Ok(0) => {
                return Err((
                    done,
                    std::io::Error::new(std::io::ErrorKind::WriteZero, "nothing was written"),
                ))
            }
            Ok(n) => done += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err((done, e)),
        }
    }
    out.flush().map_err(|e| (chunk.len(), e))
}

/// A writer of `out` with its thread; keep the guard alive until the process ends.
pub fn start(
    mut out: impl Write + Send + 'static,
    json: bool,
    options: Options,
) -> (BatchWriter, WriterGuard) {
    let shared = Arc::new(Shared {
        state: Mutex::new(State::default()),
        work: Condvar::new(),
        room: Condvar::new(),
        options,
        accepting: AtomicBool::new(true),
        dropped: AtomicU64::new(0),
    });
    let s = shared.clone();
    let thread = std::thread::Builder::new()
        .name(format!("{}-writer", options.name))
        .spawn(move || {
            // What a failed write left, written before anything newer.
            let mut pending: Vec<u8> = Vec::new();
            let mut failing_since: Option<Instant> = None;
            let mut last_report: Option<Instant> = None;
            loop {
                let stopping = {
                    let mut st = s.state.lock().unwrap_or_else(|e| e.into_inner());
                    if st.buf.len() < FLUSH_AT && !st.stopping && failing_since.is_none() {
                        st = s
                            .work
                            .wait_timeout(st, FLUSH_EVERY)
                            .unwrap_or_else(|e| e.into_inner())
                            .0;
                    }
                    // While a write fails, what it kept goes first; the buffer waits.
                    if pending.is_empty() {
                        pending = std::mem::take(&mut st.buf);
                        s.room.notify_all();
                    }
                    st.stopping
                };
                if !pending.is_empty() {
                    match write_some(&mut out, &pending) {
                        Ok(()) => {
                            pending.clear();
                            if let Some(since) = failing_since.take() {
                                tracing::warn!(
                                    writer = options.name,
                                    failed_for = ?since.elapsed(),
                                    "writing works again: the lines kept meanwhile are written"
                                );
                            }
                        }
                        Err((written, e)) if options.retries && !stopping => {
                            crate::metrics::audit_write_error();
                            let now = Instant::now();
                            if last_report.is_none_or(|t| now - t >= REPORT_EVERY) {
                                last_report = Some(now);
                                tracing::error!(
                                    writer = options.name,
                                    error = %e,
                                    kept_bytes = pending.len() - written,
                                    "cannot write: the lines are kept and the write is tried again every second"
                                );
                            }
                            failing_since.get_or_insert(now);
                            // A cut line is written again whole, on a line of its own.
                            let start = if written > 0 && pending[written - 1] != b'\n' {
                                pending[..written]
                                    .iter()
                                    .rposition(|&b| b == b'\n')
                                    .map_or(0, |i| i + 1)
                            } else {
                                written
                            };
                            let mut kept = Vec::with_capacity(pending.len() - start + 1);
                            if start < written {
                                kept.push(b'\n');
                            }
                            kept.extend_from_slice(&pending[start..]);
                            pending = kept;
                        }
                        Err((_, e)) => {
                            if options.retries {
                                let unwritten = s
                                    .state
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .buf
                                    .len();
                                tracing::error!(
                                    writer = options.name,
                                    error = %e,
                                    lost_bytes = pending.len() + unwritten,
                                    "cannot write the last lines while stopping: they are lost"
                                );
                            }
                            pending.clear();
                        }
                    }
                }
                // Nothing kept (a flush that failed after the lines were written): not failing.
                if pending.is_empty() {
                    failing_since = None;
                }
                let full = {
                    let st = s.state.lock().unwrap_or_else(|e| e.into_inner());
                    st.buf.len() > options.limit
                };
                s.accepting
                    .store(failing_since.is_none() && !full, Ordering::Relaxed);
                if failing_since.is_some() && !stopping {
                    std::thread::sleep(RETRY_EVERY);
                }
                if stopping && (pending.is_empty() || failing_since.is_some()) {
                    let st = s.state.lock().unwrap_or_else(|e| e.into_inner());
                    if st.buf.is_empty() || failing_since.is_some() {
                        return;
                    }
                }
            }
        })
        .expect("spawning a writer thread");
    (
        BatchWriter {
            shared: shared.clone(),
            json,
        },
        WriterGuard {
            shared,
            thread: Some(thread),
        },
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[derive(Clone, Default)]
    pub(crate) struct Sink(pub(crate) Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Takes `room` bytes, then fails with "no space" until given more.
    #[derive(Clone)]
    struct SmallDisk {
        data: Arc<Mutex<Vec<u8>>>,
        room: Arc<Mutex<usize>>,
    }

    impl Write for SmallDisk {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            let mut room = self.room.lock().unwrap();
            if *room == 0 {
                return Err(std::io::Error::other("No space left on device"));
            }
            let n = b.len().min(*room);
            *room -= n;
            self.data.lock().unwrap().extend_from_slice(&b[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn options(when_full: WhenFull, limit: usize) -> Options {
        Options {
            name: "test",
            limit,
            when_full,
            retries: true,
        }
    }

    #[test]
    fn every_line_is_written_in_order_and_the_rest_on_drop() {
        let sink = Sink::default();
        let (writer, guard) = start(sink.clone(), false, Options::log());
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let mut w = writer.clone();
                std::thread::spawn(move || {
                    for i in 0..1000 {
                        w.write_all(format!("t{t} line {i}\n").as_bytes()).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 4000, "nothing lost");
        for t in 0..4 {
            let mine: Vec<&str> = text
                .lines()
                .filter(|l| l.starts_with(&format!("t{t} ")))
                .collect();
            assert_eq!(mine.first(), Some(&format!("t{t} line 0").as_str()));
            assert_eq!(mine.last(), Some(&format!("t{t} line 999").as_str()));
        }
    }

    #[test]
    fn a_record_with_line_breaks_stays_one_record() {
        let sink = Sink::default();
        let (mut writer, guard) = start(sink.clone(), false, Options::log());
        writer
            .write_all("INFO sign-in user=mallory\n2026 INFO audit: forged\u{2028}\n".as_bytes())
            .unwrap();
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text:?}");
    }

    #[test]
    fn lines_are_written_within_the_flush_interval_without_a_drop() {
        let sink = Sink::default();
        let (mut writer, _guard) = start(sink.clone(), false, Options::log());
        writer.write_all(b"hello\n").unwrap();
        std::thread::sleep(FLUSH_EVERY * 5);
        assert_eq!(&*sink.0.lock().unwrap(), b"hello\n");
    }

    #[test]
    fn a_full_disk_keeps_the_lines_refuses_while_it_lasts_and_writes_them_all_once_there_is_room() {
        let disk = SmallDisk {
            data: Arc::default(),
            room: Arc::new(Mutex::new(25)),
        };
        let (writer, guard) = start(disk.clone(), false, options(WhenFull::Reject, 1 << 20));
        for i in 0..10 {
            writer.append_escaped(format!("record {i}\n").as_bytes());
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while writer.accepting() {
            assert!(Instant::now() < deadline, "the failure was never noticed");
            std::thread::sleep(Duration::from_millis(10));
        }
        *disk.room.lock().unwrap() = 1 << 20;
        let deadline = Instant::now() + Duration::from_secs(5);
        while !writer.accepting() {
            assert!(Instant::now() < deadline, "never recovered");
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(guard);
        let text = String::from_utf8(disk.data.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        for i in 0..10 {
            assert!(
                lines.contains(&format!("record {i}").as_str()),
                "record {i} is there whole:\n{text}"
            );
        }
        // The one line the full disk cut (25 bytes in) stands alone, and its record follows
        // it whole.
        let cut: Vec<usize> = (0..lines.len())
            .filter(|&i| !(lines[i].len() == 8 && lines[i].starts_with("record ")))
            .collect();
        assert_eq!(cut.len(), 1, "{text:?}");
        assert!(lines[cut[0] + 1].starts_with(lines[cut[0]]), "{text:?}");
    }

    #[test]
    fn with_drop_a_full_buffer_drops_and_counts_and_with_block_it_waits() {
        let disk = SmallDisk {
            data: Arc::default(),
            room: Arc::new(Mutex::new(0)),
        };
        let (writer, _guard) = start(disk.clone(), false, options(WhenFull::Drop, 100));
        for i in 0..100 {
            writer.append_escaped(format!("record {i:03}\n").as_bytes());
        }
        assert!(writer.dropped() > 80, "{}", writer.dropped());
        assert!(!writer.accepting());

        let disk = SmallDisk {
            data: Arc::default(),
            room: Arc::new(Mutex::new(0)),
        };
        let (writer, guard) = start(disk.clone(), false, options(WhenFull::Block, 100));
        let w = writer.clone();
        let producer = std::thread::spawn(move || {
            for i in 0..100 {
                w.append_escaped(format!("record {i:03}\n").as_bytes());
            }
        });
        std::thread::sleep(Duration::from_millis(300));
        assert!(!producer.is_finished(), "the producer waits for room");
        *disk.room.lock().unwrap() = 1 << 20;
        producer.join().unwrap();
        drop(guard);
        assert_eq!(writer.dropped(), 0);
        let text = String::from_utf8(disk.data.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 100, "{text}");
    }
}
