//! `proposer`: proposes blocks and claims quotes until Ctrl-C or SIGTERM.

use std::time::Duration;

use clap::Parser;
use proposer::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    service_kit::telemetry::init(config.log_format);
    let proposer = proposer::start(&config).await?;
    proposer::run(proposer, Duration::from_millis(config.polling_interval_ms.max(10)), service_kit::shutdown_signal())
        .await;
    Ok(())
}
