//! `proposer`: proposes blocks and claims quotes until Ctrl-C or SIGTERM.

use clap::Parser;
use proposer::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    service_kit::telemetry::init(config.log_format);
    proposer::serve(&config).await
}
