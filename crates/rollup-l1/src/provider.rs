//! Connecting to an L1 node over HTTP.

use alloy::{
    network::EthereumWallet,
    providers::{
        DynProvider, Provider, ProviderBuilder,
        fillers::{ChainIdFiller, GasFiller},
    },
    rpc::client::RpcClient,
    signers::local::PrivateKeySigner,
    transports::http::reqwest::{self, Url},
};

/// How long one L1 request may take. Without a bound, a request sent just before the L1 became
/// unreachable (a partition that drops packets rather than refusing them) waits for the kernel to
/// give up on the connection, many minutes, and the loop that sent it stops with it.
pub const L1_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// How long connecting to the L1 may take.
const L1_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// An RPC client for `url` whose requests end after [`L1_REQUEST_TIMEOUT`].
fn rpc_client(url: Url) -> RpcClient {
    match reqwest::Client::builder().timeout(L1_REQUEST_TIMEOUT).connect_timeout(L1_CONNECT_TIMEOUT).build() {
        Ok(http) => RpcClient::new_http_with_client(http, url),
        // Only a TLS backend that cannot start fails here; the default client would fail alike.
        Err(error) => {
            tracing::warn!(%error, "no L1 client with timeouts; requests are unbounded");
            RpcClient::new_http(url)
        }
    }
}

/// A provider for `url` that signs transactions with `key`.
///
/// Nonces are read from the node for every transaction rather than cached: a cached nonce is
/// taken even when gas estimation then finds that the call reverts, which leaves a gap that
/// blocks every later transaction of the key. Callers send one transaction per key at a time.
pub fn connect_wallet(url: Url, key: PrivateKeySigner) -> DynProvider {
    ProviderBuilder::new()
        .disable_recommended_fillers()
        .filler(GasFiller::default())
        .with_simple_nonce_management()
        .filler(ChainIdFiller::default())
        .wallet(EthereumWallet::from(key))
        .connect_client(rpc_client(url))
        .erased()
}

/// A read-only provider for `url`.
pub fn connect(url: Url) -> DynProvider {
    ProviderBuilder::new().connect_client(rpc_client(url)).erased()
}
