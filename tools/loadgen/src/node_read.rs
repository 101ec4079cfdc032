//! The coordination node's read side under load: `GET /epoch-proof-quotes?epoch=N` (best first)
//! over many stored quotes, against `GET /healthz` of the same node in the same run; and how long
//! an accepted quote takes to reach each of many event-stream subscribers.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use alloy::primitives::{Address, B256, keccak256};
use bytes::Bytes;
use coordination_node::store::Store;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rollup_l1::testkit::TestChain;

use crate::{
    Bodies, median, ms,
    node::{ScratchDatabase, start_node},
    round,
};

/// Options of the read-side load.
#[derive(Debug, clap::Args)]
pub(crate) struct NodeReadArgs {
    /// Quotes stored for the epoch before reading.
    #[arg(long, default_value_t = 100_000)]
    quotes: usize,
    /// Provers they come from (each prover's latest quote is pending, the others superseded).
    #[arg(long, default_value_t = 2_000)]
    provers: usize,
    /// Event-stream subscribers.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Quotes submitted while the subscribers listen.
    #[arg(long, default_value_t = 100)]
    events: usize,
    /// How often the nodes read new events when no commit was signalled, in milliseconds (the
    /// node's default).
    #[arg(long, default_value_t = 1000)]
    events_poll_ms: u64,
    /// PostgreSQL server (a database is created for the run and dropped after).
    #[arg(long, env = "TEST_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
}

pub(crate) async fn run(args: NodeReadArgs, connections: usize, seconds: f64, rounds: usize) -> anyhow::Result<()> {
    let chain = TestChain::start().await;
    chain.epoch_zero_ready_to_claim().await;
    let db = ScratchDatabase::create(&args.database_url, "node").await?;
    let result = measure(&args, connections, seconds, rounds, &chain, &db.url).await;
    db.drop().await?;
    result
}

async fn measure(
    args: &NodeReadArgs,
    connections: usize,
    seconds: f64,
    rounds: usize,
    chain: &TestChain,
    url: &str,
) -> anyhow::Result<()> {
    seed(args, chain, url).await?;
    let (_state, addr, node) = start_node(chain, url, args.events_poll_ms).await?;

    let get = || Arc::new(Bodies { bodies: vec![Bytes::new()], cycle: true, next: 0.into(), get: true });
    let (mut base, mut best) = (Vec::new(), Vec::new());
    for _ in 0..rounds {
        base.push(round(addr, "/healthz", get(), connections, seconds).await);
        best.push(round(addr, "/epoch-proof-quotes?epoch=0&limit=100", get(), connections, seconds).await);
    }
    println!(
        "{} quotes stored for epoch 0 from {} provers ({} pending); {connections} keep-alive connections, {rounds} rounds × {seconds} s; median round:\n",
        args.quotes,
        args.provers.min(args.quotes),
        args.provers.min(args.quotes)
    );
    println!("| request | requests/s | p50 | p99 | vs /healthz |");
    println!("|---|---:|---:|---:|---:|");
    for (name, rounds) in [("GET /healthz (baseline)", &base), ("GET /epoch-proof-quotes?epoch=0&limit=100", &best)] {
        let rps = median(rounds.iter().map(|r| r.rps).collect());
        let p50 = median(rounds.iter().map(|r| r.p50.as_secs_f64()).collect());
        let p99 = median(rounds.iter().map(|r| r.p99.as_secs_f64()).collect());
        let ratio = median(rounds.iter().zip(&base).map(|(r, b)| r.rps / b.rps).collect());
        println!("| {name} | {rps:.0} | {} | {} | {:.1} % |", ms(p50), ms(p99), ratio * 100.0);
    }
    // A second replica on the same database: its subscribers learn of the commits through
    // PostgreSQL's notifications.
    let (_other_state, other_addr, other) = start_node(chain, url, args.events_poll_ms).await?;
    let fanout = fan_out(args, chain, addr, &[addr, other_addr]).await?;
    node.abort();
    other.abort();

    let (accepted, refused) = (fanout.accepted, fanout.refused);
    println!(
        "\nEvent fan-out: {accepted} quotes accepted by replica A ({refused} refused), 20 ms apart, while {} \
         subscribers listened on each replica (fallback poll every {} ms); from the 201 answer to the event at \
         a subscriber:\n",
        args.subscribers, args.events_poll_ms,
    );
    println!("| subscribers on | deliveries | p50 | p99 | max |");
    println!("|---|---:|---:|---:|---:|");
    for (name, (delivered, expected, p50, p99, max)) in
        ["A (took the quotes)", "B (another replica)"].iter().zip(fanout.replicas)
    {
        println!("| {name} | {delivered}/{expected} | {} | {} | {} |", ms(p50), ms(p99), ms(max));
    }
    if let Some((now, peak)) = crate::resident_mb() {
        println!(
            "\nresident size of the process (two replicas and the load generator): {now:.0} MB, peak {peak:.0} MB"
        );
    }
    Ok(())
}

/// Stores `args.quotes` quotes for epoch 0 straight through the repository (the read path is
/// what is measured, not intake).
async fn seed(args: &NodeReadArgs, chain: &TestChain, url: &str) -> anyhow::Result<()> {
    let store = Store::connect(url).await?;
    let template = chain.sign(&chain.prover, chain.quote(&chain.prover, 0).await);
    let started = Instant::now();
    let quotes: Vec<(B256, epoch_quote::SignedEpochProofQuote)> = (0..args.quotes)
        .map(|i| {
            let mut quote = template;
            quote.quote.prover = Address::from_word(keccak256((i % args.provers).to_be_bytes()));
            quote.quote.basis_point_fee = 1 + ((i * 7919) % 10_000) as u32;
            (keccak256(i.to_be_bytes()), quote)
        })
        .collect();
    for chunk in quotes.chunks(1_000) {
        store.insert_quotes(chunk, 1_000_000).await?;
    }
    eprintln!("stored {} quotes in {:.1} s", quotes.len(), started.elapsed().as_secs_f64());
    Ok(())
}

type Seen = Arc<Mutex<Vec<(String, Instant)>>>;

/// One subscriber: records when each `quote_accepted` event arrives.
async fn subscribe(addr: std::net::SocketAddr, seen: Seen) -> anyhow::Result<()> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = http::Request::get("/events").header(http::header::HOST, "127.0.0.1").body(Empty::<Bytes>::new())?;
    let mut body = sender.send_request(request).await?.into_body();
    let mut parser = node_api::sse::SseParser::default();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else { continue };
        for event in parser.push(&data) {
            if event.event == "quote_accepted"
                && let Ok(json) = serde_json::from_str::<serde_json::Value>(&event.data)
                && let Some(id) = json["id"].as_str()
            {
                seen.lock().unwrap_or_else(|e| e.into_inner()).push((id.to_owned(), Instant::now()));
            }
        }
    }
    Ok(())
}

/// What [`fan_out`] measured.
struct FanOut {
    /// Quotes stored (`201`).
    accepted: usize,
    /// Quotes refused (a long seeding can outlast the epoch's claim window).
    refused: usize,
    /// For each replica: deliveries, expected deliveries, and the p50, p99 and maximum time from
    /// the `201` to the event at a subscriber.
    replicas: Vec<(usize, usize, f64, f64, f64)>,
}

/// Submits `args.events` quotes to `submit_to` while `args.subscribers` stream clients listen on
/// each of `replicas`.
async fn fan_out(
    args: &NodeReadArgs,
    chain: &TestChain,
    submit_to: std::net::SocketAddr,
    replicas: &[std::net::SocketAddr],
) -> anyhow::Result<FanOut> {
    let provers = chain.fund_provers(4, 100_000).await?;
    let seen: Vec<Vec<Seen>> =
        replicas.iter().map(|_| (0..args.subscribers).map(|_| Seen::default()).collect()).collect();
    let listeners: Vec<_> = replicas
        .iter()
        .zip(&seen)
        .flat_map(|(addr, seen)| seen.iter().map(|s| tokio::spawn(subscribe(*addr, s.clone()))))
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;

    let template = chain.quote(&chain.prover, 0).await;
    let domain = chain.config.quote_domain();
    let client = node_api::client::NodeClient::new(format!("http://{submit_to}/").parse()?)?;
    let mut acked: HashMap<String, Instant> = HashMap::new();
    let mut refused = 0;
    for i in 0..args.events {
        let signer = &provers[i % provers.len()];
        let mut quote = template;
        quote.prover = signer.address();
        quote.basis_point_fee = 10 + i as u32;
        let signed = signer.sign(quote, &domain);
        match client.submit_quote(&signed).await {
            Ok(submitted) if submitted.created => {
                acked.insert(signed.id(&domain).to_string(), Instant::now());
            }
            Ok(_) => {}
            Err(error @ node_api::client::ClientError::Refused { .. }) => {
                if refused == 0 {
                    eprintln!("refused: {error}");
                }
                refused += 1;
            }
            Err(error) => return Err(error.into()),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_000 + 2 * args.events_poll_ms)).await;
    listeners.iter().for_each(|l| l.abort());

    let replicas = seen
        .iter()
        .map(|subscribers| {
            let mut latencies = Vec::new();
            for subscriber in subscribers {
                for (id, at) in subscriber.lock().unwrap_or_else(|e| e.into_inner()).iter() {
                    if let Some(ack) = acked.get(id) {
                        latencies.push(at.saturating_duration_since(*ack).as_secs_f64());
                    }
                }
            }
            latencies.sort_by(f64::total_cmp);
            let pick = |q: f64| {
                latencies
                    .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
                    .copied()
                    .unwrap_or(0.0)
            };
            let max = latencies.last().copied().unwrap_or(0.0);
            (latencies.len(), acked.len() * args.subscribers, pick(0.5), pick(0.99), max)
        })
        .collect();
    Ok(FanOut { accepted: acked.len(), refused, replicas })
}
