//! The authorization endpoint and the sign-in pages: an existing SSO session answers at once;
//! otherwise the person signs in with a form bound to his browser and to its transaction,
//! throttled per person and slowed per address.

use crate::app::App;
use crate::cookies;
use crate::extract::{PageForm, PageQuery};
use crate::pages::{self, LoginPage, Page};
use crate::throttle::{self, Address, Subject};
use crate::tx::{self, LoginTx};
use axum::extract::{ConnectInfo, FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use lanyard_core::status::{may_sign_in, SignInRefusal};
use lanyard_core::{Secret, TenantId};
use lanyard_idp::authorize::{self, AuthorizeError};
use lanyard_idp::OAuthError;
use lanyard_session::{SessionError, SsoSession};
use serde::Deserialize;
use std::net::SocketAddr;
use std::sync::Arc;

/// The caller's address for throttling: the socket peer's (never a forwarded header).
pub(crate) struct ClientAddr(pub Address);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| Address::of(c.0.ip()))
                .unwrap_or_else(Address::unknown),
        ))
    }
}

pub(crate) fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

pub(crate) fn random() -> String {
    lanyard_core::random::token(32)
}

/// Where the sign-in form of `tx` is (its sealed form, or its id once stored).
pub(crate) fn login_url(reference: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("tx", reference)
        .finish();
    format!("/login?{q}")
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
    tracing::warn!(request_id = %rid, "sign-in form refused: wrong browser or form token");
    pages::message(
        StatusCode::FORBIDDEN,
        page_for(app, tenant, "Sign-in refused", rid).await,
        "This form could not be accepted",
        "It was not sent from this sign-in page in this browser, or it has expired. Please go back to the application and try again.",
        None,
    )
}

/// A live transaction of this browser, or the page to show instead.
pub(crate) async fn own_tx(
    app: &App,
    jar: &CookieJar,
    reference: &str,
    rid: &str,
) -> Result<LoginTx, Response> {
    match tx::load(app, reference).await {
        Ok(Some(t)) if tx::is_mine(app, jar, &t) => Ok(t),
        Ok(Some(t)) => Err(refused_form(app, Some(t.tenant_id), rid).await),
        Ok(None) => Err(expired(app, rid).await),
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "sign-in transaction unavailable");
            Err(unavailable_page(app, None, rid).await)
        }
    }
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
    let Some(secret) = cookies::sso_secret(app, jar) else {
        return Ok(None);
    };
    let Some(sso) = app.sessions.sso_by_secret(&secret).await? else {
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
        app.sessions.end_sso(&sso.handle).await?;
        return Ok(None);
    }
    Ok(Some(sso))
}

/// Sends the browser to the sign-in form of a new transaction (sealed: nothing is stored).
pub(crate) async fn to_sign_in_form(app: &App, jar: CookieJar, t: &LoginTx, rid: &str) -> Response {
    match tx::seal(app, t) {
        Ok(sealed) => (jar, Redirect::to(&login_url(&sealed))).into_response(),
        Err(tx::SealError::TooLarge) => pages::message(
            StatusCode::BAD_REQUEST,
            page_for(app, Some(t.tenant_id), "Sign-in error", rid).await,
            "This sign-in link is not valid",
            "The application's request carries more than a sign-in may. Please tell the application's administrator.",
            None,
        ),
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "could not seal a sign-in");
            unavailable_page(app, Some(t.tenant_id), rid).await
        }
    }
}

/// Stores a transaction that owes a step and sends the browser to it.
pub(crate) async fn to_step(app: &App, jar: CookieJar, t: &LoginTx, rid: &str) -> Response {
    match tx::save(app, t).await {
        Ok(()) => (jar, Redirect::to(&super::mfa::step_url(t))).into_response(),
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "could not store a sign-in");
            unavailable_page(app, Some(t.tenant_id), rid).await
        }
    }
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
                let (jar, mut t) = tx::start(&app, jar, req, client.name.clone(), client.tenant_id);
                t.pending = Some(pending);
                return to_step(&app, jar, &t, &rid).await;
            }
            Ok(super::mfa::SessionStep::StepUp(_)) => {
                return to_client(OAuthError::InteractionRequired)
            }
            Ok(super::mfa::SessionStep::SignIn) => {}
            Err(e) => {
                tracing::error!(request_id = %rid, error = %e, "session check failed");
                return unavailable_page(&app, Some(client.tenant_id), &rid).await;
            }
        }
    }
    if req.prompt.none {
        return to_client(OAuthError::LoginRequired);
    }
    let (jar, t) = tx::start(&app, jar, req, client.name.clone(), client.tenant_id);
    to_sign_in_form(&app, jar, &t, &rid).await
}

#[derive(Deserialize)]
pub(crate) struct TxQuery {
    pub(crate) tx: String,
}

/// What the form shows besides the transaction: its status, the login typed so far, an error.
struct Shown<'a> {
    status: StatusCode,
    login: &'a str,
    error: Option<String>,
}

async fn login_form(
    app: &App,
    reference: &str,
    t: &LoginTx,
    shown: Shown<'_>,
    rid: &str,
) -> Response {
    let page = page_for(app, Some(t.tenant_id), "Sign in", rid).await;
    let nonce = page.nonce.clone();
    let Shown {
        status,
        login,
        error,
    } = shown;
    let form = LoginPage {
        page,
        client_name: t.client_name.clone(),
        tx: reference.to_string(),
        csrf: tx::form_token(t, "login"),
        login: login.to_string(),
        error,
    };
    let targets: Vec<String> = pages::origin(&t.req.redirect_uri).into_iter().collect();
    pages::render(status, &form, &nonce, &targets)
}

pub(crate) async fn login_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(q): PageQuery<TxQuery>,
) -> Response {
    let rid = request_id(&headers);
    let t = match own_tx(&app, &jar, &q.tx, &rid).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let hint = t.req.login_hint.clone().unwrap_or_default();
    login_form(
        &app,
        &q.tx,
        &t,
        Shown {
            status: StatusCode::OK,
            login: &hint,
            error: None,
        },
        &rid,
    )
    .await
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
    ClientAddr(addr): ClientAddr,
    jar: CookieJar,
    PageForm(f): PageForm<LoginForm>,
) -> Response {
    let rid = request_id(&headers);
    let t = match own_tx(&app, &jar, &f.tx, &rid).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !tx::form_token_ok(&t, "login", &f.csrf) {
        return refused_form(&app, Some(t.tenant_id), &rid).await;
    }
    let shown = |status, error: &str| Shown {
        status,
        login: &f.login,
        error: Some(error.to_string()),
    };
    match sign_in(&app, &t, &f, &addr).await {
        Ok(Outcome::Authenticated(user)) => {
            super::mfa::after_first_factor(&app, jar, t, &user, vec!["pwd".into()], &rid).await
        }
        Ok(Outcome::Wrong) => {
            login_form(
                &app,
                &f.tx,
                &t,
                shown(StatusCode::UNAUTHORIZED, WRONG),
                &rid,
            )
            .await
        }
        Ok(Outcome::Locked) => {
            login_form(
                &app,
                &f.tx,
                &t,
                shown(StatusCode::TOO_MANY_REQUESTS, LOCKED),
                &rid,
            )
            .await
        }
        Ok(Outcome::Refused(r)) => pages::message(
            StatusCode::FORBIDDEN,
            page_for(&app, Some(t.tenant_id), "Sign-in refused", &rid).await,
            "You cannot sign in",
            refusal_text(r),
            None,
        ),
        Ok(Outcome::Busy) => {
            let mut r = login_form(
                &app,
                &f.tx,
                &t,
                shown(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Too many people are signing in right now. Please try again in a moment.",
                ),
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
            unavailable_page(&app, Some(t.tenant_id), &rid).await
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

/// The throttling subject for a typed login: the person it names, or the text itself.
pub(crate) fn subject_of(
    user: Option<&lanyard_core::User>,
    tenant: TenantId,
    login: &str,
) -> Subject {
    match user {
        Some(u) => Subject::Person(u.id),
        None => Subject::Unknown {
            tenant: tenant.to_string(),
            login: login.to_string(),
        },
    }
}

async fn sign_in(
    app: &App,
    t: &LoginTx,
    f: &LoginForm,
    addr: &Address,
) -> Result<Outcome, SignInError> {
    let kv = app.sessions.store();
    let limits = app.limits();
    // An address past its failure limit is slowed down, never refused: the wait comes before
    // anything is checked (and before a hashing place is taken, so waiting costs nothing).
    let delay = throttle::address_delay(kv, addr).await?;
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    // A place in the hashing pool first: a sign-in refused as "busy" checks no password, so
    // it must not count against the throttle (or a rush of people would lock themselves out).
    let admission = match app.hasher.admit() {
        Ok(a) => a,
        Err(crate::hashing::HashError::Busy) => return Ok(Outcome::Busy),
        Err(e) => return Err(SignInError::Hash(e)),
    };
    let user = app.store.user_by_login(t.tenant_id, &f.login).await?;
    // Failures count against the person, whichever of his logins was typed.
    let subject = subject_of(user.as_ref(), t.tenant_id, &f.login);
    let Some(attempt) = throttle::begin(kv, &limits, &subject).await? else {
        return Ok(Outcome::Locked);
    };
    let checked = async {
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
        match verified {
            Ok(v) => Ok(Some(v)),
            Err(crate::hashing::HashError::Busy) => Ok(None),
            Err(e) => Err(SignInError::Hash(e)),
        }
    }
    .await;
    // No verdict (busy, or a store that could not answer): the attempt is taken back.
    let verified = match checked {
        Ok(Some(v)) => v,
        Ok(None) => {
            throttle::abandoned(kv, &subject).await;
            return Ok(Outcome::Busy);
        }
        Err(e) => {
            throttle::abandoned(kv, &subject).await;
            return Err(e);
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        return Ok(
            if throttle::failed(kv, &limits, &subject, addr, attempt).await? {
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
