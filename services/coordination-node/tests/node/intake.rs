//! Quote intake against a real chain: acceptance, each rejection code, idempotency,
//! supersede, lifecycle from L1, restarts, replicas and hostile bodies.

use alloy::primitives::{Address, U256};
use coordination_node::store::QuoteStatus;
use reqwest::StatusCode;
use rollup_l1::testkit::{BOND, DEPOSIT, MIN_BOND};
use serde_json::{Value, json};

use coordination_node::Config;

use crate::app::{NodeApp, RunningNode, node_config, wait_synced};

/// Epoch 0 has two blocks and the clock is in its claim window; the node has seen it all.
async fn ready() -> NodeApp {
    let app = NodeApp::sqlite().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    app
}

fn code(answer: &(StatusCode, Value)) -> (StatusCode, &str) {
    (answer.0, answer.1["code"].as_str().unwrap_or(""))
}

#[tokio::test]
async fn a_valid_quote_is_stored_and_acknowledged_with_its_id() {
    let app = ready().await;
    let chain = &app.chain;
    let signed = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    let id = signed.id(&chain.config.quote_domain());
    let (status, body) = app.node.submit(&signed).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body, json!({"id": id.to_string(), "status": "pending"}));
    // Durably stored before the answer.
    assert_eq!(app.node.store().quote(id).await.expect("reads").map(|q| q.quote), Some(signed));
    // Again: 200 with the same id.
    let (status, body) = app.node.submit(&signed).await;
    assert_eq!((status, body["id"].as_str()), (StatusCode::OK, Some(id.to_string().as_str())));
    let (status, view) = app.node.get(&format!("/epoch-proof-quotes/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(view["status"], "pending");
    assert_eq!(view["bondAmount"], BOND.to_string());
    assert_eq!(view["signature"], signed.signature.to_string());
}

#[tokio::test]
async fn each_rule_has_its_own_code() {
    let app = ready().await;
    let chain = &app.chain;
    let base = chain.quote(&chain.prover, 0).await;
    let mut cases = Vec::new();

    let forged = chain.sign(&chain.prover2, base);
    cases.push((forged, StatusCode::UNPROCESSABLE_ENTITY, "invalid_signature"));
    let mut q = base;
    q.rollup_address = Address::repeat_byte(0xab);
    cases.push((chain.sign(&chain.prover, q), StatusCode::UNPROCESSABLE_ENTITY, "wrong_rollup"));
    let mut q = base;
    q.epoch_number = U256::from(1);
    cases.push((chain.sign(&chain.prover, q), StatusCode::UNPROCESSABLE_ENTITY, "epoch_not_complete"));
    let mut q = base;
    q.total_fees += U256::from(1);
    cases.push((chain.sign(&chain.prover, q), StatusCode::UNPROCESSABLE_ENTITY, "epoch_mismatch"));
    let mut q = base;
    q.epoch_final_block = U256::from(1);
    cases.push((chain.sign(&chain.prover, q), StatusCode::UNPROCESSABLE_ENTITY, "epoch_mismatch"));
    let mut q = base;
    q.valid_until_slot = U256::from(chain.config.claim_window(0).0 - 1);
    cases.push((chain.sign(&chain.prover, q), StatusCode::UNPROCESSABLE_ENTITY, "quote_expired"));
    let mut q = base;
    q.bond_amount = U256::from(MIN_BOND - 1);
    cases.push((chain.sign(&chain.prover, q), StatusCode::UNPROCESSABLE_ENTITY, "bond_too_low"));
    let mut q = base;
    q.bond_amount = U256::from(DEPOSIT + 1);
    cases.push((chain.sign(&chain.prover, q), StatusCode::UNPROCESSABLE_ENTITY, "insufficient_escrow"));

    for (quote, status, expected) in cases {
        let answer = app.node.submit(&quote).await;
        assert_eq!(code(&answer), (status, expected), "{}", answer.1);
        let id = quote.id(&chain.config.quote_domain());
        assert!(app.node.store().quote(id).await.expect("reads").is_none(), "{expected}: nothing stored");
    }
    // Malformed: 400 with the field named.
    let mut json = serde_json::to_value(chain.sign(&chain.prover, base)).expect("json");
    json["basisPointFee"] = json!(10_001);
    let answer = app.node.post("/epoch-proof-quotes", "application/json", json.to_string()).await;
    assert_eq!(code(&answer), (StatusCode::BAD_REQUEST, "fee_above_maximum"));
    assert_eq!(answer.1["field"], "basisPointFee");
    json["basisPointFee"] = json!(-1);
    let answer = app.node.post("/epoch-proof-quotes", "application/json", json.to_string()).await;
    assert_eq!(code(&answer), (StatusCode::BAD_REQUEST, "invalid_number"));

    let metrics = app.node.client.get(format!("{}/metrics", app.node.base)).send().await.expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(text.contains("coordination_node_quotes_rejected_total{code=\"epoch_mismatch\"} 2"), "{text}");
}

#[tokio::test]
async fn epochs_without_blocks_and_claimed_proven_or_pruned_epochs_are_refused() {
    let app = ready().await;
    let chain = &app.chain;
    let domain = chain.config.quote_domain();
    // Epoch 1 ends with no blocks.
    chain.warp_to_slot(8).await;
    app.synced().await;
    let mut empty = chain.quote(&chain.prover, 0).await;
    empty.epoch_number = U256::from(1);
    assert_eq!(code(&app.node.submit(&chain.sign(&chain.prover, empty)).await).1, "epoch_not_found");

    // A fresh chain for the claim and proof cases.
    let app = ready().await;
    let chain = &app.chain;
    let winner = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    assert_eq!(app.node.submit(&winner).await.0, StatusCode::CREATED);
    chain.claim(winner.quote).await.expect("claims on L1");
    app.synced().await;
    let late = chain.sign(&chain.prover2, chain.quote(&chain.prover2, 0).await);
    assert_eq!(code(&app.node.submit(&late).await).1, "epoch_already_claimed");
    assert_eq!(
        app.node.store().quote(winner.id(&domain)).await.expect("reads").expect("stored").status,
        QuoteStatus::Claimed
    );

    chain.prover.rollup.submit_epoch_proof(0, chain.proof(0).await).await.expect("proves");
    app.synced().await;
    assert_eq!(code(&app.node.submit(&late).await).1, "epoch_proven");
    assert_eq!(
        app.node.store().quote(winner.id(&domain)).await.expect("reads").expect("stored").status,
        QuoteStatus::Proven
    );
}

#[tokio::test]
async fn lifecycle_follows_l1_through_a_slash_and_a_prune() {
    let app = ready().await;
    let chain = &app.chain;
    let domain = chain.config.quote_domain();
    let winner = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    let loser = chain.sign(&chain.prover2, chain.quote(&chain.prover2, 0).await);
    app.node.submit(&winner).await;
    app.node.submit(&loser).await;
    chain.claim(winner.quote).await.expect("claims");
    app.synced().await;
    let store = app.node.store();
    let status = async |id| store.quote(id).await.expect("reads").expect("stored").status;
    assert_eq!(status(winner.id(&domain)).await, QuoteStatus::Claimed);
    assert_eq!(status(loser.id(&domain)).await, QuoteStatus::Expired);
    // Not proven by the end of epoch 1: pruned, bond slashed.
    chain.warp_to_slot(8).await;
    chain.proposer.rollup.prune().await.expect("prunes");
    app.synced().await;
    assert_eq!(status(winner.id(&domain)).await, QuoteStatus::Slashed);
    let epoch = app.node.store().epoch(0).await.expect("reads").expect("known");
    assert!(epoch.pruned);
    // A quote it already has is answered with its status; a new one is refused.
    let (status, body) = app.node.submit(&loser).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("expired")));
    let mut fresh = loser.quote;
    fresh.basis_point_fee += 1;
    assert_eq!(code(&app.node.submit(&chain.sign(&chain.prover2, fresh)).await).1, "epoch_pruned");
    // The slashed prover's deposit follows L1.
    assert_eq!(
        app.node.store().prover_deposit(chain.prover.address()).await.expect("reads"),
        Some(U256::from(DEPOSIT - BOND))
    );
}

#[tokio::test]
async fn a_newer_quote_from_the_same_prover_supersedes_the_older() {
    let app = ready().await;
    let chain = &app.chain;
    let domain = chain.config.quote_domain();
    let first = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    let mut cheaper = first.quote;
    cheaper.basis_point_fee -= 100;
    let second = chain.sign(&chain.prover, cheaper);
    assert_eq!(app.node.submit(&first).await.0, StatusCode::CREATED);
    assert_eq!(app.node.submit(&second).await.0, StatusCode::CREATED);
    let (_, view) = app.node.get(&format!("/epoch-proof-quotes/{}", first.id(&domain))).await;
    assert_eq!(view["status"], "superseded");
    // The old one, sent again, is answered as what it is.
    let (status, body) = app.node.submit(&first).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::OK, Some("superseded")));
}

#[tokio::test]
async fn quotes_and_the_cursor_survive_a_restart() {
    let app = ready().await;
    let chain = &app.chain;
    let signed = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    assert_eq!(app.node.submit(&signed).await.0, StatusCode::CREATED);
    let NodeApp { chain, db, node } = app;
    let before = node.store().cursor().await.expect("reads").expect("cursor");
    drop(node);
    // While it is down, the chain moves on: a claim lands.
    chain.claim(signed.quote).await.expect("claims");
    let node = RunningNode::start(node_config(&chain, &db.url)).await;
    wait_synced(&chain, &node.state).await;
    let after = node.store().cursor().await.expect("reads").expect("cursor");
    assert!(after.l1_block > before.l1_block);
    let record = node.store().quote(signed.id(&chain.config.quote_domain())).await.expect("reads").expect("kept");
    assert_eq!(record.status, QuoteStatus::Claimed, "the claim made while it was down was not missed");
    let epoch = node.store().epoch(0).await.expect("reads").expect("known");
    assert_eq!((epoch.block_count, epoch.total_fees), (2, U256::from(10_000)), "nothing counted twice");
}

#[tokio::test]
async fn two_nodes_on_one_postgres_run_one_watcher() {
    let app = NodeApp::postgres().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    let second = RunningNode::start(node_config(&app.chain, &app.db.url)).await;
    // Give the second node a few polls to try for the lock.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let leaders = [app.node.state.watcher_status().leader, second.state.watcher_status().leader];
    assert_eq!(leaders.iter().filter(|l| **l).count(), 1, "{leaders:?}");
    // Both serve: a quote sent to the follower is validated against the shared view.
    let chain = &app.chain;
    let signed = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    assert_eq!(second.submit(&signed).await.0, StatusCode::CREATED);
    let (status, ready) = second.get("/readyz").await;
    assert_eq!(status, StatusCode::OK, "{ready}");
    // The leader stops: the other takes over.
    let NodeApp { chain, db, node } = app;
    let leader_was_first = node.state.watcher_status().leader;
    drop(node);
    if leader_was_first {
        chain.warp_to_slot(6).await;
        for _ in 0..300 {
            if second.state.watcher_status().leader {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(second.state.watcher_status().leader, "the remaining node took over the watcher");
        wait_synced(&chain, &second.state).await;
    }
    drop(db);
}

#[tokio::test]
async fn hostile_bodies_get_a_4xx_and_the_node_stays_up() {
    let app = ready().await;
    let json = "application/json";
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let valid = serde_json::to_string(&app.chain.sign(&app.chain.prover, app.chain.quote(&app.chain.prover, 0).await))
        .expect("json");
    let duplicated = valid.replacen("\"epochNumber\":\"0\"", "\"epochNumber\":\"0\",\"epochNumber\":\"1\"", 1);
    let cases: Vec<(&str, Vec<u8>, StatusCode)> = vec![
        (json, vec![b'{'; 10_000], StatusCode::PAYLOAD_TOO_LARGE),
        (json, deep.into_bytes(), StatusCode::PAYLOAD_TOO_LARGE),
        (json, b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[".to_vec(), StatusCode::BAD_REQUEST),
        (json, br#"{"prover": 1, "epochNumber": [], "signature": {}}"#.to_vec(), StatusCode::BAD_REQUEST),
        (json, duplicated.into_bytes(), StatusCode::BAD_REQUEST),
        (json, vec![0xff, 0xfe, 0x00, 0x7b], StatusCode::BAD_REQUEST),
        (json, Vec::new(), StatusCode::BAD_REQUEST),
        ("text/plain", valid.clone().into_bytes(), StatusCode::UNSUPPORTED_MEDIA_TYPE),
    ];
    for (content_type, body, expected) in cases {
        let preview = String::from_utf8_lossy(&body[..body.len().min(40)]).into_owned();
        let (status, answer) = app.node.post("/epoch-proof-quotes", content_type, body).await;
        assert_eq!(status, expected, "{preview}: {answer}");
        assert!(answer["code"].is_string(), "{answer}");
    }
    let (status, _) = app.node.get("/healthz").await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app.node.post("/epoch-proof-quotes", json, valid).await;
    assert_eq!(status, StatusCode::CREATED, "still taking quotes");
}

#[tokio::test]
async fn an_unreachable_l1_keeps_the_node_up_but_not_ready() {
    let db = crate::support::TestDb::sqlite().await;
    let chain = rollup_l1::testkit::TestChain::start().await;
    let mut config = node_config(&chain, &db.url);
    // Nothing listens there.
    config.l1_rpc_url = "http://127.0.0.1:9".parse().expect("url");
    let node = RunningNode::start(config).await;
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(node.get("/healthz").await.0, StatusCode::OK);
    let (status, ready) = node.get("/readyz").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!((ready["database"].as_bool(), ready["l1"].as_bool()), (Some(true), Some(false)));
    let quote = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    let (status, body) = node.submit(&quote).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("chain_view_unavailable")));
}

#[tokio::test]
async fn unknown_quote_ids_and_malformed_ids() {
    let app = NodeApp::sqlite().await;
    let (status, body) = app.node.get(&format!("/epoch-proof-quotes/0x{}", "00".repeat(32))).await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::NOT_FOUND, Some("quote_not_found")));
    let (status, body) = app.node.get("/epoch-proof-quotes/nope").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_id")));
}

#[tokio::test]
async fn an_l1_reorg_rolls_the_view_back_and_the_new_branch_is_read() {
    let app = ready().await;
    let chain = &app.chain;
    let domain = chain.config.quote_domain();
    let a = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    let b = chain.sign(&chain.prover2, chain.quote(&chain.prover2, 0).await);
    app.node.submit(&a).await;
    app.node.submit(&b).await;
    let snapshot = chain.anvil.snapshot().await.expect("snapshot");
    chain.claim(a.quote).await.expect("claims a");
    app.synced().await;
    let store = app.node.store();
    assert_eq!(store.quote(a.id(&domain)).await.expect("reads").expect("stored").status, QuoteStatus::Claimed);

    // The claim's L1 block is replaced by another branch in which b is claimed.
    assert!(chain.anvil.revert_to(snapshot).await.expect("reverts"));
    chain.anvil.mine().await.expect("mines");
    chain.proposer.rollup.claim_epoch_proof_right(&b).await.expect("claims b");
    chain.anvil.mine().await.expect("mines");
    app.synced().await;
    // Synced to the new head's height; give the rollback and the re-read a moment.
    for _ in 0..200 {
        if store.open_claim().await.expect("reads").is_some_and(|c| c.quote_id == b.id(&domain)) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(store.open_claim().await.expect("reads").map(|c| c.quote_id), Some(b.id(&domain)));
    assert_eq!(store.quote(b.id(&domain)).await.expect("reads").expect("stored").status, QuoteStatus::Claimed);
    assert_eq!(store.quote(a.id(&domain)).await.expect("reads").expect("stored").status, QuoteStatus::Expired);
    let epoch = store.epoch(0).await.expect("reads").expect("known");
    assert_eq!((epoch.block_count, epoch.total_fees), (2, U256::from(10_000)), "nothing counted twice");
}

#[tokio::test]
async fn an_unreachable_database_answers_503_at_once_and_recovers() {
    let app = NodeApp::postgres().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    let chain = &app.chain;
    let quote = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    app.db.set_reachable(false).await;
    let started = std::time::Instant::now();
    let (status, body) = app.node.submit(&quote).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("database_unavailable")),
        "{body}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "answered in {:?}", started.elapsed());
    let (status, ready) = app.node.get("/readyz").await;
    assert_eq!((status, ready["database"].as_bool()), (StatusCode::SERVICE_UNAVAILABLE, Some(false)));
    assert_eq!(app.node.get("/healthz").await.0, StatusCode::OK);

    app.db.set_reachable(true).await;
    let (status, body) = app.node.submit(&quote).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn the_node_resumes_when_the_l1_comes_back() {
    let db = crate::support::TestDb::sqlite().await;
    let chain = rollup_l1::testkit::TestChain::start().await;
    let upstream = chain.anvil.endpoint().socket_addrs(|| None).expect("addr")[0];
    let proxy = crate::proxy::Proxy::start(upstream).await;
    let mut config = node_config(&chain, &db.url);
    config.l1_rpc_url = format!("http://{}", proxy.addr).parse().expect("url");
    let node = RunningNode::start(config).await;
    wait_synced(&chain, &node.state).await;

    proxy.cut();
    chain.epoch_zero_ready_to_claim().await;
    let mut unready = false;
    for _ in 0..200 {
        if node.get("/readyz").await.0 == StatusCode::SERVICE_UNAVAILABLE {
            unready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(unready, "an unreachable L1 makes the node unready");
    assert_eq!(node.get("/healthz").await.0, StatusCode::OK, "but it stays up");

    proxy.restore().await;
    wait_synced(&chain, &node.state).await;
    let quote = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    let (status, body) = node.submit(&quote).await;
    assert_eq!(status, StatusCode::CREATED, "the blocks proposed during the outage were read: {body}");
    assert_eq!(node.get("/readyz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn a_client_over_its_rate_gets_429_with_retry_after() {
    let db = crate::support::TestDb::sqlite().await;
    let chain = rollup_l1::testkit::TestChain::start().await;
    let mut config = node_config(&chain, &db.url);
    config.rate_limit_per_second = 1;
    config.rate_limit_burst = 2;
    let node = RunningNode::start(config).await;
    let body = "{}";
    let send = || async {
        node.client
            .post(format!("{}/epoch-proof-quotes", node.base))
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request")
    };
    assert_eq!(send().await.status(), StatusCode::BAD_REQUEST);
    assert_eq!(send().await.status(), StatusCode::BAD_REQUEST);
    let limited = send().await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(limited.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("1"));
    assert_eq!(limited.json::<Value>().await.expect("json")["code"], "rate_limited");
    // Reads are not limited.
    assert_eq!(node.get("/healthz").await.0, StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(send().await.status(), StatusCode::BAD_REQUEST, "a token came back");
}

#[tokio::test]
async fn a_deposit_topped_up_just_before_the_quote_is_seen_at_once() {
    let app = ready().await;
    let chain = &app.chain;
    // The node's view has the old deposit (50,000); the prover tops up and quotes right away.
    chain.prover.escrow.deposit(U256::from(100_000)).await.expect("deposits");
    let mut quote = chain.quote(&chain.prover, 0).await;
    quote.bond_amount = U256::from(120_000);
    let (status, body) = app.node.submit(&chain.sign(&chain.prover, quote)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

#[tokio::test]
async fn a_quote_posted_right_after_the_watcher_committed_a_claim_is_refused_on_every_replica() {
    let app = NodeApp::postgres().await;
    let chain = &app.chain;
    chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    // A second replica whose own view of L1 is reloaded only every minute: it validates against
    // a snapshot taken before the claim.
    let stale = RunningNode::start(Config { polling_interval_ms: 60_000, ..node_config(chain, &app.db.url) }).await;
    wait_synced(chain, &stale.state).await;
    while stale.state.rollup_config().is_none() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }

    let winner = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    assert_eq!(app.node.submit(&winner).await.0, StatusCode::CREATED);
    chain.claim(winner.quote).await.expect("claims on L1");
    // The moment the watcher has committed the claim, on either replica, a new quote for the
    // epoch is refused, though the second replica's snapshot still shows the epoch unclaimed.
    for _ in 0..500 {
        if app.db.store.open_claim().await.expect("reads").is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert!(stale.state.view.get().open_claim.is_none(), "the second replica's view is stale");
    let late = chain.sign(&chain.prover2, chain.quote(&chain.prover2, 0).await);
    assert_eq!(code(&stale.submit(&late).await), (StatusCode::UNPROCESSABLE_ENTITY, "epoch_already_claimed"));
    assert_eq!(code(&app.node.submit(&late).await), (StatusCode::UNPROCESSABLE_ENTITY, "epoch_already_claimed"));
    assert!(app.db.store.quote(late.id(&chain.config.quote_domain())).await.expect("reads").is_none());
    // The winning quote posted again is still known.
    assert_eq!(stale.submit(&winner).await.0, StatusCode::OK);

    // The same after a proof.
    chain.prover.rollup.submit_epoch_proof(0, chain.proof(0).await).await.expect("proves");
    for _ in 0..500 {
        if app.db.store.epoch(0).await.expect("reads").is_some_and(|e| e.proven()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(code(&stale.submit(&late).await), (StatusCode::UNPROCESSABLE_ENTITY, "epoch_proven"));
}

#[tokio::test]
async fn a_quote_sent_as_the_epoch_ends_waits_for_the_view_and_is_stored() {
    let db = crate::support::TestDb::sqlite().await;
    let chain = rollup_l1::testkit::TestChain::start().await;
    // A node polling L1 every 3 s: it sees an epoch end up to 3 s after the prover does.
    let node = RunningNode::start(Config { polling_interval_ms: 3_000, ..node_config(&chain, &db.url) }).await;
    chain.propose_at(&chain.proposer, 1, 3, 3_000).await;
    chain.propose_at(&chain.proposer2, 2, 5, 7_000).await;
    wait_synced(&chain, &node.state).await;
    chain.warp_to_slot(chain.config.claim_window(0).0).await;
    let signed = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    let view_behind = node.state.view.get().cursor.is_some_and(|c| {
        let config = chain.config;
        config.epoch_at_slot(config.slot_at(c.l1_timestamp)) == 0
    });
    assert!(view_behind, "the node's view has not seen the epoch end yet");
    let (status, body) = node.submit(&signed).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // A quote for an epoch further ahead than the one the view has open is refused at once.
    let mut ahead = chain.quote(&chain.prover, 0).await;
    ahead.epoch_number = U256::from(5);
    let started = std::time::Instant::now();
    assert_eq!(code(&node.submit(&chain.sign(&chain.prover, ahead)).await).1, "epoch_not_complete");
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "{:?}", started.elapsed());
    let metrics = node.client.get(format!("{}/metrics", node.base)).send().await.expect("metrics");
    let text = metrics.text().await.expect("text");
    assert!(text.contains("coordination_node_quotes_accepted_total{source=\"http\"} 1"), "{text}");
    assert!(text.contains("coordination_node_quotes_accepted_total{source=\"gossip\"} 0"), "{text}");
}
