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
    let format = tracing_subscriber::fmt::format()
        .with_ansi(false)
        .with_target(true);
    let not_noise = filter_fn(|m| !ClientNoise::is_noise(m));
    let _ = match log.format {
        LogFormat::Json => tracing_subscriber::registry()
            .with(
                fmt.json()
                    .flatten_event(true)
                    .event_format(WithRequestId {
                        inner: format.json().flatten_event(true),
                        json: true,
                    })
                    .with_filter(filter.and(not_noise)),
            )
            .with(noise.with_filter(filter_fn(ClientNoise::is_noise)))
            .try_init(),
        LogFormat::Text => tracing_subscriber::registry()
            .with(
                fmt.event_format(WithRequestId {
                    inner: format,
                    json: false,
                })
                .with_filter(filter.and(not_noise)),
            )
            .with(noise.with_filter(filter_fn(ClientNoise::is_noise)))
            .try_init(),
    };
    (guard, audit_writer)
}

/// A log line written while a request is served ends with its id (`request_id="…"`, or a
/// `request_id` member in JSON), the id of its `X-Request-Id` and its audit record: the
/// lines about one request can be found together.
struct WithRequestId<F> {
    inner: F,
    json: bool,
}

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for WithRequestId<F>
where
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
    S: Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let line = crate::http::request_id::with_current(|id| {
            let mut line = String::new();
            self.inner
                .format_event(
                    ctx,
                    tracing_subscriber::fmt::format::Writer::new(&mut line),
                    event,
                )
                .map(|()| {
                    let body = line.trim_end_matches('\n');
                    // Ids are base32 and hex, or a proxy's checked to hold only [A-Za-z0-9-_.:].
                    match body.strip_suffix('}').filter(|_| self.json) {
                        Some(open) => format!("{open},\"request_id\":\"{id}\"}}\n"),
                        None => format!("{body} request_id=\"{id}\"\n"),
                    }
                })
        });
        match line {
            Some(line) => writer.write_str(&line?),
            None => self.inner.format_event(ctx, writer, event),
        }
    }
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

    use crate::batch_writer::tests::Sink;

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

    #[tokio::test]
    async fn a_line_written_while_a_request_is_served_ends_with_its_id_in_text_and_json() {
        use crate::http::request_id::{scope, RequestId};
        for json in [false, true] {
            let sink = Sink::default();
            let s = sink.clone();
            let format = tracing_subscriber::fmt::format()
                .with_ansi(false)
                .with_target(true);
            let layer = tracing_subscriber::fmt::layer().with_writer(move || s.clone());
            let subscriber: Box<dyn Subscriber + Send + Sync> = if json {
                Box::new(
                    tracing_subscriber::registry().with(layer.json().event_format(WithRequestId {
                        inner: format.json().flatten_event(true),
                        json: true,
                    })),
                )
            } else {
                Box::new(
                    tracing_subscriber::registry().with(layer.event_format(WithRequestId {
                        inner: format,
                        json: false,
                    })),
                )
            };
            let _default = tracing::subscriber::set_default(subscriber);
            scope(
                RequestId::Own(0x2a),
                Box::pin(async {
                    tracing::warn!(backend = "database", "inside");
                }),
            )
            .await;
            tracing::warn!("outside");
            let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 2, "{text}");
            if json {
                let inside: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
                assert!(
                    inside["request_id"].as_str().unwrap().ends_with("-2a"),
                    "{text}"
                );
                assert_eq!(inside["backend"], "database");
                let outside: serde_json::Value = serde_json::from_str(lines[1]).unwrap();
                assert!(outside.get("request_id").is_none(), "{text}");
            } else {
                assert!(
                    lines[0].contains("inside backend=\"database\" request_id=\""),
                    "{text}"
                );
                assert!(lines[0].ends_with("-2a\""), "{text}");
                assert!(!lines[1].contains("request_id"), "{text}");
            }
        }
    }
}
