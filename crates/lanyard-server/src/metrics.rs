//! Prometheus metrics (OpenMetrics text at `/metrics`): requests by route and status with
//! latency, grants and sign-ins by outcome, the hashing pool, the stores and the keys. Labels
//! are closed sets (route templates, never raw paths, client ids or people), so a caller
//! cannot grow the series without bound.

use crate::app::App;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::Arc;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: &'static str,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: &'static str,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct GrantLabels {
    grant_type: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SignInLabels {
    method: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AmrLabels {
    amr: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StoreLabels {
    store: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    state: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    alg: String,
}

/// Every metric Lanyard keeps, registered once.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
    grants: Family<GrantLabels, Counter>,
    sign_ins: Family<SignInLabels, Counter>,
    completed: Family<AmrLabels, Counter>,
    hashing_busy: Gauge,
    hashing_capacity: Gauge,
    hashing_refused: Counter,
    store_up: Family<StoreLabels, Gauge>,
    pool: Family<PoolLabels, Gauge>,
    key_age: Family<KeyLabels, Gauge>,
    session_store: crate::store_metrics::SessionStoreMetrics,
}

/// The grant types worth a label; anything else a caller sends counts as `other`.
const GRANT_TYPES: [&str; 4] = [
    "authorization_code",
    "refresh_token",
    "client_credentials",
    "urn:ietf:params:oauth:grant-type:token-exchange",
];

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("lanyard");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route template and status",
            requests.clone(),
        );
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.000_25, 2.0, 16))
        });
        registry.register(
            "http_request_duration_seconds",
            "Time to answer, by route template",
            latency.clone(),
        );
        let grants = Family::<GrantLabels, Counter>::default();
        registry.register(
            "grants",
            "Token requests by grant type and outcome (issued, refused, unavailable)",
            grants.clone(),
        );
        let sign_ins = Family::<SignInLabels, Counter>::default();
        registry.register(
            "sign_ins",
            "Sign-in steps by method (password, second factor, passkey, upstream) and outcome",
            sign_ins.clone(),
        );
        let completed = Family::<AmrLabels, Counter>::default();
        registry.register(
            "sign_ins_completed",
            "Sign-ins that started or renewed an SSO session, by the methods used (amr)",
            completed.clone(),
        );
        let hashing_busy = Gauge::default();
        registry.register(
            "hashing_in_flight",
            "Password hashes running or waiting for a hashing thread",
            hashing_busy.clone(),
        );
        let hashing_capacity = Gauge::default();
        registry.register(
            "hashing_capacity",
            "Hashing threads plus queue places",
            hashing_capacity.clone(),
        );
        let hashing_refused = Counter::default();
        registry.register(
            "hashing_refused",
            "Sign-ins refused with 503 because every hashing place was taken",
            hashing_refused.clone(),
        );
        let store_up = Family::<StoreLabels, Gauge>::default();
        registry.register(
            "store_up",
            "1 while the store answers (database, session store)",
            store_up.clone(),
        );
        let pool = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "database_connections",
            "Pooled database connections by state (idle, in_use)",
            pool.clone(),
        );
        let key_age = Family::<KeyLabels, Gauge>::default();
        registry.register(
            "signing_key_age_seconds",
            "Time since the key that signs now, per algorithm, started signing",
            key_age.clone(),
        );
        let session_store = crate::store_metrics::SessionStoreMetrics::register(&mut registry);
        Self {
            registry,
            requests,
            latency,
            grants,
            sign_ins,
            completed,
            hashing_busy,
            hashing_capacity,
            hashing_refused,
            store_up,
            pool,
            key_age,
            session_store,
        }
    }
}

impl Metrics {
    /// The session store's series, for the [`crate::store_metrics::Measured`] wrapper.
    pub fn session_store(&self) -> crate::store_metrics::SessionStoreMetrics {
        self.session_store.clone()
    }

    /// A token request's outcome.
    pub fn grant(&self, grant_type: Option<&str>, outcome: &'static str) {
        let grant_type = grant_type
            .and_then(|g| GRANT_TYPES.iter().find(|k| **k == g))
            .copied()
            .unwrap_or("other");
        self.grants
            .get_or_create(&GrantLabels {
                grant_type,
                outcome,
            })
            .inc();
    }

    /// A sign-in step's outcome (`method` and `outcome` are Lanyard's own words).
    pub fn sign_in(&self, method: &'static str, outcome: &'static str) {
        self.sign_ins
            .get_or_create(&SignInLabels { method, outcome })
            .inc();
    }

    /// A sign-in that reached its session; `amr` values are Lanyard's own (a closed set).
    pub fn sign_in_completed(&self, amr: &[String]) {
        let amr = if amr.is_empty() {
            "none".to_string()
        } else {
            amr.join("+")
        };
        self.completed.get_or_create(&AmrLabels { amr }).inc();
    }

    /// A sign-in refused because the hashing pool was full.
    pub fn hashing_refused(&self) {
        self.hashing_refused.inc();
    }

    fn request(&self, method: &'static str, route: String, status: u16, seconds: f64) {
        self.latency
            .get_or_create(&RouteLabels {
                method,
                route: route.clone(),
            })
            .observe(seconds);
        self.requests
            .get_or_create(&RequestLabels {
                method,
                route,
                status,
            })
            .inc();
    }
}

/// The method as a label: the standard ones by name, anything a caller invents as `other`
/// (a label a caller can choose would let him grow the series without bound).
fn method_label(m: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Counts and times every request under its route template (`unmatched` for the fallback).
pub async fn track(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    // A server error is logged here once with where it happened (the path without its
    // query) and the request id, beside the cause its handler logged with the same id.
    // (Both clones share the request's buffers: nothing is copied unless it is logged.)
    let uri = request.uri().clone();
    let request_id = request.headers().get("x-request-id").cloned();
    let response = next.run(request).await;
    let status = response.status();
    if status.is_server_error() {
        tracing::warn!(
            request_id = request_id.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-"),
            method = %method,
            path = uri.path(),
            status = status.as_u16(),
            elapsed_ms = started.elapsed().as_millis() as u64,
            "answered with a server error"
        );
    }
    app.metrics.request(
        method,
        route,
        status.as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`: the gauges read now, then everything in OpenMetrics text.
pub async fn scrape(State(app): State<Arc<App>>) -> Response {
    let m = &app.metrics;
    let (busy, capacity) = app.hasher.load();
    m.hashing_busy.set(i64::try_from(busy).unwrap_or(i64::MAX));
    m.hashing_capacity
        .set(i64::try_from(capacity).unwrap_or(i64::MAX));
    let up = |ok: bool| i64::from(ok);
    m.store_up
        .get_or_create(&StoreLabels {
            store: "database".into(),
        })
        .set(up(!app.store.is_down()));
    let sessions_up = app.sessions_up.load(std::sync::atomic::Ordering::Relaxed);
    m.store_up
        .get_or_create(&StoreLabels {
            store: "sessions".into(),
        })
        .set(up(sessions_up));
    let (size, idle) = app.store.pool_size();
    for (state, n) in [("idle", idle), ("in_use", size.saturating_sub(idle))] {
        m.pool
            .get_or_create(&PoolLabels {
                state: state.into(),
            })
            .set(i64::from(n));
    }
    let (keys, now) = (app.provider.keys(), app.provider.now());
    for alg in lanyard_core::SigningAlg::ALL {
        if let Some(k) = keys.signer(alg, now) {
            m.key_age
                .get_or_create(&KeyLabels {
                    alg: format!("{alg:?}"),
                })
                .set(now.saturating_sub(k.activates_at));
        }
    }
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &m.registry).is_err() {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        out,
    )
        .into_response()
}
