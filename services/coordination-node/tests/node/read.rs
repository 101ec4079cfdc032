//! The read side: quotes of an epoch best first with filters and pages, one quote with its
//! claim, epochs and claims.

use reqwest::StatusCode;
use serde_json::Value;

use crate::app::NodeApp;

async fn ready() -> NodeApp {
    let app = NodeApp::sqlite().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    app
}

/// Submits a quote for epoch 0 from the first (`second == false`) or second prover at `fee`.
async fn submit(app: &NodeApp, second: bool, fee: u32) -> String {
    let chain = &app.chain;
    let prover = if second { &chain.prover2 } else { &chain.prover };
    let mut quote = chain.quote(prover, 0).await;
    quote.basis_point_fee = fee;
    let signed = chain.sign(prover, quote);
    let (status, body) = app.node.submit(&signed).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

fn fees(page: &Value) -> Vec<u64> {
    page["quotes"].as_array().expect("quotes").iter().map(|q| q["basisPointFee"].as_u64().expect("fee")).collect()
}

#[tokio::test]
async fn quotes_best_first_with_filters_and_stable_pages() {
    let app = ready().await;
    let a500 = submit(&app, false, 500).await;
    submit(&app, false, 400).await;
    submit(&app, true, 450).await;
    let a300 = submit(&app, false, 300).await;
    let b300 = submit(&app, true, 300).await;

    // Claimable only, by default: one per prover, lowest fee first, earliest first on a tie.
    let (status, page) = app.node.get("/epoch-proof-quotes?epoch=0").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let ids: Vec<&str> =
        page["quotes"].as_array().expect("quotes").iter().map(|q| q["id"].as_str().expect("id")).collect();
    assert_eq!(ids, vec![a300.as_str(), b300.as_str()]);
    assert!(page.get("nextCursor").is_none(), "one page");

    let (_, all) = app.node.get("/epoch-proof-quotes?epoch=0&status=all").await;
    assert_eq!(fees(&all), vec![300, 300, 400, 450, 500]);
    let (_, superseded) = app.node.get("/epoch-proof-quotes?epoch=0&status=superseded").await;
    assert_eq!(fees(&superseded), vec![400, 450, 500]);
    let prover = app.chain.prover.address().to_string().to_lowercase();
    let (_, mine) = app.node.get(&format!("/epoch-proof-quotes?epoch=0&status=all&prover={prover}")).await;
    assert_eq!(fees(&mine), vec![300, 400, 500]);
    assert_eq!(mine["quotes"][2]["id"], a500.as_str());

    // Pages of two over everything: nothing missed, nothing repeated, even when a quote arrives
    // between pages.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/epoch-proof-quotes?epoch=0&status=all&limit=2&cursor={c}"),
            None => "/epoch-proof-quotes?epoch=0&status=all&limit=2".to_owned(),
        };
        let (status, page) = app.node.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        seen.extend(fees(&page));
        if cursor.is_none() {
            submit(&app, true, 1).await;
        }
        match page.get("nextCursor").and_then(Value::as_str) {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, vec![300, 300, 400, 450, 500]);
    assert_eq!(app.node.get("/epoch-proof-quotes?epoch=1").await.1["quotes"], serde_json::json!([]));
}

#[tokio::test]
async fn bad_parameters_are_named() {
    let app = NodeApp::sqlite().await;
    for (path, code, field) in [
        ("/epoch-proof-quotes", "missing_parameter", "epoch"),
        ("/epoch-proof-quotes?epoch=-1", "invalid_parameter", "epoch"),
        ("/epoch-proof-quotes?epoch=0&status=bogus", "invalid_parameter", "status"),
        ("/epoch-proof-quotes?epoch=0&limit=0", "invalid_parameter", "limit"),
        ("/epoch-proof-quotes?epoch=0&limit=501", "invalid_parameter", "limit"),
        ("/epoch-proof-quotes?epoch=0&cursor=zz", "invalid_parameter", "cursor"),
        ("/epoch-proof-quotes?epoch=0&prover=0x12", "invalid_parameter", "prover"),
        ("/epochs/x", "invalid_parameter", "epoch"),
        ("/claims?before=x", "invalid_parameter", "before"),
    ] {
        let (status, body) = app.node.get(path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
        assert_eq!((body["code"].as_str(), body["field"].as_str()), (Some(code), Some(field)), "{path}");
    }
}

#[tokio::test]
async fn epochs_claims_and_a_claimed_quote_as_l1_saw_them() {
    let app = ready().await;
    let chain = &app.chain;
    let (status, epoch) = app.node.get("/epochs/0").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((epoch["initBlock"].as_u64(), epoch["finalBlock"].as_u64()), (Some(1), Some(2)));
    assert_eq!((epoch["txCount"].as_u64(), epoch["totalFees"].as_str()), (Some(8), Some("10000")));
    assert_eq!(epoch["state"], "complete");
    assert_eq!(app.node.get("/epochs/7").await.1["code"], "epoch_not_found");

    let id = submit(&app, false, 250).await;
    let mut quote = chain.quote(&chain.prover, 0).await;
    quote.basis_point_fee = 250;
    chain.claim(quote).await.expect("claims");
    chain.anvil.mine().await.expect("mines");
    app.synced().await;

    let (_, view) = app.node.get(&format!("/epoch-proof-quotes/{id}")).await;
    assert_eq!(view["status"], "claimed");
    let claim = &view["claim"];
    assert_eq!(claim["outcome"], "open");
    assert!(claim["l1Tx"].as_str().is_some_and(|t| t.len() == 66), "{claim}");
    assert_eq!(claim["confirmations"].as_u64(), Some(2), "the claim's block and one on top: {claim}");
    assert_eq!(app.node.get("/epochs/0").await.1["state"], "claimed");

    chain.prover.rollup.submit_epoch_proof(0, chain.proof(0).await).await.expect("proves");
    app.synced().await;
    let (_, epoch) = app.node.get("/epochs/0").await;
    assert_eq!((epoch["state"].as_str(), epoch["claim"]["outcome"].as_str()), (Some("proven"), Some("proven")));

    let prover = chain.prover.address();
    let (_, claims) = app.node.get(&format!("/claims?prover={prover}")).await;
    let list = claims["claims"].as_array().expect("claims");
    assert_eq!(list.len(), 1);
    assert_eq!((list[0]["quoteId"].as_str(), list[0]["bondAmount"].as_str()), (Some(id.as_str()), Some("5000")));
    let (_, none) = app.node.get(&format!("/claims?prover={}", chain.prover2.address())).await;
    assert_eq!(none["claims"], serde_json::json!([]));
}

/// The ids of the proposer's page (`GET /epoch-proof-quotes?epoch=0`), as `node` answers it.
async fn best(node: &crate::app::RunningNode) -> Vec<String> {
    let (status, page) = node.get("/epoch-proof-quotes?epoch=0").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    page["quotes"].as_array().expect("quotes").iter().map(|q| q["id"].as_str().expect("id").to_owned()).collect()
}

/// The best quotes are answered from memory; each read below comes right after the change it
/// must show has been committed, with no waiting for the answer to catch up.
async fn the_best_list_is_current_after_every_change(app: NodeApp) {
    let chain = &app.chain;
    let store = app.node.store();
    assert!(best(&app.node).await.is_empty());
    let a500 = submit(&app, false, 500).await;
    assert_eq!(best(&app.node).await, std::slice::from_ref(&a500), "after a 201");
    let a400 = submit(&app, false, 400).await;
    assert_eq!(best(&app.node).await, std::slice::from_ref(&a400), "after a supersede");
    let b450 = submit(&app, true, 450).await;
    assert_eq!(best(&app.node).await, [a400.clone(), b450.clone()]);

    let snapshot = chain.anvil.snapshot().await.expect("snapshot");
    let mut claimed = chain.quote(&chain.prover, 0).await;
    claimed.basis_point_fee = 400;
    chain.claim(claimed).await.expect("claims");
    app.synced().await;
    assert!(best(&app.node).await.is_empty(), "after a claim");

    // The claim's L1 block leaves the chain: both quotes are claimable again.
    assert!(chain.anvil.revert_to(snapshot).await.expect("reverts"));
    for _ in 0..3 {
        chain.anvil.mine().await.expect("mines");
    }
    for _ in 0..500 {
        if store.open_claim().await.expect("reads").is_none() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(store.open_claim().await.expect("reads").is_none(), "the reorg is committed");
    assert_eq!(best(&app.node).await, [a400, b450], "after a reorg");

    // Past their validity: expired.
    chain.warp_to_slot(chain.config.claim_window(0).1 + 1).await;
    app.synced().await;
    assert!(best(&app.node).await.is_empty(), "after an expiry");
}

#[tokio::test]
async fn the_best_list_is_current_after_every_change_on_sqlite() {
    the_best_list_is_current_after_every_change(ready().await).await;
}

#[tokio::test]
async fn the_best_list_is_current_after_every_change_on_postgres() {
    let app = NodeApp::postgres().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    the_best_list_is_current_after_every_change(app).await;
}

#[tokio::test]
async fn the_best_list_is_current_after_another_replicas_write() {
    let app = NodeApp::postgres().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    let other = crate::app::RunningNode::start(crate::app::node_config(&app.chain, &app.db.url)).await;
    crate::app::wait_synced(&app.chain, &other.state).await;
    assert!(best(&other).await.is_empty());
    // Many readers at once before and after the write: the one version read they share never
    // started before a reader arrived.
    let before = futures_util::future::join_all((0..32).map(|_| best(&other))).await;
    assert!(before.iter().all(Vec::is_empty));
    let id = submit(&app, false, 500).await;
    let after = futures_util::future::join_all((0..32).map(|_| best(&other))).await;
    for answer in after {
        assert_eq!(answer, std::slice::from_ref(&id), "the other replica's answer right after the 201");
    }
}

#[tokio::test]
async fn a_version_check_that_hangs_answers_503_and_does_not_hold_later_requests() {
    use sqlx::{Connection, Executor};
    let app = NodeApp::postgres().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    let id = submit(&app, false, 500).await;
    assert_eq!(best(&app.node).await, std::slice::from_ref(&id));
    // Another session locks the events table: reading the latest event number waits behind it.
    let mut blocker = sqlx::PgConnection::connect(&app.db.url).await.expect("connects");
    blocker.execute("BEGIN; LOCK TABLE events IN ACCESS EXCLUSIVE MODE").await.expect("locks");
    let started = std::time::Instant::now();
    let (status, body) = app.node.get("/epoch-proof-quotes?epoch=0").await;
    assert_eq!((status, body["code"].as_str()), (StatusCode::SERVICE_UNAVAILABLE, Some("database_unavailable")));
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "answered in {:?}", started.elapsed());
    blocker.execute("ROLLBACK").await.expect("unlocks");
    // The hung read ends with the lock; the next request gets a fresh check and the page.
    assert_eq!(best(&app.node).await, [id]);
}
