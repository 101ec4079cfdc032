//! A private PostgreSQL cluster for the database scenarios: made with `initdb` in a temporary
//! directory, served by `pg_ctl` on a free loopback port, killed with SIGKILL (the postmaster and
//! every backend, as the kernel's OOM killer or a lost container would) and started again, so
//! the shared server is never touched. PostgreSQL refuses to run as root: as root, its commands
//! run as the `postgres` user.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::Context as _;

/// A running (or killed) private cluster.
pub struct Cluster {
    _dir: tempfile::TempDir,
    data: PathBuf,
    bin: PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    as_postgres: bool,
}

fn command(bin: &Path, program: &str, as_postgres: bool) -> Command {
    if as_postgres {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(program));
        c
    } else {
        Command::new(bin.join(program))
    }
}

fn run(mut command: Command, what: &str) -> anyhow::Result<()> {
    let out = command.output().with_context(|| format!("cannot run {what}"))?;
    anyhow::ensure!(
        out.status.success(),
        "{what} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

impl Cluster {
    /// Makes a cluster with `initdb` (binaries from `pg_config --bindir`) and starts it.
    pub fn start() -> anyhow::Result<Self> {
        let out =
            Command::new("pg_config").arg("--bindir").output().context("pg_config (PostgreSQL's server binaries)")?;
        let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        anyhow::ensure!(bin.join("initdb").exists(), "no initdb in {}", bin.display());
        let as_postgres = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
        let dir = tempfile::tempdir()?;
        let data = dir.path().join("data");
        std::fs::create_dir(&data)?;
        if as_postgres {
            // The postgres user must reach and own its directories.
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
            run(
                {
                    let mut c = Command::new("chown");
                    c.arg("postgres:postgres").arg(&data);
                    c
                },
                "chown",
            )?;
        }
        let mut initdb = command(&bin, "initdb", as_postgres);
        initdb.args(["-U", "postgres", "-A", "trust", "--no-sync", "-D"]).arg(&data);
        run(initdb, "initdb")?;
        let port = crate::process::free_port()?;
        let cluster = Self { _dir: dir, data, bin, port, as_postgres };
        cluster.start_server()?;
        Ok(cluster)
    }

    /// The URL of database `name` on it.
    pub fn url(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Starts the server (after [`Cluster::kill`]: crash recovery runs first) and waits until it
    /// accepts connections.
    pub fn start_server(&self) -> anyhow::Result<()> {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.data.display());
        let mut pg_ctl = command(&self.bin, "pg_ctl", self.as_postgres);
        pg_ctl.args(["-w", "-t", "60", "-D"]).arg(&self.data).arg("-l").arg(self.data.join("server.log"));
        pg_ctl.args(["-o", &options, "start"]);
        run(pg_ctl, "pg_ctl start")
    }

    /// The postmaster's process id, while it runs.
    fn postmaster(&self) -> Option<u32> {
        let pid = std::fs::read_to_string(self.data.join("postmaster.pid")).ok()?;
        pid.lines().next()?.trim().parse().ok()
    }

    /// Kills the postmaster and every backend with SIGKILL, and waits until they are gone.
    pub fn kill(&self) -> anyhow::Result<()> {
        let postmaster = self.postmaster().context("the cluster is not running")?;
        let mut doomed = vec![postmaster];
        doomed.extend(children_of(postmaster));
        let mut kill = Command::new("kill");
        kill.arg("-9").args(doomed.iter().map(ToString::to_string));
        run(kill, "kill -9")?;
        let started = Instant::now();
        while doomed.iter().any(|pid| alive(*pid)) {
            anyhow::ensure!(started.elapsed() < Duration::from_secs(10), "PostgreSQL did not die");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut pg_ctl = command(&self.bin, "pg_ctl", self.as_postgres);
        pg_ctl.args(["-m", "immediate", "-D"]).arg(&self.data).arg("stop");
        let _ = pg_ctl.output();
    }
}

/// Whether process `pid` exists: a zombie not yet reaped counts, as it does for PostgreSQL,
/// which will not start while the pid in its lock file answers.
fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// The processes whose parent is `parent`.
fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // `pid (comm) state ppid …`: the parent is the second field after the command.
            std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().is_some_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    .is_some_and(|ppid| ppid == parent)
            })
        })
        .collect()
}
