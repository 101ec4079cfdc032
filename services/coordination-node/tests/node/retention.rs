//! Retention on a running node: the quotes and events of an epoch proven long enough ago are
//! deleted, what the explorer's records need is kept, and a stream resumed from a deleted id is
//! told so.

use std::time::Duration;

use coordination_node::Config;
use reqwest::StatusCode;
use rollup_l1::testkit::TestChain;

use crate::{
    app::{RunningNode, node_config, wait_synced},
    events::SseReader,
    support::TestDb,
};

async fn metric(node: &RunningNode, line: &str) -> Option<f64> {
    let text = node.client.get(format!("{}/metrics", node.base)).send().await.ok()?.text().await.ok()?;
    text.lines().find(|l| l.starts_with(line)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn a_node_deletes_the_quotes_and_events_of_epochs_settled_long_ago() {
    let chain = TestChain::start().await;
    let db = TestDb::postgres().await;
    // Keep one epoch behind the open one, settled two L1 blocks after its proof; run every 50 ms,
    // two rows per transaction.
    let config = Config {
        retention_epochs: 1,
        retention_confirmations: 2,
        retention_interval_ms: 50,
        retention_batch: 2,
        ..node_config(&chain, &db.url)
    };
    let node = RunningNode::start(config).await;
    chain.epoch_zero_ready_to_claim().await;
    wait_synced(&chain, &node.state).await;

    // Epoch 0: three quotes (the first prover's first one superseded), claimed and proven.
    let mut ids = Vec::new();
    for (prover, fee) in [(&chain.prover, 500), (&chain.prover2, 450), (&chain.prover, 400)] {
        let mut quote = chain.quote(prover, 0).await;
        quote.basis_point_fee = fee;
        let (status, body) = node.submit(&chain.sign(prover, quote)).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(body["id"].as_str().expect("id").to_owned());
    }
    let mut winner = chain.quote(&chain.prover, 0).await;
    winner.basis_point_fee = 400;
    chain.claim(winner).await.expect("claims");
    chain.prover.rollup.submit_epoch_proof(0, chain.proof(0).await).await.expect("proves");
    wait_synced(&chain, &node.state).await;
    let (_, before) = node.get(&format!("/provers/{}", chain.prover.address())).await;
    let (_, epoch_before) = node.get("/epochs/0").await;
    assert_eq!(epoch_before["quotesDeleted"], false, "{epoch_before}");
    let latest = node.store().latest_event_seq().await.expect("reads");

    // Epoch 0 is proven; once epoch 2 is open it is more than one epoch behind, but its proof is
    // one L1 block old: nothing goes yet.
    chain.warp_to_slot(2 * chain.config.epoch_duration).await;
    wait_synced(&chain, &node.state).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(node.get("/epochs/0").await.1["quotesDeleted"], false, "the proof is not settled yet");
    // Two more blocks: settled, and its quotes go.
    for _ in 0..2 {
        chain.anvil.mine().await.expect("mines");
    }
    wait_synced(&chain, &node.state).await;
    for _ in 0..200 {
        if node.get("/epochs/0").await.1["quotesDeleted"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (_, epoch) = node.get("/epochs/0").await;
    assert_eq!(epoch["quotesDeleted"], true, "{epoch}");
    for id in &ids {
        assert_eq!(node.get(&format!("/epoch-proof-quotes/{id}")).await.0, StatusCode::NOT_FOUND, "{id} deleted");
    }
    // The claim, the proof, the payout and each prover's record are kept.
    assert_eq!((epoch["state"].clone(), epoch["claim"]["outcome"].clone()), ("proven".into(), "proven".into()));
    assert_eq!(epoch["payout"], epoch_before["payout"]);
    let (_, after) = node.get(&format!("/provers/{}", chain.prover.address())).await;
    assert_eq!(after, before, "the prover's record is unchanged");
    assert_eq!(metric(&node, r#"coordination_node_retention_deleted_total{table="quotes"}"#).await, Some(3.0));
    assert_eq!(metric(&node, "coordination_node_retention_floor_epoch").await, Some(1.0));

    // Every event but the newest went (no event concerns a later epoch); the newest stays.
    for _ in 0..200 {
        if node.store().retention_marks().await.expect("reads").events_through == latest - 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(node.store().retention_marks().await.expect("reads").events_through, latest - 1);
    assert_eq!(node.store().latest_event_seq().await.expect("reads"), latest);

    // A client resuming from a deleted id is told which ids are gone, then gets what is kept.
    let mut resumed = SseReader::open(&node, Some(2)).await;
    let notice = resumed.next().await.expect("a notice");
    assert_eq!(notice.kind, "events_pruned", "{notice:?}");
    assert_eq!(
        (notice.data["lastEventId"].as_i64(), notice.data["prunedThrough"].as_i64()),
        (Some(2), Some(latest - 1))
    );
    assert_eq!(notice.id, Some(latest - 1), "a reconnect resumes after the notice");
    let kept = resumed.next().await.expect("the newest event");
    assert_eq!((kept.id, kept.kind.as_str()), (Some(latest), "proof_seen"));
    // A client resuming from an id that is kept, or not resuming, gets no notice.
    let mut current = SseReader::open(&node, Some(latest - 1)).await;
    assert_eq!(current.next().await.map(|e| (e.id, e.kind)), Some((Some(latest), "proof_seen".to_owned())));
    let mut fresh = SseReader::open(&node, None).await;
    assert!(fresh.next().await.is_none(), "nothing until the next event");
}
