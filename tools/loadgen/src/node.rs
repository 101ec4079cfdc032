//! Load on the coordination node's intake: many provers' pre-signed quotes for one epoch,
//! submitted at a chosen concurrency to a node on PostgreSQL that follows a local anvil chain.
//! Beside it, in the same run: the raw signature-recovery rate (one core) and the rate of
//! single-row PostgreSQL inserts at the same concurrency, the two costs every quote pays.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use alloy::providers::Provider;
use bytes::Bytes;
use coordination_node::{AppState, Config};
use epoch_quote::QuoteSigner;
use rollup_l1::testkit::TestChain;

use crate::{Bodies, median, ms, round};

/// Options of the node load.
#[derive(Debug, clap::Args)]
pub(crate) struct NodeArgs {
    /// Quotes to submit (each distinct).
    #[arg(long, default_value_t = 50_000)]
    quotes: usize,
    /// Provers signing them.
    #[arg(long, default_value_t = 50)]
    provers: usize,
    /// PostgreSQL server (a database is created for the run and dropped after).
    #[arg(long, env = "TEST_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
    /// Quotes stored before the run, 1,000 per epoch in epochs of their own (how intake's cost
    /// grows with what the node holds).
    #[arg(long, default_value_t = 0)]
    stored: usize,
    /// Run the node on an embedded SQLite file (the quick start's default) instead of PostgreSQL;
    /// the single-row insert baseline then uses such a file too.
    #[arg(long)]
    sqlite: bool,
}

pub(crate) use faults::ScratchDatabase;

/// The first epoch of the quotes `--stored` puts in the database, far from the chain's epoch 0.
const STORED_FROM: u64 = 1_000_000;

pub(crate) async fn run(args: NodeArgs, connections: usize) -> anyhow::Result<()> {
    let chain = TestChain::start().await;
    let provers = chain.fund_provers(args.provers, 100_000).await?;
    chain.epoch_zero_ready_to_claim().await;

    if args.sqlite {
        let dir = tempfile::tempdir()?;
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("node.sqlite").display());
        return measure(&args, connections, &chain, &provers, &url).await;
    }
    let db = ScratchDatabase::create(&args.database_url, "node").await?;
    let result = measure(&args, connections, &chain, &provers, &db.url).await;
    db.drop().await?;
    result
}

async fn measure(
    args: &NodeArgs,
    connections: usize,
    chain: &TestChain,
    provers: &[QuoteSigner],
    url: &str,
) -> anyhow::Result<()> {
    // Pre-sign: prover i % P, fee 1 + i / P, so every quote is distinct.
    let template = chain.quote(&chain.prover, 0).await;
    let domain = chain.config.quote_domain();
    let started = Instant::now();
    let bodies: Vec<Bytes> = (0..args.quotes)
        .map(|i| {
            let signer = &provers[i % provers.len()];
            let mut quote = template;
            quote.prover = signer.address();
            quote.basis_point_fee = 1 + (i / provers.len()) as u32 % 10_000;
            Bytes::from(serde_json::to_vec(&signer.sign(quote, &domain)).unwrap_or_default())
        })
        .collect();
    eprintln!("signed {} quotes in {:.1} s", bodies.len(), started.elapsed().as_secs_f64());

    let recovery = recovery_rate(&bodies);
    let insert =
        if args.sqlite { sqlite_insert_rate(connections).await? } else { insert_rate(url, connections).await? };

    let mut stored = 0;
    if args.stored > 0 {
        let started = Instant::now();
        let store = coordination_node::store::Store::connect(url).await?;
        let per_epoch = args.stored.min(1_000);
        let epochs = args.stored.div_ceil(per_epoch) as u64;
        crate::explorer::store_quotes(&store, STORED_FROM..STORED_FROM + epochs, per_epoch, args.provers).await?;
        stored = per_epoch as u64 * epochs;
        eprintln!("stored {stored} quotes in {epochs} epochs in {:.1} s", started.elapsed().as_secs_f64());
    }

    let (_state, addr, node) = start_node(chain, url, 200).await?;

    // A profiler started on this line sees the node under load, not the set-up.
    eprintln!("submitting {} quotes to the node", bodies.len());
    let source = Arc::new(Bodies { bodies, cycle: false, next: 0.into(), get: false });
    let result = round(addr, "/epoch-proof-quotes", source, connections, 600.0).await;
    node.abort();

    let backend = if args.sqlite { "SQLite" } else { "PostgreSQL" };
    println!(
        "{} quotes from {} provers, {connections} keep-alive connections, node on {backend}, {} quotes stored before:\n",
        args.quotes,
        provers.len(),
        stored
    );
    println!("| measure | rate | p50 | p99 |");
    println!("|---|---:|---:|---:|");
    println!("| raw signature recovery, one core (baseline) | {recovery:.0}/s | | |");
    println!(
        "| {backend} single-row insert, {connections} connections (baseline) | {:.0}/s | {} | {} |",
        insert.0,
        ms(insert.1),
        ms(insert.2)
    );
    println!(
        "| node: validated, durably stored quotes | {:.0}/s | {} | {} |",
        result.rps,
        ms(result.p50.as_secs_f64()),
        ms(result.p99.as_secs_f64())
    );
    println!("\nnot accepted: {}", result.errors);
    if let Some((now, peak)) = crate::resident_mb() {
        println!("resident size of the process (node and load generator): {now:.0} MB, peak {peak:.0} MB");
    }
    Ok(())
}

/// Starts a node on `url` following `chain` and waits until its view of L1 is current.
pub(crate) async fn start_node(
    chain: &TestChain,
    url: &str,
    events_poll_ms: u64,
) -> anyhow::Result<(AppState, std::net::SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    start_node_with(chain, url, events_poll_ms, quote_gossip::P2pArgs::disabled()).await
}

/// [`start_node`] with P2P settings.
pub(crate) async fn start_node_with(
    chain: &TestChain,
    url: &str,
    events_poll_ms: u64,
    p2p: quote_gossip::P2pArgs,
) -> anyhow::Result<(AppState, std::net::SocketAddr, tokio::task::JoinHandle<std::io::Result<()>>)> {
    let config = Config {
        polling_interval_ms: 200,
        quotes_per_epoch: 1_000_000,
        events_poll_ms,
        p2p,
        ..Config::local(chain.anvil.endpoint(), chain.deployment.rollup, url.to_owned())
    };
    let coordination_node::Spawned { state, addr, task: node } =
        coordination_node::spawn(config, std::future::pending()).await?;
    let head = chain.anvil.provider().get_block_number().await?;
    for _ in 0..1000 {
        if state.view.get().cursor.is_some_and(|c| c.l1_block >= head) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    Ok((state, addr, node))
}

/// Recoveries per second on one core over the pre-signed quotes.
fn recovery_rate(bodies: &[Bytes]) -> f64 {
    let parsed: Vec<(secp256k1::ecdsa::RecoverableSignature, secp256k1::Message)> = bodies
        .iter()
        .take(1000)
        .filter_map(|b| epoch_quote::SignedEpochProofQuote::from_json(b).ok())
        .filter_map(|q| {
            let bytes = q.signature.as_bytes();
            let id = bytes[64].checked_sub(27)?;
            let sig = secp256k1::ecdsa::RecoverableSignature::from_compact(
                &bytes[..64],
                secp256k1::ecdsa::RecoveryId::from_u8_masked(id),
            )
            .ok()?;
            Some((sig, secp256k1::Message::from_digest(q.quote.struct_hash().0)))
        })
        .collect();
    let mut rates = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut n = 0usize;
        while started.elapsed() < Duration::from_millis(300) {
            for (sig, msg) in &parsed {
                std::hint::black_box(sig.recover_ecdsa(*msg).ok());
                n += 1;
            }
        }
        rates.push(n as f64 / started.elapsed().as_secs_f64());
    }
    median(rates)
}

/// Single-row inserts per second at `connections` concurrency, with p50 and p99 in seconds.
async fn insert_rate(url: &str, connections: usize) -> anyhow::Result<(f64, f64, f64)> {
    let pool = sqlx::postgres::PgPoolOptions::new().max_connections(16).connect(url).await?;
    sqlx::query("CREATE TABLE insert_baseline (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)")
        .execute(&pool)
        .await?;
    insert_load(pool, "INSERT INTO insert_baseline (payload) VALUES ($1)", connections).await
}

/// [`insert_rate`] on a fresh SQLite file, through one connection as the node's store uses it.
async fn sqlite_insert_rate(connections: usize) -> anyhow::Result<(f64, f64, f64)> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("baseline.sqlite").display());
    let pool = sqlx::sqlite::SqlitePoolOptions::new().max_connections(1).connect(&url).await?;
    sqlx::query("CREATE TABLE insert_baseline (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)").execute(&pool).await?;
    insert_load(pool, "INSERT INTO insert_baseline (payload) VALUES (?)", connections).await
}

/// Single-row inserts of `sql` from `connections` tasks for three seconds: rate, p50, p99.
async fn insert_load<DB: sqlx::Database>(
    pool: sqlx::Pool<DB>,
    sql: &'static str,
    connections: usize,
) -> anyhow::Result<(f64, f64, f64)>
where
    for<'c> &'c sqlx::Pool<DB>: sqlx::Executor<'c, Database = DB>,
    for<'q> <DB as sqlx::Database>::Arguments: sqlx::IntoArguments<DB>,
    for<'q> &'q str: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let deadline = Instant::now() + Duration::from_secs(3);
    let started = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let t = Instant::now();
                    if sqlx::query(sql)
                        .bind("0x0000000000000000000000000000000000000000000000000000000000000000")
                        .execute(&pool)
                        .await
                        .is_ok()
                    {
                        latencies.push(t.elapsed().as_secs_f64());
                    }
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap_or_default());
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    let pick =
        |q: f64| all.get(((all.len() as f64 * q) as usize).min(all.len().saturating_sub(1))).copied().unwrap_or(0.0);
    pool.close().await;
    Ok((rate, pick(0.5), pick(0.99)))
}
