//! Latency and errors of the two stores, for `/metrics`: every session-store call timed by a
//! wrapper around the store, every database statement timed from sqlx's own statement events
//! (read by a `tracing` layer, so no query site is touched), database failures from the
//! store's own events. Labels are closed sets: operation names, statement verbs, error kinds.

use async_trait::async_trait;
use lanyard_session::{SessionError, SessionStore, Swap};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpLabels {
    op: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OpErrorLabels {
    op: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StatementLabels {
    statement: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: &'static str,
}

fn latency() -> Histogram {
    // 50 µs to about 1.6 s.
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

/// The session store's series.
#[derive(Clone, Debug)]
pub struct SessionStoreMetrics {
    latency: Family<OpLabels, Histogram>,
    errors: Family<OpErrorLabels, Counter>,
}

impl SessionStoreMetrics {
    /// Registers the session store's and the database's series in `registry`.
    pub(crate) fn register(registry: &mut Registry) -> Self {
        let latency = Family::<OpLabels, Histogram>::new_with_constructor(latency);
        registry.register(
            "session_store_duration_seconds",
            "Time a session-store (Redis or in-process) call took, by operation",
            latency.clone(),
        );
        let errors = Family::<OpErrorLabels, Counter>::default();
        registry.register(
            "session_store_errors",
            "Session-store calls that failed, by operation and kind (unavailable, corrupt)",
            errors.clone(),
        );
        registry.register(
            "database_statement_duration_seconds",
            "Time a database statement took on its connection, by statement verb",
            DATABASE.statements.clone(),
        );
        registry.register(
            "database_errors",
            "Database calls that failed, by kind (unavailable: unreachable, shutting down or \
             out of connections; error: anything else the database said)",
            DATABASE.errors.clone(),
        );
        Self { latency, errors }
    }

    fn observe<T>(&self, op: &'static str, started: Instant, r: &Result<T, SessionError>) {
        self.latency
            .get_or_create(&OpLabels { op })
            .observe(started.elapsed().as_secs_f64());
        if let Err(e) = r {
            let kind = match e {
                SessionError::Unavailable(_) => "unavailable",
                SessionError::Corrupt(_) => "corrupt",
            };
            self.errors.get_or_create(&OpErrorLabels { op, kind }).inc();
        }
    }
}

/// A session store whose every call is timed and whose failures are counted.
pub struct Measured {
    inner: Arc<dyn SessionStore>,
    metrics: SessionStoreMetrics,
}

impl Measured {
    /// `inner`, measured into `metrics`.
    pub fn new(inner: Arc<dyn SessionStore>, metrics: SessionStoreMetrics) -> Self {
        Self { inner, metrics }
    }
}

/// Times `$call` on the inner store under the operation name `$op`.
macro_rules! measured {
    ($self:ident, $op:literal, $call:expr) => {{
        let started = Instant::now();
        let r = $call.await;
        $self.metrics.observe($op, started, &r);
        r
    }};
}

#[async_trait]
impl SessionStore for Measured {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), SessionError> {
        measured!(self, "put", self.inner.put(key, value, ttl))
    }
    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, SessionError> {
        measured!(self, "put_new", self.inner.put_new(key, value, ttl))
    }
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, SessionError> {
        measured!(self, "get", self.inner.get(key))
    }
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, SessionError> {
        measured!(self, "take", self.inner.take(key))
    }
    async fn delete(&self, key: &str) -> Result<(), SessionError> {
        measured!(self, "delete", self.inner.delete(key))
    }
    async fn swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Duration,
    ) -> Result<Swap, SessionError> {
        measured!(self, "swap", self.inner.swap(key, expected, new, ttl))
    }
    async fn swap_remembering(
        &self,
        key: &str,
        expected: &str,
        new: &str,
        history: &str,
        last: Option<(&str, &str, Duration)>,
        ttl: Duration,
    ) -> Result<Swap, SessionError> {
        measured!(
            self,
            "swap_remembering",
            self.inner
                .swap_remembering(key, expected, new, history, last, ttl)
        )
    }
    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, SessionError> {
        measured!(self, "incr", self.inner.incr(key, ttl))
    }
    async fn decr(&self, key: &str) -> Result<(), SessionError> {
        measured!(self, "decr", self.inner.decr(key))
    }
    async fn add_member(&self, key: &str, member: &str, ttl: Duration) -> Result<(), SessionError> {
        measured!(self, "add_member", self.inner.add_member(key, member, ttl))
    }
    async fn is_member(&self, key: &str, member: &str) -> Result<bool, SessionError> {
        measured!(self, "is_member", self.inner.is_member(key, member))
    }
    async fn members(&self, key: &str) -> Result<Vec<String>, SessionError> {
        measured!(self, "members", self.inner.members(key))
    }
    async fn remove_member(&self, key: &str, member: &str) -> Result<(), SessionError> {
        measured!(self, "remove_member", self.inner.remove_member(key, member))
    }
    async fn ping(&self) -> Result<(), SessionError> {
        measured!(self, "ping", self.inner.ping())
    }
}

/// The database's series, fed by [`DatabaseEvents`] (one set per process, as the `tracing`
/// subscriber is).
struct DatabaseMetrics {
    statements: Family<StatementLabels, Histogram>,
    errors: Family<KindLabels, Counter>,
}

static DATABASE: LazyLock<DatabaseMetrics> = LazyLock::new(|| DatabaseMetrics {
    statements: Family::new_with_constructor(latency),
    errors: Family::default(),
});

/// The statement verbs worth a label; anything else is `other`.
const VERBS: [&str; 9] = [
    "select", "insert", "update", "delete", "begin", "commit", "rollback", "pragma", "with",
];

/// The target of the store's failure events (`kind` = `unavailable` or `error`).
pub const DATABASE_ERRORS: &str = lanyard_store::FAILURE_EVENTS;

/// A `tracing` layer counting sqlx's statement events (`sqlx::query`, with `summary` and
/// `elapsed_secs`) and the store's failure events ([`DATABASE_ERRORS`]). Give it its own
/// filter, [`DatabaseEvents::filter`], so the log level does not decide what is measured.
pub struct DatabaseEvents;

impl DatabaseEvents {
    /// The events this layer reads, whatever the log says.
    pub fn filter() -> tracing_subscriber::filter::Targets {
        tracing_subscriber::filter::Targets::new()
            .with_target("sqlx::query", tracing::Level::TRACE)
            .with_target(DATABASE_ERRORS, tracing::Level::TRACE)
    }
}

#[derive(Default)]
struct Fields {
    summary: Option<String>,
    elapsed: Option<f64>,
    kind: Option<String>,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = Some(value.to_owned()),
            "kind" => self.kind = Some(value.to_owned()),
            _ => {}
        }
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed = Some(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "summary" | "kind") {
            let s = format!("{value:?}");
            self.record_str(field, s.trim_matches('"'));
        }
    }
}

/// The label of a statement from sqlx's summary (its first words).
fn verb(summary: &str) -> &'static str {
    let first = summary.split_whitespace().next().unwrap_or("");
    VERBS
        .iter()
        .find(|v| first.eq_ignore_ascii_case(v))
        .copied()
        .unwrap_or("other")
}

impl<S: Subscriber> Layer<S> for DatabaseEvents {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let target = event.metadata().target();
        if target != "sqlx::query" && target != DATABASE_ERRORS {
            return;
        }
        let mut f = Fields::default();
        event.record(&mut f);
        if target == DATABASE_ERRORS {
            let kind = match f.kind.as_deref() {
                Some("unavailable") => "unavailable",
                _ => "error",
            };
            DATABASE.errors.get_or_create(&KindLabels { kind }).inc();
        } else if let Some(secs) = f.elapsed {
            let statement = verb(f.summary.as_deref().unwrap_or(""));
            DATABASE
                .statements
                .get_or_create(&StatementLabels { statement })
                .observe(secs);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_are_labelled_by_a_closed_set_of_verbs() {
        assert_eq!(verb("SELECT id FROM users …"), "select");
        assert_eq!(verb("insert INTO audit …"), "insert");
        assert_eq!(verb("BEGIN IMMEDIATE"), "begin");
        assert_eq!(verb("VACUUM"), "other");
        assert_eq!(verb("'; DROP TABLE users"), "other");
        assert_eq!(verb(""), "other");
    }
}
