//! Logging: human-readable text by default, JSON lines with `log.format = "json"`.
//! `RUST_LOG` overrides `log.level` (audit records are written whatever the level: see
//! `audit.rs`). Logs go to stderr so that commands printing results (`registry-config`,
//! `explain`) keep stdout clean.
//!
//! Lines are written in batches by a thread of their own (`batch_writer.rs`): no system
//! call and no thread wake-up per line. Nothing is dropped: past 8 MiB of unwritten lines,
//! requests wait for the writer. The returned guard writes out what is left when the
//! process stops.
//!
//! Every record passes through `log_escape::sanitize_record` on its way in: a value from
//! outside (a user name, a directory group, a provider's claim) can never end a record early
//! or forge another, whichever code logged it and however.
//!
//! Malformed or broken HTTP connections (garbage request lines, clients that vanish) are the
//! client's problem, not the server's: actix-http logs each one at ERROR, which would let
//! anyone fill the disk and bury real errors. They are counted instead, and summarised at
//! INFO at most once a minute (see [`ClientNoise`]).

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::filter::{filter_fn, FilterExt};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::batch_writer::{self, Options};
pub use crate::batch_writer::{BatchWriter, WriterGuard as LogGuard};
use crate::config::{LogConfig, LogFormat};

/// Installs the subscriber. Returns the guard (keep it alive until the process ends) and
/// the writer every record goes through, for the audit trail (see `audit::install`).
pub fn init(log: &LogConfig) -> (LogGuard, BatchWriter) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&log.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let json = log.format == LogFormat::Json;
    let (writer, guard) = batch_writer::start(std::io::stderr(), json, Options::log());
    let audit_writer = writer.clone();
    let noise = ClientNoise::new(writer.clone(), json, NOISE_REPORT_EVERY);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(true);
    let not_noise = filter_fn(|m| !ClientNoise::is_noise(m));
    let _ = match log.format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(
                fmt.json()
                    .flatten_event(true)
                    .with_filter(filter.and(not_noise)),
            )
            .with(noise.with_filter(filter_fn(ClientNoise::is_noise)))
            .try_init(),
        LogFormat::Text => tracing_subscriber::registry()
            .with(fmt.with_filter(filter.and(not_noise)))
            .with(noise.with_filter(filter_fn(ClientNoise::is_noise)))
            .try_init(),
    };
    (guard, audit_writer)
}

/// For commands other than `serve`: warnings and errors only (unless `RUST_LOG` says
/// otherwise), in the configured format, on stderr, where the audit records of the changes
/// they make go too.
pub fn init_for_commands(log: &LogConfig) -> (LogGuard, BatchWriter) {
    init(&LogConfig {
        format: log.format,
        level: "warn".into(),
    })
}

/// How often, at most, the malformed connections are summarised.
const NOISE_REPORT_EVERY: Duration = Duration::from_secs(60);

/// Counts what actix-http reports about malformed or broken client connections, and writes
/// one INFO line about them at most every `every`: the first at once (so an operator sees
/// that it happens), then a count. An anonymous client can make the server write at most
/// one such line a minute, however many connections it breaks.
pub struct ClientNoise {
    writer: BatchWriter,
    json: bool,
    every: Duration,
    count: AtomicU64,
    state: Mutex<NoiseState>,
}

struct NoiseState {
    last_report: Option<Instant>,
    last_message: String,
}

impl ClientNoise {
    fn new(writer: BatchWriter, json: bool, every: Duration) -> ClientNoise {
        ClientNoise {
            writer,
            json,
            every,
            count: AtomicU64::new(0),
            state: Mutex::new(NoiseState {
                last_report: None,
                last_message: String::new(),
            }),
        }
    }

    /// actix-http's per-connection reports of trouble: parse errors, broken streams, early
    /// EOFs (its trace and debug events go the usual way).
    fn is_noise(meta: &Metadata<'_>) -> bool {
        *meta.level() <= tracing::Level::WARN
            && (meta.target().starts_with("actix_http::h1")
                || meta.target().starts_with("actix_http::h2"))
    }

    fn report(&self, message: String) {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.last_message = message;
        let due = st.last_report.is_none_or(|t| t.elapsed() >= self.every);
        if !due {
            return;
        }
        st.last_report = Some(Instant::now());
        self.count.fetch_sub(n, Ordering::Relaxed);
        let text = format!(
            "{n} malformed or broken HTTP connection(s) since the last report (the last: {}); these are counted and reported at most every {}s",
            crate::log_escape::bounded(&st.last_message, 200),
            self.every.as_secs()
        );
        drop(st);
        let now = time::OffsetDateTime::now_utc();
        let ts = now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let mut line = String::new();
        if self.json {
            line.push_str("{\"timestamp\":");
            crate::log_escape::push_json_string(&mut line, &ts);
            line.push_str(",\"level\":\"INFO\",\"target\":\"portcullis::http\",\"message\":");
            crate::log_escape::push_json_string(&mut line, &text);
            line.push_str("}\n");
        } else {
            line.push_str(&ts);
            line.push_str("  INFO portcullis::http: ");
            line.push_str(&text);
            line.push('\n');
        }
        let _ = self.writer.clone().write_all(line.as_bytes());
    }
}

impl<S: Subscriber> Layer<S> for ClientNoise {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        struct Message(String);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, v: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 = format!("{v:?}");
                }
            }
        }
        let mut m = Message(String::new());
        event.record(&mut m);
        self.report(m.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Default)]
    struct Sink(std::sync::Arc<Mutex<Vec<u8>>>);

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
    fn client_noise_is_reported_once_then_counted() {
        let sink = Sink::default();
        let (writer, guard) = batch_writer::start(sink.clone(), false, Options::log());
        let noise = ClientNoise::new(writer, false, Duration::from_secs(3600));
        for i in 0..1000 {
            noise.report(format!("stream error: Request parse error: {i}"));
        }
        drop(guard);
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains(" INFO portcullis::http: 1 malformed"),
            "{text}"
        );
        assert_eq!(
            noise.count.load(Ordering::Relaxed),
            999,
            "the rest are counted"
        );
    }
}
