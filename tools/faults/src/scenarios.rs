//! The scenarios: each starts what it needs, drives load, injects its fault, and returns its
//! figures.

use std::{
    collections::HashSet,
    fmt,
    path::PathBuf,
    time::{Duration, Instant},
};

use alloy::{primitives::B256, providers::Provider as _};
use bytes::Bytes;
use epoch_quote::QuoteSigner;
use rollup_l1::testkit::TestChain;
use sqlx::Connection as _;

use crate::{
    ScratchDatabase,
    cluster::Cluster,
    load::{self, LoadReport},
    node::{NodeProcess, NodeSpec},
    stream::Follower,
};

/// How big a run is.
#[derive(Clone, Debug)]
pub struct Size {
    /// Quotes sent.
    pub quotes: usize,
    /// Provers signing them.
    pub provers: usize,
    /// Quotes a second.
    pub rate: f64,
    /// Connections.
    pub connections: usize,
    /// When the fault strikes, after the load began.
    pub fault_at: Duration,
    /// How long the broken part stays down.
    pub down_for: Duration,
}

impl Size {
    /// The form the test command runs: a few seconds of load.
    pub fn short() -> Self {
        Self {
            quotes: 1_500,
            provers: 10,
            rate: 500.0,
            connections: 16,
            fault_at: Duration::from_millis(1_000),
            down_for: Duration::from_millis(500),
        }
    }

    /// The form run by hand for `RELIABILITY.md`.
    pub fn long() -> Self {
        Self {
            quotes: 30_000,
            provers: 50,
            rate: 2_500.0,
            connections: 64,
            fault_at: Duration::from_secs(4),
            down_for: Duration::from_secs(3),
        }
    }
}

/// What every scenario needs to start its parts.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The binary that runs a node with `run-node` (this tool).
    pub exe: PathBuf,
    /// The shared PostgreSQL server, for scenarios that only need a database of their own on it.
    pub database_url: String,
    /// The run's size.
    pub size: Size,
}

/// A chain with epoch 0 ready to claim, provers with deposits, and their quotes pre-signed.
struct Market {
    chain: TestChain,
    quotes: Vec<(B256, Bytes)>,
}

impl Market {
    async fn new(size: &Size) -> anyhow::Result<Self> {
        let chain = TestChain::start().await;
        let provers: Vec<QuoteSigner> = chain.fund_provers(size.provers, 100_000).await?;
        chain.epoch_zero_ready_to_claim().await;
        let template = chain.quote(&chain.prover, 0).await;
        let domain = chain.config.quote_domain();
        let quotes = (0..size.quotes)
            .map(|i| {
                let signer = &provers[i % provers.len()];
                let mut quote = template;
                quote.prover = signer.address();
                quote.basis_point_fee = 1 + u32::try_from(i / provers.len()).unwrap_or(0) % 9_999;
                let signed = signer.sign(quote, &domain);
                Ok((signed.id(&domain), Bytes::from(serde_json::to_vec(&signed)?)))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self { chain, quotes })
    }

    fn spec(&self, setup: &Setup, database_url: String, log: PathBuf) -> anyhow::Result<NodeSpec> {
        Ok(NodeSpec {
            exe: setup.exe.clone(),
            port: crate::process::free_port()?,
            l1_rpc_url: self.chain.anvil.endpoint().to_string(),
            rollup: self.chain.deployment.rollup,
            database_url,
            log,
            client_limits: false,
        })
    }

    /// Waits until the node's view of L1 reaches the chain's head.
    async fn synced(&self, node: &NodeProcess) -> anyhow::Result<()> {
        let head = self.chain.anvil.provider().get_block_number().await?;
        let http = reqwest::Client::new();
        for _ in 0..600 {
            let chain = get_json(&http, &format!("{}/chain", node.base())).await;
            if chain["l1Block"].as_u64().is_some_and(|b| b >= head) {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("the node did not reach L1 block {head}")
    }
}

/// The quote ids and the events (`(seq, kind)`) stored in the database at `url`.
async fn stored(url: &str) -> anyhow::Result<(HashSet<B256>, Vec<(i64, String)>)> {
    let mut db = sqlx::PgConnection::connect(url).await?;
    let ids: Vec<Vec<u8>> = sqlx::query_scalar("SELECT id FROM quotes").fetch_all(&mut db).await?;
    let events: Vec<(i64, String)> =
        sqlx::query_as("SELECT seq, kind FROM events ORDER BY seq").fetch_all(&mut db).await?;
    Ok((ids.iter().map(|id| B256::from_slice(id)).collect(), events))
}

/// The JSON answer of `url`, or `null` when there is none (the node is down, or not JSON).
async fn get_json(http: &reqwest::Client, url: &str) -> serde_json::Value {
    crate::fetch_json(http, url).await.1
}

/// How long after `since` the node at `base` serves a claim on epoch 0 (waiting up to 30 s).
async fn claim_shown(base: &str, since: Instant) -> Option<Duration> {
    let http = reqwest::Client::new();
    while since.elapsed() < Duration::from_secs(30) {
        if get_json(&http, &format!("{base}/epochs/0")).await["claim"].is_object() {
            return Some(since.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// Waits (up to 15 s) until `follower` has received the newest of the stored `events`, then
/// counts the stored events it never received and those it received more than once.
async fn caught_up(follower: &Follower, events: &[(i64, String)]) -> (usize, usize) {
    let newest = events.last().map_or(0, |(seq, _)| *seq);
    let waiting = Instant::now();
    while follower.received.get().last().is_none_or(|(id, _)| *id < newest)
        && waiting.elapsed() < Duration::from_secs(15)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let received = follower.received.get();
    let unique: HashSet<i64> = received.iter().map(|(id, _)| *id).collect();
    (events.iter().filter(|(seq, _)| !unique.contains(seq)).count(), received.len() - unique.len())
}

/// Acknowledged quotes that the database does not hold.
fn lost(load: &LoadReport, stored: &HashSet<B256>) -> usize {
    load.acknowledged().iter().filter(|id| !stored.contains(*id)).count()
}

fn outcomes(load: &LoadReport) -> String {
    load.outcomes().iter().map(|(outcome, n)| format!("{outcome} ×{n}")).collect::<Vec<_>>().join(", ")
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// Scenario 2's figures.
#[derive(Debug)]
pub struct NodeCrash {
    /// Quotes sent.
    pub sent: usize,
    /// Acknowledged with `201`.
    pub acknowledged: usize,
    /// Acknowledged and not stored.
    pub lost: usize,
    /// Events stored at the end.
    pub events_stored: usize,
    /// Stored events the stream client never received.
    pub events_missed: usize,
    /// Events the stream client received more than once.
    pub events_repeated: usize,
    /// Stored quotes without their `quote_accepted` event.
    pub quotes_without_event: usize,
    /// How many times the stream client connected.
    pub stream_connections: usize,
    /// From the restart (the process started again) to the first `201`.
    pub restart_to_first_201: Option<Duration>,
    /// From the second restart until the claim made while the node was down showed.
    pub claim_while_down_seen_after: Option<Duration>,
    /// The answers, by outcome.
    pub outcomes: String,
}

impl fmt::Display for NodeCrash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "node-crash: {} sent, {} acknowledged, {} lost | events: {} stored, {} missed, {} repeated by the \
             stream ({} connections), {} stored quotes without their event | restart → first 201: {} | \
             claim made while down seen {} after restart | answers: {}",
            self.sent,
            self.acknowledged,
            self.lost,
            self.events_stored,
            self.events_missed,
            self.events_repeated,
            self.stream_connections,
            self.quotes_without_event,
            self.restart_to_first_201.map_or_else(|| "never".to_owned(), secs),
            self.claim_while_down_seen_after.map_or_else(|| "never".to_owned(), secs),
            self.outcomes
        )
    }
}

/// 2. The node killed with SIGKILL under intake load and restarted; then killed again while
///    a claim lands on L1, and restarted.
pub async fn node_crash(setup: &Setup) -> anyhow::Result<NodeCrash> {
    let size = &setup.size;
    let market = Market::new(size).await?;
    let db = ScratchDatabase::create(&setup.database_url, "node_crash").await?;
    let dir = tempfile::tempdir()?;
    let result = async {
        let spec = market.spec(setup, db.url.clone(), dir.path().join("node.log"))?;
        let mut node = NodeProcess::start(spec).await?;
        market.synced(&node).await?;
        let follower = Follower::start(&node.base());

        let begun = Instant::now();
        let load = tokio::spawn({
            let (base, quotes) = (node.base(), market.quotes.clone());
            let (connections, rate) = (size.connections, size.rate);
            async move { load::drive(&base, quotes, connections, rate, begun).await }
        });
        tokio::time::sleep_until((begun + size.fault_at).into()).await;
        node.kill().await?;
        tokio::time::sleep(size.down_for).await;
        let restarted_at = begun.elapsed();
        node.restart().await?;
        let load = load.await??;

        // Killed again; meanwhile epoch 0 is claimed on L1; the watcher must pick it up from its
        // cursor after the restart.
        node.kill().await?;
        let mut claim = market.chain.quote(&market.chain.prover, 0).await;
        claim.basis_point_fee = 9_999;
        market.chain.claim(claim).await?;
        let restarted = Instant::now();
        node.restart().await?;
        let claim_seen = claim_shown(&node.base(), restarted).await;

        let (ids, events) = stored(&db.url).await?;
        let (events_missed, events_repeated) = caught_up(&follower, &events).await;
        // Each stored quote's own `quote_accepted` event, matched by id.
        let mut db = sqlx::PgConnection::connect(&db.url).await?;
        let accepted: Vec<String> =
            sqlx::query_scalar("SELECT data FROM events WHERE kind = 'quote_accepted'").fetch_all(&mut db).await?;
        let announced: HashSet<B256> = accepted
            .iter()
            .filter_map(|data| serde_json::from_str::<serde_json::Value>(data).ok()?["id"].as_str()?.parse().ok())
            .collect();
        Ok(NodeCrash {
            sent: load.answers.len(),
            acknowledged: load.acknowledged().len(),
            lost: lost(&load, &ids),
            events_stored: events.len(),
            events_missed,
            events_repeated,
            quotes_without_event: ids.difference(&announced).count(),
            stream_connections: follower.connections.load(std::sync::atomic::Ordering::Relaxed),
            restart_to_first_201: load
                .first_201_after(restarted_at)
                .map(|a| (a.sent + a.took).saturating_sub(restarted_at)),
            claim_while_down_seen_after: claim_seen,
            outcomes: outcomes(&load),
        })
    }
    .await;
    let _ = db.drop().await;
    result
}

/// Scenario 1's figures.
#[derive(Debug)]
pub struct DatabaseCrash {
    /// Quotes sent.
    pub sent: usize,
    /// Acknowledged with `201`.
    pub acknowledged: usize,
    /// Acknowledged and not stored.
    pub lost: usize,
    /// How long the database was down.
    pub outage: Duration,
    /// The answers to requests sent while it was down, by outcome.
    pub outage_answers: String,
    /// Answers during the outage that are neither `201` (held until the database was back,
    /// then committed) nor `503` with a code.
    pub outage_errors_without_code: usize,
    /// The slowest answer to a request sent during the outage.
    pub slowest_outage_answer: Duration,
    /// From the database accepting connections again to the first `201`.
    pub back_to_first_201: Option<Duration>,
    /// All answers, by outcome.
    pub outcomes: String,
}

impl fmt::Display for DatabaseCrash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "db-crash: {} sent, {} acknowledged, {} lost | outage {}: {}; {} errors without a code; slowest \
             answer {} | database back → first 201: {} (node not restarted) | answers: {}",
            self.sent,
            self.acknowledged,
            self.lost,
            secs(self.outage),
            self.outage_answers,
            self.outage_errors_without_code,
            secs(self.slowest_outage_answer),
            self.back_to_first_201.map_or_else(|| "never".to_owned(), secs),
            self.outcomes
        )
    }
}

/// 1. PostgreSQL (a private cluster) killed with SIGKILL under intake load, then restarted;
///    the node keeps running.
pub async fn database_crash(setup: &Setup) -> anyhow::Result<DatabaseCrash> {
    let size = &setup.size;
    let market = Market::new(size).await?;
    let cluster = tokio::task::spawn_blocking(Cluster::start).await??;
    let mut admin = sqlx::PgConnection::connect(&cluster.url("postgres")).await?;
    sqlx::query("CREATE DATABASE node").execute(&mut admin).await?;
    drop(admin);
    let dir = tempfile::tempdir()?;
    let spec = market.spec(setup, cluster.url("node"), dir.path().join("node.log"))?;
    let node = NodeProcess::start(spec).await?;
    market.synced(&node).await?;

    let begun = Instant::now();
    let load = tokio::spawn({
        let (base, quotes) = (node.base(), market.quotes.clone());
        let (connections, rate) = (size.connections, size.rate);
        async move { load::drive(&base, quotes, connections, rate, begun).await }
    });
    tokio::time::sleep_until((begun + size.fault_at).into()).await;
    let cluster = std::sync::Arc::new(cluster);
    let killing = cluster.clone();
    tokio::task::spawn_blocking(move || killing.kill()).await??;
    let killed_at = begun.elapsed();
    tokio::time::sleep(size.down_for).await;
    let starting = cluster.clone();
    tokio::task::spawn_blocking(move || starting.start_server()).await??;
    let back_at = begun.elapsed();
    let load = load.await??;

    let (ids, _) = stored(&cluster.url("node")).await?;
    let during: Vec<_> = load.answers.iter().filter(|a| a.sent >= killed_at && a.sent < back_at).collect();
    let outage = LoadReport { answers: during.iter().map(|a| (*a).clone()).collect() };
    let back_to_first_201 = load
        .answers
        .iter()
        .filter(|a| a.outcome == "201" && a.sent + a.took >= back_at)
        .map(|a| a.sent + a.took - back_at)
        .min();
    Ok(DatabaseCrash {
        sent: load.answers.len(),
        acknowledged: load.acknowledged().len(),
        lost: lost(&load, &ids),
        outage: back_at - killed_at,
        outage_answers: outcomes(&outage),
        outage_errors_without_code: during
            .iter()
            .filter(|a| a.outcome != "201" && !a.outcome.starts_with("503 "))
            .count(),
        slowest_outage_answer: during.iter().map(|a| a.took).max().unwrap_or_default(),
        back_to_first_201,
        outcomes: outcomes(&load),
    })
}

/// Scenario 6's figures.
#[derive(Debug)]
pub struct Failover {
    /// From the kill of the replica running the watcher until another one runs it.
    pub new_leader_after: Option<Duration>,
    /// Quotes sent to the surviving replicas.
    pub sent: usize,
    /// Acknowledged with `201`.
    pub acknowledged: usize,
    /// Acknowledged and not stored.
    pub lost: usize,
    /// Answers from the surviving replicas other than `201`.
    pub refused: usize,
    /// The longest time between two `201`s completing at the surviving replicas.
    pub longest_intake_pause: Duration,
    /// Stored events the stream client (on a surviving replica) never received.
    pub events_missed: usize,
    /// Events it received more than once.
    pub events_repeated: usize,
    /// From a claim on L1 after the failover until a surviving replica serves it.
    pub claim_seen_after: Option<Duration>,
}

impl fmt::Display for Failover {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "replica-failover: watcher's replica killed; another leads after {} | intake on the others: {} sent, \
             {} acknowledged, {} lost, {} refused, longest pause between 201s {} | events: {} missed, {} repeated | \
             claim after the failover seen in {}",
            self.new_leader_after.map_or_else(|| "never".to_owned(), secs),
            self.sent,
            self.acknowledged,
            self.lost,
            self.refused,
            secs(self.longest_intake_pause),
            self.events_missed,
            self.events_repeated,
            self.claim_seen_after.map_or_else(|| "never".to_owned(), secs),
        )
    }
}

async fn chain_status(http: &reqwest::Client, node: &NodeProcess) -> serde_json::Value {
    get_json(http, &format!("{}/chain", node.base())).await
}

/// 6. Three replicas on one PostgreSQL; the one running the watcher is killed with SIGKILL
///    while the others take quotes.
pub async fn replica_failover(setup: &Setup) -> anyhow::Result<Failover> {
    let size = &setup.size;
    let market = Market::new(size).await?;
    let db = ScratchDatabase::create(&setup.database_url, "failover").await?;
    let dir = tempfile::tempdir()?;
    let result = async {
        let mut replicas = Vec::new();
        for n in 0..3 {
            let spec = market.spec(setup, db.url.clone(), dir.path().join(format!("node-{n}.log")))?;
            replicas.push(NodeProcess::start(spec).await?);
        }
        for replica in &replicas {
            market.synced(replica).await?;
        }
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let mut leader = None;
        for (n, replica) in replicas.iter().enumerate() {
            if chain_status(&http, replica).await["watcherLeader"] == true {
                leader = Some(n);
            }
        }
        let leader = leader.ok_or_else(|| anyhow::anyhow!("no replica runs the watcher"))?;
        let mut doomed = replicas.remove(leader);
        let follower = Follower::start(&replicas[0].base());

        // Half the quotes to each survivor, at half the rate each.
        let begun = Instant::now();
        let (first, second) = market.quotes.split_at(market.quotes.len() / 2);
        let loads: Vec<_> = [(replicas[0].base(), first.to_vec()), (replicas[1].base(), second.to_vec())]
            .into_iter()
            .map(|(base, quotes)| {
                let (connections, rate) = (size.connections / 2, size.rate / 2.0);
                tokio::spawn(async move { load::drive(&base, quotes, connections.max(1), rate, begun).await })
            })
            .collect();
        tokio::time::sleep_until((begun + size.fault_at).into()).await;
        doomed.kill().await?;
        let killed = Instant::now();
        let mut new_leader_after = None;
        while killed.elapsed() < Duration::from_secs(30) {
            let mut leads = false;
            for replica in &replicas {
                leads |= chain_status(&http, replica).await["watcherLeader"] == true;
            }
            if leads {
                new_leader_after = Some(killed.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let mut answers = Vec::new();
        for load in loads {
            answers.extend(load.await??.answers);
        }
        let load = LoadReport { answers };

        // The new leader follows L1: a claim shows on the survivors.
        let mut claim = market.chain.quote(&market.chain.prover, 0).await;
        claim.basis_point_fee = 9_999;
        market.chain.claim(claim).await?;
        let claim_seen_after = claim_shown(&replicas[1].base(), Instant::now()).await;

        let (ids, events) = stored(&db.url).await?;
        let (events_missed, events_repeated) = caught_up(&follower, &events).await;
        let mut done: Vec<Duration> =
            load.answers.iter().filter(|a| a.outcome == "201").map(|a| a.sent + a.took).collect();
        done.sort();
        Ok(Failover {
            new_leader_after,
            sent: load.answers.len(),
            acknowledged: load.acknowledged().len(),
            lost: lost(&load, &ids),
            refused: load.answers.iter().filter(|a| a.outcome != "201").count(),
            longest_intake_pause: done.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default(),
            events_missed,
            events_repeated,
            claim_seen_after,
        })
    }
    .await;
    let _ = db.drop().await;
    result
}

/// Scenario 4's figures: one line per reorg depth.
#[derive(Debug)]
pub struct Reorgs {
    /// Per depth: the depth, whether the node's view equals a fresh node's, and how long the
    /// node took to reach the new branch's head.
    pub depths: Vec<(u64, bool, Duration)>,
    /// The first difference found, if any.
    pub first_difference: Option<String>,
}

impl fmt::Display for Reorgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let equal = self.depths.iter().filter(|(_, equal, _)| *equal).count();
        let slowest = self.depths.iter().map(|(_, _, took)| *took).max().unwrap_or_default();
        let depths: Vec<String> = self.depths.iter().map(|(d, _, _)| d.to_string()).collect();
        write!(
            f,
            "reorgs: depths {}: the node's view equals a fresh node's after {} of {}; slowest to reach the new head {}",
            depths.join(", "),
            equal,
            self.depths.len(),
            secs(slowest)
        )?;
        if let Some(difference) = &self.first_difference {
            write!(f, " | first difference: {difference}")?;
        }
        Ok(())
    }
}

/// The node's view of L1 as stored: every table the watcher writes (not the quotes, which come
/// from provers, and not the recorded L1 hashes, which depend on how it read the chain), as text.
async fn l1_view(url: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let mut db = sqlx::PgConnection::connect(url).await?;
    let mut view = Vec::new();
    // A deposit is compared by its value, not by the block it was read at.
    for (table, rows, order) in [
        ("l2_blocks", "l2_blocks", "number, l1_block"),
        ("epochs", "epochs", "epoch"),
        ("claims", "claims", "epoch, l1_block, quote_id"),
        ("provers", "(SELECT address, deposit FROM provers)", "address"),
        ("chain_cursor", "chain_cursor", "id"),
    ] {
        let sql = format!("SELECT COALESCE(json_agg(t ORDER BY {order})::text, '[]') FROM {rows} t");
        let rows: String = sqlx::query_scalar(sqlx::AssertSqlSafe(sql)).fetch_one(&mut db).await?;
        view.push((table, rows));
    }
    Ok(view)
}

async fn wait_for_head(market: &Market, node: &NodeProcess) -> anyhow::Result<Duration> {
    let started = Instant::now();
    let head = market.chain.anvil.provider().get_block_number().await?;
    let hash = market.chain.anvil.provider().get_block_by_number(head.into()).await?.map(|b| b.header.hash);
    let http = reqwest::Client::new();
    while started.elapsed() < Duration::from_secs(30) {
        let chain = chain_status(&http, node).await;
        if chain["l1Block"].as_u64() == Some(head) {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    anyhow::bail!("the node did not reach L1 block {head} ({hash:?})")
}

/// 4. L1 reorgs of each depth in `depths`: the dropped branch held escrow deposits and L2
///    blocks; the new branch is one block longer and holds neither. After each, the node's
///    stored view is compared with that of a fresh node synced from scratch.
pub async fn reorgs(setup: &Setup, depths: &[u64]) -> anyhow::Result<Reorgs> {
    let market = Market::new(&Size { quotes: 0, ..setup.size.clone() }).await?;
    let chain = &market.chain;
    let db = ScratchDatabase::create(&setup.database_url, "reorgs").await?;
    let dir = tempfile::tempdir()?;
    let result = async {
        let spec = market.spec(setup, db.url.clone(), dir.path().join("node.log"))?;
        let node = NodeProcess::start(spec).await?;
        market.synced(&node).await?;
        let mut report = Reorgs { depths: Vec::new(), first_difference: None };
        let mut slot = chain.config.claim_window(0).0;
        for (n, &depth) in depths.iter().enumerate() {
            let snapshot = chain.anvil.snapshot().await?;
            // The branch to be dropped: a deposit, then L2 blocks, padded to `depth` blocks.
            let base = chain.anvil.provider().get_block_number().await?;
            chain.prover2.escrow.deposit(alloy::primitives::U256::from(1 + n as u64)).await?;
            while chain.anvil.provider().get_block_number().await? + 2 <= base + depth {
                slot += 1;
                chain.propose_at(&chain.proposer, slot, 1, 1_000 + slot).await;
            }
            while chain.anvil.provider().get_block_number().await? < base + depth {
                chain.anvil.mine().await?;
            }
            wait_for_head(&market, &node).await?;
            // The new branch, one block longer, without them.
            anyhow::ensure!(chain.anvil.revert_to(snapshot).await?, "anvil could not revert");
            for _ in 0..=depth {
                chain.anvil.mine().await?;
            }
            let took = wait_for_head(&market, &node).await?;

            let fresh_db = ScratchDatabase::create(&setup.database_url, &format!("reorgs_fresh_{n}")).await?;
            let compared = async {
                let spec = market.spec(setup, fresh_db.url.clone(), dir.path().join(format!("fresh-{n}.log")))?;
                let fresh = NodeProcess::start(spec).await?;
                wait_for_head(&market, &fresh).await?;
                let (ours, theirs) = (l1_view(&db.url).await?, l1_view(&fresh_db.url).await?);
                let difference = ours
                    .iter()
                    .zip(&theirs)
                    .find(|(a, b)| a != b)
                    .map(|((table, a), (_, b))| format!("depth {depth}, {table}: node {a} vs fresh {b}"));
                anyhow::Ok(difference)
            }
            .await;
            let _ = fresh_db.drop().await;
            let difference = compared?;
            report.depths.push((depth, difference.is_none(), took));
            if report.first_difference.is_none() {
                report.first_difference = difference;
            }
        }
        Ok(report)
    }
    .await;
    let _ = db.drop().await;
    result
}

/// Scenario 8's figures.
#[derive(Debug)]
pub struct GossipFlood {
    /// Propagation from a `POST` at A to storage at B, p50 and p99, undisturbed.
    pub undisturbed: (Duration, Duration),
    /// The same while a peer floods B with invalid quotes.
    pub flooded: (Duration, Duration),
    /// Invalid messages the flooder published.
    pub flood_sent: u64,
    /// Its attempts refused because no peer would take them (B had cut it off).
    pub flood_refused: u64,
    /// How long after the flood began B listed the flooder as blocked.
    pub flooder_blocked_after: Option<Duration>,
    /// The flooder is still connected to B at the end.
    pub flooder_connected_at_end: bool,
    /// Quotes B stored from the flood (must be 0).
    pub flood_stored: u64,
}

impl GossipFlood {
    /// The flooded p99 over the undisturbed one.
    pub fn p99_ratio(&self) -> f64 {
        self.flooded.1.as_secs_f64() / self.undisturbed.1.as_secs_f64().max(1e-6)
    }
}

impl fmt::Display for GossipFlood {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1e3);
        write!(
            f,
            "gossip-flood: honest propagation A→B p50/p99 {} / {} undisturbed, {} / {} under a flood ({:.2}× the \
             p99) | the flooder published {} invalid messages before B blocked it ({} after the flood began); {} \
             more attempts found no peer; connected at the end: {}; {} flooded quotes stored",
            ms(self.undisturbed.0),
            ms(self.undisturbed.1),
            ms(self.flooded.0),
            ms(self.flooded.1),
            self.p99_ratio(),
            self.flood_sent,
            self.flooder_blocked_after
                .map_or_else(|| "never".to_owned(), |d| format!("{:.1} ms", d.as_secs_f64() * 1e3)),
            self.flood_refused,
            self.flooder_connected_at_end,
            self.flood_stored
        )
    }
}

/// Propagation of `quotes`, POSTed one at a time to `a`, until `b` stores each: p50 and p99.
async fn propagation(
    a: &coordination_node::Spawned,
    b: &coordination_node::Spawned,
    quotes: &[(B256, Bytes)],
) -> anyhow::Result<(Duration, Duration)> {
    let http = reqwest::Client::new();
    let mut took = Vec::new();
    for (id, body) in quotes {
        let started = Instant::now();
        let status = http
            .post(format!("http://{}/epoch-proof-quotes", a.addr))
            .header("content-type", "application/json")
            .body(body.clone())
            .send()
            .await?
            .status();
        anyhow::ensure!(status == reqwest::StatusCode::CREATED, "A answered {status}");
        while b.state.store.quote(*id).await?.is_none() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "quote {id} did not reach B");
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        took.push(started.elapsed());
    }
    took.sort();
    let at = |p: f64| took.get(((took.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default();
    Ok((at(0.5), at(0.99)))
}

/// 8. A gossip peer floods a node with invalid quotes (bad signatures and undecodable bytes)
///    while honest quotes propagate from another node.
pub async fn gossip_flood(setup: &Setup, honest_quotes: usize) -> anyhow::Result<GossipFlood> {
    use quote_gossip::{GossipQuote, P2pArgs, PublishError, Role};

    let market = Market::new(&Size { quotes: 2 * honest_quotes, ..setup.size.clone() }).await?;
    let chain = &market.chain;
    let (db_a, db_b) = (
        ScratchDatabase::create(&setup.database_url, "flood_a").await?,
        ScratchDatabase::create(&setup.database_url, "flood_b").await?,
    );
    let result = async {
        let config = |url: &str, bootstrap| coordination_node::Config {
            p2p: P2pArgs::local(bootstrap),
            quotes_per_epoch: 100_000,
            ..coordination_node::Config::local(chain.anvil.endpoint(), chain.deployment.rollup, url.to_owned())
        };
        let a = coordination_node::spawn(config(&db_a.url, Vec::new()), std::future::pending()).await?;
        let a_addrs = a.state.gossip.as_ref().map(|g| g.listen_addrs().to_vec()).unwrap_or_default();
        let b = coordination_node::spawn(config(&db_b.url, a_addrs), std::future::pending()).await?;
        let b_gossip = b.state.gossip.clone().ok_or_else(|| anyhow::anyhow!("P2P off"))?;
        let waiting = Instant::now();
        while b_gossip.topic_peers() < 1 {
            anyhow::ensure!(waiting.elapsed() < Duration::from_secs(60), "A and B did not meet within 60 s");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (first, second) = market.quotes.split_at(honest_quotes);
        let undisturbed = propagation(&a, &b, first).await?;

        // The flooder joins through B and publishes invalid quotes as fast as it can.
        let settings = P2pArgs::local(b_gossip.listen_addrs().to_vec()).settings(Role::Publisher, None, None)?;
        let (flooder, _inbound) = quote_gossip::start(settings).await?;
        while flooder.topic_peers() == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let flooder_id = flooder.peer_id();
        let before = b.state.store.quote_count().await?;
        let mut forged = market.chain.sign(&market.chain.prover, market.chain.quote(&market.chain.prover, 0).await);
        let chain_id = chain.config.chain_id;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flood = tokio::spawn({
            let stop = stop.clone();
            async move {
                let (mut sent, mut refused) = (0u64, 0u64);
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    // Alternately: a quote whose signature is not its prover's, and bytes that
                    // are no quote at all; each distinct, so none is a duplicate.
                    let bytes = if sent.is_multiple_of(2) {
                        forged.quote.basis_point_fee = 1 + (sent % 9_999) as u32;
                        GossipQuote { chain_id, signed: forged }.encode()
                    } else {
                        format!("not a quote {sent}").into_bytes()
                    };
                    match flooder.publish_raw(bytes).await {
                        Ok(_) => sent += 1,
                        Err(error @ (PublishError::QueuesFull | PublishError::NoPeers)) => {
                            refused += u64::from(error == PublishError::NoPeers);
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        Err(_) => break,
                    }
                    tokio::task::yield_now().await;
                }
                (sent, refused, flooder)
            }
        });
        let flooding = Instant::now();
        let mut flooder_blocked_after = None;
        while flooding.elapsed() < Duration::from_secs(5) {
            if b_gossip.blocked_peers() > 0 {
                flooder_blocked_after = Some(flooding.elapsed());
                break;
            }
            tokio::time::sleep(Duration::from_micros(500)).await;
        }
        let flooded = propagation(&a, &b, second).await?;
        let stored_during = b.state.store.quote_count().await? - before;
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let (flood_sent, flood_refused, flooder) = flood.await?;
        let flooder_connected_at_end = b_gossip.peers().await.iter().any(|p| p.peer_id == flooder_id);
        drop(flooder);
        a.task.abort();
        b.task.abort();
        Ok(GossipFlood {
            undisturbed,
            flooded,
            flood_sent,
            flood_refused,
            flooder_blocked_after,
            flooder_connected_at_end,
            flood_stored: stored_during.saturating_sub(second.len() as u64),
        })
    }
    .await;
    let _ = db_a.drop().await;
    let _ = db_b.drop().await;
    result
}

/// Scenario 7's figures.
#[derive(Debug)]
pub struct Hostile {
    /// Honest intake alone, quotes a second.
    pub undisturbed_rate: f64,
    /// Honest intake beside the hostile clients.
    pub disturbed_rate: f64,
    /// Honest answers other than `201` beside them.
    pub disturbed_refused: usize,
    /// Idle connections opened, and still open at the end.
    pub idle: (usize, usize),
    /// What slow-drip uploads were answered, by status line, and after how long at most.
    pub drip: (String, Duration),
    /// Streams opened that never read.
    pub silent_streams: usize,
    /// Of 40 streams from one address: accepted, and refused with `429 too_many_streams`.
    pub one_address_streams: (usize, usize),
    /// The node's resident memory: before, with every hostile client connected, at the end.
    pub resident: (u64, u64, u64),
}

impl fmt::Display for Hostile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mb = |b: u64| format!("{:.0} MB", b as f64 / 1e6);
        write!(
            f,
            "hostile-clients: honest intake {:.0}/s alone, {:.0}/s beside them ({:.0} %, {} refused) | {} idle \
             connections ({} still open at the end) | slow-drip uploads answered {} within {} | {} streams that \
             never read | 40 streams from one address: {} taken, {} refused 429 | node memory {} → {} → {}",
            self.undisturbed_rate,
            self.disturbed_rate,
            100.0 * self.disturbed_rate / self.undisturbed_rate.max(1e-9),
            self.disturbed_refused,
            self.idle.0,
            self.idle.1,
            self.drip.0,
            secs(self.drip.1),
            self.silent_streams,
            self.one_address_streams.0,
            self.one_address_streams.1,
            mb(self.resident.0),
            mb(self.resident.1),
            mb(self.resident.2)
        )
    }
}

/// A TCP connection to `port` from `source`.
async fn connect_from(source: [u8; 4], port: u16) -> std::io::Result<tokio::net::TcpStream> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(std::net::SocketAddr::from((source, 0)))?;
    socket.connect(std::net::SocketAddr::from(([127, 0, 0, 1], port))).await
}

/// The status line of the answer on `stream` (up to `wait`).
async fn status_line(stream: &mut tokio::net::TcpStream, wait: Duration) -> String {
    use tokio::io::AsyncReadExt as _;
    let mut buffer = vec![0u8; 512];
    match tokio::time::timeout(wait, stream.read(&mut buffer)).await {
        Ok(Ok(n)) if n > 0 => {
            String::from_utf8_lossy(&buffer[..n]).lines().next().unwrap_or_default().trim().to_owned()
        }
        Ok(_) => "closed".to_owned(),
        Err(_) => "no answer".to_owned(),
    }
}

/// 7. Hostile clients: 10,000 idle connections, uploads dripping a byte a second, 1,000 event
///    streams that never read (from 100 addresses), 40 streams from one address; honest intake
///    from many provers (one address each) is measured alone and beside them. The node runs with
///    its default per-client limits.
pub async fn hostile_clients(setup: &Setup, idle: usize) -> anyhow::Result<Hostile> {
    use tokio::io::AsyncWriteExt as _;

    let size = &setup.size;
    let market = Market::new(size).await?;
    let db = ScratchDatabase::create(&setup.database_url, "hostile").await?;
    let dir = tempfile::tempdir()?;
    let result = async {
        let spec = NodeSpec { client_limits: true, ..market.spec(setup, db.url.clone(), dir.path().join("node.log"))? };
        let port = spec.port;
        let node = NodeProcess::start(spec).await?;
        market.synced(&node).await?;
        let (first, second) = market.quotes.split_at(market.quotes.len() / 2);
        let honest = |quotes: &[(B256, Bytes)]| {
            let (base, quotes, connections) = (node.base(), quotes.to_vec(), size.connections);
            async move {
                let begun = Instant::now();
                let load = load::drive_from(&base, quotes, connections, f64::MAX, begun, true).await?;
                anyhow::Ok((load.answers.len() as f64 / begun.elapsed().as_secs_f64(), load))
            }
        };
        let before = node.resident_bytes().unwrap_or(0);
        let (undisturbed_rate, _) = honest(first).await?;

        // The hostile clients.
        let mut idle_connections = Vec::new();
        for n in 0..idle {
            let source = [127, 0, 2, u8::try_from(n % 200).unwrap_or(0) + 1];
            if let Ok(stream) = connect_from(source, port).await {
                idle_connections.push(stream);
            }
        }
        let mut drips = Vec::new();
        for n in 0..100u8 {
            let mut stream = connect_from([127, 0, 4, n + 1], port).await?;
            let head = "POST /epoch-proof-quotes HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n\
                        Content-Length: 600\r\n\r\n";
            stream.write_all(head.as_bytes()).await?;
            drips.push(tokio::spawn(async move {
                let started = Instant::now();
                // A byte a second until answered (or 30 s).
                for _ in 0..30 {
                    if stream.write_all(b"{").await.is_err() {
                        break;
                    }
                    let line = status_line(&mut stream, Duration::from_secs(1)).await;
                    if line != "no answer" {
                        return (line, started.elapsed());
                    }
                }
                ("no answer in 30 s".to_owned(), started.elapsed())
            }));
        }
        let request = b"GET /events HTTP/1.1\r\nHost: node\r\nAccept: text/event-stream\r\n\r\n";
        let mut silent = Vec::new();
        for n in 0..1_000usize {
            let source = [127, 0, 3, u8::try_from(n % 100).unwrap_or(0) + 1];
            let mut stream = connect_from(source, port).await?;
            stream.write_all(request).await?;
            silent.push(stream);
        }
        let mut one_address = (0, 0);
        let mut kept = Vec::new();
        for _ in 0..40 {
            let mut stream = connect_from([127, 0, 5, 1], port).await?;
            stream.write_all(request).await?;
            let line = status_line(&mut stream, Duration::from_secs(5)).await;
            if line.contains(" 200") {
                one_address.0 += 1;
                kept.push(stream);
            } else if line.contains(" 429") {
                one_address.1 += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        let attacked = node.resident_bytes().unwrap_or(0);

        let (disturbed_rate, load) = honest(second).await?;
        let mut drip_lines = std::collections::BTreeMap::<String, usize>::new();
        let mut drip_longest = Duration::ZERO;
        for drip in drips {
            let (line, took) = drip.await?;
            *drip_lines.entry(line).or_default() += 1;
            drip_longest = drip_longest.max(took);
        }
        let mut still_open = 0;
        for stream in &mut idle_connections {
            let mut byte = [0u8; 1];
            // Open: nothing to read yet (would block); closed: end of stream.
            match stream.try_read(&mut byte) {
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => still_open += 1,
                _ => {}
            }
        }
        let after = node.resident_bytes().unwrap_or(0);
        drop((silent, kept, idle_connections));
        Ok(Hostile {
            undisturbed_rate,
            disturbed_rate,
            disturbed_refused: load.answers.iter().filter(|a| a.outcome != "201").count(),
            idle: (idle, still_open),
            drip: (
                drip_lines.iter().map(|(line, n)| format!("{line} ×{n}")).collect::<Vec<_>>().join(", "),
                drip_longest,
            ),
            silent_streams: 1_000,
            one_address_streams: one_address,
            resident: (before, attacked, after),
        })
    }
    .await;
    let _ = db.drop().await;
    result
}
