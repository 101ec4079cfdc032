//! The devnet starts a working L1: contracts deployed with the requested parameters, accounts
//! funded, and a description that points at all of it.

use alloy::primitives::U256;
use devnet::{Devnet, DevnetConfig};
use rollup_l1::{RollupContract, TokenContract};

#[tokio::test]
async fn starts_deploys_and_funds() {
    let config =
        DevnetConfig { l1_port: 0, slot_duration: 6, epoch_duration: 3, funding: 5, ..DevnetConfig::default() };
    let devnet = Devnet::start(&config).await.expect("devnet starts");

    let rollup = RollupContract::new(devnet.deployment.rollup, devnet.anvil.provider());
    let on_chain = rollup.config().await.expect("rollup answers");
    assert_eq!((on_chain.slot_duration, on_chain.epoch_duration, on_chain.claim_window_slots), (6, 3, 2));
    assert_eq!(on_chain.escrow, devnet.deployment.escrow);

    let token = TokenContract::new(devnet.deployment.token, devnet.anvil.provider());
    let five_tokens = U256::from(5) * U256::from(10u64).pow(U256::from(18));
    let escrow = rollup_l1::EscrowContract::new(devnet.deployment.escrow, devnet.anvil.provider());
    for account in &devnet.accounts[1..] {
        let balance = token.balance_of(account.address()).await.expect("balance");
        let deposit = escrow.deposit_of(account.address()).await.expect("deposit");
        if account.role == "proposer" {
            // It may already have paid the fees of a block.
            assert!(balance <= five_tokens && !balance.is_zero(), "{}", account.role);
        } else {
            // The provers moved part of theirs into the escrow at start.
            assert_eq!(balance + deposit, five_tokens, "{}", account.role);
        }
    }

    let json = devnet.to_json();
    assert_eq!(json["rollupAddress"], devnet.deployment.rollup.to_string());
    assert_eq!(json["l1RpcUrl"], devnet.anvil.endpoint().to_string());
    assert_eq!(json["accounts"].as_array().map(Vec::len), Some(devnet.accounts.len()));
    let summary = devnet.summary();
    assert!(summary.contains(&devnet.deployment.rollup.to_string()), "{summary}");

    // The quote service answers, with the devnet's epoch length in its validity.
    let answer: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{}/quote", devnet.quote_service))
        .json(&serde_json::json!({"epochNumber": 2, "fromBlock": 1, "toBlock": 3, "txCount": 10, "totalFees": "1000000000000000000"}))
        .send()
        .await
        .expect("quote service answers")
        .json()
        .await
        .expect("json");
    // Valid through the claim window of epoch 2: slots 9 and 10.
    assert_eq!(answer["validUntilSlot"], "10", "{answer}");
    // The coordination node follows the devnet's L1 and refuses a quote for an epoch that has
    // not ended, naming the rule.
    let client = reqwest::Client::new();
    let node = format!("http://{}", devnet.node);
    let mut ready = false;
    for _ in 0..200 {
        if client.get(format!("{node}/readyz")).send().await.is_ok_and(|r| r.status().is_success()) {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the node became ready");
    // The explorer it prints the address of is there.
    let explorer = format!("{node}/explorer/");
    assert!(summary.contains(&explorer), "{summary}");
    let page = client.get(&explorer).send().await.expect("explorer answers");
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    let prover = &devnet.accounts[1];
    let signer = epoch_quote::QuoteSigner::from_bytes(prover.key.to_bytes().0).expect("key");
    let quote = epoch_quote::EpochProofQuote {
        prover: prover.address(),
        epoch_number: U256::from(1_000),
        epoch_init_block: U256::from(1),
        epoch_final_block: U256::from(2),
        total_fees: U256::from(10),
        rollup_address: devnet.deployment.rollup,
        basis_point_fee: 100,
        bond_amount: U256::from(5_000),
        valid_until_slot: U256::from(5_000),
    };
    let signed = signer.sign(quote, &devnet.rollup.quote_domain());
    let answer: serde_json::Value = client
        .post(format!("{node}/epoch-proof-quotes"))
        .json(&signed)
        .send()
        .await
        .expect("node answers")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["code"], "epoch_not_complete", "{answer}");
    devnet.stop().await;
}

#[tokio::test]
async fn in_p2p_mode_provers_with_no_node_url_win_and_prove_epochs() {
    let config = DevnetConfig {
        l1_port: 0,
        quote_service_port: 0,
        node_port: 0,
        p2p: true,
        p2p_port: 0,
        slot_duration: 2,
        epoch_duration: 2,
        ..DevnetConfig::default()
    };
    let devnet = Devnet::start(&config).await.expect("devnet starts");
    let p2p = devnet.node_p2p.clone().expect("the node is on the gossip network");
    assert!(devnet.summary().contains(&p2p.to_string()));
    let node = format!("http://{}", devnet.node);
    let client = reqwest::Client::new();
    let mut epoch = serde_json::Value::Null;
    for _ in 0..600 {
        if let Ok(response) = client.get(format!("{node}/epochs/0")).send().await {
            epoch = response.json().await.unwrap_or_default();
            if epoch["state"] == "proven" {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(epoch["state"], "proven", "{epoch}");
    let winner = epoch["claim"]["bondProvider"].as_str().expect("claimed").to_owned();
    assert!(devnet.accounts[1..3].iter().any(|a| a.address().to_string() == winner), "a devnet prover won: {epoch}");
    // Both provers' quotes reached the node by gossip only.
    let quotes: serde_json::Value = client
        .get(format!("{node}/epoch-proof-quotes?epoch=0&status=all"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(quotes["quotes"].as_array().map(Vec::len), Some(2), "{quotes}");
    let p2p_view: serde_json::Value =
        client.get(format!("{node}/p2p")).send().await.expect("p2p").json().await.expect("json");
    assert_eq!(p2p_view["peers"].as_array().map(Vec::len), Some(2), "both provers connected: {p2p_view}");
    for peer in p2p_view["peers"].as_array().expect("peers") {
        assert_eq!(peer["role"], "publisher", "a prover only publishes: {p2p_view}");
    }
    // Gossiped quotes count as accepted, by source, and none was refused.
    let metrics = client.get(format!("{node}/metrics")).send().await.expect("metrics").text().await.expect("text");
    let accepted = metrics
        .lines()
        .find_map(|l| l.strip_prefix("coordination_node_quotes_accepted_total{source=\"gossip\"} "))
        .and_then(|n| n.parse::<u64>().ok());
    assert!(accepted.is_some_and(|n| n >= 2), "{metrics}");
    let refused: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("coordination_node_p2p_messages_total{verdict=\"rejected\"") && !l.ends_with(" 0"))
        .collect();
    assert!(refused.is_empty(), "no gossiped quote rejected: {refused:?}");
    devnet.stop().await;
}

#[test]
fn p2p_is_a_flag_that_also_takes_a_value() {
    use clap::Parser;
    for (args, expected) in [
        (&["devnet"][..], false),
        (&["devnet", "--p2p"][..], true),
        (&["devnet", "--p2p", "true"][..], true),
        (&["devnet", "--p2p", "false"][..], false),
        (&["devnet", "--p2p", "--write-deployment", "x.json"][..], true),
    ] {
        assert_eq!(DevnetConfig::try_parse_from(args).expect("parses").p2p, expected, "{args:?}");
    }
}

/// A few epochs of the whole loop over HTTP: no quote is refused in a healthy run (the node waits
/// for its view when a prover quotes the moment an epoch ends), every epoch is won by the cheaper
/// prover B, and the summary printed on stop adds up to what the node's API reports.
#[tokio::test]
async fn a_healthy_run_refuses_no_quote_and_its_summary_matches_the_api() {
    let config = DevnetConfig {
        l1_port: 0,
        quote_service_port: 0,
        node_port: 0,
        slot_duration: 2,
        epoch_duration: 2,
        proposer_collect_ms: 1_000,
        ..DevnetConfig::default()
    };
    let devnet = Devnet::start(&config).await.expect("devnet starts");
    let node = format!("http://{}", devnet.node);
    let client = reqwest::Client::new();
    let get = |path: String| {
        let client = client.clone();
        async move {
            let response = client.get(path).send().await.expect("node answers");
            (response.status(), response.json::<serde_json::Value>().await.unwrap_or_default())
        }
    };
    // Three epochs proven, and the tally equal to the API's figures at one moment.
    let started = std::time::Instant::now();
    let (tally, from_api) = loop {
        assert!(started.elapsed() < std::time::Duration::from_secs(90), "three epochs proven within 90 s");
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let tally = devnet.tally();
        if tally.epochs_proven < 3 {
            continue;
        }
        let from_api = api_tally(&node, &get).await;
        if devnet.tally() == tally && from_api == tally {
            break (tally, from_api);
        }
    };
    assert_eq!(from_api, tally);
    let prover_b = devnet.accounts[2].address();
    let b = &tally.provers[&prover_b];
    assert_eq!(b.won, tally.epochs_claimed, "the cheaper prover B won every epoch: {tally:?}");
    assert!(b.paid > U256::ZERO);

    let metrics = client.get(format!("{node}/metrics")).send().await.expect("metrics").text().await.expect("text");
    let refused: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("coordination_node_quotes_rejected_total{") && !l.ends_with(" 0"))
        .collect();
    assert!(refused.is_empty(), "no quote refused in a healthy run: {refused:?}");

    let stopped = devnet.stop().await;
    assert!(stopped.tally.epochs_proven >= tally.epochs_proven);
    assert!(stopped.summary.contains("prover B (0x"), "{}", stopped.summary);
    assert!(stopped.summary.contains(&format!("won {}", stopped.tally.provers[&prover_b].won)), "{}", stopped.summary);
}

/// The devnet's figures as the node's API reports them.
async fn api_tally<F, Fut>(node: &str, get: &F) -> devnet::Tally
where
    F: Fn(String) -> Fut,
    Fut: std::future::Future<Output = (reqwest::StatusCode, serde_json::Value)>,
{
    let mut tally = devnet::Tally::default();
    let (_, claims) = get(format!("{node}/claims?limit=500")).await;
    for claim in claims["claims"].as_array().expect("claims") {
        let prover: alloy::primitives::Address =
            claim["bondProvider"].as_str().expect("prover").parse().expect("address");
        let entry = tally.provers.entry(prover).or_default();
        entry.won += 1;
        tally.epochs_claimed += 1;
        match claim["outcome"].as_str() {
            Some("proven") => {
                let (_, epoch) = get(format!("{node}/epochs/{}", claim["epoch"])).await;
                let fees: U256 = epoch["totalFees"].as_str().expect("fees").parse().expect("number");
                let bps = U256::from(claim["basisPointFee"].as_u64().expect("fee"));
                entry.proven += 1;
                entry.paid += fees * bps / U256::from(10_000);
            }
            Some("slashed") => {
                entry.slashed += claim["bondAmount"].as_str().expect("bond").parse::<U256>().expect("number");
            }
            _ => {}
        }
    }
    for epoch in 0.. {
        let (status, view) = get(format!("{node}/epochs/{epoch}")).await;
        if status == reqwest::StatusCode::NOT_FOUND {
            break;
        }
        match view["state"].as_str() {
            Some("open") => break,
            Some("proven") => tally.epochs_proven += 1,
            Some("pruned") => tally.epochs_pruned += 1,
            _ => {}
        }
        tally.epochs_completed += 1;
    }
    let mut accepted = 0;
    for epoch in 0..tally.epochs_completed + 1 {
        let (_, page) = get(format!("{node}/epoch-proof-quotes?epoch={epoch}&status=all&limit=500")).await;
        accepted += page["quotes"].as_array().map_or(0, Vec::len) as u64;
    }
    tally.quotes_accepted = accepted;
    tally
}
