//! `devnet`: starts the local system and keeps it running until Ctrl-C.

use clap::Parser;
use devnet::{Devnet, DevnetConfig};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .init();
    let config = DevnetConfig::parse();
    let devnet = Devnet::start(&config).await?;
    println!("\n{}", devnet.summary());
    if let Some(path) = &config.write_deployment {
        std::fs::write(path, serde_json::to_string_pretty(&devnet.to_json())?)?;
        println!("Deployment written to {}", path.display());
    }
    println!("Running. Ctrl-C stops everything.");
    tokio::signal::ctrl_c().await?;
    println!("Stopping.");
    devnet.stop().await;
    Ok(())
}
