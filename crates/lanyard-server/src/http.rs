//! The HTTP surface: routers, middleware and the server loop.

use crate::app::App;
use axum::extract::State;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole router with its middleware.
pub fn router(app: Arc<App>) -> Router {
    let limits = &app.config.server;
    let security = [
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
        (header::CACHE_CONTROL, "no-store"),
    ];
    let mut r = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(public_metrics(&app))
        .route("/static/lanyard.css", get(crate::pages::stylesheet))
        .route("/static/webauthn.js", get(crate::pages::script))
        .route("/static/autopost.js", get(crate::pages::autopost_script))
        .merge(crate::oidc::router())
        .merge(crate::web::router())
        .merge(crate::federation::router())
        .merge(crate::saml::router())
        .merge(crate::admin::router())
        .fallback(not_found)
        .with_state(app.clone())
        .layer(RequestBodyLimitLayer::new(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(limits.request_timeout_secs),
        ))
        .layer(axum::middleware::from_fn(crate::errors::in_protocol_format))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::metrics::track,
        ));
    // Outside the layers above, so their own answers (413, timeouts) carry the headers too.
    for (name, value) in security {
        r = r.layer(SetResponseHeaderLayer::if_not_present(
            name,
            HeaderValue::from_static(value),
        ));
    }
    // Browsers that have once reached an https issuer never try plain http again (RFC 6797).
    // Not `includeSubDomains`: the issuer's parent domain may host other sites Lanyard does
    // not speak for.
    if app.config.server.issuer.starts_with("https://") {
        r = r.layer(SetResponseHeaderLayer::if_not_present(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        ));
    }
    r.layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            crate::telemetry::trace_request,
        ))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

/// `/metrics` on the public listener, unless it has an address of its own.
fn public_metrics(app: &Arc<App>) -> Router<Arc<App>> {
    match app.config.server.metrics_listen {
        Some(_) => Router::new(),
        None => Router::new().route("/metrics", get(crate::metrics::scrape)),
    }
}

/// The metrics listener's routes: `/metrics`, `/healthz` and `/readyz`.
fn metrics_router(app: Arc<App>) -> Router {
    Router::new()
        .route("/metrics", get(crate::metrics::scrape))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .with_state(app)
}

/// Alive: the process answers.
async fn healthz() -> impl IntoResponse {
    Json(json!({"status": "ok"}))
}

/// Ready: the store answers, and the node is not shutting down.
async fn readyz(State(app): State<Arc<App>>) -> impl IntoResponse {
    if app.draining.load(std::sync::atomic::Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": "shutting down"})),
        );
    }
    if let Err(e) = app.store.ping().await {
        tracing::warn!(error = %e, "readiness check failed: database");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": "database unreachable"})),
        );
    }
    if let Err(e) = app.sessions.store().ping().await {
        tracing::warn!(error = %e, "readiness check failed: session store");
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": "session store unreachable"})),
        );
    }
    (StatusCode::OK, Json(json!({"status": "ready"})))
}

async fn not_found() -> impl IntoResponse {
    (StatusCode::NOT_FOUND, Json(json!({"error": "not_found"})))
}

/// Deletes sign-in records past `signin.record_retention_days`, hourly (every process does;
/// the delete is the same whoever runs it).
async fn prune_sign_ins(app: Arc<App>) {
    loop {
        let keep = app.config.signin.record_retention_days * 86_400_000;
        let now = lanyard_core::clock::to_millis(app.clock.now());
        match app.store.prune_sign_ins(now - keep).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(deleted = n, "pruned old sign-in records"),
            Err(e) => tracing::warn!(error = %e, "could not prune old sign-in records"),
        }
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Serves until SIGINT or SIGTERM; then `/readyz` answers 503 for `server.drain_secs` while
/// everything is still served, then new connections are refused and requests in flight get
/// `server.shutdown_timeout_secs` to finish.
pub async fn serve(app: Arc<App>) -> anyhow::Result<()> {
    let addr = app.config.server.listen.clone();
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    tracing::info!(listen = %listener.local_addr()?, issuer = %app.config.server.issuer, "lanyard is serving");
    let reload = tokio::spawn(reload_keys(app.clone()));
    let prune = tokio::spawn(prune_sign_ins(app.clone()));
    let metrics = match &app.config.server.metrics_listen {
        Some(addr) => {
            let l = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {addr} for metrics: {e}"))?;
            tracing::info!(listen = %l.local_addr()?, "metrics, health and readiness");
            let app = app.clone();
            Some(tokio::spawn(async move {
                if let Err(e) = axum::serve(l, metrics_router(app)).await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            }))
        }
        None => None,
    };
    let (stopping_tx, stopping) = tokio::sync::oneshot::channel::<()>();
    let draining = {
        let app = app.clone();
        async move {
            let terminated = shutdown().await;
            let (drain, deadline) = (
                if terminated {
                    app.config.server.drain_secs
                } else {
                    0
                },
                app.config.server.shutdown_timeout_secs,
            );
            tracing::info!(
                drain_secs = drain,
                "shutting down: /readyz answers 503 while the balancer drains this node"
            );
            app.draining
                .store(true, std::sync::atomic::Ordering::Relaxed);
            tokio::time::sleep(Duration::from_secs(drain)).await;
            tracing::info!(
                timeout_secs = deadline,
                "no new connections; finishing the requests in flight"
            );
            let _ = stopping_tx.send(());
        }
    };
    let server = axum::serve(
        listener,
        router(app.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(draining);
    let deadline = async {
        let _ = stopping.await;
        tokio::time::sleep(Duration::from_secs(app.config.server.shutdown_timeout_secs)).await;
    };
    tokio::select! {
        r = server => r?,
        () = deadline => tracing::warn!("requests still in flight at the shutdown deadline were cut off"),
    }
    reload.abort();
    prune.abort();
    if let Some(m) = metrics {
        m.abort();
    }
    tracing::info!("lanyard stopped");
    Ok(())
}

/// Re-reads the signing keys now and then, so rotations made by `lanyard keys rotate` (or by
/// another process) reach this one.
async fn reload_keys(app: Arc<App>) {
    let mut every = tokio::time::interval(Duration::from_secs(app.config.oidc.key_reload_secs));
    every.tick().await;
    loop {
        every.tick().await;
        match crate::keys::load(&app.store).await {
            Ok(keys) => app.provider.set_keys(keys),
            Err(e) => tracing::warn!(error = %e, "could not reload signing keys"),
        }
        match crate::keys::load_saml(&app.store, &app.config.server.issuer).await {
            Ok(keys) => app.set_saml_keys(keys),
            Err(e) => tracing::warn!(error = %e, "could not reload SAML keys"),
        }
    }
}

/// Waits for SIGINT or SIGTERM; true for SIGTERM (what a service manager or an orchestrator
/// sends, and when draining matters; Ctrl-C at a terminal stops without the drain).
async fn shutdown() -> bool {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => false, _ = term => true }
}
