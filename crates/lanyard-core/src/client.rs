//! Relying parties: the training apps that delegate sign-in to Lanyard, as IT administrators
//! register them.

use crate::ids::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Whether a client can keep a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientKind {
    /// A browser or native app: no secret, PKCE required.
    Public,
    /// A server-side app or service with a credential.
    Confidential,
}

/// How a client proves itself at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// HTTP Basic with the client secret.
    ClientSecretBasic,
    /// The client secret in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's own key (RFC 7523).
    PrivateKeyJwt,
    /// Nothing: public clients.
    None,
}

impl AuthMethod {
    /// The registered name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::None => "none",
        }
    }
}

/// A grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// Authorization code (with PKCE).
    AuthorizationCode,
    /// Refresh token.
    RefreshToken,
    /// Client credentials (service to service).
    ClientCredentials,
}

impl GrantType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "authorization_code",
            GrantType::RefreshToken => "refresh_token",
            GrantType::ClientCredentials => "client_credentials",
        }
    }

    /// Parse the wire name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            GrantType::AuthorizationCode,
            GrantType::RefreshToken,
            GrantType::ClientCredentials,
        ]
        .into_iter()
        .find(|g| g.as_str() == s)
    }
}

/// Token signing algorithms Lanyard offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (2048-bit keys); the default.
    RS256,
    /// ECDSA P-256 with SHA-256.
    ES256,
    /// Ed25519.
    EdDSA,
}

impl SigningAlg {
    /// All, in preference order.
    pub const ALL: [SigningAlg; 3] = [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::RS256 => "RS256",
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
        }
    }

    /// Parse the JOSE name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// A registered client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientSpec {
    /// `client_id`.
    pub client_id: String,
    /// The tenant whose people sign in to it.
    pub tenant_id: TenantId,
    /// Display name (shown on the sign-in page).
    pub name: String,
    /// Public or confidential.
    pub kind: ClientKind,
    /// SHA-256 of the client secret, hex (confidential clients with a secret).
    pub secret_sha256: Option<String>,
    /// Token endpoint authentication.
    pub auth_method: AuthMethod,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Grants allowed.
    pub grant_types: BTreeSet<GrantType>,
    /// Scopes allowed.
    pub scopes: BTreeSet<String>,
    /// The client's public keys (a JWKS), for `private_key_jwt`.
    pub jwks: Option<serde_json::Value>,
    /// Algorithm of its ID and access tokens.
    pub signing_alg: SigningAlg,
    /// Renames of role names in this client's tokens (`"Student" = "learner"`).
    pub role_map: BTreeMap<String, String>,
    /// May call token introspection.
    pub may_introspect: bool,
    /// Access (and ID) token lifetime, seconds.
    pub access_token_ttl_secs: i64,
    /// Refresh family lifetime, seconds.
    pub refresh_token_ttl_secs: i64,
    /// Everyone signing in to this client must use a second factor.
    #[serde(default)]
    pub require_mfa: bool,
    /// The upstream connection this client's people sign in through (no sign-in page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// Roles of its tenant (by name) it acts with on the admin API when it signs in with
    /// client credentials: a provisioning client's delegated powers. Empty: none.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub admin_roles: BTreeSet<String>,
}

/// Checks one redirect URI: absolute, no fragment, and https unless on loopback (RFC 9700
/// §2.1 and RFC 8252 §7.3).
pub fn check_redirect_uri(uri: &str) -> Result<(), String> {
    if uri.contains('#') {
        return Err(format!("{uri:?} must not contain a fragment"));
    }
    let rest = if let Some(r) = uri.strip_prefix("https://") {
        r
    } else if let Some(r) = uri.strip_prefix("http://") {
        let host = r.split(['/', '?']).next().unwrap_or_default();
        let host = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
        if !matches!(host, "127.0.0.1" | "localhost" | "[::1]") {
            return Err(format!(
                "{uri:?} must use https (plain http only on loopback)"
            ));
        }
        r
    } else {
        return Err(format!("{uri:?} must be an absolute https URL"));
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    // `http://127.0.0.1:1@evil.example/` has its host after the `@`: no user-info, ever.
    if authority.contains('@') {
        return Err(format!("{uri:?} must not contain user information (@)"));
    }
    if rest.is_empty() || rest.starts_with('/') || uri.chars().any(char::is_whitespace) {
        return Err(format!("{uri:?} is not a valid URL"));
    }
    Ok(())
}

impl ClientSpec {
    /// Every problem with the registration.
    pub fn validate(&self) -> Vec<String> {
        let mut out = Vec::new();
        let id_ok = !self.client_id.is_empty()
            && self.client_id.len() <= 100
            && self
                .client_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
        if !id_ok {
            out.push(format!(
                "client_id {:?} must be 1 to 100 of a-z A-Z 0-9 - _ . :",
                self.client_id
            ));
        }
        for u in self
            .redirect_uris
            .iter()
            .chain(&self.post_logout_redirect_uris)
        {
            if let Err(e) = check_redirect_uri(u) {
                out.push(e);
            }
        }
        let code = self.grant_types.contains(&GrantType::AuthorizationCode);
        if code && self.redirect_uris.is_empty() {
            out.push("an authorization_code client needs at least one redirect URI".into());
        }
        match self.kind {
            ClientKind::Public => {
                if self.auth_method != AuthMethod::None || self.secret_sha256.is_some() {
                    out.push("a public client has no secret and uses token_endpoint_auth_method = \"none\"".into());
                }
                if self.grant_types.contains(&GrantType::ClientCredentials) {
                    out.push("a public client cannot use client_credentials".into());
                }
            }
            ClientKind::Confidential => match self.auth_method {
                AuthMethod::None => {
                    out.push("a confidential client needs an authentication method".into())
                }
                AuthMethod::PrivateKeyJwt if self.jwks.is_none() => {
                    out.push("private_key_jwt needs the client's jwks".into())
                }
                AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost
                    if self.secret_sha256.is_none() =>
                {
                    out.push("client_secret_basic/post needs a secret".into())
                }
                _ => {}
            },
        }
        if self.grant_types.is_empty() {
            out.push("at least one grant type is required".into());
        }
        if !(60..=86_400).contains(&self.access_token_ttl_secs) {
            out.push("access_token_ttl_secs must be 60 to 86400".into());
        }
        if !(300..=31_536_000).contains(&self.refresh_token_ttl_secs) {
            out.push("refresh_token_ttl_secs must be 300 to 31536000".into());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_uris() {
        for ok in [
            "https://lms.example.com/cb",
            "http://127.0.0.1:8088/callback",
            "http://localhost:8088/callback",
            "https://x.test/cb?a=1",
        ] {
            assert_eq!(check_redirect_uri(ok), Ok(()), "{ok}");
        }
        for bad in [
            "http://lms.example.com/cb",
            "https://x.test/cb#frag",
            "/relative",
            "javascript:alert(1)",
            "https:///x",
            "http://127.0.0.1.evil.com/cb",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }
}
