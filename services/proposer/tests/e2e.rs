//! The whole system end to end on anvil: a proposer proposing blocks and claiming, two provers
//! with different prices quoting through the coordination node, the cheaper one winning and
//! proving each epoch, its bond returned and its fee paid.

use std::time::Duration;

use alloy::{primitives::U256, providers::Provider};
use clap::Parser;
use proposer::{BlockGenerator, Proposer};
use rollup_l1::{EpochState, devchain::Anvil, testkit::TestChain};

struct System {
    chain: TestChain,
    /// The node the proposer asks.
    node: String,
    /// In P2P mode: where provers join the gossip network (another node than the proposer's).
    gossip_entry: Option<String>,
    dir: tempfile::TempDir,
    _nodes: Vec<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl System {
    async fn start() -> Self {
        let chain = TestChain::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let database = format!("sqlite://{}?mode=rwc", dir.path().join("node.sqlite").display());
        let config = coordination_node::Config::local(chain.anvil.endpoint(), chain.deployment.rollup, database);
        let spawned = coordination_node::spawn(config, std::future::pending()).await.expect("node starts");
        let node = format!("http://{}/", spawned.addr);
        Self { chain, node, gossip_entry: None, dir, _nodes: vec![spawned.task] }
    }

    /// Two nodes on the gossip network: the proposer asks the first; provers know only the
    /// second's P2P address and no node URL.
    async fn start_p2p() -> Self {
        let chain = TestChain::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let mut bootstrap = Vec::new();
        let mut nodes = Vec::new();
        let mut urls = Vec::new();
        for name in ["a", "b"] {
            let database = format!("sqlite://{}?mode=rwc", dir.path().join(format!("{name}.sqlite")).display());
            let config = coordination_node::Config {
                p2p: quote_gossip::P2pArgs::local(bootstrap.clone()),
                ..coordination_node::Config::local(chain.anvil.endpoint(), chain.deployment.rollup, database)
            };
            let spawned = coordination_node::spawn(config, std::future::pending()).await.expect("node starts");
            bootstrap = spawned.state.gossip.as_ref().expect("on the network").listen_addrs().to_vec();
            urls.push(format!("http://{}/", spawned.addr));
            nodes.push(spawned.task);
        }
        let entry = bootstrap.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
        Self { chain, node: urls[0].clone(), gossip_entry: Some(entry), dir, _nodes: nodes }
    }

    async fn prover(&self, key_index: usize, fee: u32) -> prover_node::prover::ProverNode {
        let key = format!("0x{}", alloy::primitives::hex::encode(Anvil::dev_key(key_index).to_bytes()));
        let destination = match &self.gossip_entry {
            Some(entry) => ["--p2p-enabled", "true", "--p2p-bootstrap-peers", entry.as_str()],
            None => ["--coordination-node-url", self.node.as_str(), "--p2p-enabled", "false"],
        };
        let config = prover_node::Config::parse_from([
            "prover-node",
            "--private-key",
            &key,
            "--rollup-address",
            &self.chain.deployment.rollup.to_string(),
            "--l1-rpc-url",
            self.chain.anvil.endpoint().as_str(),
            destination[0],
            destination[1],
            destination[2],
            destination[3],
            "--quote-provider-basis-point-fee",
            &fee.to_string(),
            "--quote-provider-bond-amount",
            "5000",
            "--minimum-escrow-amount",
            "20000",
            "--state-path",
            self.dir.path().join(format!("prover-{key_index}.sqlite")).to_str().expect("path"),
        ]);
        prover_node::start(&config).await.expect("prover starts")
    }

    /// The test chain's first proposer, asking the node, with small generated blocks.
    fn proposer(&self) -> Proposer {
        self.proposer_asking(&self.node)
    }

    /// The same proposer asking `node` for quotes.
    fn proposer_asking(&self, node: &str) -> Proposer {
        Proposer::new(
            self.chain.proposer.rollup.clone(),
            self.chain.config,
            self.chain.proposer.address(),
            node.parse().expect("url"),
            BlockGenerator { min_txs: 1, max_txs: 5, fee_per_tx: U256::from(1_000) },
        )
        .expect("proposer")
    }

    async fn synced(&self) {
        let head = self.chain.anvil.provider().get_block_number().await.expect("head");
        for _ in 0..500 {
            let ready: serde_json::Value =
                reqwest::get(format!("{}readyz", self.node)).await.expect("readyz").json().await.unwrap_or_default();
            if ready["l1Block"].as_u64().is_some_and(|b| b >= head) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the node did not sync");
    }

    /// The kinds of every event the node's stream reports from the start.
    async fn event_kinds(&self) -> Vec<String> {
        let mut response = reqwest::get(format!("{}events?after=0", self.node)).await.expect("stream");
        let mut text = String::new();
        while let Ok(Ok(Some(chunk))) = tokio::time::timeout(Duration::from_millis(500), response.chunk()).await {
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        text.lines().filter_map(|l| l.strip_prefix("event: ")).map(str::to_owned).collect()
    }

    /// Waits until the proposer's node lists `count` claimable quotes for `epoch`.
    async fn wait_for_quotes(&self, epoch: u64, count: usize) {
        for _ in 0..500 {
            let page = self.get(&format!("epoch-proof-quotes?epoch={epoch}")).await;
            if page["quotes"].as_array().map(Vec::len) == Some(count) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the node never listed {count} quotes for epoch {epoch}");
    }

    async fn get(&self, path: &str) -> serde_json::Value {
        reqwest::get(format!("{}{path}", self.node)).await.expect("request").json().await.expect("json")
    }
}

#[tokio::test]
async fn three_epochs_each_won_by_the_cheapest_valid_quote_proven_and_paid() {
    three_epochs(System::start().await).await;
}

#[tokio::test]
async fn provers_that_only_gossip_win_the_same_loop() {
    three_epochs(System::start_p2p().await).await;
}

async fn three_epochs(system: System) {
    let chain = &system.chain;
    let expensive = system.prover(1, 300).await;
    let cheap = system.prover(2, 200).await;
    let proposer = system.proposer();
    let winner = chain.prover2.address();
    let loser = chain.prover.address();
    let balance_before = chain.balance(winner).await;
    let loser_balance_before = chain.balance(loser).await;

    // Epochs 0, 1, 2 and the claim window of 2 (slots 12 and 13); proofs land in epoch 3.
    for slot in 1..=14 {
        chain.warp_to_slot(slot).await;
        for _ in 0..2 {
            proposer.step().await.expect("proposer step");
            system.synced().await;
            expensive.step().await.expect("prover step");
            cheap.step().await.expect("prover step");
        }
    }

    let mut expected_fees = U256::ZERO;
    for epoch in 0..3u64 {
        let on_l1 = chain.proposer.rollup.epoch(epoch).await.expect("epoch");
        assert_eq!(on_l1.state, EpochState::Proven, "epoch {epoch} proven");
        expected_fees += on_l1.total_fees * U256::from(200) / U256::from(10_000);
        let seen = system.get(&format!("epochs/{epoch}")).await;
        assert_eq!(seen["state"], "proven", "the node saw epoch {epoch} proven: {seen}");
        assert_eq!(seen["claim"]["bondProvider"], winner.to_string(), "the cheaper prover won epoch {epoch}");
        assert_eq!(seen["claim"]["basisPointFee"], 200);
        assert_eq!(seen["claim"]["outcome"], "proven");
        let quotes = system.get(&format!("epoch-proof-quotes?epoch={epoch}&status=all")).await;
        let statuses: Vec<(String, String)> = quotes["quotes"]
            .as_array()
            .expect("quotes")
            .iter()
            .map(|q| (q["prover"].as_str().unwrap_or("").to_owned(), q["status"].as_str().unwrap_or("").to_owned()))
            .collect();
        assert!(statuses.contains(&(winner.to_string(), "proven".into())), "{statuses:?}");
        assert!(statuses.contains(&(loser.to_string(), "expired".into())), "{statuses:?}");
    }
    assert!(!expected_fees.is_zero());
    assert_eq!(
        chain.balance(winner).await - balance_before,
        expected_fees,
        "the winner was paid 200 bps of each epoch"
    );
    assert_eq!(chain.balance(loser).await, loser_balance_before, "the loser neither paid nor was paid");
    assert_eq!(
        chain.prover2.escrow.deposit_of(winner).await.expect("deposit"),
        U256::from(50_000),
        "every bond returned"
    );
    assert_eq!(chain.prover2.escrow.staked_of(winner).await.expect("staked"), U256::ZERO);

    // The event stream told the same story.
    let kinds = system.event_kinds().await;
    let count = |kind: &str| kinds.iter().filter(|k| *k == kind).count();
    assert!(count("epoch_completed") >= 3, "{kinds:?}");
    assert_eq!((count("claim_seen"), count("proof_seen")), (3, 3), "{kinds:?}");
    assert!(count("quote_accepted") >= 6, "both provers quoted each epoch: {kinds:?}");
    assert_eq!(count("bond_slashed"), 0, "{kinds:?}");
}

#[tokio::test]
async fn a_winner_that_stops_before_proving_is_slashed_and_the_chain_goes_on() {
    let system = System::start().await;
    let chain = &system.chain;
    let expensive = system.prover(1, 300).await;
    let cheap = system.prover(2, 200).await;
    let proposer = system.proposer();
    let quitter = chain.prover2.address();

    for slot in 1..=14 {
        chain.warp_to_slot(slot).await;
        for _ in 0..2 {
            proposer.step().await.expect("proposer step");
            system.synced().await;
            expensive.step().await.expect("prover step");
            // The cheaper prover runs until its quote for epoch 0 is claimed, then stops.
            if chain.proposer.rollup.proof_claim().await.expect("claim").is_none() && slot <= 4 {
                cheap.step().await.expect("prover step");
            }
        }
    }

    let seen = system.get("epochs/0").await;
    assert_eq!(seen["state"], "pruned", "{seen}");
    assert_eq!(seen["claim"]["bondProvider"], quitter.to_string());
    assert_eq!(seen["claim"]["outcome"], "slashed");
    assert_eq!(chain.proposer.rollup.slashed_funds().await.expect("slashed"), U256::from(5_000));
    assert_eq!(chain.prover2.escrow.staked_of(quitter).await.expect("staked"), U256::ZERO);
    assert_eq!(
        chain.prover2.escrow.deposit_of(quitter).await.expect("deposit"),
        U256::from(45_000),
        "the bond is gone"
    );
    let claimed: serde_json::Value = system.get(&format!("claims?prover={quitter}")).await;
    let quote_id = claimed["claims"][0]["quoteId"].as_str().expect("id").to_owned();
    assert_eq!(system.get(&format!("epoch-proof-quotes/{quote_id}")).await["status"], "slashed");

    // The chain went on: epoch 2 was claimed by the remaining prover and proven.
    let epoch2 = system.get("epochs/2").await;
    assert_eq!(epoch2["state"], "proven", "{epoch2}");
    assert_eq!(epoch2["claim"]["bondProvider"], chain.prover.address().to_string());
}

#[tokio::test]
async fn over_http_a_cheaper_quote_arriving_300_ms_later_still_wins() {
    cheaper_quote_arriving_later_wins(System::start().await).await;
}

#[tokio::test]
async fn over_gossip_a_cheaper_quote_arriving_300_ms_later_still_wins() {
    cheaper_quote_arriving_later_wins(System::start_p2p().await).await;
}

/// The expensive prover quotes the moment the claim window opens and the proposer sees it at
/// once; the cheaper quote comes 300 ms later, inside the proposer's collection time, and wins.
/// The node then says why the other lost.
async fn cheaper_quote_arriving_later_wins(system: System) {
    let chain = &system.chain;
    let expensive = system.prover(1, 300).await;
    let cheap = system.prover(2, 200).await;
    let proposer = system.proposer().collecting_for(Duration::from_millis(1_500));
    for slot in 1..=3 {
        chain.warp_to_slot(slot).await;
        proposer.step().await.expect("proposer step");
    }
    chain.warp_to_slot(chain.config.claim_window(0).0).await;
    system.synced().await;
    assert_eq!(expensive.step().await.expect("prover step").quoted, vec![0]);
    system.wait_for_quotes(0, 1).await;
    assert_eq!(proposer.step().await.expect("proposer step").claimed, None, "still collecting");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(cheap.step().await.expect("prover step").quoted, vec![0]);
    let started = std::time::Instant::now();
    let claimed = loop {
        if let Some(claimed) = proposer.step().await.expect("proposer step").claimed {
            break claimed;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "the proposer claimed once it had collected");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let claim = chain.proposer.rollup.proof_claim().await.expect("claim").expect("claimed on L1");
    assert_eq!((claimed.0, claim.bond_provider, claim.basis_point_fee), (0, chain.prover2.address(), 200));
    system.synced().await;
    let all = system.get("epoch-proof-quotes?epoch=0&status=all").await;
    let loser = all["quotes"]
        .as_array()
        .expect("quotes")
        .iter()
        .find(|q| q["prover"] == chain.prover.address().to_string())
        .expect("the expensive quote is kept")
        .clone();
    assert_eq!((loser["status"].as_str(), loser["lost"].as_str()), (Some("expired"), Some("outbid")), "{loser}");
    assert_eq!(loser["outbidBy"]["quoteId"], claimed.1.to_string(), "{loser}");
    assert_eq!(loser["outbidBy"]["basisPointFee"], 200, "{loser}");
    let by_id = system.get(&format!("epoch-proof-quotes/{}", loser["id"].as_str().expect("id"))).await;
    assert_eq!(by_id["lost"], "outbid", "{by_id}");
}

/// A stand-in for the node on a free port: answers `500` while `failing` is set, else forwards
/// each GET to `node`. Returns its base URL.
async fn failing_front(node: String, failing: std::sync::Arc<std::sync::atomic::AtomicBool>) -> String {
    use axum::{http::StatusCode, response::IntoResponse};
    let client = reqwest::Client::new();
    let app = axum::Router::new().fallback(move |uri: axum::http::Uri| {
        let (client, node, failing) = (client.clone(), node.clone(), failing.clone());
        async move {
            if failing.load(std::sync::atomic::Ordering::SeqCst) {
                return (StatusCode::INTERNAL_SERVER_ERROR, r#"{"code":"internal_error","message":"boom"}"#.to_owned())
                    .into_response();
            }
            let path = uri.path_and_query().map_or("/", |p| p.as_str()).trim_start_matches('/');
            let answer = client.get(format!("{node}{path}")).send().await.expect("node answers");
            let status = StatusCode::from_u16(answer.status().as_u16()).expect("status");
            (status, answer.text().await.expect("body")).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/")
}

/// A node answering 500 is not "no quotes": the proposer counts it, keeps proposing, and claims
/// the epoch once the node answers again.
#[tokio::test]
async fn a_failing_node_is_counted_and_the_epoch_is_claimed_once_it_recovers() {
    use std::sync::{Arc, atomic::AtomicBool};
    let system = System::start().await;
    let chain = &system.chain;
    let prover = system.prover(2, 200).await;
    let failing = Arc::new(AtomicBool::new(true));
    let front = failing_front(system.node.clone(), failing.clone()).await;
    let proposer = system.proposer_asking(&front);
    for slot in 1..=3 {
        chain.warp_to_slot(slot).await;
        assert_eq!(proposer.step().await.expect("proposer step").proposed, Some(slot));
    }
    chain.warp_to_slot(chain.config.claim_window(0).0).await;
    system.synced().await;
    assert_eq!(prover.step().await.expect("prover step").quoted, vec![0]);

    let report = proposer.step().await.expect("a failing node does not stop the proposer");
    assert_eq!(report.claimed, None);
    assert_eq!(report.proposed, Some(chain.config.claim_window(0).0), "it still proposes");
    assert_eq!(proposer.metrics().node_failures.get(), 1);

    failing.store(false, std::sync::atomic::Ordering::SeqCst);
    let claimed = proposer.step().await.expect("proposer step").claimed;
    assert_eq!(claimed.map(|(epoch, _)| epoch), Some(0), "claimed once the node answers");
    assert_eq!(proposer.metrics().node_failures.get(), 1);
    assert_eq!(proposer.metrics().epochs_claimed.get(), 1);
}
