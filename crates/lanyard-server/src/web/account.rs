//! The account page: a signed-in person manages his second factors — an authenticator app,
//! passkeys and security keys (several, named, removable), and recovery codes.
//!
//! Every form carries a token bound to the SSO session and to that form (see [`crate::csrf`]):
//! no other page, tab of another session or earlier sign-in can make one.

use super::mfa::{confirm_totp, enrol_page, new_recovery_codes, EnrolView};
use super::{page_for, request_id, unavailable_page};
use crate::app::App;
use crate::cookies;
use crate::csrf;
use crate::extract::{ApiJson, PageForm, PageQuery};
use crate::pages::{self, AccountPage, RecoveryPage};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::cookie::CookieJar;
use lanyard_core::{AuditActor, User};
use lanyard_mfa::totp;
use lanyard_session::SsoSession;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use webauthn_rs::prelude::{Passkey, PasskeyRegistration};

pub(crate) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/", get(home))
        .route("/account", get(show))
        .route("/account/totp", get(totp_start).post(totp_confirm))
        .route("/account/totp/remove", post(totp_remove))
        .route("/account/passkeys/options", post(passkey_options))
        .route("/account/passkeys/finish", post(passkey_finish))
        .route("/account/passkeys/remove", post(passkey_remove))
        .route("/account/recovery", post(recovery_new))
}

/// The forms of the account pages, each with its own token.
const TOTP_ADD: &str = "account.totp.add";
const TOTP_REMOVE: &str = "account.totp.remove";
const PASSKEY_ADD: &str = "account.passkey.add";
const PASSKEY_REMOVE: &str = "account.passkey.remove";
const RECOVERY: &str = "account.recovery";

fn form_token(sso: &SsoSession, purpose: &str) -> String {
    csrf::token(&sso.handle, purpose)
}

/// Why there is no signed-in person to show.
enum NoPerson {
    /// No session (or the person may no longer sign in).
    SignedOut,
    /// The store could not tell.
    Unavailable,
}

/// The signed-in person, from the SSO cookie.
async fn signed_in(app: &App, jar: &CookieJar, rid: &str) -> Result<(SsoSession, User), NoPerson> {
    let secret = cookies::sso_secret(app, jar).ok_or(NoPerson::SignedOut)?;
    let looked_up = async {
        let Some(sso) = app.sessions.sso_by_secret(&secret).await? else {
            return Ok(None);
        };
        let Some(user) = app.store.user(sso.user_id).await? else {
            return Ok(None);
        };
        let view = app.directory.tenant(user.tenant_id).await?;
        let held: Vec<_> = view.held(&user.roles).cloned().collect();
        Ok::<_, anyhow::Error>(
            lanyard_core::status::may_sign_in(user.status, &held)
                .ok()
                .map(|_| (sso, user)),
        )
    }
    .await;
    match looked_up {
        Ok(Some(x)) => Ok(x),
        Ok(None) => Err(NoPerson::SignedOut),
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "account: session or person unavailable");
            Err(NoPerson::Unavailable)
        }
    }
}

/// The root URL, for a person who types the address: his account when signed in, otherwise
/// where to start (Lanyard is signed in to through the training apps) and the administrators'
/// way in.
async fn home(
    axum::extract::State(app): axum::extract::State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
) -> Response {
    let rid = request_id(&headers);
    match signed_in(&app, &jar, &rid).await {
        Ok(_) => Redirect::to("/account").into_response(),
        Err(NoPerson::Unavailable) => unavailable_page(&app, None, &rid).await,
        Err(NoPerson::SignedOut) => pages::message(
            StatusCode::OK,
            page_for(&app, None, "Lanyard", &rid).await,
            "Single sign-on for your training",
            "You sign in here through your training applications (your learning platform, \
             booking or records system): open one of them and choose to sign in. Once signed \
             in, this address shows your account, where you manage your passkeys and \
             authenticator app. Administrators: the admin API is described at \
             /admin/api/v1/openapi.json.",
            None,
        ),
    }
}

async fn no_person_page(app: &App, why: NoPerson, rid: &str) -> Response {
    match why {
        NoPerson::SignedOut => pages::message(
            StatusCode::UNAUTHORIZED,
            page_for(app, None, "Sign in first", rid).await,
            "Please sign in first",
            "Sign in through one of your training applications, then come back to this page to manage how you sign in.",
            None,
        ),
        NoPerson::Unavailable => unavailable_page(app, None, rid).await,
    }
}

fn no_person_json(why: NoPerson) -> Response {
    match why {
        NoPerson::SignedOut => json_error(StatusCode::UNAUTHORIZED, "Please sign in again."),
        NoPerson::Unavailable => {
            json_error(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable.")
        }
    }
}

/// The preamble of every account form: a signed-in person and this form's token.
async fn guard(
    app: &App,
    headers: &HeaderMap,
    jar: &CookieJar,
    purpose: &str,
    token: &str,
) -> Result<(String, SsoSession, User), Response> {
    let rid = request_id(headers);
    let (sso, user) = match signed_in(app, jar, &rid).await {
        Ok(x) => x,
        Err(why) => return Err(no_person_page(app, why, &rid).await),
    };
    if !csrf::verify(&sso.handle, purpose, token) {
        tracing::warn!(request_id = %rid, form = purpose, "account form refused: wrong form token");
        let page = page_for(app, Some(user.tenant_id), "Refused", &rid).await;
        return Err(pages::message(StatusCode::FORBIDDEN, page, "This form could not be accepted", "It was not sent from your account page, or it has expired. Please open the page again.", None));
    }
    Ok((rid, sso, user))
}

fn fmt_ms(ms: i64) -> String {
    let t = lanyard_core::clock::from_millis(ms);
    format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day())
}

#[derive(Deserialize)]
struct Notice {
    added: Option<String>,
    done: Option<String>,
}

fn login_shown(user: &User) -> String {
    user.profile
        .email
        .clone()
        .or(user.profile.username.clone())
        .unwrap_or_default()
}

async fn show(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(n): PageQuery<Notice>,
) -> Response {
    let rid = request_id(&headers);
    let (sso, user) = match signed_in(&app, &jar, &rid).await {
        Ok(x) => x,
        Err(why) => return no_person_page(&app, why, &rid).await,
    };
    let loaded = async {
        Ok::<_, lanyard_store::StoreError>((
            app.store.totp(user.id).await?.is_some(),
            app.store.passkeys(user.id).await?,
            app.store.recovery_codes_left(user.id).await?,
        ))
    }
    .await;
    let (has_totp, keys, recovery_left) = match loaded {
        Ok(x) => x,
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "account: factors unavailable");
            return unavailable_page(&app, Some(user.tenant_id), &rid).await;
        }
    };
    let page = page_for(&app, Some(user.tenant_id), "Sign-in methods", &rid).await;
    let nonce = page.nonce.clone();
    let notice = match (n.added, n.done) {
        (Some(_), _) => Some("Your passkey has been added.".to_string()),
        (_, Some(d)) if d == "totp" => Some("Your authenticator app is set up.".to_string()),
        (_, Some(d)) if d == "removed" => Some("Removed.".to_string()),
        _ => None,
    };
    let view = AccountPage {
        page,
        name: user.profile.display_name(),
        login: login_shown(&user),
        csrf_totp_remove: form_token(&sso, TOTP_REMOVE),
        csrf_passkey_add: form_token(&sso, PASSKEY_ADD),
        csrf_passkey_remove: form_token(&sso, PASSKEY_REMOVE),
        csrf_recovery: form_token(&sso, RECOVERY),
        has_totp,
        passkeys: keys
            .iter()
            .map(|k| {
                (
                    k.name.clone(),
                    k.cred_id.clone(),
                    fmt_ms(k.created_at),
                    k.last_used_at.map(fmt_ms),
                )
            })
            .collect(),
        recovery_left,
        notice,
    };
    pages::render(StatusCode::OK, &view, &nonce, &[])
}

fn candidate_key(sso: &SsoSession) -> String {
    format!("acct_totp:{}", sso.handle)
}

const TOTP_REASON: &str = "Use an authenticator app for the second step of signing in.";

async fn totp_start(State(app): State<Arc<App>>, headers: HeaderMap, jar: CookieJar) -> Response {
    let rid = request_id(&headers);
    let (sso, user) = match signed_in(&app, &jar, &rid).await {
        Ok(x) => x,
        Err(why) => return no_person_page(&app, why, &rid).await,
    };
    let secret = totp::new_secret();
    if let Err(e) = app
        .sessions
        .store()
        .put(
            &candidate_key(&sso),
            secret.as_bytes(),
            Duration::from_secs(900),
        )
        .await
    {
        tracing::error!(request_id = %rid, error = %e, "account: could not keep a TOTP candidate");
        return unavailable_page(&app, Some(user.tenant_id), &rid).await;
    }
    let csrf = form_token(&sso, TOTP_ADD);
    let login = login_shown(&user);
    enrol_page(
        &app,
        account_enrol(&user, &login, &secret, &csrf),
        StatusCode::OK,
        None,
        &rid,
    )
    .await
}

fn account_enrol<'a>(user: &User, login: &'a str, secret: &'a str, csrf: &'a str) -> EnrolView<'a> {
    EnrolView {
        tenant: Some(user.tenant_id),
        account: login,
        secret,
        action: "/account/totp",
        tx: "",
        csrf,
        reason: TOTP_REASON,
    }
}

#[derive(Deserialize)]
struct CodeForm {
    csrf: String,
    code: String,
}

async fn totp_confirm(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<CodeForm>,
) -> Response {
    let (rid, sso, user) = match guard(&app, &headers, &jar, TOTP_ADD, &f.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let secret = match app.sessions.store().get(&candidate_key(&sso)).await {
        Ok(Some(s)) => String::from_utf8_lossy(&s).into_owned(),
        Ok(None) => return Redirect::to("/account").into_response(),
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "account: TOTP candidate unavailable");
            return unavailable_page(&app, Some(user.tenant_id), &rid).await;
        }
    };
    match confirm_totp(&app, user.id, user.tenant_id, &secret, &f.code).await {
        Ok(Some(codes)) => {
            let _ = app.sessions.store().delete(&candidate_key(&sso)).await;
            recovery_page(&app, &user, codes, "/account?done=totp", &rid).await
        }
        Ok(None) => {
            let login = login_shown(&user);
            enrol_page(
                &app,
                account_enrol(&user, &login, &secret, &f.csrf),
                StatusCode::UNAUTHORIZED,
                Some("That code is not right. Try the newest code.".into()),
                &rid,
            )
            .await
        }
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "account: TOTP enrolment failed");
            unavailable_page(&app, Some(user.tenant_id), &rid).await
        }
    }
}

async fn recovery_page(
    app: &App,
    user: &User,
    codes: Vec<String>,
    next: &str,
    rid: &str,
) -> Response {
    let page = page_for(app, Some(user.tenant_id), "Recovery codes", rid).await;
    let nonce = page.nonce.clone();
    pages::render(
        StatusCode::OK,
        &RecoveryPage {
            page,
            codes,
            next: next.into(),
        },
        &nonce,
        &[],
    )
}

#[derive(Deserialize)]
struct CsrfForm {
    csrf: String,
    cred_id: Option<String>,
}

async fn totp_remove(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<CsrfForm>,
) -> Response {
    let (rid, _, user) = match guard(&app, &headers, &jar, TOTP_REMOVE, &f.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match app
        .store
        .remove_totp(&AuditActor::User(user.id), user.id)
        .await
    {
        Ok(_) => Redirect::to("/account?done=removed").into_response(),
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "account: could not remove TOTP");
            unavailable_page(&app, Some(user.tenant_id), &rid).await
        }
    }
}

async fn passkey_remove(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<CsrfForm>,
) -> Response {
    let (rid, _, user) = match guard(&app, &headers, &jar, PASSKEY_REMOVE, &f.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match app
        .store
        .remove_passkey(
            &AuditActor::User(user.id),
            user.id,
            f.cred_id.as_deref().unwrap_or_default(),
        )
        .await
    {
        Ok(_) => Redirect::to("/account?done=removed").into_response(),
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "account: could not remove a passkey");
            unavailable_page(&app, Some(user.tenant_id), &rid).await
        }
    }
}

async fn recovery_new(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<CsrfForm>,
) -> Response {
    let (rid, _, user) = match guard(&app, &headers, &jar, RECOVERY, &f.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match new_recovery_codes(&app, user.id).await {
        Ok(codes) => recovery_page(&app, &user, codes, "/account", &rid).await,
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "account: could not make recovery codes");
            unavailable_page(&app, Some(user.tenant_id), &rid).await
        }
    }
}

#[derive(Deserialize)]
struct RegisterStart {
    csrf: String,
}

fn json_error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

/// The preamble of the passkey calls: a signed-in person and the add form's token.
async fn json_guard(
    app: &App,
    headers: &HeaderMap,
    jar: &CookieJar,
    token: &str,
) -> Result<(String, SsoSession, User), Response> {
    let rid = request_id(headers);
    let (sso, user) = signed_in(app, jar, &rid).await.map_err(no_person_json)?;
    if !csrf::verify(&sso.handle, PASSKEY_ADD, token) {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "This request could not be accepted.",
        ));
    }
    Ok((rid, sso, user))
}

async fn passkey_options(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(b): ApiJson<RegisterStart>,
) -> Response {
    let (rid, sso, user) = match json_guard(&app, &headers, &jar, &b.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let existing: Vec<Passkey> = match app.store.passkeys(user.id).await {
        Ok(keys) => keys
            .iter()
            .filter_map(|p| serde_json::from_str(&p.data).ok())
            .collect(),
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "account: passkeys unavailable");
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable.");
        }
    };
    let login = login_shown(&user);
    match app.passkeys.start_registration(
        *user.id.as_uuid(),
        &login,
        &user.profile.display_name(),
        &existing,
    ) {
        Ok((options, state)) => {
            let stored = serde_json::to_vec(&state).unwrap_or_default();
            if let Err(e) = app
                .sessions
                .store()
                .put(
                    &format!("acct_reg:{}", sso.handle),
                    &stored,
                    Duration::from_secs(300),
                )
                .await
            {
                tracing::error!(request_id = %rid, error = %e, "account: could not keep a registration");
                return json_error(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable.");
            }
            Json(options).into_response()
        }
        Err(e) => json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    }
}

#[derive(Deserialize)]
struct RegisterFinish {
    csrf: String,
    name: String,
    credential: Value,
}

async fn passkey_finish(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    ApiJson(b): ApiJson<RegisterFinish>,
) -> Response {
    let (rid, sso, user) = match json_guard(&app, &headers, &jar, &b.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let state = match app
        .sessions
        .store()
        .take(&format!("acct_reg:{}", sso.handle))
        .await
    {
        Ok(Some(s)) => s,
        Ok(None) => return json_error(StatusCode::BAD_REQUEST, "Please start again."),
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "account: registration unavailable");
            return json_error(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable.");
        }
    };
    let Ok(state) = serde_json::from_slice::<PasskeyRegistration>(&state) else {
        return json_error(StatusCode::BAD_REQUEST, "Please start again.");
    };
    let key = match app.passkeys.finish_registration(&b.credential, &state) {
        Ok(k) => k,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let data = serde_json::to_string(&key).unwrap_or_default();
    match app
        .store
        .add_passkey(
            &AuditActor::User(user.id),
            user.id,
            &lanyard_mfa::passkeys::credential_id(&key),
            &b.name,
            &data,
        )
        .await
    {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(lanyard_store::StoreError::Invalid(e)) => json_error(
            StatusCode::BAD_REQUEST,
            &e.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "account: could not add a passkey");
            json_error(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable.")
        }
    }
}
