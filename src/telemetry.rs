//! Logging: human-readable text by default, JSON lines with `log.format = "json"`.
//! `RUST_LOG` overrides `log.level`. Logs go to stderr so that commands printing results
//! (`registry-config`, `explain`) keep stdout clean.
//!
//! Every token request writes an audit line, so writing must not cost a system call per
//! request on the request's thread: lines go through a queue to a writer thread that writes
//! them in batches. The queue is lossless (a full queue slows requests down rather than
//! dropping audit records), and the returned guard flushes it on exit.

use std::io::BufWriter;

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the subscriber; keep the guard alive until the process ends.
pub fn init(log: &LogConfig) -> WorkerGuard {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        .buffered_lines_limit(65_536)
        .thread_name("log-writer")
        .finish(BufWriter::with_capacity(64 * 1024, std::io::stderr()));
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
