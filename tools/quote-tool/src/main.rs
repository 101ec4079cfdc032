//! `quote-tool`: prints a signed quote for an epoch, ready to POST to a coordination node.
//!
//! ```sh
//! quote-tool --key 0x… --rollup 0x… --epoch 7 --fee 250 --bond 5000 \
//!   | curl -s localhost:8000/epoch-proof-quotes -H 'content-type: application/json' -d @-
//! ```
//!
//! The epoch's block range and fees are read from the rollup on L1 (as the node checks them),
//! the domain's chain id from the L1, and the quote is valid through the epoch's claim window
//! unless `--valid-until-slot` says otherwise. With `--next` it waits for the epoch in progress
//! to end and signs for it at once, so the quote reaches the node inside the claim window.

use alloy::primitives::{Address, U256};
use clap::Parser;
use epoch_quote::{EpochProofQuote, QuoteSigner};
use rollup_l1::RollupContract;

#[derive(Debug, Parser)]
#[command(name = "quote-tool", about = "Sign an epoch proof quote for an epoch as L1 sees it")]
struct Args {
    /// The prover's key (64 hex digits).
    #[arg(long, env = "PROVER_PUBLISHER_PRIVATE_KEY", hide_env_values = true)]
    key: QuoteSigner,
    /// The rollup contract.
    #[arg(long, env = "ROLLUP_ADDRESS")]
    rollup: Address,
    /// L1 JSON-RPC endpoint.
    #[arg(long, env = "L1_RPC_URL", default_value = "http://127.0.0.1:8545")]
    l1_rpc_url: alloy::transports::http::reqwest::Url,
    /// The epoch to quote (default: the latest that has ended).
    #[arg(long)]
    epoch: Option<u64>,
    /// Wait for the epoch in progress to end, then quote it.
    #[arg(long, conflicts_with = "epoch")]
    next: bool,
    /// The fee, in basis points of the epoch's fees.
    #[arg(long, default_value_t = 250)]
    fee: u32,
    /// The bond.
    #[arg(long, default_value = "1000")]
    bond: U256,
    /// Last slot at which the quote may be claimed (default: the end of the claim window).
    #[arg(long)]
    valid_until_slot: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rollup = RollupContract::new(args.rollup, rollup_l1::connect(args.l1_rpc_url.clone()));
    let config = rollup.config().await?;
    let epoch = match args.epoch {
        Some(epoch) => epoch,
        None if args.next => {
            let epoch = rollup.current_epoch().await?;
            eprintln!("waiting for epoch {epoch} to end on L1…");
            // Two epochs' time is plenty for a chain whose clock moves.
            let patience = std::time::Duration::from_secs(2 * config.slot_duration * config.epoch_duration + 10);
            let started = std::time::Instant::now();
            while rollup.current_epoch().await? <= epoch {
                if started.elapsed() > patience {
                    anyhow::bail!(
                        "epoch {epoch} did not end within {} s: is the L1 producing blocks?",
                        patience.as_secs()
                    );
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            epoch
        }
        None => {
            rollup.current_epoch().await?.checked_sub(1).ok_or_else(|| anyhow::anyhow!("no epoch has ended yet"))?
        }
    };
    let on_l1 = rollup.epoch(epoch).await?;
    if on_l1.block_count == 0 {
        anyhow::bail!("epoch {epoch} has no blocks on L1");
    }
    let quote = EpochProofQuote {
        prover: args.key.address(),
        epoch_number: U256::from(epoch),
        epoch_init_block: U256::from(on_l1.init_block),
        epoch_final_block: U256::from(on_l1.final_block),
        total_fees: on_l1.total_fees,
        rollup_address: args.rollup,
        basis_point_fee: args.fee,
        bond_amount: args.bond,
        valid_until_slot: U256::from(args.valid_until_slot.unwrap_or(config.claim_window(epoch).1)),
    };
    let signed = args.key.sign(quote, &config.quote_domain());
    println!("{}", serde_json::to_string_pretty(&signed)?);
    Ok(())
}
