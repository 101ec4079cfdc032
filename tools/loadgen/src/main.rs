//! `loadgen`: drives a service over HTTP/1.1 keep-alive connections and reports requests/s and
//! latency percentiles beside a baseline measured in the same run, rounds interleaved so that
//! noise on a shared machine hits both alike.
//!
//! `cargo run --release -p loadgen -- quote-service` compares the quote service (its whole app:
//! routing, JSON parsing, pricing, metrics, timeout and body-limit layers) with a bare axum
//! handler that returns a fixed answer.

mod explorer;
mod gossip;
mod node;
mod node_read;
mod retention;

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant},
};

use axum::{Router, routing::post};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

#[derive(Debug, Parser)]
#[command(name = "loadgen", about = "Load generator for the project's HTTP services")]
struct Args {
    #[command(subcommand)]
    target: Target,
    /// Concurrent keep-alive connections.
    #[arg(long, default_value_t = 32, global = true)]
    connections: usize,
    /// Seconds per round per target.
    #[arg(long, default_value_t = 3.0, global = true)]
    seconds: f64,
    /// Rounds (each target once per round).
    #[arg(long, default_value_t = 5, global = true)]
    rounds: usize,
}

#[derive(Debug, clap::Subcommand)]
enum Target {
    /// The quote service's `POST /quote` against a bare axum handler.
    QuoteService,
    /// The coordination node's `POST /epoch-proof-quotes` with PostgreSQL, beside the raw
    /// signature-recovery rate and a PostgreSQL single-row insert rate.
    Node(node::NodeArgs),
    /// The coordination node's read side: best quotes of an epoch among many stored, against
    /// `GET /healthz` of the same node; and event fan-out latency to many stream subscribers.
    NodeRead(node_read::NodeReadArgs),
    /// The explorer's page loads (overview, epoch, market) with many quotes stored, against as
    /// many `GET /healthz` in the same order.
    Explorer(explorer::ExplorerArgs),
    /// Quote propagation between three coordination nodes over gossip: latency from a POST at
    /// one node to storage at the others, and gossip throughput, against HTTP intake.
    Gossip(gossip::GossipArgs),
    /// A long run of the devnet binary with a short retention window and extra quotes: the node's
    /// table sizes sampled as it goes (they should level off).
    Retention(retention::RetentionArgs),
}

/// The request Aztec's HTTP quote provider sends.
const QUOTE_REQUEST: &str =
    r#"{"epochNumber":7,"fromBlock":225,"toBlock":256,"txCount":1200,"totalFees":"2000000000000000000"}"#;

/// One round's result.
#[derive(Clone, Copy, Debug)]
struct Round {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

async fn serve(router: Router) -> anyhow::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(addr)
}

/// The request bodies of a run: cycled for ever, or each sent once.
struct Bodies {
    bodies: Vec<Bytes>,
    cycle: bool,
    next: std::sync::atomic::AtomicUsize,
    /// `GET` requests (the bodies are ignored) instead of `POST`.
    get: bool,
}

impl Bodies {
    fn take(&self) -> Option<Bytes> {
        let i = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if self.cycle { self.bodies.get(i % self.bodies.len()).cloned() } else { self.bodies.get(i).cloned() }
    }
}

/// One connection sending requests back to back until `deadline` or until the bodies run out;
/// returns latencies of the 2xx answers and the count of other outcomes.
async fn connection(
    addr: SocketAddr,
    path: &'static str,
    bodies: Arc<Bodies>,
    deadline: Instant,
) -> (Vec<Duration>, u64) {
    let mut latencies = Vec::with_capacity(100_000);
    let mut errors = 0;
    let Ok(stream) = tokio::net::TcpStream::connect(addr).await else { return (latencies, 1) };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await else {
        return (latencies, 1);
    };
    tokio::spawn(conn);
    while Instant::now() < deadline {
        let Some(body) = bodies.take() else { break };
        let builder = if bodies.get { http::Request::get(path) } else { http::Request::post(path) };
        let request = builder
            .header(http::header::HOST, "127.0.0.1")
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(body));
        let Ok(request) = request else { return (latencies, errors + 1) };
        let started = Instant::now();
        match sender.send_request(request).await {
            Ok(response) => {
                let ok = response.status().is_success();
                let body = response.into_body().collect().await.map(|b| b.to_bytes());
                match (ok, body) {
                    (true, Ok(_)) => latencies.push(started.elapsed()),
                    (false, Ok(body)) => {
                        // The first few refusals are shown, to explain the error count.
                        if errors < 3 {
                            eprintln!("refused: {}", String::from_utf8_lossy(&body));
                        }
                        errors += 1;
                    }
                    (_, Err(_)) => errors += 1,
                }
            }
            Err(_) => return (latencies, errors + 1),
        }
    }
    (latencies, errors)
}

async fn round(addr: SocketAddr, path: &'static str, bodies: Arc<Bodies>, connections: usize, seconds: f64) -> Round {
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let tasks: Vec<_> =
        (0..connections).map(|_| tokio::spawn(connection(addr, path, bodies.clone(), deadline))).collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for task in tasks {
        if let Ok((l, e)) = task.await {
            latencies.extend(l);
            errors += e;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_unstable();
    let pick = |q: f64| latencies.get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)));
    Round {
        rps: latencies.len() as f64 / elapsed,
        p50: pick(0.50).copied().unwrap_or_default(),
        p99: pick(0.99).copied().unwrap_or_default(),
        errors,
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// This process's resident size and its peak, in MB (from `/proc/self/status`; `None` elsewhere).
fn resident_mb() -> Option<(f64, f64)> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        Some(line[name.len()..].trim().trim_end_matches("kB").trim().parse::<f64>().ok()? / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

fn ms(d: f64) -> String {
    format!("{:.2} ms", d * 1e3)
}

fn report(name: &str, rounds: &[Round], baseline: &[Round]) {
    let rps = median(rounds.iter().map(|r| r.rps).collect());
    let p50 = median(rounds.iter().map(|r| r.p50.as_secs_f64()).collect());
    let p99 = median(rounds.iter().map(|r| r.p99.as_secs_f64()).collect());
    let ratio = median(rounds.iter().zip(baseline).map(|(r, b)| r.rps / b.rps).collect());
    let errors: u64 = rounds.iter().map(|r| r.errors).sum();
    println!("| {name} | {rps:.0} | {} | {} | {:.1} % | {errors} |", ms(p50), ms(p99), ratio * 100.0);
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The servers and the load share the machine's cores, as they would on one host.
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        match args.target {
            Target::QuoteService => {
                let bare = Router::new().route(
                    "/quote",
                    post(|_body: Bytes| async {
                        ([(http::header::CONTENT_TYPE, "application/json")], r#"{"basisPointFee":972,"bondAmount":"388800000000000000","validUntilSlot":"259"}"#)
                    }),
                );
                let bare_addr = serve(bare).await?;
                let config = quote_service::Config::parse_from(["quote-service"]);
                let state = quote_service::AppState::new(config)?;
                let service_addr = serve(quote_service::app(state)).await?;

                let (mut base_rounds, mut service_rounds) = (Vec::new(), Vec::new());
                let body = || {
                    Arc::new(Bodies { bodies: vec![Bytes::from_static(QUOTE_REQUEST.as_bytes())], cycle: true, next: 0.into(), get: false })
                };
                for _ in 0..args.rounds {
                    base_rounds.push(round(bare_addr, "/quote", body(), args.connections, args.seconds).await);
                    service_rounds.push(round(service_addr, "/quote", body(), args.connections, args.seconds).await);
                }
                println!(
                    "{} rounds × {} s per target, {} keep-alive connections, POST /quote with Aztec's request body; median round:\n",
                    args.rounds, args.seconds, args.connections
                );
                println!("| target | requests/s | p50 | p99 | vs bare | errors |");
                println!("|---|---:|---:|---:|---:|---:|");
                report("bare axum handler (baseline)", &base_rounds, &base_rounds);
                report("quote-service `POST /quote`", &service_rounds, &base_rounds);
            }
            Target::Node(node_args) => node::run(node_args, args.connections).await?,
            Target::NodeRead(read_args) => node_read::run(read_args, args.connections, args.seconds, args.rounds).await?,
            Target::Gossip(gossip_args) => gossip::run(gossip_args, args.connections).await?,
            Target::Explorer(explorer_args) => explorer::run(explorer_args).await?,
            Target::Retention(retention_args) => retention::run(retention_args).await?,
        }
        Ok(())
    })
}
