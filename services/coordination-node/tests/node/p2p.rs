//! Quote gossip between nodes and provers on loopback: what a prover gossips reaches every node's
//! store, what one node takes over HTTP every other node serves, invalid quotes reach no store and
//! cost their sender score, and a node that joins late receives new quotes.

use std::time::Duration;

use alloy::primitives::B256;
use coordination_node::Config;
use epoch_quote::SignedEpochProofQuote;
use quote_gossip::{GossipHandle, GossipQuote, KeyType, Multiaddr, P2pArgs, PublishError, Published, Role};
use reqwest::StatusCode;
use rollup_l1::testkit::TestChain;
use serde_json::Value;

use crate::{
    app::{RunningNode, node_config, wait_synced},
    support::TestDb,
};

/// A node on the gossip network, bootstrapping from `bootstrap`.
async fn gossip_node(chain: &TestChain, db: &TestDb, bootstrap: Vec<Multiaddr>) -> RunningNode {
    let config = Config { p2p: P2pArgs::local(bootstrap), ..node_config(chain, &db.url) };
    let node = RunningNode::start(config).await;
    wait_synced(chain, &node.state).await;
    node
}

fn gossip(node: &RunningNode) -> &GossipHandle {
    node.state.gossip.as_ref().expect("P2P is enabled")
}

fn addrs(node: &RunningNode) -> Vec<Multiaddr> {
    gossip(node).listen_addrs().to_vec()
}

/// A prover's gossip peer (it only publishes) with an ed25519 identity, bootstrapping from
/// `bootstrap`.
async fn prover_peer(bootstrap: Vec<Multiaddr>) -> GossipHandle {
    prover_peer_with(KeyType::Ed25519, bootstrap).await
}

/// A prover's gossip peer with a `key_type` identity.
async fn prover_peer_with(key_type: KeyType, bootstrap: Vec<Multiaddr>) -> GossipHandle {
    let args = P2pArgs { key_type, ..P2pArgs::local(bootstrap) };
    let settings = args.settings(Role::Publisher, None, None).expect("settings");
    let (handle, _inbound) = quote_gossip::start(settings).await.expect("starts");
    handle
}

async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    for _ in 0..300 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

/// Waits until every node sees `n` peers subscribed to the topic, then lets the mesh form.
async fn wait_for_mesh(nodes: &[&RunningNode], n: usize) {
    for node in nodes {
        eventually("the nodes see each other", async || gossip(node).topic_peers() >= n).await;
    }
    // Two heartbeats: the meshes are grafted.
    tokio::time::sleep(Duration::from_millis(500)).await;
}

async fn publish(peer: &GossipHandle, quote: GossipQuote) {
    for _ in 0..200 {
        match peer.publish(&quote).await {
            Ok(Published::Sent) => return,
            Err(PublishError::NoPeers) => tokio::time::sleep(Duration::from_millis(50)).await,
            other => panic!("cannot publish: {other:?}"),
        }
    }
    panic!("no node subscribed to the topic");
}

async fn stored(node: &RunningNode, id: B256) -> bool {
    node.store().quote(id).await.expect("reads").is_some()
}

async fn signed_quotes(chain: &TestChain) -> (SignedEpochProofQuote, SignedEpochProofQuote) {
    chain.epoch_zero_ready_to_claim().await;
    let first = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    let second = chain.sign(&chain.prover2, chain.quote(&chain.prover2, 0).await);
    (first, second)
}

async fn metric(node: &RunningNode, line_start: &str) -> f64 {
    let text =
        node.client.get(format!("{}/metrics", node.base)).send().await.expect("metrics").text().await.expect("text");
    text.lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn gossip_and_http_quotes_reach_every_node() {
    let chain = TestChain::start().await;
    let (first, second) = signed_quotes(&chain).await;
    let domain = chain.config.quote_domain();
    let (db_a, db_b, db_c) = (TestDb::postgres().await, TestDb::sqlite().await, TestDb::sqlite().await);
    // A line: C knows only B, B knows only A.
    let a = gossip_node(&chain, &db_a, Vec::new()).await;
    let b = gossip_node(&chain, &db_b, addrs(&a)).await;
    let c = gossip_node(&chain, &db_c, addrs(&b)).await;
    wait_for_mesh(&[&a, &c], 1).await;
    wait_for_mesh(&[&b], 2).await;

    // A prover that knows only A gossips its quote: every node stores it.
    let prover = prover_peer(addrs(&a)).await;
    publish(&prover, GossipQuote { chain_id: chain.config.chain_id, signed: first }).await;
    let id = first.id(&domain);
    for node in [&a, &b, &c] {
        eventually("the gossiped quote is stored everywhere", async || stored(node, id).await).await;
    }
    assert_eq!(c.store().quote(id).await.expect("reads").map(|q| q.quote), Some(first));

    // A quote POSTed to A is served by C.
    let (status, body) = a.submit(&second).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = second.id(&domain);
    let path = format!("/epoch-proof-quotes/{id}");
    eventually("C serves the quote posted to A", async || c.get(&path).await.0 == StatusCode::OK).await;
    let (_, view) = c.get(&path).await;
    assert_eq!(view["signature"], second.signature.to_string());
    // Best first on C as on A.
    let (_, list) = c.get("/epoch-proof-quotes?epoch=0").await;
    assert_eq!(list["quotes"].as_array().map(Vec::len), Some(2), "{list}");

    // Each node took each quote once; nothing was rejected.
    assert_eq!(metric(&a, "coordination_node_p2p_quotes_published_total").await, 1.0);
    for node in [&b, &c] {
        assert_eq!(
            metric(node, r#"coordination_node_p2p_messages_total{verdict="accepted",code="accepted"}"#).await,
            2.0
        );
        assert_eq!(metric(node, r#"coordination_node_p2p_messages_total{verdict="rejected""#).await, 0.0);
    }
    // The same quote posted again is not gossiped again.
    assert_eq!(b.submit(&second).await.0, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(metric(&b, "coordination_node_p2p_quotes_published_total").await, 0.0);
}

#[tokio::test]
async fn invalid_quotes_reach_no_store_and_cost_their_sender_score() {
    let chain = TestChain::start().await;
    let (valid, _) = signed_quotes(&chain).await;
    let (db_a, db_b) = (TestDb::sqlite().await, TestDb::sqlite().await);
    let a = gossip_node(&chain, &db_a, Vec::new()).await;
    let b = gossip_node(&chain, &db_b, addrs(&a)).await;
    wait_for_mesh(&[&a, &b], 1).await;
    let rogue = prover_peer(addrs(&a)).await;
    let chain_id = chain.config.chain_id;

    // Signed by another key than the prover's; for another rollup; garbage.
    let forged = chain.sign(&chain.prover2, valid.quote);
    let mut other_rollup = valid.quote;
    other_rollup.rollup_address = alloy::primitives::Address::repeat_byte(0xab);
    let other_rollup = chain.sign(&chain.prover, other_rollup);
    publish(&rogue, GossipQuote { chain_id, signed: forged }).await;
    publish(&rogue, GossipQuote { chain_id, signed: other_rollup }).await;
    assert_eq!(rogue.publish_raw(b"not a quote".to_vec()).await, Ok(Published::Sent));
    // Another peer sends a valid quote signed for another chain.
    let confused = prover_peer(addrs(&a)).await;
    publish(&confused, GossipQuote { chain_id: chain_id + 1, signed: valid }).await;

    let rejected = |code: &str| format!(r#"coordination_node_p2p_messages_total{{verdict="rejected",code="{code}"}}"#);
    for code in ["invalid_signature", "wrong_rollup", "malformed_message", "wrong_chain"] {
        eventually(code, async || metric(&a, &rejected(code)).await == 1.0).await;
    }
    let domain = chain.config.quote_domain();
    for id in [forged.id(&domain), other_rollup.id(&domain), valid.id(&domain)] {
        assert!(!stored(&a, id).await && !stored(&b, id).await, "nothing is stored");
    }
    // A forwarded none of them: B (which the senders may have found and sent to directly) never
    // had a reason to blame A.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (_, b_view) = b.get("/p2p").await;
    let a_at_b = b_view["peers"].as_array().and_then(|peers| {
        peers
            .iter()
            .find(|p| p["peerId"] == gossip(&a).peer_id().to_string().as_str())
            .and_then(|p| p["score"].as_f64())
    });
    assert!(a_at_b.is_some_and(|score| score >= 0.0), "{b_view}");

    // Each invalid quote counts squared: three put the rogue beyond the graylist threshold (-80),
    // one costs 10; the honest peer B is not blamed.
    eventually("the rogue blocked", async || gossip(&a).blocked_peers() == 1).await;
    let (status, p2p) = a.get("/p2p").await;
    assert_eq!(status, StatusCode::OK);
    let score_of = |peer: &GossipHandle| {
        let id = peer.peer_id().to_string();
        p2p["peers"]
            .as_array()
            .and_then(|peers| peers.iter().find(|p| p["peerId"] == id.as_str()))
            .and_then(|p| p["score"].as_f64())
            .unwrap_or_else(|| panic!("{id} is listed with a score: {p2p}"))
    };
    // The rogue, graylisted, was disconnected and is refused.
    let rogue_id = rogue.peer_id().to_string();
    assert!(p2p["blockedPeers"].as_array().is_some_and(|b| b.iter().any(|p| p == rogue_id.as_str())), "{p2p}");
    assert!(
        p2p["peers"].as_array().is_some_and(|peers| peers.iter().all(|p| p["peerId"] != rogue_id.as_str())),
        "{p2p}"
    );
    assert_eq!(metric(&a, "coordination_node_p2p_peers_blocked").await, 1.0);
    assert!((-20.0..0.0).contains(&score_of(&confused)), "{p2p}");
    assert!(score_of(gossip(&b)) >= 0.0, "{p2p}");

    // The genuine quote, sent by an honest prover afterwards, still goes through: the forged copy
    // (same quote, another signature) did not make it a duplicate.
    let prover = prover_peer(addrs(&b)).await;
    publish(&prover, GossipQuote { chain_id, signed: valid }).await;
    let id = valid.id(&domain);
    eventually("the valid quote is stored by both", async || stored(&a, id).await && stored(&b, id).await).await;
}

#[tokio::test]
async fn a_node_that_joins_late_receives_new_quotes() {
    let chain = TestChain::start().await;
    let (first, second) = signed_quotes(&chain).await;
    let domain = chain.config.quote_domain();
    let (db_a, db_b, db_c) = (TestDb::sqlite().await, TestDb::sqlite().await, TestDb::sqlite().await);
    let a = gossip_node(&chain, &db_a, Vec::new()).await;
    let b = gossip_node(&chain, &db_b, addrs(&a)).await;
    wait_for_mesh(&[&a, &b], 1).await;
    assert_eq!(a.submit(&first).await.0, StatusCode::CREATED);
    eventually("B stores the first quote", async || stored(&b, first.id(&domain)).await).await;

    // C joins through B after the first quote went round.
    let c = gossip_node(&chain, &db_c, addrs(&b)).await;
    wait_for_mesh(&[&c], 1).await;
    assert_eq!(a.submit(&second).await.0, StatusCode::CREATED);
    eventually("C stores the new quote", async || stored(&c, second.id(&domain)).await).await;
    // Gossip carries new quotes only: what went round before C joined stays with A and B.
    assert!(!stored(&c, first.id(&domain)).await);
    // C found A through B (discovery), not only B.
    eventually("C connects to A too", async || gossip(&c).connected_peers() >= 2).await;
}

#[tokio::test]
async fn a_node_on_the_network_without_peers_is_not_ready() {
    let chain = TestChain::start().await;
    let (db_a, db_b) = (TestDb::sqlite().await, TestDb::sqlite().await);
    let a = gossip_node(&chain, &db_a, Vec::new()).await;
    let (status, body) = a.get("/readyz").await;
    assert_eq!((status, &body["p2pPeers"]), (StatusCode::SERVICE_UNAVAILABLE, &Value::from(0)), "{body}");
    let (_, p2p) = a.get("/p2p").await;
    assert_eq!(p2p["enabled"], true);
    assert_eq!(p2p["peerId"], gossip(&a).peer_id().to_string());
    assert!(p2p["listenAddrs"][0].as_str().is_some_and(|s| s.starts_with("/ip4/127.0.0.1/tcp/")), "{p2p}");

    let _b = gossip_node(&chain, &db_b, addrs(&a)).await;
    eventually("A is ready with a peer", async || a.get("/readyz").await.0 == StatusCode::OK).await;
    let (_, body) = a.get("/readyz").await;
    assert_eq!(body["p2pPeers"], 1);
    assert_eq!(metric(&a, "coordination_node_p2p_peers ").await, 1.0);
    assert_eq!(metric(&a, "coordination_node_p2p_enabled ").await, 1.0);
}

#[tokio::test]
async fn a_node_without_p2p_says_so() {
    let chain = TestChain::start().await;
    let db = TestDb::sqlite().await;
    let node = RunningNode::start(node_config(&chain, &db.url)).await;
    let (status, p2p) = node.get("/p2p").await;
    assert_eq!((status, &p2p["enabled"]), (StatusCode::OK, &Value::Bool(false)));
    wait_synced(&chain, &node.state).await;
    let (status, body) = node.get("/readyz").await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.get("p2pPeers").is_none(), "{body}");
}

#[tokio::test]
async fn a_quote_gossiped_as_the_epoch_ends_waits_for_the_nodes_view_to_catch_up() {
    let chain = TestChain::start().await;
    chain.propose_at(&chain.proposer, 1, 3, 3_000).await;
    chain.propose_at(&chain.proposer2, 2, 5, 7_000).await;
    let db = TestDb::sqlite().await;
    // A node that reads L1 only every second, in sync before epoch 0 ends.
    let config = Config { polling_interval_ms: 1_000, p2p: P2pArgs::local(Vec::new()), ..node_config(&chain, &db.url) };
    let node = RunningNode::start(config).await;
    wait_synced(&chain, &node.state).await;
    let prover = prover_peer(addrs(&node)).await;

    // Epoch 0 ends on L1; the prover, which saw it, gossips at once.
    chain.warp_to_slot(chain.config.claim_window(0).0).await;
    let signed = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    publish(&prover, GossipQuote { chain_id: chain.config.chain_id, signed }).await;
    let id = signed.id(&chain.config.quote_domain());
    eventually("the quote is stored once the node sees the epoch end", async || stored(&node, id).await).await;
    assert_eq!(metric(&node, r#"coordination_node_p2p_messages_total{verdict="ignored""#).await, 0.0);
}

#[tokio::test]
async fn a_node_keeps_its_peer_id_across_restarts() {
    let chain = TestChain::start().await;
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let key_file = dir.path().join("node.p2p-key");
    let p2p = P2pArgs { key_file: Some(key_file.clone()), ephemeral_identity: false, ..P2pArgs::local(Vec::new()) };
    let config = Config { p2p, ..node_config(&chain, &db.url) };
    let first = RunningNode::start(config.clone()).await;
    let peer_id = gossip(&first).peer_id();
    drop(first);
    let second = RunningNode::start(config).await;
    assert_eq!(gossip(&second).peer_id(), peer_id);
    assert!(std::fs::read_to_string(&key_file).is_ok_and(|k| !k.trim().is_empty()));
}

#[tokio::test]
async fn peers_with_secp256k1_and_ecdsa_identities_gossip_quotes_every_node_stores() {
    let chain = TestChain::start().await;
    let (first, second) = signed_quotes(&chain).await;
    let domain = chain.config.quote_domain();
    let (db_a, db_b) = (TestDb::postgres().await, TestDb::sqlite().await);
    // The nodes themselves use the other key types: a secp256k1 node and an ECDSA node.
    let node = |key_type, db: &TestDb, bootstrap| Config {
        p2p: P2pArgs { key_type, ..P2pArgs::local(bootstrap) },
        ..node_config(&chain, &db.url)
    };
    let a = RunningNode::start(node(KeyType::Secp256k1, &db_a, Vec::new())).await;
    let b = RunningNode::start(node(KeyType::Ecdsa, &db_b, addrs(&a))).await;
    // A peer id tells its key type: secp256k1 ids are the key inline (`16Uiu2…`), ECDSA keys
    // are too long for that and are hashed (`Qm…`), ed25519 ids start `12D3KooW`.
    assert!(gossip(&a).peer_id().to_string().starts_with("16Uiu2"), "{}", gossip(&a).peer_id());
    assert!(gossip(&b).peer_id().to_string().starts_with("Qm"), "{}", gossip(&b).peer_id());
    for n in [&a, &b] {
        wait_synced(&chain, &n.state).await;
    }
    wait_for_mesh(&[&a, &b], 1).await;

    // A secp256k1 prover (the key type of Ethereum's and Aztec's clients) that knows only A, and
    // an ECDSA prover that knows only B: both quotes reach both stores.
    let secp = prover_peer_with(KeyType::Secp256k1, addrs(&a)).await;
    let ecdsa = prover_peer_with(KeyType::Ecdsa, addrs(&b)).await;
    assert!(secp.peer_id().to_string().starts_with("16Uiu2") && ecdsa.peer_id().to_string().starts_with("Qm"));
    publish(&secp, GossipQuote { chain_id: chain.config.chain_id, signed: first }).await;
    publish(&ecdsa, GossipQuote { chain_id: chain.config.chain_id, signed: second }).await;
    for id in [first.id(&domain), second.id(&domain)] {
        for n in [&a, &b] {
            eventually("every node stores the quote", async || stored(n, id).await).await;
        }
    }
    // The peers are listed with their ids (which name their key type).
    let (_, peers) = a.get("/p2p").await;
    let listed = peers.to_string();
    assert!(listed.contains(&secp.peer_id().to_string()), "{peers}");
    assert!(listed.contains(&gossip(&b).peer_id().to_string()), "{peers}");
}

/// The js-libp2p peer (`tests/js-libp2p-peer`): its pinned packages installed once into the tools
/// cache, as anvil is, with the script beside them. The folder to run `node peer.mjs` in.
fn js_libp2p_peer() -> std::path::PathBuf {
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/js-libp2p-peer");
    let files = ["package.json", "package-lock.json", "peer.mjs"];
    let mut contents = Vec::new();
    for file in files {
        contents.extend(std::fs::read(source.join(file)).unwrap_or_else(|e| panic!("{file}: {e}")));
    }
    // Named after what is in it, so a changed script or lock file gets a folder of its own.
    let name = format!("js-libp2p-peer-{}", &alloy::primitives::keccak256(&contents).to_string()[2..14]);
    rollup_l1::devchain::cached_tool(&name, |staging| {
        for file in files {
            std::fs::copy(source.join(file), staging.join(file)).map_err(|e| format!("{file}: {e}"))?;
        }
        rollup_l1::devchain::npm(staging, &["ci", "--silent", "--no-audit", "--no-fund"])
    })
    .expect("the js-libp2p peer installs")
}

/// The js-libp2p peer's JSON lines.
async fn run_js_peer(dir: &std::path::Path, node: &Multiaddr, message: &[u8], key_type: &str) -> Vec<Value> {
    let output = tokio::process::Command::new("node")
        .arg("peer.mjs")
        .arg(node.to_string())
        .arg(alloy::primitives::hex::encode(message))
        .arg(key_type)
        .current_dir(dir)
        .output()
        .await
        .expect("node (Node.js) runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}"))).collect()
}

#[tokio::test]
async fn a_js_libp2p_peer_with_a_secp256k1_or_an_ed25519_identity_gossips_a_quote_the_node_stores() {
    let dir = tokio::task::spawn_blocking(js_libp2p_peer).await.expect("installs");
    let chain = TestChain::start().await;
    let (first, second) = signed_quotes(&chain).await;
    let domain = chain.config.quote_domain();
    let db = TestDb::sqlite().await;
    let a = gossip_node(&chain, &db, Vec::new()).await;
    let node_id = gossip(&a).peer_id().to_string();
    // js-libp2p, not the project's Rust libp2p: a secp256k1 identity (the key type of Ethereum's
    // and Aztec's clients, whose ids start `16Uiu2`) and an ed25519 one (`12D3KooW`).
    for (key_type, quote, prefix) in [("secp256k1", first, "16Uiu2"), ("ed25519", second, "12D3KooW")] {
        let message = GossipQuote { chain_id: chain.config.chain_id, signed: quote }.encode();
        let lines = run_js_peer(&dir, &addrs(&a)[0], &message, key_type).await;
        let peer_id = lines[0]["peerId"].as_str().expect("its peer id");
        assert!(peer_id.starts_with(prefix), "{key_type}: {lines:?}");
        assert!(lines[1]["published"].as_array().is_some_and(|r| r.iter().any(|p| p == node_id.as_str())), "{lines:?}");
        eventually("the node stores the quote", async || stored(&a, quote.id(&domain)).await).await;
    }
    // Counted once judged, which may come just after the quote is stored.
    let accepted = r#"coordination_node_p2p_messages_total{verdict="accepted",code="accepted"}"#;
    eventually("both quotes counted accepted", async || metric(&a, accepted).await == 2.0).await;
}
