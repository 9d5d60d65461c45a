//! The client's address: the TCP peer, or, when the peer is a proxy the operator trusts
//! (`server.trusted_proxies`), the address the proxy says it forwarded for (`Forwarded`,
//! RFC 7239, else `X-Forwarded-For`). It is what the throttle, the audit and the logs use.
//!
//! A forwarding header is taken from a trusted peer only: anyone else could name any address
//! in it (and so escape the throttle, or put someone else's address in the audit). Read
//! from the right, each hop is added by the proxy before it; the first address that is not a
//! trusted proxy is the client. Anything unreadable stops the walk at the last address read
//! (a proxy of ours), never at an address the client wrote.

use std::net::IpAddr;

use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;
use ipnet::IpNet;

#[derive(Clone, Debug, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(nets: Vec<IpNet>) -> TrustedProxies {
        TrustedProxies(nets)
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for `req`.
    pub fn client_ip(&self, req: &HttpRequest) -> Option<IpAddr> {
        let peer = canonical(req.peer_addr()?.ip());
        Some(self.resolve(peer, req.headers()))
    }

    /// Whether `req` came through a trusted proxy (its `X-Forwarded-*` may be read).
    pub fn via_trusted_proxy(&self, req: &HttpRequest) -> bool {
        !self.0.is_empty() && req.peer_addr().is_some_and(|p| self.trusts(p.ip()))
    }

    fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if self.0.is_empty() || !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers);
        let mut last = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.trusts(*ip) => last = *ip,
                Some(ip) => return *ip,
                None => return last,
            }
        }
        last
    }
}

/// An IPv4 address mapped into IPv6 is the IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    }
}

/// The `for=` addresses of `Forwarded`, else the addresses of `X-Forwarded-For`, in order
/// (nearest hop last); `None` for one that is not an address (`unknown`, `_hidden`, junk).
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let forwarded: Vec<&str> = headers
        .get_all("forwarded")
        .filter_map(|v| v.to_str().ok())
        .collect();
    if !forwarded.is_empty() {
        let mut out = Vec::new();
        for element in forwarded.iter().flat_map(|v| v.split(',')) {
            let value = element.split(';').find_map(|pair| {
                let (k, v) = pair.split_once('=')?;
                k.trim().eq_ignore_ascii_case("for").then(|| v.trim())
            });
            // An element without `for=` is a hop that did not say: unreadable.
            out.push(value.and_then(address));
        }
        return out;
    }
    headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|s| address(s.trim()))
        .collect()
}

/// `192.0.2.1`, `192.0.2.1:4711`, `"[2001:db8::1]:4711"`, `2001:db8::1`.
fn address(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok().map(canonical);
    }
    let (host, port) = s.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn proxies() -> TrustedProxies {
        TrustedProxies::new(vec![
            "10.0.0.0/8".parse().unwrap(),
            "127.0.0.2/32".parse().unwrap(),
        ])
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_forwarded_address_is_believed_only_from_a_trusted_peer() {
        let h = headers(&[("x-forwarded-for", "203.0.113.7")]);
        assert_eq!(proxies().resolve(ip("127.0.0.2"), &h), ip("203.0.113.7"));
        assert_eq!(proxies().resolve(ip("127.0.0.3"), &h), ip("127.0.0.3"));
        assert_eq!(
            TrustedProxies::default().resolve(ip("127.0.0.2"), &h),
            ip("127.0.0.2")
        );
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right_whatever_it_wrote_to_the_left() {
        // The client forged "1.2.3.4"; the proxies appended what they saw.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.9, 10.1.1.1")]);
        assert_eq!(proxies().resolve(ip("10.2.2.2"), &h), ip("198.51.100.9"));
        // Several header lines are one list.
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "198.51.100.9"),
        ]);
        assert_eq!(proxies().resolve(ip("10.2.2.2"), &h), ip("198.51.100.9"));
        // Junk stops the walk at the last proxy, never at an address the client chose.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, junk, 10.1.1.1")]);
        assert_eq!(proxies().resolve(ip("10.2.2.2"), &h), ip("10.1.1.1"));
    }

    #[test]
    fn forwarded_is_read_with_ports_quotes_and_ipv6_and_wins_over_x_forwarded_for() {
        let h = headers(&[
            (
                "forwarded",
                r#"for=1.2.3.4, for="[2001:db8::7]:4711";proto=https"#,
            ),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(proxies().resolve(ip("127.0.0.2"), &h), ip("2001:db8::7"));
        let h = headers(&[("forwarded", "for=192.0.2.60:8080;by=10.0.0.1")]);
        assert_eq!(proxies().resolve(ip("127.0.0.2"), &h), ip("192.0.2.60"));
        let h = headers(&[("forwarded", "for=unknown")]);
        assert_eq!(proxies().resolve(ip("127.0.0.2"), &h), ip("127.0.0.2"));
        // A peer seen as an IPv4-mapped IPv6 address is its IPv4 address.
        assert!(proxies().trusts(ip("::ffff:127.0.0.2")));
    }
}
