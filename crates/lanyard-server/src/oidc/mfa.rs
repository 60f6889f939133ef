//! The second step of signing in: a TOTP code, a passkey or a recovery code; enrolment when
//! policy demands a second factor the person does not have yet; step-up inside a session; and
//! passwordless sign-in with a discoverable passkey. Failures count toward the same lockout as
//! passwords, and every use, failure and enrolment is audited.

use super::login::{
    cookie, csrf_ok, expired, load_tx, page_for, random, request_id, save_tx, unavailable_page,
    ClientIp, LoginTx, TxQuery, CSRF_COOKIE, SSO_COOKIE,
};
use crate::app::App;
use crate::extract::{ApiJson, PageForm, PageQuery};
use crate::pages::{self, EnrolPage, MfaPage, RecoveryPage};
use crate::throttle;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Json;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use lanyard_core::{AuditActor, User, UserId};
use lanyard_idp::authorize::{self, AuthRequest};
use lanyard_mfa::passkeys::{PasskeyError, Verified};
use lanyard_mfa::{recovery, totp, Factor, Requirement};
use lanyard_session::SsoSession;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use webauthn_rs::prelude::{DiscoverableAuthentication, Passkey, PasskeyAuthentication};

/// What is owed after the first step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Stage {
    /// Prove a second factor.
    Second,
    /// Set one up first (policy requires it).
    Enrol,
}

/// A person part-way through signing in.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub(crate) user_id: UserId,
    /// What the throttle counts failures against.
    pub(crate) login: String,
    /// Methods already used in this sign-in (or session, for a step-up).
    pub(crate) prior_amr: Vec<String>,
    pub(crate) stage: Stage,
    #[serde(default)]
    pub(crate) totp_candidate: Option<String>,
    #[serde(default)]
    pub(crate) passkey_state: Option<Value>,
}

/// Where the browser goes for a pending step.
pub(crate) fn step_url(tx: &LoginTx, id: &str) -> String {
    match tx.pending.as_ref().map(|p| p.stage) {
        Some(Stage::Enrol) => format!("/login/enrol?tx={id}"),
        _ => format!("/login/mfa?tx={id}"),
    }
}

struct Factors {
    totp: bool,
    passkeys: Vec<Passkey>,
    recovery_left: i64,
}

impl Factors {
    fn any(&self) -> bool {
        self.totp || !self.passkeys.is_empty()
    }
}

async fn factors(app: &App, user: UserId) -> Result<Factors, lanyard_store::StoreError> {
    let passkeys = app
        .store
        .passkeys(user)
        .await?
        .iter()
        .filter_map(|p| serde_json::from_str(&p.data).ok())
        .collect();
    Ok(Factors {
        totp: app.store.totp(user).await?.is_some(),
        passkeys,
        recovery_left: app.store.recovery_codes_left(user).await?,
    })
}

/// Whether policy (tenant, roles, client, request) demands a second factor for `user`.
async fn required(
    app: &App,
    user: &User,
    app_requires_mfa: bool,
    acr_values: &[String],
) -> Result<bool, lanyard_store::StoreError> {
    let view = app.directory.tenant(user.tenant_id).await?;
    let roles = view.role_names(&user.roles);
    Ok(
        lanyard_mfa::requirement(&view.tenant().mfa, &roles, app_requires_mfa, acr_values)
            == Requirement::Required,
    )
}

fn login_of(user: &User) -> String {
    user.profile
        .email
        .clone()
        .or_else(|| user.profile.username.clone())
        .unwrap_or_else(|| user.id.to_string())
}

/// What an existing SSO session can do for an authorization request.
pub(crate) enum SessionStep {
    /// Answer at once.
    Answer,
    /// Ask for a second factor (or an enrolment) without the password.
    StepUp(Pending),
    /// A full sign-in is needed.
    SignIn,
}

pub(crate) async fn session_step(
    app: &App,
    req: &AuthRequest,
    app_requires_mfa: bool,
    sso: &SsoSession,
) -> Result<SessionStep, lanyard_store::StoreError> {
    let Some(user) = app.store.user(sso.user_id).await? else {
        return Ok(SessionStep::SignIn);
    };
    let has_mfa = sso.amr.iter().any(|a| a == "mfa");
    let needs = !has_mfa && required(app, &user, app_requires_mfa, &req.acr_values).await?;
    let fresh = authorize::session_satisfies(req, sso, app.provider.now());
    if fresh && !needs {
        return Ok(SessionStep::Answer);
    }
    if req.prompt.login {
        return Ok(SessionStep::SignIn);
    }
    let f = factors(app, user.id).await?;
    let pending = |stage, prior_amr| Pending {
        user_id: user.id,
        login: login_of(&user),
        prior_amr,
        stage,
        totp_candidate: None,
        passkey_state: None,
    };
    Ok(if f.any() {
        SessionStep::StepUp(pending(
            Stage::Second,
            if fresh { sso.amr.clone() } else { Vec::new() },
        ))
    } else if fresh && needs {
        SessionStep::StepUp(pending(Stage::Enrol, sso.amr.clone()))
    } else {
        SessionStep::SignIn
    })
}

/// After the password: on to a second factor, an enrolment, or done.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn after_first_factor(
    app: &App,
    jar: CookieJar,
    tx_id: &str,
    mut tx: LoginTx,
    user: &User,
    login: &str,
    amr: Vec<String>,
    rid: &str,
) -> Response {
    let decided = async {
        let app_requires_mfa = match &tx.saml {
            Some(s) => {
                app.store
                    .saml_sp(&s.reply.sp)
                    .await?
                    .ok_or(lanyard_store::StoreError::NotFound("SAML SP"))?
                    .require_mfa
            }
            None => {
                app.directory
                    .client(&tx.req.client_id)
                    .await?
                    .ok_or(lanyard_store::StoreError::NotFound("client"))?
                    .require_mfa
            }
        };
        let f = factors(app, user.id).await?;
        let needs = required(app, user, app_requires_mfa, &tx.req.acr_values).await?;
        Ok::<_, lanyard_store::StoreError>(if f.any() {
            Some(Stage::Second)
        } else if needs {
            Some(Stage::Enrol)
        } else {
            None
        })
    }
    .await;
    match decided {
        Ok(None) => finish(app, jar, tx_id, &tx, user.id, login, amr, rid)
            .await
            .into_response(),
        Ok(Some(stage)) => {
            tx.pending = Some(Pending {
                user_id: user.id,
                login: login.to_string(),
                prior_amr: amr,
                stage,
                totp_candidate: None,
                passkey_state: None,
            });
            match save_tx(app, tx_id, &tx).await {
                Ok(()) => Redirect::to(&step_url(&tx, tx_id)).into_response(),
                Err(_) => unavailable_page(app, Some(tx.tenant_id), rid).await,
            }
        }
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "sign-in failed");
            unavailable_page(app, Some(tx.tenant_id), rid).await
        }
    }
}

/// Starts (or refreshes, keeping its id) the SSO session and returns the cookie jar with it.
async fn establish(
    app: &App,
    jar: CookieJar,
    tx: &LoginTx,
    user: UserId,
    login: &str,
    amr: Vec<String>,
) -> Result<(CookieJar, SsoSession), lanyard_session::SessionError> {
    throttle::succeeded(app.sessions.store(), &tx.tenant_id.to_string(), login, "").await?;
    let now = app.provider.now();
    let existing = match jar.get(SSO_COOKIE) {
        Some(c) => app
            .sessions
            .sso(c.value())
            .await?
            .filter(|s| s.user_id == user),
        None => None,
    };
    let acr = lanyard_mfa::acr(&amr).to_string();
    let expires_at = now + app.config.oidc.sso_ttl_secs;
    // A session of this person in this browser is renewed in place, keeping its apps (and an
    // app that joins it meanwhile); one that ended meanwhile is not brought back.
    let renewed = match existing {
        Some(s) => {
            app.sessions
                .update_sso(&s.sid, now, |s| {
                    s.auth_time = now;
                    s.amr = amr.clone();
                    s.acr = acr.clone();
                    s.expires_at = expires_at;
                })
                .await?
        }
        None => None,
    };
    let sso = match renewed {
        Some(s) => s,
        None => {
            let s = SsoSession {
                sid: random(),
                user_id: user,
                tenant_id: tx.tenant_id,
                auth_time: now,
                amr,
                acr,
                clients: Default::default(),
                saml: Vec::new(),
                expires_at,
            };
            app.sessions.save_sso(&s, now).await?;
            s
        }
    };
    tracing::info!(user = %user, client = %tx.req.client_id, amr = ?sso.amr, "signed in");
    let jar = jar
        .add(cookie(
            app,
            SSO_COOKIE,
            sso.sid.clone(),
            app.config.oidc.sso_ttl_secs,
            super::login::sso_same_site(app),
        ))
        .remove(Cookie::build(CSRF_COOKIE).path("/").build());
    Ok((jar, sso))
}

/// Finishes the sign-in: session, code, and the redirect back to the application.
#[allow(clippy::too_many_arguments)]
async fn finish(
    app: &App,
    jar: CookieJar,
    tx_id: &str,
    tx: &LoginTx,
    user: UserId,
    login: &str,
    amr: Vec<String>,
    rid: &str,
) -> Response {
    match redirect_after(app, jar, tx_id, tx, user, login, amr).await {
        Ok((jar, url)) => (jar, Redirect::to(&url)).into_response(),
        Err(_) => unavailable_page(app, Some(tx.tenant_id), rid).await,
    }
}

async fn redirect_after(
    app: &App,
    jar: CookieJar,
    tx_id: &str,
    tx: &LoginTx,
    user: UserId,
    login: &str,
    amr: Vec<String>,
) -> Result<(CookieJar, String), lanyard_idp::OAuthError> {
    let (jar, sso) = establish(app, jar, tx, user, login, amr).await?;
    if tx.saml.is_some() {
        // The SAML side answers from the session; the transaction goes there to be consumed.
        return Ok((jar, crate::saml::continue_url(tx_id)));
    }
    let _ = app.sessions.store().delete(&format!("login:{tx_id}")).await;
    Ok((
        jar,
        authorize::issue_code(&app.provider, &tx.req, &sso).await?,
    ))
}

fn with_factor(prior: &[String], f: Factor) -> Vec<String> {
    let mut set: BTreeSet<String> = prior.iter().cloned().collect();
    set.extend(lanyard_mfa::amr(false, Some(f)));
    set.into_iter().collect()
}

/// The preamble of the second-step forms: a live transaction at `stage` and a matching CSRF
/// token; otherwise the page to show.
async fn pending_form(
    app: &App,
    headers: &HeaderMap,
    jar: &CookieJar,
    tx_id: &str,
    csrf: &str,
    stage: Stage,
) -> Result<(String, LoginTx, Pending), Response> {
    let rid = request_id(headers);
    let Some((tx, p)) = pending_tx(app, tx_id, stage).await else {
        return Err(expired(app, &rid).await);
    };
    if !csrf_ok(jar, &tx, csrf) {
        let page = page_for(app, Some(tx.tenant_id), "Refused", &rid).await;
        return Err(pages::message(
            StatusCode::FORBIDDEN,
            page,
            "This form could not be accepted",
            "Please go back to the application and try again.",
            None,
        ));
    }
    Ok((rid, tx, p))
}

async fn pending_tx(app: &App, id: &str, stage: Stage) -> Option<(LoginTx, Pending)> {
    let tx = load_tx(app, id).await.ok().flatten()?;
    let p = tx.pending.clone().filter(|p| p.stage == stage)?;
    Some((tx, p))
}

/// The second-factor page; `shown` is its status and error message.
async fn mfa_page(
    app: &App,
    tx_id: &str,
    tx: &LoginTx,
    p: &Pending,
    jar: CookieJar,
    shown: (StatusCode, Option<String>),
    rid: &str,
) -> Response {
    let (status, error) = shown;
    let f = match factors(app, p.user_id).await {
        Ok(f) => f,
        Err(_) => return unavailable_page(app, Some(tx.tenant_id), rid).await,
    };
    let page = page_for(app, Some(tx.tenant_id), "Confirm it's you", rid).await;
    let nonce = page.nonce.clone();
    let view = MfaPage {
        page,
        client_name: tx.client_name.clone(),
        tx: tx_id.to_string(),
        csrf: tx.csrf.clone(),
        has_totp: f.totp,
        has_passkey: !f.passkeys.is_empty(),
        has_recovery: f.recovery_left > 0,
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
    (jar, pages::render(status, &view, &nonce, &targets)).into_response()
}

pub(crate) async fn mfa_get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(q): PageQuery<TxQuery>,
) -> Response {
    let rid = request_id(&headers);
    match pending_tx(&app, &q.tx, Stage::Second).await {
        Some((tx, p)) => mfa_page(&app, &q.tx, &tx, &p, jar, (StatusCode::OK, None), &rid).await,
        None => expired(&app, &rid).await,
    }
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    tx: String,
    csrf: String,
    code: Option<String>,
    recovery: Option<String>,
}

const LOCKED: &str = "Too many failed attempts. For your security, signing in is paused for a while; please try again later.";

pub(crate) async fn mfa_post(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    PageForm(f): PageForm<CodeForm>,
) -> Response {
    let (rid, tx, p) = match pending_form(&app, &headers, &jar, &f.tx, &f.csrf, Stage::Second).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let kv = app.sessions.store();
    let tenant = tx.tenant_id.to_string();
    let Ok(begun) = throttle::begin(kv, &app.limits(), &tenant, &p.login, &ip).await else {
        return unavailable_page(&app, Some(tx.tenant_id), &rid).await;
    };
    let Some(attempt) = begun else {
        return mfa_page(
            &app,
            &f.tx,
            &tx,
            &p,
            jar,
            (StatusCode::TOO_MANY_REQUESTS, Some(LOCKED.into())),
            &rid,
        )
        .await;
    };
    let actor = AuditActor::User(p.user_id);
    let outcome: Result<Option<Factor>, lanyard_store::StoreError> = async {
        if let Some(code) = f.code.as_deref().filter(|c| !c.trim().is_empty()) {
            let Some((secret, last)) = app.store.totp(p.user_id).await? else {
                return Ok(None);
            };
            let policy = app
                .store
                .tenant(tx.tenant_id)
                .await?
                .map(|t| t.mfa)
                .unwrap_or_default();
            let now = u64::try_from(app.provider.now()).unwrap_or(0);
            let last = last.and_then(|l| u64::try_from(l).ok());
            return Ok(match totp::check(&policy, &secret, code, now, last) {
                Ok(step)
                    if app
                        .store
                        .use_totp_step(p.user_id, i64::try_from(step).unwrap_or(i64::MAX))
                        .await? =>
                {
                    Some(Factor::Totp)
                }
                _ => None,
            });
        }
        if let Some(rc) = f.recovery.as_deref().filter(|c| !c.trim().is_empty()) {
            return Ok(app
                .store
                .use_recovery_code(&actor, p.user_id, &recovery::hash(rc))
                .await?
                .then_some(Factor::RecoveryCode));
        }
        Ok(None)
    }
    .await;
    match outcome {
        Ok(Some(factor)) => {
            finish(
                &app,
                jar,
                &f.tx,
                &tx,
                p.user_id,
                &p.login,
                with_factor(&p.prior_amr, factor),
                &rid,
            )
            .await
        }
        Ok(None) => {
            let _ = app
                .store
                .audit_mfa_event(
                    &actor,
                    p.user_id,
                    "mfa.failure",
                    json!({"factor": if f.code.is_some() { "totp" } else { "recovery_code" }}),
                )
                .await;
            let locked = throttle::failed(kv, &app.limits(), &tenant, &p.login, &ip, attempt)
                .await
                .unwrap_or(false);
            let (status, msg) = if locked {
                (StatusCode::TOO_MANY_REQUESTS, LOCKED)
            } else {
                (
                    StatusCode::UNAUTHORIZED,
                    "That code is not right, or has already been used.",
                )
            };
            mfa_page(&app, &f.tx, &tx, &p, jar, (status, Some(msg.into())), &rid).await
        }
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "second factor check failed");
            unavailable_page(&app, Some(tx.tenant_id), &rid).await
        }
    }
}

/// Renders the TOTP set-up page for `secret`.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn enrol_page(
    app: &App,
    tenant: Option<lanyard_core::TenantId>,
    account: &str,
    secret: &str,
    action: &str,
    tx: &str,
    csrf: &str,
    reason: &str,
    status: StatusCode,
    error: Option<String>,
    rid: &str,
) -> Response {
    let t = match tenant {
        Some(id) => app.directory.tenant(id).await.ok(),
        None => None,
    };
    let issuer = t
        .as_ref()
        .map(|t| t.tenant().name.clone())
        .unwrap_or_else(|| "Lanyard".into());
    let policy = t.map(|t| t.tenant().mfa.clone()).unwrap_or_default();
    let uri = totp::provisioning_uri(&policy, secret, &issuer, account).unwrap_or_default();
    let page = page_for(app, tenant, "Set up two-step sign-in", rid).await;
    let nonce = page.nonce.clone();
    let grouped = secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let view = EnrolPage {
        page,
        reason: reason.into(),
        action: action.into(),
        tx: tx.into(),
        csrf: csrf.into(),
        qr_svg: totp::qr_svg(&uri).unwrap_or_default(),
        secret_grouped: grouped,
        otpauth_uri: uri,
        digits: policy.totp_digits,
        error,
    };
    pages::render(status, &view, &nonce, &[])
}

const ENROL_REASON: &str =
    "Your organisation asks for a second step when you sign in. It takes a minute.";

pub(crate) async fn enrol_get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(q): PageQuery<TxQuery>,
) -> Response {
    let rid = request_id(&headers);
    let Some((mut tx, mut p)) = pending_tx(&app, &q.tx, Stage::Enrol).await else {
        return expired(&app, &rid).await;
    };
    let secret = match &p.totp_candidate {
        Some(s) => s.clone(),
        None => {
            let s = totp::new_secret();
            p.totp_candidate = Some(s.clone());
            tx.pending = Some(p.clone());
            if save_tx(&app, &q.tx, &tx).await.is_err() {
                return unavailable_page(&app, Some(tx.tenant_id), &rid).await;
            }
            s
        }
    };
    let jar = jar.add(cookie(
        &app,
        CSRF_COOKIE,
        tx.csrf.clone(),
        app.config.oidc.login_ttl_secs,
        SameSite::Strict,
    ));
    (
        jar,
        enrol_page(
            &app,
            Some(tx.tenant_id),
            &p.login,
            &secret,
            "/login/enrol",
            &q.tx,
            &tx.csrf,
            ENROL_REASON,
            StatusCode::OK,
            None,
            &rid,
        )
        .await,
    )
        .into_response()
}

/// Turns on TOTP with a confirmed `code` and makes recovery codes; returns them.
pub(crate) async fn confirm_totp(
    app: &App,
    user: UserId,
    tenant: lanyard_core::TenantId,
    secret: &str,
    code: &str,
) -> Result<Option<Vec<String>>, lanyard_store::StoreError> {
    let policy = app
        .store
        .tenant(tenant)
        .await?
        .map(|t| t.mfa)
        .unwrap_or_default();
    let now = u64::try_from(app.provider.now()).unwrap_or(0);
    let Ok(step) = totp::check(&policy, secret, code, now, None) else {
        return Ok(None);
    };
    let actor = AuditActor::User(user);
    app.store.enrol_totp(&actor, user, secret).await?;
    // The confirming code is spent: it cannot be replayed to sign in.
    app.store
        .use_totp_step(user, i64::try_from(step).unwrap_or(i64::MAX))
        .await?;
    let codes = recovery::generate();
    let hashes: Vec<String> = codes.iter().map(|c| recovery::hash(c)).collect();
    app.store.set_recovery_codes(&actor, user, &hashes).await?;
    Ok(Some(codes))
}

pub(crate) async fn enrol_post(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<CodeForm>,
) -> Response {
    let (rid, tx, p) = match pending_form(&app, &headers, &jar, &f.tx, &f.csrf, Stage::Enrol).await
    {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(secret) = p.totp_candidate.clone() else {
        return expired(&app, &rid).await;
    };
    match confirm_totp(
        &app,
        p.user_id,
        tx.tenant_id,
        &secret,
        f.code.as_deref().unwrap_or_default(),
    )
    .await
    {
        Ok(Some(codes)) => {
            let amr = with_factor(&p.prior_amr, Factor::Totp);
            let (jar, _) = match establish(&app, jar, &tx, p.user_id, &p.login, amr).await {
                Ok(x) => x,
                Err(_) => return unavailable_page(&app, Some(tx.tenant_id), &rid).await,
            };
            let page = page_for(&app, Some(tx.tenant_id), "Recovery codes", &rid).await;
            let nonce = page.nonce.clone();
            let view = RecoveryPage {
                page,
                codes,
                next: format!("/login/continue?tx={}", f.tx),
            };
            (jar, pages::render(StatusCode::OK, &view, &nonce, &[])).into_response()
        }
        Ok(None) => {
            enrol_page(
                &app,
                Some(tx.tenant_id),
                &p.login,
                &secret,
                "/login/enrol",
                &f.tx,
                &tx.csrf,
                ENROL_REASON,
                StatusCode::UNAUTHORIZED,
                Some(
                    "That code is not right. Check the time on your phone and try the newest code."
                        .into(),
                ),
                &rid,
            )
            .await
        }
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "enrolment failed");
            unavailable_page(&app, Some(tx.tenant_id), &rid).await
        }
    }
}

/// After the recovery codes: back to the application (the code is made now, so reading the
/// codes takes as long as it needs).
pub(crate) async fn continue_get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(q): PageQuery<TxQuery>,
) -> Response {
    let rid = request_id(&headers);
    let Some((tx, p)) = pending_tx(&app, &q.tx, Stage::Enrol).await else {
        return expired(&app, &rid).await;
    };
    let sso = match jar.get(SSO_COOKIE) {
        Some(c) => app
            .sessions
            .sso(c.value())
            .await
            .ok()
            .flatten()
            .filter(|s| s.user_id == p.user_id && s.amr.iter().any(|a| a == "mfa")),
        None => None,
    };
    let Some(sso) = sso else {
        return expired(&app, &rid).await;
    };
    if tx.saml.is_some() {
        return Redirect::to(&crate::saml::continue_url(&q.tx)).into_response();
    }
    let _ = app
        .sessions
        .store()
        .delete(&format!("login:{}", q.tx))
        .await;
    match authorize::issue_code(&app.provider, &tx.req, &sso).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(_) => unavailable_page(&app, Some(tx.tenant_id), &rid).await,
    }
}

#[derive(Deserialize)]
pub(crate) struct PasskeyStart {
    tx: String,
    csrf: String,
    mode: String,
}

/// The preamble of the passkey JSON calls: a live transaction and a matching CSRF token.
async fn json_tx(app: &App, jar: &CookieJar, tx_id: &str, csrf: &str) -> Result<LoginTx, Response> {
    let Ok(Some(tx)) = load_tx(app, tx_id).await else {
        return Err(json_error(
            StatusCode::BAD_REQUEST,
            "This sign-in has expired. Please start again.",
        ));
    };
    if !csrf_ok(jar, &tx, csrf) {
        return Err(json_error(
            StatusCode::FORBIDDEN,
            "This request could not be accepted.",
        ));
    }
    Ok(tx)
}

fn json_error(status: StatusCode, msg: &str) -> Response {
    (status, Json(json!({ "error": msg }))).into_response()
}

pub(crate) async fn passkey_options(
    State(app): State<Arc<App>>,
    jar: CookieJar,
    ApiJson(b): ApiJson<PasskeyStart>,
) -> Response {
    let mut tx = match json_tx(&app, &jar, &b.tx, &b.csrf).await {
        Ok(tx) => tx,
        Err(r) => return r,
    };
    let started: Result<Value, String> = match (b.mode.as_str(), tx.pending.clone()) {
        ("second", Some(mut p)) if p.stage == Stage::Second => {
            let keys = factors(&app, p.user_id)
                .await
                .map(|f| f.passkeys)
                .unwrap_or_default();
            match app.passkeys.start_authentication(&keys) {
                Ok((options, state)) => {
                    p.passkey_state = serde_json::to_value(&state).ok();
                    tx.pending = Some(p);
                    Ok(options)
                }
                Err(e) => Err(e.to_string()),
            }
        }
        ("discover", _) => match app.passkeys.start_discoverable() {
            Ok((options, state)) => {
                tx.discover = serde_json::to_value(&state).ok();
                Ok(options)
            }
            Err(e) => Err(e.to_string()),
        },
        _ => Err("No passkey sign-in is possible here.".into()),
    };
    match started {
        Ok(options) => match save_tx(&app, &b.tx, &tx).await {
            Ok(()) => Json(options).into_response(),
            Err(_) => json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is temporarily unavailable.",
            ),
        },
        Err(m) => json_error(StatusCode::BAD_REQUEST, &m),
    }
}

#[derive(Deserialize)]
pub(crate) struct PasskeyFinish {
    tx: String,
    csrf: String,
    credential: Value,
}

pub(crate) async fn passkey_finish(
    State(app): State<Arc<App>>,
    ClientIp(ip): ClientIp,
    jar: CookieJar,
    ApiJson(b): ApiJson<PasskeyFinish>,
) -> Response {
    let mut tx = match json_tx(&app, &jar, &b.tx, &b.csrf).await {
        Ok(tx) => tx,
        Err(r) => return r,
    };
    // Ceremony state is single-use.
    let second = tx.pending.as_mut().and_then(|p| p.passkey_state.take());
    let discover = tx.discover.take();
    let _ = save_tx(&app, &b.tx, &tx).await;
    let (user_id, login, prior, verified) =
        if let (Some(state), Some(p)) = (second, tx.pending.clone()) {
            let Ok(state) = serde_json::from_value::<PasskeyAuthentication>(state) else {
                return json_error(StatusCode::BAD_REQUEST, "Please try again.");
            };
            let keys = factors(&app, p.user_id)
                .await
                .map(|f| f.passkeys)
                .unwrap_or_default();
            (
                p.user_id,
                p.login.clone(),
                p.prior_amr.clone(),
                app.passkeys
                    .finish_authentication(&b.credential, &state, &keys),
            )
        } else if let Some(state) = discover {
            let Ok(state) = serde_json::from_value::<DiscoverableAuthentication>(state) else {
                return json_error(StatusCode::BAD_REQUEST, "Please try again.");
            };
            let Ok(uuid) = app.passkeys.identify(&b.credential) else {
                return json_error(StatusCode::BAD_REQUEST, "This passkey is not known here.");
            };
            let user_id = UserId::from_uuid(uuid);
            let user = match app.store.user(user_id).await {
                Ok(Some(u)) if u.tenant_id == tx.tenant_id => u,
                _ => return json_error(StatusCode::BAD_REQUEST, "This passkey is not known here."),
            };
            let held: Vec<_> = app
                .store
                .roles(user.tenant_id)
                .await
                .unwrap_or_default()
                .into_iter()
                .filter(|r| user.roles.contains(&r.id))
                .collect();
            if let Err(r) = lanyard_core::status::may_sign_in(user.status, &held) {
                return json_error(
                    StatusCode::FORBIDDEN,
                    &format!("You cannot sign in: {r}. Please contact your administrator."),
                );
            }
            let keys = factors(&app, user_id)
                .await
                .map(|f| f.passkeys)
                .unwrap_or_default();
            (
                user_id,
                login_of(&user),
                Vec::new(),
                app.passkeys
                    .finish_discoverable(&b.credential, state, &keys),
            )
        } else {
            return json_error(
                StatusCode::BAD_REQUEST,
                "Please start the passkey sign-in again.",
            );
        };
    let kv = app.sessions.store();
    let tenant = tx.tenant_id.to_string();
    let attempt = match throttle::begin(kv, &app.limits(), &tenant, &login, &ip).await {
        Ok(Some(n)) => n,
        Ok(None) => return json_error(StatusCode::TOO_MANY_REQUESTS, LOCKED),
        Err(_) => {
            return json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sign-in is temporarily unavailable.",
            )
        }
    };
    let actor = AuditActor::User(user_id);
    match verified {
        Ok(Verified {
            credential_id,
            updated,
        }) => {
            let data = updated.and_then(|p| serde_json::to_string(&p).ok());
            if app
                .store
                .touch_passkey(&credential_id, data.as_deref())
                .await
                .is_err()
            {
                return json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in is temporarily unavailable.",
                );
            }
            match redirect_after(
                &app,
                jar,
                &b.tx,
                &tx,
                user_id,
                &login,
                with_factor(&prior, Factor::Passkey),
            )
            .await
            {
                Ok((jar, url)) => (jar, Json(json!({ "redirect": url }))).into_response(),
                Err(_) => json_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Sign-in is temporarily unavailable.",
                ),
            }
        }
        Err(PasskeyError::PossiblyCloned) => {
            tracing::warn!(user = %user_id, "passkey counter went backwards: possibly cloned");
            let _ = app
                .store
                .audit_mfa_event(
                    &actor,
                    user_id,
                    "mfa.passkey.cloned",
                    json!({"factor": "passkey"}),
                )
                .await;
            let _ = throttle::failed(kv, &app.limits(), &tenant, &login, &ip, attempt).await;
            json_error(StatusCode::FORBIDDEN, "This passkey may have been copied, so it was refused. Please contact your administrator.")
        }
        Err(e) => {
            let _ = app
                .store
                .audit_mfa_event(
                    &actor,
                    user_id,
                    "mfa.failure",
                    json!({"factor": "passkey", "reason": e.to_string()}),
                )
                .await;
            let locked = throttle::failed(kv, &app.limits(), &tenant, &login, &ip, attempt)
                .await
                .unwrap_or(false);
            json_error(
                if locked {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::BAD_REQUEST
                },
                if locked {
                    LOCKED
                } else {
                    "The passkey could not be verified."
                },
            )
        }
    }
}
