//! A service as a process of its own, so a scenario can kill it with SIGKILL and start it again:
//! this same binary re-run with a hidden subcommand (`run-node`, `run-prover`, `run-proposer`)
//! and the service's flags.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

/// A service process.
pub struct Service {
    exe: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    /// Answers `200` once the service is up.
    health_url: String,
    /// Environment variables set for it.
    env: Vec<(String, String)>,
    child: Option<tokio::process::Child>,
}

impl Service {
    /// Starts `exe args…` with its output appended to `log`, and waits until `health_url`
    /// answers.
    pub async fn start(exe: PathBuf, args: Vec<String>, log: PathBuf, health_url: String) -> anyhow::Result<Self> {
        Self::start_with_env(exe, args, Vec::new(), log, health_url).await
    }

    /// [`Service::start`] with environment variables `env` set.
    pub async fn start_with_env(
        exe: PathBuf,
        args: Vec<String>,
        env: Vec<(String, String)>,
        log: PathBuf,
        health_url: String,
    ) -> anyhow::Result<Self> {
        let mut service = Self { exe, args, log, health_url, env, child: None };
        service.restart().await?;
        Ok(service)
    }

    /// Where its log goes.
    pub fn log(&self) -> &std::path::Path {
        &self.log
    }

    /// Starts the process again (after [`Service::kill`]) and waits until it answers.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        // Services log to standard output; a panic goes to standard error. Both are kept.
        let log = std::fs::OpenOptions::new().create(true).append(true).open(&self.log)?;
        let child = tokio::process::Command::new(&self.exe)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            // A group of its own, so a kill takes what it started too (the prover node's proving
            // command).
            .process_group(0)
            .kill_on_drop(true)
            .spawn()?;
        self.child = Some(child);
        let http = reqwest::Client::builder().timeout(Duration::from_secs(2)).build()?;
        let started = Instant::now();
        loop {
            if http.get(&self.health_url).send().await.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if let Some(child) = &mut self.child
                && let Some(status) = child.try_wait()?
            {
                anyhow::bail!("{} exited ({status}); see {}", self.args[0], self.log.display());
            }
            anyhow::ensure!(
                started.elapsed() < Duration::from_secs(60),
                "{} did not answer within 60 s; see {}",
                self.args[0],
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Its resident memory, in bytes (from `/proc`).
    pub fn resident_bytes(&self) -> Option<u64> {
        let pid = self.child.as_ref()?.id()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
    }

    /// Kills the process and its group with SIGKILL and waits for it.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            if let Some(pid) = child.id() {
                let _ = std::process::Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
            }
            child.kill().await?;
        }
        Ok(())
    }
}

/// A free loopback port (free when asked; the caller binds it soon after).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
