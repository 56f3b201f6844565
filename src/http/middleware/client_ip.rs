//! The client address: the socket peer, unless the peer is a trusted proxy; then the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Forwarding headers
//! from untrusted peers are ignored, so a client cannot pick its own address.

use crate::http::server::peer;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use std::net::IpAddr;
use std::sync::Arc;

/// The resolved client address, as a request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// An address range, e.g. `10.0.0.0/8` or a single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse `addr` or `addr/prefix`. Hand-written: ten lines do not justify a dependency.
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = text.trim().parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Self {
            network: addr,
            prefix,
        })
    }

    /// Wider than a /16 (IPv4) or a /48 (IPv6): likely more than a set of proxies — a whole
    /// private network, or everyone. Every peer in a trusted range may name its client in
    /// `X-Forwarded-For` and is exempt from the per-address connection cap, so such a range
    /// deserves a warning at start.
    pub fn is_broad(&self) -> bool {
        match self.network {
            IpAddr::V4(_) => self.prefix < 16,
            IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => self.prefix < 96 + 16,
            IpAddr::V6(_) => self.prefix < 48,
        }
    }

    /// Whether `ip` is inside the range.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.network, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u32::MAX << (32 - self.prefix)
                };
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = if self.prefix == 0 {
                    0
                } else {
                    u128::MAX << (128 - self.prefix)
                };
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The trusted proxies.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(pub Arc<Vec<Cidr>>);

impl TrustedProxies {
    /// Whether `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|c| c.contains(ip))
    }

    /// Resolve the client address of a request from `peer`.
    pub fn resolve(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let mut client = peer;
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for entry in entries.iter().rev() {
            match entry.trim().parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => client = ip,
                Ok(ip) => return ip,
                // A malformed entry ends the chain of trust: stop at the last good hop.
                Err(_) => return client,
            }
        }
        client
    }
}

/// Put the [`ClientIp`] into the request.
pub async fn client_ip(
    State(proxies): State<TrustedProxies>,
    mut request: Request,
    next: Next,
) -> Response {
    if let Some(addr) = peer(request.extensions()) {
        let ip = proxies.resolve(addr.ip(), request.headers());
        request.extensions_mut().insert(ClientIp(ip));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(xff: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(xff).unwrap());
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies(Arc::new(vec![Cidr::parse("10.0.0.0/8").unwrap()]));
        assert_eq!(
            proxies.resolve(ip("203.0.113.9"), &headers("1.2.3.4")),
            ip("203.0.113.9")
        );
        assert_eq!(
            proxies.resolve(ip("10.0.0.1"), &headers("1.2.3.4")),
            ip("1.2.3.4")
        );
        // A spoofed left-most entry is ignored: the right-most untrusted one wins.
        assert_eq!(
            proxies.resolve(ip("10.0.0.1"), &headers("6.6.6.6, 1.2.3.4, 10.0.0.2")),
            ip("1.2.3.4")
        );
        assert_eq!(
            proxies.resolve(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        assert_eq!(
            proxies.resolve(ip("10.0.0.1"), &headers("garbage, 10.0.0.2")),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ranges_wider_than_16_or_48_bits_are_broad() {
        for broad in [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "::/0",
            "2001:db8::/32",
        ] {
            assert!(Cidr::parse(broad).unwrap().is_broad(), "{broad}");
        }
        for narrow in [
            "10.1.0.0/16",
            "192.168.1.0/24",
            "10.0.0.5",
            "2001:db8:1::/48",
            "::1",
        ] {
            assert!(!Cidr::parse(narrow).unwrap().is_broad(), "{narrow}");
        }
    }

    #[test]
    fn cidr_ranges_parse_and_match() {
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        assert!(Cidr::parse("::1").unwrap().contains(ip("::1")));
        assert!(
            Cidr::parse("192.168.0.0/16")
                .unwrap()
                .contains(ip("::ffff:192.168.4.4"))
        );
        assert!(
            !Cidr::parse("192.168.0.0/16")
                .unwrap()
                .contains(ip("192.169.0.1"))
        );
        assert!(Cidr::parse("0.0.0.0/0").unwrap().contains(ip("8.8.8.8")));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("not-an-ip").is_none());
    }
}
