//! The account page: a signed-in person manages his second factors — an authenticator app,
//! passkeys and security keys (several, named, removable), and recovery codes.

use super::login::{cookie, page_for, random, request_id, CSRF_COOKIE, SSO_COOKIE};
use super::mfa::{confirm_totp, enrol_page};
use crate::app::App;
use crate::extract::{ApiJson, PageForm, PageQuery};
use crate::pages::{self, AccountPage, RecoveryPage};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use axum_extra::extract::cookie::{CookieJar, SameSite};
use lanyard_core::{AuditActor, User};
use lanyard_mfa::{recovery, totp};
use lanyard_session::SsoSession;
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use subtle::ConstantTimeEq;
use webauthn_rs::prelude::{Passkey, PasskeyRegistration};

pub(crate) fn router() -> Router<Arc<App>> {
    Router::new()
        .route("/account", get(show))
        .route("/account/totp", get(totp_start).post(totp_confirm))
        .route("/account/totp/remove", post(totp_remove))
        .route("/account/passkeys/options", post(passkey_options))
        .route("/account/passkeys/finish", post(passkey_finish))
        .route("/account/passkeys/remove", post(passkey_remove))
        .route("/account/recovery", post(recovery_new))
}

/// The signed-in person, from the SSO cookie.
async fn signed_in(app: &App, jar: &CookieJar) -> Option<(SsoSession, User)> {
    let sso = app
        .sessions
        .sso(jar.get(SSO_COOKIE)?.value())
        .await
        .ok()
        .flatten()?;
    let user = app.store.user(sso.user_id).await.ok().flatten()?;
    let held: Vec<_> = app
        .store
        .roles(user.tenant_id)
        .await
        .ok()?
        .into_iter()
        .filter(|r| user.roles.contains(&r.id))
        .collect();
    lanyard_core::status::may_sign_in(user.status, &held).ok()?;
    Some((sso, user))
}

async fn not_signed_in(app: &App, rid: &str) -> Response {
    pages::message(
        StatusCode::UNAUTHORIZED,
        page_for(app, None, "Sign in first", rid).await,
        "Please sign in first",
        "Sign in through one of your training applications, then come back to this page to manage how you sign in.",
        None,
    )
}

fn csrf_ok(jar: &CookieJar, form: &str) -> bool {
    jar.get(CSRF_COOKIE).is_some_and(|c| {
        !form.is_empty() && bool::from(c.value().as_bytes().ct_eq(form.as_bytes()))
    })
}

/// The preamble of every account form: a signed-in person and a matching CSRF token.
async fn guard(
    app: &App,
    headers: &HeaderMap,
    jar: &CookieJar,
    csrf: &str,
) -> Result<(String, SsoSession, User), Response> {
    let rid = request_id(headers);
    let Some((sso, user)) = signed_in(app, jar).await else {
        return Err(not_signed_in(app, &rid).await);
    };
    if !csrf_ok(jar, csrf) {
        let page = page_for(app, None, "Refused", &rid).await;
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

async fn show(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(n): PageQuery<Notice>,
) -> Response {
    let rid = request_id(&headers);
    let Some((_, user)) = signed_in(&app, &jar).await else {
        return not_signed_in(&app, &rid).await;
    };
    let loaded = async {
        Ok::<_, lanyard_store::StoreError>((
            app.store.totp(user.id).await?.is_some(),
            app.store.passkeys(user.id).await?,
            app.store.recovery_codes_left(user.id).await?,
        ))
    }
    .await;
    let Ok((has_totp, keys, recovery_left)) = loaded else {
        return super::login::unavailable_page(&app, Some(user.tenant_id), &rid).await;
    };
    let csrf = random();
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
        login: user
            .profile
            .email
            .clone()
            .or(user.profile.username.clone())
            .unwrap_or_default(),
        csrf: csrf.clone(),
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
    let jar = jar.add(cookie(&app, CSRF_COOKIE, csrf, 3600, SameSite::Strict));
    (jar, pages::render(StatusCode::OK, &view, &nonce, &[])).into_response()
}

fn candidate_key(sso: &SsoSession) -> String {
    format!("acct_totp:{}", sso.sid)
}

async fn totp_start(State(app): State<Arc<App>>, headers: HeaderMap, jar: CookieJar) -> Response {
    let rid = request_id(&headers);
    let Some((sso, user)) = signed_in(&app, &jar).await else {
        return not_signed_in(&app, &rid).await;
    };
    let secret = totp::new_secret();
    if app
        .sessions
        .store()
        .put(
            &candidate_key(&sso),
            secret.as_bytes(),
            Duration::from_secs(900),
        )
        .await
        .is_err()
    {
        return super::login::unavailable_page(&app, Some(user.tenant_id), &rid).await;
    }
    let csrf = random();
    let login = user
        .profile
        .email
        .clone()
        .or(user.profile.username.clone())
        .unwrap_or_default();
    let jar = jar.add(cookie(
        &app,
        CSRF_COOKIE,
        csrf.clone(),
        3600,
        SameSite::Strict,
    ));
    let page = enrol_page(
        &app,
        Some(user.tenant_id),
        &login,
        &secret,
        "/account/totp",
        "",
        &csrf,
        "Use an authenticator app for the second step of signing in.",
        StatusCode::OK,
        None,
        &rid,
    )
    .await;
    (jar, page).into_response()
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
    let (rid, sso, user) = match guard(&app, &headers, &jar, &f.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Ok(Some(secret)) = app.sessions.store().get(&candidate_key(&sso)).await else {
        return Redirect::to("/account").into_response();
    };
    let secret = String::from_utf8_lossy(&secret).into_owned();
    match confirm_totp(&app, user.id, user.tenant_id, &secret, &f.code).await {
        Ok(Some(codes)) => {
            let _ = app.sessions.store().delete(&candidate_key(&sso)).await;
            let page = page_for(&app, Some(user.tenant_id), "Recovery codes", &rid).await;
            let nonce = page.nonce.clone();
            pages::render(
                StatusCode::OK,
                &RecoveryPage {
                    page,
                    codes,
                    next: "/account?done=totp".into(),
                },
                &nonce,
                &[],
            )
        }
        Ok(None) => {
            let login = user
                .profile
                .email
                .clone()
                .or(user.profile.username.clone())
                .unwrap_or_default();
            enrol_page(
                &app,
                Some(user.tenant_id),
                &login,
                &secret,
                "/account/totp",
                "",
                &f.csrf,
                "Use an authenticator app for the second step of signing in.",
                StatusCode::UNAUTHORIZED,
                Some("That code is not right. Try the newest code.".into()),
                &rid,
            )
            .await
        }
        Err(_) => super::login::unavailable_page(&app, Some(user.tenant_id), &rid).await,
    }
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
    let (rid, _, user) = match guard(&app, &headers, &jar, &f.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    match app
        .store
        .remove_totp(&AuditActor::User(user.id), user.id)
        .await
    {
        Ok(_) => Redirect::to("/account?done=removed").into_response(),
        Err(_) => super::login::unavailable_page(&app, Some(user.tenant_id), &rid).await,
    }
}

async fn passkey_remove(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<CsrfForm>,
) -> Response {
    let (rid, _, user) = match guard(&app, &headers, &jar, &f.csrf).await {
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
        Err(_) => super::login::unavailable_page(&app, Some(user.tenant_id), &rid).await,
    }
}

async fn recovery_new(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<CsrfForm>,
) -> Response {
    let (rid, _, user) = match guard(&app, &headers, &jar, &f.csrf).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let codes = recovery::generate();
    let hashes: Vec<String> = codes.iter().map(|c| recovery::hash(c)).collect();
    if app
        .store
        .set_recovery_codes(&AuditActor::User(user.id), user.id, &hashes)
        .await
        .is_err()
    {
        return super::login::unavailable_page(&app, Some(user.tenant_id), &rid).await;
    }
    let page = page_for(&app, Some(user.tenant_id), "Recovery codes", &rid).await;
    let nonce = page.nonce.clone();
    pages::render(
        StatusCode::OK,
        &RecoveryPage {
            page,
            codes,
            next: "/account".into(),
        },
        &nonce,
        &[],
    )
}

#[derive(Deserialize)]
struct RegisterStart {
    csrf: String,
    #[serde(default)]
    name: String,
}

fn json_error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

async fn passkey_options(
    State(app): State<Arc<App>>,
    jar: CookieJar,
    ApiJson(b): ApiJson<RegisterStart>,
) -> Response {
    let Some((sso, user)) = signed_in(&app, &jar).await else {
        return json_error(StatusCode::UNAUTHORIZED, "Please sign in again.");
    };
    if !csrf_ok(&jar, &b.csrf) {
        return json_error(StatusCode::FORBIDDEN, "This request could not be accepted.");
    }
    let existing: Vec<Passkey> = app
        .store
        .passkeys(user.id)
        .await
        .unwrap_or_default()
        .iter()
        .filter_map(|p| serde_json::from_str(&p.data).ok())
        .collect();
    let login = user
        .profile
        .email
        .clone()
        .or(user.profile.username.clone())
        .unwrap_or_default();
    match app.passkeys.start_registration(
        *user.id.as_uuid(),
        &login,
        &user.profile.display_name(),
        &existing,
    ) {
        Ok((options, state)) => {
            let stored = serde_json::to_vec(&state).unwrap_or_default();
            if app
                .sessions
                .store()
                .put(
                    &format!("acct_reg:{}", sso.sid),
                    &stored,
                    Duration::from_secs(300),
                )
                .await
                .is_err()
            {
                return json_error(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable.");
            }
            let _ = b.name;
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
    jar: CookieJar,
    ApiJson(b): ApiJson<RegisterFinish>,
) -> Response {
    let Some((sso, user)) = signed_in(&app, &jar).await else {
        return json_error(StatusCode::UNAUTHORIZED, "Please sign in again.");
    };
    if !csrf_ok(&jar, &b.csrf) {
        return json_error(StatusCode::FORBIDDEN, "This request could not be accepted.");
    }
    let Ok(Some(state)) = app
        .sessions
        .store()
        .take(&format!("acct_reg:{}", sso.sid))
        .await
    else {
        return json_error(StatusCode::BAD_REQUEST, "Please start again.");
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
        Err(_) => json_error(StatusCode::SERVICE_UNAVAILABLE, "Temporarily unavailable."),
    }
}
