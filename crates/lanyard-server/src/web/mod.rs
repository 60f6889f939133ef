//! The pages people sign in on, whatever protocol brought them: the sign-in form, the second
//! factor and enrolment steps, passkeys, the account page. They move the journey
//! ([`crate::signin`]) and render; they know neither OIDC nor SAML.

mod account;
mod login;
mod mfa;
mod passkey;

use crate::app::App;
use crate::pages::{self, Page};
use crate::signin::flow::{Moved, Trouble};
use crate::signin::journey::{self, Journey};
use crate::throttle::Address;
use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::CookieJar;
use lanyard_core::TenantId;
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// The routes of the sign-in and account pages.
pub fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/login", get(login::login_page).post(login::login_submit))
        .route("/login/mfa", get(mfa::mfa_get).post(mfa::mfa_post))
        .route("/login/enrol", get(mfa::enrol_get).post(mfa::enrol_post))
        .route("/login/continue", get(mfa::continue_get))
        .route("/login/passkey/options", post(passkey::passkey_options))
        .route("/login/passkey/finish", post(passkey::passkey_finish))
        .merge(account::router())
}

/// The caller's address for throttling: the socket peer's, or, when the peer is one of
/// `server.trusted_proxies`, the right-most forwarded address that is not a trusted proxy.
pub(crate) struct ClientAddr(pub Address);

impl FromRequestParts<Arc<App>> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| Address::of(app.trusted_proxies.client(c.0.ip(), &parts.headers)))
                .unwrap_or_else(Address::unknown),
        ))
    }
}

/// Where a sign-in came from, as its record keeps it: the client's address (through trusted
/// proxies only) and user agent.
#[derive(Debug, Clone, Default)]
pub(crate) struct Seen {
    pub(crate) ip: Option<String>,
    pub(crate) user_agent: Option<String>,
}

impl FromRequestParts<Arc<App>> for Seen {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut Parts,
        app: &Arc<App>,
    ) -> Result<Self, Self::Rejection> {
        let ip = parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| {
            app.trusted_proxies
                .client(c.0.ip(), &parts.headers)
                .to_string()
        });
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(Seen { ip, user_agent })
    }
}

pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

/// The frame of a page for `tenant` (its name and branding), or Lanyard's own.
pub(crate) async fn page_for(app: &App, tenant: Option<TenantId>, title: &str, rid: &str) -> Page {
    let t = match tenant {
        Some(id) => app.directory.tenant(id).await.ok(),
        None => None,
    };
    match t.as_deref().map(|v| v.tenant()) {
        Some(t) => Page::new(title, &t.name, Some(&t.branding), rid),
        None => Page::new(title, "Lanyard", None, rid),
    }
}

pub(crate) async fn unavailable_page(app: &App, tenant: Option<TenantId>, rid: &str) -> Response {
    let mut r = pages::message(
        StatusCode::SERVICE_UNAVAILABLE,
        page_for(app, tenant, "Temporarily unavailable", rid).await,
        "Temporarily unavailable",
        "Sign-in is temporarily unavailable. Please try again in a moment.",
        None,
    );
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
    r
}

/// The page for a journey that could not move; the cause is logged here, once.
pub(crate) async fn trouble_page(
    app: &App,
    tenant: Option<TenantId>,
    trouble: Trouble,
    rid: &str,
) -> Response {
    match trouble {
        Trouble::Unavailable(why) => {
            tracing::error!(request_id = %rid, error = %why, "sign-in unavailable");
            unavailable_page(app, tenant, rid).await
        }
        Trouble::TooLarge => {
            tracing::warn!(request_id = %rid, "sign-in request too large to carry");
            pages::message(
                StatusCode::BAD_REQUEST,
                page_for(app, tenant, "Sign-in error", rid).await,
                "This sign-in link is not valid",
                "The application's request carries more than a sign-in may. Please tell the application's administrator.",
                None,
            )
        }
    }
}

/// A move of the journey as a browser response (a refusal cannot come from the pages: only a
/// passive request is refused, and passive requests never reach a page).
pub(crate) async fn moved_page(
    app: &App,
    tenant: TenantId,
    moved: Result<Moved, Trouble>,
    rid: &str,
) -> Response {
    match moved {
        Ok(Moved::Answer(jar, url)) | Ok(Moved::Page(jar, url)) => {
            (jar, Redirect::to(&url)).into_response()
        }
        Ok(Moved::Session(_)) | Ok(Moved::Refused(_)) => expired(app, rid).await,
        Err(t) => trouble_page(app, Some(tenant), t, rid).await,
    }
}

pub(crate) async fn expired(app: &App, rid: &str) -> Response {
    pages::message(
        StatusCode::BAD_REQUEST,
        page_for(app, None, "Sign-in expired", rid).await,
        "This sign-in page has expired",
        "Please go back to the application and start signing in again.",
        None,
    )
}

/// A form that failed its checks: from another page, another browser, or too old.
pub(crate) async fn refused_form(app: &App, tenant: Option<TenantId>, rid: &str) -> Response {
    pages::message(
        StatusCode::FORBIDDEN,
        page_for(app, tenant, "Sign-in refused", rid).await,
        "This form could not be accepted",
        "It was not sent from this sign-in page in this browser, or it has expired. Please go back to the application and try again.",
        None,
    )
}

/// A live journey of this browser, or the page to show instead.
pub(crate) async fn own_journey(
    app: &App,
    jar: &CookieJar,
    reference: &str,
    rid: &str,
) -> Result<Journey, Response> {
    match journey::load(app, reference).await {
        Ok(Some(j)) if journey::is_mine(app, jar, &j) => Ok(j),
        Ok(Some(j)) => Err(refused_form(app, Some(j.tenant_id), rid).await),
        Ok(None) => Err(expired(app, rid).await),
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "sign-in journey unavailable");
            Err(unavailable_page(app, None, rid).await)
        }
    }
}

#[derive(Deserialize)]
pub(crate) struct TxQuery {
    pub(crate) tx: String,
}
