//! The client address: the socket peer, unless the peer is a trusted proxy; then the
//! right-most `X-Forwarded-For` entry that is not itself a trusted proxy. Forwarding headers
//! from untrusted peers are ignored, so a client cannot pick its own address.

use crate::net::Cidr;
use axum::extract::ConnectInfo;
use axum::extract::Request;
use axum::http::HeaderMap;
use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::Arc;

/// The resolved client address, as a request extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

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
pub fn resolve_into(proxies: &TrustedProxies, request: &mut Request) {
    if let Some(addr) = peer(request.extensions()) {
        let ip = proxies.resolve(addr.ip(), request.headers());
        request
            .extensions_mut()
            .insert(ClientIp(crate::net::canonical(ip)));
    }
}

/// The connection's peer address (set by the accept loop), for code that has the request's
/// extensions.
pub fn peer(extensions: &axum::http::Extensions) -> Option<SocketAddr> {
    extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
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
}
