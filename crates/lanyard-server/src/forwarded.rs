//! The caller's address behind load balancers: `Forwarded` (RFC 7239) or `X-Forwarded-For`
//! is believed only when the socket peer is a configured trusted proxy, and then only up to
//! the right-most address that is not itself a trusted proxy (anything left of it was written
//! by the caller and may be forged).

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::IpAddr;

/// The trusted proxies, parsed from `server.trusted_proxies`.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses CIDR blocks (`10.0.0.0/8`) or single addresses (`192.0.2.7`); returns the
    /// entries that are neither.
    pub fn parse(entries: &[String]) -> Result<Self, Vec<String>> {
        let mut nets = Vec::new();
        let mut bad = Vec::new();
        for e in entries {
            let e = e.trim();
            match e.parse::<IpNet>() {
                Ok(n) => nets.push(n.trunc()),
                Err(_) => match e.parse::<IpAddr>() {
                    Ok(ip) => nets.push(IpNet::from(ip)),
                    Err(_) => bad.push(e.to_string()),
                },
            }
        }
        if bad.is_empty() {
            Ok(Self(nets))
        } else {
            Err(bad)
        }
    }

    /// `ip` is one of the trusted proxies.
    pub(crate) fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|n| n.contains(&ip))
    }

    /// The caller's address: the peer's, unless the peer is trusted; then the right-most
    /// forwarded address that is not trusted (or the left-most, if every hop is trusted).
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for(headers);
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                // An address we cannot read (`unknown`, an obfuscated name, garbage): the
                // hop to its right is the last one we can vouch for.
                None => return client,
                Some(ip) => {
                    client = *ip;
                    if !self.trusts(*ip) {
                        return client;
                    }
                }
            }
        }
        client
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The `for=` addresses of `Forwarded` if the request has it, else those of
/// `X-Forwarded-For`, left to right, over every instance of the header.
fn forwarded_for(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .collect()
    };
    let forwarded = values("forwarded");
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .flat_map(|v| v.split(','))
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, v)| node(v.trim().trim_matches('"')))
            })
            .collect();
    }
    values("x-forwarded-for")
        .iter()
        .flat_map(|v| v.split(','))
        .map(|v| node(v.trim()))
        .collect()
}

/// An address as a node: `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`
/// or a bare IPv6 address.
fn node(v: &str) -> Option<IpAddr> {
    if let Ok(ip) = v.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split_once(']')?.0.parse().ok().map(canonical);
    }
    let (host, port) = v.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let t = proxies(&["10.0.0.0/8"]);
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9"),
            ("forwarded", "for=203.0.113.9"),
        ]);
        assert_eq!(t.client(ip("198.51.100.4"), &h), ip("198.51.100.4"));
        assert_eq!(
            TrustedProxies::default().client(ip("10.0.0.1"), &h),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_caller() {
        let t = proxies(&["10.0.0.0/8", "192.0.2.7"]);
        // The caller forged the first entry; the balancer appended what it saw.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.1.1.1")]);
        assert_eq!(t.client(ip("10.0.0.2"), &h), ip("203.0.113.9"));
        let h = headers(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-for", "203.0.113.9"),
        ]);
        assert_eq!(t.client(ip("192.0.2.7"), &h), ip("203.0.113.9"));
        // Every hop trusted: the left-most.
        let h = headers(&[("x-forwarded-for", "10.9.9.9, 10.1.1.1")]);
        assert_eq!(t.client(ip("10.0.0.2"), &h), ip("10.9.9.9"));
        // No header at all: the proxy itself.
        assert_eq!(t.client(ip("10.0.0.2"), &HeaderMap::new()), ip("10.0.0.2"));
        // Mapped IPv4 peers are IPv4.
        assert_eq!(
            t.client(
                ip("::ffff:10.0.0.2"),
                &headers(&[("x-forwarded-for", "203.0.113.9")])
            ),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_wins_and_is_read_as_rfc_7239_writes_it() {
        let t = proxies(&["10.0.0.0/8"]);
        let h = headers(&[
            (
                "forwarded",
                r#"for=1.2.3.4;proto=https, for="[2001:db8:cafe::17]:4711";by=10.0.0.1"#,
            ),
            ("x-forwarded-for", "198.51.100.1"),
        ]);
        assert_eq!(t.client(ip("10.0.0.2"), &h), ip("2001:db8:cafe::17"));
        let h = headers(&[("forwarded", "for=192.0.2.60:8080;proto=http")]);
        assert_eq!(t.client(ip("10.0.0.2"), &h), ip("192.0.2.60"));
        // An unreadable hop stops the walk at the last trusted one.
        let h = headers(&[("forwarded", "for=203.0.113.1, for=unknown, for=10.0.0.9")]);
        assert_eq!(t.client(ip("10.0.0.2"), &h), ip("10.0.0.9"));
        let h = headers(&[("x-forwarded-for", "203.0.113.1, garbage")]);
        assert_eq!(t.client(ip("10.0.0.2"), &h), ip("10.0.0.2"));
    }

    #[test]
    fn a_bad_entry_is_named() {
        let bad =
            TrustedProxies::parse(&["10.0.0.0/8".into(), "10.0.0.0/33".into(), "proxy".into()])
                .unwrap_err();
        assert_eq!(bad, vec!["10.0.0.0/33".to_string(), "proxy".to_string()]);
    }
}
