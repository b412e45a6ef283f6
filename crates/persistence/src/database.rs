//! The relational database: one URL selects SQLite or PostgreSQL. Migrations are applied
//! through any `MigratorTrait`; the binary passes `castellan-migration`'s, which keeps this
//! crate free of a dependency on the schema crate (see docs/architecture.md).

use std::path::Path;
use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement,
    TransactionTrait,
};
use sea_orm_migration::{MigrationStatus, MigratorTrait};

/// Why a database operation failed.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    /// The URL names no supported database.
    #[error("database.url must start with sqlite: or postgres:// (got scheme {0:?})")]
    UnsupportedScheme(String),
    /// The directory for the SQLite file could not be created.
    #[error("cannot create the directory for the SQLite database at {path}: {source}")]
    CreateDirectory {
        /// The directory that could not be created.
        path: String,
        /// The underlying I/O error.
        source: std::io::Error,
    },
    /// The database refused or failed an operation.
    #[error("database error: {0}")]
    Driver(#[from] DbErr),
}

/// The PostgreSQL advisory lock key that serialises migration runs ("castella" in ASCII).
const MIGRATION_LOCK_KEY: i64 = 0x6361_7374_656c_6c61;

/// Which database engine a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite, the embedded default.
    Sqlite,
    /// PostgreSQL, for production.
    Postgres,
}

impl Backend {
    /// The engine a database URL names.
    pub fn from_url(url: &str) -> Result<Self, DatabaseError> {
        let scheme = url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Ok(Self::Sqlite),
            "postgres" | "postgresql" => Ok(Self::Postgres),
            other => Err(DatabaseError::UnsupportedScheme(other.to_owned())),
        }
    }
}

/// Pool and timeout settings for a connection.
#[derive(Debug, Clone)]
pub struct DatabaseOptions {
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// How long to wait for a connection from the pool or the server.
    pub connect_timeout: Duration,
}

impl Default for DatabaseOptions {
    fn default() -> Self {
        Self {
            max_connections: 16,
            min_connections: 1,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A pooled connection to Castellan's database.
#[derive(Debug, Clone)]
pub struct Database {
    connection: DatabaseConnection,
    backend: Backend,
}

impl Database {
    /// Connects to the database the URL names. For SQLite the file and its directory are
    /// created when missing, and the journal is put in WAL mode so readers do not block writers.
    pub async fn connect(url: &str, options: &DatabaseOptions) -> Result<Self, DatabaseError> {
        let backend = Backend::from_url(url)?;
        let url = match backend {
            Backend::Sqlite => prepare_sqlite_url(url)?,
            Backend::Postgres => url.to_owned(),
        };
        let mut connect = ConnectOptions::new(url);
        connect
            .max_connections(options.max_connections)
            .min_connections(options.min_connections)
            .connect_timeout(options.connect_timeout)
            .acquire_timeout(options.connect_timeout)
            .sqlx_logging(false);
        if backend == Backend::Sqlite {
            connect.map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
            });
        }
        let connection = sea_orm::Database::connect(connect).await?;
        Ok(Self {
            connection,
            backend,
        })
    }

    /// The engine behind this connection.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The sea-orm connection, for repositories in this crate.
    pub(crate) fn connection(&self) -> &DatabaseConnection {
        &self.connection
    }

    /// Runs a trivial query to prove the database answers.
    pub async fn ping(&self) -> Result<(), DatabaseError> {
        let backend: DbBackend = self.connection.get_database_backend();
        self.connection
            .execute_raw(Statement::from_string(backend, "SELECT 1"))
            .await?;
        Ok(())
    }

    /// Applies every pending migration of `M` (or the next `steps` of them). On PostgreSQL the
    /// run holds a transaction-scoped advisory lock, so replicas starting together apply each
    /// migration once: the others wait, then find nothing pending.
    pub async fn migrate_up<M: MigratorTrait>(
        &self,
        steps: Option<u32>,
    ) -> Result<(), DatabaseError> {
        match self.backend {
            Backend::Sqlite => M::up(&self.connection, steps).await?,
            Backend::Postgres => {
                let transaction = self.connection.begin().await?;
                transaction
                    .execute_unprepared(&format!(
                        "SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"
                    ))
                    .await?;
                M::up(&transaction, steps).await?;
                transaction.commit().await?;
            }
        }
        Ok(())
    }

    /// Rolls back the last `steps` applied migrations (one when `None`).
    pub async fn migrate_down<M: MigratorTrait>(
        &self,
        steps: Option<u32>,
    ) -> Result<(), DatabaseError> {
        M::down(&self.connection, Some(steps.unwrap_or(1))).await?;
        Ok(())
    }

    /// Every known migration with whether it has been applied, oldest first.
    pub async fn migration_status<M: MigratorTrait>(
        &self,
    ) -> Result<Vec<MigrationState>, DatabaseError> {
        let migrations = M::get_migration_with_status_read_only(&self.connection).await?;
        Ok(migrations
            .iter()
            .map(|migration| MigrationState {
                name: migration.name().to_owned(),
                applied: migration.status() == MigrationStatus::Applied,
            })
            .collect())
    }

    /// True when no migration is waiting to be applied. Reads only; never creates tables.
    pub async fn is_migrated<M: MigratorTrait>(&self) -> Result<bool, DatabaseError> {
        Ok(M::get_pending_migrations_read_only(&self.connection)
            .await?
            .is_empty())
    }

    /// Closes every pooled connection.
    pub async fn close(self) -> Result<(), DatabaseError> {
        self.connection.close().await?;
        Ok(())
    }
}

/// One migration and whether it has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// The migration's name, `mYYYYMMDD_HHMMSS_verb_object`.
    pub name: String,
    /// True once it has run against this database.
    pub applied: bool,
}

/// Creates the SQLite file's directory and asks the driver to create the file itself.
fn prepare_sqlite_url(url: &str) -> Result<String, DatabaseError> {
    let rest = url.trim_start_matches("sqlite:").trim_start_matches("//");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let in_memory = path.is_empty() || path == ":memory:" || query.contains("mode=memory");
    let parent = Path::new(path)
        .parent()
        .filter(|parent| !in_memory && !parent.as_os_str().is_empty());
    if let Some(parent) = parent {
        std::fs::create_dir_all(parent).map_err(|source| DatabaseError::CreateDirectory {
            path: parent.display().to_string(),
            source,
        })?;
    }
    if query.contains("mode=") || in_memory {
        Ok(url.to_owned())
    } else if query.is_empty() {
        Ok(format!("{url}?mode=rwc"))
    } else {
        Ok(format!("{url}&mode=rwc"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_follows_the_url_scheme() {
        assert_eq!(Backend::from_url("sqlite://x.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Backend::from_url("sqlite::memory:").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Backend::from_url("postgres://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert_eq!(
            Backend::from_url("postgresql://u@h/db").unwrap(),
            Backend::Postgres
        );
        assert!(matches!(
            Backend::from_url("mysql://h/db"),
            Err(DatabaseError::UnsupportedScheme(s)) if s == "mysql"
        ));
    }

    #[test]
    fn sqlite_files_are_created_on_first_connect() {
        let dir = std::env::temp_dir().join(format!("castellan-url-{}", std::process::id()));
        let file = dir.join("nested/castellan.db");
        let url = format!("sqlite://{}", file.display());
        assert_eq!(prepare_sqlite_url(&url).unwrap(), format!("{url}?mode=rwc"));
        assert!(dir.join("nested").is_dir());
        assert_eq!(
            prepare_sqlite_url(&format!("{url}?mode=ro")).unwrap(),
            format!("{url}?mode=ro")
        );
        assert_eq!(
            prepare_sqlite_url("sqlite::memory:").unwrap(),
            "sqlite::memory:"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
