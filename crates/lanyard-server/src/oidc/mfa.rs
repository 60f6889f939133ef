//! The second step of signing in: a TOTP code, a passkey or a recovery code; enrolment when
//! policy demands a second factor the person does not have yet; and step-up inside a session.
//! Failures count toward the same per-person lockout as passwords, and every use, failure and
//! enrolment is audited. Passkey sign-in is in [`super::passkey`].

use super::login::{
    expired, own_tx, page_for, refused_form, request_id, unavailable_page, ClientAddr, TxQuery,
};
use crate::app::App;
use crate::cookies;
use crate::extract::{PageForm, PageQuery};
use crate::pages::{self, EnrolPage, MfaPage, RecoveryPage};
use crate::throttle::{self, Subject};
use crate::tx::{self, LoginTx};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::cookie::CookieJar;
use lanyard_core::{AuditActor, TenantId, User, UserId};
use lanyard_idp::authorize::{self, AuthRequest};
use lanyard_mfa::{recovery, totp, Factor, Requirement};
use lanyard_session::SsoSession;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use webauthn_rs::prelude::Passkey;

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
    /// How he is shown (his email or username).
    pub(crate) login: String,
    /// Methods already used in this sign-in (or the fresh session, for a step-up).
    pub(crate) prior_amr: Vec<String>,
    pub(crate) stage: Stage,
    #[serde(default)]
    pub(crate) totp_candidate: Option<String>,
    #[serde(default)]
    pub(crate) passkey_state: Option<Value>,
}

/// Where the browser goes for a pending step of a stored transaction.
pub(crate) fn step_url(t: &LoginTx) -> String {
    match t.pending.as_ref().map(|p| p.stage) {
        Some(Stage::Enrol) => format!("/login/enrol?tx={}", t.id),
        _ => format!("/login/mfa?tx={}", t.id),
    }
}

pub(crate) struct Factors {
    pub(crate) totp: bool,
    pub(crate) passkeys: Vec<Passkey>,
    pub(crate) recovery_left: i64,
}

impl Factors {
    fn any(&self) -> bool {
        self.totp || !self.passkeys.is_empty()
    }
}

/// A person's second factors. A store failure is an error, never "none".
pub(crate) async fn factors(app: &App, user: UserId) -> Result<Factors, lanyard_store::StoreError> {
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

pub(crate) fn login_of(user: &User) -> String {
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

/// What an existing session can do. A session too old for the request (`max_age`) or one the
/// app wants renewed (`prompt=login`, `ForceAuthn`) needs a whole new sign-in, first factor
/// included: a second factor alone would report `amr`/`acr` the session no longer has. Only a
/// fresh session that lacks a second factor steps up.
pub(crate) async fn session_step(
    app: &App,
    req: &AuthRequest,
    app_requires_mfa: bool,
    sso: &SsoSession,
) -> Result<SessionStep, lanyard_store::StoreError> {
    let Some(user) = app.store.user(sso.user_id).await? else {
        return Ok(SessionStep::SignIn);
    };
    if !authorize::session_satisfies(req, sso, app.provider.now()) {
        return Ok(SessionStep::SignIn);
    }
    let has_mfa = sso.amr.iter().any(|a| a == "mfa");
    if has_mfa || !required(app, &user, app_requires_mfa, &req.acr_values).await? {
        return Ok(SessionStep::Answer);
    }
    let f = factors(app, user.id).await?;
    Ok(SessionStep::StepUp(Pending {
        user_id: user.id,
        login: login_of(&user),
        prior_amr: sso.amr.clone(),
        stage: if f.any() { Stage::Second } else { Stage::Enrol },
        totp_candidate: None,
        passkey_state: None,
    }))
}

/// After the first factor: on to a second factor, an enrolment, or done.
pub(crate) async fn after_first_factor(
    app: &App,
    jar: CookieJar,
    mut t: LoginTx,
    user: &User,
    amr: Vec<String>,
    rid: &str,
) -> Response {
    let decided = async {
        let app_requires_mfa = match &t.saml {
            Some(s) => {
                app.store
                    .saml_sp(&s.reply.sp)
                    .await?
                    .ok_or(lanyard_store::StoreError::NotFound("SAML SP"))?
                    .require_mfa
            }
            None => {
                app.directory
                    .client(&t.req.client_id)
                    .await?
                    .ok_or(lanyard_store::StoreError::NotFound("client"))?
                    .require_mfa
            }
        };
        let f = factors(app, user.id).await?;
        let needs = required(app, user, app_requires_mfa, &t.req.acr_values).await?;
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
        Ok(None) => finish(app, jar, &t, user.id, amr, rid).await,
        Ok(Some(stage)) => {
            t.pending = Some(Pending {
                user_id: user.id,
                login: login_of(user),
                prior_amr: amr,
                stage,
                totp_candidate: None,
                passkey_state: None,
            });
            super::login::to_step(app, jar, &t, rid).await
        }
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "sign-in failed");
            unavailable_page(app, Some(t.tenant_id), rid).await
        }
    }
}

/// Starts the SSO session, or renews this person's session in this browser under a new
/// cookie secret (a sign-in inside a session always changes the cookie, so one planted or
/// copied before it gains nothing). Returns the cookie jar with the session's cookie.
pub(crate) async fn establish(
    app: &App,
    jar: CookieJar,
    tenant: TenantId,
    user: UserId,
    amr: Vec<String>,
) -> Result<(CookieJar, SsoSession), lanyard_session::SessionError> {
    throttle::succeeded(app.sessions.store(), &Subject::Person(user)).await?;
    let now = app.provider.now();
    let existing = match cookies::sso_secret(app, &jar) {
        Some(secret) => app.sessions.sso_by_secret(&secret).await?,
        None => None,
    };
    let acr = lanyard_mfa::acr(&amr).to_string();
    let expires_at = now + app.config.oidc.sso_ttl_secs;
    let renewed = match existing {
        // The same person signing in again: his session (and its apps) continues.
        Some(s) if s.user_id == user && s.tenant_id == tenant => {
            app.sessions
                .rekey_sso(&s.handle, now, |s| {
                    s.auth_time = now;
                    s.amr = amr.clone();
                    s.acr = acr.clone();
                    s.expires_at = expires_at;
                })
                .await?
        }
        // Someone else's session in this browser ends: one browser, one person.
        Some(s) => {
            app.sessions.end_sso(&s.handle).await?;
            None
        }
        None => None,
    };
    let (secret, sso) = match renewed {
        Some(x) => x,
        None => {
            let (secret, handle) = lanyard_session::new_sso_secret();
            let s = SsoSession {
                sid: lanyard_session::new_sid(),
                handle,
                user_id: user,
                tenant_id: tenant,
                auth_time: now,
                amr,
                acr,
                clients: Default::default(),
                saml: Vec::new(),
                expires_at,
            };
            app.sessions.save_sso(&s, now).await?;
            (secret, s)
        }
    };
    tracing::info!(user = %user, amr = ?sso.amr, "signed in");
    Ok((cookies::with_sso(app, jar, secret), sso))
}

/// Finishes the sign-in: the session, then the answer to the app (a code for OIDC; the SAML
/// side answers from the session, so the transaction is stored for it to take).
pub(crate) async fn finish(
    app: &App,
    jar: CookieJar,
    t: &LoginTx,
    user: UserId,
    amr: Vec<String>,
    rid: &str,
) -> Response {
    match answer_url(app, jar, t, user, amr).await {
        Ok((jar, url)) => (jar, Redirect::to(&url)).into_response(),
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "finishing a sign-in failed");
            unavailable_page(app, Some(t.tenant_id), rid).await
        }
    }
}

/// The session and where the browser goes next.
pub(crate) async fn answer_url(
    app: &App,
    jar: CookieJar,
    t: &LoginTx,
    user: UserId,
    amr: Vec<String>,
) -> Result<(CookieJar, String), lanyard_idp::OAuthError> {
    let (jar, sso) = establish(app, jar, t.tenant_id, user, amr).await?;
    if t.saml.is_some() {
        tx::save(app, t).await?;
        return Ok((jar, crate::saml::continue_url(&t.id)));
    }
    tx::discard(app, t).await?;
    Ok((
        jar,
        authorize::issue_code(&app.provider, &t.req, &sso).await?,
    ))
}

pub(crate) fn with_factor(prior: &[String], f: Factor) -> Vec<String> {
    let mut set: BTreeSet<String> = prior.iter().cloned().collect();
    set.extend(lanyard_mfa::amr(false, Some(f)));
    set.into_iter().collect()
}

/// A stored transaction of this browser waiting at `stage`, or the page to show.
pub(crate) async fn pending_tx(
    app: &App,
    jar: &CookieJar,
    id: &str,
    stage: Stage,
    rid: &str,
) -> Result<(LoginTx, Pending), Response> {
    if tx::is_sealed(id) {
        return Err(expired(app, rid).await);
    }
    let t = own_tx(app, jar, id, rid).await?;
    match t.pending.clone().filter(|p| p.stage == stage) {
        Some(p) => Ok((t, p)),
        None => Err(expired(app, rid).await),
    }
}

/// [`pending_tx`] for a form post, whose token must be the page's.
async fn pending_form(
    app: &App,
    jar: &CookieJar,
    id: &str,
    csrf: &str,
    stage: Stage,
    rid: &str,
) -> Result<(LoginTx, Pending), Response> {
    let (t, p) = pending_tx(app, jar, id, stage, rid).await?;
    if !tx::form_token_ok(&t, purpose(stage), csrf) {
        return Err(refused_form(app, Some(t.tenant_id), rid).await);
    }
    Ok((t, p))
}

/// The form-token purpose of a stage's page.
pub(crate) fn purpose(stage: Stage) -> &'static str {
    match stage {
        Stage::Second => "mfa",
        Stage::Enrol => "enrol",
    }
}

/// The second-factor page; `shown` is its status and error message.
async fn mfa_page(
    app: &App,
    t: &LoginTx,
    p: &Pending,
    shown: (StatusCode, Option<String>),
    rid: &str,
) -> Response {
    let (status, error) = shown;
    let f = match factors(app, p.user_id).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "second factors unavailable");
            return unavailable_page(app, Some(t.tenant_id), rid).await;
        }
    };
    let page = page_for(app, Some(t.tenant_id), "Confirm it's you", rid).await;
    let nonce = page.nonce.clone();
    let view = MfaPage {
        page,
        client_name: t.client_name.clone(),
        tx: t.id.clone(),
        csrf: tx::form_token(t, purpose(Stage::Second)),
        has_totp: f.totp,
        has_passkey: !f.passkeys.is_empty(),
        has_recovery: f.recovery_left > 0,
        error,
    };
    let targets: Vec<String> = pages::origin(&t.req.redirect_uri).into_iter().collect();
    pages::render(status, &view, &nonce, &targets)
}

pub(crate) async fn mfa_get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(q): PageQuery<TxQuery>,
) -> Response {
    let rid = request_id(&headers);
    match pending_tx(&app, &jar, &q.tx, Stage::Second, &rid).await {
        Ok((t, p)) => mfa_page(&app, &t, &p, (StatusCode::OK, None), &rid).await,
        Err(r) => r,
    }
}

#[derive(Deserialize)]
pub(crate) struct CodeForm {
    tx: String,
    csrf: String,
    code: Option<String>,
    recovery: Option<String>,
}

pub(crate) const LOCKED: &str = "Too many failed attempts. For your security, signing in is paused for a while; please try again later.";

pub(crate) async fn mfa_post(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    ClientAddr(addr): ClientAddr,
    jar: CookieJar,
    PageForm(f): PageForm<CodeForm>,
) -> Response {
    let rid = request_id(&headers);
    let (t, p) = match pending_form(&app, &jar, &f.tx, &f.csrf, Stage::Second, &rid).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let kv = app.sessions.store();
    let limits = app.limits();
    let subject = Subject::Person(p.user_id);
    let attempt = match throttle::begin(kv, &limits, &subject).await {
        Ok(Some(n)) => n,
        Ok(None) => {
            return mfa_page(
                &app,
                &t,
                &p,
                (StatusCode::TOO_MANY_REQUESTS, Some(LOCKED.into())),
                &rid,
            )
            .await
        }
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "throttle unavailable");
            return unavailable_page(&app, Some(t.tenant_id), &rid).await;
        }
    };
    let actor = AuditActor::User(p.user_id);
    let outcome: Result<Option<Factor>, lanyard_store::StoreError> = async {
        if let Some(code) = f.code.as_deref().filter(|c| !c.trim().is_empty()) {
            let Some((secret, last)) = app.store.totp(p.user_id).await? else {
                return Ok(None);
            };
            let policy = app
                .directory
                .tenant(t.tenant_id)
                .await?
                .tenant()
                .mfa
                .clone();
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
                .use_recovery_code(&actor, p.user_id, &recovery::normalise(rc))
                .await?
                .then_some(Factor::RecoveryCode));
        }
        Ok(None)
    }
    .await;
    match outcome {
        Ok(Some(factor)) => {
            let amr = with_factor(&p.prior_amr, factor);
            finish(&app, jar, &t, p.user_id, amr, &rid).await
        }
        Ok(None) => {
            let audited = app
                .store
                .audit_mfa_event(
                    &actor,
                    p.user_id,
                    "mfa.failure",
                    json!({"factor": if f.code.is_some() { "totp" } else { "recovery_code" }}),
                )
                .await;
            let locked = match audited {
                Ok(()) => throttle::failed(kv, &limits, &subject, &addr, attempt).await,
                Err(e) => {
                    tracing::error!(request_id = %rid, error = %e, "could not audit a failure");
                    throttle::abandoned(kv, &subject).await;
                    return unavailable_page(&app, Some(t.tenant_id), &rid).await;
                }
            };
            let (status, msg) = match locked {
                Ok(true) => (StatusCode::TOO_MANY_REQUESTS, LOCKED),
                Ok(false) => (
                    StatusCode::UNAUTHORIZED,
                    "That code is not right, or has already been used.",
                ),
                Err(e) => {
                    tracing::error!(request_id = %rid, error = %e, "throttle unavailable");
                    return unavailable_page(&app, Some(t.tenant_id), &rid).await;
                }
            };
            mfa_page(&app, &t, &p, (status, Some(msg.into())), &rid).await
        }
        Err(e) => {
            // The store could not answer: no verdict, so nothing counts against the person.
            tracing::error!(request_id = %rid, error = %e, "second factor check failed");
            throttle::abandoned(kv, &subject).await;
            unavailable_page(&app, Some(t.tenant_id), &rid).await
        }
    }
}

/// What the TOTP set-up page shows and where it posts.
pub(crate) struct EnrolView<'a> {
    pub(crate) tenant: Option<TenantId>,
    pub(crate) account: &'a str,
    pub(crate) secret: &'a str,
    pub(crate) action: &'a str,
    pub(crate) tx: &'a str,
    pub(crate) csrf: &'a str,
    pub(crate) reason: &'a str,
}

/// Renders the TOTP set-up page.
pub(crate) async fn enrol_page(
    app: &App,
    v: EnrolView<'_>,
    status: StatusCode,
    error: Option<String>,
    rid: &str,
) -> Response {
    let t = match v.tenant {
        Some(id) => app.directory.tenant(id).await.ok(),
        None => None,
    };
    let issuer = t
        .as_ref()
        .map(|t| t.tenant().name.clone())
        .unwrap_or_else(|| "Lanyard".into());
    let policy = t.map(|t| t.tenant().mfa.clone()).unwrap_or_default();
    let uri = totp::provisioning_uri(&policy, v.secret, &issuer, v.account).unwrap_or_default();
    let page = page_for(app, v.tenant, "Set up two-step sign-in", rid).await;
    let nonce = page.nonce.clone();
    let grouped = v
        .secret
        .as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(" ");
    let view = EnrolPage {
        page,
        reason: v.reason.into(),
        action: v.action.into(),
        tx: v.tx.into(),
        csrf: v.csrf.into(),
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

fn sign_in_enrol<'a>(
    t: &'a LoginTx,
    p: &'a Pending,
    secret: &'a str,
    csrf: &'a str,
) -> EnrolView<'a> {
    EnrolView {
        tenant: Some(t.tenant_id),
        account: &p.login,
        secret,
        action: "/login/enrol",
        tx: &t.id,
        csrf,
        reason: ENROL_REASON,
    }
}

pub(crate) async fn enrol_get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(q): PageQuery<TxQuery>,
) -> Response {
    let rid = request_id(&headers);
    let (mut t, mut p) = match pending_tx(&app, &jar, &q.tx, Stage::Enrol, &rid).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let secret = match &p.totp_candidate {
        Some(s) => s.clone(),
        None => {
            let s = totp::new_secret();
            p.totp_candidate = Some(s.clone());
            t.pending = Some(p.clone());
            if let Err(e) = tx::save(&app, &t).await {
                tracing::error!(request_id = %rid, error = %e, "could not store a sign-in");
                return unavailable_page(&app, Some(t.tenant_id), &rid).await;
            }
            s
        }
    };
    let csrf = tx::form_token(&t, purpose(Stage::Enrol));
    enrol_page(
        &app,
        sign_in_enrol(&t, &p, &secret, &csrf),
        StatusCode::OK,
        None,
        &rid,
    )
    .await
}

/// Turns on TOTP with a confirmed `code` and makes recovery codes; returns them.
pub(crate) async fn confirm_totp(
    app: &App,
    user: UserId,
    tenant: TenantId,
    secret: &str,
    code: &str,
) -> Result<Option<Vec<String>>, lanyard_store::StoreError> {
    let policy = app.directory.tenant(tenant).await?.tenant().mfa.clone();
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
    Ok(Some(new_recovery_codes(app, user).await?))
}

/// Replaces a person's recovery codes; returns the new ones (shown once, stored keyed-hashed).
pub(crate) async fn new_recovery_codes(
    app: &App,
    user: UserId,
) -> Result<Vec<String>, lanyard_store::StoreError> {
    let codes = recovery::generate();
    let normalised: Vec<String> = codes.iter().map(|c| recovery::normalise(c)).collect();
    app.store
        .set_recovery_codes(&AuditActor::User(user), user, &normalised)
        .await?;
    Ok(codes)
}

pub(crate) async fn enrol_post(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageForm(f): PageForm<CodeForm>,
) -> Response {
    let rid = request_id(&headers);
    let (t, p) = match pending_form(&app, &jar, &f.tx, &f.csrf, Stage::Enrol, &rid).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Some(secret) = p.totp_candidate.clone() else {
        return expired(&app, &rid).await;
    };
    let code = f.code.as_deref().unwrap_or_default();
    match confirm_totp(&app, p.user_id, t.tenant_id, &secret, code).await {
        Ok(Some(codes)) => {
            let amr = with_factor(&p.prior_amr, Factor::Totp);
            let jar = match establish(&app, jar, t.tenant_id, p.user_id, amr).await {
                Ok((jar, _)) => jar,
                Err(e) => {
                    tracing::error!(request_id = %rid, error = %e, "could not start the session");
                    return unavailable_page(&app, Some(t.tenant_id), &rid).await;
                }
            };
            let page = page_for(&app, Some(t.tenant_id), "Recovery codes", &rid).await;
            let nonce = page.nonce.clone();
            let view = RecoveryPage {
                page,
                codes,
                next: format!("/login/continue?tx={}", t.id),
            };
            (jar, pages::render(StatusCode::OK, &view, &nonce, &[])).into_response()
        }
        Ok(None) => {
            enrol_page(
                &app,
                sign_in_enrol(&t, &p, &secret, &f.csrf),
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
            unavailable_page(&app, Some(t.tenant_id), &rid).await
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
    let (t, p) = match pending_tx(&app, &jar, &q.tx, Stage::Enrol, &rid).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let sso = match cookies::sso_secret(&app, &jar) {
        Some(secret) => match app.sessions.sso_by_secret(&secret).await {
            Ok(s) => s.filter(|s| s.user_id == p.user_id && s.amr.iter().any(|a| a == "mfa")),
            Err(e) => {
                tracing::error!(request_id = %rid, error = %e, "session unavailable");
                return unavailable_page(&app, Some(t.tenant_id), &rid).await;
            }
        },
        None => None,
    };
    let Some(sso) = sso else {
        return expired(&app, &rid).await;
    };
    if t.saml.is_some() {
        return Redirect::to(&crate::saml::continue_url(&t.id)).into_response();
    }
    let issued = async {
        tx::discard(&app, &t).await?;
        authorize::issue_code(&app.provider, &t.req, &sso).await
    }
    .await;
    match issued {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => {
            tracing::error!(request_id = %rid, error = %e, "could not answer the application");
            unavailable_page(&app, Some(t.tenant_id), &rid).await
        }
    }
}
