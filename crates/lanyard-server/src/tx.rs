//! Sign-in transactions: what an app asked for, carried from its request to the answer, and
//! whose they are.
//!
//! Until a person has passed a first factor nothing is stored for him: the transaction travels
//! *sealed* (encrypted and authenticated under the key-encryption key) in the sign-in page's
//! URL and form, so anonymous requests, however many, cost the server no memory. Once he owes
//! more (a second factor, an enrolment, the SAML answer), the transaction is stored under its
//! random id for the sign-in's lifetime.
//!
//! Every transaction is bound to the browser that started it (see [`crate::cookies`]); a
//! transaction from another browser is refused even with its form token.

use crate::app::App;
use crate::cookies;
use axum_extra::extract::cookie::CookieJar;
use lanyard_core::TenantId;
use lanyard_idp::authorize::AuthRequest;
use lanyard_session::SessionError;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Context string the sealed form is bound to.
const SEALED: &str = "lanyard:login-tx:v1";

/// The longest sealed transaction (what a request may carry is bounded well below this).
pub(crate) const MAX_SEALED_BYTES: usize = 8 * 1024;

/// A sign-in in progress.
#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct LoginTx {
    /// Random id: the store key once stored, and the key of its passkey challenge.
    pub(crate) id: String,
    /// The browser it belongs to (the hash of its sign-in cookie).
    pub(crate) browser: String,
    /// When it was started (Unix seconds).
    pub(crate) created_at: i64,
    pub(crate) req: AuthRequest,
    pub(crate) client_name: String,
    pub(crate) tenant_id: TenantId,
    /// The secret its form tokens are made from (see [`crate::csrf`]).
    pub(crate) csrf: String,
    /// A person who has passed a first step and owes a second (or an enrolment).
    #[serde(default)]
    pub(crate) pending: Option<crate::oidc::mfa::Pending>,
    /// A SAML sign-in: `req` then only carries its prompt and MFA wishes.
    #[serde(default)]
    pub(crate) saml: Option<lanyard_idp::saml::SamlAuthn>,
}

/// Why a transaction could not be sealed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SealError {
    /// The request carries more than a sign-in may.
    #[error("the sign-in request is too large")]
    TooLarge,
    /// A transaction that owes a second factor is never sealed (it must be single-use).
    #[error("a pending sign-in cannot be sealed")]
    Pending,
    /// Sealing itself failed.
    #[error("sealing failed: {0}")]
    Failed(String),
}

/// A new transaction for this browser (setting its sign-in cookie if it has none).
pub(crate) fn start(
    app: &App,
    jar: CookieJar,
    req: AuthRequest,
    client_name: String,
    tenant_id: TenantId,
) -> (CookieJar, LoginTx) {
    let (jar, browser) = cookies::signin_binding(app, jar);
    let tx = LoginTx {
        id: lanyard_core::random::token(32),
        browser,
        created_at: app.provider.now(),
        req,
        client_name,
        tenant_id,
        csrf: lanyard_core::random::token(32),
        pending: None,
        saml: None,
    };
    (jar, tx)
}

/// The transaction's sealed form, for the sign-in page's URL and form.
pub(crate) fn seal(app: &App, tx: &LoginTx) -> Result<String, SealError> {
    if tx.pending.is_some() {
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

/// Whether `reference` is a sealed transaction (stored ids are plain tokens, without dots).
pub(crate) fn is_sealed(reference: &str) -> bool {
    reference.contains('.')
}

fn ttl(app: &App) -> Duration {
    Duration::from_secs(u64::try_from(app.config.oidc.login_ttl_secs).unwrap_or(900))
}

/// The transaction `reference` names (sealed or stored), if it is still alive.
pub(crate) async fn load(app: &App, reference: &str) -> Result<Option<LoginTx>, SessionError> {
    if !is_sealed(reference) {
        return app.sessions.get_json(&key(reference)).await;
    }
    if reference.len() > MAX_SEALED_BYTES {
        return Ok(None);
    }
    let Ok(json) = app.store.keyring().open_token(reference, SEALED) else {
        return Ok(None);
    };
    let Ok(tx) = serde_json::from_slice::<LoginTx>(&json) else {
        return Ok(None);
    };
    let age = app.provider.now() - tx.created_at;
    Ok((tx.pending.is_none() && (0..app.config.oidc.login_ttl_secs).contains(&age)).then_some(tx))
}

/// Stores the transaction under its id (for the sign-in's lifetime).
pub(crate) async fn save(app: &App, tx: &LoginTx) -> Result<(), SessionError> {
    app.sessions.put_json(&key(&tx.id), tx, ttl(app)).await
}

/// Reads and removes a stored transaction: only one caller gets it.
pub(crate) async fn take(app: &App, id: &str) -> Result<Option<LoginTx>, SessionError> {
    if is_sealed(id) {
        return Ok(None);
    }
    app.sessions.take_json(&key(id)).await
}

/// Removes a stored transaction (a sealed one has nothing stored).
pub(crate) async fn discard(app: &App, tx: &LoginTx) -> Result<(), SessionError> {
    app.sessions.store().delete(&key(&tx.id)).await
}

/// Whether this browser is the one that started `tx`.
pub(crate) fn is_mine(app: &App, jar: &CookieJar, tx: &LoginTx) -> bool {
    cookies::is_bound(app, jar, &tx.browser)
}

/// The form token of `tx` for `purpose`.
pub(crate) fn form_token(tx: &LoginTx, purpose: &str) -> String {
    crate::csrf::token(&tx.csrf, purpose)
}

/// Whether `presented` is `tx`'s form token for `purpose`.
pub(crate) fn form_token_ok(tx: &LoginTx, purpose: &str, presented: &str) -> bool {
    crate::csrf::verify(&tx.csrf, purpose, presented)
}

fn key(id: &str) -> String {
    format!("login:{id}")
}
