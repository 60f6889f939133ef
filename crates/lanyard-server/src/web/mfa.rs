//! The second step of signing in: a TOTP code, a passkey or a recovery code; enrolment when
//! policy demands a second factor the person does not have yet; and step-up inside a session.
//! Failures count toward the same per-person lockout as passwords, and every use, failure and
//! enrolment is audited. Passkey sign-in is in [`super::passkey`].

use super::{
    expired, moved_page, own_journey, page_for, refused_form, request_id, trouble_page,
    unavailable_page, ClientAddr, TxQuery,
};
use crate::app::App;
use crate::extract::{PageForm, PageQuery};
use crate::pages::{self, EnrolPage, MfaPage, RecoveryPage};
use crate::signin::flow::{self, factors};
use crate::signin::journey::{self, Journey, Person, Stage, Step};
use crate::throttle::{self, Subject};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum_extra::extract::cookie::CookieJar;
use lanyard_core::{AuditActor, TenantId, UserId};
use lanyard_mfa::{recovery, totp, Factor};
use serde::Deserialize;
use serde_json::json;
use std::sync::Arc;

/// A stored journey of this browser waiting at `step`, or the page to show.
pub(crate) async fn at_step(
    app: &App,
    jar: &CookieJar,
    id: &str,
    step: Step,
    rid: &str,
) -> Result<Journey, Response> {
    if journey::is_sealed(id) {
        return Err(expired(app, rid).await);
    }
    let j = own_journey(app, jar, id, rid).await?;
    if j.step() != Some(step) {
        return Err(expired(app, rid).await);
    }
    Ok(j)
}

/// [`at_step`] for a form post, whose token must be the page's.
async fn step_form(
    app: &App,
    jar: &CookieJar,
    id: &str,
    csrf: &str,
    step: Step,
    rid: &str,
) -> Result<(Journey, Person), Response> {
    let j = at_step(app, jar, id, step, rid).await?;
    if !journey::form_token_ok(&j, purpose(step), csrf) {
        return Err(refused_form(app, Some(j.tenant_id), rid).await);
    }
    match j.person().cloned() {
        Some(p) => Ok((j, p)),
        None => Err(expired(app, rid).await),
    }
}

/// The form-token purpose of a step's page.
pub(crate) fn purpose(step: Step) -> &'static str {
    match step {
        Step::SecondFactor => "mfa",
        Step::Enrol => "enrol",
        Step::SignedIn => "continue",
    }
}

/// The second-factor page; `shown` is its status and error message.
async fn mfa_page(
    app: &App,
    t: &Journey,
    p: &Person,
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
        client_name: t.app_name.clone(),
        tx: t.id.clone(),
        csrf: journey::form_token(t, purpose(Step::SecondFactor)),
        has_totp: f.totp,
        has_passkey: !f.passkeys.is_empty(),
        has_recovery: f.recovery_left > 0,
        error,
    };
    let targets: Vec<String> = pages::origin(t.origin.return_url()).into_iter().collect();
    pages::render(status, &view, &nonce, &targets)
}

pub(crate) async fn mfa_get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(q): PageQuery<TxQuery>,
) -> Response {
    let rid = request_id(&headers);
    match at_step(&app, &jar, &q.tx, Step::SecondFactor, &rid).await {
        Ok(t) => match t.person().cloned() {
            Some(p) => mfa_page(&app, &t, &p, (StatusCode::OK, None), &rid).await,
            None => expired(&app, &rid).await,
        },
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
    seen: super::Seen,
    jar: CookieJar,
    PageForm(f): PageForm<CodeForm>,
) -> Response {
    let rid = request_id(&headers);
    let (t, p) = match step_form(&app, &jar, &f.tx, &f.csrf, Step::SecondFactor, &rid).await {
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
            let tenant = t.tenant_id;
            let moved = match flow::second_factor(&app, jar, t, &p, factor, &seen).await {
                Ok((jar, t, sso)) => flow::answer(&app, jar, t, sso).await,
                Err(e) => Err(e),
            };
            moved_page(&app, tenant, moved, &rid).await
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
            app.metrics.sign_in(
                "second_factor",
                if matches!(locked, Ok(true)) {
                    "locked"
                } else {
                    "wrong"
                },
            );
            flow::record(
                &app,
                &seen,
                lanyard_store::NewSignIn {
                    tenant_id: Some(t.tenant_id),
                    user_id: Some(p.user_id),
                    outcome: "refused",
                    method: if f.code.is_some() {
                        "totp"
                    } else {
                        "recovery_code"
                    }
                    .into(),
                    reason: Some(
                        if matches!(locked, Ok(true)) {
                            "locked"
                        } else {
                            "wrong_code"
                        }
                        .into(),
                    ),
                    app: Some(flow::app_of(&t)),
                    ..Default::default()
                },
            );
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
    t: &'a Journey,
    p: &'a Person,
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
    let mut t = match at_step(&app, &jar, &q.tx, Step::Enrol, &rid).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Stage::Enrol {
        person,
        totp_secret,
    } = &mut t.stage
    else {
        return expired(&app, &rid).await;
    };
    let person = person.clone();
    let secret = match totp_secret {
        Some(s) => s.clone(),
        None => {
            let s = totp::new_secret();
            *totp_secret = Some(s.clone());
            if let Err(e) = journey::save(&app, &t).await {
                return trouble_page(&app, Some(t.tenant_id), e.into(), &rid).await;
            }
            s
        }
    };
    let csrf = journey::form_token(&t, purpose(Step::Enrol));
    enrol_page(
        &app,
        sign_in_enrol(&t, &person, &secret, &csrf),
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
    seen: super::Seen,
    jar: CookieJar,
    PageForm(f): PageForm<CodeForm>,
) -> Response {
    let rid = request_id(&headers);
    let (t, p) = match step_form(&app, &jar, &f.tx, &f.csrf, Step::Enrol, &rid).await {
        Ok(x) => x,
        Err(r) => return r,
    };
    let Stage::Enrol {
        totp_secret: Some(secret),
        ..
    } = &t.stage
    else {
        return expired(&app, &rid).await;
    };
    let secret = secret.clone();
    let code = f.code.as_deref().unwrap_or_default();
    match confirm_totp(&app, p.user_id, t.tenant_id, &secret, code).await {
        Ok(Some(codes)) => {
            let tenant = t.tenant_id;
            // Signed in now; the app is answered once the codes have been read.
            let signed = async {
                let (jar, mut t, _) =
                    flow::second_factor(&app, jar, t, &p, Factor::Totp, &seen).await?;
                t.stage = Stage::SignedIn { user_id: p.user_id };
                journey::save(&app, &t).await?;
                Ok::<_, flow::Trouble>((jar, t))
            }
            .await;
            let (jar, t) = match signed {
                Ok(x) => x,
                Err(e) => return trouble_page(&app, Some(tenant), e, &rid).await,
            };
            let page = page_for(&app, Some(tenant), "Recovery codes", &rid).await;
            let nonce = page.nonce.clone();
            let view = RecoveryPage {
                page,
                codes,
                next: t.url(""),
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
        Err(e) => trouble_page(&app, Some(t.tenant_id), e.into(), &rid).await,
    }
}

/// After the recovery codes: back to the application (the answer is made now, so reading
/// the codes takes as long as it needs). The journey is taken once, by the browser whose
/// session its person signed in with after it began.
pub(crate) async fn continue_get(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    jar: CookieJar,
    PageQuery(q): PageQuery<TxQuery>,
) -> Response {
    let rid = request_id(&headers);
    let t = match at_step(&app, &jar, &q.tx, Step::SignedIn, &rid).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    let tenant = t.tenant_id;
    let Stage::SignedIn { user_id } = t.stage else {
        return expired(&app, &rid).await;
    };
    let taken = async {
        let Some(t) = journey::take(&app, &t.id).await? else {
            return Ok(None);
        };
        let sso = flow::usable_session(&app, &jar, tenant)
            .await?
            .filter(|s| s.user_id == user_id && s.auth_time >= t.created_at);
        Ok::<_, flow::Trouble>(sso.map(|s| (t, s)))
    }
    .await;
    match taken {
        Ok(Some((t, sso))) => {
            let moved = flow::answer(&app, jar, t, sso).await;
            moved_page(&app, tenant, moved, &rid).await
        }
        Ok(None) => expired(&app, &rid).await,
        Err(e) => trouble_page(&app, Some(tenant), e, &rid).await,
    }
}
