//! The browser cookies Lanyard sets, named and built in one place.
//!
//! - The SSO cookie holds the session's secret; the store keeps only its hash, and tokens carry
//!   the session's separate public id, so no token can be turned into a cookie.
//! - The sign-in cookie binds sign-in transactions to the browser that started them, so a
//!   transaction made by someone else (whose form token he knows) cannot be finished in this
//!   browser. One value serves every transaction, so several sign-in tabs work side by side.
//!
//! Over HTTPS both carry the `__Host-` prefix: the browser then refuses them from any other
//! host (a sibling subdomain cannot plant its own), and only over a secure connection.

use crate::app::App;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Whether the issuer is served over HTTPS (cookies are then `Secure` and `__Host-` prefixed).
pub(crate) fn secure(app: &App) -> bool {
    app.config.server.issuer.starts_with("https://")
}

/// The SSO cookie's name.
pub(crate) fn sso_name(app: &App) -> &'static str {
    if secure(app) {
        "__Host-lanyard_sso"
    } else {
        "lanyard_sso"
    }
}

/// The sign-in cookie's name.
pub(crate) fn signin_name(app: &App) -> &'static str {
    if secure(app) {
        "__Host-lanyard_signin"
    } else {
        "lanyard_signin"
    }
}

/// `SameSite` of both cookies: `None` over HTTPS, so that an SP on another site posting a SAML
/// request (HTTP-POST binding) reaches the person's session and sign-in; browsers accept `None`
/// only on a `Secure` cookie, so over plain HTTP (the demo) it stays `Lax`. Neither cookie is
/// what protects a form: forms carry tokens bound to the session or transaction.
pub(crate) fn same_site(app: &App) -> SameSite {
    if secure(app) {
        SameSite::None
    } else {
        SameSite::Lax
    }
}

/// A cookie `name=value` for the whole site, `HttpOnly`, lasting `max_age_secs` (or the
/// browser session with `None`).
pub(crate) fn build(
    app: &App,
    name: &'static str,
    value: String,
    max_age_secs: Option<i64>,
) -> Cookie<'static> {
    let mut c = Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(secure(app))
        .same_site(same_site(app));
    if let Some(secs) = max_age_secs {
        c = c.max_age(time::Duration::seconds(secs));
    }
    c.build()
}

/// What removes cookie `name`.
pub(crate) fn removal(app: &App, name: &'static str) -> Cookie<'static> {
    Cookie::build(name).path("/").secure(secure(app)).build()
}

/// The SSO cookie's secret, if the browser sent one.
pub(crate) fn sso_secret(app: &App, jar: &CookieJar) -> Option<String> {
    jar.get(sso_name(app))
        .map(|c| c.value().to_string())
        .filter(|v| !v.is_empty())
}

/// Sets the SSO cookie to `secret`.
pub(crate) fn with_sso(app: &App, jar: CookieJar, secret: String) -> CookieJar {
    let ttl = app.config.signin.sso_ttl_secs;
    jar.add(build(app, sso_name(app), secret, Some(ttl)))
}

/// The browser's binding for sign-in transactions (the hash of its sign-in cookie), setting
/// the cookie first if the browser has none.
pub(crate) fn signin_binding(app: &App, jar: CookieJar) -> (CookieJar, String) {
    match jar.get(signin_name(app)).map(|c| c.value().to_string()) {
        Some(v) if v.len() >= 32 => {
            let binding = hash(&v);
            (jar, binding)
        }
        _ => {
            let v = lanyard_core::random::token(32);
            let binding = hash(&v);
            (jar.add(build(app, signin_name(app), v, None)), binding)
        }
    }
}

/// Whether this browser is the one bound as `binding`.
pub(crate) fn is_bound(app: &App, jar: &CookieJar, binding: &str) -> bool {
    jar.get(signin_name(app))
        .is_some_and(|c| bool::from(hash(c.value()).as_bytes().ct_eq(binding.as_bytes())))
}

fn hash(v: &str) -> String {
    lanyard_core::random::hex(&Sha256::digest(v.as_bytes()))
}
