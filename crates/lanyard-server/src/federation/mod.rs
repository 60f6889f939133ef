//! Signing in through an upstream identity provider: `/federation/{name}/start` leaves for the
//! upstream with a journey of this browser; `/federation/{name}/callback` comes back, checks
//! everything the upstream said, finds or makes the person and lets him into the journey as a
//! first factor. The protocol work is `lanyard-federation`'s.
//!
//! Nothing is stored before the upstream has answered: what the callback needs (the sealed
//! journey, `state`, `nonce`, the PKCE verifier) travels sealed in a short-lived cookie of
//! this browser, and `state` must match it (login CSRF). The callback is single-use.

mod people;
pub mod preview;

use crate::app::App;
use crate::cookies;
use crate::extract::PageQuery;
use crate::pages;
use crate::signin::flow::{self, Method, Trouble};
use crate::web::{expired, moved_page, own_journey, page_for, request_id, trouble_page};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use lanyard_core::TenantId;
use lanyard_federation::{OidcConnection, Upstream, UpstreamError};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Context string of the sealed cookie.
const SEALED: &str = "lanyard:upstream:v1";
/// How long a trip to the upstream may take.
const TRIP_SECS: i64 = 600;

pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/federation/{name}/start", get(start))
        .route("/federation/{name}/callback", get(callback))
}

/// The upstreams met so far, each with the connection it was made for.
#[derive(Default)]
pub struct Upstreams(Mutex<HashMap<UpstreamKey, (OidcConnection, Arc<Upstream>)>>);

/// A connection of a tenant.
type UpstreamKey = (TenantId, String);

impl Upstreams {
    /// The upstream for `c` (a changed connection gets a new one, its caches empty).
    fn get(&self, tenant: TenantId, c: &OidcConnection) -> Result<Arc<Upstream>, UpstreamError> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let key = (tenant, c.name.clone());
        if let Some((known, u)) = map.get(&key) {
            if known == c {
                return Ok(u.clone());
            }
        }
        let u = Arc::new(Upstream::new(c)?);
        map.insert(key, (c.clone(), u.clone()));
        Ok(u)
    }
}

/// A tenant's OIDC connection by name, with its secret.
pub(crate) async fn connection(
    app: &App,
    tenant: TenantId,
    name: &str,
) -> Result<Option<OidcConnection>, Trouble> {
    let Some(rec) = app.store.connection(tenant, name).await? else {
        return Ok(None);
    };
    if rec.kind != "oidc" {
        return Ok(None);
    }
    let mut c: OidcConnection = serde_json::from_value(rec.spec)
        .map_err(|e| Trouble::Unavailable(format!("connection {name}: {e}")))?;
    c.client_secret = rec.secret;
    Ok(Some(c))
}

fn cookie_name(app: &App) -> &'static str {
    if cookies::secure(app) {
        "__Host-lanyard_upstream"
    } else {
        "lanyard_upstream"
    }
}

/// What the callback needs, sealed into the browser's cookie.
#[derive(Serialize, Deserialize)]
struct Trip {
    journey: String,
    connection: String,
    state: String,
    nonce: String,
    verifier: String,
    issued_at: i64,
}

fn redirect_uri(app: &App, name: &str) -> String {
    format!("{}/federation/{name}/callback", app.config.server.issuer)
}

fn sha256_b64(v: &str) -> String {
    B64.encode(Sha256::digest(v.as_bytes()))
}

#[derive(Deserialize)]
struct StartQuery {
    tx: String,
}

async fn start(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    Path(name): Path<String>,
    PageQuery(q): PageQuery<StartQuery>,
) -> Response {
    let rid = request_id(&headers);
    let j = match own_journey(&app, &jar, &q.tx, &rid).await {
        Ok(j) if j.step().is_none() => j,
        Ok(_) => return expired(&app, &rid).await,
        Err(r) => return r,
    };
    let tenant = j.tenant_id;
    let c = match connection(&app, tenant, &name).await {
        Ok(Some(c)) => c,
        Ok(None) => return no_connection(&app, tenant, &name, &rid).await,
        Err(t) => return trouble_page(&app, Some(tenant), t, &rid).await,
    };
    let trip = Trip {
        journey: q.tx.clone(),
        connection: name.clone(),
        state: lanyard_core::random::token(32),
        nonce: lanyard_core::random::token(32),
        verifier: lanyard_core::random::token(48),
        issued_at: app.provider.now(),
    };
    let hint = j.wants.login_hint.clone();
    let domain_hint = hint
        .as_deref()
        .and_then(|h| h.rsplit_once('@'))
        .map(|(_, d)| d.to_string());
    let url = async {
        let upstream = app.upstreams.get(tenant, &c)?;
        let challenge = sha256_b64(&trip.verifier);
        let a = lanyard_federation::upstream::Authorization {
            redirect_uri: &redirect_uri(&app, &name),
            state: &trip.state,
            nonce: &trip.nonce,
            code_challenge: &challenge,
            login_hint: hint.as_deref(),
            domain_hint: domain_hint.as_deref(),
        };
        upstream.authorization_url(&c, &a).await
    }
    .await;
    let url = match url {
        Ok(u) => u,
        Err(e) => return upstream_failed(&app, tenant, &c, &e, &rid).await,
    };
    let sealed = serde_json::to_vec(&trip)
        .map_err(|e| e.to_string())
        .and_then(|b| {
            app.store
                .keyring()
                .seal_token(&b, SEALED)
                .map_err(|e| e.to_string())
        });
    match sealed {
        Ok(s) if s.len() <= 3800 => {
            let cookie = cookies::build(&app, cookie_name(&app), s, Some(TRIP_SECS));
            (jar.add(cookie), Redirect::to(&url)).into_response()
        }
        Ok(_) => trouble_page(&app, Some(tenant), Trouble::TooLarge, &rid).await,
        Err(e) => trouble_page(&app, Some(tenant), Trouble::Unavailable(e), &rid).await,
    }
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

async fn callback(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    seen: crate::web::Seen,
    jar: CookieJar,
    Path(name): Path<String>,
    PageQuery(q): PageQuery<CallbackQuery>,
) -> Response {
    let rid = request_id(&headers);
    // The trip this browser started, for this connection, with this state, not too old.
    let trip = jar
        .get(cookie_name(&app))
        .and_then(|c| app.store.keyring().open_token(c.value(), SEALED).ok())
        .and_then(|b| serde_json::from_slice::<Trip>(&b).ok())
        .filter(|t| {
            t.connection == name
                && (0..TRIP_SECS).contains(&(app.provider.now() - t.issued_at))
                && q.state.as_deref().is_some_and(|s| {
                    bool::from(subtle::ConstantTimeEq::ct_eq(
                        s.as_bytes(),
                        t.state.as_bytes(),
                    ))
                })
        });
    let jar = jar.remove(cookies::removal(&app, cookie_name(&app)));
    let Some(trip) = trip else {
        tracing::warn!(request_id = %rid, connection = %name, "upstream callback refused: no matching sign-in in this browser (state)");
        return (jar, refused(&app, None, &rid).await).into_response();
    };
    let j = match own_journey(&app, &jar, &trip.journey, &rid).await {
        Ok(j) if j.step().is_none() => j,
        Ok(_) => return (jar, expired(&app, &rid).await).into_response(),
        Err(r) => return (jar, r).into_response(),
    };
    let tenant = j.tenant_id;
    // Single use: the same callback (code and state) is never taken twice.
    let once = app
        .sessions
        .store()
        .put_new(
            &format!("upstream_used:{}", sha256_b64(&trip.state)),
            b"1",
            Duration::from_secs(2 * TRIP_SECS as u64),
        )
        .await;
    match once {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(request_id = %rid, connection = %name, "upstream callback replayed");
            return (jar, refused(&app, Some(tenant), &rid).await).into_response();
        }
        Err(e) => {
            return (jar, trouble_page(&app, Some(tenant), e.into(), &rid).await).into_response()
        }
    }
    let c = match connection(&app, tenant, &name).await {
        Ok(Some(c)) => c,
        Ok(None) => return (jar, no_connection(&app, tenant, &name, &rid).await).into_response(),
        Err(t) => return (jar, trouble_page(&app, Some(tenant), t, &rid).await).into_response(),
    };
    if let Some(err) = &q.error {
        tracing::warn!(request_id = %rid, connection = %name, error = %err, description = q.error_description.as_deref().unwrap_or(""), "the upstream refused the sign-in");
        let page = page_for(&app, Some(tenant), "Sign-in failed", &rid).await;
        let msg = format!("{} did not sign you in. Please try again, or contact your administrator and quote the reference below.", c.display_name);
        return (
            jar,
            pages::message(StatusCode::UNAUTHORIZED, page, "Sign-in failed", &msg, None),
        )
            .into_response();
    }
    let Some(code) = q.code.as_deref() else {
        return (jar, refused(&app, Some(tenant), &rid).await).into_response();
    };
    let claims = async {
        let upstream = app.upstreams.get(tenant, &c)?;
        upstream
            .exchange(
                &c,
                code,
                &redirect_uri(&app, &name),
                &trip.verifier,
                &trip.nonce,
                app.provider.now(),
            )
            .await
    }
    .await;
    let claims = match claims {
        Ok(cl) => cl,
        Err(e) => return (jar, upstream_failed(&app, tenant, &c, &e, &rid).await).into_response(),
    };
    let mapped = lanyard_federation::map(&claims, &c.rules());
    for claim in &mapped.overage {
        tracing::warn!(request_id = %rid, connection = %name, claim = %claim, "the upstream left this claim out for having too many values (Entra groups overage); its role rules cannot apply: emit only groups assigned to the application, or use app roles");
    }
    let user = match people::resolve(&app, tenant, &c, &mapped).await {
        Ok(Ok(u)) => u,
        Ok(Err(why)) => {
            tracing::warn!(request_id = %rid, connection = %name, subject = %mapped.subject, reason = %why.log(), "upstream person refused");
            let page = page_for(&app, Some(tenant), "Sign-in refused", &rid).await;
            return (
                jar,
                pages::message(
                    StatusCode::FORBIDDEN,
                    page,
                    "You cannot sign in",
                    why.text(),
                    None,
                ),
            )
                .into_response();
        }
        Err(t) => return (jar, trouble_page(&app, Some(tenant), t, &rid).await).into_response(),
    };
    tracing::info!(request_id = %rid, connection = %name, user = %user.id, upstream_mfa = mapped.upstream_mfa, "signed in through an upstream");
    let moved = flow::first_factor(
        &app,
        jar,
        j,
        &user,
        Method::Upstream {
            mfa: mapped.upstream_mfa,
        },
        &seen,
    )
    .await;
    moved_page(&app, tenant, moved, &rid).await
}

async fn refused(app: &App, tenant: Option<TenantId>, rid: &str) -> Response {
    pages::message(
        StatusCode::BAD_REQUEST,
        page_for(app, tenant, "Sign-in expired", rid).await,
        "This sign-in could not be completed",
        "It was not started in this browser, was already used, or has expired. Please go back to the application and sign in again.",
        None,
    )
}

async fn no_connection(app: &App, tenant: TenantId, name: &str, rid: &str) -> Response {
    tracing::warn!(request_id = %rid, connection = %name, "no such connection in the tenant");
    pages::message(
        StatusCode::NOT_FOUND,
        page_for(app, Some(tenant), "Sign-in error", rid).await,
        "This sign-in option does not exist",
        "Please go back and choose another way to sign in.",
        None,
    )
}

/// The upstream failed: the person sees that it did (with the reference), the administrator
/// reads exactly why in the log.
async fn upstream_failed(
    app: &App,
    tenant: TenantId,
    c: &OidcConnection,
    e: &UpstreamError,
    rid: &str,
) -> Response {
    tracing::warn!(request_id = %rid, connection = %c.name, issuer = %c.issuer, reason = %e, "upstream sign-in failed");
    let (status, msg) = match e {
        UpstreamError::Unreachable(_) | UpstreamError::Status { .. } => (
            StatusCode::BAD_GATEWAY,
            format!("{} cannot be reached right now. You can sign in with your password instead, or try again in a moment.", c.display_name),
        ),
        _ => (
            StatusCode::UNAUTHORIZED,
            format!("{} did not sign you in. Please contact your administrator and quote the reference below.", c.display_name),
        ),
    };
    pages::message(
        status,
        page_for(app, Some(tenant), "Sign-in failed", rid).await,
        "Sign-in failed",
        &msg,
        None,
    )
}
