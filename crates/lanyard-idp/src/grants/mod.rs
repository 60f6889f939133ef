//! The token endpoint: one module per grant type, sharing client authentication and minting.

mod client_credentials;
mod code;
mod refresh;

use crate::claims::{self, Person};
use crate::client_auth::{self, AuthenticatedClient};
use crate::error::OAuthError;
use crate::jws;
use crate::provider::Provider;
use crate::util::{b64, random_token};
use lanyard_core::{ClientSpec, GrantType};
use serde::Serialize;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashMap};

pub use code::CodeState;

/// A token request as the server parsed it.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    /// The form body.
    pub form: HashMap<String, String>,
    /// Credentials from an `Authorization: Basic` header.
    pub basic: Option<(String, String)>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// The access token (an RFC 9068 JWT).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Granted scope.
    pub scope: String,
    /// ID token, for `openid` requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// Refresh token, for `offline_access`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
}

/// How the person authenticated, carried into tokens.
#[derive(Debug, Clone)]
pub(crate) struct AuthInfo {
    pub auth_time: i64,
    pub amr: Vec<String>,
    pub acr: String,
    pub sid: Option<String>,
}

/// Authenticates the client of a request to `endpoint` (token, introspection, revocation).
pub async fn authenticate_client(
    provider: &Provider,
    form: &HashMap<String, String>,
    basic: Option<(String, String)>,
    endpoint: &str,
) -> Result<AuthenticatedClient, OAuthError> {
    let presented = client_auth::presented(form, basic)?;
    let audiences = [
        provider.settings().endpoint(endpoint),
        provider.settings().issuer.clone(),
        provider.settings().endpoint("/token"),
    ];
    client_auth::authenticate(provider, presented, &audiences).await
}

/// Answers a token request.
pub async fn token(provider: &Provider, req: TokenRequest) -> Result<TokenResponse, OAuthError> {
    let grant = req
        .form
        .get("grant_type")
        .cloned()
        .ok_or_else(|| OAuthError::InvalidRequest("grant_type is required".into()))?;
    let client = authenticate_client(provider, &req.form, req.basic.clone(), "/token").await?;
    let kind = GrantType::parse(&grant)
        .ok_or_else(|| OAuthError::UnsupportedGrantType(format!("{grant:?} is not supported")))?;
    if !client.spec().grant_types.contains(&kind) {
        return Err(OAuthError::UnauthorizedClient(format!(
            "this client may not use {grant}"
        )));
    }
    match kind {
        GrantType::AuthorizationCode => code::exchange(provider, &client, &req.form).await,
        GrantType::RefreshToken => refresh::exchange(provider, &client, &req.form).await,
        GrantType::ClientCredentials => {
            client_credentials::exchange(provider, &client, &req.form).await
        }
    }
}

/// Claims of an access token as Lanyard reads them back.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct AccessClaims {
    /// Subject: a user id, or the client id for client credentials.
    pub sub: String,
    /// The client it was issued to.
    pub client_id: String,
    /// Token id.
    pub jti: String,
    /// Scope.
    #[serde(default)]
    pub scope: String,
    /// Expiry.
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Everything else.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// Mints an access token; returns (token, jti, expires_in).
pub(crate) fn mint_access(
    provider: &Provider,
    client: &ClientSpec,
    sub: &str,
    person: Option<&Person>,
    scope: &BTreeSet<String>,
    auth: Option<&AuthInfo>,
) -> Result<(String, String, i64), OAuthError> {
    let now = provider.now();
    let ttl = client.access_token_ttl_secs;
    let jti = random_token(16);
    let mut c = Map::new();
    c.insert("iss".into(), json!(provider.settings().issuer));
    c.insert("sub".into(), json!(sub));
    if scope.contains(crate::authorize::ADMIN_SCOPE) {
        let admin = crate::authorize::admin_audience(&provider.settings().issuer);
        c.insert("aud".into(), json!([client.client_id, admin]));
    } else {
        c.insert("aud".into(), json!(client.client_id));
    }
    c.insert("client_id".into(), json!(client.client_id));
    c.insert("iat".into(), json!(now));
    c.insert("exp".into(), json!(now + ttl));
    c.insert("jti".into(), json!(jti));
    c.insert("scope".into(), json!(claims::scope_string(scope)));
    if let Some(a) = auth {
        c.insert("auth_time".into(), json!(a.auth_time));
        c.insert("acr".into(), json!(a.acr));
        c.insert("amr".into(), json!(a.amr));
        if let Some(sid) = &a.sid {
            c.insert("sid".into(), json!(sid));
        }
    }
    if let Some(p) = person {
        // Access tokens carry the role claims, not the profile.
        let roles_only: BTreeSet<String> =
            scope.iter().filter(|s| *s == "roles").cloned().collect();
        c.extend(claims::scoped(p, client, &roles_only));
    }
    let key = provider
        .keys()
        .signer(client.signing_alg, now)
        .ok_or_else(|| OAuthError::ServerError("no signing key".into()))?;
    let token =
        jws::sign(&key, "at+jwt", &c).map_err(|e| OAuthError::ServerError(e.to_string()))?;
    Ok((token, jti, ttl))
}

/// Mints an ID token.
pub(crate) fn mint_id(
    provider: &Provider,
    client: &ClientSpec,
    person: &Person,
    scope: &BTreeSet<String>,
    auth: &AuthInfo,
    nonce: Option<&str>,
    access_token: &str,
) -> Result<String, OAuthError> {
    let now = provider.now();
    let mut c = Map::new();
    c.insert("iss".into(), json!(provider.settings().issuer));
    c.insert("sub".into(), json!(person.user_id.to_string()));
    c.insert("aud".into(), json!(client.client_id));
    c.insert("azp".into(), json!(client.client_id));
    c.insert("iat".into(), json!(now));
    c.insert("exp".into(), json!(now + client.access_token_ttl_secs));
    c.insert("auth_time".into(), json!(auth.auth_time));
    c.insert("acr".into(), json!(auth.acr));
    c.insert("amr".into(), json!(auth.amr));
    if let Some(sid) = &auth.sid {
        c.insert("sid".into(), json!(sid));
    }
    if let Some(n) = nonce {
        c.insert("nonce".into(), json!(n));
    }
    if client.signing_alg != lanyard_core::SigningAlg::EdDSA {
        let digest = Sha256::digest(access_token.as_bytes());
        c.insert("at_hash".into(), json!(b64(&digest[..16])));
    }
    c.extend(claims::scoped(person, client, scope));
    let key = provider
        .keys()
        .signer(client.signing_alg, now)
        .ok_or_else(|| OAuthError::ServerError("no signing key".into()))?;
    jws::sign(&key, "JWT", &c).map_err(|e| OAuthError::ServerError(e.to_string()))
}

/// Issues the access token, ID token (for `openid`) and a refresh token (for
/// `offline_access` with the refresh grant) for a person.
pub(crate) async fn issue_for_person(
    provider: &Provider,
    client: &ClientSpec,
    person: &Person,
    scope: &BTreeSet<String>,
    auth: &AuthInfo,
    nonce: Option<&str>,
    refresh: RefreshIssue,
) -> Result<(TokenResponse, String, Option<String>), OAuthError> {
    let sub = person.user_id.to_string();
    let (access, jti, expires_in) =
        mint_access(provider, client, &sub, Some(person), scope, Some(auth))?;
    // A refresh answers with a new access token only: OIDC Core §12.2 lets the response omit the
    // ID token, and signing one doubles the cost of every refresh (the person's identity has not
    // changed since the sign-in that issued the first one).
    let refreshing = matches!(refresh, RefreshIssue::Rotated(_));
    let id_token = if scope.contains("openid") && !refreshing {
        Some(mint_id(
            provider, client, person, scope, auth, nonce, &access,
        )?)
    } else {
        None
    };
    let (refresh_token, family) = match refresh {
        RefreshIssue::New
            if scope.contains("offline_access")
                && client.grant_types.contains(&GrantType::RefreshToken) =>
        {
            let (token, family) =
                refresh::start_family(provider, client, person, scope, auth).await?;
            (Some(token), Some(family))
        }
        RefreshIssue::New => (None, None),
        RefreshIssue::Rotated(token) => (Some(token), None),
    };
    let resp = TokenResponse {
        access_token: access,
        token_type: "Bearer",
        expires_in,
        scope: claims::scope_string(scope),
        id_token,
        refresh_token,
    };
    Ok((resp, jti, family))
}

/// Whether and how a refresh token goes with the response.
pub(crate) enum RefreshIssue {
    /// Start a family, if the scope and client allow.
    New,
    /// The next token of an existing family.
    Rotated(String),
}

/// Marks an access token revoked until it would have expired.
pub(crate) async fn revoke_jti(provider: &Provider, jti: &str, exp: i64) -> Result<(), OAuthError> {
    let ttl =
        std::time::Duration::from_secs(u64::try_from(exp - provider.now()).unwrap_or(0).max(1));
    provider
        .sessions()
        .store()
        .put(&format!("revoked:{jti}"), b"1", ttl)
        .await?;
    Ok(())
}

/// Whether an access token has been revoked.
pub async fn is_revoked(provider: &Provider, jti: &str) -> Result<bool, OAuthError> {
    Ok(provider
        .sessions()
        .store()
        .get(&format!("revoked:{jti}"))
        .await?
        .is_some())
}
