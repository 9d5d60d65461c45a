//! Durations as people write them in configuration and on the command line.

use std::time::Duration;

/// `90s`, `5m`, `1h30m`, `30d`, parsed by `humantime`. A bare number is refused: `300` could
/// be seconds or minutes, and that confusion is a known support burden of other token
/// servers.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    if s.is_empty() {
        return Err("it is empty".into());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return Err("a number without a unit".into());
    }
    // One compact form, the one every example and error message shows: whole numbers (`1.5h`
    // reads as 1 h 30 m to some and 1 h 50 m to others) with the units s, m, h, d, w, and no
    // spaces (`5 minutes` in an environment variable is more likely a mistake than a wish).
    if let Some(c) = s
        .chars()
        .find(|c| !c.is_ascii_digit() && !matches!(c, 's' | 'm' | 'h' | 'd' | 'w'))
    {
        return Err(format!(
            "{c:?} is not allowed: write whole numbers with the units s, m, h, d or w (90m, 1h30m)"
        ));
    }
    humantime::parse_duration(s).map_err(|e| e.to_string())
}

/// Formats a duration the way the config takes it (`5m`, `1h30m`).
pub fn format_duration(d: Duration) -> String {
    let mut s = d.as_secs();
    if s == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, secs) in [("d", 86400), ("h", 3600), ("m", 60), ("s", 1)] {
        if s >= secs {
            out.push_str(&format!("{}{unit}", s / secs));
            s %= secs;
        }
    }
    out
}
