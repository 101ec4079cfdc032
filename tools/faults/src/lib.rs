//! The fault campaign: each scenario starts what it needs on loopback (anvil, the services, and
//! for the database scenarios a private PostgreSQL cluster), drives real load, breaks one part on
//! purpose, and reports in numbers what was lost and how long recovery took. `RELIABILITY.md`
//! lists each scenario with its command and figures; `tests/short.rs` runs the short forms.

pub mod cluster;
pub mod live;
pub mod load;
pub mod node;
pub mod process;
pub mod proxy;
pub mod scenarios;
pub mod settlement;
pub mod stream;

pub use scenarios::{
    DatabaseCrash, Failover, GossipFlood, Hostile, NodeCrash, Reorgs, Setup, Size, database_crash, gossip_flood,
    hostile_clients, node_crash, reorgs, replica_failover,
};
pub use settlement::{L1Outage, ProverCrash, l1_outage, prover_crash};

/// The status and JSON answer of `url` (`0` and `null` when there is none: the server is down, or
/// the answer is not JSON).
pub(crate) async fn fetch_json(http: &reqwest::Client, url: &str) -> (u16, serde_json::Value) {
    match http.get(url).send().await {
        Ok(r) => (r.status().as_u16(), r.json().await.unwrap_or_default()),
        Err(_) => (0, serde_json::Value::Null),
    }
}

/// A PostgreSQL database that exists for one run: created on a server, dropped after.
pub struct ScratchDatabase {
    server: String,
    name: String,
    /// Its URL.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `pc_scratch_<process>_<tag>` on the server at `server` (a URL of one of its
    /// databases).
    pub async fn create(server: &str, tag: &str) -> anyhow::Result<Self> {
        use sqlx::Connection as _;
        let name = format!("pc_scratch_{}_{tag}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(server).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).execute(&mut admin).await?;
        let base = server.rsplit_once('/').map_or(server, |(b, _)| b);
        Ok(Self { server: server.to_owned(), url: format!("{base}/{name}"), name })
    }

    /// Drops it (whoever is still connected).
    pub async fn drop(self) -> anyhow::Result<()> {
        use sqlx::Connection as _;
        let mut admin = sqlx::PgConnection::connect(&self.server).await?;
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut admin).await?;
        Ok(())
    }
}
