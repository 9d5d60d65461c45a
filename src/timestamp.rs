//! RFC 3339 timestamps as the token answer (`issued_at`) and the audit log write them.
//!
//! Both are written once per token request, and formatting a date from scratch (calendar
//! arithmetic, a generic formatter) cost more than the rest of the audit record. The date
//! and time to the second change once a second: each thread keeps the last second it wrote,
//! and only the fraction is formatted per call.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DDTHH:MM:SS`, the part shared by every timestamp within one second.
type Seconds = [u8; 19];

thread_local! {
    /// The last second formatted on this thread, and its text.
    static LAST: Cell<(i64, Seconds)> = const { Cell::new((i64::MIN, [0; 19])) };
}

/// `2026-12-04T15:19:20` for `unix` seconds, or `None` outside years 0-9999.
fn seconds_text(unix: i64) -> Option<Seconds> {
    let (last, text) = LAST.get();
    if last == unix {
        return Some(text);
    }
    let t = time::OffsetDateTime::from_unix_timestamp(unix).ok()?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    let mut text = [0u8; 19];
    let mut put = |at: usize, value: u32, digits: usize| {
        let mut v = value;
        for i in (0..digits).rev() {
            text[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, t.year() as u32, 4);
    put(5, t.month() as u32, 2);
    put(8, u32::from(t.day()), 2);
    put(11, u32::from(t.hour()), 2);
    put(14, u32::from(t.minute()), 2);
    put(17, u32::from(t.second()), 2);
    for (at, sep) in [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')] {
        text[at] = sep;
    }
    LAST.set((unix, text));
    Some(text)
}

fn push_seconds(out: &mut String, text: &Seconds) {
    // Only ASCII digits and separators were written.
    out.push_str(std::str::from_utf8(text).expect("ASCII"));
}

/// `2026-12-04T15:19:20Z`: whole seconds, as Go clients decode `issued_at` into `time.Time`.
/// (A time outside years 0-9999, which no clock here shows, is written as its Unix seconds.)
pub fn push_rfc3339(out: &mut String, unix: i64) {
    match seconds_text(unix) {
        Some(text) => {
            push_seconds(out, &text);
            out.push('Z');
        }
        None => out.push_str(itoa::Buffer::new().format(unix)),
    }
}

/// [`push_rfc3339`] into a new string.
pub fn rfc3339(unix: i64) -> String {
    let mut out = String::with_capacity(20);
    push_rfc3339(&mut out, unix);
    out
}

/// `2026-12-04T15:19:20.015182Z`: now, to the microsecond, as the other log lines show it.
pub fn push_now_micros(out: &mut String) {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let unix = since.as_secs() as i64;
    let Some(text) = seconds_text(unix) else {
        out.push_str(itoa::Buffer::new().format(unix));
        return;
    };
    push_seconds(out, &text);
    let micros = since.subsec_micros();
    let mut frac = *b".000000Z";
    let mut v = micros;
    for i in (1..7).rev() {
        frac[i] = b'0' + (v % 10) as u8;
        v /= 10;
    }
    out.push_str(std::str::from_utf8(&frac).expect("ASCII"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_are_written_as_the_time_crate_writes_them() {
        for unix in [0, 951_782_400, 1_764_855_560, 1_764_855_561, 4_102_444_799] {
            let want = time::OffsetDateTime::from_unix_timestamp(unix)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            assert_eq!(rfc3339(unix), want, "{unix}");
            assert_eq!(rfc3339(unix), want, "{unix}, from the thread's last second");
        }
    }

    #[test]
    fn a_time_beyond_year_9999_is_written_as_unix_seconds() {
        assert_eq!(rfc3339(300_000_000_000), "300000000000");
    }

    #[test]
    fn now_has_six_fraction_digits_and_parses_back() {
        let mut out = String::new();
        push_now_micros(&mut out);
        assert_eq!(out.len(), 27, "{out}");
        let t = time::OffsetDateTime::parse(&out, &time::format_description::well_known::Rfc3339)
            .unwrap();
        let age = time::OffsetDateTime::now_utc() - t;
        assert!(age.whole_seconds().abs() < 5, "{out}");
    }
}
