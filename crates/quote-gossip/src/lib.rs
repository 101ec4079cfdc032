//! Quote gossip: signed epoch proof quotes carried over libp2p gossipsub between coordination
//! nodes and provers.
//!
//! - [`wire`]: the protobuf message (schema in `proto/`, code generated at build time).
//! - [`identity`]: a peer's stable identity from a key file.
//! - [`network`]: the swarm (TCP, noise, yamux; gossipsub with validation and peer scoring;
//!   identify and Kademlia for discovery), run in a task behind a [`GossipHandle`].
//! - [`P2pArgs`]: the `P2P_*` settings shared by the services.

pub mod identity;
pub mod network;
pub mod wire;

use std::{path::PathBuf, time::Duration};

pub use libp2p::{Multiaddr, PeerId, gossipsub::MessageId};
pub use network::{
    GossipHandle, GossipSettings, Inbound, PeerInfo, PublishError, Published, QUOTE_TOPIC, Role, StartError, Verdict,
    start,
};
pub use wire::{GossipQuote, WireError};

/// The `P2P_*` settings of a service that joins the quote network.
#[derive(Clone, Debug, clap::Args)]
pub struct P2pArgs {
    /// Join the quote gossip network.
    #[arg(long = "p2p-enabled", env = "P2P_ENABLED", default_value_t = false, action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// Address to listen on for peers, as a multiaddr (`/ip4/0.0.0.0/tcp/40400`); the
    /// service's default when unset.
    #[arg(long = "p2p-listen-addr", env = "P2P_LISTEN_ADDR")]
    pub listen_addr: Option<Multiaddr>,
    /// Peers to connect to at start, comma-separated multiaddrs ending in `/p2p/<peer id>`
    /// (as a node logs at start and lists under `GET /p2p`).
    #[arg(long = "p2p-bootstrap-peers", env = "P2P_BOOTSTRAP_PEERS", value_delimiter = ',')]
    pub bootstrap_peers: Vec<Multiaddr>,
    /// File holding this peer's key (created on first start): its peer id stays the same across
    /// restarts. The service's default when unset.
    #[arg(long = "p2p-key-file", env = "P2P_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// Look for peers beyond the bootstrap list (Kademlia). Off, the peer keeps to its bootstrap
    /// peers and those that dial it.
    #[arg(long = "p2p-discovery", env = "P2P_DISCOVERY", default_value_t = true, action = clap::ArgAction::Set)]
    pub discovery: bool,
    /// Most peer connections kept.
    #[arg(long = "p2p-max-peers", env = "P2P_MAX_PEERS", default_value_t = 50)]
    pub max_peers: u32,
    /// Gossipsub heartbeat, in milliseconds.
    #[arg(long = "p2p-heartbeat-ms", env = "P2P_HEARTBEAT_MS", default_value_t = 1000)]
    pub heartbeat_ms: u64,
    /// A fresh identity at every start, whatever the key file settings (peers started
    /// in-process).
    #[arg(skip)]
    pub ephemeral_identity: bool,
}

impl P2pArgs {
    /// Gossip disabled (every other setting at its default).
    pub fn disabled() -> Self {
        Self {
            enabled: false,
            listen_addr: None,
            bootstrap_peers: Vec::new(),
            key_file: None,
            discovery: true,
            max_peers: 50,
            heartbeat_ms: 1000,
            ephemeral_identity: false,
        }
    }

    /// Enabled on a free loopback port with a fresh identity (no key file) and a fast heartbeat, bootstrapping
    /// from `bootstrap`: for peers started in-process (tests, benchmarks, the devnet).
    pub fn local(bootstrap: Vec<Multiaddr>) -> Self {
        Self {
            enabled: true,
            listen_addr: Some(loopback()),
            bootstrap_peers: bootstrap,
            key_file: None,
            discovery: true,
            max_peers: 50,
            heartbeat_ms: 200,
            ephemeral_identity: true,
        }
    }

    /// The settings for [`start`]: the key from `key_file` (or `default_key_file`; a fresh key
    /// when both are unset), the listen address or `default_listen`.
    pub fn settings(
        &self,
        role: Role,
        default_listen: Option<Multiaddr>,
        default_key_file: Option<PathBuf>,
    ) -> Result<GossipSettings, identity::KeyFileError> {
        let key_file = if self.ephemeral_identity { None } else { self.key_file.clone().or(default_key_file) };
        let keypair = match key_file {
            Some(path) => identity::load_or_create(&path)?,
            None => libp2p::identity::Keypair::generate_ed25519(),
        };
        Ok(GossipSettings {
            keypair,
            listen_addr: self.listen_addr.clone().or(default_listen),
            bootstrap_peers: self.bootstrap_peers.clone(),
            max_peers: self.max_peers.max(1),
            heartbeat: Duration::from_millis(self.heartbeat_ms.max(50)),
            role,
            discovery: self.discovery,
        })
    }
}

/// `/ip4/127.0.0.1/tcp/0`: a free loopback port.
pub fn loopback() -> Multiaddr {
    Multiaddr::empty()
        .with(libp2p::multiaddr::Protocol::Ip4([127, 0, 0, 1].into()))
        .with(libp2p::multiaddr::Protocol::Tcp(0))
}
