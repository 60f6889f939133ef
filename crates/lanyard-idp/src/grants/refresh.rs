//! `refresh_token`: every use rotates the token; presenting a rotated-out token revokes the
//! whole family (RFC 9700 §4.14.2). Tokens are `FAMILY.SECRET`; only the secret's hash is kept.

use super::{issue_for_person, AuthInfo, RefreshIssue, TokenResponse};
use crate::claims::{parse_scope, scope_string, Person};
use crate::client_auth::AuthenticatedClient;
use crate::error::OAuthError;
use crate::provider::Provider;
use crate::util::{random_token, sha256_hex};
use lanyard_core::ClientSpec;
use lanyard_session::{RefreshFamily, Rotation};
use std::collections::{BTreeSet, HashMap};

/// Splits a refresh token into (family id, secret).
pub fn split(token: &str) -> Option<(&str, &str)> {
    token
        .split_once('.')
        .filter(|(f, s)| !f.is_empty() && !s.is_empty())
}

/// Starts a family; returns (token, family id).
pub(super) async fn start_family(
    provider: &Provider,
    client: &ClientSpec,
    person: &Person,
    scope: &BTreeSet<String>,
    auth: &AuthInfo,
) -> Result<(String, String), OAuthError> {
    let id = random_token(16);
    let secret = random_token(32);
    let family = RefreshFamily {
        id: id.clone(),
        user_id: person.user_id,
        client_id: client.client_id.clone(),
        scope: scope_string(scope),
        sid: auth.sid.clone(),
        auth_time: auth.auth_time,
        amr: auth.amr.clone(),
        acr: auth.acr.clone(),
        expires_at: provider.now() + client.refresh_token_ttl_secs,
    };
    provider
        .sessions()
        .create_family(&family, &sha256_hex(&secret), provider.now())
        .await?;
    Ok((format!("{id}.{secret}"), id))
}

pub(super) async fn exchange(
    provider: &Provider,
    client: &AuthenticatedClient,
    form: &HashMap<String, String>,
) -> Result<TokenResponse, OAuthError> {
    let invalid =
        || OAuthError::InvalidGrant("the refresh token is invalid, expired or revoked".into());
    let token = form
        .get("refresh_token")
        .ok_or_else(|| OAuthError::InvalidRequest("refresh_token is required".into()))?;
    let (family_id, secret) = split(token).ok_or_else(invalid)?;
    // A token of another client is refused without touching the family.
    let family = provider
        .sessions()
        .family(family_id)
        .await?
        .ok_or_else(invalid)?;
    if family.client_id != client.spec().client_id {
        return Err(invalid());
    }
    // Everything that can refuse the request is checked, and the response made, before the
    // token rotates: a refused request must leave the presented token usable, or the client's
    // retry would look like reuse and revoke the whole family.
    let Some(person) = provider
        .directory()
        .person(family.user_id)
        .await?
        .filter(|p| p.may_sign_in)
    else {
        provider.sessions().revoke_family(family_id).await?;
        return Err(OAuthError::InvalidGrant(
            "the person may no longer sign in".into(),
        ));
    };
    let granted = parse_scope(&family.scope);
    let scope = match form.get("scope") {
        Some(s) => {
            let asked = parse_scope(s);
            if !asked.is_subset(&granted) {
                return Err(OAuthError::InvalidScope(
                    "a refresh may only narrow the granted scope".into(),
                ));
            }
            asked
        }
        None => granted,
    };
    let auth = AuthInfo {
        auth_time: family.auth_time,
        amr: family.amr.clone(),
        acr: family.acr.clone(),
        sid: family.sid.clone(),
    };
    let next_secret = random_token(32);
    let next = format!("{family_id}.{next_secret}");
    let (resp, _, _) = issue_for_person(
        provider,
        client.spec(),
        &person,
        &scope,
        &auth,
        None,
        RefreshIssue::Rotated(next),
    )
    .await?;
    match provider
        .sessions()
        .rotate_family(
            family,
            &sha256_hex(secret),
            &sha256_hex(&next_secret),
            provider.now(),
        )
        .await?
    {
        Rotation::Rotated(_) => {}
        Rotation::Retried(f) => {
            tracing::info!(client = %f.client_id, user = %f.user_id,
                "refresh token presented again within the grace, its successor unused: rotated again");
        }
        Rotation::Reused(f) => {
            tracing::warn!(client = %f.client_id, user = %f.user_id, "refresh token reuse: family revoked");
            return Err(OAuthError::InvalidGrant(
                "refresh token reuse detected; the grant has been revoked".into(),
            ));
        }
        Rotation::Invalid => return Err(invalid()),
    }
    Ok(resp)
}
