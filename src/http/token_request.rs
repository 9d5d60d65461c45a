//! `/token` requests, parsed once from the wire: `GET` (query + Basic) and `POST` (OAuth2
//! form). Pure functions over strings, so every error path is table-tested without a server.
//!
//! Parameters are read as a list of pairs, not into a struct: `scope` repeats (containers/image
//! sends one form field per scope, crane one query parameter per scope), and serde_urlencoded
//! cannot collect repeated keys. Unknown parameters are ignored, as the spec asks (regclient
//! stopped sending `offline_token` after a server refused it).

use std::borrow::Cow;

use data_encoding::BASE64;
use secrecy::SecretString;

use crate::domain::{parse_scope_list, Scope};
pub use crate::token_service::{Credentials, TokenRequest, ACCOUNT_MISMATCH};

/// Longest username and password accepted (longer is refused before any hashing).
const MAX_USERNAME: usize = 256;
const MAX_PASSWORD: usize = 4096;
/// Longest form body accepted.
pub const MAX_REQUEST_BYTES: usize = 64 * 1024;
/// Longest query string accepted. (actix-web itself refuses request heads over ~32 KiB
/// with a bare 400 before any handler runs; below that, the refusal is ours and explains.)
pub const MAX_QUERY_BYTES: usize = 16 * 1024;

/// Which endpoint shape the response must take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `GET`: `token` + `access_token`; refresh token when `offline_token=true`.
    Get,
    /// `POST` OAuth2: also `scope`; refresh token when `access_type=offline`.
    Post,
}

/// A request parsed from the wire: the answer's shape, and the request for the token flow.
#[derive(Debug)]
pub struct Parsed {
    pub flavor: Flavor,
    pub request: TokenRequest,
}

/// A request we refuse before authenticating: status, registry error code, message.
#[derive(Debug, PartialEq, Eq)]
pub struct RequestError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl RequestError {
    fn bad(code: &'static str, message: impl Into<String>) -> RequestError {
        RequestError {
            status: 400,
            code,
            message: message.into(),
        }
    }

    fn unauthorized(message: impl Into<String>) -> RequestError {
        RequestError {
            status: 401,
            code: "UNAUTHORIZED",
            message: message.into(),
        }
    }
}

struct Params<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl<'a> Params<'a> {
    /// `application/x-www-form-urlencoded` pairs, decoded exactly as the `form_urlencoded`
    /// crate decodes them (a test compares the two on every kind of input). Ours checks the
    /// input is UTF-8 once, borrows every piece that holds no escape and allocates only for
    /// the others: on a refresh-token request's five fields the crate's parse cost about
    /// 8,000 instructions, this one 3,000 (callgrind, per request).
    fn parse(input: &'a [u8]) -> Params<'a> {
        // The delimiters are ASCII, so every piece of a UTF-8 input is UTF-8 too.
        let text = std::str::from_utf8(input).ok();
        let decode = |from: usize, to: usize| -> Cow<'a, str> {
            match text {
                Some(text) if find_escape(&input[from..to]).is_none() => {
                    Cow::Borrowed(&text[from..to])
                }
                _ => form_decode(&input[from..to]),
            }
        };
        let mut pairs = Vec::with_capacity(8);
        let mut start = 0;
        while start < input.len() {
            let end = memchr::memchr(b'&', &input[start..]).map_or(input.len(), |at| start + at);
            if end > start {
                let eq = input[start..end].iter().position(|&b| b == b'=');
                let (key_end, value_start) = match eq {
                    Some(at) => (start + at, start + at + 1),
                    None => (end, end),
                };
                pairs.push((decode(start, key_end), decode(value_start, end)));
            }
            start = end + 1;
        }
        Params(pairs)
    }

    /// The single value of `key`; repeating it with different values is an error.
    fn one(&self, key: &str) -> Result<Option<&str>, RequestError> {
        let mut found: Option<&str> = None;
        for (k, v) in &self.0 {
            if k == key {
                match found {
                    Some(prev) if prev != v => {
                        return Err(RequestError::bad(
                            "BAD_TOKEN_OPTION",
                            format!("parameter {key:?} is given twice with different values"),
                        ))
                    }
                    _ => found = Some(v),
                }
            }
        }
        Ok(found)
    }

    fn non_empty(&self, key: &str) -> Result<Option<String>, RequestError> {
        Ok(self.one(key)?.filter(|v| !v.is_empty()).map(str::to_owned))
    }

    fn scopes(&self) -> Result<Vec<Scope>, RequestError> {
        parse_scope_list(
            self.0
                .iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.as_ref()),
        )
        .map_err(|e| RequestError::bad("INVALID_SCOPE", e.to_string()))
    }
}

/// One form-encoded key or value: `+` is a space, `%XX` a byte (a `%` not followed by two hex
/// digits stays as it is), and bytes that are not UTF-8 become U+FFFD.
fn form_decode(raw: &[u8]) -> Cow<'_, str> {
    let Some(first) = find_escape(raw) else {
        return match std::str::from_utf8(raw) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(raw),
        };
    };
    let hex = |b: &u8| (*b as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(raw.len());
    out.extend_from_slice(&raw[..first]);
    let mut rest = &raw[first..];
    loop {
        // `rest` starts with `%` or `+`.
        if rest[0] == b'+' {
            out.push(b' ');
            rest = &rest[1..];
        } else {
            match (rest.get(1).and_then(hex), rest.get(2).and_then(hex)) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    rest = &rest[3..];
                }
                _ => {
                    out.push(b'%');
                    rest = &rest[1..];
                }
            }
        }
        match find_escape(rest) {
            Some(at) => {
                out.extend_from_slice(&rest[..at]);
                rest = &rest[at..];
            }
            None => {
                out.extend_from_slice(rest);
                break;
            }
        }
    }
    match String::from_utf8(out) {
        Ok(s) => Cow::Owned(s),
        Err(e) => Cow::Owned(String::from_utf8_lossy(e.as_bytes()).into_owned()),
    }
}

/// Where the first `%` or `+` is. Most keys and values are short, and scanning those
/// directly is cheaper than setting up a vector search.
fn find_escape(raw: &[u8]) -> Option<usize> {
    if raw.len() < 32 {
        raw.iter().position(|&b| b == b'%' || b == b'+')
    } else {
        memchr::memchr2(b'%', b'+', raw)
    }
}

/// `GET /token?service=…&scope=…&offline_token=…&client_id=…&account=…` with optional Basic
/// (`authorization`: every `Authorization` header sent; more than one is refused, since which
/// of them would count is anybody's guess).
pub fn parse_get(query: &str, authorization: &[&[u8]]) -> Result<Parsed, RequestError> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(RequestError::bad(
            "SIZE_INVALID",
            format!("the query string is longer than {MAX_QUERY_BYTES} bytes"),
        ));
    }
    let p = Params::parse(query.as_bytes());
    let offline = match p.one("offline_token")? {
        None | Some("") => false,
        Some(v) => parse_go_bool(v).ok_or_else(|| {
            RequestError::bad(
                "BAD_TOKEN_OPTION",
                format!("offline_token must be true or false, not {v:?}"),
            )
        })?,
    };
    let credentials = match authorization {
        [] => Credentials::Anonymous,
        [h] => parse_basic(h)?,
        many => {
            return Err(RequestError::bad(
                "BAD_REQUEST",
                format!(
                    "the Authorization header is sent {} times: send it once",
                    many.len()
                ),
            ))
        }
    };
    let account = p.non_empty("account")?;
    check_account(account.as_deref(), &credentials)?;
    Ok(Parsed {
        flavor: Flavor::Get,
        request: TokenRequest {
            credentials,
            service: p.non_empty("service")?,
            scopes: p.scopes()?,
            offline,
            client_id: p.non_empty("client_id")?,
            account,
        },
    })
}

/// `POST /token`, `application/x-www-form-urlencoded` (any charset parameter), grant types
/// `password` and `refresh_token`.
pub fn parse_post(content_type: Option<&str>, body: &[u8]) -> Result<Parsed, RequestError> {
    let mime = content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(RequestError::bad(
            "UNSUPPORTED_VALUE",
            "POST /token takes an application/x-www-form-urlencoded body (OAuth2 password or refresh_token grant)",
        ));
    }
    if body.len() > MAX_REQUEST_BYTES {
        return Err(RequestError::bad(
            "SIZE_INVALID",
            "the request body is too large",
        ));
    }
    let p = Params::parse(body);
    let required = |key: &str| {
        p.non_empty(key)?.ok_or_else(|| {
            RequestError::bad(
                "MISSING_REQUIRED_FIELD",
                format!("the form field {key:?} is required"),
            )
        })
    };
    let credentials = match p.one("grant_type")? {
        None | Some("") => {
            return Err(RequestError::bad(
                "MISSING_REQUIRED_FIELD",
                "the form field \"grant_type\" is required (password or refresh_token)",
            ))
        }
        Some("password") => {
            let username = required("username")?;
            let password = required("password")?;
            check_lengths(&username, &password)?;
            Credentials::Password {
                username,
                password: SecretString::from(password),
            }
        }
        Some("refresh_token") => {
            let token = required("refresh_token")?;
            if token.len() > MAX_PASSWORD {
                return Err(RequestError::unauthorized("invalid refresh token"));
            }
            Credentials::RefreshToken(SecretString::from(token))
        }
        Some(other) => {
            return Err(RequestError::bad(
                "UNSUPPORTED_VALUE",
                format!(
                    "grant_type {:?} is not supported (use password or refresh_token)",
                    truncate(other)
                ),
            ))
        }
    };
    let offline = match p.one("access_type")? {
        None | Some("") | Some("online") => false,
        Some("offline") => true,
        Some(v) => {
            return Err(RequestError::bad(
                "BAD_TOKEN_OPTION",
                format!(
                    "access_type must be online or offline, not {:?}",
                    truncate(v)
                ),
            ))
        }
    };
    let account = p.non_empty("account")?;
    check_account(account.as_deref(), &credentials)?;
    Ok(Parsed {
        flavor: Flavor::Post,
        request: TokenRequest {
            credentials,
            service: p.non_empty("service")?,
            scopes: p.scopes()?,
            offline,
            client_id: p.non_empty("client_id")?,
            account,
        },
    })
}

/// `account` is a hint docker and containers/image send; it must not contradict the user
/// of the credentials, or the request is confused about who it is for. (A refresh token's
/// owner is known only once it is looked up: the token flow checks that.)
fn check_account(account: Option<&str>, credentials: &Credentials) -> Result<(), RequestError> {
    match (account, credentials) {
        (Some(account), Credentials::Password { username, .. }) if account != username => {
            Err(RequestError::bad("BAD_TOKEN_OPTION", ACCOUNT_MISMATCH))
        }
        _ => Ok(()),
    }
}

/// `Basic base64(user:password)`. An empty user with a secret is an identity token, as
/// containerd sends it on its GET fallback.
fn parse_basic(header: &[u8]) -> Result<Credentials, RequestError> {
    let malformed =
        |why: &str| RequestError::unauthorized(format!("malformed Authorization header: {why}"));
    let header = std::str::from_utf8(header)
        .map_err(|_| malformed("not text"))?
        .trim();
    let (scheme, value) = header
        .split_once(' ')
        .ok_or_else(|| malformed("expected `Basic <credentials>`"))?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(malformed("only the Basic scheme is accepted here"));
    }
    let value = value.trim();
    if value.len() > 2 * (MAX_USERNAME + MAX_PASSWORD) {
        return Err(malformed("credentials too long"));
    }
    let decoded = BASE64
        .decode(value.as_bytes())
        .or_else(|_| data_encoding::BASE64_NOPAD.decode(value.as_bytes()))
        .map_err(|_| malformed("credentials are not base64"))?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed("credentials are not UTF-8"))?;
    let (username, password) = decoded
        .split_once(':')
        .ok_or_else(|| malformed("no ':' between user and password"))?;
    check_lengths(username, password)?;
    match (username.is_empty(), password.is_empty()) {
        (_, true) => Err(RequestError::unauthorized("invalid username or password")),
        (true, false) => Ok(Credentials::RefreshToken(SecretString::from(
            password.to_owned(),
        ))),
        (false, false) => Ok(Credentials::Password {
            username: username.to_owned(),
            password: SecretString::from(password.to_owned()),
        }),
    }
}

fn check_lengths(username: &str, password: &str) -> Result<(), RequestError> {
    if username.len() > MAX_USERNAME || password.len() > MAX_PASSWORD {
        return Err(RequestError::unauthorized("invalid username or password"));
    }
    Ok(())
}

/// Go's `strconv.ParseBool`, which the reference token server uses for `offline_token`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

fn truncate(s: &str) -> String {
    s.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn basic(user: &str, pass: &str) -> Vec<u8> {
        format!(
            "Basic {}",
            BASE64.encode(format!("{user}:{pass}").as_bytes())
        )
        .into_bytes()
    }

    #[test]
    fn a_docker_login_request_parses() {
        let r = parse_get(
            "account=alice&client_id=docker&offline_token=true&service=registry.local",
            &[&basic("alice", "pw")],
        )
        .unwrap();
        assert_eq!(r.request.service.as_deref(), Some("registry.local"));
        assert!(r.request.offline);
        assert!(r.request.scopes.is_empty());
        assert_eq!(r.request.client_id.as_deref(), Some("docker"));
        let Credentials::Password { username, password } = r.request.credentials else {
            panic!()
        };
        assert_eq!(
            (username.as_str(), password.expose_secret()),
            ("alice", "pw")
        );
    }

    #[test]
    fn repeated_and_plus_separated_scopes_are_all_read() {
        let r = parse_get(
            "scope=repository:a:pull&scope=repository:b:pull+repository:c:push&scope=repository%3Aa%3Apush",
            &[],
        )
        .unwrap();
        let got: Vec<String> = r.request.scopes.iter().map(|s| s.to_string()).collect();
        assert_eq!(
            got,
            [
                "repository:a:pull,push",
                "repository:b:pull",
                "repository:c:push"
            ]
        );
        assert!(matches!(r.request.credentials, Credentials::Anonymous));
    }

    #[test]
    fn an_empty_service_counts_as_absent() {
        assert_eq!(parse_get("service=", &[]).unwrap().request.service, None);
    }

    #[test]
    fn an_empty_basic_user_carries_an_identity_token() {
        let r = parse_get("", &[&basic("", "pcr_abc")]).unwrap();
        let Credentials::RefreshToken(t) = r.request.credentials else {
            panic!()
        };
        assert_eq!(t.expose_secret(), "pcr_abc");
    }

    #[test]
    fn get_error_paths_are_4xx_with_a_reason() {
        let long = format!("scope={}", "a".repeat(MAX_QUERY_BYTES));
        let cases: Vec<(&str, Option<Vec<u8>>, u16, &str)> = vec![
            ("offline_token=maybe", None, 400, "BAD_TOKEN_OPTION"),
            ("scope=repository:App:pull", None, 400, "INVALID_SCOPE"),
            ("scope=nonsense", None, 400, "INVALID_SCOPE"),
            ("service=a&service=b", None, 400, "BAD_TOKEN_OPTION"),
            (
                "account=bob",
                Some(basic("alice", "pw")),
                400,
                "BAD_TOKEN_OPTION",
            ),
            (long.as_str(), None, 400, "SIZE_INVALID"),
            (
                "",
                Some(b"Basic !!!notbase64".to_vec()),
                401,
                "UNAUTHORIZED",
            ),
            ("", Some(b"Basic".to_vec()), 401, "UNAUTHORIZED"),
            (
                "",
                Some(format!("Basic {}", BASE64.encode(b"nocolon")).into_bytes()),
                401,
                "UNAUTHORIZED",
            ),
            ("", Some(b"Bearer abc".to_vec()), 401, "UNAUTHORIZED"),
            ("", Some(basic("alice", "")), 401, "UNAUTHORIZED"),
            (
                "",
                Some(basic(&"u".repeat(MAX_USERNAME + 1), "pw")),
                401,
                "UNAUTHORIZED",
            ),
            ("", Some(vec![0xff, 0xfe]), 401, "UNAUTHORIZED"),
        ];
        for (query, auth, status, code) in cases {
            let e = parse_get(
                query,
                &auth.iter().map(|a| a.as_slice()).collect::<Vec<_>>(),
            )
            .expect_err(&format!("{:.60} should fail", query));
            assert_eq!(
                (e.status, e.code),
                (status, code),
                "{:.60}: {}",
                query,
                e.message
            );
            assert!(!e.message.is_empty());
        }
    }

    #[test]
    fn two_authorization_headers_are_refused() {
        let e = parse_get("", &[&basic("alice", "pw"), &basic("bob", "pw")]).unwrap_err();
        assert_eq!((e.status, e.code), (400, "BAD_REQUEST"), "{}", e.message);
        let e = parse_get("", &[&basic("alice", "pw"), &basic("alice", "pw")]).unwrap_err();
        assert_eq!(e.status, 400, "even when they are the same");
    }

    #[test]
    fn an_account_naming_someone_else_is_refused_on_post_too() {
        let e = parse_post(
            FORM,
            b"grant_type=password&username=alice&password=pw&account=bob",
        )
        .unwrap_err();
        assert_eq!((e.status, e.code), (400, "BAD_TOKEN_OPTION"));
        let r = parse_post(
            FORM,
            b"grant_type=refresh_token&refresh_token=pcr_x&account=bob",
        )
        .unwrap();
        assert_eq!(
            r.request.account.as_deref(),
            Some("bob"),
            "kept for the token flow to check against the token's owner"
        );
    }

    #[test]
    fn the_account_hint_may_match_or_be_absent() {
        assert!(parse_get("account=alice", &[&basic("alice", "pw")]).is_ok());
        assert!(
            parse_get("account=alice", &[]).is_ok(),
            "ignored for anonymous requests"
        );
    }

    #[test]
    fn go_bools_are_accepted_for_offline_token() {
        for (v, want) in [
            ("1", true),
            ("t", true),
            ("True", true),
            ("0", false),
            ("FALSE", false),
        ] {
            assert_eq!(
                parse_get(&format!("offline_token={v}"), &[])
                    .unwrap()
                    .request
                    .offline,
                want,
                "{v}"
            );
        }
    }

    #[test]
    fn form_fields_decode_exactly_as_the_form_urlencoded_crate_decodes_them() {
        let mut cases: Vec<Vec<u8>> = [
            "a=b&c=d",
            "scope=repository%3Ateam%2Fapp%3Apull%2Cpush&service=x",
            "a+b=c+d&%2B=%2b",
            "&&a&=b&c==d&",
            "bad=%&x=%4&y=%zz&z=%4G&w=%%41",
            "utf8=%C3%A9%E9%8B%BC&lone=%C3&e=\u{e9}",
            "trail=%",
            "",
        ]
        .iter()
        .map(|s| s.as_bytes().to_vec())
        .collect();
        cases.push(b"raw=\xff\xfe&k\x80=v".to_vec());
        // Every short string over an alphabet of the characters that matter.
        let alphabet = b"a=&+%4Fz\xc3\xa9";
        for n in 0..=4u32 {
            for i in 0..alphabet.len().pow(n) {
                let mut x = i;
                let case: Vec<u8> = (0..n)
                    .map(|_| {
                        let b = alphabet[x % alphabet.len()];
                        x /= alphabet.len();
                        b
                    })
                    .collect();
                cases.push(case);
            }
        }
        for case in &cases {
            let ours: Vec<(String, String)> = Params::parse(case)
                .0
                .into_iter()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            let theirs: Vec<(String, String)> = form_urlencoded::parse(case)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            assert_eq!(ours, theirs, "{:?}", String::from_utf8_lossy(case));
        }
    }

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");

    #[test]
    fn post_password_and_refresh_grants_parse_with_any_charset() {
        let r = parse_post(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            b"grant_type=password&username=alice&password=p%26w&service=s&client_id=containerd-client&access_type=offline&scope=repository:a:pull+repository:b:push",
        )
        .unwrap();
        assert_eq!(r.flavor, Flavor::Post);
        assert!(r.request.offline);
        assert_eq!(r.request.scopes.len(), 2);
        let Credentials::Password { password, .. } = r.request.credentials else {
            panic!()
        };
        assert_eq!(password.expose_secret(), "p&w");

        let r = parse_post(FORM, b"grant_type=refresh_token&refresh_token=pcr_x&scope=repository:a:pull&scope=repository:b:pull").unwrap();
        assert!(matches!(
            r.request.credentials,
            Credentials::RefreshToken(_)
        ));
        assert_eq!(
            r.request.scopes.len(),
            2,
            "containers/image repeats the scope field"
        );
    }

    #[test]
    fn post_error_paths_are_4xx_with_a_reason() {
        let big = vec![b'a'; MAX_REQUEST_BYTES + 1];
        let cases: Vec<(Option<&str>, &[u8], u16, &str)> = vec![
            (Some("application/json"), b"{}", 400, "UNSUPPORTED_VALUE"),
            (None, b"grant_type=password", 400, "UNSUPPORTED_VALUE"),
            (FORM, b"", 400, "MISSING_REQUIRED_FIELD"),
            (
                FORM,
                b"grant_type=password&username=a",
                400,
                "MISSING_REQUIRED_FIELD",
            ),
            (
                FORM,
                b"grant_type=password&password=a",
                400,
                "MISSING_REQUIRED_FIELD",
            ),
            (
                FORM,
                b"grant_type=refresh_token",
                400,
                "MISSING_REQUIRED_FIELD",
            ),
            (
                FORM,
                b"grant_type=authorization_code&code=x",
                400,
                "UNSUPPORTED_VALUE",
            ),
            (
                FORM,
                b"grant_type=client_credentials",
                400,
                "UNSUPPORTED_VALUE",
            ),
            (
                FORM,
                b"grant_type=password&username=a&password=b&access_type=forever",
                400,
                "BAD_TOKEN_OPTION",
            ),
            (
                FORM,
                b"grant_type=password&username=a&password=b&scope=bad",
                400,
                "INVALID_SCOPE",
            ),
            (FORM, &big, 400, "SIZE_INVALID"),
        ];
        for (ct, body, status, code) in cases {
            let e = parse_post(ct, body).expect_err(&format!(
                "{:.60} should fail",
                String::from_utf8_lossy(body)
            ));
            assert_eq!(
                (e.status, e.code),
                (status, code),
                "{:.60}: {}",
                String::from_utf8_lossy(body),
                e.message
            );
        }
    }
}
