//! `lanyard-store` owns everything durable: tenants, locations, accounts, roles, users, their
//! credentials and the audit log, behind one repository API that runs unchanged on SQLite (the
//! embedded default, WAL mode) and PostgreSQL (production).
//!
//! Every write that changes a user, role or setting appends its audit record in the same
//! transaction. This crate knows nothing of HTTP and never hashes passwords itself: callers hand
//! it finished [`lanyard_core::PasswordHash`]es. Secrets that must be read back (TOTP seeds) are
//! sealed with a [`Keyring`] before they are written.
#![forbid(unsafe_code)]

mod audit;
mod clients;
mod error;
mod federation;
mod mfa;
mod org;
mod people;
pub mod realm;
mod rows;
mod saml;
mod sealing;
mod sign_ins;
mod users;

pub use audit::{AuditEntry, AuditRecord};
pub use clients::StoredKey;
pub use error::{StoreError, FAILURE_EVENTS};
pub use federation::ConnectionRecord;
pub use mfa::PasskeyRecord;
pub use people::{AuditQuery, PeopleCursor, PeopleQuery, PeopleSort, Reach};
pub use realm::{ApplyReport, RealmPlan};
pub use sealing::{Keyring, SealError};
pub use sign_ins::{NewSignIn, SignInEntry, SignInQuery};
pub use users::{snapshot, NewUser, UserFilter, UserRecord};

use lanyard_core::Clock;
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::AnyPool;
use std::str::FromStr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

/// A pooled PostgreSQL connection idle for longer than this is pinged before it is used.
const PING_WHEN_IDLE: Duration = Duration::from_secs(1);

/// How often a PostgreSQL server is probed while it answers, and while it does not.
const PROBE_UP: Duration = Duration::from_millis(500);
const PROBE_DOWN: Duration = Duration::from_millis(200);
/// A probe that takes longer than this counts as no answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// Probes the database on a connection of its own (never the pool's: a busy pool is not a
/// dead server) and keeps `down` current, logging each change, until the store is dropped.
async fn watch_database(down: Weak<AtomicBool>, connect: AnyConnectOptions) {
    use sqlx::{ConnectOptions, Connection};
    let mut conn: Option<sqlx::AnyConnection> = None;
    loop {
        let answers = tokio::time::timeout(PROBE_TIMEOUT, async {
            // A probe connection that was cut (an administrator's pg_terminate_backend, a
            // balancer's idle timeout) is not an outage: one fresh connection decides.
            for _ in 0..2 {
                if conn.is_none() {
                    conn = connect.connect().await.ok();
                }
                let Some(c) = conn.as_mut() else {
                    return false;
                };
                if c.ping().await.is_ok() {
                    return true;
                }
                conn = None;
            }
            false
        })
        .await
        .unwrap_or(false);
        if !answers {
            conn = None;
        }
        let Some(flag) = down.upgrade() else {
            return;
        };
        let was_down = flag.swap(!answers, Ordering::Relaxed);
        if was_down && answers {
            tracing::warn!("the database answers again");
        } else if !was_down && !answers {
            tracing::error!(
                "the database does not answer: requests that need it fail at once with 503 \
                 until it does"
            );
        }
        drop(flag);
        tokio::time::sleep(if answers { PROBE_UP } else { PROBE_DOWN }).await;
    }
}

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (WAL mode).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

/// The store: a connection pool and the clock that stamps every change.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    /// Set while a PostgreSQL server does not answer (see [`watch_database`]).
    down: Arc<AtomicBool>,
    backend: Backend,
    clock: Arc<dyn Clock>,
    keyring: Arc<Keyring>,
}

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// `sqlite://path/to/file.db` or `postgres://user@host:port/db`.
    pub url: String,
    /// Largest number of pooled connections.
    pub max_connections: u32,
    /// How long to wait for a connection before giving up.
    pub acquire_timeout: Duration,
}

impl StoreOptions {
    /// Options for `url` with sensible pool sizes.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            max_connections: 10,
            acquire_timeout: Duration::from_secs(5),
        }
    }
}

/// Tells the backend from a database URL.
pub fn backend_of(url: &str) -> Option<Backend> {
    if url.starts_with("sqlite:") {
        Some(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Some(Backend::Postgres)
    } else {
        None
    }
}

impl Store {
    /// Opens (creating an SQLite file if needed) the database at `opts.url`. Does not migrate.
    pub async fn open(
        opts: &StoreOptions,
        clock: Arc<dyn Clock>,
        keyring: Keyring,
    ) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let backend =
            backend_of(&opts.url).ok_or_else(|| StoreError::BadUrl(redact_url(&opts.url)))?;
        if backend == Backend::Sqlite {
            prepare_sqlite(&opts.url).await?;
        }
        let connect = AnyConnectOptions::from_str(&opts.url)
            .map_err(|_| StoreError::BadUrl(redact_url(&opts.url)))?;
        // sqlx pings every connection it hands out by default: one more round trip per query
        // (a third of the queries' cost under load, measured). A SQLite file cannot drop the
        // connection; a PostgreSQL connection is pinged only when it has been idle for a
        // while (as HikariCP does), which is when a server restart or a dropped socket
        // could have broken it unseen.
        let mut pool = AnyPoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(opts.acquire_timeout)
            .test_before_acquire(false);
        if backend != Backend::Sqlite {
            pool = pool.before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for > PING_WHEN_IDLE {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            });
        }
        if backend == Backend::Sqlite {
            pool = pool.after_connect(|conn, _| {
                Box::pin(async move {
                    // WAL is persistent in the file; these are per connection.
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 5000")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
        }
        let pool = pool
            .connect_with(connect.clone())
            .await
            .map_err(StoreError::from_connect)?;
        let down = Arc::new(AtomicBool::new(false));
        if backend != Backend::Sqlite {
            tokio::spawn(watch_database(Arc::downgrade(&down), connect));
        }
        Ok(Self {
            pool,
            down,
            backend,
            clock,
            keyring: Arc::new(keyring),
        })
    }

    /// A transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes while another
    /// commits fails with "database is locked" without waiting (the busy timeout cannot help
    /// a would-be deadlock), which concurrent sign-ins hit. PostgreSQL needs nothing of it.
    pub(crate) async fn write_tx(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, sqlx::Error> {
        if self.backend == Backend::Sqlite {
            self.pool()?.begin_with("BEGIN IMMEDIATE").await
        } else {
            self.pool()?.begin().await
        }
    }

    /// The pool, unless the database is known not to answer: then every query fails at once
    /// (503 upstream) instead of waiting out the pool's acquire timeout.
    fn pool(&self) -> Result<&AnyPool, sqlx::Error> {
        if self.down.load(Ordering::Relaxed) {
            return Err(sqlx::Error::Io(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "the database does not answer (failing fast until it does)",
            )));
        }
        Ok(&self.pool)
    }

    /// Runs the embedded migrations that have not run yet.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR
            .run(self.pool()?)
            .await
            .map_err(|e| StoreError::Migration(e.to_string()))
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(self.pool()?).await?;
        Ok(())
    }

    /// Whether the database is known not to answer (PostgreSQL's probe failed).
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }

    /// Pooled connections: open, and idle among them.
    pub fn pool_size(&self) -> (u32, u32) {
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX);
        (self.pool.size(), idle)
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The clock stamping changes.
    pub fn clock(&self) -> &dyn Clock {
        self.clock.as_ref()
    }

    /// The keyring sealing secrets at rest.
    pub fn keyring(&self) -> &Keyring {
        &self.keyring
    }

    /// Closes the pool.
    pub async fn close(&self) {
        self.pool.close().await;
    }

    pub(crate) fn now_ms(&self) -> i64 {
        lanyard_core::clock::to_millis(self.clock.now())
    }

    pub(crate) fn ids(&self) -> lanyard_core::IdGen<'_> {
        lanyard_core::IdGen::new(self.clock.as_ref())
    }

    /// A dump of every durable table, rows sorted, for comparing two states of the database
    /// (tests of idempotence use it). Secrets are included as stored (hashed or sealed).
    pub async fn snapshot(&self) -> Result<Vec<(String, Vec<Vec<String>>)>, StoreError> {
        use sqlx::{Column, Row};
        let mut out = Vec::new();
        for table in [
            "tenants",
            "locations",
            "accounts",
            "roles",
            "role_privileges",
            "users",
            "user_roles",
            "user_groups",
            "user_attributes",
            "employments",
            "passwords",
            "totp_enrolments",
            "passkeys",
            "recovery_codes",
            "clients",
            "signing_keys",
            "audit_log",
            "forgotten_logins",
            "sign_ins",
        ] {
            let rows = sqlx::query(&format!("SELECT * FROM {table}"))
                .fetch_all(self.pool()?)
                .await?;
            let mut dumped: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    (0..r.columns().len())
                        .map(|i| {
                            let name = r.columns()[i].name().to_string();
                            let v = r
                                .try_get::<Option<String>, _>(i)
                                .ok()
                                .flatten()
                                .or_else(|| {
                                    r.try_get::<Option<i64>, _>(i)
                                        .ok()
                                        .flatten()
                                        .map(|n| n.to_string())
                                })
                                .unwrap_or_else(|| "NULL".into());
                            format!("{name}={v}")
                        })
                        .collect()
                })
                .collect();
            dumped.sort();
            out.push((table.to_string(), dumped));
        }
        Ok(out)
    }
}

/// Creates the SQLite file and its folder if missing and switches it to WAL mode.
async fn prepare_sqlite(url: &str) -> Result<(), StoreError> {
    use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
    use sqlx::ConnectOptions;
    let opts = SqliteConnectOptions::from_str(url)
        .map_err(|_| StoreError::BadUrl(url.to_string()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal);
    let path = opts.get_filename().to_path_buf();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        tokio::fs::create_dir_all(dir).await.map_err(|e| {
            StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
        })?;
    }
    let conn = opts.connect().await.map_err(StoreError::from_connect)?;
    sqlx::Connection::close(conn)
        .await
        .map_err(StoreError::from_connect)?;
    Ok(())
}

/// A database URL with any password replaced, fit for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(backend_of("sqlite://./data/x.db"), Some(Backend::Sqlite));
        assert_eq!(backend_of("postgres://u@h/db"), Some(Backend::Postgres));
        assert_eq!(backend_of("mysql://u@h/db"), None);
        assert_eq!(
            redact_url("postgres://u:secret@h:5/db"),
            "postgres://u:***@h:5/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
