//! `[log]`: format and level.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Origins};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    pub format: String,
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        RawLog {
            format: "text".into(),
            level: "info".into(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug)]
pub struct LogConfig {
    pub format: LogFormat,
    pub level: String,
}

pub(super) fn parse(raw: &RawLog, o: &Origins) -> Result<LogConfig, ConfigError> {
    let err = |key: &str, problem: String, fix: &str| o.error(key, problem, fix);
    let format = match raw.format.to_ascii_lowercase().as_str() {
        "text" => LogFormat::Text,
        "json" => LogFormat::Json,
        other => {
            return Err(err(
                "log.format",
                format!("{other:?} is not a log format"),
                "use \"text\" or \"json\"",
            ))
        }
    };

    Ok(LogConfig {
        format,
        level: raw.level.clone(),
    })
}
