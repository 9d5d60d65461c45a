//! Escaping what came from outside before it reaches a log line.
//!
//! A log or audit line is one record: a value that ends it early forges the next one. Line
//! breaks are not only `\n`: readers also split on `\r`, U+0085 (NEL), U+2028/U+2029 and
//! the other C0/C1 controls (Python's `splitlines`, some log shippers), and terminals obey
//! U+009B (a C1 CSI) and bidirectional overrides that make a line read differently from what
//! it holds. Every such character is written as an escape; everything else (accented names,
//! CJK group names) is kept as it is, so a log stays readable.
//!
//! Two forms, for the two log formats: Rust-style `\u{85}` inside `key="value"` text, and
//! JSON's `\u0085` (valid inside a JSON string, and ASCII, so no reader can split on it).

use std::fmt::Write as _;

/// Whether `c` must be escaped in a log line.
pub fn dangerous(c: char) -> bool {
    c.is_control() // C0, DEL and C1 (U+0080-U+009F, NEL and CSI among them)
        || matches!(c,
            '\u{2028}' | '\u{2029}'           // line and paragraph separators
            | '\u{200B}'..='\u{200F}'         // zero-width and direction marks
            | '\u{202A}'..='\u{202E}'         // bidirectional embeddings and overrides
            | '\u{2060}'..='\u{2064}'         // invisible operators
            | '\u{2066}'..='\u{2069}'         // bidirectional isolates
            | '\u{FEFF}'                      // byte order mark
            | '\u{FFF9}'..='\u{FFFB}') // interlinear annotations
}

/// Whether `s` can be written as it is inside a double-quoted value in either format.
pub fn plain(s: &str) -> bool {
    every_byte(s.as_bytes(), |b| {
        (0x20..0x7f).contains(&b) & (b != b'"') & (b != b'\\')
    })
}

/// Whether `ok` holds for every byte, checked 16 bytes at a time without branching inside a
/// block (the compiler turns each block into a few vector instructions; the last, short one
/// is padded with `a`, which every check here accepts): every audit record and every value in
/// it is scanned, so this is on every token request's path.
fn every_byte(bytes: &[u8], ok: impl Fn(u8) -> bool) -> bool {
    debug_assert!(ok(b'a'));
    let block_ok = |block: &[u8]| block.iter().fold(true, |all, &b| all & ok(b));
    let mut blocks = bytes.chunks_exact(16);
    for block in &mut blocks {
        if !block_ok(block) {
            return false;
        }
    }
    let rest = blocks.remainder();
    let mut last = [b'a'; 16];
    last[..rest.len()].copy_from_slice(rest);
    block_ok(&last)
}

/// `"value"` for `key="value"` text lines, escaping quotes, backslashes and every dangerous
/// character (`\u{85}`).
pub fn push_quoted(out: &mut String, v: &str) {
    push_escaped(out, v, false);
}

/// A JSON string literal with every dangerous character as `\uXXXX`.
pub fn push_json_string(out: &mut String, v: &str) {
    push_escaped(out, v, true);
}

fn push_escaped(out: &mut String, v: &str, json: bool) {
    out.push('"');
    if plain(v) {
        out.push_str(v);
    } else {
        for c in v.chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                c if dangerous(c) => push_escape(out, c, json),
                c => out.push(c),
            }
        }
    }
    out.push('"');
}

/// `\u0085` (JSON; every dangerous character is in the Basic Multilingual Plane) or
/// `\u{85}` (text).
fn push_escape(out: &mut String, c: char, json: bool) {
    if json {
        let _ = write!(out, "\\u{:04x}", c as u32);
    } else {
        let _ = write!(out, "\\u{{{:x}}}", c as u32);
    }
}

/// Makes one formatted log record (the bytes of one event, ending in `\n`) safe to append:
/// only its final line break is kept, and every dangerous character is escaped, in the
/// record's format (`json`: the record is a JSON object, where such characters can only
/// occur inside strings, so `\uXXXX` keeps it valid JSON).
///
/// The formatter of ordinary log lines writes field values as they are; this is the net
/// that keeps a value from outside (a user name, a directory group, a provider's claim)
/// from forging a record, whichever code logged it.
pub fn sanitize_record<'a>(record: &'a [u8], json: bool) -> std::borrow::Cow<'a, [u8]> {
    let body = record.strip_suffix(b"\n").unwrap_or(record);
    if every_byte(body, |b| (0x20..0x7f).contains(&b)) {
        return std::borrow::Cow::Borrowed(record);
    }
    let text = String::from_utf8_lossy(body);
    let mut out = String::with_capacity(record.len() + 16);
    for c in text.chars() {
        match c {
            '\n' if !json => out.push_str("\\n"),
            '\r' if !json => out.push_str("\\r"),
            '\t' => out.push(' '),
            c if dangerous(c) => push_escape(&mut out, c, json),
            c => out.push(c),
        }
    }
    out.push('\n');
    std::borrow::Cow::Owned(out.into_bytes())
}

/// `v` cut to at most `max` characters, saying how much was cut.
pub fn bounded(v: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if v.len() <= max {
        return std::borrow::Cow::Borrowed(v);
    }
    let total = v.chars().count();
    if total <= max {
        return std::borrow::Cow::Borrowed(v);
    }
    let kept: String = v.chars().take(max).collect();
    std::borrow::Cow::Owned(format!("{kept}… (cut: {} more characters)", total - max))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str =
        "a\"b\\c\nd\re\u{85}f\u{9b}g\u{2028}h\u{2029}i\u{202e}j\u{7f}k\u{1b}[31ml\u{0}m";

    fn no_line_breaks(s: &str) {
        for c in s.chars() {
            assert!(!dangerous(c), "{c:?} left in {s:?}");
        }
    }

    #[test]
    fn quoted_text_values_hold_no_line_break_or_control_of_any_kind() {
        let mut out = String::new();
        push_quoted(&mut out, HOSTILE);
        no_line_breaks(&out);
        assert_eq!(
            out,
            r#""a\"b\\c\nd\re\u{85}f\u{9b}g\u{2028}h\u{2029}i\u{202e}j\u{7f}k\u{1b}[31ml\u{0}m""#
        );
        let mut out = String::new();
        push_quoted(&mut out, "Zoë 開発");
        assert_eq!(out, "\"Zoë 開発\"", "readable text is kept");
    }

    #[test]
    fn json_values_are_valid_json_with_every_dangerous_character_escaped() {
        let mut out = String::new();
        push_json_string(&mut out, HOSTILE);
        no_line_breaks(&out);
        assert!(out.is_ascii());
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, HOSTILE);
    }

    #[test]
    fn a_record_keeps_one_line_break_at_its_end() {
        let rec = "2026 INFO x: user=ma\nllory group=a\u{2028}b\n".as_bytes();
        let text = sanitize_record(rec, false);
        let text = std::str::from_utf8(&text).unwrap();
        assert_eq!(text.matches('\n').count(), 1);
        assert!(text.ends_with('\n'));
        no_line_breaks(text.trim_end_matches('\n'));

        let json = serde_json::json!({"group": "a\u{2028}b\u{85}c"}).to_string() + "\n";
        let safe = sanitize_record(json.as_bytes(), true);
        let safe = std::str::from_utf8(&safe).unwrap();
        assert!(safe.is_ascii());
        let v: serde_json::Value = serde_json::from_str(safe.trim_end()).unwrap();
        assert_eq!(v["group"], "a\u{2028}b\u{85}c");
        let ordinary = b"2026 INFO x: plain line\n";
        assert!(matches!(
            sanitize_record(ordinary, false),
            std::borrow::Cow::Borrowed(_)
        ));
    }

    #[test]
    fn long_values_are_cut_and_say_so() {
        assert_eq!(bounded("short", 10), "short");
        let long = "é".repeat(50);
        let cut = bounded(&long, 10);
        assert!(cut.starts_with(&"é".repeat(10)));
        assert!(cut.ends_with("(cut: 40 more characters)"), "{cut}");
    }
}
