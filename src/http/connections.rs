//! Open connections per client address. The global cap (`limits.max_connections`) keeps the
//! server's sockets and tasks bounded, but alone it lets one client take every slot — with
//! idle keep-alive connections, or TLS handshakes it never finishes — and lock everyone else
//! out. This caps what one address may hold. IPv6 clients are counted per /64, the block one
//! host usually has; trusted proxies are exempt, since all their clients share their address.

use crate::http::middleware::client_ip::TrustedProxies;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// Counts open connections by address.
#[derive(Debug)]
pub struct PerAddress {
    max: usize,
    exempt: TrustedProxies,
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl PerAddress {
    /// At most `max` open connections per address (0: no cap); `exempt` addresses uncounted.
    pub fn new(max: usize, exempt: TrustedProxies) -> Arc<Self> {
        Arc::new(Self {
            max,
            exempt,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for a new connection from `ip`, held until the connection ends; `None` when
    /// the address already holds its share. The map never holds more entries than there are
    /// open connections, so it is bounded by the global cap.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        if self.max == 0 || self.exempt.trusts(ip) {
            return Some(Slot {
                owner: None,
                key: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
            });
        }
        let key = crate::net::client_group(ip);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(key).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            owner: Some(Arc::clone(self)),
            key,
        })
    }

    /// Addresses with open connections (for tests and health).
    pub fn tracked(&self) -> usize {
        self.open.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One admitted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct Slot {
    owner: Option<Arc<PerAddress>>,
    key: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(owner) = &self.owner else {
            return;
        };
        let mut open = owner.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::Cidr;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_address_gets_its_share_and_a_slot_returns_when_dropped() {
        let limits = PerAddress::new(2, TrustedProxies::default());
        let a = limits.admit(ip("192.0.2.1")).unwrap();
        let _b = limits.admit(ip("192.0.2.1")).unwrap();
        assert!(limits.admit(ip("192.0.2.1")).is_none());
        assert!(limits.admit(ip("::ffff:192.0.2.1")).is_none());
        let _other = limits.admit(ip("192.0.2.2")).unwrap();
        drop(a);
        assert!(limits.admit(ip("192.0.2.1")).is_some());
    }

    #[test]
    fn ipv6_counts_per_64_and_entries_go_when_empty() {
        let limits = PerAddress::new(1, TrustedProxies::default());
        let slot = limits.admit(ip("2001:db8:1:2::1")).unwrap();
        assert!(limits.admit(ip("2001:db8:1:2:ffff::9")).is_none());
        let other = limits.admit(ip("2001:db8:1:3::1")).unwrap();
        assert_eq!(limits.tracked(), 2);
        drop(slot);
        drop(other);
        assert_eq!(limits.tracked(), 0);
    }

    #[test]
    fn trusted_proxies_and_a_zero_cap_are_not_counted() {
        let proxies = TrustedProxies(Arc::new(vec![Cidr::parse("10.0.0.0/8").unwrap()]));
        let limits = PerAddress::new(1, proxies);
        let _a = limits.admit(ip("10.1.2.3")).unwrap();
        let _b = limits.admit(ip("10.1.2.3")).unwrap();
        assert_eq!(limits.tracked(), 0);
        let unlimited = PerAddress::new(0, TrustedProxies::default());
        let _c = unlimited.admit(ip("192.0.2.1")).unwrap();
        let _d = unlimited.admit(ip("192.0.2.1")).unwrap();
    }
}
