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
    devnet.stop().await;
}
