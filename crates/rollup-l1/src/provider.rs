//! Connecting to an L1 node over HTTP.

use alloy::{
    network::EthereumWallet,
    providers::{
        DynProvider, Provider, ProviderBuilder,
        fillers::{ChainIdFiller, GasFiller},
    },
    signers::local::PrivateKeySigner,
    transports::http::reqwest::Url,
};

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
        .connect_http(url)
        .erased()
}

/// A read-only provider for `url`.
pub fn connect(url: Url) -> DynProvider {
    ProviderBuilder::new().connect_http(url).erased()
}
