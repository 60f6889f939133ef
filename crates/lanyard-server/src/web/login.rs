//! The sign-in page: the person signs in with a form bound to his browser and to its
//! journey, throttled per person and slowed per address. A passed password enters the
//! journey through [`flow::first_factor`].

use super::{
    moved_page, own_journey, page_for, refused_form, request_id, trouble_page, ClientAddr,
};
use crate::app::App;
use crate::extract::{PageForm, PageQuery};
use crate::pages::{self, LoginPage};
use crate::signin::flow::{self, Method};
use crate::signin::journey::{self, Journey};
use crate::throttle::{self, Address, Subject};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use lanyard_core::status::{may_sign_in, SignInRefusal};
use lanyard_core::{Secret, TenantId};
use lanyard_session::SessionError;
use serde::Deserialize;
use std::sync::Arc;

/// What the form shows besides the transaction: its status, the login typed so far, an error.
struct Shown<'a> {
    status: StatusCode,
    login: &'a str,
    error: Option<String>,
}

/// Which form the page shows. A tenant with a connection that lists email domains asks for
/// the email or username first (home-realm discovery), then for the password; a tenant with
/// nothing to discover asks for both at once.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Step {
    Both,
    Identifier,
    Password,
}

impl Step {
    /// The step the form shows for `login` (typed or hinted) in a tenant that does
    /// (`discovers`) or does not use identifier-first sign-in.
    fn for_login(discovers: bool, login: &str) -> Self {
        match (discovers, login.trim().is_empty()) {
            (false, _) => Step::Both,
            (true, true) => Step::Identifier,
            (true, false) => Step::Password,
        }
    }
}

async fn login_form(
    app: &App,
    reference: &str,
    t: &Journey,
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
    let discovers = crate::signin::upstreams::discovers(app, t).await;
    let step = Step::for_login(discovers, login);
    let form = LoginPage {
        page,
        client_name: t.app_name.clone(),
        tx: reference.to_string(),
        csrf: journey::form_token(t, "login"),
        login: login.to_string(),
        error,
        upstreams: crate::signin::upstreams::buttons(app, t, reference).await,
        ask_login: step != Step::Password,
        ask_password: step != Step::Identifier,
        other_account: (step == Step::Password).then(|| other_account_url(reference)),
    };
    let mut targets: Vec<String> = pages::origin(t.origin.return_url()).into_iter().collect();
    targets.extend(crate::signin::upstreams::form_targets(app, t).await);
    pages::render(status, &form, &nonce, &targets)
}

/// The identifier step again, the hint forgotten ("Use another account").
fn other_account_url(reference: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("tx", reference)
        .append_pair("other", "1")
        .finish();
    format!("/login?{q}")
}

#[derive(Deserialize)]
pub(crate) struct LoginQuery {
    tx: String,
    /// Set by "Use another account": the app's login hint is not used.
    other: Option<String>,
}

pub(crate) async fn login_page(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(q): PageQuery<LoginQuery>,
) -> Response {
    let rid = request_id(&headers);
    let t = match own_journey(&app, &jar, &q.tx, &rid).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let hint = match q.other {
        Some(_) => String::new(),
        None => t.wants.login_hint.clone().unwrap_or_default(),
    };
    // A hinted login of a listed domain goes straight to its employer, as a typed one does.
    if !hint.is_empty() {
        match crate::signin::upstreams::discovered(&app, &t, &q.tx, &hint).await {
            Ok(Some(url)) => return axum::response::Redirect::to(&url).into_response(),
            Ok(None) => {}
            Err(e) => return trouble_page(&app, Some(t.tenant_id), e, &rid).await,
        }
    }
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
    /// Absent on the identifier step of identifier-first sign-in.
    #[serde(default)]
    password: Option<String>,
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
    seen: super::Seen,
    jar: CookieJar,
    PageForm(f): PageForm<LoginForm>,
) -> Response {
    let rid = request_id(&headers);
    let t = match own_journey(&app, &jar, &f.tx, &rid).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    if !journey::form_token_ok(&t, "login", &f.csrf) {
        return refused_form(&app, Some(t.tenant_id), &rid).await;
    }
    // Home-realm discovery: people of a domain a connection lists sign in at their employer.
    match crate::signin::upstreams::discovered(&app, &t, &f.tx, &f.login).await {
        Ok(Some(url)) => return axum::response::Redirect::to(&url).into_response(),
        Ok(None) => {}
        Err(e) => return trouble_page(&app, Some(t.tenant_id), e, &rid).await,
    }
    let shown = |status, error: &str| Shown {
        status,
        login: &f.login,
        error: Some(error.to_string()),
    };
    // The identifier step of identifier-first sign-in, done: now the password. (Nothing here
    // says whether the login exists.)
    if f.password.is_none() && crate::signin::upstreams::discovers(&app, &t).await {
        let shown = match f.login.trim().is_empty() {
            true => shown(StatusCode::BAD_REQUEST, "Enter your email or username."),
            false => Shown {
                status: StatusCode::OK,
                login: &f.login,
                error: None,
            },
        };
        return login_form(&app, &f.tx, &t, shown, &rid).await;
    }
    let result = sign_in(&app, &t, &f, &addr).await;
    app.metrics.sign_in(
        "password",
        match &result {
            Ok(Outcome::Authenticated(_)) => "accepted",
            Ok(Outcome::Wrong) => "wrong",
            Ok(Outcome::Locked) => "locked",
            Ok(Outcome::Refused(_)) => "refused",
            Ok(Outcome::Busy) => {
                app.metrics.hashing_refused();
                "busy"
            }
            Err(_) => "unavailable",
        },
    );
    let refusal = match &result {
        Ok(Outcome::Wrong) => Some("wrong_password"),
        Ok(Outcome::Locked) => Some("locked"),
        Ok(Outcome::Refused(r)) => Some(match r {
            SignInRefusal::Invited => "invited",
            SignInRefusal::Suspended => "suspended",
            SignInRefusal::Archived => "archived",
            SignInRefusal::NoSignInRole => "no_sign_in_role",
        }),
        _ => None,
    };
    if let Some(reason) = refusal {
        // Off the request path: looking the login up must not make a known person's refusal
        // slower than an unknown one's (the answer says nothing about which it was).
        let (app, seen, tenant, login, client) = (
            app.clone(),
            seen.clone(),
            t.tenant_id,
            f.login.trim().to_string(),
            flow::app_of(&t),
        );
        tokio::spawn(async move {
            // The person, when the login names one; else what was typed.
            let user = app
                .store
                .user_by_login(tenant, &login)
                .await
                .ok()
                .flatten()
                .map(|u| u.id);
            let record = lanyard_store::NewSignIn {
                tenant_id: Some(tenant),
                user_id: user,
                login: user.is_none().then_some(login),
                outcome: "refused",
                method: "password".into(),
                reason: Some(reason.into()),
                app: Some(client),
                ..Default::default()
            };
            flow::record(&app, &seen, record);
        });
    }
    match result {
        Ok(Outcome::Authenticated(user)) => {
            let tenant = t.tenant_id;
            let moved = flow::first_factor(&app, jar, t, &user, Method::Password, &seen).await;
            moved_page(&app, tenant, moved, &rid).await
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
        Err(e) => trouble_page(&app, Some(t.tenant_id), e.into(), &rid).await,
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

impl From<SignInError> for flow::Trouble {
    fn from(e: SignInError) -> Self {
        flow::Trouble::Unavailable(e.to_string())
    }
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
    t: &Journey,
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
        let password = Secret::new(f.password.clone().unwrap_or_default());
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
