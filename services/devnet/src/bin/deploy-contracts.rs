//! `deploy-contracts`: deploys the contract set to an existing L1 and funds the given accounts
//! (for docker-compose and other setups where the L1 is not started by `devnet`). Prints the
//! addresses as JSON. On a fresh anvil with its first development key the addresses are always
//! the same (the rollup is 0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0).

use alloy::{
    primitives::{Address, U256},
    signers::local::PrivateKeySigner,
};
use clap::Parser;
use rollup_l1::{DeployParams, RollupContract, TokenContract, deploy};

#[derive(Debug, Parser)]
#[command(name = "deploy-contracts", about = "Deploy the prover-coordination contracts to an L1")]
struct Args {
    /// L1 JSON-RPC endpoint.
    #[arg(long, env = "L1_RPC_URL", default_value = "http://127.0.0.1:8545")]
    l1_rpc_url: alloy::transports::http::reqwest::Url,
    /// The deployer's key (it becomes the token's minter).
    #[arg(long, env = "DEPLOYER_PRIVATE_KEY", hide_env_values = true)]
    deployer_key: PrivateKeySigner,
    /// Seconds per slot.
    #[arg(long, env = "DEVNET_SLOT_DURATION", default_value_t = 4)]
    slot_duration: u64,
    /// Slots per epoch.
    #[arg(long, env = "DEVNET_EPOCH_DURATION", default_value_t = 4)]
    epoch_duration: u64,
    /// Claim window in slots.
    #[arg(long, env = "DEVNET_CLAIM_WINDOW_SLOTS", default_value_t = 2)]
    claim_window_slots: u64,
    /// Smallest bond.
    #[arg(long, env = "DEVNET_MIN_BOND_AMOUNT", default_value_t = 1_000)]
    min_bond_amount: u64,
    /// Accounts to mint 1,000,000 tokens to (comma-separated).
    #[arg(long, env = "FUND_ACCOUNTS", value_delimiter = ',')]
    fund: Vec<Address>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let provider = rollup_l1::connect_wallet(args.l1_rpc_url.clone(), args.deployer_key.clone());
    let params = DeployParams {
        slot_duration: args.slot_duration,
        epoch_duration: args.epoch_duration,
        claim_window_slots: args.claim_window_slots,
        min_bond_amount: U256::from(args.min_bond_amount),
        ..DeployParams::default()
    };
    let deployment = deploy(&provider, &params).await?;
    let token = TokenContract::new(deployment.token, provider.clone());
    for account in &args.fund {
        token.mint(*account, U256::from(1_000_000u64) * U256::from(10u64).pow(U256::from(18))).await?;
    }
    let config = RollupContract::new(deployment.rollup, provider).config().await?;
    println!(
        "{}",
        serde_json::json!({
            "chainId": config.chain_id,
            "rollupAddress": deployment.rollup.to_string(),
            "escrowAddress": deployment.escrow.to_string(),
            "tokenAddress": deployment.token.to_string(),
            "verifierAddress": deployment.verifier.to_string(),
        })
    );
    Ok(())
}
