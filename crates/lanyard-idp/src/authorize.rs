//! The authorization endpoint: validating a request (code flow only), and answering it with a
//! code or an error. An unknown client or an unregistered redirect URI is never redirected to.

use crate::claims::{parse_scope, scope_string};
use crate::error::OAuthError;
use crate::pkce;
use crate::provider::Provider;
use crate::util::{random_token, sha256_hex};
use lanyard_core::{ClientKind, ClientSpec, GrantType, UserId};
use lanyard_session::SsoSession;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

/// What `prompt` asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Prompt {
    /// `prompt=none`: never show a page.
    pub none: bool,
    /// `prompt=login`: authenticate again even inside a session.
    pub login: bool,
}

/// A checked authorization request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuthRequest {
    /// Client.
    pub client_id: String,
    /// Exact, registered redirect URI.
    pub redirect_uri: String,
    /// Granted scope (within what the client may ask).
    pub scope: BTreeSet<String>,
    /// `state`, returned as it came.
    pub state: Option<String>,
    /// `nonce`, put into the ID token.
    pub nonce: Option<String>,
    /// S256 PKCE challenge.
    pub code_challenge: Option<String>,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age` in seconds.
    pub max_age: Option<i64>,
    /// `login_hint`.
    pub login_hint: Option<String>,
    /// `domain_hint` (the person's home domain, as Entra ID apps send it).
    #[serde(default)]
    pub domain_hint: Option<String>,
    /// `acr_values`, in order of preference.
    pub acr_values: Vec<String>,
}

/// Why a request was refused, and how to tell the requester.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthorizeError {
    /// Show an error page: the redirect URI cannot be trusted.
    Page(String),
    /// Send the error back to the client's verified redirect URI.
    Redirect {
        /// Where.
        redirect_uri: String,
        /// `state` to echo.
        state: Option<String>,
        /// What.
        error: OAuthError,
    },
}

/// What the provider keeps between code issuance and redemption.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CodeGrant {
    /// Client.
    pub client_id: String,
    /// Redirect URI of the request.
    pub redirect_uri: String,
    /// Who.
    pub user_id: UserId,
    /// Scope granted.
    pub scope: String,
    /// Nonce.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// Authentication time.
    pub auth_time: i64,
    /// Methods.
    pub amr: Vec<String>,
    /// Class.
    pub acr: String,
    /// SSO session.
    pub sid: String,
}

/// The longest value each carried parameter may have (bytes).
pub const PARAM_LIMITS: [(&str, usize); 5] = [
    ("state", 2048),
    ("nonce", 512),
    ("login_hint", 256),
    ("domain_hint", 253),
    ("acr_values", 512),
];

/// Known scope values; others are refused.
pub const SCOPES: [&str; 6] = [
    "openid",
    "profile",
    "email",
    "roles",
    "offline_access",
    ADMIN_SCOPE,
];

/// The scope that makes an access token good for the admin API (with the person's own
/// rights there, never more).
pub const ADMIN_SCOPE: &str = "admin";

/// The audience an access token with [`ADMIN_SCOPE`] carries beside the client's id.
pub fn admin_audience(issuer: &str) -> String {
    format!("{}/admin/api/v1", issuer.trim_end_matches('/'))
}

/// Validates the query of an authorization request.
pub async fn validate(
    provider: &Provider,
    query: &[(String, String)],
) -> Result<(AuthRequest, ClientSpec), AuthorizeError> {
    let mut params: HashMap<&str, &str> = HashMap::new();
    let mut repeated = None;
    for (k, v) in query {
        if params.insert(k.as_str(), v.as_str()).is_some() {
            repeated = Some(k.clone());
        }
    }
    let client_id = params
        .get("client_id")
        .copied()
        .ok_or_else(|| AuthorizeError::Page("The request has no client_id.".into()))?;
    let client = match provider.directory().client(client_id).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Err(AuthorizeError::Page(format!(
                "The application {client_id:?} is not registered."
            )))
        }
        Err(_) => {
            return Err(AuthorizeError::Page(
                "Sign-in is temporarily unavailable. Please try again shortly.".into(),
            ))
        }
    };
    let redirect_uri = params
        .get("redirect_uri")
        .copied()
        .ok_or_else(|| AuthorizeError::Page("The request has no redirect_uri.".into()))?;
    if !client.redirect_uris.iter().any(|r| r == redirect_uri)
        || repeated
            .as_deref()
            .is_some_and(|r| r == "redirect_uri" || r == "client_id")
    {
        return Err(AuthorizeError::Page(
            "The redirect URI is not registered for this application.".into(),
        ));
    }
    let state = params.get("state").map(|s| s.to_string());
    let fail = |error: OAuthError| AuthorizeError::Redirect {
        redirect_uri: redirect_uri.to_string(),
        state: state.clone(),
        error,
    };
    if let Some(r) = repeated {
        return Err(fail(OAuthError::InvalidRequest(format!(
            "parameter {r} is repeated"
        ))));
    }
    if params.contains_key("request") {
        return Err(fail(OAuthError::RequestNotSupported));
    }
    if params.contains_key("request_uri") {
        return Err(fail(OAuthError::RequestUriNotSupported));
    }
    match params.get("response_type").copied() {
        Some("code") => {}
        Some(other) => {
            return Err(fail(OAuthError::UnsupportedResponseType(format!(
                "{other:?}: only the authorization code flow is supported"
            ))))
        }
        None => {
            return Err(fail(OAuthError::InvalidRequest(
                "response_type is required".into(),
            )))
        }
    }
    if params.get("response_mode").is_some_and(|m| *m != "query") {
        return Err(fail(OAuthError::InvalidRequest(
            "only response_mode=query is supported".into(),
        )));
    }
    if !client.grant_types.contains(&GrantType::AuthorizationCode) {
        return Err(fail(OAuthError::UnauthorizedClient(
            "this client may not use the authorization code flow".into(),
        )));
    }
    let scope = parse_scope(params.get("scope").copied().unwrap_or_default());
    if let Some(bad) = scope
        .iter()
        .find(|s| !SCOPES.contains(&s.as_str()) || !client.scopes.contains(*s))
    {
        return Err(fail(OAuthError::InvalidScope(format!(
            "scope {bad:?} is not allowed for this client"
        ))));
    }
    let code_challenge = match (
        params.get("code_challenge"),
        params.get("code_challenge_method").copied(),
    ) {
        (Some(c), Some("S256")) if pkce::valid_challenge(c) => Some(c.to_string()),
        (Some(_), Some("S256")) => {
            return Err(fail(OAuthError::InvalidRequest(
                "code_challenge must be a base64url SHA-256".into(),
            )))
        }
        (Some(_), Some("plain")) | (Some(_), None) => {
            return Err(fail(OAuthError::InvalidRequest(
                "code_challenge_method must be S256 (plain is not allowed)".into(),
            )))
        }
        (Some(_), Some(m)) => {
            return Err(fail(OAuthError::InvalidRequest(format!(
                "unsupported code_challenge_method {m:?}"
            ))))
        }
        (None, Some(_)) => {
            return Err(fail(OAuthError::InvalidRequest(
                "code_challenge_method without code_challenge".into(),
            )))
        }
        (None, None) if client.kind == ClientKind::Public => {
            return Err(fail(OAuthError::InvalidRequest(
                "PKCE (code_challenge with S256) is required for this client".into(),
            )))
        }
        (None, None) => None,
    };
    let mut prompt = Prompt::default();
    for p in params
        .get("prompt")
        .copied()
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
    {
        match p {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" | "select_account" => {}
            other => {
                return Err(fail(OAuthError::InvalidRequest(format!(
                    "unknown prompt value {other:?}"
                ))))
            }
        }
    }
    let values = params
        .get("prompt")
        .copied()
        .unwrap_or_default()
        .split(' ')
        .filter(|p| !p.is_empty())
        .count();
    if prompt.none && values > 1 {
        return Err(fail(OAuthError::InvalidRequest(
            "prompt=none cannot be combined with other values".into(),
        )));
    }
    let max_age = match params.get("max_age") {
        Some(m) => Some(m.parse::<i64>().ok().filter(|m| *m >= 0).ok_or_else(|| {
            fail(OAuthError::InvalidRequest(
                "max_age must be a non-negative integer".into(),
            ))
        })?),
        None => None,
    };
    // OIDC Core §3.1.2.1: max_age=0 is prompt=login (a session made a moment ago is not "0
    // seconds old" enough).
    if max_age == Some(0) {
        prompt.login = true;
    }
    // What a request may carry is bounded: it travels with the sign-in until the person has
    // signed in, so an anonymous request cannot make the server hold much for it.
    for (name, limit) in PARAM_LIMITS {
        if params.get(name).is_some_and(|v| v.len() > limit) {
            return Err(fail(OAuthError::InvalidRequest(format!(
                "{name} is too long (at most {limit} bytes)"
            ))));
        }
    }
    let nonce = params.get("nonce").map(|s| s.to_string());
    let request = AuthRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        scope,
        state,
        nonce,
        code_challenge,
        prompt,
        max_age,
        login_hint: params.get("login_hint").map(|s| s.to_string()),
        domain_hint: params.get("domain_hint").map(|s| s.trim().to_lowercase()),
        acr_values: params
            .get("acr_values")
            .map(|a| {
                a.split(' ')
                    .filter(|x| !x.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    };
    Ok((request, client))
}

/// Whether an existing session may answer the request without showing a page.
pub fn session_satisfies(req: &AuthRequest, sso: &SsoSession, now: i64) -> bool {
    !req.prompt.login && req.max_age.is_none_or(|m| now - sso.auth_time <= m)
}

fn with_params(base: &str, params: &[(&str, &str)]) -> String {
    let mut url = base.to_string();
    let mut sep = if url.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        url.push(sep);
        url.push_str(k);
        url.push('=');
        url.extend(url::form_urlencoded::byte_serialize(v.as_bytes()));
        sep = '&';
    }
    url
}

/// The redirect carrying an error (with `iss`, RFC 9207).
pub fn error_redirect(
    issuer: &str,
    redirect_uri: &str,
    state: Option<&str>,
    error: &OAuthError,
) -> String {
    let wire = error.wire();
    let mut p = vec![("error", wire.code)];
    let desc = wire.description.unwrap_or_default();
    if !desc.is_empty() {
        p.push(("error_description", desc.as_str()));
    }
    if let Some(s) = state {
        p.push(("state", s));
    }
    p.push(("iss", issuer));
    with_params(redirect_uri, &p)
}

/// Issues a code for `req` within `sso` and returns the redirect to the client.
pub async fn issue_code(
    provider: &Provider,
    req: &AuthRequest,
    sso: &SsoSession,
) -> Result<String, OAuthError> {
    if !sso.clients.contains(&req.client_id) {
        // The session learns of the client (for logout) without overwriting a concurrent
        // change or bringing back a session ended meanwhile.
        let kept = provider
            .sessions()
            .update_sso(&sso.handle, provider.now(), |s| {
                s.clients.insert(req.client_id.clone());
            })
            .await?;
        if kept.is_none() {
            return Err(OAuthError::LoginRequired);
        }
    }
    let code = random_token(32);
    let grant = CodeGrant {
        client_id: req.client_id.clone(),
        redirect_uri: req.redirect_uri.clone(),
        user_id: sso.user_id,
        scope: scope_string(&req.scope),
        nonce: req.nonce.clone(),
        code_challenge: req.code_challenge.clone(),
        auth_time: sso.auth_time,
        amr: sso.amr.clone(),
        acr: sso.acr.clone(),
        sid: sso.sid.clone(),
    };
    let ttl = Duration::from_secs(u64::try_from(provider.settings().code_ttl_secs).unwrap_or(60));
    provider
        .sessions()
        .put_json(
            &format!("code:{}", sha256_hex(&code)),
            &crate::grants::CodeState::Fresh(grant),
            ttl,
        )
        .await?;
    let mut p = vec![("code", code.as_str())];
    if let Some(s) = &req.state {
        p.push(("state", s));
    }
    let issuer = provider.settings().issuer.clone();
    p.push(("iss", &issuer));
    Ok(with_params(&req.redirect_uri, &p))
}
