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
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;

/// What was issued from a redeemed code, kept for a while to revoke it on replay.
#[derive(Serialize, Deserialize)]
struct Redeemed {
    jti: String,
    exp: i64,
    family: Option<String>,
}

pub(super) async fn exchange(
    provider: &Provider,
    client: &AuthenticatedClient,
    form: &HashMap<String, String>,
) -> Result<TokenResponse, OAuthError> {
    let code = form
        .get("code")
        .ok_or_else(|| OAuthError::InvalidRequest("code is required".into()))?;
    let hash = sha256_hex(code);
    let Some(grant) = provider
        .sessions()
        .take_json::<CodeGrant>(&format!("code:{hash}"))
        .await?
    else {
        if let Some(r) = provider
            .sessions()
            .take_json::<Redeemed>(&format!("code_used:{hash}"))
            .await?
        {
            tracing::warn!(client = %client.spec().client_id, "authorization code replayed; revoking its tokens");
            revoke_jti(provider, &r.jti, r.exp).await?;
            if let Some(f) = r.family {
                provider.sessions().revoke_family(&f).await?;
            }
        }
        return Err(OAuthError::InvalidGrant(
            "the code is invalid, expired or already used".into(),
        ));
    };
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
    let redeemed = Redeemed {
        jti,
        exp: provider.now() + resp.expires_in,
        family,
    };
    provider
        .sessions()
        .put_json(
            &format!("code_used:{hash}"),
            &redeemed,
            Duration::from_secs(600),
        )
        .await?;
    Ok(resp)
}
