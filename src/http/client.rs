//! Who the client is: the peer address of the connection, or, when the
//! peer is a proxy the operator trusts (`--trusted-proxies`), the first
//! address in `X-Forwarded-For` that no trusted proxy wrote, read right to
//! left. The header is never believed from anyone else: any client can
//! send one.

use std::net::IpAddr;

use hyper::HeaderMap;

/// The peer address of a request's connection, which the server hands the
/// edge with each request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub std::net::SocketAddr);

/// A block of addresses, `10.0.0.0/8` or `2001:db8::/32` (or one address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `addr/prefix` or a single address.
    pub fn parse(text: &str) -> Result<Cidr, String> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = addr
            .parse()
            .map_err(|_| format!("{text:?} is not an address or CIDR block (e.g. 10.0.0.0/8)"))?;
        let max = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= max)
                .ok_or_else(|| format!("{text:?}: the prefix must be 0 to {max}"))?,
        };
        Ok(Cidr { network, prefix })
    }

    /// Whether `ip` is in the block (an IPv4-mapped IPv6 address counts
    /// as its IPv4 address).
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

fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The proxies whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<Cidr>);

impl TrustedProxies {
    /// Trusts the proxies in `blocks`.
    pub fn new(blocks: Vec<Cidr>) -> TrustedProxies {
        TrustedProxies(blocks)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|block| block.contains(ip))
    }

    /// The client of a request that came from `peer` with `headers`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.trusts(client) {
            return client;
        }
        // Every header line, in order, is one list; the last hop is last.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        for hop in hops.into_iter().rev() {
            // Written by a trusted proxy, so well formed unless that proxy
            // is misconfigured: then the last believed hop is the client.
            let Some(ip) = parse_hop(hop) else {
                return client;
            };
            client = canonical(ip);
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, maybe with a port
/// (`192.0.2.1:1234`, `[2001:db8::1]:1234`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    if let Ok(ip) = hop.parse() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    let (addr, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    addr.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(xff: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in xff {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_blocks() {
        let block = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(block.contains(ip("10.1.200.3")));
        assert!(!block.contains(ip("10.2.0.1")));
        assert!(block.contains(ip("::ffff:10.1.0.9")));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains(ip("2001:db8:1::1")) && !v6.contains(ip("2001:db9::1")));
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains(ip("203.0.113.9"))
        );
        assert!(Cidr::parse("127.0.0.1").unwrap().contains(ip("127.0.0.1")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "::/129"] {
            assert!(Cidr::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let trusted = TrustedProxies::new(vec![Cidr::parse("10.0.0.0/8").unwrap()]);
        let spoofed = headers(&["6.6.6.6, 198.51.100.7"]);
        // An untrusted peer's header is ignored.
        assert_eq!(
            trusted.client(ip("203.0.113.5"), &spoofed),
            ip("203.0.113.5")
        );
        // A trusted peer: the rightmost untrusted hop, not the spoofed first.
        assert_eq!(trusted.client(ip("10.0.0.2"), &spoofed), ip("198.51.100.7"));
        // Trusted hops are skipped, across header lines; ports are dropped.
        let chain = headers(&["6.6.6.6", "198.51.100.7:4711, 10.0.0.9"]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &chain), ip("198.51.100.7"));
        let v6 = headers(&["[2001:db8::5]:443"]);
        assert_eq!(trusted.client(ip("10.0.0.2"), &v6), ip("2001:db8::5"));
        // No header, or only trusted hops: the last trusted address.
        assert_eq!(
            trusted.client(ip("10.0.0.2"), &headers(&[])),
            ip("10.0.0.2")
        );
        assert_eq!(
            trusted.client(ip("10.0.0.2"), &headers(&["10.0.0.3"])),
            ip("10.0.0.3")
        );
        // Garbage from a misconfigured proxy: the last believed hop.
        assert_eq!(
            trusted.client(ip("10.0.0.2"), &headers(&["junk, 10.0.0.4"])),
            ip("10.0.0.4")
        );
        // No trusted proxies: the peer, always.
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("10.0.0.2"), &spoofed), ip("10.0.0.2"));
    }
}
