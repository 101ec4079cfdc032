//! `prover-node`: validates its settings, funds the escrow, then quotes and proves until Ctrl-C
//! or SIGTERM. A bad setting or an escrow that cannot be funded stops it with a non-zero exit.

use clap::Parser;
use prover_node::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    service_kit::telemetry::init(config.log_format);
    prover_node::serve(&config).await
}
