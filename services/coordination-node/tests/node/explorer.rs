//! The explorer and the aggregates it reads: the API operations over HTTP, and the pages in a
//! real headless Chromium against a node on a live chain.

use reqwest::StatusCode;
use rollup_l1::testkit::Actor;
use serde_json::Value;

use crate::{app::NodeApp, browser::Browser, proxy::Proxy};

/// Submits a quote for epoch 0 from `prover` at `fee`; its id.
async fn submit(app: &NodeApp, prover: &Actor, fee: u32) -> String {
    let mut quote = app.chain.quote(prover, 0).await;
    quote.basis_point_fee = fee;
    let (status, body) = app.node.submit(&app.chain.sign(prover, quote)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["id"].as_str().expect("id").to_owned()
}

/// Epoch 0 with three quotes (the first prover at 400 then 250, the second at 300), claimed at
/// 250 and proven; what the L1 paid the prover for it.
async fn epoch_zero_won_and_proven(app: &NodeApp) -> u64 {
    let chain = &app.chain;
    let mut quote = chain.quote(&chain.prover, 0).await;
    quote.basis_point_fee = 250;
    chain.claim(quote).await.expect("claims");
    chain.anvil.mine().await.expect("mines");
    let before = chain.balance(chain.prover.address()).await;
    chain.prover.rollup.submit_epoch_proof(0, chain.proof(0).await).await.expect("proves");
    let paid = chain.balance(chain.prover.address()).await - before;
    app.synced().await;
    paid.to::<u64>()
}

async fn ready(app: &NodeApp) -> [String; 3] {
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    let chain = &app.chain;
    [
        submit(app, &chain.prover, 400).await,
        submit(app, &chain.prover, 250).await,
        submit(app, &chain.prover2, 300).await,
    ]
}

#[tokio::test]
async fn the_market_aggregates_over_http() {
    let app = NodeApp::postgres().await;
    let chain = &app.chain;
    ready(&app).await;

    let (code, status) = app.node.get("/chain").await;
    assert_eq!((code, status["epochDuration"].as_u64()), (StatusCode::OK, Some(4)));
    assert_eq!((status["currentEpoch"].as_u64(), status["watcherLeader"].as_bool()), (Some(1), Some(true)));
    assert_eq!(status["watcherLagBlocks"], 0, "synced: {status}");
    let (_, market) = app.node.get("/market/epochs").await;
    let epoch = &market["epochs"][0];
    assert_eq!((epoch["epoch"].as_u64(), epoch["state"].as_str()), (Some(0), Some("complete")));
    assert_eq!(
        (epoch["quotes"].as_u64(), epoch["provers"].as_u64(), epoch["bestFee"].as_u64()),
        (Some(3), Some(2), Some(250))
    );
    assert!(epoch.get("claim").is_none() && epoch.get("payout").is_none(), "{epoch}");

    let paid = epoch_zero_won_and_proven(&app).await;
    assert_eq!(paid, 250, "10000 in fees at 250 bps");
    let (_, market) = app.node.get("/market/epochs?limit=1").await;
    let epoch = &market["epochs"][0];
    assert_eq!(epoch["state"], "proven");
    assert_eq!(epoch["payout"], paid.to_string(), "the payout is what the L1 paid");
    assert_eq!(epoch["claim"]["basisPointFee"], 250);
    assert!(epoch["provenAtL1Block"].as_u64().is_some(), "{epoch}");
    assert!(market.get("nextBefore").is_none(), "a page ending on epoch 0 is the last: {market}");
    let (_, older) = app.node.get("/market/epochs?before=0").await;
    assert_eq!(older["epochs"], serde_json::json!([]));
    let (_, epoch_view) = app.node.get("/epochs/0").await;
    assert_eq!(epoch_view["payout"], paid.to_string());

    let winner = chain.prover.address();
    let (_, board) = app.node.get("/provers").await;
    let first = &board["provers"][0];
    assert_eq!(first["prover"], winner.to_string(), "most fees earned first: {board}");
    assert_eq!(
        (first["quotes"].as_u64(), first["epochsQuoted"].as_u64(), first["claims"].as_u64(), first["proven"].as_u64()),
        (Some(2), Some(1), Some(1), Some(1))
    );
    assert_eq!((first["feesEarned"].as_str(), first["winRate"].as_f64()), (Some("250"), Some(1.0)));
    assert!(first["deposit"].as_str().is_some_and(|d| d.parse::<u64>().is_ok()), "the escrow deposit: {first}");
    let second = &board["provers"][1];
    assert_eq!((second["claims"].as_u64(), second["winRate"].as_f64()), (Some(0), Some(0.0)));

    let (status, page) = app.node.get(&format!("/provers/{winner}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["feesEarned"], "250");
    assert_eq!(
        page["epochs"],
        serde_json::json!([{"epoch": 0, "quotes": 2, "bestFee": 250, "won": true, "wonFee": 250}])
    );
    let (status, unknown) = app.node.get(&format!("/provers/{}", alloy::primitives::Address::repeat_byte(9))).await;
    assert_eq!((status, unknown["code"].as_str()), (StatusCode::NOT_FOUND, Some("prover_not_found")));
    for (path, field) in
        [("/provers/0x12", "address"), ("/provers?limit=0", "limit"), ("/market/epochs?before=-1", "before")]
    {
        let (status, body) = app.node.get(path).await;
        assert_eq!(
            (status, body["code"].as_str(), body["field"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_parameter"), Some(field)),
            "{path}"
        );
    }
}

/// The text of the cards with `data-total`, by name, numbers without their separators.
const TOTALS: &str = "return Object.fromEntries([...document.querySelectorAll('[data-total]')]
    .map(c => [c.dataset.total, c.querySelector('.value').textContent.replaceAll(',', '')]))";

#[tokio::test]
async fn the_explorer_follows_an_epoch_live_and_its_pages_agree_with_the_chain() {
    let app = NodeApp::sqlite().await;
    let [a400, a250, b300] = ready(&app).await;
    let browser = Browser::start().await;
    browser.goto(&format!("{}/", app.node.base)).await;
    let state_of_zero = "return document.querySelector('#strip a[data-epoch=\"0\"]')?.dataset.state ?? null";
    assert_eq!(browser.wait_for(state_of_zero, "epoch 0 in the strip").await, "complete");
    browser.run("window.sameDocument = true; return null").await;

    // Claimed, then proven: the overview turns without a reload.
    let chain = &app.chain;
    let mut quote = chain.quote(&chain.prover, 0).await;
    quote.basis_point_fee = 250;
    chain.claim(quote).await.expect("claims");
    chain.anvil.mine().await.expect("mines");
    let turned_to = |state: &str| {
        format!("return document.querySelector('#strip a[data-epoch=\"0\"]')?.dataset.state === '{state}' || null")
    };
    browser.wait_for(&turned_to("claimed"), "epoch 0 claimed").await;
    let before = chain.balance(chain.prover.address()).await;
    chain.prover.rollup.submit_epoch_proof(0, chain.proof(0).await).await.expect("proves");
    let paid = (chain.balance(chain.prover.address()).await - before).to_string();
    browser.wait_for(&turned_to("proven"), "epoch 0 proven").await;
    assert_eq!(browser.run("return window.sameDocument === true").await, true, "the page was not reloaded");
    let kinds = browser
        .wait_for(
            "const kinds = [...document.querySelectorAll('#feed-list .kind')].map(k => k.textContent);
             return kinds.includes('proof_seen') ? kinds : null",
            "the proof in the live feed",
        )
        .await;
    assert!(kinds.as_array().is_some_and(|k| k.contains(&Value::from("claim_seen"))), "{kinds}");

    // The epoch page: quotes best first, the winner marked, why each other lost, the payout the
    // L1 made.
    browser.run("location.hash = '#/epoch/0'; return null").await;
    browser.wait_for("return document.querySelector('[data-card=payout]') !== null", "the epoch page").await;
    let fees = browser
        .run("return [...document.querySelectorAll('tr[data-quote] td[data-fee]')].map(td => Number(td.dataset.fee))")
        .await;
    assert_eq!(fees, serde_json::json!([250, 300, 400]));
    assert_eq!(browser.run("return document.querySelector('tr.winner')?.dataset.quote").await, a250.as_str());
    let result =
        |id: &str| format!("return document.querySelector('tr[data-quote=\"{id}\"] td:last-child').textContent");
    assert!(browser.run(&result(&b300)).await.as_str().is_some_and(|t| t.starts_with("outbid by")));
    assert_eq!(browser.run(&result(&a400)).await, "superseded");
    let payout = browser.run("return document.querySelector('[data-card=payout] .value').textContent").await;
    assert_eq!(payout.as_str().map(|p| p.replace(',', "")), Some(paid.clone()), "the payout shown is what the L1 paid");

    // The prover page's totals are the API's.
    let winner = chain.prover.address();
    browser.run(&format!("location.hash = '#/prover/{winner}'; return null")).await;
    browser.wait_for("return document.querySelector('[data-total=claims]') !== null", "the prover page").await;
    let shown = browser.run(TOTALS).await;
    let (_, record) = app.node.get(&format!("/provers/{winner}")).await;
    for key in ["deposit", "quotes", "epochsQuoted", "claims", "proven", "slashed", "feesEarned"] {
        let api = match &record[key] {
            Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        assert_eq!(shown[key].as_str(), Some(api.as_str()), "{key}: page {shown}, API {record}");
    }
    assert_eq!(shown["feesEarned"], paid.as_str());

    // At a phone's width no page scrolls sideways.
    browser.resize(390, 844).await;
    let width = browser.run("return window.innerWidth").await.as_u64().expect("width");
    assert!(width <= 400, "the viewport is phone-sized: {width}");
    for (hash, heading) in [
        ("#/", "Overview"),
        ("#/epoch/0", "Epoch 0"),
        (&format!("#/prover/{winner}"), "0x"),
        ("#/market", "Market"),
        ("#/feed", "Live feed"),
    ] {
        browser.run(&format!("location.hash = '{hash}'; return null")).await;
        browser
            .wait_for(
                &format!("return document.querySelector('h1')?.textContent.startsWith('{heading}') || null"),
                heading,
            )
            .await;
        let overflow =
            browser.run("return document.documentElement.scrollWidth - document.documentElement.clientWidth").await;
        assert_eq!(overflow, 0, "{hash} scrolls sideways at {width} px");
    }
    assert_eq!(browser.console_errors().await, Vec::<String>::new(), "the pages logged no errors");
}

#[tokio::test]
async fn the_live_feed_resumes_after_a_lost_connection_without_a_gap() {
    let app = NodeApp::postgres().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    let upstream = app.node.base.trim_start_matches("http://").parse().expect("node address");
    let proxy = Proxy::start(upstream).await;
    let browser = Browser::start().await;
    browser.goto(&format!("http://{}/explorer/#/feed", proxy.addr)).await;
    let status_is = |prefix: &str| {
        format!("return document.getElementById('feed-status')?.textContent.startsWith('{prefix}') || null")
    };
    let shows = |seq: i64| {
        format!(
            "return [...document.querySelectorAll('#feed-list li[data-seq]')].some(li => li.dataset.seq === '{seq}') || null"
        )
    };
    browser.wait_for(&status_is("connected"), "the feed connected").await;

    submit(&app, &app.chain.prover, 500).await;
    let first = app.node.store().latest_event_seq().await.expect("reads");
    browser.wait_for(&shows(first), "the first quote").await;

    // The connection is lost; a quote arrives meanwhile; the browser reconnects by itself.
    proxy.cut();
    browser.wait_for(&status_is("reconnecting"), "the lost connection").await;
    submit(&app, &app.chain.prover2, 450).await;
    let second = app.node.store().latest_event_seq().await.expect("reads");
    proxy.restore().await;
    browser.wait_for(&shows(second), "the quote sent while disconnected").await;
    let seqs = browser
        .run("return [...document.querySelectorAll('#feed-list li[data-seq]')].map(li => Number(li.dataset.seq))")
        .await;
    assert_eq!(seqs, serde_json::json!([second, first]), "each event once, none missed");
}
