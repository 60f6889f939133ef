//! What can go wrong in the store, from the caller's point of view.

use lanyard_core::user::FieldError;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one we can use.
    #[error("unsupported database URL {0:?} (use sqlite://FILE or postgres://…)")]
    BadUrl(String),
    /// The database cannot be reached.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A migration failed.
    #[error("database migration failed: {0}")]
    Migration(String),
    /// No such thing.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique value is already taken (the field is named).
    #[error("{field} {value:?} is already in use")]
    Taken {
        /// Which field.
        field: &'static str,
        /// The value.
        value: String,
    },
    /// Input that breaks the model's rules, each problem by field.
    #[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    /// The record changed since the caller read it (an `If-Match` that no longer matches, or a
    /// concurrent writer): nothing was written.
    #[error("the record was changed by someone else since it was read")]
    Stale,
    /// A rule refused the change (status transition, delegation).
    #[error("{0}")]
    Refused(String),
    /// A sealed secret could not be opened or sealed.
    #[error(transparent)]
    Seal(#[from] crate::sealing::SealError),
    /// Anything else the database said; the detail is for the log, not for people.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// Stored data that does not decode (a bug or a hand-edited database).
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub(crate) fn from_connect(e: sqlx::Error) -> Self {
        counted(StoreError::Unavailable(e.to_string()))
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        StoreError::Invalid(vec![FieldError {
            field,
            message: message.into(),
        }])
    }

    /// Whether the cause is the database being unreachable (worth a 503 and a retry).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// The target of the events that count database failures (`kind`: `unavailable` or
/// `error`), one per failed call; the server's metrics read them.
pub const FAILURE_EVENTS: &str = "lanyard::database";

/// `e`, after an event for the metrics if it is a failure (not a missing row or a taken value).
fn counted(e: StoreError) -> StoreError {
    match &e {
        StoreError::Unavailable(_) => {
            tracing::trace!(target: FAILURE_EVENTS, kind = "unavailable", "database unavailable")
        }
        StoreError::Database(_) => {
            tracing::trace!(target: FAILURE_EVENTS, kind = "error", "database error")
        }
        _ => {}
    }
    e
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        counted(classify(e))
    }
}

fn classify(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::PoolClosed => {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::WorkerCrashed => StoreError::Unavailable(e.to_string()),
        // PostgreSQL shutting down or restarting (57P01-57P03: admin or crash shutdown,
        // cannot connect now), a broken connection (class 08) or no connection slot left.
        sqlx::Error::Database(db)
            if db
                .code()
                .is_some_and(|c| c.starts_with("57P") || c.starts_with("08") || c == "53300") =>
        {
            StoreError::Unavailable(e.to_string())
        }
        sqlx::Error::RowNotFound => StoreError::NotFound("record"),
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let text = format!("{} {}", db.message(), db.constraint().unwrap_or_default());
            let field = if text.contains("email") {
                "email"
            } else if text.contains("username") {
                "username"
            } else if text.contains("slug") {
                "slug"
            } else {
                "name"
            };
            StoreError::Taken {
                field,
                value: String::new(),
            }
        }
        _ => StoreError::Database(e),
    }
}
