//! Two and three peers on loopback: connection through the bootstrap list, publishing, the
//! validation hook, and discovery of a peer nobody was told about.

use std::time::Duration;

use epoch_quote::{Address, EpochProofQuote, QuoteDomain, QuoteSigner, U256};
use quote_gossip::{GossipHandle, GossipQuote, Inbound, P2pArgs, PublishError, Published, Role, Verdict};
use tokio::sync::mpsc;

async fn peer(role: Role, bootstrap: Vec<quote_gossip::Multiaddr>) -> (GossipHandle, mpsc::Receiver<Inbound>) {
    let settings = P2pArgs::local(bootstrap).settings(role, None, None).expect("settings");
    quote_gossip::start(settings).await.expect("starts")
}

/// A peer that keeps to its bootstrap list, so that what reaches others went through it.
async fn lone_peer(role: Role, bootstrap: Vec<quote_gossip::Multiaddr>) -> (GossipHandle, mpsc::Receiver<Inbound>) {
    let args = P2pArgs { discovery: false, ..P2pArgs::local(bootstrap) };
    quote_gossip::start(args.settings(role, None, None).expect("settings")).await.expect("starts")
}

fn quote(epoch: u64) -> GossipQuote {
    let signer = QuoteSigner::from_bytes([9; 32]).expect("key");
    let rollup = Address::repeat_byte(0x22);
    let quote = EpochProofQuote {
        prover: signer.address(),
        epoch_number: U256::from(epoch),
        epoch_init_block: U256::from(1),
        epoch_final_block: U256::from(4),
        total_fees: U256::from(10_000),
        rollup_address: rollup,
        basis_point_fee: 300,
        bond_amount: U256::from(5_000),
        valid_until_slot: U256::from(99),
    };
    GossipQuote { chain_id: 31337, signed: signer.sign(quote, &QuoteDomain::new(31337, rollup)) }
}

/// Waits up to 10 s for `check`; on timeout, fails with what each of `peers` sees, so an
/// occasional failure says which connection or subscription never came.
async fn until(what: &str, peers: &[&GossipHandle], check: impl Fn() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut seen = String::new();
    for peer in peers {
        let listed: Vec<String> =
            peer.peers().await.iter().map(|p| format!("{} subscribed={}", p.peer_id, p.subscribed)).collect();
        seen += &format!(
            "\n  {} ({} connected, {} on the topic): {listed:?}",
            peer.peer_id(),
            peer.connected_peers(),
            peer.topic_peers()
        );
    }
    panic!("timed out waiting until {what}; the peers see:{seen}");
}

async fn publish(peer: &GossipHandle, quote: &GossipQuote) -> Published {
    for _ in 0..200 {
        match peer.publish(quote).await {
            Err(PublishError::NoPeers) => tokio::time::sleep(Duration::from_millis(50)).await,
            other => return other.expect("published"),
        }
    }
    panic!("nobody subscribed");
}

async fn next(inbound: &mut mpsc::Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(Duration::from_secs(10), inbound.recv()).await.expect("a message arrives").expect("open")
}

#[tokio::test]
async fn a_publisher_reaches_a_validator_and_accepted_quotes_are_forwarded() {
    let (a, mut a_in) = peer(Role::Validator, Vec::new()).await;
    let (b, mut b_in) = peer(Role::Validator, a.listen_addrs().to_vec()).await;
    let (prover, _) = lone_peer(Role::Publisher, a.listen_addrs().to_vec()).await;
    until("A sees B and the prover", &[&a, &b, &prover], || a.connected_peers() == 2 && a.topic_peers() == 1).await;
    until("B sees A subscribed", &[&a, &b, &prover], || b.topic_peers() == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let q = quote(1);
    assert_eq!(publish(&prover, &q).await, Published::Sent);
    let message = next(&mut a_in).await;
    assert_eq!(message.quote.as_ref().ok(), Some(&q));
    assert_eq!(&message.message_id.0[..32], q.id().as_slice(), "the message id starts with the quote id");
    assert_eq!(message.source, prover.peer_id());
    // Nothing reaches B before A accepts it.
    assert!(tokio::time::timeout(Duration::from_millis(300), b_in.recv()).await.is_err());
    a.report(message.message_id, message.source, Verdict::Accept).await;
    let forwarded = next(&mut b_in).await;
    assert_eq!(forwarded.quote.ok(), Some(q));
    assert_eq!(forwarded.source, a.peer_id());
    b.report(forwarded.message_id, forwarded.source, Verdict::Ignore).await;

    // The same quote again is one message: not delivered twice.
    assert_eq!(prover.publish(&q).await, Ok(Published::AlreadySeen));
}

#[tokio::test]
async fn a_rejected_message_is_not_forwarded_and_lowers_the_senders_score() {
    let (a, mut a_in) = peer(Role::Validator, Vec::new()).await;
    let (b, mut b_in) = peer(Role::Validator, a.listen_addrs().to_vec()).await;
    let (rogue, _) = lone_peer(Role::Publisher, a.listen_addrs().to_vec()).await;
    until("A sees B and the rogue", &[&a, &b, &rogue], || a.connected_peers() == 2 && b.topic_peers() == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    assert_eq!(rogue.publish_raw(b"\x0a\x02zz".to_vec()).await, Ok(Published::Sent));
    let message = next(&mut a_in).await;
    let error = message.quote.as_ref().expect_err("malformed");
    assert_eq!(error.code(), "malformed_message");
    a.report(message.message_id, message.source, Verdict::Reject).await;
    assert!(tokio::time::timeout(Duration::from_millis(500), b_in.recv()).await.is_err(), "not forwarded");
    let peers = a.peers().await;
    let rogue_score = peers.iter().find(|p| p.peer_id == rogue.peer_id()).and_then(|p| p.score).expect("scored");
    assert!(rogue_score < -9.0, "{peers:?}");
    let b_info = peers.iter().find(|p| p.peer_id == b.peer_id()).expect("B listed");
    assert!(b_info.subscribed && b_info.score.unwrap_or(0.0) >= 0.0, "{peers:?}");
}

#[tokio::test]
async fn a_peer_past_the_graylist_threshold_is_disconnected_and_its_redials_refused() {
    let (a, mut a_in) = peer(Role::Validator, Vec::new()).await;
    let (rogue, _) = lone_peer(Role::Publisher, a.listen_addrs().to_vec()).await;
    until("A sees the rogue", &[&a, &rogue], || a.connected_peers() == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Each rejection counts squared (10, 40, 90): the third crosses -80.
    for n in 0..3u8 {
        assert_eq!(rogue.publish_raw(vec![0x0a, 0x01, n]).await, Ok(Published::Sent));
        let message = next(&mut a_in).await;
        a.report(message.message_id, message.source, Verdict::Forged).await;
        if n < 2 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(a.blocked_peers(), 0, "not blocked after {} rejections", n + 1);
        }
    }
    until("the rogue is blocked", &[&a, &rogue], || a.blocked_peers() == 1).await;
    assert_eq!(a.blocked().await, vec![rogue.peer_id()]);
    until("the rogue is disconnected", &[&a, &rogue], || a.connected_peers() == 0 && rogue.connected_peers() == 0)
        .await;
    // Alone, the rogue redials its bootstrap peer every 5 s; A refuses it.
    tokio::time::sleep(Duration::from_secs(6)).await;
    assert_eq!((a.connected_peers(), rogue.connected_peers()), (0, 0));
    assert!(matches!(rogue.publish_raw(b"more".to_vec()).await, Err(PublishError::NoPeers)));
}

#[tokio::test]
async fn a_peer_graylisted_for_quotes_that_are_not_forged_is_not_blocked() {
    let (a, mut a_in) = peer(Role::Validator, Vec::new()).await;
    let (sender, _) = lone_peer(Role::Publisher, a.listen_addrs().to_vec()).await;
    until("A sees the sender", &[&a, &sender], || a.connected_peers() == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Rejected, but not forged (an epoch this node's L1 branch does not have, say): the score
    // falls past -80, and the peer stays connected.
    for n in 0..3u8 {
        assert_eq!(sender.publish_raw(vec![0x0a, 0x01, n]).await, Ok(Published::Sent));
        let message = next(&mut a_in).await;
        a.report(message.message_id, message.source, Verdict::Reject).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let score = a.peers().await.iter().find(|p| p.peer_id == sender.peer_id()).and_then(|p| p.score);
    assert!(score.is_some_and(|s| s <= -80.0), "graylisted: {score:?}");
    assert_eq!((a.blocked_peers(), a.connected_peers()), (0, 1));
}

#[tokio::test]
async fn peers_find_each_other_beyond_the_bootstrap_list() {
    let (a, _a_in) = peer(Role::Validator, Vec::new()).await;
    let (b, _b_in) = peer(Role::Validator, a.listen_addrs().to_vec()).await;
    // C knows only B; it finds A through B.
    let (c, _c_in) = peer(Role::Validator, b.listen_addrs().to_vec()).await;
    until("C connects to A", &[&a, &b, &c], || c.connected_peers() == 2).await;
    let found: Vec<_> = c.peers().await.into_iter().map(|p| p.peer_id).collect();
    assert!(found.contains(&a.peer_id()) && found.contains(&b.peer_id()), "{found:?}");
    // Without discovery, D keeps to B (and, not answering discovery queries, is not found).
    let (d, _d_in) = lone_peer(Role::Validator, b.listen_addrs().to_vec()).await;
    until("D connects to B", &[&b, &d], || d.connected_peers() == 1).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(d.peers().await.into_iter().map(|p| p.peer_id).collect::<Vec<_>>(), vec![b.peer_id()]);
}

#[tokio::test]
async fn a_burst_of_quotes_arrives_whole() {
    let (a, mut a_in) = peer(Role::Validator, Vec::new()).await;
    let (prover, _) = peer(Role::Publisher, a.listen_addrs().to_vec()).await;
    until("A sees the prover", &[&a, &prover], || a.connected_peers() == 1).await;
    let quotes: Vec<GossipQuote> = (0..300).map(quote).collect();
    publish(&prover, &quotes[0]).await;
    for q in &quotes[1..] {
        assert_eq!(prover.publish(q).await, Ok(Published::Sent));
    }
    let mut seen = std::collections::HashSet::new();
    while seen.len() < quotes.len() {
        let message = next(&mut a_in).await;
        a.report(message.message_id.clone(), message.source, Verdict::Accept).await;
        seen.insert(message.quote.expect("well-formed").id());
    }
    assert_eq!(seen.len(), 300);
}
