//! Who a request comes from: the address of the connection's peer, or, when that peer is a
//! trusted reverse proxy, the client address the proxies report in `X-Forwarded-For`. Limits
//! keyed on the client (rate limits, stream limits) read [`ClientIp`], which [`resolve`] sets.

use std::{
    net::{IpAddr, SocketAddr},
    str::FromStr,
    sync::Arc,
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::HeaderMap,
    middleware::Next,
    response::Response,
};

/// Addresses and networks whose connections are reverse proxies, e.g. `10.0.0.0/8,127.0.0.1`.
/// Only their `X-Forwarded-For` is believed; from anyone else the header is ignored (a client
/// could write any address there).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

/// A list of trusted proxies that does not parse.
#[derive(Debug, PartialEq, Eq)]
pub struct TrustedProxiesError(String);

impl std::fmt::Display for TrustedProxiesError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} is not an IP address or a network (address/prefix length)", self.0)
    }
}

impl std::error::Error for TrustedProxiesError {}

impl FromStr for TrustedProxies {
    type Err = TrustedProxiesError;

    /// Comma-separated addresses (`127.0.0.1`, `::1`) and networks (`10.0.0.0/8`, `fd00::/8`);
    /// empty for none.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut networks = Vec::new();
        for item in text.split(',').map(str::trim).filter(|item| !item.is_empty()) {
            let invalid = || TrustedProxiesError(item.to_owned());
            let (address, prefix) = match item.split_once('/') {
                Some((address, prefix)) => (address, Some(prefix.parse::<u8>().map_err(|_| invalid())?)),
                None => (item, None),
            };
            // An IPv4 address written as IPv6 (`::ffff:10.0.0.1`) is the IPv4 address.
            let address = address.parse::<IpAddr>().map_err(|_| invalid())?.to_canonical();
            let bits = if address.is_ipv4() { 32 } else { 128 };
            let prefix = prefix.unwrap_or(bits);
            if prefix > bits {
                return Err(invalid());
            }
            networks.push((address, prefix));
        }
        Ok(Self(networks))
    }
}

/// The first `prefix` bits of `address`, as a number.
fn masked(address: IpAddr, prefix: u8) -> u128 {
    let (value, bits) = match address {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)), 32),
        IpAddr::V6(v6) => (u128::from(v6), 128),
    };
    if prefix == 0 { 0 } else { value >> (bits - u32::from(prefix)) }
}

impl TrustedProxies {
    /// No proxy is trusted.
    pub fn none() -> Self {
        Self::default()
    }

    /// `address` is one of the trusted proxies.
    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|(network, prefix)| {
            network.is_ipv4() == address.is_ipv4() && masked(*network, *prefix) == masked(address, *prefix)
        })
    }

    /// The client a request from `peer` with `headers` comes from. Each proxy appends the address
    /// it took the request from to `X-Forwarded-For`, so the list is read from its end: the first
    /// address that is not a trusted proxy is the client; what comes before it was written by
    /// that client and is not believed. A list that cannot be read names no one: the nearest
    /// trusted hop is taken.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.contains(client) {
            return client;
        }
        // Every hop of every line, each read on its own: a line with a byte that is not text
        // spoils only its own hops, and the walk stops there.
        let hops: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|value| value.as_bytes().split(|b| *b == b','))
            .map(<[u8]>::trim_ascii)
            .collect();
        for hop in hops.iter().rev() {
            let Some(address) = std::str::from_utf8(hop).ok().and_then(hop_address) else { break };
            client = address;
            if !self.contains(address) {
                break;
            }
        }
        client
    }
}

/// The address of one `X-Forwarded-For` hop: an address, or an address with a port (`1.2.3.4:5`,
/// `[2001:db8::1]:5`), as some proxies write it.
fn hop_address(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>().or_else(|_| hop.parse::<SocketAddr>().map(|a| a.ip())).ok().map(|a| a.to_canonical())
}

/// The client address of a request (see [`TrustedProxies::client`]), in its extensions once
/// [`resolve`] has run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientIp(pub IpAddr);

/// Middleware setting [`ClientIp`] on every request (the server must be started with
/// `into_make_service_with_connect_info::<SocketAddr>()`; without a peer address nothing is set).
pub async fn resolve(State(trusted): State<Arc<TrustedProxies>>, mut request: Request, next: Next) -> Response {
    if let Some(peer) = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()) {
        let client = trusted.client(peer, request.headers());
        request.extensions_mut().insert(ClientIp(client));
    }
    next.run(request).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().expect("header value"));
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("address")
    }

    #[test]
    fn lists_of_addresses_and_networks_parse() {
        let trusted: TrustedProxies = " 10.0.0.0/8, 127.0.0.1 ,fd00::/8".parse().expect("parses");
        assert!(
            trusted.contains(ip("10.1.2.3")) && trusted.contains(ip("127.0.0.1")) && trusted.contains(ip("fd00::1"))
        );
        assert!(
            !trusted.contains(ip("11.0.0.1")) && !trusted.contains(ip("127.0.0.2")) && !trusted.contains(ip("fe00::1"))
        );
        assert!(trusted.contains(ip("::ffff:10.0.0.1")), "an IPv4 address written as IPv6");
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::none()));
        assert!("0.0.0.0/0".parse::<TrustedProxies>().expect("parses").contains(ip("8.8.8.8")));
        for bad in ["10.0.0.0/33", "proxy.local", "10.0.0.1/x", "::/129"] {
            assert!(bad.parse::<TrustedProxies>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_header_is_believed_only_from_a_trusted_proxy() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().expect("parses");
        let headers = forwarded(&["203.0.113.7"]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &headers), ip("203.0.113.7"));
        assert_eq!(trusted.client(ip("198.51.100.1"), &headers), ip("198.51.100.1"), "an untrusted peer is the client");
        assert_eq!(TrustedProxies::none().client(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
        assert_eq!(trusted.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"), "no header: the proxy itself");
    }

    #[test]
    fn the_client_is_the_last_address_no_trusted_proxy_wrote() {
        let trusted: TrustedProxies = "10.0.0.0/8".parse().expect("parses");
        // The client wrote a false address first; its proxy appended the real one; a second proxy
        // of ours appended the first's.
        let headers = forwarded(&["6.6.6.6, 203.0.113.7", "10.0.0.5"]);
        assert_eq!(trusted.client(ip("10.0.0.1"), &headers), ip("203.0.113.7"));
        // Every hop trusted: the farthest one.
        assert_eq!(trusted.client(ip("10.0.0.1"), &forwarded(&["10.0.0.9, 10.0.0.5"])), ip("10.0.0.9"));
        // Garbage stops the walk at the nearest hop read.
        assert_eq!(trusted.client(ip("10.0.0.1"), &forwarded(&["203.0.113.7, junk, 10.0.0.5"])), ip("10.0.0.5"));
        // Ports, as some proxies write them.
        assert_eq!(trusted.client(ip("10.0.0.1"), &forwarded(&["203.0.113.7:4711"])), ip("203.0.113.7"));
        assert_eq!(trusted.client(ip("10.0.0.1"), &forwarded(&["[2001:db8::7]:4711"])), ip("2001:db8::7"));
        // A client's line that is not text does not hide the address its proxy appended to it.
        let mut headers = HeaderMap::new();
        headers.append("x-forwarded-for", axum::http::HeaderValue::from_bytes(b"\xff, 203.0.113.7").expect("bytes"));
        assert_eq!(trusted.client(ip("10.0.0.1"), &headers), ip("203.0.113.7"));
    }
}
