//! The authorization endpoint and the sign-in pages: an existing SSO session answers at once;
//! otherwise the person signs in with a CSRF-protected form, throttled per account and address.

use crate::app::App;
use crate::extract::{PageForm, PageQuery};
use crate::pages::{self, LoginPage, Page};
use crate::throttle;
use axum::extract::{ConnectInfo, FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use lanyard_core::status::{may_sign_in, SignInRefusal};
use lanyard_core::{Secret, TenantId};
use lanyard_idp::authorize::{self, AuthRequest, AuthorizeError};
use lanyard_idp::OAuthError;
use lanyard_session::{SessionError, SsoSession};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;

pub(crate) const SSO_COOKIE: &str = "lanyard_sso";
pub(crate) const CSRF_COOKIE: &str = "lanyard_csrf";

/// The caller's address (the socket peer), for throttling.
pub(crate) struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip().to_string())
            .unwrap_or_else(|| "unknown".into());
        Ok(ClientIp(ip))
    }
}

pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

/// A sign-in in progress, between the authorization request and the form post.
#[derive(Serialize, Deserialize)]
pub(crate) struct LoginTx {
    pub(crate) req: AuthRequest,
    pub(crate) client_name: String,
    pub(crate) tenant_id: TenantId,
    pub(crate) csrf: String,
    /// A person who has passed a first step and owes a second (or an enrolment).
    #[serde(default)]
    pub(crate) pending: Option<super::mfa::Pending>,
    /// WebAuthn state of a passwordless attempt.
    #[serde(default)]
    pub(crate) discover: Option<serde_json::Value>,
    /// A SAML sign-in: `req` then only carries its prompt and MFA wishes.
    #[serde(default)]
    pub(crate) saml: Option<lanyard_idp::saml::SamlAuthn>,
}

/// Reads a login transaction.
pub(crate) async fn load_tx(app: &App, id: &str) -> Result<Option<LoginTx>, SessionError> {
    app.sessions.get_json(&format!("login:{id}")).await
}

/// Stores a login transaction (for the configured sign-in lifetime).
pub(crate) async fn save_tx(app: &App, id: &str, tx: &LoginTx) -> Result<(), SessionError> {
    let ttl = Duration::from_secs(u64::try_from(app.config.oidc.login_ttl_secs).unwrap_or(900));
    app.sessions.put_json(&format!("login:{id}"), tx, ttl).await
}

/// Whether the form's and the cookie's CSRF tokens both match the transaction's.
pub(crate) fn csrf_ok(jar: &CookieJar, tx: &LoginTx, form: &str) -> bool {
    let cookie_ok = jar
        .get(CSRF_COOKIE)
        .is_some_and(|c| bool::from(c.value().as_bytes().ct_eq(tx.csrf.as_bytes())));
    cookie_ok && bool::from(form.as_bytes().ct_eq(tx.csrf.as_bytes()))
}

pub(crate) fn random() -> String {
    lanyard_core::random::token(32)
}

/// The SSO cookie's `SameSite`: `None` over HTTPS, so that an SP on another site posting a SAML
/// request (HTTP-POST binding) reaches the person's session; browsers accept `None` only on a
/// `Secure` cookie, so over plain HTTP (the demo) it stays `Lax`. The pages that change anything
/// carry their own CSRF tokens, and single logout accepts only signed requests.
pub(crate) fn sso_same_site(app: &App) -> SameSite {
    if secure(app) {
        SameSite::None
    } else {
        SameSite::Lax
    }
}

pub(crate) fn secure(app: &App) -> bool {
    app.config.server.issuer.starts_with("https://")
}

pub(crate) fn cookie(
    app: &App,
    name: &'static str,
    value: String,
    max_age_secs: i64,
    same_site: SameSite,
) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .secure(secure(app))
        .same_site(same_site)
        .max_age(time::Duration::seconds(max_age_secs))
        .build()
}

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
    r.headers_mut().insert(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("5"),
    );
    r
}

pub(crate) async fn authorize_get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    RawQuery(q): RawQuery,
) -> Response {
    let params: Vec<(String, String)> =
        url::form_urlencoded::parse(q.unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    authorize(app, headers, jar, params).await
}

pub(crate) async fn authorize_post(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    body: axum::body::Bytes,
) -> Response {
    let params: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    authorize(app, headers, jar, params).await
}

/// The SSO session of this browser, if it is valid for `tenant` now.
pub(crate) async fn usable_session(
    app: &App,
    jar: &CookieJar,
    tenant: TenantId,
) -> Result<Option<SsoSession>, OAuthError> {
    let Some(sid) = jar.get(SSO_COOKIE).map(|c| c.value().to_string()) else {
        return Ok(None);
    };
    let Some(sso) = app.sessions.sso(&sid).await? else {
        return Ok(None);
    };
    if sso.expires_at <= app.provider.now() || sso.tenant_id != tenant {
        return Ok(None);
    }
    let active = app
        .provider
        .directory()
        .person(sso.user_id)
        .await?
        .is_some_and(|p| p.may_sign_in);
    if !active {
        app.sessions.end_sso(&sid).await?;
        return Ok(None);
    }
    Ok(Some(sso))
}

async fn authorize(
    app: Arc<App>,
    headers: HeaderMap,
    jar: CookieJar,
    params: Vec<(String, String)>,
) -> Response {
    let rid = request_id(&headers);
    let issuer = app.provider.settings().issuer.clone();
    let (req, client) = match authorize::validate(&app.provider, &params).await {
        Ok(x) => x,
        Err(AuthorizeError::Page(msg)) => {
            return pages::message(
                StatusCode::BAD_REQUEST,
                page_for(&app, None, "Sign-in error", &rid).await,
                "This sign-in link is not valid",
                &msg,
                None,
            );
        }
        Err(AuthorizeError::Redirect {
            redirect_uri,
            state,
            error,
        }) => {
            return Redirect::to(&authorize::error_redirect(
                &issuer,
                &redirect_uri,
                state.as_deref(),
                &error,
            ))
            .into_response();
        }
    };
    let to_client = |e: OAuthError| {
        Redirect::to(&authorize::error_redirect(
            &issuer,
            &req.redirect_uri,
            req.state.as_deref(),
            &e,
        ))
        .into_response()
    };
    let sso = match usable_session(&app, &jar, client.tenant_id).await {
        Ok(s) => s,
        Err(OAuthError::TemporarilyUnavailable) => {
            return unavailable_page(&app, Some(client.tenant_id), &rid).await
        }
        Err(e) => return to_client(e),
    };
    if let Some(sso) = sso {
        match super::mfa::session_step(&app, &req, client.require_mfa, &sso).await {
            Ok(super::mfa::SessionStep::Answer) => {
                return match authorize::issue_code(&app.provider, &req, &sso).await {
                    Ok(url) => Redirect::to(&url).into_response(),
                    Err(OAuthError::TemporarilyUnavailable) => {
                        unavailable_page(&app, Some(client.tenant_id), &rid).await
                    }
                    Err(e) => to_client(e),
                };
            }
            Ok(super::mfa::SessionStep::StepUp(pending)) if !req.prompt.none => {
                let tx_id = random();
                let tx = LoginTx {
                    req,
                    client_name: client.name.clone(),
                    tenant_id: client.tenant_id,
                    csrf: random(),
                    pending: Some(pending),
                    discover: None,
                    saml: None,
                };
                return match save_tx(&app, &tx_id, &tx).await {
                    Ok(()) => Redirect::to(&super::mfa::step_url(&tx, &tx_id)).into_response(),
                    Err(_) => unavailable_page(&app, Some(client.tenant_id), &rid).await,
                };
            }
            Ok(super::mfa::SessionStep::StepUp(_)) => {
                return to_client(OAuthError::InteractionRequired)
            }
            Ok(super::mfa::SessionStep::SignIn) => {}
            Err(_) => return unavailable_page(&app, Some(client.tenant_id), &rid).await,
        }
    }
    if req.prompt.none {
        return to_client(OAuthError::LoginRequired);
    }
    let tx_id = random();
    let tx = LoginTx {
        req,
        client_name: client.name.clone(),
        tenant_id: client.tenant_id,
        csrf: random(),
        pending: None,
        discover: None,
        saml: None,
    };
    let ttl = Duration::from_secs(u64::try_from(app.config.oidc.login_ttl_secs).unwrap_or(900));
    match app
        .sessions
        .put_json(&format!("login:{tx_id}"), &tx, ttl)
        .await
    {
        Ok(()) => Redirect::to(&format!("/login?tx={tx_id}")).into_response(),
        Err(_) => unavailable_page(&app, Some(client.tenant_id), &rid).await,
    }
}

#[derive(Deserialize)]
pub(crate) struct TxQuery {
    pub(crate) tx: String,
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

/// What the form shows besides the transaction: its status, the login typed so far, an error.
struct Shown<'a> {
    status: StatusCode,
    login: &'a str,
    error: Option<String>,
}

async fn login_form(
    app: &App,
    tx_id: &str,
    tx: &LoginTx,
    jar: CookieJar,
    shown: Shown<'_>,
    rid: &str,
) -> Response {
    let page = page_for(app, Some(tx.tenant_id), "Sign in", rid).await;
    let nonce = page.nonce.clone();
    let Shown {
        status,
        login,
        error,
    } = shown;
    let form = LoginPage {
        page,
        client_name: tx.client_name.clone(),
        tx: tx_id.to_string(),
        csrf: tx.csrf.clone(),
        login: login.to_string(),
        error,
    };
    let targets: Vec<String> = pages::origin(&tx.req.redirect_uri).into_iter().collect();
    let jar = jar.add(cookie(
        app,
        CSRF_COOKIE,
        tx.csrf.clone(),
        app.config.oidc.login_ttl_secs,
        SameSite::Strict,
    ));
    (jar, pages::render(status, &form, &nonce, &targets)).into_response()
}

pub(crate) async fn login_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(q): PageQuery<TxQuery>,
) -> Response {
    let rid = request_id(&headers);
    match app
        .sessions
        .get_json::<LoginTx>(&format!("login:{}", q.tx))
        .await
    {
        Ok(Some(tx)) => {
            let hint = tx.req.login_hint.clone().unwrap_or_default();
            login_form(
                &app,
                &q.tx,
                &tx,
                jar,
                Shown {
                    status: StatusCode::OK,
                    login: &hint,
                    error: None,
                },
                &rid,
            )
            .await
        }
        Ok(None) => expired(&app, &rid).await,
        Err(_) => unavailable_page(&app, None, &rid).await,
    }
}

#[derive(Deserialize)]
pub(crate) struct LoginForm {
    tx: String,
    csrf: String,
    login: String,
    password: String,
}

const WRONG: &str = "The email, username or password is not right.";
const LOCKED: &str = "Too many failed sign-ins. For your security, signing in is paused for a while; please try again later.";

fn refusal_text(r: SignInRefusal) -> &'static str {
    match r {
        SignInRefusal::Invited => {
            "Your account has not been activated yet. Please accept your invitation first."
        }
        SignInRefusal::Suspended => "Your account is suspended. Please contact your administrator.",
        SignInRefusal::Archived => {
            "Your account has been closed. Please contact your administrator."
        }
        SignInRefusal::NoSignInRole => {
            "Your account does not allow signing in. Please contact your administrator."
        }
    }
}

pub(crate) async fn login_submit(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    PageForm(f): PageForm<LoginForm>,
) -> Response {
    let rid = request_id(&headers);
    let tx: LoginTx = match app.sessions.get_json(&format!("login:{}", f.tx)).await {
        Ok(Some(tx)) => tx,
        Ok(None) => return expired(&app, &rid).await,
        Err(_) => return unavailable_page(&app, None, &rid).await,
    };
    let cookie_ok = jar
        .get(CSRF_COOKIE)
        .is_some_and(|c| bool::from(c.value().as_bytes().ct_eq(tx.csrf.as_bytes())));
    let form_ok: bool = f.csrf.as_bytes().ct_eq(tx.csrf.as_bytes()).into();
    if !cookie_ok || !form_ok {
        tracing::warn!(request_id = %rid, "login form failed its CSRF check");
        return pages::message(
            StatusCode::FORBIDDEN,
            page_for(&app, Some(tx.tenant_id), "Sign-in refused", &rid).await,
            "This form could not be accepted",
            "It was not sent from this sign-in page, or it has expired. Please go back to the application and try again.",
            None,
        );
    }
    match sign_in(&app, &tx, &f, &ip).await {
        Ok(Outcome::Authenticated(user)) => {
            super::mfa::after_first_factor(
                &app,
                jar,
                &f.tx,
                tx,
                &user,
                &f.login,
                vec!["pwd".into()],
                &rid,
            )
            .await
        }
        Ok(Outcome::Wrong) => {
            login_form(
                &app,
                &f.tx,
                &tx,
                jar,
                Shown {
                    status: StatusCode::UNAUTHORIZED,
                    login: &f.login,
                    error: Some(WRONG.into()),
                },
                &rid,
            )
            .await
        }
        Ok(Outcome::Locked) => {
            login_form(
                &app,
                &f.tx,
                &tx,
                jar,
                Shown {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    login: &f.login,
                    error: Some(LOCKED.into()),
                },
                &rid,
            )
            .await
        }
        Ok(Outcome::Refused(r)) => pages::message(
            StatusCode::FORBIDDEN,
            page_for(&app, Some(tx.tenant_id), "Sign-in refused", &rid).await,
            "You cannot sign in",
            refusal_text(r),
            None,
        ),
        Ok(Outcome::Busy) => {
            let mut r = login_form(
                &app,
                &f.tx,
                &tx,
                jar,
                Shown {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    login: &f.login,
                    error: Some(
                        "Too many people are signing in right now. Please try again in a moment."
                            .into(),
                    ),
                },
                &rid,
            )
            .await;
            r.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from_static("2"),
            );
            r
        }
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "sign-in failed");
            unavailable_page(&app, Some(tx.tenant_id), &rid).await
        }
    }
}

enum Outcome {
    Authenticated(Box<lanyard_core::User>),
    Wrong,
    Locked,
    Refused(SignInRefusal),
    Busy,
}

#[derive(Debug, thiserror::Error)]
enum SignInError {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Store(#[from] lanyard_store::StoreError),
    #[error(transparent)]
    Hash(crate::hashing::HashError),
}

async fn sign_in(app: &App, tx: &LoginTx, f: &LoginForm, ip: &str) -> Result<Outcome, SignInError> {
    let kv = app.sessions.store();
    let tenant = tx.tenant_id.to_string();
    let limits = app.limits();
    // A place in the hashing pool first: a sign-in refused as "busy" checks no password, so
    // it must not count against the throttle (or a rush of people would lock themselves out).
    let admission = match app.hasher.admit() {
        Ok(a) => a,
        Err(crate::hashing::HashError::Busy) => return Ok(Outcome::Busy),
        Err(e) => return Err(SignInError::Hash(e)),
    };
    let Some(attempt) = throttle::begin(kv, &limits, &tenant, &f.login, ip).await? else {
        return Ok(Outcome::Locked);
    };
    let user = app.store.user_by_login(tx.tenant_id, &f.login).await?;
    let hash = match &user {
        Some(u) => app.store.password_hash(u.id).await?,
        None => None,
    };
    let password = Secret::new(f.password.clone());
    // Unknown people cost the same hashing work as known ones: timing reveals nothing.
    let verified = match hash {
        Some(h) => app.hasher.verify_admitted(admission, h, password).await,
        None => app.hasher.verify_dummy(admission, password).await,
    };
    let verified = match verified {
        Ok(v) => v,
        Err(crate::hashing::HashError::Busy) => return Ok(Outcome::Busy),
        Err(e) => return Err(SignInError::Hash(e)),
    };
    let Some(user) = user.filter(|_| verified) else {
        return Ok(
            if throttle::failed(kv, &limits, &tenant, &f.login, ip, attempt).await? {
                Outcome::Locked
            } else {
                Outcome::Wrong
            },
        );
    };
    let view = app.directory.tenant(user.tenant_id).await?;
    let held: Vec<_> = view.held(&user.roles).cloned().collect();
    if let Err(r) = may_sign_in(user.status, &held) {
        return Ok(Outcome::Refused(r));
    }
    // The failure count is cleared only when the whole sign-in succeeds, so a known password
    // cannot be used to keep guessing second factors.
    Ok(Outcome::Authenticated(Box::new(user)))
}
