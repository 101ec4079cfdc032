//! `prover-node`: validates its settings, funds the escrow, then quotes and proves until Ctrl-C
//! or SIGTERM. A bad setting or an escrow that cannot be funded stops it with a non-zero exit.

use std::time::Duration;

use clap::Parser;
use prover_node::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    service_kit::telemetry::init(config.log_format);
    let node = prover_node::start(&config).await?;
    prover_node::run(node, Duration::from_millis(config.polling_interval_ms.max(10)), service_kit::shutdown_signal())
        .await;
    Ok(())
}
