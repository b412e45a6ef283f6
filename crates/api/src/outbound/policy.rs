//! Which addresses outbound requests may reach: every address that is not on the public
//! internet is refused (loopback, private, shared, link-local, documentation, multicast,
//! reserved, and the IPv6 forms that embed such an IPv4 address), unless the operator's
//! `outbound.allowed_hosts` lists the host name, the address or a network holding it.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The operator's exemptions, parsed from `outbound.allowed_hosts`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowList {
    /// Lower-case host names without a trailing dot.
    hosts: Vec<String>,
    /// Networks (a single address is a full-length prefix).
    networks: Vec<Network>,
}

/// An address prefix, host bits cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Network {
    base: IpAddr,
    prefix: u8,
}

/// An `outbound.allowed_hosts` entry that is neither a host name, an address nor a CIDR.
#[derive(Debug, thiserror::Error)]
#[error("{entry:?} is not a host name, an IP address or a CIDR network: {reason}")]
pub struct AllowListError {
    entry: String,
    reason: &'static str,
}

impl AllowList {
    /// Parses entries such as `idp.corp.example`, `10.0.0.7`, `::1`, `[::1]`, `10.0.0.0/8` or
    /// `fd00::/8`.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, AllowListError> {
        let mut list = Self::default();
        for entry in entries {
            let entry = entry.as_ref().trim();
            let refuse = |reason| AllowListError {
                entry: entry.to_owned(),
                reason,
            };
            if let Some((address, prefix)) = entry.split_once('/') {
                let base = parse_ip(address).ok_or_else(|| refuse("the network is no address"))?;
                let prefix: u8 = prefix
                    .parse()
                    .map_err(|_| refuse("the prefix length is no number"))?;
                let most = if base.is_ipv4() { 32 } else { 128 };
                if prefix > most {
                    return Err(refuse("the prefix length is too long"));
                }
                list.networks.push(Network::new(base, prefix));
            } else if let Some(address) = parse_ip(entry) {
                let prefix = if address.is_ipv4() { 32 } else { 128 };
                list.networks.push(Network::new(address, prefix));
            } else {
                list.hosts.push(host_name(entry).map_err(refuse)?);
            }
        }
        Ok(list)
    }

    /// True when `host` (as a URL names it) is listed by name.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = normalise_host(host);
        self.hosts.contains(&host)
    }

    /// True when `address` is listed or lies in a listed network.
    pub fn allows_address(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.networks
            .iter()
            .any(|network| network.contains(address))
    }
}

impl Network {
    fn new(base: IpAddr, prefix: u8) -> Self {
        let base = match base.to_canonical() {
            // A mapped network (`::ffff:10.0.0.0/104`) is the IPv4 network it maps.
            IpAddr::V4(v4) if base.is_ipv6() => {
                return Self::new(IpAddr::V4(v4), prefix.saturating_sub(96));
            }
            IpAddr::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask32(prefix))),
            IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask128(prefix))),
        };
        Self { base, prefix }
    }

    fn contains(&self, address: IpAddr) -> bool {
        match (self.base, address) {
            (IpAddr::V4(base), IpAddr::V4(address)) => {
                u32::from(address) & mask32(self.prefix) == u32::from(base)
            }
            (IpAddr::V6(base), IpAddr::V6(address)) => {
                u128::from(address) & mask128(self.prefix) == u128::from(base)
            }
            _ => false,
        }
    }
}

fn mask32(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

fn mask128(prefix: u8) -> u128 {
    u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0)
}

fn parse_ip(text: &str) -> Option<IpAddr> {
    let bare = text
        .strip_prefix('[')
        .and_then(|rest| rest.strip_suffix(']'))
        .unwrap_or(text);
    bare.parse().ok()
}

fn normalise_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// A host name entry: letters, digits, `-`, `_` and dots, no port, scheme or path.
fn host_name(entry: &str) -> Result<String, &'static str> {
    let host = normalise_host(entry);
    if host.is_empty() {
        return Err("it is empty");
    }
    if host.contains(':') {
        return Err("a port or scheme has no place here; list the host alone");
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    };
    if host.len() > 253 || !host.split('.').all(valid_label) {
        return Err("it has characters a host name cannot have");
    }
    Ok(host)
}

/// True for addresses that are not on the public internet, or that embed one that is not.
pub fn is_internal(address: IpAddr) -> bool {
    match address {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => is_internal_v6(v6),
    }
}

fn is_internal_v4(address: Ipv4Addr) -> bool {
    let [a, b, c, _] = address.octets();
    address.is_unspecified()
        || a == 0 // "this network"
        || address.is_loopback()
        || address.is_private()
        || address.is_link_local()
        || (a == 100 && (b & 0xc0) == 64) // shared address space (carrier-grade NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || address.is_documentation()
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b & 0xfe) == 18) // benchmarking
        || address.is_multicast()
        || a >= 240 // reserved, and the broadcast address
}

fn is_internal_v6(address: Ipv6Addr) -> bool {
    let bits = u128::from(address);
    let segments = address.segments();
    let embedded = |low_bits: u128| Ipv4Addr::from((low_bits & 0xffff_ffff) as u32);
    if address.is_unspecified() || address.is_loopback() {
        return true;
    }
    if let Some(v4) = address.to_ipv4_mapped() {
        return is_internal_v4(v4);
    }
    // IPv4-compatible (`::a.b.c.d`, deprecated) and NAT64 (`64:ff9b::/96`) forms carry the
    // IPv4 address in their last 32 bits; 6to4 (`2002::/16`) carries it in bits 16 to 48.
    if bits >> 32 == 0 || bits >> 32 == 0x0064_ff9b_0000_0000_0000_0000 {
        return is_internal_v4(embedded(bits));
    }
    if segments[0] == 0x2002 {
        return is_internal_v4(embedded(bits >> 80));
    }
    (segments[0] == 0x0064 && segments[1] == 0xff9b && segments[2] == 0x0001) // local NAT64
        || (segments[0] == 0x0100 && segments[1..4] == [0, 0, 0]) // discard-only
        || (segments[0] == 0x2001 && segments[1] < 0x0200) // IETF assignments, Teredo
        || (segments[0] == 0x2001 && segments[1] == 0x0db8) // documentation
        || (segments[0] & 0xfff0) == 0x3ff0 // documentation (3fff::/20)
        || (segments[0] & 0xfe00) == 0xfc00 // unique local
        || (segments[0] & 0xffc0) == 0xfe80 // link-local
        || (segments[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || address.is_multicast()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused() {
        for internal in [
            "0.0.0.0",
            "0.1.2.3",
            "127.0.0.1",
            "127.255.0.9",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.254",
            "192.168.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.254",
            "192.0.0.170",
            "192.0.2.1",
            "198.51.100.7",
            "203.0.113.9",
            "198.18.0.1",
            "198.19.255.255",
            "192.88.99.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "2002:7f00:1::1",
            "2002:c0a8:101::1",
            "100::1",
            "2001::1",
            "2001:db8::1",
            "3fff::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
        ] {
            assert!(is_internal(ip(internal)), "{internal} counts as internal");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.15.255.255",
            "172.32.0.1",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.1",
            "223.255.255.255",
            "2606:2800:220:1::1",
            "2001:4860:4860::8888",
            "::ffff:93.184.216.34",
            "::8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(!is_internal(ip(public)), "{public} counts as public");
        }
    }

    #[test]
    fn host_names_match_without_case_or_trailing_dot() {
        let list = AllowList::parse(&["IdP.Corp.Example.", "localhost"]).unwrap();
        assert!(list.allows_host("idp.corp.example"));
        assert!(list.allows_host("IDP.corp.example."));
        assert!(list.allows_host("localhost"));
        assert!(!list.allows_host("corp.example"));
        assert!(!list.allows_host("evil-idp.corp.example"));
        assert!(!list.allows_host("idp.corp.example.evil"));
        // A name entry exempts the name, not the addresses it happens to resolve to.
        assert!(!list.allows_address(ip("127.0.0.1")));
    }

    #[test]
    fn addresses_match_exactly() {
        let list = AllowList::parse(&["127.0.0.1", "::1", "[fd00::7]"]).unwrap();
        assert!(list.allows_address(ip("127.0.0.1")));
        assert!(list.allows_address(ip("::ffff:127.0.0.1")));
        assert!(!list.allows_address(ip("127.0.0.2")));
        assert!(list.allows_address(ip("::1")));
        assert!(list.allows_address(ip("fd00::7")));
        assert!(!list.allows_address(ip("fd00::8")));
        // An address entry is no host name.
        assert!(!list.allows_host("127.0.0.2"));
    }

    #[test]
    fn networks_match_their_prefix() {
        let list = AllowList::parse(&[
            "10.0.0.0/8",
            "192.168.1.77/24",
            "fd00:1::/32",
            "::ffff:172.16.0.0/108",
        ])
        .unwrap();
        assert!(list.allows_address(ip("10.255.0.1")));
        assert!(!list.allows_address(ip("11.0.0.1")));
        assert!(
            list.allows_address(ip("192.168.1.1")),
            "host bits are ignored"
        );
        assert!(!list.allows_address(ip("192.168.2.1")));
        assert!(list.allows_address(ip("fd00:1:ffff::1")));
        assert!(!list.allows_address(ip("fd00:2::1")));
        assert!(list.allows_address(ip("::ffff:10.1.1.1")), "mapped form");
        assert!(list.allows_address(ip("172.16.9.9")), "mapped network");
        assert!(!list.allows_address(ip("172.32.0.1")));
        // Only the mapped form stands for an IPv4 address; the deprecated compatible one does not.
        assert!(!list.allows_address(ip("::a00:1")));
        let everything = AllowList::parse(&["0.0.0.0/0", "::/0"]).unwrap();
        assert!(everything.allows_address(ip("127.0.0.1")));
        assert!(everything.allows_address(ip("fe80::1")));
    }

    #[test]
    fn malformed_entries_are_refused() {
        for bad in [
            "",
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0.0/x",
            "nonsense/8",
            "idp.example:8443",
            "https://idp.example",
            "idp..example",
            "idp example",
            "idp.example/path",
        ] {
            assert!(AllowList::parse(&[bad]).is_err(), "{bad:?} is refused");
        }
    }
}
