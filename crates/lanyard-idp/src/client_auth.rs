//! Client authentication at the token, introspection and revocation endpoints:
//! `client_secret_basic`, `client_secret_post`, `private_key_jwt` (RFC 7523) and `none`.

use crate::error::OAuthError;
use crate::jws::{self, VerifyError};
use crate::provider::Provider;
use crate::util::sha256_hex;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, JwkSet};
use jsonwebtoken::DecodingKey;
use lanyard_core::{AuthMethod, ClientKind, ClientSpec};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;
use subtle::ConstantTimeEq;

/// A client that has proven who it is; only [`authenticate`] makes one.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    spec: ClientSpec,
}

impl AuthenticatedClient {
    /// The registration.
    pub fn spec(&self) -> &ClientSpec {
        &self.spec
    }
}

/// The credentials a request carries.
#[derive(Debug, Clone)]
pub enum Presented {
    /// HTTP Basic.
    Basic {
        /// Client id.
        id: String,
        /// Secret.
        secret: String,
    },
    /// Secret in the body.
    Post {
        /// Client id.
        id: String,
        /// Secret.
        secret: String,
    },
    /// A signed JWT.
    Assertion {
        /// `client_id` parameter, if sent.
        id: Option<String>,
        /// The JWT.
        assertion: String,
    },
    /// Only a client id (public clients).
    Public {
        /// Client id.
        id: String,
    },
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Reads the credentials from the form and the Basic header; more than one method is an error
/// (RFC 6749 §2.3).
pub fn presented(
    form: &HashMap<String, String>,
    basic: Option<(String, String)>,
) -> Result<Presented, OAuthError> {
    let secret = form.get("client_secret");
    let assertion = form.get("client_assertion");
    let id = form.get("client_id").cloned();
    let methods = usize::from(basic.is_some())
        + usize::from(secret.is_some())
        + usize::from(assertion.is_some());
    if methods > 1 {
        return Err(OAuthError::InvalidRequest(
            "use exactly one client authentication method".into(),
        ));
    }
    if let Some((bid, bsecret)) = basic {
        if id.as_ref().is_some_and(|i| *i != bid) {
            return Err(OAuthError::InvalidRequest(
                "client_id does not match the Authorization header".into(),
            ));
        }
        return Ok(Presented::Basic {
            id: bid,
            secret: bsecret,
        });
    }
    if let Some(secret) = secret {
        let id = id.ok_or_else(|| {
            OAuthError::InvalidRequest("client_id is required with client_secret".into())
        })?;
        return Ok(Presented::Post {
            id,
            secret: secret.clone(),
        });
    }
    if let Some(a) = assertion {
        if form.get("client_assertion_type").map(String::as_str) != Some(JWT_BEARER) {
            return Err(OAuthError::InvalidRequest(format!(
                "client_assertion_type must be {JWT_BEARER}"
            )));
        }
        return Ok(Presented::Assertion {
            id,
            assertion: a.clone(),
        });
    }
    match id {
        Some(id) => Ok(Presented::Public { id }),
        None => Err(OAuthError::InvalidClient(
            "client authentication is required".into(),
        )),
    }
}

fn refused() -> OAuthError {
    OAuthError::InvalidClient("client authentication failed".into())
}

#[derive(Deserialize)]
struct AssertionClaims {
    iss: String,
    sub: String,
    aud: serde_json::Value,
    exp: i64,
    jti: String,
}

/// Checks the presented credentials against the client's registration. `audiences` are the
/// values an assertion's `aud` may name (the endpoint URL and the issuer).
pub async fn authenticate(
    provider: &Provider,
    presented: Presented,
    audiences: &[String],
) -> Result<AuthenticatedClient, OAuthError> {
    let id = match &presented {
        Presented::Basic { id, .. } | Presented::Post { id, .. } | Presented::Public { id } => {
            id.clone()
        }
        Presented::Assertion { id, assertion } => match id {
            Some(id) => id.clone(),
            None => unverified_issuer(assertion)?,
        },
    };
    let spec = provider
        .directory()
        .client(&id)
        .await?
        .ok_or_else(refused)?;
    let ok = match (&presented, spec.auth_method) {
        (Presented::Basic { secret, .. }, AuthMethod::ClientSecretBasic)
        | (Presented::Post { secret, .. }, AuthMethod::ClientSecretPost) => {
            secret_matches(&spec, secret)
        }
        (Presented::Public { .. }, AuthMethod::None) => spec.kind == ClientKind::Public,
        (Presented::Assertion { assertion, .. }, AuthMethod::PrivateKeyJwt) => {
            check_assertion(provider, &spec, assertion, audiences).await?;
            true
        }
        _ => false,
    };
    if ok {
        Ok(AuthenticatedClient { spec })
    } else {
        Err(refused())
    }
}

fn secret_matches(spec: &ClientSpec, secret: &str) -> bool {
    spec.secret_sha256
        .as_deref()
        .is_some_and(|h| sha256_hex(secret).as_bytes().ct_eq(h.as_bytes()).into())
}

fn unverified_issuer(assertion: &str) -> Result<String, OAuthError> {
    let payload = assertion
        .split('.')
        .nth(1)
        .and_then(crate::util::unb64)
        .ok_or_else(refused)?;
    let v: serde_json::Value = serde_json::from_slice(&payload).map_err(|_| refused())?;
    v.get("iss")
        .and_then(|i| i.as_str())
        .map(str::to_string)
        .ok_or_else(refused)
}

/// The client's keys usable for verification: asymmetric only (a symmetric `oct` key in a
/// client's JWKS is never used).
fn client_keys(spec: &ClientSpec) -> Vec<Jwk> {
    let Some(jwks) = &spec.jwks else {
        return Vec::new();
    };
    let Ok(set) = serde_json::from_value::<JwkSet>(jwks.clone()) else {
        return Vec::new();
    };
    set.keys
        .into_iter()
        .filter(|k| {
            matches!(
                k.algorithm,
                AlgorithmParameters::RSA(_)
                    | AlgorithmParameters::EllipticCurve(_)
                    | AlgorithmParameters::OctetKeyPair(_)
            )
        })
        .collect()
}

async fn check_assertion(
    provider: &Provider,
    spec: &ClientSpec,
    assertion: &str,
    audiences: &[String],
) -> Result<(), OAuthError> {
    let header = jws::header(assertion).map_err(|_| refused())?;
    let keys = client_keys(spec);
    let candidates: Vec<&Jwk> = match &header.kid {
        Some(kid) => keys
            .iter()
            .filter(|k| k.common.key_id.as_deref() == Some(kid))
            .collect(),
        None => keys.iter().collect(),
    };
    let claims = candidates
        .into_iter()
        .filter_map(|jwk| DecodingKey::from_jwk(jwk).ok())
        .find_map(|key| {
            match jws::verify_with::<AssertionClaims>(assertion, &key, header.alg, true) {
                Ok(c) => Some(Ok(c)),
                Err(VerifyError::Expired) => Some(Err(OAuthError::InvalidClient(
                    "client assertion expired".into(),
                ))),
                Err(_) => None,
            }
        })
        .ok_or_else(refused)??;
    let now = provider.now();
    let aud_ok = match &claims.aud {
        serde_json::Value::String(a) => audiences.contains(a),
        serde_json::Value::Array(a) => a
            .iter()
            .filter_map(|x| x.as_str())
            .any(|x| audiences.iter().any(|y| y == x)),
        _ => false,
    };
    if claims.iss != spec.client_id || claims.sub != spec.client_id || !aud_ok {
        return Err(refused());
    }
    if claims.exp > now + 600 {
        return Err(OAuthError::InvalidClient(
            "client assertion lives too long (at most 10 minutes)".into(),
        ));
    }
    // One use per jti (RFC 7523 §3: replay protection).
    let ttl = Duration::from_secs(u64::try_from(claims.exp - now + 60).unwrap_or(60).max(1));
    let fresh = provider
        .sessions()
        .store()
        .put_new(&format!("jti:{}:{}", spec.client_id, claims.jti), b"1", ttl)
        .await?;
    if fresh {
        Ok(())
    } else {
        Err(OAuthError::InvalidClient(
            "client assertion replayed".into(),
        ))
    }
}

/// How a client secret is stored: SHA-256, hex (secrets are long random values, so a fast
/// hash is right; compare in constant time).
pub fn hash_secret(secret: &str) -> String {
    sha256_hex(secret)
}
