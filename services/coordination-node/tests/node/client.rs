//! The node's client (`node_api::client`), as the prover node and the proposer use it, against a
//! real node: each answer becomes the typed result its caller acts on.

use node_api::{
    QuoteStatus, RefusalCode,
    client::{ClientError, NodeClient},
};

use crate::app::NodeApp;

#[tokio::test]
async fn the_client_tells_stored_refused_unavailable_and_unreachable_apart() {
    let app = NodeApp::postgres().await;
    app.chain.epoch_zero_ready_to_claim().await;
    app.synced().await;
    let chain = &app.chain;
    let domain = chain.config.quote_domain();
    let client = NodeClient::new(app.node.base.parse().expect("url")).expect("client");

    let mut dear = chain.quote(&chain.prover, 0).await;
    dear.basis_point_fee = 900;
    let dear = chain.sign(&chain.prover, dear);
    let mut cheap = chain.quote(&chain.prover2, 0).await;
    cheap.basis_point_fee = 300;
    let cheap = chain.sign(&chain.prover2, cheap);

    // Stored, then known: the same id both times, `created` only the first.
    let first = client.submit_quote(&dear).await.expect("stored");
    assert!(first.created);
    assert_eq!((first.answer.id, first.answer.status), (dear.id(&domain), QuoteStatus::Pending));
    let again = client.submit_quote(&dear).await.expect("known");
    assert!(!again.created);
    assert_eq!(again.answer, first.answer);
    client.submit_quote(&cheap).await.expect("stored");

    // The claimable quotes, best first; an epoch with none is an empty list, not an error.
    assert_eq!(client.claimable_quotes(0, 10).await.expect("listed"), vec![cheap, dear]);
    assert_eq!(client.claimable_quotes(0, 1).await.expect("listed"), vec![cheap]);
    assert!(client.claimable_quotes(1, 10).await.expect("listed").is_empty());

    // A refusal carries its code, and is not worth retrying as is.
    let early = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    let mut later = early.quote;
    later.epoch_number = alloy::primitives::U256::from(1);
    let refused = client.submit_quote(&chain.sign(&chain.prover, later)).await.expect_err("refused");
    assert!(matches!(refused, ClientError::Refused { code: RefusalCode::EpochNotComplete, .. }), "{refused}");
    assert!(!refused.is_transient());

    // A request the node cannot serve is rejected with its code.
    let rejected = client.claimable_quotes(0, 501).await.expect_err("rejected");
    assert!(
        matches!(&rejected, ClientError::Rejected { status: 400, code, .. } if code == "invalid_parameter"),
        "{rejected}"
    );

    // The node's database gone: unavailable (worth retrying), never "no quotes".
    app.db.set_reachable(false).await;
    let unavailable = client.claimable_quotes(0, 10).await.expect_err("unavailable");
    assert!(
        matches!(&unavailable, ClientError::Unavailable { status: 503, code: Some(code), .. } if code == "database_unavailable"),
        "{unavailable}"
    );
    assert!(unavailable.is_transient());
    app.db.set_reachable(true).await;
    assert_eq!(client.claimable_quotes(0, 10).await.expect("listed again").len(), 2);

    // No node at all: a transport error, also worth retrying.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let nowhere = format!("http://{}/", listener.local_addr().expect("addr"));
    drop(listener);
    let unreachable = NodeClient::new(nowhere.parse().expect("url")).expect("client");
    let error = unreachable.claimable_quotes(0, 10).await.expect_err("no node");
    assert!(matches!(error, ClientError::Transport(_)) && error.is_transient(), "{error}");
}
