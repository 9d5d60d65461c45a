//! The audit trail: one record per token request and one per security event (a sign-in, a
//! token made or revoked, a user disabled, …, naming who did it), whatever the log level. An operator who
//! quiets the logs with `log.level = "warn"` must not silence the audit trail with them, so
//! records do not go through the log filter: `serve` installs a sink (the log writer) and
//! every record is written to it, as a text line in the log's own `key="value"` shape or as
//! a JSON object with `log.format = "json"`. Without a sink (the library embedded, tests),
//! records fall back to `tracing` events on the `audit` target.
//!
//! Records are formatted by hand, straight into one buffer per thread: one is written per
//! token request, and a generic formatter, with a string for each list of scopes, was a
//! tenth of the warm path's cost (see `benches/instructions.rs`). A token record takes the
//! request's scopes and decisions as they are and writes them out itself.
//!
//! What a record holds is chosen so that "why was I refused?" can be answered from the log
//! alone, and it never holds a secret: no password, refresh token or JWT, only the token's
//! `jti`.
//!
//! A record is bounded whatever the request: it lists at most [`MAX_SCOPES_RECORDED`]
//! scopes (then says how many more there were), and no field holds more than
//! [`MAX_FIELD_CHARS`] characters (then says how many were cut). Every value is escaped (see
//! `log_escape.rs`), so nothing a client sends can end a record early or forge another.

use std::cell::RefCell;
use std::net::IpAddr;
use std::sync::OnceLock;

use crate::authz::Decision;
use crate::config::LogFormat;
use crate::domain::{Actor, Scope};
use crate::log_escape::{bounded, push_json_string, push_quoted};
use crate::telemetry::BatchWriter;

/// Scopes a record lists at most; the rest are counted.
pub const MAX_SCOPES_RECORDED: usize = 10;
/// Characters a field holds at most; the rest are counted.
pub const MAX_FIELD_CHARS: usize = 4096;

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

/// One token request, as its record tells it.
#[derive(Clone, Copy)]
pub struct TokenEvent<'a, 'r> {
    pub outcome: Outcome,
    /// The authenticated subject, or the name a refused request claimed, or "" (anonymous).
    pub subject: &'a str,
    /// How the requester authenticated: password, access_token, refresh_token, anonymous, …
    pub auth: &'a str,
    /// The credential was recognised from memory rather than verified again: the record's
    /// `auth` then reads `password (remembered)`.
    pub remembered: bool,
    pub client_ip: Option<IpAddr>,
    pub client_id: &'a str,
    pub service: &'a str,
    /// The scopes asked for, until they are decided: then `decisions` holds them (moved
    /// there, not copied), and this is empty.
    pub requested: &'r [Scope],
    /// One per requested scope, once decided: the record's `granted` lists what they grant,
    /// and its `reason` which policy allowed or denied each action.
    pub decisions: &'a [Decision],
    /// Why, when nothing was decided: why credentials were refused or the request is invalid.
    pub reason: &'a str,
    pub jti: &'a str,
    /// The request's id (its `X-Request-Id`).
    pub request_id: &'a str,
}

impl TokenEvent<'_, '_> {
    /// Writes each field's raw value, in record order (bounding and escaping come later).
    fn fields(&self, v: &mut Values) {
        v.text("event", "token");
        v.text("outcome", self.outcome.as_str());
        v.text("subject", self.subject);
        v.build("auth", |out| {
            out.push_str(self.auth);
            if self.remembered {
                out.push_str(" (remembered)");
            }
        });
        v.build("client_ip", |out| {
            if let Some(ip) = self.client_ip {
                push_ip(out, ip);
            }
        });
        v.text("client_id", self.client_id);
        v.text("service", self.service);
        v.build("requested", |out| {
            if self.decisions.is_empty() {
                push_list(out, self.requested.iter(), " ", |out, s| s.write_to(out))
            } else {
                push_list(out, self.decisions.iter(), " ", |out, d| {
                    d.requested.write_to(out)
                })
            }
        });
        v.build("granted", |out| {
            push_list(
                out,
                self.decisions.iter().filter(|d| !d.granted.is_empty()),
                " ",
                |out, d| d.requested.write_with_actions(&d.granted, out),
            )
        });
        if self.decisions.is_empty() {
            v.text("reason", self.reason);
        } else {
            v.build("reason", |out| {
                push_list(out, self.decisions.iter(), "; ", |out, d| {
                    d.requested.write_to(out);
                    out.push_str(" (");
                    d.write_reason(out);
                    out.push(')');
                })
            });
        }
        v.text("jti", self.jti);
        v.text("request_id", self.request_id);
    }
}

/// A record's fields as raw text, one after another in one buffer: written, they are
/// checked for anything to escape in one pass rather than one per field.
#[derive(Default)]
struct Values {
    text: String,
    /// Each field's key and where its value lies in `text`.
    fields: Vec<(&'static str, std::ops::Range<usize>)>,
}

impl Values {
    fn clear(&mut self) {
        self.text.clear();
        self.fields.clear();
    }

    fn text(&mut self, key: &'static str, value: &str) {
        self.build(key, |out| out.push_str(value));
    }

    fn build(&mut self, key: &'static str, write: impl FnOnce(&mut String)) {
        let start = self.text.len();
        write(&mut self.text);
        self.fields.push((key, start..self.text.len()));
    }

    fn iter(&self) -> impl Iterator<Item = (&'static str, &str)> {
        self.fields.iter().map(|(k, r)| (*k, &self.text[r.clone()]))
    }
}

/// Up to [`MAX_SCOPES_RECORDED`] items joined with `sep`, then `… (+N more scopes not
/// recorded)`: how a record lists scopes.
fn push_list<T>(
    out: &mut String,
    mut items: impl Iterator<Item = T>,
    sep: &str,
    mut one: impl FnMut(&mut String, T),
) {
    for (i, item) in items.by_ref().take(MAX_SCOPES_RECORDED).enumerate() {
        if i > 0 {
            out.push_str(sep);
        }
        one(out, item);
    }
    let more = items.count();
    if more > 0 {
        out.push_str(sep);
        out.push_str("… (+");
        out.push_str(itoa::Buffer::new().format(more));
        out.push_str(" more scopes not recorded)");
    }
}

/// `127.0.0.1` without the formatter (IPv6, rarer, through it).
fn push_ip(out: &mut String, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                out.push_str(itoa::Buffer::new().format(octet));
            }
        }
        IpAddr::V6(v6) => {
            use std::fmt::Write as _;
            let _ = write!(out, "{v6}");
        }
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

/// Whether a token may be issued now as far as its record goes: false only with
/// `audit.when_full = "reject"` while records cannot be written (the disk is full, the file
/// is slower than the requests). One atomic load on the warm path.
pub fn accepting() -> bool {
    SINK.get().is_none_or(|s| {
        s.writer.when_full() != crate::batch_writer::WhenFull::Reject || s.writer.accepting()
    })
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
    fn fields(&self, v: &mut Values) {
        v.text("event", self.event);
        v.text("outcome", self.outcome.as_str());
        v.text("actor", self.actor.as_str());
        v.text("target", self.target);
        v.text("detail", self.detail);
    }
}

/// Records a security event.
pub fn event(e: &Event<'_>) {
    match SINK.get() {
        Some(sink) => emit(sink, |v| e.fields(v)),
        None => {
            let [event, outcome, actor, target, detail] = collect(|v| e.fields(v));
            tracing::info!(target: "audit", event, outcome, actor, target, detail);
        }
    }
}

/// Records a token request (and counts it: `crate::metrics`).
pub fn token(e: &TokenEvent<'_, '_>) {
    crate::metrics::token(e.outcome, e.auth, e.remembered);
    match SINK.get() {
        Some(sink) => emit(sink, |v| e.fields(v)),
        None => {
            let [event, outcome, subject, auth, client_ip, client_id, service, requested, granted, reason, jti, request_id] =
                collect(|v| e.fields(v));
            tracing::info!(
                target: "audit",
                event,
                outcome,
                subject,
                auth,
                client_ip,
                client_id,
                service,
                requested,
                granted,
                reason,
                jti,
                request_id,
            );
        }
    }
}

/// Each field's value, bounded, for the `tracing` fallback (which escapes on its own way out).
fn collect<const N: usize>(fields: impl FnOnce(&mut Values)) -> [String; N] {
    let mut values = Values::default();
    fields(&mut values);
    let mut out: [String; N] = std::array::from_fn(|_| String::new());
    for (slot, (_, v)) in out.iter_mut().zip(values.iter()) {
        *slot = bounded(v, MAX_FIELD_CHARS).into_owned();
    }
    out
}

thread_local! {
    /// The line being written and its fields' values, reused by every record written on
    /// this thread: no allocation per record.
    static BUFFERS: RefCell<(String, Values)> = RefCell::new((String::new(), Values::default()));
}

/// Builds one record in this thread's buffers and appends it to the sink.
fn emit(sink: &Sink, fields: impl FnOnce(&mut Values)) {
    BUFFERS.with(|buffers| {
        let mut fresh = (String::new(), Values::default());
        let mut borrowed = buffers.try_borrow_mut();
        let (line, values) = match borrowed.as_deref_mut() {
            Ok(b) => b,
            Err(_) => &mut fresh,
        };
        line.clear();
        values.clear();
        fields(values);
        render(line, values, sink.format);
        // Every value was escaped as it was written: nothing for the writer to sanitize.
        sink.writer.append_escaped(line.as_bytes());
        crate::recent_audit::offer(
            &values.text,
            values.fields.iter().map(|(k, r)| (*k, (r.start, r.end))),
        );
        // A record is bounded, but one huge record should not pin its buffers forever.
        if line.capacity() > 64 * 1024 {
            *line = String::new();
        }
        if values.text.capacity() > 64 * 1024 {
            *values = Values::default();
        }
    });
}

/// One record in the configured format, ending in `\n`:
/// `2026-11-22T10:15:00.123456Z  INFO audit: event="token" outcome="issued" …`, or a JSON
/// object with the same fields after `timestamp`, `level` and `target`. Every value is
/// bounded and escaped; when none needs either (the usual case, checked in one pass over
/// all of them), they are copied as they are.
fn render(out: &mut String, values: &Values, format: LogFormat) {
    let as_is = values.text.len() <= MAX_FIELD_CHARS && crate::log_escape::plain(&values.text);
    let value = |out: &mut String, v: &str| {
        if as_is {
            out.push('"');
            out.push_str(v);
            out.push('"');
        } else if format == LogFormat::Json {
            push_json_string(out, &bounded(v, MAX_FIELD_CHARS));
        } else {
            push_quoted(out, &bounded(v, MAX_FIELD_CHARS));
        }
    };
    match format {
        LogFormat::Text => {
            crate::timestamp::push_now_micros(out);
            out.push_str("  INFO audit:");
            for (k, v) in values.iter() {
                out.push(' ');
                out.push_str(k);
                out.push('=');
                value(out, v);
            }
            out.push('\n');
        }
        LogFormat::Json => {
            out.push_str("{\"timestamp\":\"");
            crate::timestamp::push_now_micros(out);
            out.push_str("\",\"level\":\"INFO\",\"target\":\"audit\"");
            for (k, v) in values.iter() {
                out.push_str(",\"");
                out.push_str(k);
                out.push_str("\":");
                value(out, v);
            }
            out.push_str("}\n");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::{ActionVerdict, Origin, RuleRef, Verdict};
    use crate::domain::Action;

    fn event<'a>(reason: &'a str) -> TokenEvent<'a, 'a> {
        TokenEvent {
            outcome: Outcome::Issued,
            subject: "alice",
            auth: "password",
            remembered: true,
            client_ip: Some([127, 0, 0, 1].into()),
            client_id: "docker",
            service: "svc",
            requested: &[],
            decisions: &[],
            reason,
            jti: "j",
            request_id: "r-1",
        }
    }

    fn line(e: &TokenEvent<'_, '_>, format: LogFormat) -> String {
        let mut values = Values::default();
        e.fields(&mut values);
        let mut out = String::new();
        render(&mut out, &values, format);
        out
    }

    fn text_line(e: &TokenEvent<'_, '_>) -> String {
        line(e, LogFormat::Text)
    }

    fn json_line(e: &TokenEvent<'_, '_>) -> String {
        line(e, LogFormat::Json)
    }

    fn scope(s: &str) -> Scope {
        Scope::parse(s).unwrap()
    }

    #[test]
    fn a_text_record_has_every_field_quoted_in_order() {
        let requested = [scope("repository:a:pull")];
        let line = text_line(&TokenEvent {
            requested: &requested,
            ..event("pull: not granted")
        });
        assert!(line.ends_with('\n'));
        assert!(
            line.contains(r#" INFO audit: event="token" outcome="issued" subject="alice" auth="password (remembered)" client_ip="127.0.0.1" client_id="docker" service="svc" requested="repository:a:pull" granted="" reason="pull: not granted" jti="j""#),
            "{line}"
        );
        let stamp = line.split_whitespace().next().unwrap();
        assert!(
            time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339)
                .is_ok(),
            "{line}"
        );
    }

    #[test]
    fn decisions_give_the_granted_scopes_and_the_reason_for_each_action() {
        let rule = RuleRef {
            origin: Origin::file("policies/10-team.toml", 5),
            text: "grant writer to group:developers on team/**".into(),
            description: None,
        };
        let decisions = [
            Decision {
                requested: scope("repository:team/app:pull,push"),
                granted: vec![Action::Pull],
                verdicts: vec![
                    ActionVerdict {
                        action: Action::Pull,
                        verdict: Verdict::Allowed(rule),
                    },
                    ActionVerdict {
                        action: Action::Push,
                        verdict: Verdict::NotGranted,
                    },
                ],
            },
            Decision {
                requested: scope("repository(plugin):other:push"),
                granted: vec![],
                verdicts: vec![ActionVerdict {
                    action: Action::Push,
                    verdict: Verdict::NotGranted,
                }],
            },
        ];
        let requested: Vec<Scope> = decisions.iter().map(|d| d.requested.clone()).collect();
        let line = text_line(&TokenEvent {
            requested: &requested,
            decisions: &decisions,
            client_ip: Some("2001:db8::1".parse().unwrap()),
            ..event("")
        });
        assert!(line.contains(r#" client_ip="2001:db8::1" "#), "{line}");
        assert!(
            line.contains(r#" requested="repository:team/app:pull,push repository(plugin):other:push" granted="repository:team/app:pull" reason="repository:team/app:pull,push (pull: allowed by policies/10-team.toml:5; push: not granted); repository(plugin):other:push (push: not granted)" "#),
            "{line}"
        );
    }

    #[test]
    fn quotes_and_control_characters_in_values_are_escaped() {
        let line = text_line(&event("a \"quoted\"\nnew line"));
        assert!(
            line.contains(r#"reason="a \"quoted\"\nnew line""#),
            "{line}"
        );
        assert_eq!(line.matches('\n').count(), 1, "one record, one line");
    }

    #[test]
    fn line_breaks_of_every_kind_are_escaped_in_both_formats() {
        let hostile = "x\u{85}event=\"token\" outcome=\"issued\"\u{2028}y\u{9b}z";
        let requested = [scope("custom:a\u{9b}b\u{202e}c:read")];
        let e = TokenEvent {
            requested: &requested,
            client_id: hostile,
            ..event(hostile)
        };
        for line in [text_line(&e), json_line(&e)] {
            let body = line.strip_suffix('\n').unwrap();
            assert!(!body.chars().any(crate::log_escape::dangerous), "{line:?}");
        }
        let v: serde_json::Value = serde_json::from_str(json_line(&e).trim_end()).unwrap();
        assert_eq!(v["reason"], hostile, "the JSON value reads back exactly");
        assert_eq!(v["requested"], "custom:a\u{9b}b\u{202e}c:read");
    }

    #[test]
    fn a_record_is_bounded_and_says_what_was_cut() {
        let huge = "r".repeat(100_000);
        let line = text_line(&event(&huge));
        assert!(line.len() < 4 * MAX_FIELD_CHARS, "{}", line.len());
        assert!(line.contains("(cut: 95904 more characters)"), "{line}");
        let scopes: Vec<Scope> = (0..64)
            .map(|i| scope(&format!("repository:r{i}:pull")))
            .collect();
        let line = text_line(&TokenEvent {
            requested: &scopes,
            ..event("")
        });
        assert!(
            line.contains(r#" requested="repository:r0:pull repository:r1:pull "#),
            "{line}"
        );
        assert!(
            line.contains(r#"repository:r9:pull … (+54 more scopes not recorded)" "#),
            "{line}"
        );
        assert!(!line.contains("r10:"));
        let long_action = format!("custom:x:{}", "a".repeat(5000));
        let requested = [scope(&long_action)];
        let line = text_line(&TokenEvent {
            requested: &requested,
            ..event("")
        });
        assert!(line.contains("… (cut: 913 more characters)"), "{line}");
    }

    #[test]
    fn a_json_record_is_one_object_per_line() {
        let line = json_line(&event("x\"y"));
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["target"], "audit");
        assert_eq!(v["outcome"], "issued");
        assert_eq!(v["reason"], "x\"y");
        assert_eq!(v["auth"], "password (remembered)");
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
