//! `quote-service`: parses its configuration, loads the policy, serves until Ctrl-C or SIGTERM.

use clap::Parser;
use quote_service::{AppState, Config, policy::Override};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut config = Config::parse();
    service_kit::telemetry::init(config.log_format);
    config.overrides = Override::from_env_vars(std::env::vars());
    let state = AppState::new(config.clone()).map_err(|e| anyhow::anyhow!("cannot start: {e}"))?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen_addr))?;
    quote_service::run(state, listener, service_kit::shutdown_signal()).await?;
    Ok(())
}
