//! Limits per client: behind a trusted reverse proxy they count the client it forwards for
//! (`X-Forwarded-For`), otherwise the connection's peer, whatever the header says.

use std::time::Duration;

use reqwest::StatusCode;
use rollup_l1::testkit::TestChain;

use crate::{
    app::{RunningNode, node_config},
    support::TestDb,
};

async fn node(
    chain: &TestChain,
    db: &TestDb,
    trusted: &str,
    tweak: impl FnOnce(&mut coordination_node::Config),
) -> RunningNode {
    let mut config = node_config(chain, &db.url);
    config.trusted_proxies = trusted.parse().expect("trusted proxies");
    tweak(&mut config);
    RunningNode::start(config).await
}

/// Submits an empty quote as if forwarded for `client`; the answer's status.
async fn submit_for(node: &RunningNode, client: &str) -> StatusCode {
    node.client
        .post(format!("{}/epoch-proof-quotes", node.base))
        .header("content-type", "application/json")
        .header("x-forwarded-for", client)
        .body("{}")
        .send()
        .await
        .expect("answers")
        .status()
}

#[tokio::test]
async fn the_rate_limit_counts_the_forwarded_client_only_behind_a_trusted_proxy() {
    let chain = TestChain::start().await;
    let db = TestDb::sqlite().await;
    let limited = |config: &mut coordination_node::Config| {
        config.rate_limit_per_second = 1;
        config.rate_limit_burst = 1;
    };
    // The tests connect from 127.0.0.1: here that is the trusted proxy.
    let behind = node(&chain, &db, "127.0.0.1", limited).await;
    assert_eq!(submit_for(&behind, "203.0.113.1").await, StatusCode::BAD_REQUEST, "through the limit, then refused");
    // A client cannot escape by writing another address first: the proxy's own entry counts.
    assert_eq!(submit_for(&behind, "198.51.100.9, 203.0.113.1").await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(submit_for(&behind, "203.0.113.2").await, StatusCode::BAD_REQUEST, "another client, its own bucket");

    // Without a trusted proxy the header is ignored: every request is the peer's.
    let direct = node(&chain, &db, "", limited).await;
    assert_eq!(submit_for(&direct, "203.0.113.1").await, StatusCode::BAD_REQUEST);
    assert_eq!(submit_for(&direct, "203.0.113.2").await, StatusCode::TOO_MANY_REQUESTS, "the header changes nothing");
}

#[tokio::test]
async fn each_client_holds_a_bounded_number_of_event_streams() {
    let chain = TestChain::start().await;
    let db = TestDb::sqlite().await;
    let node = node(&chain, &db, "127.0.0.1", |config| config.streams_per_client = 2).await;
    let open = |client: &'static str| {
        node.client.get(format!("{}/events", node.base)).header("x-forwarded-for", client).send()
    };
    let first = open("203.0.113.1").await.expect("answers");
    let second = open("203.0.113.1").await.expect("answers");
    assert_eq!((first.status(), second.status()), (StatusCode::OK, StatusCode::OK));
    let third = open("203.0.113.1").await.expect("answers");
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    let body: serde_json::Value = third.json().await.expect("error body");
    assert_eq!(body["code"], "too_many_streams");
    assert_eq!(open("203.0.113.2").await.expect("answers").status(), StatusCode::OK, "another client has its own");

    // A closed stream frees its slot, and its task ends at once, not at the next event.
    drop(first);
    let mut reopened = StatusCode::TOO_MANY_REQUESTS;
    for _ in 0..100 {
        reopened = open("203.0.113.1").await.expect("answers").status();
        if reopened == StatusCode::OK {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(reopened, StatusCode::OK);
    drop(second);
    let mut open_streams = None;
    for _ in 0..100 {
        let metrics = node.client.get(format!("{}/metrics", node.base)).send().await.expect("answers");
        let text = metrics.text().await.expect("text");
        open_streams = text.lines().find_map(|l| l.strip_prefix("coordination_node_open_streams ")).map(str::to_owned);
        if open_streams.as_deref() == Some("0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(open_streams.as_deref(), Some("0"), "every stream task ended with its client");
}
