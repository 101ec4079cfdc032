//! Retention over a long run at the devnet's speed: the devnet binary runs (its provers quote,
//! its proposer claims, its provers prove, 16-second epochs) with the node on a private
//! PostgreSQL cluster with the server's default settings (autovacuum on, as in production) and a
//! short retention window, while extra quotes are sent for every claimable epoch; the node's
//! table sizes are sampled as the run goes, to show whether they level off.

use std::{
    net::TcpListener,
    process::Stdio,
    time::{Duration, Instant},
};

use alloy::{
    primitives::{Address, U256},
    providers::Provider,
};
use epoch_quote::{EpochProofQuote, QuoteSigner};
use node_api::client::NodeClient;
use rollup_l1::RollupContract;
use sqlx::Connection;

use crate::node::ScratchDatabase;

/// Options of the retention run.
#[derive(Debug, clap::Args)]
pub(crate) struct RetentionArgs {
    /// How long the run lasts, in minutes.
    #[arg(long, default_value_t = 10.0)]
    minutes: f64,
    /// The node's `NODE_RETENTION_EPOCHS`.
    #[arg(long, default_value_t = 8)]
    retention_epochs: u64,
    /// Extra quotes sent per second (by the devnet's spare account, at fees that never win).
    #[arg(long, default_value_t = 50)]
    quotes_per_second: u64,
    /// Seconds between two samples of the table sizes.
    #[arg(long, default_value_t = 30)]
    sample_seconds: u64,
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// One sample of the node's tables.
struct Sample {
    at: Duration,
    open_epoch: u64,
    quotes: i64,
    events: i64,
    claims: i64,
    quotes_bytes: i64,
    events_bytes: i64,
    floor: i64,
}

async fn sample(db: &mut sqlx::PgConnection, at: Duration, open_epoch: u64) -> anyhow::Result<Sample> {
    let (quotes, events, claims, quotes_bytes, events_bytes, floor): (i64, i64, i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT COUNT(*) FROM quotes), (SELECT COUNT(*) FROM events), (SELECT COUNT(*) FROM claims),
                pg_total_relation_size('quotes'), pg_total_relation_size('events'),
                (SELECT quotes_before_epoch FROM retention)",
    )
    .fetch_one(db)
    .await?;
    Ok(Sample { at, open_epoch, quotes, events, claims, quotes_bytes, events_bytes, floor })
}

pub(crate) async fn run(args: RetentionArgs) -> anyhow::Result<()> {
    let devnet = std::env::current_exe()?.with_file_name("devnet");
    anyhow::ensure!(
        devnet.exists(),
        "{} not found: build it first (cargo build --release -p devnet -p loadgen)",
        devnet.display()
    );
    let cluster = tokio::task::spawn_blocking(faults::cluster::Cluster::start).await??;
    let db = ScratchDatabase::create(&cluster.url("postgres"), "retention").await?;
    let result = measure(&args, &devnet, &db.url).await;
    db.drop().await?;
    result
}

async fn measure(args: &RetentionArgs, devnet: &std::path::Path, url: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let deployment = dir.path().join("devnet.json");
    let (l1_port, node_port) = (free_port()?, free_port()?);
    let mut child = tokio::process::Command::new(devnet)
        .args(["--l1-port", &l1_port.to_string(), "--node-port", &node_port.to_string()])
        .args(["--quote-service-port", &free_port()?.to_string(), "--write-deployment"])
        .arg(&deployment)
        .env("DATABASE_URL", url)
        .env("NODE_RETENTION_EPOCHS", args.retention_epochs.to_string())
        .env("NODE_RETENTION_INTERVAL_MS", "2000")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let started = Instant::now();
    while !deployment.exists() {
        anyhow::ensure!(started.elapsed() < Duration::from_secs(120), "the devnet did not start within 120 s");
        if let Some(status) = child.try_wait()? {
            anyhow::bail!("the devnet exited: {status}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let info: serde_json::Value = serde_json::from_slice(&std::fs::read(&deployment)?)?;
    let spare = info["accounts"]
        .as_array()
        .and_then(|a| a.iter().find(|a| a["name"] == "spare"))
        .and_then(|a| a["privateKey"].as_str())
        .ok_or_else(|| anyhow::anyhow!("no spare account in {}", deployment.display()))?;
    let signer: QuoteSigner = spare.parse()?;
    let rollup_address: Address = info["rollupAddress"].as_str().unwrap_or_default().parse()?;
    let provider = rollup_l1::connect(format!("http://127.0.0.1:{l1_port}").parse()?);
    let rollup = RollupContract::new(rollup_address, provider.clone());
    let config = rollup.config().await?;
    let domain = config.quote_domain();
    let node = NodeClient::new(format!("http://127.0.0.1:{node_port}/").parse()?)?;
    let min_bond = config.min_bond_amount;
    let mut db = sqlx::PgConnection::connect(url).await?;

    eprintln!(
        "devnet up ({}s slots, {}-slot epochs); retention {} epochs; {} extra quotes/s for {} min",
        config.slot_duration, config.epoch_duration, args.retention_epochs, args.quotes_per_second, args.minutes
    );
    let run_for = Duration::from_secs_f64(args.minutes * 60.0);
    let gap = Duration::from_secs_f64(1.0 / args.quotes_per_second.max(1) as f64);
    let (mut sent, mut accepted, mut refused) = (0u64, 0u64, 0u64);
    let mut samples = Vec::new();
    let mut next_sample = Instant::now();
    let mut current: Option<(u64, EpochProofQuote)> = None;
    let begun = Instant::now();
    while begun.elapsed() < run_for {
        let now = provider.get_block(alloy::eips::BlockNumberOrTag::Latest.into()).await?;
        let timestamp = now.map_or(0, |b| b.header.timestamp);
        let slot = config.slot_at(timestamp);
        let open = config.epoch_at_slot(slot);
        if Instant::now() >= next_sample {
            let s = sample(&mut db, begun.elapsed(), open).await?;
            eprintln!(
                "{:>5.0} s  epoch {:>4}  quotes {:>7}  events {:>7}  claims {:>4}  floor {:>4}",
                s.at.as_secs_f64(),
                s.open_epoch,
                s.quotes,
                s.events,
                s.claims,
                s.floor
            );
            samples.push(s);
            next_sample += Duration::from_secs(args.sample_seconds);
        }
        // The epoch whose claim window is open, if any.
        let claimable = open.checked_sub(1).filter(|e| slot <= config.claim_window(*e).1);
        if let Some(epoch) = claimable {
            if current.as_ref().is_none_or(|(e, _)| *e != epoch) {
                let e = rollup.epoch(epoch).await?;
                current = (e.block_count > 0).then(|| {
                    (
                        epoch,
                        EpochProofQuote {
                            prover: signer.address(),
                            epoch_number: U256::from(epoch),
                            epoch_init_block: U256::from(e.init_block),
                            epoch_final_block: U256::from(e.final_block),
                            total_fees: e.total_fees,
                            rollup_address,
                            basis_point_fee: 0,
                            bond_amount: min_bond,
                            valid_until_slot: U256::from(config.claim_window(epoch).1),
                        },
                    )
                });
            }
            if let Some((_, template)) = &current {
                // A new fee each time, high enough never to win: each quote supersedes the last.
                let quote = EpochProofQuote { basis_point_fee: 9_000 + (sent % 1_000) as u32, ..*template };
                sent += 1;
                match node.submit_quote(&signer.sign(quote, &domain)).await {
                    Ok(_) => accepted += 1,
                    Err(_) => refused += 1,
                }
            }
        }
        tokio::time::sleep(gap).await;
    }
    let now = provider.get_block(alloy::eips::BlockNumberOrTag::Latest.into()).await?;
    let open = config.epoch_at_slot(config.slot_at(now.map_or(0, |b| b.header.timestamp)));
    let last = sample(&mut db, begun.elapsed(), open).await?;
    samples.push(last);
    let _ = child.kill().await;

    println!(
        "devnet ({}s slots, {}-slot epochs), node on PostgreSQL (a private cluster, default settings) with NODE_RETENTION_EPOCHS={}, \
         {} extra quotes/s for {:.0} min ({accepted} accepted, {refused} refused of {sent}):\n",
        config.slot_duration, config.epoch_duration, args.retention_epochs, args.quotes_per_second, args.minutes
    );
    println!(
        "| time | open epoch | quotes rows | events rows | claims rows | quotes table | events table | quotes kept from epoch |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for s in &samples {
        println!(
            "| {:.0} s | {} | {} | {} | {} | {:.1} MB | {:.1} MB | {} |",
            s.at.as_secs_f64(),
            s.open_epoch,
            s.quotes,
            s.events,
            s.claims,
            s.quotes_bytes as f64 / 1e6,
            s.events_bytes as f64 / 1e6,
            s.floor
        );
    }
    Ok(())
}
