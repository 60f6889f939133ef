//! The journey's moves: start one for an app, let a first factor in, let a second factor
//! finish it, and hand the signed-in person back to the protocol that asked. Each returns
//! where the browser goes next, never HTTP, and fails only with [`Trouble`].

use super::decide::{self, Next, Policy, Proof, Refusal};
use super::journey::{self, Journey, Origin, Person, SealError, Stage, Wants};
use crate::app::App;
use crate::cookies;
use crate::throttle::{self, Subject};
use crate::web::Seen;
use axum_extra::extract::cookie::CookieJar;
use lanyard_core::{TenantId, User, UserId};
use lanyard_mfa::{Factor, Requirement};
use lanyard_session::SsoSession;
use std::collections::BTreeSet;
use webauthn_rs::prelude::Passkey;

/// Why a journey could not move: what the person sees is a page of its kind (see
/// [`crate::pages`]); what went wrong underneath is logged once, with the request id, by
/// whoever shows that page.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Trouble {
    /// A store (database or session store) could not answer.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// The app's request carries more than a sign-in may.
    #[error("the request is too large to sign in with")]
    TooLarge,
}

impl From<lanyard_session::SessionError> for Trouble {
    fn from(e: lanyard_session::SessionError) -> Self {
        Trouble::Unavailable(e.to_string())
    }
}

impl From<lanyard_store::StoreError> for Trouble {
    fn from(e: lanyard_store::StoreError) -> Self {
        // The whole chain: "database error" alone tells the administrator nothing.
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        Trouble::Unavailable(text)
    }
}

impl From<lanyard_idp::OAuthError> for Trouble {
    fn from(e: lanyard_idp::OAuthError) -> Self {
        Trouble::Unavailable(e.to_string())
    }
}

impl From<lanyard_idp::DirectoryError> for Trouble {
    fn from(e: lanyard_idp::DirectoryError) -> Self {
        Trouble::Unavailable(e.to_string())
    }
}

/// How a first factor was passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    /// A password.
    Password,
    /// A user-verified passkey without a password (multi-factor by itself).
    Passkey,
    /// An upstream identity provider; `mfa` when it did MFA and the connection trusts it.
    Upstream { mfa: bool },
}

/// A second factor as the sign-in record names it.
fn factor_name(f: Factor) -> &'static str {
    match f {
        Factor::Totp => "totp",
        Factor::Passkey => "passkey",
        Factor::RecoveryCode => "recovery_code",
    }
}

impl Method {
    /// As the sign-in record names it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Method::Password => "password",
            Method::Passkey => "passkey",
            Method::Upstream { .. } => "upstream",
        }
    }

    fn amr(self) -> Vec<String> {
        match self {
            Method::Password => lanyard_mfa::amr(true, None),
            Method::Passkey => lanyard_mfa::amr(false, Some(Factor::Passkey)),
            Method::Upstream { mfa } => {
                let mut amr = vec!["fed".to_string()];
                if mfa {
                    amr.push("mfa".into());
                }
                amr.sort();
                amr
            }
        }
    }
}

/// Where a journey's move leads.
pub(crate) enum Moved {
    /// The person is signed in: the app's answer is this URL.
    Answer(CookieJar, String),
    /// On to a page of the journey (the sign-in page or a stored step).
    Page(CookieJar, String),
    /// The browser's session answers the app at once (only from [`start`]): the protocol
    /// answers in its own way, no journey needed.
    Session(SsoSession),
    /// A passive request that cannot be answered: the protocol says no in its own terms.
    Refused(Refusal),
}

/// A person's second factors. A store failure is an error, never "none".
pub(crate) struct Factors {
    pub(crate) totp: bool,
    pub(crate) passkeys: Vec<Passkey>,
    pub(crate) recovery_left: i64,
}

impl Factors {
    pub(crate) fn any(&self) -> bool {
        self.totp || !self.passkeys.is_empty()
    }
}

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

/// Whether policy (tenant, roles, app, request) demands a second factor of `user`.
async fn mfa_required(app: &App, user: &User, w: &Wants) -> Result<bool, Trouble> {
    let view = app.directory.tenant(user.tenant_id).await?;
    let roles = view.role_names(&user.roles);
    Ok(lanyard_mfa::requirement(
        &view.tenant().mfa,
        &roles,
        w.app_requires_mfa,
        &w.acr_values,
    ) == Requirement::Required)
}

/// What policy wants of `user` for this proof (his factors read only when they decide).
async fn policy(app: &App, user: &User, w: &Wants, proof: Proof) -> Result<Policy, Trouble> {
    let mfa_required = mfa_required(app, user, w).await?;
    let has_factor = if decide::needs_factors(w, app.provider.now(), proof, mfa_required) {
        factors(app, user.id).await?.any()
    } else {
        false
    };
    Ok(Policy {
        mfa_required,
        has_factor,
    })
}

pub(crate) fn login_of(user: &User) -> String {
    user.profile
        .email
        .clone()
        .or_else(|| user.profile.username.clone())
        .unwrap_or_else(|| user.id.to_string())
}

/// The SSO session of this browser, if it is valid for `tenant` now (a session of someone
/// who may no longer sign in is ended on sight).
pub(crate) async fn usable_session(
    app: &App,
    jar: &CookieJar,
    tenant: TenantId,
) -> Result<Option<SsoSession>, Trouble> {
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

/// Starts a journey for an app's request: answers from the browser's session, steps it up,
/// sends the browser to the sign-in page, or refuses a passive request.
pub(crate) async fn start(
    app: &App,
    jar: CookieJar,
    tenant: TenantId,
    app_name: String,
    origin: Origin,
    wants: Wants,
) -> Result<Moved, Trouble> {
    let now = app.provider.now();
    let session = usable_session(app, &jar, tenant).await?;
    let known = match session {
        Some(sso) => app.store.user(sso.user_id).await?.map(|u| (sso, u)),
        None => None,
    };
    let (proof, policy) = match &known {
        Some((sso, user)) => {
            let proof = Proof::Session {
                auth_time: sso.auth_time,
                mfa: sso.amr.iter().any(|a| a == "mfa"),
            };
            (proof, policy(app, user, &wants, proof).await?)
        }
        None => (Proof::Nothing, Policy::default()),
    };
    let next = decide::next(&wants, now, proof, policy);
    let owes = |sso: &SsoSession, user: &User| Person {
        user_id: user.id,
        login: login_of(user),
        prior_amr: sso.amr.clone(),
    };
    match (next, known) {
        (Next::Refuse(r), _) => Ok(Moved::Refused(r)),
        (Next::Answer, Some((sso, _))) => Ok(Moved::Session(sso)),
        (Next::SecondFactor, Some((sso, user))) => {
            let (jar, mut j) = journey::start(app, jar, tenant, app_name, origin, wants);
            j.stage = Stage::SecondFactor {
                person: owes(&sso, &user),
                passkey_state: None,
            };
            stored(app, jar, &j).await
        }
        (Next::Enrol, Some((sso, user))) => {
            let (jar, mut j) = journey::start(app, jar, tenant, app_name, origin, wants);
            j.stage = Stage::Enrol {
                person: owes(&sso, &user),
                totp_secret: None,
            };
            stored(app, jar, &j).await
        }
        // The sign-in page (also where a decision needed a person the session no longer has).
        _ => {
            let (jar, j) = journey::start(app, jar, tenant, app_name, origin, wants);
            match journey::seal(app, &j) {
                Ok(sealed) => {
                    // Straight to an upstream when the app names one, or names a domain one
                    // of the tenant's connections lists.
                    let upstream = match (&j.wants.upstream, &j.wants.domain_hint) {
                        (Some(name), _) => Some(name.clone()),
                        (None, Some(domain)) => {
                            let all = super::upstreams::connections(app, tenant).await?;
                            super::upstreams::by_domain(&all, &format!("@{domain}"))
                                .map(|c| c.name.clone())
                        }
                        (None, None) => None,
                    };
                    let url = match upstream {
                        Some(name) => super::upstreams::start_url(&name, &sealed),
                        None => j.url(&sealed),
                    };
                    Ok(Moved::Page(jar, url))
                }
                Err(SealError::TooLarge) => Err(Trouble::TooLarge),
                Err(e) => Err(Trouble::Unavailable(e.to_string())),
            }
        }
    }
}

/// Stores a journey that waits at a step and leads to that step's page.
pub(crate) async fn stored(app: &App, jar: CookieJar, j: &Journey) -> Result<Moved, Trouble> {
    journey::save(app, j).await?;
    Ok(Moved::Page(jar, j.url("")))
}

/// The app a journey signs in to: the OIDC client id or the SAML SP's entity id.
pub(crate) fn app_of(j: &Journey) -> String {
    match &j.origin {
        Origin::Oidc(r) => r.client_id.clone(),
        Origin::Saml(a) => a.reply.sp.clone(),
    }
}

/// Records a sign-in (accepted or refused) for the reports, off the request path (the
/// sign-in's answer never waits for it, and a failure to record is logged, never shown).
pub(crate) fn record(app: &App, seen: &Seen, s: lanyard_store::NewSignIn) {
    let s = lanyard_store::NewSignIn {
        ip: seen.ip.clone(),
        user_agent: seen.user_agent.clone(),
        ..s
    };
    let store = app.store.clone();
    tokio::spawn(async move {
        if let Err(e) = store.record_sign_in(s).await {
            tracing::warn!(error = %e, "could not record a sign-in");
        }
    });
}

/// The record of an accepted sign-in of `user` through `j`.
fn accepted(
    j: &Journey,
    user: UserId,
    method: &str,
    upstream: Option<String>,
) -> lanyard_store::NewSignIn {
    lanyard_store::NewSignIn {
        tenant_id: Some(j.tenant_id),
        user_id: Some(user),
        outcome: "accepted",
        method: method.to_string(),
        app: Some(app_of(j)),
        upstream,
        ..Default::default()
    }
}

/// The one door for every first factor: `user` has been authenticated by `method`. On to a
/// second factor, an enrolment, or the app's answer.
pub(crate) async fn first_factor(
    app: &App,
    jar: CookieJar,
    mut j: Journey,
    user: &User,
    method: Method,
    seen: &Seen,
) -> Result<Moved, Trouble> {
    let amr = method.amr();
    let upstream = match &j.wants.upstream {
        Some(u) if matches!(method, Method::Upstream { .. }) => Some(u.clone()),
        _ => None,
    };
    let proof = Proof::FirstFactor {
        mfa: amr.iter().any(|a| a == "mfa"),
    };
    let policy = policy(app, user, &j.wants, proof).await?;
    let person = Person {
        user_id: user.id,
        login: login_of(user),
        prior_amr: amr,
    };
    match decide::next(&j.wants, app.provider.now(), proof, policy) {
        Next::SecondFactor => {
            j.stage = Stage::SecondFactor {
                person,
                passkey_state: None,
            };
            stored(app, jar, &j).await
        }
        Next::Enrol => {
            j.stage = Stage::Enrol {
                person,
                totp_secret: None,
            };
            stored(app, jar, &j).await
        }
        // After a first factor the decision is only ever one of these three.
        Next::Answer | Next::SignInPage | Next::Refuse(_) => {
            let (jar, sso) = establish(app, jar, j.tenant_id, user.id, person.prior_amr).await?;
            record(app, seen, accepted(&j, user.id, method.name(), upstream));
            answer(app, jar, j, sso).await
        }
    }
}

/// A second factor (or an enrolment) completed the sign-in of the journey's person.
pub(crate) async fn second_factor(
    app: &App,
    jar: CookieJar,
    j: Journey,
    person: &Person,
    factor: Factor,
    seen: &Seen,
) -> Result<(CookieJar, Journey, SsoSession), Trouble> {
    let amr = with_factor(&person.prior_amr, factor);
    let (jar, sso) = establish(app, jar, j.tenant_id, person.user_id, amr.clone()).await?;
    let first = if person.prior_amr.iter().any(|a| a == "fed") {
        "upstream"
    } else if person.prior_amr.iter().any(|a| a == "pwd") {
        "password"
    } else {
        "session"
    };
    let method = format!("{first}+{}", factor_name(factor));
    record(app, seen, accepted(&j, person.user_id, &method, None));
    Ok((jar, j, sso))
}

pub(crate) fn with_factor(prior: &[String], f: Factor) -> Vec<String> {
    let mut set: BTreeSet<String> = prior.iter().cloned().collect();
    set.extend(lanyard_mfa::amr(false, Some(f)));
    set.into_iter().collect()
}

/// Hands the signed-in person back to the protocol that asked, in its own way: an OIDC
/// request gets its code now; a SAML request is answered by its own continue step (which
/// signs the assertion), so the journey is kept for it to take once.
pub(crate) async fn answer(
    app: &App,
    jar: CookieJar,
    mut j: Journey,
    sso: SsoSession,
) -> Result<Moved, Trouble> {
    match &j.origin {
        Origin::Oidc(req) => {
            let url = lanyard_idp::authorize::issue_code(&app.provider, req, &sso).await?;
            if j.step().is_some() {
                journey::discard(app, &j).await?;
            }
            Ok(Moved::Answer(jar, url))
        }
        Origin::Saml(_) => {
            j.stage = Stage::SignedIn {
                user_id: sso.user_id,
            };
            journey::save(app, &j).await?;
            Ok(Moved::Answer(jar, format!("/saml/continue?tx={}", j.id)))
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
    app.metrics.sign_in_completed(&amr);
    let now = app.provider.now();
    let existing = match cookies::sso_secret(app, &jar) {
        Some(secret) => app.sessions.sso_by_secret(&secret).await?,
        None => None,
    };
    let acr = lanyard_mfa::acr(&amr).to_string();
    let expires_at = now + app.config.signin.sso_ttl_secs;
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
