//! The prover node's parts against a real chain and a real pricing service.

use std::{
    sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    },
    time::Duration,
};

use alloy::primitives::U256;
use prover_node::{
    bond::{BondAction, BondError, BondManager},
    pricing::{EpochToPrice, Pricing, QuoteProvider},
};
use rollup_l1::{EscrowContract, TokenContract, devchain::Anvil, testkit::TestChain};

/// A stub HTTP server answering `answers` in turn (the last one repeatedly), counting calls.
async fn stub(answers: Vec<(u16, &'static str)>, delay: Duration) -> (reqwest::Url, Arc<AtomicU32>) {
    let calls = Arc::new(AtomicU32::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().fallback(move || {
        let n = counter.fetch_add(1, Ordering::SeqCst) as usize;
        let (status, body) = answers[n.min(answers.len() - 1)];
        async move {
            tokio::time::sleep(delay).await;
            (axum::http::StatusCode::from_u16(status).expect("status"), body)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/", listener.local_addr().expect("addr")).parse().expect("url");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, calls)
}

/// Waits until the coordination node at `node` (base URL with a trailing slash) has seen the
/// chain's head.
async fn wait_node_synced(chain: &TestChain, node: &str) {
    use alloy::providers::Provider;
    let head = chain.anvil.provider().get_block_number().await.expect("head");
    for _ in 0..500 {
        let ready: serde_json::Value =
            reqwest::get(format!("{node}readyz")).await.expect("readyz").json().await.unwrap_or_default();
        if ready["l1Block"].as_u64().is_some_and(|b| b >= head) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the node did not sync");
}

/// A coordination node on a SQLite file in `dir`, following `chain`; returns its base URL.
async fn start_node(
    chain: &TestChain,
    dir: &std::path::Path,
) -> (String, tokio::task::JoinHandle<std::io::Result<()>>) {
    let database = format!("sqlite://{}?mode=rwc", dir.join("node.sqlite").display());
    let config = coordination_node::Config::local(chain.anvil.endpoint(), chain.deployment.rollup, database);
    let node = coordination_node::spawn(config, std::future::pending()).await.expect("node starts");
    (format!("http://{}/", node.addr), node.task)
}

mod bond {
    use super::*;

    fn manager(chain: &TestChain, index: usize, minimum: u64, target: u64) -> BondManager {
        let key = Anvil::dev_key(index);
        let provider = chain.anvil.wallet_provider(&key);
        BondManager::new(
            key.address(),
            TokenContract::new(chain.deployment.token, provider.clone()),
            EscrowContract::new(chain.deployment.escrow, provider),
            U256::from(minimum),
            U256::from(target),
        )
    }

    #[tokio::test]
    async fn below_the_minimum_it_tops_up_to_the_target_and_above_it_does_nothing() {
        let chain = TestChain::start().await;
        // The test chain's first prover has 50,000 deposited.
        let bonds = manager(&chain, 1, 100_000, 200_000);
        assert_eq!(
            bonds.ensure_bond(U256::ZERO).await.expect("tops up"),
            BondAction::ToppedUp { deposited: U256::from(150_000), deposit: U256::from(200_000) }
        );
        assert_eq!(
            bonds.ensure_bond(U256::ZERO).await.expect("checks"),
            BondAction::Sufficient { deposit: U256::from(200_000) }
        );
        // A quote whose bond exceeds the deposit: up to that bond.
        assert_eq!(
            bonds.ensure_bond(U256::from(300_000)).await.expect("tops up"),
            BondAction::ToppedUp { deposited: U256::from(100_000), deposit: U256::from(300_000) }
        );
    }

    #[tokio::test]
    async fn a_prover_without_allowance_approves_first() {
        let chain = TestChain::start().await;
        let fresh = Anvil::dev_key(5);
        let minter = TokenContract::new(chain.deployment.token, chain.anvil.wallet_provider(&Anvil::dev_key(0)));
        minter.mint(fresh.address(), U256::from(10_000)).await.expect("mints");
        let bonds = manager(&chain, 5, 1_000, 4_000);
        assert_eq!(
            bonds.ensure_bond(U256::ZERO).await.expect("approves and deposits"),
            BondAction::ToppedUp { deposited: U256::from(4_000), deposit: U256::from(4_000) }
        );
    }

    #[tokio::test]
    async fn not_enough_tokens_is_a_clear_error() {
        let chain = TestChain::start().await;
        let bonds = manager(&chain, 1, 10_000_000, 20_000_000);
        match bonds.ensure_bond(U256::ZERO).await {
            Err(BondError::InsufficientTokens { balance, needed, .. }) => {
                assert_eq!((balance, needed), (U256::from(950_000), U256::from(20_000_000 - 50_000)));
            }
            other => panic!("expected InsufficientTokens, got {other:?}"),
        }
    }
}

mod pricing {
    use super::*;

    fn epoch(total_fees: u64) -> EpochToPrice {
        EpochToPrice {
            epoch_number: 7,
            from_block: 29,
            end_block: 32,
            tx_count: 40,
            total_fees: U256::from(total_fees),
            valid_until_slot: None,
        }
    }

    #[tokio::test]
    async fn the_real_quote_service_prices_an_epoch() {
        use clap::Parser;
        let config = quote_service::Config {
            overrides: vec![quote_service::policy::Override {
                path: vec!["epoch_duration_slots".into()],
                value: "4".into(),
            }],
            ..quote_service::Config::parse_from(["quote-service"])
        };
        let state = quote_service::AppState::new(config).expect("policy");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url: reqwest::Url = format!("http://{}", listener.local_addr().expect("addr")).parse().expect("url");
        tokio::spawn(quote_service::run(state, listener, std::future::pending()));
        let provider = QuoteProvider::http(url, Duration::from_secs(2), 2).expect("client");
        let pricing = provider.get_quote(&epoch(2_000_000_000_000_000_000)).await.expect("a quote");
        assert!(pricing.basis_point_fee >= 1 && !pricing.bond_amount.is_zero());
        assert_eq!(pricing.valid_until_slot, Some(U256::from(8 * 4 + 3)));
        // The prover asks for the slot it needs: a shorter validity is honoured.
        let shorter = EpochToPrice { valid_until_slot: Some(33), ..epoch(2_000_000_000_000_000_000) };
        assert_eq!(provider.get_quote(&shorter).await.expect("a quote").valid_until_slot, Some(U256::from(33)));
        // Fees below the cost: declined, no quote.
        assert_eq!(provider.get_quote(&epoch(10)).await, None);
    }

    #[tokio::test]
    async fn missing_fields_declines_and_failures_give_no_quote() {
        let (url, _) = stub(vec![(200, r#"{"basisPointFee":250}"#)], Duration::ZERO).await;
        assert_eq!(
            QuoteProvider::http(url, Duration::from_secs(1), 0).expect("client").get_quote(&epoch(1)).await,
            None
        );

        let (url, calls) = stub(vec![(422, r#"{"code":"fees_below_cost"}"#)], Duration::ZERO).await;
        let provider = QuoteProvider::http(url, Duration::from_secs(1), 3).expect("client");
        assert_eq!(provider.get_quote(&epoch(1)).await, None);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a decline is not retried");

        let (url, calls) = stub(vec![(500, "boom")], Duration::ZERO).await;
        assert_eq!(
            QuoteProvider::http(url, Duration::from_secs(1), 2).expect("client").get_quote(&epoch(1)).await,
            None
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3, "bounded retries");

        let (url, _) = stub(vec![(200, r#"{"basisPointFee":1,"bondAmount":"1"}"#)], Duration::from_secs(3)).await;
        let slow = QuoteProvider::http(url, Duration::from_millis(200), 0).expect("client");
        assert_eq!(slow.get_quote(&epoch(1)).await, None, "a timeout is no quote");
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried() {
        let (url, calls) =
            stub(vec![(503, "busy"), (200, r#"{"basisPointFee":"300","bondAmount":"0x10"}"#)], Duration::ZERO).await;
        let pricing = QuoteProvider::http(url, Duration::from_secs(1), 2).expect("client").get_quote(&epoch(1)).await;
        assert_eq!(
            pricing,
            Some(Pricing { basis_point_fee: 300, bond_amount: U256::from(16), valid_until_slot: None })
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_simple_provider_answers_its_settings() {
        let simple = QuoteProvider::Simple { basis_point_fee: 100, bond_amount: U256::from(1000) };
        assert_eq!(
            simple.get_quote(&epoch(1)).await,
            Some(Pricing { basis_point_fee: 100, bond_amount: U256::from(1000), valid_until_slot: None })
        );
    }
}

mod whole_loop {
    use super::*;
    use clap::Parser;
    use epoch_quote::SignedEpochProofQuote;

    struct Loop {
        chain: TestChain,
        node_url: String,
        dir: tempfile::TempDir,
        _node: tokio::task::JoinHandle<std::io::Result<()>>,
    }

    async fn start_loop() -> Loop {
        let chain = TestChain::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        let (node_url, node) = start_node(&chain, dir.path()).await;
        Loop { chain, node_url, dir, _node: node }
    }

    impl Loop {
        fn config(&self, key_index: usize) -> prover_node::Config {
            let key = format!("0x{}", alloy::primitives::hex::encode(Anvil::dev_key(key_index).to_bytes()));
            prover_node::Config::parse_from([
                "prover-node",
                "--private-key",
                &key,
                "--rollup-address",
                &self.chain.deployment.rollup.to_string(),
                "--l1-rpc-url",
                self.chain.anvil.endpoint().as_str(),
                "--coordination-node-url",
                &self.node_url,
                "--minimum-escrow-amount",
                "20000",
                "--target-escrow-amount",
                "60000",
                "--quote-provider-basis-point-fee",
                "300",
                "--quote-provider-bond-amount",
                "5000",
                "--state-path",
                self.dir.path().join(format!("prover-{key_index}.sqlite")).to_str().expect("path"),
            ])
        }

        async fn node_synced(&self) {
            wait_node_synced(&self.chain, &self.node_url).await;
        }

        async fn best_quote(&self, epoch: u64) -> Option<SignedEpochProofQuote> {
            let page: serde_json::Value = reqwest::get(format!("{}epoch-proof-quotes?epoch={epoch}", self.node_url))
                .await
                .expect("list")
                .json()
                .await
                .expect("json");
            page["quotes"].get(0).map(|q| serde_json::from_value(q.clone()).expect("a signed quote"))
        }
    }

    #[tokio::test]
    async fn epoch_quote_claim_proof_bond_returned_and_fee_paid() {
        let l = start_loop().await;
        let chain = &l.chain;
        let prover = std::sync::Arc::new(prover_node::start(&l.config(1)).await.expect("prover starts"));
        let me = chain.prover.address();

        // Nothing to quote while epoch 0 is open.
        chain.propose_at(&chain.proposer, 1, 3, 3_000).await;
        assert!(prover.step().await.expect("step").quoted.is_empty(), "never before the epoch ends");
        chain.propose_at(&chain.proposer2, 2, 5, 7_000).await;
        chain.warp_to_slot(4).await;
        l.node_synced().await;

        assert_eq!(prover.step().await.expect("step").quoted, vec![0]);
        assert!(prover.step().await.expect("step").quoted.is_empty(), "exactly one quote per epoch");
        let best = l.best_quote(0).await.expect("the node has our quote");
        assert_eq!((best.quote.prover, best.quote.basis_point_fee), (me, 300));

        let deposit_before = chain.prover.escrow.deposit_of(me).await.expect("deposit");
        let balance_before = chain.balance(me).await;
        chain.proposer.rollup.claim_epoch_proof_right(&best).await.expect("claims");
        assert_eq!(prover.step().await.expect("step").proving, vec![0]);
        assert_eq!(chain.proposer.rollup.epoch(0).await.expect("epoch").state, rollup_l1::EpochState::Proven);
        assert_eq!(chain.prover.escrow.deposit_of(me).await.expect("deposit"), deposit_before, "bond returned");
        // 10,000 of fees at 300 bps.
        assert_eq!(chain.balance(me).await - balance_before, U256::from(300), "fee paid");

        // What it did is in its metrics.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, prover.metrics().router()).await });
        let text = reqwest::get(format!("http://{addr}/metrics")).await.expect("metrics").text().await.expect("text");
        for line in [
            "prover_node_quotes_sent_total 1",
            "prover_node_claims_won_total 1",
            "prover_node_proofs_submitted_total 1",
        ] {
            assert!(text.contains(line), "{line} in {text}");
        }
        assert_eq!(reqwest::get(format!("http://{addr}/healthz")).await.expect("health").status(), 200);

        // A restart does not start the job again.
        let restarted = prover_node::start(&l.config(1)).await.expect("restarts");
        let report = restarted.step().await.expect("step");
        assert!(report.proving.is_empty() && report.quoted.is_empty(), "{report:?}");
    }

    #[tokio::test]
    async fn a_claim_for_another_prover_starts_nothing_and_empty_epochs_get_no_quote() {
        let l = start_loop().await;
        let chain = &l.chain;
        let prover = prover_node::start(&l.config(1)).await.expect("prover starts");
        // Epoch 0 has no blocks: nothing to quote once it ends.
        chain.warp_to_slot(4).await;
        assert!(prover.step().await.expect("step").quoted.is_empty());
        // Epoch 1 gets blocks; the other prover's quote is claimed.
        chain.propose_at(&chain.proposer, 5, 1, 1_000).await;
        chain.warp_to_slot(8).await;
        let theirs = chain.sign(&chain.prover2, chain.quote(&chain.prover2, 1).await);
        chain.proposer.rollup.claim_epoch_proof_right(&theirs).await.expect("claims");
        let report = prover.step().await.expect("step");
        assert!(report.proving.is_empty(), "{report:?}");
        assert!(report.quoted.is_empty(), "a claimed epoch is not quoted: {report:?}");
    }

    #[tokio::test]
    async fn bad_settings_stop_it_with_a_clear_message() {
        let l = start_loop().await;
        let mut config = l.config(1);
        config.coordination_node_url = None;
        let error = prover_node::start(&config).await.expect_err("refused");
        assert!(error.to_string().contains("PROVER_COORDINATION_NODE_URL"), "{error}");
        config.p2p.enabled = true;
        let error = prover_node::start(&config).await.expect_err("refused");
        assert!(error.to_string().contains("P2P"), "{error}");
        assert!(
            prover_node::Config::try_parse_from(["prover-node", "--private-key", "0x12", "--rollup-address", "0x00"])
                .is_err(),
            "a bad key is refused at parse time"
        );
    }
}

mod jobs {
    use super::*;
    use clap::Parser;

    async fn node(chain: &TestChain) -> (String, tokio::task::JoinHandle<std::io::Result<()>>, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("temp dir");
        let (url, handle) = start_node(chain, dir.path()).await;
        (url, handle, dir)
    }

    fn config(chain: &TestChain, node: &str, dir: &std::path::Path, extra: &[&str]) -> prover_node::Config {
        let key = format!("0x{}", alloy::primitives::hex::encode(Anvil::dev_key(1).to_bytes()));
        let mut args = vec![
            "prover-node".to_owned(),
            "--private-key".into(),
            key,
            "--rollup-address".into(),
            chain.deployment.rollup.to_string(),
            "--l1-rpc-url".into(),
            chain.anvil.endpoint().to_string(),
            "--coordination-node-url".into(),
            node.to_owned(),
            "--minimum-escrow-amount".into(),
            "20000".into(),
            "--state-path".into(),
            dir.join("prover.sqlite").display().to_string(),
        ];
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        prover_node::Config::parse_from(args)
    }

    /// The node's refusal decides what the prover does next, by its code: a decided epoch is
    /// not quoted again, an epoch the node has not seen end is, a failing node is retried.
    #[tokio::test]
    async fn the_node_answer_decides_whether_the_quote_is_sent_again() {
        let chain = TestChain::start().await;
        let dir = tempfile::tempdir().expect("temp dir");
        chain.propose_at(&chain.proposer, 1, 1, 1_000).await;
        chain.warp_to_slot(4).await;
        let cases: [(u16, &'static str, u32); 3] = [
            (422, r#"{"code":"epoch_already_claimed","message":"epoch 0 is already claimed"}"#, 1),
            (422, r#"{"code":"epoch_not_complete","message":"epoch 0 has not ended"}"#, 2),
            (503, r#"{"code":"database_unavailable","message":"the database is unavailable"}"#, 8),
        ];
        for (n, (status, body, expected_calls)) in cases.into_iter().enumerate() {
            let (node, calls) = stub(vec![(status, body)], Duration::ZERO).await;
            let state = dir.path().join(format!("case-{n}"));
            std::fs::create_dir_all(&state).expect("dir");
            let prover = prover_node::start(&config(
                &chain,
                node.as_str(),
                &state,
                &["--quote-provider-basis-point-fee", "300"],
            ))
            .await
            .expect("starts");
            for _ in 0..2 {
                assert!(prover.step().await.expect("step").quoted.is_empty(), "{body}: not delivered");
            }
            assert_eq!(calls.load(Ordering::SeqCst), expected_calls, "{body}: requests over two polls");
        }
    }

    #[tokio::test]
    async fn after_downtime_epochs_past_their_window_are_not_quoted() {
        let chain = TestChain::start().await;
        let (url, _node, dir) = node(&chain).await;
        chain.propose_at(&chain.proposer, 1, 1, 1_000).await;
        // The prover was down through epoch 0's claim window (slots 4 and 5).
        chain.warp_to_slot(6).await;
        let prover = prover_node::start(&config(&chain, &url, dir.path(), &[])).await.expect("starts");
        assert!(prover.step().await.expect("step").quoted.is_empty());
    }

    #[tokio::test]
    async fn a_job_started_before_a_restart_is_resumed_not_started_again() {
        let chain = TestChain::start().await;
        let (url, _node, dir) = node(&chain).await;
        chain.epoch_zero_ready_to_claim().await;
        let quote = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
        chain.proposer.rollup.claim_epoch_proof_right(&quote).await.expect("claims");
        // An earlier process recorded the job and died before proving.
        let state = prover_node::state::ProverState::open(&dir.path().join("prover.sqlite")).await.expect("state");
        assert!(state.start_job(0, quote.id(&chain.config.quote_domain())).await.expect("records"));
        assert!(!state.start_job(0, quote.id(&chain.config.quote_domain())).await.expect("records"), "only once");
        let prover = prover_node::start(&config(&chain, &url, dir.path(), &[])).await.expect("starts");
        assert_eq!(prover.step().await.expect("step").proving, vec![0]);
        assert_eq!(chain.proposer.rollup.epoch(0).await.expect("epoch").state, rollup_l1::EpochState::Proven);
        assert!(prover.step().await.expect("step").proving.is_empty());
    }

    #[tokio::test]
    async fn an_external_command_gets_the_epoch_and_a_refused_proof_is_tried_again() {
        let chain = TestChain::start().await;
        let (url, _node, dir) = node(&chain).await;
        chain.epoch_zero_ready_to_claim().await;
        let quote = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
        chain.proposer.rollup.claim_epoch_proof_right(&quote).await.expect("claims");
        // A command whose proof the verifier refuses: the epoch stays claimed and the job is
        // tried again on the next poll.
        let seen = dir.path().join("stdin.json");
        let command = format!("cat > {}; echo 0xdead", seen.display());
        let prover = prover_node::start(&config(&chain, &url, dir.path(), &["--proof-command", &command]))
            .await
            .expect("starts");
        assert_eq!(prover.step().await.expect("step").proving, vec![0]);
        let input: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&seen).expect("the command ran")).expect("JSON");
        assert_eq!(input["epoch"], 0);
        assert_eq!(input["publicInputs"].as_array().map(Vec::len), Some(4));
        assert_eq!(chain.proposer.rollup.epoch(0).await.expect("epoch").state, rollup_l1::EpochState::Claimed);
        assert_eq!(prover.step().await.expect("step").proving, vec![0], "retried");
    }
}

#[tokio::test]
async fn a_newer_quote_only_when_the_pricing_changes() {
    use clap::Parser;
    let chain = TestChain::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let rollup = chain.deployment.rollup.to_string();
    let rpc = chain.anvil.endpoint().to_string();
    let (node, _node) = start_node(&chain, dir.path()).await;
    let (pricing, _) = stub(
        vec![
            (200, r#"{"basisPointFee":300,"bondAmount":"5000"}"#),
            (200, r#"{"basisPointFee":300,"bondAmount":"5000"}"#),
            (200, r#"{"basisPointFee":250,"bondAmount":"5000"}"#),
        ],
        Duration::ZERO,
    )
    .await;
    let key = format!("0x{}", alloy::primitives::hex::encode(Anvil::dev_key(1).to_bytes()));
    let config = prover_node::Config::parse_from([
        "prover-node",
        "--private-key",
        &key,
        "--rollup-address",
        &rollup,
        "--l1-rpc-url",
        &rpc,
        "--coordination-node-url",
        &node,
        "--quote-provider-url",
        pricing.as_str(),
        "--minimum-escrow-amount",
        "20000",
        "--state-path",
        dir.path().join("prover.sqlite").to_str().expect("path"),
    ]);
    let prover = prover_node::start(&config).await.expect("starts");
    chain.epoch_zero_ready_to_claim().await;
    // Let the node see the epoch end, so the first quote is taken.
    wait_node_synced(&chain, &node).await;
    assert_eq!(prover.step().await.expect("step").quoted, vec![0], "quoted once");
    assert!(prover.step().await.expect("step").quoted.is_empty(), "same pricing: no new quote");
    assert_eq!(prover.step().await.expect("step").quoted, vec![0], "new pricing: a newer quote");
}
