//! `client_credentials`: a confidential client acting for itself (no person, no ID token).

use super::{mint_access, TokenResponse};
use crate::claims::{parse_scope, scope_string};
use crate::client_auth::AuthenticatedClient;
use crate::error::OAuthError;
use crate::provider::Provider;
use lanyard_core::ClientKind;
use std::collections::{BTreeSet, HashMap};

pub(super) async fn exchange(
    provider: &Provider,
    client: &AuthenticatedClient,
    form: &HashMap<String, String>,
) -> Result<TokenResponse, OAuthError> {
    let spec = client.spec();
    if spec.kind != ClientKind::Confidential {
        return Err(OAuthError::UnauthorizedClient(
            "client_credentials needs a confidential client".into(),
        ));
    }
    // Person-related scopes mean nothing without a person.
    let allowed: BTreeSet<String> = spec
        .scopes
        .iter()
        .filter(|s| {
            !["openid", "offline_access", "profile", "email", "roles"].contains(&s.as_str())
        })
        .cloned()
        .collect();
    let scope = match form.get("scope") {
        Some(s) => {
            let asked = parse_scope(s);
            if let Some(bad) = asked.iter().find(|x| !allowed.contains(*x)) {
                return Err(OAuthError::InvalidScope(format!(
                    "scope {bad:?} is not allowed for client_credentials"
                )));
            }
            asked
        }
        None => allowed,
    };
    let (access_token, _, expires_in) =
        mint_access(provider, spec, &spec.client_id, None, &scope, None)?;
    Ok(TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in,
        scope: scope_string(&scope),
        id_token: None,
        refresh_token: None,
    })
}
