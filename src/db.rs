//! Database connection (SQLite or PostgreSQL), migrations, and a small SQL builder that writes
//! the right placeholder for each engine.

use std::time::Duration;

use anyhow::Context as _;
use migration::{Migrator, MigratorTrait as _};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseBackend, DatabaseConnection, Statement,
    Value,
};

/// How long a request waits for a pooled connection before answering 503.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);
/// How long start-up keeps trying to reach the database.
const STARTUP_DEADLINE: Duration = Duration::from_secs(10);

/// Opens a pool on `url` (`sqlite://…` or `postgres://…`), retrying briefly at start-up.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let scheme = url.split(':').next().unwrap_or_default();
    if !matches!(scheme, "sqlite" | "postgres" | "postgresql") {
        anyhow::bail!("DATABASE_URL must start with sqlite:// or postgres:// (got \"{scheme}:…\")");
    }
    let sqlite = scheme == "sqlite";
    let in_memory = url.contains(":memory:") || url.contains("mode=memory");
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .max_connections(if sqlite {
            if in_memory { 1 } else { 8 }
        } else {
            16
        })
        .min_connections(if in_memory { 1 } else { 0 })
        .connect_timeout(Duration::from_secs(5))
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .idle_timeout(Duration::from_secs(300))
        .sqlx_logging(false)
        .map_sqlx_postgres_opts(|opts| opts.statement_cache_capacity(256))
        .map_sqlx_sqlite_opts(move |opts| {
            let opts = opts
                .statement_cache_capacity(256)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
                .synchronous(SqliteSynchronous::Normal)
                .pragma("cache_size", "-65536")
                .pragma("temp_store", "memory");
            if in_memory {
                opts
            } else {
                opts.journal_mode(SqliteJournalMode::Wal)
            }
        });
    let started = tokio::time::Instant::now();
    loop {
        match Database::connect(options.clone()).await {
            Ok(db) => match db.ping().await {
                Ok(()) => return Ok(db),
                Err(error) if started.elapsed() < STARTUP_DEADLINE => {
                    tracing::warn!(%error, "database not answering yet; retrying");
                }
                Err(error) => {
                    return Err(error).context("cannot reach the database at DATABASE_URL");
                }
            },
            Err(error) if started.elapsed() < STARTUP_DEADLINE && is_transient(&error) => {
                tracing::warn!(%error, "database not reachable yet; retrying");
            }
            Err(error) => return Err(error).context("cannot open the database at DATABASE_URL"),
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

fn is_transient(error: &sea_orm::DbErr) -> bool {
    crate::error::is_connection_error(error) || error.to_string().contains("Connection refused")
}

/// Applies every pending migration.
pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    Migrator::up(db, None)
        .await
        .context("database migration failed")
}

/// A statement under construction: text with placeholders and their values in order.
#[derive(Debug)]
pub struct Sql {
    backend: DatabaseBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: DatabaseBackend) -> Self {
        Sql {
            backend,
            text: String::with_capacity(256),
            values: Vec::new(),
        }
    }

    /// Appends SQL text as is.
    pub fn push(&mut self, text: &str) -> &mut Self {
        self.text.push_str(text);
        self
    }

    /// Appends a placeholder bound to `value`.
    pub fn bind(&mut self, value: impl Into<Value>) -> &mut Self {
        self.values.push(value.into());
        match self.backend {
            DatabaseBackend::Postgres => {
                self.text.push('$');
                self.text.push_str(&self.values.len().to_string());
            }
            _ => self.text.push('?'),
        }
        self
    }

    pub fn backend(&self) -> DatabaseBackend {
        self.backend
    }

    pub fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }
}

/// Runs `SELECT 1`, for readiness checks.
pub async fn ping(db: &impl ConnectionTrait) -> Result<(), sea_orm::DbErr> {
    db.execute_unprepared("SELECT 1").await.map(|_| ())
}
