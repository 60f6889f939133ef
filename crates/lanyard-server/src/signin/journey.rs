//! The journey: one sign-in, from an app's request to its answer, whatever the protocol.
//!
//! Until a person has passed a first factor nothing is stored for him: the journey travels
//! *sealed* (encrypted and authenticated under the key-encryption key) in the sign-in page's
//! URL and form, so anonymous requests, however many, cost the server no memory. Once he owes
//! more (a second factor, an enrolment, the app's answer), the journey is stored under its
//! random id for the sign-in's lifetime.
//!
//! Every journey is bound to the browser that started it (see [`crate::cookies`]); a journey
//! from another browser is refused even with its form token.

use crate::app::App;
use crate::cookies;
use axum_extra::extract::cookie::CookieJar;
use lanyard_core::{TenantId, UserId};
use lanyard_idp::authorize::AuthRequest;
use lanyard_idp::saml::SamlAuthn;
use lanyard_session::SessionError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Duration;

/// Context string the sealed form is bound to (v2: the journey replaced the v1 transaction,
/// whose sealed links now read as expired).
const SEALED: &str = "lanyard:journey:v2";

/// The longest sealed journey (what a request may carry is bounded well below this).
pub(crate) const MAX_SEALED_BYTES: usize = 8 * 1024;

/// Where a journey came from: the request it answers in the end.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) enum Origin {
    /// An OpenID Connect authorization request.
    Oidc(AuthRequest),
    /// A SAML AuthnRequest (or an IdP-initiated sign-in).
    Saml(SamlAuthn),
}

impl Origin {
    /// Where the app's answer goes (the page's form-action allows it).
    pub(crate) fn return_url(&self) -> &str {
        match self {
            Origin::Oidc(r) => &r.redirect_uri,
            Origin::Saml(a) => &a.reply.acs_url,
        }
    }
}

/// What the app asked of the sign-in, in protocol-neutral terms.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Wants {
    /// A fresh sign-in even inside a session (`prompt=login`, `max_age=0`, `ForceAuthn`).
    pub(crate) force: bool,
    /// No interaction at all (`prompt=none`, `IsPassive`).
    pub(crate) passive: bool,
    /// The oldest sign-in the app accepts, in seconds (`max_age`).
    pub(crate) max_age: Option<i64>,
    /// Authentication contexts asked for (`acr_values`, `RequestedAuthnContext`).
    pub(crate) acr_values: Vec<String>,
    /// The login to pre-fill.
    pub(crate) login_hint: Option<String>,
    /// The app's registration demands a second factor.
    pub(crate) app_requires_mfa: bool,
    /// The upstream connection the app's people sign in through (no sign-in page).
    #[serde(default)]
    pub(crate) upstream: Option<String>,
    /// The person's home domain, if the app knows it (`domain_hint`).
    #[serde(default)]
    pub(crate) domain_hint: Option<String>,
}

/// The person a journey has come to know, and how he has proved himself so far.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Person {
    pub(crate) user_id: UserId,
    /// How he is shown (his email or username).
    pub(crate) login: String,
    /// Methods already used (in this journey, or by the fresh session for a step-up).
    pub(crate) prior_amr: Vec<String>,
}

/// Where a journey stands. Each stage carries exactly what it needs.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) enum Stage {
    /// Nobody has passed a first factor yet (the journey travels sealed).
    FirstFactor,
    /// A person owes a second factor.
    SecondFactor {
        person: Person,
        /// A passkey ceremony in progress (single use).
        #[serde(default)]
        passkey_state: Option<Value>,
    },
    /// A person must set up a second factor first (policy requires one, he has none).
    Enrol {
        person: Person,
        /// The TOTP secret shown to him, until he confirms it.
        #[serde(default)]
        totp_secret: Option<String>,
    },
    /// Signed in; the app's answer is still to be fetched (after the recovery codes were
    /// shown, or by the protocol's own continue step).
    SignedIn { user_id: UserId },
}

/// Which step's page a stage is shown on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    SecondFactor,
    Enrol,
    SignedIn,
}

/// A sign-in in progress.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Journey {
    /// Random id: the store key once stored, and the key of its passkey challenge.
    pub(crate) id: String,
    /// The browser it belongs to (the hash of its sign-in cookie).
    pub(crate) browser: String,
    /// When it was started (Unix seconds).
    pub(crate) created_at: i64,
    pub(crate) tenant_id: TenantId,
    /// The app's name, as the pages show it.
    pub(crate) app_name: String,
    /// The secret its form tokens are made from (see [`crate::csrf`]).
    pub(crate) csrf: String,
    pub(crate) origin: Origin,
    pub(crate) wants: Wants,
    pub(crate) stage: Stage,
}

impl Journey {
    /// The step this journey waits at, if it waits at one.
    pub(crate) fn step(&self) -> Option<Step> {
        match self.stage {
            Stage::FirstFactor => None,
            Stage::SecondFactor { .. } => Some(Step::SecondFactor),
            Stage::Enrol { .. } => Some(Step::Enrol),
            Stage::SignedIn { .. } => Some(Step::SignedIn),
        }
    }

    /// The person who owes a step, while one does.
    pub(crate) fn person(&self) -> Option<&Person> {
        match &self.stage {
            Stage::FirstFactor => None,
            Stage::SecondFactor { person, .. } | Stage::Enrol { person, .. } => Some(person),
            Stage::SignedIn { .. } => None,
        }
    }

    /// Where the browser goes for this journey's current stage.
    pub(crate) fn url(&self, sealed: &str) -> String {
        match self.step() {
            None => format!("/login?tx={}", urlencoded(sealed)),
            Some(Step::SecondFactor) => format!("/login/mfa?tx={}", self.id),
            Some(Step::Enrol) => format!("/login/enrol?tx={}", self.id),
            Some(Step::SignedIn) => format!("/login/continue?tx={}", self.id),
        }
    }
}

fn urlencoded(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Why a journey could not be sealed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SealError {
    /// The request carries more than a sign-in may.
    #[error("the sign-in request is too large")]
    TooLarge,
    /// A journey that knows its person is never sealed (it must be single-use).
    #[error("a pending sign-in cannot be sealed")]
    Pending,
    /// Sealing itself failed.
    #[error("sealing failed: {0}")]
    Failed(String),
}

/// A new journey for this browser (setting its sign-in cookie if it has none).
pub(crate) fn start(
    app: &App,
    jar: CookieJar,
    tenant_id: TenantId,
    app_name: String,
    origin: Origin,
    wants: Wants,
) -> (CookieJar, Journey) {
    let (jar, browser) = cookies::signin_binding(app, jar);
    let j = Journey {
        id: lanyard_core::random::token(32),
        browser,
        created_at: app.provider.now(),
        tenant_id,
        app_name,
        csrf: lanyard_core::random::token(32),
        origin,
        wants,
        stage: Stage::FirstFactor,
    };
    (jar, j)
}

/// The journey's sealed form, for the sign-in page's URL and form.
pub(crate) fn seal(app: &App, tx: &Journey) -> Result<String, SealError> {
    if tx.step().is_some() {
        return Err(SealError::Pending);
    }
    let json = serde_json::to_vec(tx).map_err(|e| SealError::Failed(e.to_string()))?;
    let sealed = app
        .store
        .keyring()
        .seal_token(&json, SEALED)
        .map_err(|e| SealError::Failed(e.to_string()))?;
    if sealed.len() > MAX_SEALED_BYTES {
        return Err(SealError::TooLarge);
    }
    Ok(sealed)
}

/// Whether `reference` is a sealed journey (stored ids are plain tokens, without dots).
pub(crate) fn is_sealed(reference: &str) -> bool {
    reference.contains('.')
}

fn ttl(app: &App) -> Duration {
    Duration::from_secs(u64::try_from(app.config.signin.page_ttl_secs).unwrap_or(900))
}

/// The journey `reference` names (sealed or stored), if it is still alive.
pub(crate) async fn load(app: &App, reference: &str) -> Result<Option<Journey>, SessionError> {
    if !is_sealed(reference) {
        return app.sessions.get_json(&key(reference)).await;
    }
    if reference.len() > MAX_SEALED_BYTES {
        return Ok(None);
    }
    let Ok(json) = app.store.keyring().open_token(reference, SEALED) else {
        return Ok(None);
    };
    let Ok(tx) = serde_json::from_slice::<Journey>(&json) else {
        return Ok(None);
    };
    let age = app.provider.now() - tx.created_at;
    Ok((tx.step().is_none() && (0..app.config.signin.page_ttl_secs).contains(&age)).then_some(tx))
}

/// Stores the journey under its id (for the sign-in's lifetime).
pub(crate) async fn save(app: &App, tx: &Journey) -> Result<(), SessionError> {
    app.sessions.put_json(&key(&tx.id), tx, ttl(app)).await
}

/// Reads and removes a stored journey: only one caller gets it.
pub(crate) async fn take(app: &App, id: &str) -> Result<Option<Journey>, SessionError> {
    if is_sealed(id) {
        return Ok(None);
    }
    app.sessions.take_json(&key(id)).await
}

/// Removes a stored journey (a sealed one has nothing stored).
pub(crate) async fn discard(app: &App, tx: &Journey) -> Result<(), SessionError> {
    app.sessions.store().delete(&key(&tx.id)).await
}

/// Whether this browser is the one that started `j`.
pub(crate) fn is_mine(app: &App, jar: &CookieJar, tx: &Journey) -> bool {
    cookies::is_bound(app, jar, &tx.browser)
}

/// The form token of `j` for `purpose`.
pub(crate) fn form_token(tx: &Journey, purpose: &str) -> String {
    crate::csrf::token(&tx.csrf, purpose)
}

/// Whether `presented` is `j`'s form token for `purpose`.
pub(crate) fn form_token_ok(tx: &Journey, purpose: &str, presented: &str) -> bool {
    crate::csrf::verify(&tx.csrf, purpose, presented)
}

/// Stored journeys live under `journey:{id}` (the v1 journeys' `login:` keys are never
/// read: a sign-in in progress during the upgrade starts again).
fn key(id: &str) -> String {
    format!("journey:{id}")
}
