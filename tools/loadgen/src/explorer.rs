//! The explorer's page loads with many quotes stored: the requests the overview, an epoch page
//! and the market page make, in the order a browser makes them (the HTML; then its script and
//! stylesheet together; then the page's API calls together), timed from the first request to the
//! last answer, against a "page" of as many `GET /healthz` in the same order on the same node.
//!
//! The database is filled through the repository: blocks, quotes, claims and proofs of many
//! epochs, as the watcher and intake would have written them. The node is not given a reachable
//! L1 (its watcher would take the synthetic chain for a reorg), so what is timed is the read side
//! alone.

use std::time::{Duration, Instant};

use alloy::primitives::{Address, B256, U256, keccak256};
use bytes::Bytes;
use coordination_node::store::{ChainCursor, ChainEvent, ChainUpdate, ClaimRecord, L2BlockRecord, Store};
use epoch_quote::{EpochProofQuote, QuoteSigner, SignedEpochProofQuote};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;

use crate::{median, ms, node::ScratchDatabase};

/// Options of the explorer's load.
#[derive(Debug, clap::Args)]
pub(crate) struct ExplorerArgs {
    /// Quotes stored, spread evenly over the epochs.
    #[arg(long, default_value_t = 1_000_000)]
    quotes: usize,
    /// Epochs with blocks; all but the last two claimed and proven.
    #[arg(long, default_value_t = 1_000)]
    epochs: u64,
    /// Provers the quotes come from.
    #[arg(long, default_value_t = 50)]
    provers: usize,
    /// Page loads timed per page.
    #[arg(long, default_value_t = 200)]
    loads: usize,
    /// PostgreSQL server (a database is created for the run and dropped after).
    #[arg(long, env = "TEST_DATABASE_URL", default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    database_url: String,
}

pub(crate) async fn run(args: ExplorerArgs) -> anyhow::Result<()> {
    let db = ScratchDatabase::create(&args.database_url, "explorer").await?;
    let result = measure(&args, &db.url).await;
    db.drop().await?;
    result
}

fn cursor(l1_block: u64) -> ChainCursor {
    ChainCursor {
        l1_block,
        l1_hash: keccak256(l1_block.to_be_bytes()),
        l1_timestamp: 1_700_000_000 + l1_block * 12,
        proven_block: 0,
        pending_block: l1_block,
    }
}

/// `per_epoch` quotes from `provers` provers in each of `epochs`, stored through the repository
/// (a quote's fee spread over the range, each prover's later quote superseding its earlier one);
/// for each epoch, the last quote stored, still pending: `(id, prover, fee)`.
pub(crate) async fn store_quotes(
    store: &Store,
    epochs: std::ops::Range<u64>,
    per_epoch: usize,
    provers: usize,
) -> anyhow::Result<Vec<(B256, Address, u32)>> {
    let rollup = Address::repeat_byte(0x42);
    let signers: Vec<QuoteSigner> = (0..provers.max(1))
        .map(|i| QuoteSigner::from_bytes(keccak256((i as u64 + 1).to_be_bytes()).0))
        .collect::<Result<_, _>>()?;
    // One real signature, reused: the store does not check signatures, and signing a million
    // quotes would take longer than the rest of the run.
    let template = EpochProofQuote {
        prover: signers[0].address(),
        epoch_number: U256::ZERO,
        epoch_init_block: U256::ZERO,
        epoch_final_block: U256::ZERO,
        total_fees: U256::ZERO,
        rollup_address: rollup,
        basis_point_fee: 0,
        bond_amount: U256::ZERO,
        valid_until_slot: U256::ZERO,
    };
    let signature = signers[0].sign(template, &epoch_quote::QuoteDomain::new(31337, rollup)).signature;
    let mut claimed = Vec::new();
    for epoch in epochs {
        let batch: Vec<(B256, SignedEpochProofQuote)> = (0..per_epoch)
            .map(|i| {
                let signer = &signers[i % signers.len()];
                let quote = EpochProofQuote {
                    prover: signer.address(),
                    epoch_number: U256::from(epoch),
                    epoch_init_block: U256::from(epoch + 1),
                    epoch_final_block: U256::from(epoch + 1),
                    total_fees: U256::from(1_000_000_000u64 + epoch),
                    rollup_address: rollup,
                    basis_point_fee: 1 + ((i * 7919 + epoch as usize) % 9_999) as u32,
                    bond_amount: U256::from(5_000),
                    valid_until_slot: U256::from(epoch * 4 + 8),
                };
                (
                    keccak256([epoch.to_be_bytes(), (i as u64).to_be_bytes()].concat()),
                    SignedEpochProofQuote { quote, signature },
                )
            })
            .collect();
        if let Some((id, last)) = batch.last() {
            claimed.push((*id, last.quote.prover, last.quote.basis_point_fee));
        }
        for chunk in batch.chunks(1_000) {
            store.insert_quotes(chunk, 1_000_000).await?;
        }
    }
    Ok(claimed)
}

/// Blocks, quotes, claims and proofs of `args.epochs` epochs, through the repository.
async fn seed(args: &ExplorerArgs, store: &Store) -> anyhow::Result<()> {
    let started = Instant::now();
    let blocks: Vec<ChainEvent> = (0..args.epochs)
        .map(|epoch| {
            ChainEvent::BlockProposed(L2BlockRecord {
                number: epoch + 1,
                epoch,
                slot: epoch * 4,
                proposer: Address::repeat_byte(7),
                tx_count: 10,
                fees: U256::from(1_000_000_000u64 + epoch),
                archive: keccak256(epoch.to_be_bytes()),
                l1_block: 1,
            })
        })
        .collect();
    store.apply(cursor(1), &ChainUpdate { events: blocks, ..ChainUpdate::default() }).await?;

    let per_epoch = (args.quotes as u64 / args.epochs.max(1)).max(1) as usize;
    let claimed = store_quotes(store, 0..args.epochs, per_epoch, args.provers).await?;
    eprintln!(
        "stored {} quotes in {} epochs in {:.1} s",
        per_epoch as u64 * args.epochs,
        args.epochs,
        started.elapsed().as_secs_f64()
    );

    // Every epoch but the last two claimed, then proven.
    let mut l1 = 1;
    for chunk in claimed.iter().enumerate().take(args.epochs.saturating_sub(2) as usize).collect::<Vec<_>>().chunks(50)
    {
        l1 += 1;
        let mut events = Vec::new();
        for (epoch, (id, prover, fee)) in chunk {
            let epoch = *epoch as u64;
            events.push(ChainEvent::Claimed(ClaimRecord {
                epoch,
                quote_id: *id,
                bond_provider: *prover,
                proposer: Address::repeat_byte(3),
                bond_amount: U256::from(5_000),
                basis_point_fee: *fee,
                claimed_at_slot: epoch * 4 + 4,
                l1_block: l1,
                l1_tx: keccak256(epoch.to_be_bytes()),
            }));
            events.push(ChainEvent::Proven { epoch, l1_block: l1 });
        }
        store.apply(cursor(l1), &ChainUpdate { events, ..ChainUpdate::default() }).await?;
    }
    eprintln!("seeded in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(addr: std::net::SocketAddr) -> anyhow::Result<Sender> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

async fn get(mut sender: Sender, path: &'static str) -> anyhow::Result<Sender> {
    sender.ready().await?;
    let request = http::Request::get(path).header(http::header::HOST, "127.0.0.1").body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    // Without an L1 the node is rightly not ready: `/readyz` answers 503, which is an answer.
    let answered = response.status().is_success() || path == "/readyz";
    anyhow::ensure!(answered, "{path}: {}", response.status());
    response.into_body().collect().await?;
    Ok(sender)
}

/// One page load: each phase's requests at once, one connection each, phase after phase.
async fn load(pool: &mut Vec<Sender>, phases: &[Vec<&'static str>]) -> anyhow::Result<Duration> {
    let started = Instant::now();
    for phase in phases {
        let mut tasks = tokio::task::JoinSet::new();
        for path in phase {
            let sender = pool.pop().ok_or_else(|| anyhow::anyhow!("more requests at once than connections"))?;
            tasks.spawn(get(sender, path));
        }
        while let Some(done) = tasks.join_next().await {
            pool.push(done??);
        }
    }
    Ok(started.elapsed())
}

async fn measure(args: &ExplorerArgs, url: &str) -> anyhow::Result<()> {
    let store = Store::connect(url).await?;
    seed(args, &store).await?;
    // No reachable L1: the watcher keeps retrying, the read side serves what is stored.
    let config =
        coordination_node::Config::local("http://127.0.0.1:9".parse()?, Address::repeat_byte(0x42), url.to_owned());
    let node = coordination_node::spawn(config, std::future::pending()).await?;
    for _ in 0..500 {
        if node.state.view.get().cursor.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut pool = Vec::new();
    for _ in 0..6 {
        pool.push(connect(node.addr).await?);
    }
    let epoch_path: &'static str = Box::leak(format!("/epochs/{}", args.epochs.saturating_sub(5)).into_boxed_str());
    let quotes_path: &'static str = Box::leak(
        format!("/epoch-proof-quotes?epoch={}&status=all&limit=500", args.epochs.saturating_sub(5)).into_boxed_str(),
    );
    let assets = vec!["/explorer/app.js", "/explorer/style.css"];
    let pages: Vec<(&str, Vec<Vec<&'static str>>)> = vec![
        ("overview", vec![vec!["/explorer/"], assets.clone(), vec!["/chain", "/market/epochs?limit=32", "/readyz"]]),
        ("epoch page", vec![vec!["/explorer/"], assets.clone(), vec![epoch_path, quotes_path, "/readyz"]]),
        (
            "market page",
            vec![vec!["/explorer/"], assets.clone(), vec!["/market/epochs?limit=64", "/provers?limit=50", "/readyz"]],
        ),
    ];
    let baseline = vec![vec!["/healthz"], vec!["/healthz", "/healthz"], vec!["/healthz", "/healthz", "/healthz"]];
    let mut results = Vec::new();
    for (name, phases) in std::iter::once(("`/healthz` × 6, same order (baseline)", baseline)).chain(pages) {
        for _ in 0..10 {
            load(&mut pool, &phases).await?;
        }
        let mut times = Vec::with_capacity(args.loads);
        for _ in 0..args.loads {
            times.push(load(&mut pool, &phases).await?.as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let p99 = times[((times.len() as f64 * 0.99) as usize).min(times.len() - 1)];
        results.push((name, median(times.clone()), p99, times.last().copied().unwrap_or_default()));
    }
    node.task.abort();
    let stored = store.quote_count().await?;
    println!(
        "{stored} quotes stored over {} epochs from {} provers (PostgreSQL); {} loads per page, one after another, \
         6 keep-alive connections; a load is the HTML, then its script and stylesheet, then the page's API calls, \
         each phase's requests at once:\n",
        args.epochs, args.provers, args.loads
    );
    println!("| page | p50 | p99 | max |");
    println!("|---|---:|---:|---:|");
    for (name, p50, p99, max) in results {
        println!("| {name} | {} | {} | {} |", ms(p50), ms(p99), ms(max));
    }
    Ok(())
}
