//! The coordination node as a process of its own, so it can be killed with SIGKILL: this same
//! binary re-run with `run-node` and the node's flags.

use std::path::PathBuf;

use alloy::primitives::Address;

use crate::process::Service;

/// How to start the node.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// The binary that runs the node with `run-node` (this tool).
    pub exe: PathBuf,
    /// Where it listens.
    pub port: u16,
    /// Its L1.
    pub l1_rpc_url: String,
    /// The rollup.
    pub rollup: Address,
    /// Its database.
    pub database_url: String,
    /// Where its log goes.
    pub log: PathBuf,
    /// Its per-client limits: off (the load comes from one address), or the defaults.
    pub client_limits: bool,
}

/// A node process.
pub struct NodeProcess {
    port: u16,
    service: Service,
}

impl NodeProcess {
    /// Starts the node and waits until it answers `/healthz`.
    pub async fn start(spec: NodeSpec) -> anyhow::Result<Self> {
        let mut args: Vec<String> = vec!["run-node".into(), "--listen-addr".into(), format!("127.0.0.1:{}", spec.port)];
        args.extend(["--l1-rpc-url".into(), spec.l1_rpc_url, "--rollup-address".into(), spec.rollup.to_string()]);
        args.extend(["--database-url".into(), spec.database_url]);
        args.extend(
            ["--polling-interval-ms", "50", "--events-poll-ms", "200", "--quotes-per-epoch", "100000"]
                .map(String::from),
        );
        if !spec.client_limits {
            args.extend(["--rate-limit-per-second", "0", "--streams-per-client", "0"].map(String::from));
        }
        let health = format!("http://127.0.0.1:{}/healthz", spec.port);
        // Warnings and errors only (unless `RUST_LOG` says otherwise): a line per stored quote
        // would cost the load scenarios disk writes they did not have when measured.
        let level = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_owned());
        let env = vec![("RUST_LOG".to_owned(), level)];
        Ok(Self { port: spec.port, service: Service::start_with_env(spec.exe, args, env, spec.log, health).await? })
    }

    /// Its base URL.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the process again (after [`NodeProcess::kill`]) and waits until it answers.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.service.restart().await
    }

    /// Its resident memory, in bytes (from `/proc`).
    pub fn resident_bytes(&self) -> Option<u64> {
        self.service.resident_bytes()
    }

    /// Kills the process with SIGKILL and waits for it.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        self.service.kill().await
    }
}
