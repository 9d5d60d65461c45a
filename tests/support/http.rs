//! A tiny blocking HTTP/1.1 client over `std::net::TcpStream` (plain http only), enough to
//! probe servers and to look at exact status codes, headers and bodies in tests.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::thread;
use std::time::{Duration, Instant};

use super::encoding::base64_encode;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Per-request timeout of readiness probes (`wait_for_http*`).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A complete HTTP response (the body de-chunked).
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub reason: String,
    /// Header names as sent, in order; look them up with [`HttpResponse::header`].
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The first header called `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Every header called `name` (case-insensitive), in order.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; panics with status and body when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "response body is not JSON ({e}); status {}: {}",
                self.status,
                self.text()
            )
        })
    }
}

/// The value of an `Authorization` header for HTTP Basic auth.
pub fn basic_auth(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64_encode(format!("{user}:{password}").as_bytes())
    )
}

fn invalid(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, msg)
}

/// Splits `http://host[:port]/path?query` into (host header, socket address, path+query).
fn parse_url(url: &str) -> io::Result<(String, SocketAddr, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| invalid(format!("only http:// URLs are supported: {url}")))?;
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
        Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
        None => (rest, "/".to_string()),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid(format!("unsupported authority in {url}")));
    }
    let with_port = if authority.starts_with('[') {
        if authority.contains("]:") {
            authority.to_string()
        } else {
            format!("{authority}:80")
        }
    } else if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    // IPv4 first: the servers under test listen on 127.0.0.1, and `localhost` may resolve
    // to ::1 first.
    let addrs: Vec<_> = with_port.to_socket_addrs()?.collect();
    let addr = addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| invalid(format!("cannot resolve {authority}")))?;
    Ok((authority.to_string(), addr, path))
}

/// Sends one request (`Connection: close`) and reads the whole response. `headers` are sent
/// as given (add `Content-Type` yourself); `Host`, `Content-Length` (when there is a body)
/// and `Connection` are added. Errors are connection/IO/parse errors, not HTTP statuses.
pub fn http_request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> io::Result<HttpResponse> {
    http_request_timeout(method, url, headers, body, IO_TIMEOUT)
}

/// [`http_request`] with `timeout` for connecting and for each read/write (default 30 s).
pub fn http_request_timeout(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
    timeout: Duration,
) -> io::Result<HttpResponse> {
    let (host, addr, path) = parse_url(url)?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout.min(CONNECT_TIMEOUT))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    stream.write_all(&bytes)?;
    stream.flush()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    parse_response(&raw, method.eq_ignore_ascii_case("HEAD"))
}

/// `POST {base}/token` with `grant_type=refresh_token` for `service`, as docker and
/// skopeo exchange an identity token for an access token.
pub fn refresh_grant(base: &str, service: &str, refresh: &str) -> io::Result<HttpResponse> {
    http_request(
        "POST",
        &format!("{base}/token"),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(
            format!("grant_type=refresh_token&service={service}&refresh_token={refresh}")
                .as_bytes(),
        ),
    )
}

/// `GET url` with extra `headers` (e.g. `("Authorization", &basic_auth(u, p))`).
pub fn http_get(url: &str, headers: &[(&str, &str)]) -> io::Result<HttpResponse> {
    http_request("GET", url, headers, None)
}

fn parse_response(raw: &[u8], head_only: bool) -> io::Result<HttpResponse> {
    let bad = |m: &str| io::Error::new(io::ErrorKind::InvalidData, m.to_string());
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("incomplete HTTP response (no end of headers)"))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/") {
        return Err(bad(&format!("bad status line: {status_line}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad(&format!("bad status line: {status_line}")))?;
    let reason = parts.next().unwrap_or_default().to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    if head_only || status == 204 || status == 304 || (100..200).contains(&status) {
        body.clear();
    } else if chunked {
        body = dechunk(&body).ok_or_else(|| bad("malformed chunked body"))?;
    } else if let Some(len) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse::<usize>().ok())
    {
        if body.len() < len {
            return Err(bad("response body shorter than Content-Length"));
        }
        body.truncate(len);
    }
    Ok(HttpResponse {
        status,
        reason,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = data.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..line_end]).ok()?;
        let size_text = size_text.split(';').next()?.trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        if data.len() < size + 2 {
            return None;
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// Polls `url` until it returns a complete HTTP response (any status) and returns it;
/// panics after `timeout`.
pub fn wait_for_http(url: &str, timeout: Duration) -> HttpResponse {
    wait_for_http_status(url, timeout, &[])
}

/// Polls `url` until it answers with one of `ok_statuses` (any status if empty); panics
/// after `timeout` with the last status or error.
pub fn wait_for_http_status(url: &str, timeout: Duration, ok_statuses: &[u16]) -> HttpResponse {
    let deadline = Instant::now() + timeout;
    loop {
        let last = match http_request_timeout("GET", url, &[], None, PROBE_TIMEOUT) {
            Ok(r) if ok_statuses.is_empty() || ok_statuses.contains(&r.status) => return r,
            Ok(r) => format!("status {} {}", r.status, r.text()),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            panic!("{url} did not answer {ok_statuses:?} within {timeout:?}; last: {last}");
        }
        thread::sleep(Duration::from_millis(50));
    }
}
