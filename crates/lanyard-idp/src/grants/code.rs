//! `authorization_code`: single-use, short-lived codes bound to client, redirect URI and PKCE.
//! A replayed code revokes what was issued from it (RFC 6749 §4.1.2, RFC 9700 §4.5.3).

use super::{issue_for_person, revoke_jti, AuthInfo, RefreshIssue, TokenResponse};
use crate::authorize::CodeGrant;
use crate::claims::parse_scope;
use crate::client_auth::AuthenticatedClient;
use crate::error::OAuthError;
use crate::pkce;
use crate::provider::Provider;
use crate::util::sha256_hex;
use lanyard_session::Swap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// A code's record, from issue to its end, under one key: redeeming it, finishing it and
/// spotting a replay are each a compare-and-swap on that key, so there is no moment between
/// two store calls in which a replay goes unseen.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CodeState {
    /// Issued, not yet presented.
    Fresh(CodeGrant),
    /// Presented once; its tokens are being made.
    Redeeming,
    /// Redeemed: what it issued (revoked if the code comes back).
    Redeemed {
        /// The access token's id.
        jti: String,
        /// When that token expires.
        exp: i64,
        /// The refresh family started, if any.
        family: Option<String>,
    },
    /// Presented again while its tokens were being made: the exchange revokes them itself.
    Replayed,
}

fn bytes(state: &CodeState) -> Result<Vec<u8>, OAuthError> {
    serde_json::to_vec(state).map_err(|e| OAuthError::ServerError(e.to_string()))
}

/// How long a redeemed code is remembered, to revoke its tokens if it comes back.
const REMEMBERED: Duration = Duration::from_secs(600);

fn used() -> OAuthError {
    OAuthError::InvalidGrant("the code is invalid, expired or already used".into())
}

/// A code presented again: what it issued is revoked (or, while that is still being made,
/// the exchange is told to revoke it).
async fn replayed(
    provider: &Provider,
    client: &AuthenticatedClient,
    key: &str,
    mut seen: Vec<u8>,
) -> Result<(), OAuthError> {
    let redeeming = bytes(&CodeState::Redeeming)?;
    let replayed = bytes(&CodeState::Replayed)?;
    loop {
        match serde_json::from_slice::<CodeState>(&seen) {
            Ok(CodeState::Redeeming) => {
                match provider
                    .sessions()
                    .store()
                    .swap(key, &redeeming, &replayed, REMEMBERED)
                    .await?
                {
                    Swap::Swapped | Swap::Missing => return Ok(()),
                    Swap::Mismatch(now) => seen = now,
                }
            }
            Ok(CodeState::Redeemed { jti, exp, family }) => {
                tracing::warn!(client = %client.spec().client_id, "authorization code replayed; revoking its tokens");
                revoke_jti(provider, &jti, exp).await?;
                if let Some(f) = family {
                    provider.sessions().revoke_family(&f).await?;
                }
                return Ok(());
            }
            // Fresh cannot come back; Replayed has been dealt with; garbage is nothing.
            _ => return Ok(()),
        }
    }
}

pub(super) async fn exchange(
    provider: &Provider,
    client: &AuthenticatedClient,
    form: &HashMap<String, String>,
) -> Result<TokenResponse, OAuthError> {
    let code = form
        .get("code")
        .ok_or_else(|| OAuthError::InvalidRequest("code is required".into()))?;
    let key = format!("code:{}", sha256_hex(code));
    let kv = provider.sessions().store();
    let Some(raw) = kv.get(&key).await? else {
        return Err(used());
    };
    let grant = match serde_json::from_slice::<CodeState>(&raw) {
        Ok(CodeState::Fresh(g)) => g,
        Ok(_) => {
            replayed(provider, client, &key, raw).await?;
            return Err(used());
        }
        Err(_) => return Err(used()),
    };
    let redeeming = bytes(&CodeState::Redeeming)?;
    match kv.swap(&key, &raw, &redeeming, REMEMBERED).await? {
        Swap::Swapped => {}
        Swap::Missing => return Err(used()),
        Swap::Mismatch(now) => {
            // Another presenter won the race: this one is the replay.
            replayed(provider, client, &key, now).await?;
            return Err(used());
        }
    }
    if grant.client_id != client.spec().client_id {
        return Err(OAuthError::InvalidGrant(
            "the code was issued to another client".into(),
        ));
    }
    let Some(redirect_uri) = form.get("redirect_uri") else {
        return Err(OAuthError::InvalidRequest(
            "redirect_uri is required".into(),
        ));
    };
    if *redirect_uri != grant.redirect_uri {
        return Err(OAuthError::InvalidGrant(
            "redirect_uri does not match the authorization request".into(),
        ));
    }
    match (&grant.code_challenge, form.get("code_verifier")) {
        (Some(challenge), Some(verifier)) => {
            pkce::verify(verifier, challenge)?;
        }
        (Some(_), None) => {
            return Err(OAuthError::InvalidGrant("code_verifier is required".into()))
        }
        // A verifier for a request that had no challenge is a downgrade attempt (RFC 9700 §4.8.2).
        (None, Some(_)) => {
            return Err(OAuthError::InvalidGrant(
                "code_verifier sent but no code_challenge was used".into(),
            ))
        }
        (None, None) => {}
    }
    let person = provider
        .directory()
        .person(grant.user_id)
        .await?
        .filter(|p| p.may_sign_in)
        .ok_or_else(|| OAuthError::InvalidGrant("the person may no longer sign in".into()))?;
    let scope = parse_scope(&grant.scope);
    let auth = AuthInfo {
        auth_time: grant.auth_time,
        amr: grant.amr.clone(),
        acr: grant.acr.clone(),
        sid: Some(grant.sid.clone()),
    };
    let (resp, jti, family) = issue_for_person(
        provider,
        client.spec(),
        &person,
        &scope,
        &auth,
        grant.nonce.as_deref(),
        RefreshIssue::New,
    )
    .await?;
    let redeemed = bytes(&CodeState::Redeemed {
        jti: jti.clone(),
        exp: provider.now() + resp.expires_in,
        family: family.clone(),
    })?;
    match kv.swap(&key, &redeeming, &redeemed, REMEMBERED).await? {
        Swap::Swapped | Swap::Missing => Ok(resp),
        Swap::Mismatch(_) => {
            // The code came back while its tokens were being made: they never leave.
            tracing::warn!(client = %client.spec().client_id, "authorization code replayed during its exchange; revoking its tokens");
            revoke_jti(provider, &jti, provider.now() + resp.expires_in).await?;
            if let Some(f) = family {
                provider.sessions().revoke_family(&f).await?;
            }
            Err(used())
        }
    }
}
