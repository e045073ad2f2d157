//! Outbound HTTP from guests: where a function may connect.
//!
//! An allow-list entry is `host`, `*.domain` (its subdomains) or an IP address, optionally with
//! `:port` or `:*` (any port); without one, only 80 (`http`) and 443 (`https`) are allowed.
//!
//! Invariants:
//! - a request goes out only if its name and port match an entry (else `HttpRequestDenied`);
//! - the name is resolved here, and every address it resolves to must be public: loopback,
//!   private, link-local, carrier-grade NAT, unique-local, unspecified, broadcast, multicast and
//!   documentation ranges are refused (`DestinationIpProhibited`) unless the entry is that very
//!   address (the operator's explicit choice), so an allowed name that points inside (cloud
//!   metadata, the host's own ports) is not reachable;
//! - the checked address is the one used: plain HTTP is sent to that address (the `Host` header
//!   keeps the name), so a name that changes its answer between check and connect (DNS
//!   rebinding) gains nothing; HTTPS connects by name, and its certificate check binds the
//!   connection to that name, which an internal address cannot present.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use wasmtime_wasi_http::Error;

/// A function's outbound allow-list.
pub struct Outbound {
    entries: Arc<[Entry]>,
}

/// One parsed allow-list entry.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// Lowercased name, `*.domain`, or an address.
    host: String,
    port: Port,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Port {
    /// 80 for `http`, 443 for `https`.
    Default,
    Any,
    Only(u16),
}

impl Entry {
    fn parse(text: &str) -> Entry {
        let text = text.to_ascii_lowercase();
        // An IPv6 address is written in brackets when it has a port.
        let (host, port) = match text.rsplit_once(':') {
            Some((h, p)) if !h.contains(':') || h.ends_with(']') => {
                let port = match p {
                    "*" => Port::Any,
                    p => p.parse().map_or(Port::Default, Port::Only),
                };
                (h.trim_start_matches('[').trim_end_matches(']'), port)
            }
            _ => (text.as_str(), Port::Default),
        };
        Entry {
            host: host.to_string(),
            port,
        }
    }

    fn matches_host(&self, host: &str) -> bool {
        match self.host.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => self.host == host,
        }
    }

    fn matches_port(&self, port: u16, https: bool) -> bool {
        match self.port {
            Port::Any => true,
            Port::Only(p) => p == port,
            Port::Default => port == if https { 443 } else { 80 },
        }
    }
}

/// Whether an address is reachable from the public internet (the ranges `Ipv4Addr::is_global`
/// excludes, written out while that method is unstable).
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 192 && b == 0 && v4.octets()[2] == 0)
                || (a == 198 && (18..20).contains(&b))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8)
        }
    }
}

impl Outbound {
    pub fn new(allowed: &[String]) -> Outbound {
        Outbound {
            entries: allowed.iter().map(|a| Entry::parse(a)).collect(),
        }
    }

    /// The entry allowing `host:port`, if any.
    fn entry(&self, host: &str, port: u16, https: bool) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| e.matches_host(host) && e.matches_port(port, https))
    }

    /// Where a request to `host:port` may connect: the resolved address to use, or why not.
    pub async fn destination(
        &self,
        host: &str,
        port: u16,
        https: bool,
    ) -> Result<SocketAddr, Error> {
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase();
        let Some(entry) = self.entry(&host, port, https) else {
            tracing::debug!(%host, port, "outbound request denied: not on the allow-list");
            return Err(Error::HttpRequestDenied);
        };
        let addresses: Vec<SocketAddr> = match host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| Error::DnsError {
                    rcode: Some(e.to_string()),
                    info_code: None,
                })?
                .collect(),
        };
        let explicit = |ip: IpAddr| entry.host.parse::<IpAddr>() == Ok(ip);
        if let Some(inside) = addresses
            .iter()
            .find(|a| !is_public(a.ip()) && !explicit(a.ip()))
        {
            tracing::warn!(%host, address = %inside, "outbound request refused: the name resolves to a non-public address");
            return Err(Error::DestinationIpProhibited);
        }
        addresses.first().copied().ok_or(Error::DestinationNotFound)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(entries: &[&str]) -> Outbound {
        Outbound::new(&entries.iter().map(|e| e.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn entries_match_names_subdomains_and_ports() {
        let o = out(&[
            "api.example.com",
            "*.cdn.test:8443",
            "10.0.0.5:*",
            "[::1]:8080",
        ]);
        assert!(o.entry("api.example.com", 443, true).is_some());
        assert!(o.entry("api.example.com", 80, false).is_some());
        assert!(
            o.entry("api.example.com", 8080, false).is_none(),
            "default ports only"
        );
        assert!(o.entry("api.example.com", 443, false).is_none());
        assert!(o.entry("img.cdn.test", 8443, true).is_some());
        assert!(o.entry("cdn.test", 8443, true).is_none());
        assert!(o.entry("api.example.com.evil", 443, true).is_none());
        assert!(o.entry("10.0.0.5", 6379, false).is_some());
        assert!(o.entry("::1", 8080, false).is_some());
    }

    #[test]
    fn only_public_addresses_are_public() {
        for inside in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(!is_public(inside.parse().unwrap()), "{inside}");
        }
        for public in ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_inside_is_refused_unless_the_address_is_listed() {
        let by_name = out(&["localhost:*"]);
        assert!(matches!(
            by_name.destination("localhost", 8080, false).await,
            Err(Error::DestinationIpProhibited)
        ));
        let by_address = out(&["127.0.0.1:*"]);
        assert_eq!(
            by_address
                .destination("127.0.0.1", 8080, false)
                .await
                .unwrap(),
            "127.0.0.1:8080".parse().unwrap()
        );
        assert!(matches!(
            by_address.destination("localhost", 8080, false).await,
            Err(Error::HttpRequestDenied)
        ));
    }
}
