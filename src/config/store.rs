//! `[store]`: the database.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Origins};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStore {
    pub url: String,
}

impl Default for RawStore {
    fn default() -> Self {
        RawStore {
            url: "sqlite://data/portcullis.db".into(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub url: String,
}

pub(super) fn parse(raw: &RawStore, o: &Origins) -> Result<StoreConfig, ConfigError> {
    let err = |key: &str, problem: String, fix: &str| o.error(key, problem, fix);
    let url = raw.url.trim().to_string();
    if !(url.starts_with("sqlite:")
        || url.starts_with("postgres://")
        || url.starts_with("postgresql://"))
    {
        return Err(err(
            "store.url",
            format!("{url:?} is neither a sqlite: nor a postgres:// URL"),
            "use sqlite://data/portcullis.db (embedded, default) or postgres://USER@HOST/DB (several replicas)",
        ));
    }

    Ok(StoreConfig { url })
}
