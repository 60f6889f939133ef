//! Typed records over the primitives: SSO sessions (indexed by user, so suspending someone ends
//! them all at once) and refresh-token families (rotated by compare-and-swap; presenting a
//! rotated-out token revokes the whole family).
//!
//! An SSO session has two names. Its public id ([`SsoSession::sid`]) goes into tokens (the `sid`
//! claim) and may be seen by anyone holding one. The browser proves the session with a secret
//! of its own (the cookie), which never leaves the browser: the store keys the session by that
//! secret's SHA-256 ([`SsoSession::handle`]), so neither a token nor the store reveals a cookie.

use crate::{SessionError, SessionStore, Swap};
use lanyard_core::{TenantId, UserId};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// A signed-in browser.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SsoSession {
    /// The session's public id (random; the `sid` claim). Never the cookie.
    pub sid: String,
    /// Where the session is stored: the SHA-256 of the browser's cookie secret. Server-side
    /// only; changes whenever the person signs in again inside the session.
    pub handle: String,
    /// Who.
    pub user_id: UserId,
    /// His tenant.
    pub tenant_id: TenantId,
    /// When he last authenticated (Unix seconds).
    pub auth_time: i64,
    /// How (RFC 8176 values).
    pub amr: Vec<String>,
    /// Authentication context class.
    pub acr: String,
    /// Clients that received tokens in this session (for logout).
    pub clients: BTreeSet<String>,
    /// When the session ends regardless of use (Unix seconds).
    pub expires_at: i64,
    /// SAML service providers that received an assertion in this session (for logout).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub saml: Vec<SamlParticipant>,
}

/// A SAML service provider in an SSO session, and how it knows the person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlParticipant {
    /// The SP's entity id.
    pub sp: String,
    /// The NameID it received.
    pub name_id: String,
    /// That NameID's format (URI).
    pub format: String,
    /// The `SessionIndex` it received.
    pub session_index: String,
}

/// A chain of refresh tokens descending from one authorization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshFamily {
    /// Family id (the public half of each refresh token).
    pub id: String,
    /// Who.
    pub user_id: UserId,
    /// Which client.
    pub client_id: String,
    /// Granted scope.
    pub scope: String,
    /// SSO session it came from.
    pub sid: Option<String>,
    /// Original authentication time (Unix seconds).
    pub auth_time: i64,
    /// Original methods.
    pub amr: Vec<String>,
    /// Original class.
    pub acr: String,
    /// Hard end of the family (Unix seconds).
    pub expires_at: i64,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// It was the current token; it has been replaced.
    Rotated(RefreshFamily),
    /// It was the token just rotated out, presented again within the grace, and its
    /// successor has not been used (so it may never have been delivered: the rotation's
    /// answer can be lost after the store performed it): that successor is retired and
    /// replaced by `next`.
    Retried(RefreshFamily),
    /// It was an earlier, rotated-out token: the family has been revoked.
    Reused(RefreshFamily),
    /// Unknown, revoked or expired.
    Invalid,
}

/// Typed access to the session store.
#[derive(Clone)]
pub struct Sessions {
    store: Arc<dyn SessionStore>,
    refresh_grace: Duration,
}

fn secs_until(expires_at: i64, now: i64) -> Duration {
    Duration::from_secs(
        u64::try_from(expires_at.saturating_sub(now))
            .unwrap_or(0)
            .max(1),
    )
}

impl Sessions {
    /// Over `store`.
    pub fn new(store: Arc<dyn SessionStore>) -> Self {
        Self {
            store,
            refresh_grace: Duration::ZERO,
        }
    }

    /// Accepts a rotated-out refresh token again for `grace` after its rotation while its
    /// successor is unused (see [`Rotation::Retried`]). Zero (the default) treats every
    /// second presentation as reuse.
    pub fn with_refresh_grace(mut self, grace: Duration) -> Self {
        self.refresh_grace = grace;
        self
    }

    /// The primitives underneath.
    pub fn store(&self) -> &dyn SessionStore {
        self.store.as_ref()
    }

    /// Stores `value` as JSON.
    pub async fn put_json<T: Serialize>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
    ) -> Result<(), SessionError> {
        let bytes = serde_json::to_vec(value).map_err(|e| SessionError::Corrupt(e.to_string()))?;
        self.store.put(key, &bytes, ttl).await
    }

    /// Reads a JSON value.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, SessionError> {
        decode(self.store.get(key).await?)
    }

    /// Reads and deletes a JSON value (single use).
    pub async fn take_json<T: DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, SessionError> {
        decode(self.store.take(key).await?)
    }

    /// Saves an SSO session (under its [`SsoSession::handle`]) until its `expires_at`.
    pub async fn save_sso(&self, s: &SsoSession, now: i64) -> Result<(), SessionError> {
        let ttl = secs_until(s.expires_at, now);
        self.put_json(&sso_key(&s.handle), s, ttl).await?;
        self.store
            .add_member(&user_index(s.user_id), &s.handle, ttl)
            .await
    }

    /// Changes an SSO session in place with `change` (adding an app that received a code or an
    /// assertion): a compare-and-swap, retried with the value another process wrote meanwhile, so
    /// a concurrent change is never lost and a session ended meanwhile (logout, suspension) is
    /// never brought back. `None` when the session no longer exists.
    pub async fn update_sso(
        &self,
        handle: &str,
        now: i64,
        change: impl Fn(&mut SsoSession),
    ) -> Result<Option<SsoSession>, SessionError> {
        let key = sso_key(handle);
        let mut current = self.store.get(&key).await?;
        // Each lost swap means another change landed, so this ends after as many tries as there
        // are concurrent changes; the bound only stops a runaway.
        for _ in 0..64 {
            let Some(old) = current else {
                return Ok(None);
            };
            let mut s: SsoSession =
                serde_json::from_slice(&old).map_err(|e| SessionError::Corrupt(e.to_string()))?;
            let expires_before = s.expires_at;
            change(&mut s);
            // The handle is the key: a change cannot move the session.
            s.handle = handle.to_string();
            let new = serde_json::to_vec(&s).map_err(|e| SessionError::Corrupt(e.to_string()))?;
            if new == old {
                return Ok(Some(s));
            }
            let ttl = secs_until(s.expires_at, now);
            match self.store.swap(&key, &old, &new, ttl).await? {
                Swap::Swapped => {
                    if s.expires_at > expires_before {
                        // The person's index of sessions must live as long (see end_user).
                        self.store
                            .add_member(&user_index(s.user_id), handle, ttl)
                            .await?;
                    }
                    return Ok(Some(s));
                }
                Swap::Mismatch(v) => current = Some(v),
                Swap::Missing => return Ok(None),
            }
        }
        Err(SessionError::Unavailable(
            "an SSO session kept changing under an update".into(),
        ))
    }

    /// The SSO session stored under `handle`, if it still exists.
    pub async fn sso(&self, handle: &str) -> Result<Option<SsoSession>, SessionError> {
        Ok(self
            .get_json::<SsoSession>(&sso_key(handle))
            .await?
            .filter(|s| s.handle == handle))
    }

    /// The SSO session a browser's cookie secret proves, if it still exists.
    pub async fn sso_by_secret(&self, secret: &str) -> Result<Option<SsoSession>, SessionError> {
        if secret.is_empty() {
            return Ok(None);
        }
        self.sso(&sso_handle(secret)).await
    }

    /// Ends an SSO session, returning it.
    pub async fn end_sso(&self, handle: &str) -> Result<Option<SsoSession>, SessionError> {
        let s: Option<SsoSession> = self.take_json(&sso_key(handle)).await?;
        if let Some(s) = &s {
            self.store
                .remove_member(&user_index(s.user_id), handle)
                .await?;
        }
        Ok(s)
    }

    /// Moves a session to a new cookie secret with `change` applied (a new sign-in inside an
    /// existing session: the old cookie stops working, so a planted or stolen one gains
    /// nothing from the person signing in again). Returns the new secret and the session, or
    /// `None` when the session has ended meanwhile (it is not brought back).
    pub async fn rekey_sso(
        &self,
        handle: &str,
        now: i64,
        change: impl FnOnce(&mut SsoSession),
    ) -> Result<Option<(String, SsoSession)>, SessionError> {
        let Some(mut s) = self.end_sso(handle).await? else {
            return Ok(None);
        };
        change(&mut s);
        let (secret, new_handle) = new_sso_secret();
        s.handle = new_handle;
        self.save_sso(&s, now).await?;
        Ok(Some((secret, s)))
    }

    /// Ends every SSO session and revokes every refresh family of a person; returns how many
    /// of each there were.
    pub async fn end_user(&self, user: UserId) -> Result<(usize, usize), SessionError> {
        let handles = self.store.members(&user_index(user)).await?;
        for h in &handles {
            self.store.delete(&sso_key(h)).await?;
        }
        self.store.delete(&user_index(user)).await?;
        let families = self.store.members(&format!("user_rf:{user}")).await?;
        for f in &families {
            self.delete_family(f).await?;
        }
        self.store.delete(&format!("user_rf:{user}")).await?;
        Ok((handles.len(), families.len()))
    }

    /// Starts a refresh family whose current token hashes to `token_hash`.
    pub async fn create_family(
        &self,
        f: &RefreshFamily,
        token_hash: &str,
        now: i64,
    ) -> Result<(), SessionError> {
        let ttl = secs_until(f.expires_at, now);
        self.put_json(&format!("rf:{}", f.id), f, ttl).await?;
        self.store
            .put(&format!("rf_cur:{}", f.id), token_hash.as_bytes(), ttl)
            .await?;
        self.store
            .add_member(&format!("user_rf:{}", f.user_id), &f.id, ttl)
            .await
    }

    /// A family, if it is still alive.
    pub async fn family(&self, id: &str) -> Result<Option<RefreshFamily>, SessionError> {
        self.get_json(&format!("rf:{id}")).await
    }

    /// Whether `token_hash` is the family's current token.
    pub async fn is_current(&self, id: &str, token_hash: &str) -> Result<bool, SessionError> {
        Ok(
            self.store.get(&format!("rf_cur:{id}")).await?.as_deref()
                == Some(token_hash.as_bytes()),
        )
    }

    /// Whether `token_hash` was the family's current token once (it has been rotated out).
    pub async fn was_current(&self, id: &str, token_hash: &str) -> Result<bool, SessionError> {
        self.store
            .is_member(&format!("rf_prev:{id}"), token_hash)
            .await
    }

    /// Presents the token hashing to `presented`: if it is current, it is replaced by `next`;
    /// if it was current once, the family is revoked (RFC 9700 §4.14.2: reuse detection) —
    /// unless it is the token just replaced, within the grace, and its successor is unused
    /// (its delivery is unknown: the swap may have timed out here and been performed later,
    /// or the process died before answering): the client's retry gets `next` instead of
    /// losing its grant.
    pub async fn rotate(
        &self,
        id: &str,
        presented: &str,
        next: &str,
        now: i64,
    ) -> Result<Rotation, SessionError> {
        let Some(family) = self.family(id).await? else {
            return Ok(Rotation::Invalid);
        };
        self.rotate_family(family, presented, next, now).await
    }

    /// [`Sessions::rotate`] for a family the caller has just read (one store round trip
    /// fewer). If the family was revoked since, its current token is gone and the
    /// rotation is refused.
    pub async fn rotate_family(
        &self,
        family: RefreshFamily,
        presented: &str,
        next: &str,
        now: i64,
    ) -> Result<Rotation, SessionError> {
        let id = family.id.clone();
        let ttl = secs_until(family.expires_at, now);
        let (cur, prev, last) = (
            format!("rf_cur:{id}"),
            format!("rf_prev:{id}"),
            format!("rf_last:{id}"),
        );
        let grace = !self.refresh_grace.is_zero();
        // With a grace, the swap also records the token it replaced under `rf_last`, in the
        // same step, for the grace. Only the successor's own use overwrites that record: a
        // process cannot know that its answer reached the client (it may die, or its answer
        // be lost, after the store performed the swap), but a client presenting the
        // successor has it.
        let remember = grace.then_some((last.as_str(), presented, self.refresh_grace));
        let current = match self
            .store
            .swap_remembering(&cur, presented, next, &prev, remember, ttl)
            .await?
        {
            Swap::Swapped => return Ok(Rotation::Rotated(family)),
            Swap::Missing => return Ok(Rotation::Invalid),
            Swap::Mismatch(current) => current,
        };
        if grace && self.store.get(&last).await?.as_deref() == Some(presented.as_bytes()) {
            if let Ok(current) = std::str::from_utf8(&current) {
                let again = self
                    .store
                    .swap_remembering(&cur, current, next, &prev, remember, ttl)
                    .await?;
                if again == Swap::Swapped {
                    return Ok(Rotation::Retried(family));
                }
            }
        }
        if self.store.is_member(&prev, presented).await? {
            self.revoke_family(&id).await?;
            return Ok(Rotation::Reused(family));
        }
        Ok(Rotation::Invalid)
    }

    /// Revokes a family: none of its tokens work any more.
    pub async fn revoke_family(&self, id: &str) -> Result<(), SessionError> {
        if let Some(f) = self.family(id).await? {
            self.store
                .remove_member(&format!("user_rf:{}", f.user_id), id)
                .await?;
        }
        self.delete_family(id).await
    }

    async fn delete_family(&self, id: &str) -> Result<(), SessionError> {
        for k in ["rf", "rf_cur", "rf_prev", "rf_last"] {
            self.store.delete(&format!("{k}:{id}")).await?;
        }
        Ok(())
    }
}

/// Sessions of the cookie-secret scheme live under `ssn:`; records of the earlier scheme (keyed
/// by the cookie itself, under `sso:`) are never read, so their cookies sign nobody in.
fn sso_key(handle: &str) -> String {
    format!("ssn:{handle}")
}

fn user_index(user: UserId) -> String {
    format!("user_ssn:{user}")
}

/// The storage handle of a cookie secret.
pub fn sso_handle(secret: &str) -> String {
    lanyard_core::random::hex(&Sha256::digest(secret.as_bytes()))
}

/// A fresh cookie secret and its handle.
pub fn new_sso_secret() -> (String, String) {
    let secret = lanyard_core::random::token(32);
    let handle = sso_handle(&secret);
    (secret, handle)
}

/// A fresh public session id (the `sid` claim).
pub fn new_sid() -> String {
    lanyard_core::random::token(18)
}

fn decode<T: DeserializeOwned>(bytes: Option<Vec<u8>>) -> Result<Option<T>, SessionError> {
    bytes
        .map(|b| serde_json::from_slice(&b).map_err(|e| SessionError::Corrupt(e.to_string())))
        .transpose()
}
