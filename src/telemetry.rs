//! Logging: human-readable text by default, JSON lines with `log.format = "json"`.
//! `RUST_LOG` overrides `log.level` (audit records are written whatever the level: see
//! `audit.rs`). Logs go to stderr so that commands printing results (`registry-config`,
//! `explain`) keep stdout clean.
//!
//! Every token request writes an audit line, so writing must cost the request next to
//! nothing: formatted lines are appended to a shared buffer, and a writer thread writes the
//! buffer out every 20 ms, or sooner once it holds 256 KiB. There is no system call and no
//! thread wake-up per line. Nothing is dropped: past 8 MiB of unwritten lines, requests wait
//! for the writer. The returned guard writes out what is left when the process stops.

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

const FLUSH_EVERY: Duration = Duration::from_millis(20);
const FLUSH_AT: usize = 256 * 1024;
const WAIT_AT: usize = 8 * 1024 * 1024;

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    /// Wakes the writer (buffer large, or stopping) and wakes waiting producers (drained).
    changed: Condvar,
}

#[derive(Default)]
struct State {
    buf: Vec<u8>,
    stopping: bool,
}

/// The `MakeWriter` handed to tracing: each event's line is appended to the buffer.
#[derive(Clone)]
pub struct BatchWriter {
    shared: Arc<Shared>,
}

impl Write for BatchWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        let mut st = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        while st.buf.len() > WAIT_AT && !st.stopping {
            self.shared.changed.notify_all();
            st = self
                .shared
                .changed
                .wait(st)
                .unwrap_or_else(|e| e.into_inner());
        }
        st.buf.extend_from_slice(bytes);
        if st.buf.len() >= FLUSH_AT {
            self.shared.changed.notify_all();
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = BatchWriter;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// Writes out what is buffered, and stops the writer thread, when dropped.
pub struct LogGuard {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .stopping = true;
        self.shared.changed.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn batch_writer(mut out: impl Write + Send + 'static) -> (BatchWriter, LogGuard) {
    let shared = Arc::new(Shared::default());
    let s = shared.clone();
    let thread = std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || loop {
            let (chunk, stopping) = {
                let mut st = s.state.lock().unwrap_or_else(|e| e.into_inner());
                if st.buf.len() < FLUSH_AT && !st.stopping {
                    st = s
                        .changed
                        .wait_timeout(st, FLUSH_EVERY)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                (std::mem::take(&mut st.buf), st.stopping)
            };
            s.changed.notify_all();
            if !chunk.is_empty() {
                let _ = out.write_all(&chunk);
                let _ = out.flush();
            }
            if stopping {
                return;
            }
        })
        .expect("spawning the log writer");
    (
        BatchWriter {
            shared: shared.clone(),
        },
        LogGuard {
            shared,
            thread: Some(thread),
        },
    )
}

/// Installs the subscriber; keep the guard alive until the process ends.
pub fn init(log: &LogConfig) -> LogGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = batch_writer(std::io::stderr());
    crate::audit::install(writer.clone(), log.format);
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .with_target(true);
    let _ = match log.format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    guard
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_is_written_in_order_and_the_rest_on_drop() {
        let sink = Sink::default();
        let (writer, guard) = batch_writer(sink.clone());
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
    fn lines_are_written_within_the_flush_interval_without_a_drop() {
        let sink = Sink::default();
        let (mut writer, _guard) = batch_writer(sink.clone());
        writer.write_all(b"hello\n").unwrap();
        std::thread::sleep(FLUSH_EVERY * 5);
        assert_eq!(&*sink.0.lock().unwrap(), b"hello\n");
    }
}
