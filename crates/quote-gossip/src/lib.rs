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

pub use identity::KeyType;
pub use libp2p::{Multiaddr, PeerId, gossipsub::MessageId};
pub use network::{
    BLOCK_FOR, GossipHandle, GossipSettings, Inbound, PeerInfo, PublishError, Published, QUOTE_TOPIC, Role, StartError,
    Verdict, start,
};
pub use wire::{GossipQuote, WireError};

/// The `P2P_*` settings of a service that joins the quote network.
#[derive(Clone, Debug, clap::Args)]
pub struct P2pArgs {
    /// Join the quote gossip network.
    #[arg(id = "p2p_enabled", long = "p2p-enabled", env = "P2P_ENABLED", default_value_t = false, action = clap::ArgAction::Set)]
    pub enabled: bool,
    /// Address to listen on for peers, as a multiaddr (`/ip4/0.0.0.0/tcp/40400`); the
    /// service's default when unset.
    #[arg(id = "p2p_listen_addr", long = "p2p-listen-addr", env = "P2P_LISTEN_ADDR")]
    pub listen_addr: Option<Multiaddr>,
    /// Peers to connect to at start, comma-separated multiaddrs ending in `/p2p/<peer id>`
    /// (as a node logs at start and lists under `GET /p2p`).
    #[arg(
        id = "p2p_bootstrap_peers",
        long = "p2p-bootstrap-peers",
        env = "P2P_BOOTSTRAP_PEERS",
        value_delimiter = ','
    )]
    pub bootstrap_peers: Vec<Multiaddr>,
    /// File holding this peer's key (created on first start): its peer id stays the same across
    /// restarts. The service's default when unset.
    #[arg(id = "p2p_key_file", long = "p2p-key-file", env = "P2P_KEY_FILE")]
    pub key_file: Option<PathBuf>,
    /// The type of key made for a new identity (a key file that exists is used whatever its
    /// type: ed25519, secp256k1 or ecdsa).
    #[arg(id = "p2p_key_type", long = "p2p-key-type", env = "P2P_KEY_TYPE", value_enum, default_value_t = KeyType::Ed25519)]
    pub key_type: KeyType,
    /// Look for peers beyond the bootstrap list (Kademlia). Off, the peer keeps to its bootstrap
    /// peers and those that dial it.
    #[arg(id = "p2p_discovery", long = "p2p-discovery", env = "P2P_DISCOVERY", default_value_t = true, action = clap::ArgAction::Set)]
    pub discovery: bool,
    /// Most peer connections kept.
    #[arg(id = "p2p_max_peers", long = "p2p-max-peers", env = "P2P_MAX_PEERS", default_value_t = 50)]
    pub max_peers: u32,
    /// Gossipsub heartbeat, in milliseconds.
    #[arg(id = "p2p_heartbeat_ms", long = "p2p-heartbeat-ms", env = "P2P_HEARTBEAT_MS", default_value_t = 1000)]
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
            key_type: KeyType::Ed25519,
            discovery: true,
            max_peers: 50,
            heartbeat_ms: 1000,
            ephemeral_identity: false,
        }
    }

    /// Enabled on a free loopback port with a fresh identity (no key file) and a fast heartbeat,
    /// bootstrapping from `bootstrap`: for peers started in-process (tests, benchmarks, the
    /// devnet).
    pub fn local(bootstrap: Vec<Multiaddr>) -> Self {
        Self {
            enabled: true,
            listen_addr: Some(loopback()),
            bootstrap_peers: bootstrap,
            heartbeat_ms: 200,
            ephemeral_identity: true,
            ..Self::disabled()
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
            Some(path) => identity::load_or_create(&path, self.key_type)?,
            None => self.key_type.generate(),
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

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// A service's settings with a listen address of its own beside the P2P ones.
    #[derive(Debug, clap::Parser)]
    struct Service {
        #[arg(long, default_value = "0.0.0.0:8000")]
        listen_addr: std::net::SocketAddr,
        #[command(flatten)]
        p2p: P2pArgs,
    }

    #[test]
    fn the_p2p_flags_sit_beside_a_services_own() {
        use clap::CommandFactory;
        Service::command().debug_assert();
        let peer = "/ip4/10.0.0.1/tcp/40400/p2p/12D3KooWJtbKSCJfCgCddtrM2GTBweevX42hNaWAsz46jF5Mc8S9";
        let service = Service::parse_from([
            "service",
            "--listen-addr",
            "127.0.0.1:9000",
            "--p2p-enabled",
            "true",
            "--p2p-listen-addr",
            "/ip4/0.0.0.0/tcp/4000",
            "--p2p-bootstrap-peers",
            &format!("{peer},/dns4/node.example/tcp/40400"),
            "--p2p-key-type",
            "secp256k1",
        ]);
        assert_eq!(service.p2p.key_type, KeyType::Secp256k1);
        assert_eq!(service.listen_addr.port(), 9000);
        assert!(service.p2p.enabled && service.p2p.discovery);
        assert_eq!(service.p2p.listen_addr.map(|a| a.to_string()).as_deref(), Some("/ip4/0.0.0.0/tcp/4000"));
        assert_eq!(service.p2p.bootstrap_peers.len(), 2);
        assert_eq!(service.p2p.bootstrap_peers[0].to_string(), peer);
        assert!(Service::try_parse_from(["service", "--p2p-bootstrap-peers", "not an address"]).is_err());
        let defaults = Service::parse_from(["service"]).p2p;
        assert!(!defaults.enabled && defaults.bootstrap_peers.is_empty() && !defaults.ephemeral_identity);
        assert_eq!(defaults.key_type, KeyType::Ed25519);
        assert!(Service::try_parse_from(["service", "--p2p-key-type", "rsa"]).is_err());
    }
}
