//! Quote propagation over gossip between three coordination nodes on PostgreSQL (C joins
//! through B, B through A; discovery then connects them all): the latency from a POST at A to
//! the quote stored at B and at C, against A's own POST-to-stored latency in the same run; and
//! the rate at which quotes gossiped by a prover are stored by every node, against the rate of
//! POSTing the same number of quotes to A.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use bytes::Bytes;
use coordination_node::AppState;
use epoch_quote::{QuoteSigner, SignedEpochProofQuote};
use quote_gossip::{GossipQuote, P2pArgs, PublishError, Role};
use rollup_l1::testkit::TestChain;

use crate::{Bodies, ms, node::ScratchDatabase, round};

/// Options of the gossip load.
#[derive(Debug, clap::Args)]
pub(crate) struct GossipArgs {
    /// Quotes POSTed one at a time to A for the latency figures.
    #[arg(long, default_value_t = 500)]
    latency_quotes: usize,
    /// Quotes gossiped (and, separately, POSTed) for the throughput figures.
    #[arg(long, default_value_t = 5_000)]
    throughput_quotes: usize,
    /// Provers signing them.
    #[arg(long, default_value_t = 20)]
    provers: usize,
    /// PostgreSQL server (a database per node is created for the run and dropped after).
    #[arg(long, env = "TEST_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
}

struct GossipNode {
    state: AppState,
    addr: std::net::SocketAddr,
    _task: tokio::task::JoinHandle<std::io::Result<()>>,
}

pub(crate) async fn run(args: GossipArgs, connections: usize) -> anyhow::Result<()> {
    let chain = TestChain::start().await;
    let provers = chain.fund_provers(args.provers, 100_000).await?;
    chain.epoch_zero_ready_to_claim().await;
    let mut databases = Vec::new();
    for tag in ["a", "b", "c"] {
        databases.push(ScratchDatabase::create(&args.database_url, tag).await?);
    }
    let result = measure(&args, connections, &chain, &provers, &databases).await;
    for db in databases {
        db.drop().await?;
    }
    result
}

async fn start(chain: &TestChain, url: &str, bootstrap: Vec<quote_gossip::Multiaddr>) -> anyhow::Result<GossipNode> {
    let (state, addr, task) = crate::node::start_node_with(chain, url, 200, P2pArgs::local(bootstrap)).await?;
    Ok(GossipNode { state, addr, _task: task })
}

fn addrs(node: &GossipNode) -> Vec<quote_gossip::Multiaddr> {
    node.state.gossip.as_ref().map(|g| g.listen_addrs().to_vec()).unwrap_or_default()
}

/// Pre-signed distinct quotes: prover `i % P`, fee `offset + i / P`.
async fn sign(chain: &TestChain, provers: &[QuoteSigner], count: usize, offset: usize) -> Vec<SignedEpochProofQuote> {
    let template = chain.quote(&chain.prover, 0).await;
    let domain = chain.config.quote_domain();
    (0..count)
        .map(|i| {
            let signer = &provers[i % provers.len()];
            let mut quote = template;
            quote.prover = signer.address();
            quote.basis_point_fee = (offset + i / provers.len()) as u32 % 10_000 + 1;
            signer.sign(quote, &domain)
        })
        .collect()
}

async fn stored_count(state: &AppState) -> anyhow::Result<i64> {
    Ok(i64::try_from(state.store.quote_count().await?)?)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted.get(((sorted.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or_default()
}

async fn measure(
    args: &GossipArgs,
    connections: usize,
    chain: &TestChain,
    provers: &[QuoteSigner],
    databases: &[ScratchDatabase],
) -> anyhow::Result<()> {
    let a = start(chain, &databases[0].url, Vec::new()).await?;
    let b = start(chain, &databases[1].url, addrs(&a)).await?;
    let c = start(chain, &databases[2].url, addrs(&b)).await?;
    let gossip = |n: &GossipNode| n.state.gossip.clone().expect("P2P on");
    for _ in 0..400 {
        if [&a, &b, &c].iter().all(|n| gossip(n).topic_peers() >= 2) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let peers: Vec<usize> = [&a, &b, &c].iter().map(|n| gossip(n).topic_peers()).collect();

    // Latency: one quote at a time, POSTed to A; when is it stored at A (the 201), at B, at C?
    let quotes = sign(chain, provers, args.latency_quotes, 0).await;
    let client = node_api::client::NodeClient::new(format!("http://{}/", a.addr).parse()?)?;
    let domain = chain.config.quote_domain();
    let (mut at_a, mut at_b, mut at_c) = (Vec::new(), Vec::new(), Vec::new());
    for quote in &quotes {
        let id = quote.id(&domain);
        let started = Instant::now();
        let submitted = client.submit_quote(quote).await?;
        anyhow::ensure!(submitted.created, "A had already stored quote {id}");
        at_a.push(started.elapsed());
        let (mut b_seen, mut c_seen) = (None, None);
        while b_seen.is_none() || c_seen.is_none() {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "quote {id} did not reach every node");
            if b_seen.is_none() && b.state.store.quote(id).await?.is_some() {
                b_seen = Some(started.elapsed());
            }
            if c_seen.is_none() && c.state.store.quote(id).await?.is_some() {
                c_seen = Some(started.elapsed());
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        at_b.extend(b_seen);
        at_c.extend(c_seen);
    }
    for v in [&mut at_a, &mut at_b, &mut at_c] {
        v.sort();
    }

    // Throughput, baseline: the same number of other quotes POSTed to A at `connections`.
    let http_quotes = sign(chain, provers, args.throughput_quotes, 2_000).await;
    let c_before = stored_count(&c.state).await?;
    let bodies = http_quotes.iter().map(|q| Bytes::from(serde_json::to_vec(q).unwrap_or_default())).collect();
    let source = Arc::new(Bodies { bodies, cycle: false, next: 0.into(), get: false });
    let started = Instant::now();
    let http = round(a.addr, "/epoch-proof-quotes", source, connections, 600.0).await;
    let a_http_rate = http_quotes.len() as f64 / started.elapsed().as_secs_f64();
    // Those also went round by gossip: wait until C has them before the next part.
    let want_c = c_before + http_quotes.len() as i64;
    while stored_count(&c.state).await? < want_c && started.elapsed() < Duration::from_secs(30) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    if stored_count(&c.state).await? < want_c {
        eprintln!(
            "C has {} of {want_c} after 30 s; peers {:?}",
            stored_count(&c.state).await?,
            gossip(&c).peers().await
        );
    }
    let http_everywhere = http_quotes.len() as f64 / started.elapsed().as_secs_f64();

    // Throughput, gossip: a prover peer connected to A publishes quotes as fast as it can.
    let gossip_quotes = sign(chain, provers, args.throughput_quotes, 5_000).await;
    let settings = P2pArgs::local(addrs(&a)).settings(Role::Publisher, None, None)?;
    let (prover, _inbound) = quote_gossip::start(settings).await?;
    while prover.topic_peers() == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before: Vec<i64> =
        vec![stored_count(&a.state).await?, stored_count(&b.state).await?, stored_count(&c.state).await?];
    let started = Instant::now();
    for signed in &gossip_quotes {
        let message = GossipQuote { chain_id: chain.config.chain_id, signed: *signed };
        loop {
            match prover.publish(&message).await {
                Ok(_) => break,
                Err(PublishError::QueuesFull) => tokio::time::sleep(Duration::from_millis(1)).await,
                Err(e) => anyhow::bail!("cannot publish: {e}"),
            }
        }
    }
    let published = started.elapsed();
    let mut done = [None, None, None];
    while done.iter().any(Option::is_none) && started.elapsed() < Duration::from_secs(60) {
        for (i, node) in [&a, &b, &c].iter().enumerate() {
            if done[i].is_none() && stored_count(&node.state).await? >= before[i] + gossip_quotes.len() as i64 {
                done[i] = Some(started.elapsed());
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let rate = |d: Option<Duration>| d.map_or(0.0, |d| gossip_quotes.len() as f64 / d.as_secs_f64());
    let everywhere = done.iter().flatten().max().copied();

    println!(
        "three nodes on PostgreSQL (C joined through B, B through A; topic peers after discovery: {peers:?}), \
         {} provers:\n",
        provers.len()
    );
    println!("Latency, {} quotes POSTed one at a time to A:\n", quotes.len());
    println!("| stored at | p50 | p99 | p50 vs A |");
    println!("|---|---:|---:|---:|");
    let a50 = percentile(&at_a, 0.5).as_secs_f64();
    for (name, v) in [("A: POST answered 201 (baseline)", &at_a), ("B (gossip from A)", &at_b), ("C (gossip)", &at_c)] {
        let p50 = percentile(v, 0.5).as_secs_f64();
        println!("| {name} | {} | {} | {:.2}× |", ms(p50), ms(percentile(v, 0.99).as_secs_f64()), p50 / a50);
    }
    println!("\nThroughput, {} distinct quotes each way:\n", args.throughput_quotes);
    println!("| path | quotes/s | vs baseline |");
    println!("|---|---:|---:|");
    println!(
        "| POST to A, {connections} connections, stored at A (baseline; {} refused) | {a_http_rate:.0} | 1.00× |",
        http.errors
    );
    println!(
        "| the same POSTs, stored at A and gossiped on to C | {http_everywhere:.0} | {:.2}× |",
        http_everywhere / a_http_rate
    );
    println!(
        "| gossiped by a prover peer (published in {:.2} s), stored at A | {:.0} | {:.2}× |",
        published.as_secs_f64(),
        rate(done[0]),
        rate(done[0]) / a_http_rate
    );
    println!("| … stored at every node | {:.0} | {:.2}× |", rate(everywhere), rate(everywhere) / a_http_rate);
    if done.iter().any(Option::is_none) {
        println!("\nnot every node stored every gossiped quote within 60 s: {done:?}");
        for ((name, node), before) in [("A", &a), ("B", &b), ("C", &c)].into_iter().zip(&before) {
            let peers = gossip(node).peers().await;
            println!("{name}: stored {} (before {before}), peers {peers:?}", stored_count(&node.state).await?);
        }
    }
    Ok(())
}
