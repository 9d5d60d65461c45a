//! The audit trail: one record per token request and one per security event (a sign-in, a
//! token made or revoked, a user disabled, …, naming who did it), whatever the log level. An operator who
//! quiets the logs with `log.level = "warn"` must not silence the audit trail with them, so
//! records do not go through the log filter: `serve` installs a sink (the log writer) and
//! every record is written to it, as a text line in the log's own `key="value"` shape or as
//! a JSON object with `log.format = "json"`. Without a sink (the library embedded, tests),
//! records fall back to `tracing` events on the `audit` target.
//!
//! Records are formatted by hand: one is written per token request, and a generic
//! formatter was a visible share of the warm path's cost.
//!
//! What a record holds is chosen so that "why was I refused?" can be answered from the log
//! alone, and it never holds a secret: no password, refresh token or JWT, only the token's
//! `jti`.
//!
//! A record is bounded whatever the request: it lists at most [`MAX_SCOPES_RECORDED`]
//! scopes (then says how many more there were), and no field holds more than
//! [`MAX_FIELD_CHARS`] characters (then says how many were cut). Every value is escaped (see
//! `log_escape.rs`), so nothing a client sends can end a record early or forge another.

use std::io::Write as _;
use std::sync::OnceLock;

use crate::config::LogFormat;
use crate::domain::Actor;
use crate::log_escape::{bounded, push_json_string, push_quoted};
use crate::telemetry::BatchWriter;

/// Scopes a record lists at most; the rest are counted.
pub const MAX_SCOPES_RECORDED: usize = 10;
/// Characters a field holds at most; the rest are counted.
pub const MAX_FIELD_CHARS: usize = 4096;

/// `items` joined with `sep`, at most [`MAX_SCOPES_RECORDED`] of them, then `… (+N more
/// scopes)`: how a record lists scopes.
pub fn scope_list<T: std::fmt::Display>(items: &[T], sep: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (i, item) in items.iter().take(MAX_SCOPES_RECORDED).enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        let _ = write!(out, "{item}");
    }
    if items.len() > MAX_SCOPES_RECORDED {
        let _ = write!(
            out,
            "{sep}… (+{} more scopes not recorded)",
            items.len() - MAX_SCOPES_RECORDED
        );
    }
    out
}

/// How a token request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// A token was issued (possibly with fewer actions than asked: see `granted`).
    Issued,
    /// Credentials were refused (401).
    Rejected,
    /// The request was malformed (4xx).
    Invalid,
    /// A backend failed (503).
    Failed,
    /// Refused unverified: too many failed credentials from this address (429).
    Throttled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Issued => "issued",
            Outcome::Rejected => "rejected",
            Outcome::Invalid => "invalid",
            Outcome::Failed => "failed",
            Outcome::Throttled => "throttled",
        }
    }
}

#[derive(Clone, Copy)]
pub struct TokenEvent<'a> {
    pub outcome: Outcome,
    /// The authenticated subject, or the name a refused request claimed, or "" (anonymous).
    pub subject: &'a str,
    /// How the requester authenticated: password, refresh_token, anonymous.
    pub auth: &'a str,
    pub client_ip: &'a str,
    pub client_id: &'a str,
    pub service: &'a str,
    /// Requested scopes, space-separated.
    pub requested: &'a str,
    /// Granted scopes, space-separated.
    pub granted: &'a str,
    /// Why: which policy allowed or denied each action, or why credentials were refused.
    pub reason: &'a str,
    pub jti: &'a str,
}

impl TokenEvent<'_> {
    fn fields(&self) -> [(&'static str, &str); 11] {
        [
            ("event", "token"),
            ("outcome", self.outcome.as_str()),
            ("subject", self.subject),
            ("auth", self.auth),
            ("client_ip", self.client_ip),
            ("client_id", self.client_id),
            ("service", self.service),
            ("requested", self.requested),
            ("granted", self.granted),
            ("reason", self.reason),
            ("jti", self.jti),
        ]
    }
}

struct Sink {
    writer: BatchWriter,
    format: LogFormat,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Sends every record to `writer` from now on (called once, at start: `serve` hands it the
/// log writer, the other commands one on stderr).
pub fn install(writer: BatchWriter, format: LogFormat) {
    let _ = SINK.set(Sink { writer, format });
}

/// A security event other than a token request: who (`actor`) did what (`event`) to what
/// (`target`), and how it ended. Never holds a secret.
#[derive(Clone, Copy)]
pub struct Event<'a> {
    /// `sign_in`, `user_created`, `access_token_revoked`, …
    pub event: &'a str,
    pub outcome: EventOutcome,
    pub actor: &'a Actor,
    /// What the event concerns: a user, `robot:NAME`, a token id, a group.
    pub target: &'a str,
    /// Anything else worth knowing (a token's name and scopes, a group list, why refused).
    pub detail: &'a str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventOutcome {
    Done,
    Refused,
}

impl EventOutcome {
    fn as_str(self) -> &'static str {
        match self {
            EventOutcome::Done => "done",
            EventOutcome::Refused => "refused",
        }
    }
}

impl Event<'_> {
    fn fields(&self) -> [(&'static str, &str); 5] {
        [
            ("event", self.event),
            ("outcome", self.outcome.as_str()),
            ("actor", self.actor.as_str()),
            ("target", self.target),
            ("detail", self.detail),
        ]
    }
}

/// Records a security event.
pub fn event(e: &Event<'_>) {
    let Some(sink) = SINK.get() else {
        tracing::info!(
            target: "audit",
            event = e.event,
            outcome = e.outcome.as_str(),
            actor = e.actor.as_str(),
            target = e.target,
            detail = e.detail,
        );
        return;
    };
    write(sink, &e.fields());
}

fn write(sink: &Sink, fields: &[(&str, &str)]) {
    let line = match sink.format {
        LogFormat::Text => text_line(fields),
        LogFormat::Json => json_line(fields),
    };
    let _ = sink.writer.clone().write_all(line.as_bytes());
}

pub fn token(e: &TokenEvent<'_>) {
    let Some(sink) = SINK.get() else {
        tracing::info!(
            target: "audit",
            event = "token",
            outcome = e.outcome.as_str(),
            subject = e.subject,
            auth = e.auth,
            client_ip = e.client_ip,
            client_id = e.client_id,
            service = e.service,
            requested = e.requested,
            granted = e.granted,
            reason = e.reason,
            jti = e.jti,
        );
        return;
    };
    write(sink, &e.fields());
}

fn timestamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    now.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| now.unix_timestamp().to_string())
}

/// `2026-11-22T10:15:00.123456Z  INFO audit: event="token" outcome="issued" subject="alice" …`
fn text_line(fields: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(256 + fields.iter().map(|(_, v)| v.len()).sum::<usize>());
    out.push_str(&timestamp());
    out.push_str("  INFO audit:");
    for (k, v) in fields {
        out.push(' ');
        out.push_str(k);
        out.push('=');
        push_quoted(&mut out, &bounded(v, MAX_FIELD_CHARS));
    }
    out.push('\n');
    out
}

fn json_line(fields: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(256 + fields.iter().map(|(_, v)| v.len()).sum::<usize>());
    out.push_str("{\"timestamp\":");
    push_json_string(&mut out, &timestamp());
    out.push_str(",\"level\":\"INFO\",\"target\":\"audit\"");
    for (k, v) in fields {
        out.push(',');
        push_json_string(&mut out, k);
        out.push(':');
        push_json_string(&mut out, &bounded(v, MAX_FIELD_CHARS));
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event<'a>(reason: &'a str) -> TokenEvent<'a> {
        TokenEvent {
            outcome: Outcome::Issued,
            subject: "alice",
            auth: "password (remembered)",
            client_ip: "127.0.0.1",
            client_id: "docker",
            service: "svc",
            requested: "repository:a:pull",
            granted: "",
            reason,
            jti: "j",
        }
    }

    #[test]
    fn a_text_record_has_every_field_quoted_in_order() {
        let line = text_line(&event("pull: not granted").fields());
        assert!(line.ends_with('\n'));
        assert!(
            line.contains(r#" INFO audit: event="token" outcome="issued" subject="alice" auth="password (remembered)" client_ip="127.0.0.1" client_id="docker" service="svc" requested="repository:a:pull" granted="" reason="pull: not granted" jti="j""#),
            "{line}"
        );
    }

    #[test]
    fn quotes_and_control_characters_in_values_are_escaped() {
        let line = text_line(&event("a \"quoted\"\nnew line").fields());
        assert!(
            line.contains(r#"reason="a \"quoted\"\nnew line""#),
            "{line}"
        );
        assert_eq!(line.matches('\n').count(), 1, "one record, one line");
    }

    #[test]
    fn line_breaks_of_every_kind_are_escaped_in_both_formats() {
        let hostile = "x\u{85}event=\"token\" outcome=\"issued\"\u{2028}y\u{9b}z";
        for line in [
            text_line(&event(hostile).fields()),
            json_line(&event(hostile).fields()),
        ] {
            let body = line.strip_suffix('\n').unwrap();
            assert!(!body.chars().any(crate::log_escape::dangerous), "{line:?}");
        }
        let v: serde_json::Value =
            serde_json::from_str(json_line(&event(hostile).fields()).trim_end()).unwrap();
        assert_eq!(v["reason"], hostile, "the JSON value reads back exactly");
    }

    #[test]
    fn a_record_is_bounded_and_says_what_was_cut() {
        let huge = "r".repeat(100_000);
        let line = text_line(&event(&huge).fields());
        assert!(line.len() < 4 * MAX_FIELD_CHARS, "{}", line.len());
        assert!(line.contains("(cut: 95904 more characters)"), "{line}");
        let scopes: Vec<String> = (0..64).map(|i| format!("repository:r{i}:pull")).collect();
        let listed = scope_list(&scopes, " ");
        assert!(listed.starts_with("repository:r0:pull repository:r1:pull"));
        assert!(
            listed.ends_with("… (+54 more scopes not recorded)"),
            "{listed}"
        );
        assert!(!listed.contains("r10:"));
    }

    #[test]
    fn a_json_record_is_one_object_per_line() {
        let line = json_line(&event("x\"y").fields());
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["target"], "audit");
        assert_eq!(v["outcome"], "issued");
        assert_eq!(v["reason"], "x\"y");
    }
}
