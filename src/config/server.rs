//! `[server]`: where portcullis listens, the URL clients reach it at, and the bounds on
//! connections.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{ConfigError, Origins};

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    pub listen: String,
    /// Empty: derived from `listen`.
    pub public_url: String,
    /// Serve `/bench/constant` and `/bench/sign`, the baselines of the benchmark.
    pub benchmark_routes: bool,
    /// Connections served at once; more wait in the listen queue.
    pub max_connections: i64,
    /// How long a request's head, and then its body, may take to arrive.
    pub request_timeout: String,
    /// How long an idle connection is kept open for the next request.
    pub keep_alive: String,
    /// Proxies (CIDRs) whose `Forwarded` / `X-Forwarded-For` name the client.
    pub trusted_proxies: Vec<String>,
    /// Cross-origin access to `/token` and the admin API, for browser apps on other origins.
    pub cors: RawCors,
    /// HTTPS (and client certificates).
    pub tls: super::RawTls,
    /// A second address serving only `/metrics` (then not served on `listen`). Empty: on
    /// `listen`.
    pub metrics_listen: String,
}

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCors {
    /// `https://ui.example.com`, or `*` (then without credentials). Empty: none.
    pub allowed_origins: Vec<String>,
    /// Let those origins send credentials (cookies, `Authorization` through `fetch`'s
    /// `credentials: "include"`). Never with `*`.
    pub allow_credentials: bool,
    /// How long a browser may remember a preflight's answer.
    pub max_age: String,
}

/// Who may call `/token` and the admin API from a browser on another origin.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CorsConfig {
    /// Exact origins (`scheme://host[:port]`); empty with `any_origin`.
    pub allowed_origins: Vec<String>,
    pub any_origin: bool,
    pub allow_credentials: bool,
    pub max_age: Duration,
}

impl CorsConfig {
    pub fn enabled(&self) -> bool {
        self.any_origin || !self.allowed_origins.is_empty()
    }
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            listen: "127.0.0.1:5001".into(),
            public_url: String::new(),
            benchmark_routes: false,
            max_connections: 10_000,
            request_timeout: "10s".into(),
            keep_alive: "5s".into(),
            trusted_proxies: Vec::new(),
            cors: RawCors::default(),
            tls: super::RawTls::default(),
            metrics_listen: String::new(),
        }
    }
}

#[derive(Clone, Debug)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Without a trailing slash; the realm is `public_url + "/token"`.
    pub public_url: String,
    /// True when `public_url` was derived from `listen` rather than set.
    pub public_url_derived: bool,
    pub benchmark_routes: bool,
    pub max_connections: usize,
    pub request_timeout: Duration,
    pub keep_alive: Duration,
    /// The peers whose forwarding headers name the client (the throttle, the audit and the
    /// logs then use that address).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    pub cors: CorsConfig,
    /// HTTPS on `listen`; plain HTTP when `None`.
    pub tls: Option<super::TlsConfig>,
    /// Where `/metrics` is served instead of on `listen`.
    pub metrics_listen: Option<SocketAddr>,
}

impl ServerConfig {
    pub fn realm(&self) -> String {
        format!("{}/token", self.public_url)
    }

    /// A realm that takes passwords over plain HTTP from other hosts, with no TLS here: right
    /// only behind a proxy that terminates TLS, and then the public URL would say https.
    pub fn cleartext_warning(&self) -> Option<String> {
        let url = &self.public_url;
        let rest = url.strip_prefix("http://")?;
        let host = rest.split(['/', ':']).next().unwrap_or("");
        let local = host == "localhost"
            || host.starts_with("127.")
            || rest.starts_with("[::1]")
            || self.listen.ip().is_loopback();
        if self.tls.is_some() || local {
            return None;
        }
        Some(format!(
            "the realm {url}/token is plain HTTP: passwords and tokens cross the network in clear; set server.tls.cert_file and key_file, or, behind a proxy that terminates TLS, an https:// server.public_url"
        ))
    }
}

pub(super) fn parse(raw: &RawServer, o: &Origins) -> Result<ServerConfig, ConfigError> {
    let err = |key: &str, problem: String, fix: &str| o.error(key, problem, fix);
    let duration = |key: &str, value: &str| o.duration(key, value);
    let listen: SocketAddr = raw.listen.trim().parse().map_err(|_| {
        err(
            "server.listen",
            format!("{:?} is not an IP address and port", raw.listen),
            "use a form like 127.0.0.1:5001 or 0.0.0.0:5001 (a host name is not accepted here)",
        )
    })?;
    let tls = super::tls::parse(&raw.tls, o)?;
    let (public_url, public_url_derived) = if raw.public_url.trim().is_empty() {
        let host = if listen.ip().is_loopback() || listen.ip().is_unspecified() {
            // `localhost`, not 127.0.0.1: go-containerregistry (crane) refuses a realm on a
            // loopback IP address but accepts the name.
            "localhost".to_string()
        } else if listen.is_ipv6() {
            format!("[{}]", listen.ip())
        } else {
            listen.ip().to_string()
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        (format!("{scheme}://{host}:{}", listen.port()), true)
    } else {
        let url = raw.public_url.trim().trim_end_matches('/').to_string();
        let rest = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"))
            .ok_or_else(|| {
                err(
                    "server.public_url",
                    format!("{url:?} is not an http:// or https:// URL"),
                    "set the URL the registry's clients reach portcullis at, e.g. https://auth.example.com",
                )
            })?;
        if rest.is_empty() || rest.contains(['?', '#', ' ']) {
            return Err(err(
                "server.public_url",
                format!("{url:?} has no host, or has a query or fragment"),
                "give scheme, host, optional port and optional path prefix only",
            ));
        }
        if tls.is_some() && url.starts_with("http://") {
            return Err(err(
                "server.public_url",
                format!("{url:?} is plain HTTP while server.tls serves HTTPS"),
                "write the public URL with https://",
            ));
        }
        (url, false)
    };

    let max_connections =
        match raw.max_connections {
            n if (16..=1_000_000).contains(&n) => n as usize,
            n => return Err(err(
                "server.max_connections",
                format!("{n} is out of range"),
                "use 16 to 1000000; it must stay under the process's open-file limit (ulimit -n)",
            )),
        };
    let request_timeout = duration("server.request_timeout", &raw.request_timeout)?;
    if request_timeout < Duration::from_secs(1) || request_timeout > Duration::from_secs(300) {
        return Err(err(
            "server.request_timeout",
            format!("{} is out of range", raw.request_timeout),
            "use 1s to 5m; a token request is a few hundred bytes, 10s is plenty",
        ));
    }
    let keep_alive = duration("server.keep_alive", &raw.keep_alive)?;
    if keep_alive > Duration::from_secs(3600) {
        return Err(err(
            "server.keep_alive",
            format!("{} is more than 1h", raw.keep_alive),
            "use 0s (close after each request) to 1h; 5s is usual",
        ));
    }
    let mut trusted_proxies = Vec::new();
    for entry in &raw.trusted_proxies {
        let e = entry.trim();
        let net = e
            .parse::<ipnet::IpNet>()
            .or_else(|_| e.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map_err(|_| {
                err(
                    "server.trusted_proxies",
                    format!("{e:?} is not an IP address or CIDR"),
                    "list the load balancers in front of portcullis, e.g. [\"10.0.0.0/8\", \"192.0.2.10\"]",
                )
            })?;
        if net.prefix_len() == 0 {
            return Err(err(
                "server.trusted_proxies",
                format!("{e:?} trusts every address"),
                "list only the proxies in front of portcullis: with everyone trusted, any client could name any address and escape the throttle",
            ));
        }
        trusted_proxies.push(net.trunc());
    }
    let cors = cors(&raw.cors, o)?;
    let metrics_listen = match raw.metrics_listen.trim() {
        "" => None,
        m => {
            let addr: SocketAddr = m.parse().map_err(|_| {
                err(
                    "server.metrics_listen",
                    format!("{m:?} is not an IP address and port"),
                    "use a form like 127.0.0.1:9464, or leave it empty to serve /metrics on server.listen",
                )
            })?;
            if addr == listen {
                return Err(err(
                    "server.metrics_listen",
                    format!("{m} is server.listen itself"),
                    "give another port, or leave it empty to serve /metrics on server.listen",
                ));
            }
            Some(addr)
        }
    };
    Ok(ServerConfig {
        listen,
        public_url,
        public_url_derived,
        benchmark_routes: raw.benchmark_routes,
        max_connections,
        request_timeout,
        keep_alive,
        trusted_proxies,
        cors,
        tls,
        metrics_listen,
    })
}

fn cors(raw: &RawCors, o: &Origins) -> Result<CorsConfig, ConfigError> {
    let err = |key: &str, problem: String, fix: &str| o.error(key, problem, fix);
    let mut c = CorsConfig {
        allow_credentials: raw.allow_credentials,
        max_age: if raw.max_age.trim().is_empty() {
            Duration::from_secs(600)
        } else {
            o.duration("server.cors.max_age", &raw.max_age)?
        },
        ..CorsConfig::default()
    };
    for origin in &raw.allowed_origins {
        let origin = origin.trim();
        if origin == "*" {
            c.any_origin = true;
            continue;
        }
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ', '*']) => {
                c.allowed_origins.push(origin.to_owned())
            }
            _ => {
                return Err(err(
                    "server.cors.allowed_origins",
                    format!("{origin:?} is not an origin"),
                    "write scheme, host and port only, as browsers send them: \"https://ui.example.com\" or \"http://localhost:8080\" (no path, no trailing slash, no wildcard in the name)",
                ))
            }
        }
    }
    if c.any_origin && c.allow_credentials {
        return Err(err(
            "server.cors.allow_credentials",
            "credentials cannot be allowed to every origin (\"*\")".into(),
            "list the origins that may send credentials in server.cors.allowed_origins, or set allow_credentials = false",
        ));
    }
    if c.any_origin && !c.allowed_origins.is_empty() {
        return Err(err(
            "server.cors.allowed_origins",
            "\"*\" and named origins together".into(),
            "give either \"*\" alone, or the origins",
        ));
    }
    Ok(c)
}
