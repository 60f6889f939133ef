//! ID-token validation for an upstream OpenID Connect provider (OIDC Core §3.1.3.7), with
//! the Entra ID multi-tenant issuer (`https://login.microsoftonline.com/{tenantid}/v2.0`)
//! resolved from the token's `tid` and checked against an allow-list.
//!
//! Every refusal says exactly why ([`Rejection`]) so the administrator can read it in the log;
//! the person only ever sees that the upstream sign-in failed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

/// The placeholder in a multi-tenant issuer.
pub const TENANT_PLACEHOLDER: &str = "{tenantid}";

/// Signature algorithms an upstream may use: asymmetric only. `none` and the HMAC family
/// (whose "key" would be the public client secret or a published key) never pass.
const ALLOWED: [Algorithm; 9] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::EdDSA,
];

/// What the token must match.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    /// The configured issuer, possibly with [`TENANT_PLACEHOLDER`].
    pub issuer: &'a str,
    /// Entra `tid` values accepted (required with a placeholder; checked whenever set).
    pub allowed_tenant_ids: &'a [String],
    /// Our client id at the upstream: the audience.
    pub client_id: &'a str,
    /// The nonce this sign-in sent.
    pub nonce: &'a str,
    /// Now (Unix seconds).
    pub now: i64,
    /// Clock skew tolerated (seconds).
    pub skew: i64,
}

/// Why an ID token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the ID token is malformed: {0}")]
    Malformed(String),
    #[error("the ID token is signed with {0}, which is not accepted (asymmetric algorithms only)")]
    Algorithm(String),
    #[error("the ID token is signed by key {0:?}, which is not in the upstream's JWKS")]
    UnknownKey(Option<String>),
    #[error("the ID token's signature does not verify with the upstream's key")]
    Signature,
    #[error("the ID token's issuer is {got:?}, expected {want:?}")]
    IssuerMismatch { got: String, want: String },
    #[error("the ID token is from directory tenant {0:?}, which is not in allowed_tenant_ids")]
    WrongTenant(Option<String>),
    #[error("the ID token is for audience {0}, not this connection's client id")]
    Audience(String),
    #[error("the ID token has several audiences and its azp is not this connection's client id")]
    AuthorizedParty,
    #[error("the ID token expired at {exp} (now {now})")]
    Expired { exp: i64, now: i64 },
    #[error("the ID token is not valid yet (nbf/iat {at}, now {now})")]
    NotYetValid { at: i64, now: i64 },
    #[error("the ID token's nonce does not match this sign-in's")]
    Nonce,
}

impl Rejection {
    /// Whether fetching the upstream's keys again might help (a rotated key).
    pub fn is_unknown_key(&self) -> bool {
        matches!(self, Rejection::UnknownKey(_))
    }
}

/// The claims Lanyard reads, plus all of them for role mapping.
#[derive(Debug, Clone)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    /// Entra's directory tenant.
    pub tid: Option<String>,
    /// Entra's object id: the stable subject there (`sub` is pairwise per app).
    pub oid: Option<String>,
    pub email: Option<String>,
    pub email_verified: bool,
    pub preferred_username: Option<String>,
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    pub amr: Vec<String>,
    /// Every claim, as sent.
    pub all: Map<String, Value>,
}

impl IdClaims {
    /// The claims of a set already trusted (validated by [`validate`], or an administrator's
    /// sample for `test-mapping`).
    pub fn from_map(claims: Map<String, Value>) -> Self {
        let email_verified = match claims.get("email_verified") {
            Some(Value::Bool(b)) => *b,
            Some(Value::String(s)) => s == "true",
            // Entra's optional `xms_edov`: the email's domain is verified by its directory.
            _ => matches!(claims.get("xms_edov"), Some(Value::Bool(true))),
        };
        IdClaims {
            iss: string(&claims, "iss").unwrap_or_default(),
            sub: string(&claims, "sub").unwrap_or_default(),
            tid: string(&claims, "tid"),
            oid: string(&claims, "oid"),
            email: string(&claims, "email"),
            email_verified,
            preferred_username: string(&claims, "preferred_username")
                .or_else(|| string(&claims, "upn")),
            name: string(&claims, "name"),
            given_name: string(&claims, "given_name"),
            family_name: string(&claims, "family_name"),
            amr: match claims.get("amr") {
                Some(Value::Array(a)) => a
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect(),
                _ => Vec::new(),
            },
            all: claims,
        }
    }

    /// The upstream's stable identifier for the person: `oid` where Entra sends one, `sub`
    /// elsewhere.
    pub fn subject(&self) -> &str {
        self.oid.as_deref().unwrap_or(&self.sub)
    }

    /// The values of claim `name`: a string, or the strings of an array.
    pub fn values(&self, name: &str) -> Vec<String> {
        match self.all.get(name) {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Entra left claim `name` out because there were too many values (the "overage"
    /// case: `_claim_names` points at Microsoft Graph instead).
    pub fn is_overage(&self, name: &str) -> bool {
        self.all
            .get("_claim_names")
            .and_then(|c| c.get(name))
            .is_some()
    }
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
}

/// Validates `token` against the upstream's `keys` and `e`; returns its claims.
pub fn validate(token: &str, keys: &JwkSet, e: &Expect<'_>) -> Result<IdClaims, Rejection> {
    let raw = raw_header(token)?;
    let alg_name = raw.alg.unwrap_or_default();
    let alg = ALLOWED
        .iter()
        .copied()
        .find(|a| format!("{a:?}") == alg_name)
        .ok_or_else(|| Rejection::Algorithm(alg_name.clone()))?;
    let jwk = pick_key(keys, raw.kid.as_deref(), &alg_name)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| Rejection::UnknownKey(raw.kid.clone()))?;
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.validate_exp = false;
    v.validate_nbf = false;
    v.validate_aud = false;
    v.required_spec_claims.clear();
    let claims: Map<String, Value> = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v)
        .map(|d| d.claims)
        .map_err(|err| match err.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => Rejection::Signature,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => {
                Rejection::Algorithm(alg_name.clone())
            }
            other => Rejection::Malformed(format!("{other:?}")),
        })?;
    check_claims(claims, e)
}

fn raw_header(token: &str) -> Result<RawHeader, Rejection> {
    let mut parts = token.split('.');
    let (Some(h), Some(_), Some(_), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejection::Malformed("not a compact JWS".into()));
    };
    let bytes = B64
        .decode(h)
        .map_err(|_| Rejection::Malformed("header is not base64url".into()))?;
    serde_json::from_slice(&bytes).map_err(|_| Rejection::Malformed("header is not JSON".into()))
}

/// The signing key the header names: by `kid`, or the only signing key there is.
fn pick_key<'k>(keys: &'k JwkSet, kid: Option<&str>, alg: &str) -> Result<&'k Jwk, Rejection> {
    let usable = |k: &&Jwk| {
        !matches!(k.common.public_key_use, Some(PublicKeyUse::Encryption))
            && k.common
                .key_algorithm
                .is_none_or(|a| format!("{a:?}") == alg)
    };
    let mut candidates = keys.keys.iter().filter(usable);
    match kid {
        Some(kid) => candidates
            .find(|k| k.common.key_id.as_deref() == Some(kid))
            .ok_or_else(|| Rejection::UnknownKey(Some(kid.to_string()))),
        None => match (candidates.next(), candidates.next()) {
            (Some(k), None) => Ok(k),
            _ => Err(Rejection::UnknownKey(None)),
        },
    }
}

fn string(claims: &Map<String, Value>, name: &str) -> Option<String> {
    claims.get(name).and_then(Value::as_str).map(str::to_string)
}

fn number(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    claims.get(name).and_then(Value::as_i64)
}

fn check_claims(claims: Map<String, Value>, e: &Expect<'_>) -> Result<IdClaims, Rejection> {
    let iss = string(&claims, "iss").ok_or_else(|| Rejection::Malformed("no iss".into()))?;
    if string(&claims, "sub").is_none() {
        return Err(Rejection::Malformed("no sub".into()));
    }
    let tid = string(&claims, "tid");
    // The issuer: a multi-tenant template is filled in from the token's own tid, which must
    // be one the administrator allowed; a fixed issuer must match as it is.
    let templated = e.issuer.contains(TENANT_PLACEHOLDER);
    if templated || !e.allowed_tenant_ids.is_empty() {
        let allowed = tid.as_ref().is_some_and(|t| {
            e.allowed_tenant_ids
                .iter()
                .any(|a| a.eq_ignore_ascii_case(t))
        });
        if !allowed {
            return Err(Rejection::WrongTenant(tid));
        }
    }
    let want = match (&tid, templated) {
        (Some(t), true) => e.issuer.replace(TENANT_PLACEHOLDER, t),
        _ => e.issuer.to_string(),
    };
    if iss != want {
        return Err(Rejection::IssuerMismatch { got: iss, want });
    }
    // The audience must include us; with several, azp must name us (§3.1.3.7 items 3-5).
    let audiences: Vec<String> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if !audiences.iter().any(|a| a == e.client_id) {
        return Err(Rejection::Audience(format!("{audiences:?}")));
    }
    let azp = string(&claims, "azp");
    if (audiences.len() > 1 && azp.is_none()) || azp.as_deref().is_some_and(|a| a != e.client_id) {
        return Err(Rejection::AuthorizedParty);
    }
    let exp = number(&claims, "exp").ok_or_else(|| Rejection::Malformed("no exp".into()))?;
    if e.now > exp + e.skew {
        return Err(Rejection::Expired { exp, now: e.now });
    }
    for at in [number(&claims, "nbf"), number(&claims, "iat")]
        .into_iter()
        .flatten()
    {
        if at > e.now + e.skew {
            return Err(Rejection::NotYetValid { at, now: e.now });
        }
    }
    let nonce_ok = string(&claims, "nonce").is_some_and(|n| {
        n.len() == e.nonce.len()
            && n.bytes()
                .zip(e.nonce.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    });
    if !nonce_ok {
        return Err(Rejection::Nonce);
    }
    Ok(IdClaims::from_map(claims))
}
