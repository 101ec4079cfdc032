//! The swarm: TCP + noise + yamux, gossipsub on the quote topic with application validation and
//! peer scoring, identify and Kademlia to find peers beyond the bootstrap list. It runs in its own
//! task; [`GossipHandle`] talks to it.

use std::{
    collections::{HashMap, HashSet},
    num::NonZeroUsize,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use futures_util::StreamExt as _;
use libp2p::{
    Multiaddr, PeerId, StreamProtocol, Swarm, allow_block_list, connection_limits,
    gossipsub::{
        self, IdentTopic, MessageAcceptance, MessageId, PeerScoreParams, PeerScoreThresholds, TopicScoreParams,
    },
    identify,
    identity::Keypair,
    kad,
    multiaddr::Protocol,
    noise,
    swarm::{NetworkBehaviour, SwarmEvent, behaviour::toggle::Toggle, dial_opts::DialOpts},
    tcp, yamux,
};
use tokio::sync::{mpsc, oneshot};

use crate::wire::{GossipQuote, WireError};

/// The gossipsub topic quotes are published on; the last segment is the wire format's version.
pub const QUOTE_TOPIC: &str = "/prover-coordination/epoch-proof-quotes/1";
/// The Kademlia protocol of the quote network (kept apart from other networks' DHTs).
pub const KAD_PROTOCOL: &str = "/prover-coordination/kad/1.0.0";
/// The identify protocol version peers announce.
pub const PROTOCOL_VERSION: &str = "/prover-coordination/1.0.0";

/// How long a peer that sent forged quotes, graylisted for them, stays disconnected and refused
/// at a time. Gossipsub keeps a departed peer's score (for an hour), so a peer that comes back
/// still at or below the threshold is blocked again at once.
pub const BLOCK_FOR: Duration = Duration::from_secs(120);

/// Most peers remembered as senders of forged quotes (and so most blocked at once); past it the
/// one remembered longest is forgotten.
const MAX_OFFENDERS: usize = 10_000;

/// How long a sender of forged quotes is remembered: as long as gossipsub keeps its score.
const OFFENDER_MEMORY: Duration = Duration::from_secs(3_600);

/// How a peer takes part in the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Subscribes to the topic, validates what it receives (through [`Inbound`] and
    /// [`GossipHandle::report`]) and forwards what it accepts: a coordination node.
    Validator,
    /// Only publishes its own quotes to peers subscribed to the topic: a prover.
    Publisher,
}

/// Settings of a gossip peer.
#[derive(Clone, Debug)]
pub struct GossipSettings {
    /// The peer's identity.
    pub keypair: Keypair,
    /// Where to listen; `None` makes outbound connections only.
    pub listen_addr: Option<Multiaddr>,
    /// Peers dialled at start and whenever the peer has no connection; with a `/p2p/<id>`
    /// suffix they also seed peer discovery.
    pub bootstrap_peers: Vec<Multiaddr>,
    /// Most connections kept (inbound and outbound together).
    pub max_peers: u32,
    /// The gossipsub heartbeat (mesh maintenance and lazy gossip).
    pub heartbeat: Duration,
    /// How the peer takes part.
    pub role: Role,
    /// Look for peers beyond the bootstrap list (Kademlia); off, the peer connects to its
    /// bootstrap peers and to the peers that dial it, nothing else.
    pub discovery: bool,
}

/// A message received on the topic, to be validated by the application and then reported.
#[derive(Debug)]
pub struct Inbound {
    /// Gossipsub's id of the message: the quote's id for a well-formed quote.
    pub message_id: MessageId,
    /// The peer that forwarded the message to us.
    pub source: PeerId,
    /// The decoded quote, or why the message is not one.
    pub quote: Result<GossipQuote, WireError>,
    /// When it arrived.
    pub received_at: Instant,
}

/// What the application decided about an [`Inbound`] message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and new: stored, and forwarded to the mesh.
    Accept,
    /// Not forwarded, and the sender is not blamed (already known, or not checkable right now).
    Ignore,
    /// Invalid: not forwarded, and the sender's score is lowered.
    Reject,
    /// Invalid on its face, whatever the state of L1 (bytes that are no quote, a signature that
    /// is not the prover's, another chain or rollup): as [`Verdict::Reject`], and a sender whose
    /// score such messages bring to the graylist threshold is blocked ([`BLOCK_FOR`]). An honest
    /// peer that sees another L1 branch can forward a quote rejected here; it is never blocked.
    Forged,
}

/// What publishing a quote came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Published {
    /// Sent to the connected peers subscribed to the topic.
    Sent,
    /// This quote was already published or received recently; not sent again.
    AlreadySeen,
}

/// Why a quote could not be published.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PublishError {
    /// No connected peer is subscribed to the quote topic (yet).
    #[error("no peer subscribed to the quote topic is connected")]
    NoPeers,
    /// Every peer's send queue is full.
    #[error("every peer's send queue is full")]
    QueuesFull,
    /// The network task has stopped.
    #[error("the gossip network has stopped")]
    Stopped,
    /// Anything else gossipsub refused.
    #[error("gossipsub refused the message: {0}")]
    Refused(String),
}

/// Why the network could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The transport could not be built.
    #[error("cannot build the transport: {0}")]
    Transport(String),
    /// The behaviour could not be built (bad gossipsub or scoring parameters).
    #[error("cannot build the gossip behaviour: {0}")]
    Behaviour(String),
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// Why.
        reason: String,
    },
}

/// A connected peer as the network sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct PeerInfo {
    /// Its identity.
    pub peer_id: PeerId,
    /// Its gossipsub score (negative after invalid messages), when scoring knows it.
    pub score: Option<f64>,
    /// Whether it is subscribed to the quote topic.
    pub subscribed: bool,
    /// The address of one of its connections.
    pub address: Option<Multiaddr>,
}

#[derive(Debug, Default)]
struct Counters {
    connected: AtomicUsize,
    topic_peers: AtomicUsize,
    blocked: AtomicUsize,
}

enum Command {
    Publish(Vec<u8>, oneshot::Sender<Result<Published, PublishError>>),
    Report(MessageId, PeerId, Verdict),
    Peers(oneshot::Sender<Vec<PeerInfo>>),
    Blocked(oneshot::Sender<Vec<PeerId>>),
}

/// The application's side of a running gossip peer. Cloning it is cheap; the network stops when
/// every handle and the inbound receiver are dropped.
#[derive(Clone, Debug)]
pub struct GossipHandle {
    commands: mpsc::Sender<Command>,
    counters: Arc<Counters>,
    peer_id: PeerId,
    listen_addrs: Arc<Vec<Multiaddr>>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Publish(..) => "Publish",
            Self::Report(..) => "Report",
            Self::Peers(..) => "Peers",
            Self::Blocked(..) => "Blocked",
        })
    }
}

impl GossipHandle {
    /// This peer's identity.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// The addresses it listens on, each ending in `/p2p/<peer id>`: what others put in their
    /// bootstrap list.
    pub fn listen_addrs(&self) -> &[Multiaddr] {
        &self.listen_addrs
    }

    /// Peers with an established connection.
    pub fn connected_peers(&self) -> usize {
        self.counters.connected.load(Ordering::Relaxed)
    }

    /// Connected peers subscribed to the quote topic.
    pub fn topic_peers(&self) -> usize {
        self.counters.topic_peers.load(Ordering::Relaxed)
    }

    /// How many peers are blocked for invalid quotes (their score fell below the graylist
    /// threshold): their connections were closed and new ones are refused for [`BLOCK_FOR`].
    pub fn blocked_peers(&self) -> usize {
        self.counters.blocked.load(Ordering::Relaxed)
    }

    /// The peers blocked for invalid quotes.
    pub async fn blocked(&self) -> Vec<PeerId> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Blocked(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Publishes a quote to the network.
    pub async fn publish(&self, quote: &GossipQuote) -> Result<Published, PublishError> {
        self.publish_raw(quote.encode()).await
    }

    /// Publishes raw bytes as a quote message: for tests and tools that need to send what an
    /// honest peer never would.
    pub async fn publish_raw(&self, bytes: Vec<u8>) -> Result<Published, PublishError> {
        let (tx, rx) = oneshot::channel();
        self.commands.send(Command::Publish(bytes, tx)).await.map_err(|_| PublishError::Stopped)?;
        rx.await.map_err(|_| PublishError::Stopped)?
    }

    /// Reports the application's verdict on an [`Inbound`] message: accepted messages are
    /// forwarded, rejected ones lower the sender's score. Every inbound message must be reported.
    pub async fn report(&self, message_id: MessageId, source: PeerId, verdict: Verdict) {
        let _ = self.commands.send(Command::Report(message_id, source, verdict)).await;
    }

    /// The connected peers with their scores.
    pub async fn peers(&self) -> Vec<PeerInfo> {
        let (tx, rx) = oneshot::channel();
        if self.commands.send(Command::Peers(tx)).await.is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    /// Peers blocked for invalid quotes.
    blocked: allow_block_list::Behaviour<allow_block_list::BlockedPeers>,
    limits: connection_limits::Behaviour,
    gossipsub: gossipsub::Behaviour,
    identify: identify::Behaviour,
    /// Present only with discovery.
    kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
}

/// The message id of a well-formed quote: its quote id followed by its signature, so the same
/// signed quote sent twice (by one prover to two nodes, say) is one message. The signature is
/// part of it so that a copy with a forged signature, rejected, cannot make the network drop the
/// genuine quote as a duplicate; a quote signed twice is caught by the nodes' stores instead.
/// A hash of the bytes for anything else.
fn message_id(message: &gossipsub::Message) -> MessageId {
    match GossipQuote::decode(&message.data) {
        Ok(quote) => MessageId::new(&[quote.id().as_slice(), quote.signed.signature.as_bytes()].concat()),
        Err(_) => {
            let mut tagged = b"malformed:".to_vec();
            tagged.extend_from_slice(alloy_primitives::keccak256(&message.data).as_slice());
            MessageId::new(&tagged)
        }
    }
}

fn topic_score_params() -> TopicScoreParams {
    TopicScoreParams {
        topic_weight: 1.0,
        // Time in the mesh earns a little (at most 3 after five minutes).
        time_in_mesh_weight: 0.01,
        time_in_mesh_quantum: Duration::from_secs(1),
        time_in_mesh_cap: 300.0,
        // First deliveries of valid quotes earn a little, decaying.
        first_message_deliveries_weight: 0.5,
        first_message_deliveries_decay: 0.9,
        first_message_deliveries_cap: 20.0,
        // Quotes are rare (a few per epoch), so a quiet mesh peer is not penalised.
        mesh_message_deliveries_weight: 0.0,
        mesh_message_deliveries_decay: 0.5,
        mesh_message_deliveries_cap: 1.0,
        mesh_message_deliveries_threshold: 1.0,
        mesh_message_deliveries_window: Duration::from_millis(10),
        mesh_message_deliveries_activation: Duration::from_secs(60),
        mesh_failure_penalty_weight: 0.0,
        mesh_failure_penalty_decay: 0.5,
        // Each invalid quote counts squared: one costs 10 (below the gossip threshold), three cost
        // 90 (graylisted: nothing more is taken from the peer). The count halves in about a
        // minute.
        invalid_message_deliveries_weight: -10.0,
        invalid_message_deliveries_decay: 0.99,
    }
}

fn behaviour(key: &Keypair, settings: &GossipSettings) -> Result<Behaviour, StartError> {
    let bad = |e: String| StartError::Behaviour(e);
    let config = gossipsub::ConfigBuilder::default()
        .heartbeat_interval(settings.heartbeat)
        .validation_mode(gossipsub::ValidationMode::Strict)
        .validate_messages()
        .message_id_fn(message_id)
        // The limit of a whole frame, which may carry many messages; a quote's own size is
        // checked when it is decoded.
        .max_transmit_size(256 * 1024)
        // Messages stay in the cache for about 10 s, so that one still being validated (a node
        // waiting for its L1 view, or a burst) can be forwarded, and served to peers asking.
        .history_length(((10_000 / settings.heartbeat.as_millis().max(1)) as usize).max(5))
        .duplicate_cache_time(Duration::from_secs(120))
        .build()
        .map_err(|e| bad(e.to_string()))?;
    let mut gossipsub = gossipsub::Behaviour::new(gossipsub::MessageAuthenticity::Signed(key.clone()), config)
        .map_err(|e| bad(e.into()))?;
    let topic = IdentTopic::new(QUOTE_TOPIC);
    gossipsub.with_peer_score(PeerScoreParams::default(), PeerScoreThresholds::default()).map_err(bad)?;
    gossipsub.set_topic_params(topic.clone(), topic_score_params()).map_err(|e| bad(e.into()))?;
    if settings.role == Role::Validator {
        gossipsub.subscribe(&topic).map_err(|e| bad(e.to_string()))?;
    }
    let identify = identify::Behaviour::new(
        identify::Config::new(PROTOCOL_VERSION.into(), key.public())
            .with_agent_version(format!("prover-coordination/{}", env!("CARGO_PKG_VERSION"))),
    );
    let peer_id = key.public().to_peer_id();
    let mut kad_config = kad::Config::new(StreamProtocol::new(KAD_PROTOCOL));
    kad_config.set_query_timeout(Duration::from_secs(30));
    kad_config.set_periodic_bootstrap_interval(Some(Duration::from_secs(60)));
    if let Some(size) = NonZeroUsize::new(20) {
        kad_config.set_kbucket_size(size);
    }
    let mut kad = kad::Behaviour::with_config(peer_id, kad::store::MemoryStore::new(peer_id), kad_config);
    // Nodes answer discovery queries; a prover only asks.
    kad.set_mode(Some(match settings.role {
        Role::Validator => kad::Mode::Server,
        Role::Publisher => kad::Mode::Client,
    }));
    let limits = connection_limits::Behaviour::new(
        connection_limits::ConnectionLimits::default()
            .with_max_established(Some(settings.max_peers))
            .with_max_established_per_peer(Some(2)),
    );
    Ok(Behaviour {
        blocked: allow_block_list::Behaviour::default(),
        limits,
        gossipsub,
        identify,
        kad: Toggle::from(settings.discovery.then_some(kad)),
    })
}

/// Starts a gossip peer: binds its listen address, dials the bootstrap peers and runs until every
/// handle and the receiver are dropped. Inbound messages (validators only) arrive on the receiver.
pub async fn start(settings: GossipSettings) -> Result<(GossipHandle, mpsc::Receiver<Inbound>), StartError> {
    let peer_id = settings.keypair.public().to_peer_id();
    let mut swarm = libp2p::SwarmBuilder::with_existing_identity(settings.keypair.clone())
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(|e| StartError::Transport(e.to_string()))?
        .with_behaviour(|key| behaviour(key, &settings).map_err(Box::from))
        .map_err(|e| StartError::Behaviour(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(300)))
        .build();

    let mut listen_addrs = Vec::new();
    if let Some(addr) = settings.listen_addr.clone() {
        let listen_error = |reason: String| StartError::Listen { addr: addr.clone(), reason };
        swarm.listen_on(addr.clone()).map_err(|e| listen_error(e.to_string()))?;
        // Wait for the bound address (a port 0 becomes a real port).
        let deadline = tokio::time::sleep(Duration::from_secs(10));
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                event = swarm.select_next_some() => match event {
                    SwarmEvent::NewListenAddr { address, .. } => {
                        listen_addrs.push(address.with(Protocol::P2p(peer_id)));
                        break;
                    }
                    SwarmEvent::ListenerError { error, .. } => return Err(listen_error(error.to_string())),
                    SwarmEvent::ListenerClosed { reason: Err(error), .. } => return Err(listen_error(error.to_string())),
                    _ => {}
                },
                () = &mut deadline => return Err(listen_error("no address was bound within 10 s".into())),
            }
        }
    }
    tracing::info!(%peer_id, addrs = ?listen_addrs, role = ?settings.role, "gossip peer started");

    let (commands, command_rx) = mpsc::channel(1024);
    let (inbound_tx, inbound) = mpsc::channel(4096);
    let counters = Arc::new(Counters::default());
    let handle = GossipHandle { commands, counters: counters.clone(), peer_id, listen_addrs: Arc::new(listen_addrs) };
    let mut task = NetworkTask {
        swarm,
        topic: IdentTopic::new(QUOTE_TOPIC),
        bootstrap: settings.bootstrap_peers.clone(),
        max_peers: settings.max_peers as usize,
        counters,
        inbound: inbound_tx,
        topic_peers: HashSet::new(),
        addresses: HashMap::new(),
        blocked_until: HashMap::new(),
        offenders: HashMap::new(),
    };
    task.seed_discovery();
    tokio::spawn(task.run(command_rx));
    Ok((handle, inbound))
}

struct NetworkTask {
    swarm: Swarm<Behaviour>,
    topic: IdentTopic,
    bootstrap: Vec<Multiaddr>,
    max_peers: usize,
    counters: Arc<Counters>,
    inbound: mpsc::Sender<Inbound>,
    topic_peers: HashSet<PeerId>,
    addresses: HashMap<PeerId, Multiaddr>,
    /// Blocked peers and when each is let back.
    blocked_until: HashMap<PeerId, Instant>,
    /// Senders of forged quotes, with when they last sent one.
    offenders: HashMap<PeerId, Instant>,
}

/// The peer id at the end of an address, and the address without it.
fn split_peer(addr: &Multiaddr) -> (Option<PeerId>, Multiaddr) {
    let mut addr = addr.clone();
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => {
            addr.pop();
            (Some(peer), addr)
        }
        _ => (None, addr),
    }
}

impl NetworkTask {
    fn seed_discovery(&mut self) {
        for addr in self.bootstrap.clone() {
            if let ((Some(peer), bare), Some(kad)) = (split_peer(&addr), self.swarm.behaviour_mut().kad.as_mut()) {
                kad.add_address(&peer, bare);
            }
        }
        self.dial_bootstrap();
    }

    /// Dials every bootstrap peer that is not connected.
    fn dial_bootstrap(&mut self) {
        for addr in self.bootstrap.clone() {
            let (peer, _) = split_peer(&addr);
            if peer.is_some_and(|p| self.swarm.is_connected(&p)) {
                continue;
            }
            if let Err(error) = self.swarm.dial(addr.clone()) {
                tracing::debug!(%addr, %error, "cannot dial a bootstrap peer");
            }
        }
    }

    async fn run(mut self, mut commands: mpsc::Receiver<Command>) {
        let mut upkeep = tokio::time::interval(Duration::from_secs(5));
        upkeep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.command(command),
                    None => break,
                },
                event = self.swarm.select_next_some() => self.event(event),
                _ = upkeep.tick() => self.upkeep(),
            }
        }
        tracing::debug!("gossip network stopped");
    }

    /// Redials the bootstrap peers when alone, looks for more peers when short of them, and lets
    /// back the blocked peers whose time is up.
    fn upkeep(&mut self) {
        let now = Instant::now();
        let released: Vec<PeerId> =
            self.blocked_until.iter().filter(|(_, until)| **until <= now).map(|(peer, _)| *peer).collect();
        for peer in released {
            self.blocked_until.remove(&peer);
            self.swarm.behaviour_mut().blocked.unblock_peer(peer);
            tracing::info!(%peer, "blocked peer let back");
        }
        self.offenders.retain(|_, at| now.duration_since(*at) < OFFENDER_MEMORY);
        self.count();
        let connected = self.swarm.connected_peers().count();
        if connected == 0 {
            self.dial_bootstrap();
        }
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut()
            && connected < self.max_peers
        {
            let _ = kad.bootstrap();
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Publish(bytes, reply) => {
                let result = match self.swarm.behaviour_mut().gossipsub.publish(self.topic.clone(), bytes) {
                    Ok(_) => Ok(Published::Sent),
                    Err(gossipsub::PublishError::Duplicate) => Ok(Published::AlreadySeen),
                    Err(gossipsub::PublishError::NoPeersSubscribedToTopic) => Err(PublishError::NoPeers),
                    Err(gossipsub::PublishError::AllQueuesFull(_)) => Err(PublishError::QueuesFull),
                    Err(other) => Err(PublishError::Refused(other.to_string())),
                };
                let _ = reply.send(result);
            }
            Command::Report(id, source, verdict) => {
                let acceptance = match verdict {
                    Verdict::Accept => MessageAcceptance::Accept,
                    Verdict::Ignore => MessageAcceptance::Ignore,
                    Verdict::Reject | Verdict::Forged => MessageAcceptance::Reject,
                };
                self.swarm.behaviour_mut().gossipsub.report_message_validation_result(&id, &source, acceptance);
                if verdict == Verdict::Forged {
                    self.remember_offender(source);
                    self.block_if_graylisted(source);
                }
            }
            Command::Peers(reply) => {
                let gossipsub = &self.swarm.behaviour().gossipsub;
                let peers = self
                    .swarm
                    .connected_peers()
                    .map(|peer| PeerInfo {
                        peer_id: *peer,
                        score: gossipsub.peer_score(peer),
                        subscribed: self.topic_peers.contains(peer),
                        address: self.addresses.get(peer).cloned(),
                    })
                    .collect();
                let _ = reply.send(peers);
            }
            Command::Blocked(reply) => {
                let _ = reply.send(self.blocked_until.keys().copied().collect());
            }
        }
    }

    fn remember_offender(&mut self, peer: PeerId) {
        if self.offenders.len() >= MAX_OFFENDERS
            && !self.offenders.contains_key(&peer)
            && let Some(oldest) = self.offenders.iter().min_by_key(|(_, at)| **at).map(|(p, _)| *p)
        {
            self.offenders.remove(&oldest);
        }
        self.offenders.insert(peer, Instant::now());
    }

    /// Graylisting makes gossipsub ignore a peer's messages, but it still receives and decodes
    /// every frame the peer sends; a sender of forged quotes at the threshold is cut off instead,
    /// so a flood costs nothing more than its refused redials.
    fn block_if_graylisted(&mut self, peer: PeerId) {
        if !self.offenders.contains_key(&peer) || self.blocked_until.contains_key(&peer) {
            return;
        }
        let score = self.swarm.behaviour().gossipsub.peer_score(&peer);
        let Some(score) = score.filter(|s| *s <= PeerScoreThresholds::default().graylist_threshold) else { return };
        if self.blocked_until.len() >= MAX_OFFENDERS
            && let Some(soonest) = self.blocked_until.iter().min_by_key(|(_, until)| **until).map(|(p, _)| *p)
        {
            self.blocked_until.remove(&soonest);
            self.swarm.behaviour_mut().blocked.unblock_peer(soonest);
        }
        self.swarm.behaviour_mut().blocked.block_peer(peer);
        tracing::warn!(%peer, score, seconds = BLOCK_FOR.as_secs(), "peer sent forged quotes: blocked");
        self.blocked_until.insert(peer, Instant::now() + BLOCK_FOR);
        self.count();
    }

    fn count(&self) {
        self.counters.connected.store(self.swarm.connected_peers().count(), Ordering::Relaxed);
        self.counters.topic_peers.store(self.topic_peers.len(), Ordering::Relaxed);
        self.counters.blocked.store(self.blocked_until.len(), Ordering::Relaxed);
    }

    fn event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, endpoint, num_established, .. } => {
                if num_established.get() == 1 {
                    tracing::info!(peer = %peer_id, addr = %endpoint.get_remote_address(), "peer connected");
                }
                // A sender of forged quotes back after its block, still graylisted.
                self.block_if_graylisted(peer_id);
                self.addresses.entry(peer_id).or_insert_with(|| endpoint.get_remote_address().clone());
                self.count();
            }
            SwarmEvent::ConnectionClosed { peer_id, num_established, cause, .. } => {
                if num_established == 0 {
                    tracing::info!(peer = %peer_id, cause = ?cause.map(|c| c.to_string()), "peer disconnected");
                    self.topic_peers.remove(&peer_id);
                    self.addresses.remove(&peer_id);
                }
                self.count();
            }
            SwarmEvent::OutgoingConnectionError { peer_id, error, .. } => {
                tracing::debug!(peer = ?peer_id, %error, "cannot connect");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(event)) => self.gossip_event(event),
            // A peer that answers discovery queries is added to the routing table with the
            // addresses it listens on.
            SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. }))
                if info.protocols.iter().any(|p| p.as_ref() == KAD_PROTOCOL) =>
            {
                if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
                    for addr in info.listen_addrs {
                        kad.add_address(&peer_id, addr);
                    }
                }
            }
            // Only with discovery: without it there is no Kademlia behaviour.
            SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::RoutingUpdated { peer, addresses, .. })) => {
                let connected = self.swarm.connected_peers().count();
                if !self.swarm.is_connected(&peer) && connected < self.max_peers {
                    tracing::debug!(%peer, "dialling a discovered peer");
                    let opts = DialOpts::peer_id(peer).addresses(addresses.into_vec()).build();
                    if let Err(error) = self.swarm.dial(opts) {
                        tracing::debug!(%peer, %error, "cannot dial a discovered peer");
                    }
                }
            }
            _ => {}
        }
    }

    fn gossip_event(&mut self, event: gossipsub::Event) {
        match event {
            gossipsub::Event::Message { propagation_source, message_id, message } => {
                let inbound = Inbound {
                    quote: GossipQuote::decode(&message.data),
                    message_id,
                    source: propagation_source,
                    received_at: Instant::now(),
                };
                if let Err(mpsc::error::TrySendError::Full(inbound) | mpsc::error::TrySendError::Closed(inbound)) =
                    self.inbound.try_send(inbound)
                {
                    // The application cannot keep up: drop the message without blaming anyone.
                    tracing::warn!(id = %inbound.message_id, "inbound queue full; message ignored");
                    self.swarm.behaviour_mut().gossipsub.report_message_validation_result(
                        &inbound.message_id,
                        &inbound.source,
                        MessageAcceptance::Ignore,
                    );
                }
            }
            gossipsub::Event::Subscribed { peer_id, topic } if topic == self.topic.hash() => {
                self.topic_peers.insert(peer_id);
                self.count();
            }
            gossipsub::Event::Unsubscribed { peer_id, topic } if topic == self.topic.hash() => {
                self.topic_peers.remove(&peer_id);
                self.count();
            }
            gossipsub::Event::SlowPeer { peer_id, failed_messages } => {
                tracing::warn!(peer = %peer_id, ?failed_messages, "peer is slow to take messages");
            }
            _ => {}
        }
    }
}
