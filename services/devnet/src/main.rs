//! `devnet`: starts the local system and keeps it running until Ctrl-C or SIGTERM, then prints
//! what happened.
//!
//! The timeline goes to standard output; the services' logs go to standard error at `warn`
//! unless `RUST_LOG` says otherwise, coloured only on a terminal.

use std::io::IsTerminal as _;

use clap::Parser;
use devnet::{Devnet, DevnetConfig};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    let config = DevnetConfig::parse();
    let devnet = Devnet::start(&config).await?;
    println!("\n{}", devnet.summary());
    if let Some(path) = &config.write_deployment {
        std::fs::write(path, serde_json::to_string_pretty(&devnet.to_json())?)?;
        println!("Deployment written to {}", path.display());
    }
    println!("Running. Ctrl-C stops everything.\n");
    service_kit::shutdown_signal().await;
    println!("\nStopping.");
    print!("{}", devnet.stop().await.summary);
    Ok(())
}
