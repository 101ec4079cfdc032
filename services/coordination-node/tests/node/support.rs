//! Test databases: a fresh PostgreSQL database per test (dropped afterwards), or a fresh SQLite
//! file, so tests run in parallel without seeing each other's data.

use coordination_node::store::Store;

/// A database that exists for one test.
pub(crate) struct TestDb {
    pub(crate) store: Store,
    pub(crate) url: String,
    blank: BlankDb,
}

/// An empty database (no schema) that exists for one test: dropped, or its file removed, when
/// this is dropped.
pub(crate) struct BlankDb {
    pub(crate) url: String,
    cleanup: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl TestDb {
    /// Refuses (or allows again) every connection to this PostgreSQL database and closes those
    /// open: the database becomes unreachable for the node.
    pub(crate) async fn set_reachable(&self, reachable: bool) {
        use sqlx::Connection;
        let Some((admin, name)) = &self.blank.cleanup else { panic!("only PostgreSQL test databases can be cut off") };
        let mut conn = sqlx::PgConnection::connect(admin).await.expect("admin connection");
        sqlx::query(sqlx::AssertSqlSafe(format!("ALTER DATABASE {name} ALLOW_CONNECTIONS {reachable}")))
            .execute(&mut conn)
            .await
            .expect("alter database");
        if !reachable {
            sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
                .bind(name)
                .execute(&mut conn)
                .await
                .expect("terminate");
        }
    }

    /// How many sessions on this PostgreSQL database listen for notifications (a node's event
    /// forwarder, once its `LISTEN` has run).
    pub(crate) async fn listeners(&self) -> i64 {
        use sqlx::Connection;
        let Some((admin, name)) = &self.blank.cleanup else { panic!("only PostgreSQL test databases have listeners") };
        let mut conn = sqlx::PgConnection::connect(admin).await.expect("admin connection");
        sqlx::query_scalar("SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN %'")
            .bind(name)
            .fetch_one(&mut conn)
            .await
            .expect("count listeners")
    }

    /// A new PostgreSQL database with the node's schema.
    pub(crate) async fn postgres() -> Self {
        Self::on(BlankDb::postgres().await).await
    }

    /// A new SQLite file with the node's schema.
    pub(crate) async fn sqlite() -> Self {
        Self::on(BlankDb::sqlite().await).await
    }

    async fn on(blank: BlankDb) -> Self {
        let store = Store::connect(&blank.url).await.expect("connects and migrates");
        Self { store, url: blank.url.clone(), blank }
    }
}

fn admin_url() -> String {
    std::env::var("TEST_DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

impl BlankDb {
    /// A new, empty PostgreSQL database.
    pub(crate) async fn postgres() -> Self {
        use sqlx::Connection;
        let admin = admin_url();
        let name = format!("pc_test_{}_{}", std::process::id(), rand_suffix());
        let mut conn = sqlx::PgConnection::connect(&admin).await.expect("PostgreSQL at TEST_DATABASE_URL");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(base, _)| base).to_owned();
        Self { url: format!("{base}/{name}"), cleanup: Some((admin, name)), _dir: None }
    }

    /// A new SQLite file, not yet created.
    pub(crate) async fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("node.sqlite").display());
        Self { url, cleanup: None, _dir: Some(dir) }
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    h.finish()
}

impl Drop for BlankDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.cleanup.take() else { return };
        // Drop the database from a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                use sqlx::Connection;
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")))
                        .execute(&mut conn)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Runs the same async test body against PostgreSQL and SQLite; it gets the store and its URL.
#[macro_export]
macro_rules! both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;

            #[tokio::test]
            async fn postgres() {
                let db = $crate::support::TestDb::postgres().await;
                ($body)(db.store.clone(), db.url.clone()).await;
            }

            #[tokio::test]
            async fn sqlite() {
                let db = $crate::support::TestDb::sqlite().await;
                ($body)(db.store.clone(), db.url.clone()).await;
            }
        }
    };
}

/// Runs `sql` on the database at `url` directly, behind the store's back (to damage a row).
pub(crate) async fn execute(url: &str, sql: &'static str) {
    use sqlx::Connection;
    if url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(url).await.expect("opens");
        sqlx::raw_sql(sql).execute(&mut conn).await.expect("runs");
    } else {
        let mut conn = sqlx::PgConnection::connect(url).await.expect("connects");
        sqlx::raw_sql(sql).execute(&mut conn).await.expect("runs");
    }
}
