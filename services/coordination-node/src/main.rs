//! `coordination-node`: parses its configuration, opens the database, serves until Ctrl-C or
//! SIGTERM.

use clap::Parser;
use coordination_node::{Config, Node};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    service_kit::telemetry::init(config.log_format);
    let node = Node::new(config.clone()).await.map_err(|e| anyhow::anyhow!("cannot start: {e}"))?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen_addr))?;
    coordination_node::run(node, listener, service_kit::shutdown_signal()).await?;
    Ok(())
}
