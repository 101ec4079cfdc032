//! A coordination node running in-process on a free port against a fresh test chain and a fresh
//! database.

use std::time::Duration;

use alloy::providers::Provider;
use coordination_node::{AppState, Config, store::Store};
use epoch_quote::SignedEpochProofQuote;
use reqwest::StatusCode;
use rollup_l1::testkit::TestChain;
use serde_json::Value;

use crate::support::TestDb;

pub(crate) struct NodeApp {
    pub(crate) chain: TestChain,
    pub(crate) db: TestDb,
    pub(crate) node: RunningNode,
}

/// One node process (a task here), which can be stopped and started again.
pub(crate) struct RunningNode {
    pub(crate) base: String,
    pub(crate) state: AppState,
    pub(crate) client: reqwest::Client,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Drop for RunningNode {
    fn drop(&mut self) {
        self.server.abort();
    }
}

pub(crate) fn node_config(chain: &TestChain, database_url: &str) -> Config {
    Config {
        quotes_per_epoch: 100,
        events_buffer: 1024,
        ..Config::local(chain.anvil.endpoint(), chain.deployment.rollup, database_url.to_owned())
    }
}

impl RunningNode {
    pub(crate) async fn start(config: Config) -> Self {
        let node = coordination_node::spawn(config, std::future::pending()).await.expect("node starts");
        Self {
            base: format!("http://{}", node.addr),
            state: node.state,
            client: reqwest::Client::new(),
            server: node.task,
        }
    }

    pub(crate) fn store(&self) -> &Store {
        &self.state.store
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (StatusCode, Value) {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("request");
        let status = r.status();
        let text = r.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON answer: {status} {text}")))
    }

    pub(crate) async fn submit(&self, quote: &SignedEpochProofQuote) -> (StatusCode, Value) {
        self.post("/epoch-proof-quotes", "application/json", serde_json::to_string(quote).expect("json")).await
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.client.get(format!("{}{path}", self.base)).send().await.expect("request");
        let status = r.status();
        (status, r.json().await.unwrap_or(Value::Null))
    }
}

impl NodeApp {
    pub(crate) async fn sqlite() -> Self {
        Self::with_db(TestDb::sqlite().await).await
    }

    pub(crate) async fn postgres() -> Self {
        Self::with_db(TestDb::postgres().await).await
    }

    async fn with_db(db: TestDb) -> Self {
        let chain = TestChain::start().await;
        let node = RunningNode::start(node_config(&chain, &db.url)).await;
        Self { chain, db, node }
    }

    /// Waits until the node's view of L1 has caught up with the chain's head.
    pub(crate) async fn synced(&self) {
        wait_synced(&self.chain, &self.node.state).await;
    }
}

/// Waits until the node's stored view of L1, and the copy its intake reads, have reached the
/// chain's head.
pub(crate) async fn wait_synced(chain: &TestChain, state: &AppState) {
    let head = chain.anvil.provider().get_block_number().await.expect("head");
    for _ in 0..500 {
        let stored = state.store.cursor().await.ok().flatten().is_some_and(|c| c.l1_block >= head);
        if stored && state.view.get().cursor.is_some_and(|c| c.l1_block >= head) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the node did not reach L1 block {head}");
}
