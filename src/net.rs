//! Client addresses as the limits see them: the unit one client is counted by, and address
//! ranges for trusted proxies. Neutral ground, used by HTTP, authentication and audit alike.

use std::net::{IpAddr, Ipv6Addr};

/// The unit one client is counted by: an IPv4 address, or an IPv6 /64 (the block one host
/// usually owns, so stepping through it does not make a new client). IPv4-mapped IPv6
/// addresses (`::ffff:a.b.c.d`) count as the IPv4 address they carry.
pub fn client_group(address: IpAddr) -> IpAddr {
    match canonical(address) {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & (u128::MAX << 64))),
        v4 => v4,
    }
}

/// `address` with an IPv4-mapped IPv6 address turned into the IPv4 address it carries: a
/// dual-stack socket reports IPv4 peers that way, and a rule written for one form must match
/// the other.
pub fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(address, IpAddr::V4),
        v4 => v4,
    }
}

/// An address range, e.g. `10.0.0.0/8`, `2001:db8::/32` or a single address. A range written
/// in IPv4-mapped form (`::ffff:10.0.0.0/104`) is kept as the IPv4 range it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parse `addr` or `addr/prefix`. Hand-written: a few lines do not justify a dependency.
    pub fn parse(text: &str) -> Option<Self> {
        let (addr, prefix) = match text.trim().split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let a = text.trim().parse::<IpAddr>().ok()?;
                (a, if a.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if prefix > max {
            return None;
        }
        Some(match (addr, canonical(addr)) {
            // `::ffff:a.b.c.d/n`, n ≥ 96: the IPv4 range of the last 32 bits.
            (IpAddr::V6(_), IpAddr::V4(v4)) if prefix >= 96 => Self {
                network: IpAddr::V4(v4),
                prefix: prefix - 96,
            },
            _ => Self {
                network: addr,
                prefix,
            },
        })
    }

    /// Wider than a /16 (IPv4) or a /48 (IPv6): likely more than a set of proxies — a whole
    /// private network, or everyone. Every peer in a trusted range may name its client in
    /// `X-Forwarded-For` and is exempt from the per-address connection cap, so such a range
    /// deserves a warning at start.
    pub fn is_broad(&self) -> bool {
        match self.network {
            IpAddr::V4(_) => self.prefix < 16,
            IpAddr::V6(_) => self.prefix < 48,
        }
    }

    /// Whether `ip` is inside the range (either form of an IPv4 address matches).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.network, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_wider_than_16_or_48_bits_are_broad() {
        for broad in [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "172.16.0.0/12",
            "::/0",
            "2001:db8::/32",
            "::ffff:10.0.0.0/104",
        ] {
            assert!(Cidr::parse(broad).unwrap().is_broad(), "{broad}");
        }
        for narrow in [
            "10.1.0.0/16",
            "192.168.1.0/24",
            "10.0.0.5",
            "2001:db8:1::/48",
            "::1",
            "::ffff:10.0.0.5",
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
        assert!(Cidr::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("not-an-ip").is_none());
    }

    #[test]
    fn a_proxy_written_in_ipv4_mapped_form_matches_both_forms() {
        for written in ["::ffff:10.1.2.3", "::ffff:10.1.2.0/120"] {
            let cidr = Cidr::parse(written).unwrap();
            assert!(cidr.contains(ip("10.1.2.3")), "{written}");
            assert!(cidr.contains(ip("::ffff:10.1.2.3")), "{written}");
            assert!(!cidr.contains(ip("10.1.3.3")), "{written}");
        }
    }

    #[test]
    fn ipv6_clients_are_grouped_per_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(client_group(ip("2001:db8::1")), ip("2001:db8::"));
        assert_eq!(client_group(ip("2001:db8::ffff:1")), ip("2001:db8::"));
        assert_ne!(client_group(ip("2001:db8:0:1::1")), ip("2001:db8::"));
        assert_eq!(client_group(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        assert_eq!(client_group(ip("10.0.0.1")), ip("10.0.0.1"));
    }
}
