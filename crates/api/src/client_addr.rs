//! Who is asking: the address sign-in attempts are counted under.
//!
//! The socket's peer address, unless the peer is a configured trusted proxy: then the
//! proxy's header (`X-Forwarded-For` style, a comma-separated chain, each proxy
//! appending the address it received from) is read from the right, skipping trusted
//! proxies, and the first address that is not one is the client. Anything to its left
//! was written by the client itself and proves nothing. A header from a peer that is not
//! trusted is ignored, so nobody can pick the address their failures count under.

use crate::state::ApiState;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::HeaderName;
use axum::http::request::Parts;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// Which header to read, and from whom.
#[derive(Debug, Clone)]
pub struct ClientAddrPolicy {
    pub header: HeaderName,
    pub trusted_proxies: Vec<IpAddr>,
}

impl Default for ClientAddrPolicy {
    fn default() -> Self {
        Self {
            header: HeaderName::from_static("x-forwarded-for"),
            trusted_proxies: Vec::new(),
        }
    }
}

impl ClientAddrPolicy {
    /// The client address of a request whose socket peer is `peer`.
    pub fn resolve(&self, peer: IpAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let chain = headers
            .get_all(&self.header)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect::<Vec<_>>();
        for hop in chain.iter().rev() {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.is_trusted(ip) => continue,
                Ok(ip) => return canonical(ip),
                // Garbage where an address should be: stop believing the chain here.
                Err(_) => break,
            }
        }
        peer
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted_proxies.iter().any(|t| canonical(*t) == ip)
    }
}

/// `::ffff:10.0.0.1` and `10.0.0.1` are one client.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address of this request (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl FromRequestParts<ApiState> for ClientAddr {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &ApiState) -> Result<Self, Infallible> {
        // Every server of ours inserts the peer (serve.rs); a router driven without
        // one (a unit test's oneshot) counts everything under one unspecified address.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| canonical(c.0.ip()));
        Ok(Self(state.client_addr.resolve(peer, &parts.headers)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn policy(trusted: &[&str]) -> ClientAddrPolicy {
        ClientAddrPolicy {
            trusted_proxies: trusted.iter().map(|t| ip(t)).collect(),
            ..ClientAddrPolicy::default()
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_its_header_says() {
        let p = policy(&["10.0.0.1"]);
        assert_eq!(
            p.resolve(ip("203.0.113.9"), &headers(&["1.2.3.4"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn a_trusted_proxy_names_the_client_read_from_the_right() {
        let p = policy(&["10.0.0.1", "10.0.0.2"]);
        // The client forged "6.6.6.6"; the first proxy appended the real peer.
        let h = headers(&["6.6.6.6, 198.51.100.7, 10.0.0.2"]);
        assert_eq!(p.resolve(ip("10.0.0.1"), &h), ip("198.51.100.7"));
        // Split over several header lines, the same chain.
        let h = headers(&["6.6.6.6", "198.51.100.7"]);
        assert_eq!(p.resolve(ip("10.0.0.1"), &h), ip("198.51.100.7"));
    }

    #[test]
    fn a_trusted_proxy_without_a_usable_header_is_the_client() {
        let p = policy(&["10.0.0.1"]);
        assert_eq!(p.resolve(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        assert_eq!(
            p.resolve(ip("10.0.0.1"), &headers(&["not-an-ip"])),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn mapped_ipv4_is_the_same_client() {
        let p = policy(&["10.0.0.1"]);
        assert_eq!(
            p.resolve(ip("::ffff:10.0.0.1"), &headers(&["::ffff:198.51.100.7"])),
            ip("198.51.100.7")
        );
    }
}
