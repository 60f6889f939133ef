//! One upstream OpenID Connect provider over HTTP: discovery (cached), its keys (cached, one
//! refetch when a token names a key not seen yet), the authorization URL, and the code
//! exchange. Timeouts and size caps on everything read from it.

use crate::connection::OidcConnection;
use crate::id_token::{self, Expect, IdClaims, Rejection};
use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::RwLock;

/// How long discovery and keys are kept before they are read again.
const CACHE_FOR: Duration = Duration::from_secs(3600);
/// The soonest the keys are fetched again for an unknown `kid` (a flood of forged tokens
/// must not become a flood of requests to the upstream).
const REFETCH_AFTER: Duration = Duration::from_secs(30);
/// The largest document accepted from an upstream.
const MAX_BYTES: usize = 512 * 1024;
/// Clock skew tolerated on ID tokens.
pub const SKEW_SECS: i64 = 120;

/// Why talking to the upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error("the upstream could not be reached: {0}")]
    Unreachable(String),
    #[error("the upstream answered {status} from {url}: {body}")]
    Status {
        url: String,
        status: u16,
        body: String,
    },
    #[error("the upstream's {what} is not valid: {why}")]
    Invalid { what: &'static str, why: String },
    #[error("the upstream's discovery says issuer {got:?}, the connection is for {want:?}")]
    DiscoveryIssuer { got: String, want: String },
    #[error(transparent)]
    Token(#[from] Rejection),
}

/// The parts of the discovery document used.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    #[serde(default)]
    pub token_endpoint_auth_methods_supported: Vec<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

struct Cached {
    metadata: Metadata,
    keys: JwkSet,
    fetched: Instant,
    keys_fetched: Instant,
}

/// An upstream, shared by every sign-in through its connection.
pub struct Upstream {
    http: reqwest::Client,
    discovery_url: String,
    issuer: String,
    cache: RwLock<Option<Arc<Cached>>>,
}

/// The tokens of a code exchange.
#[derive(Debug, Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
}

impl Upstream {
    /// The upstream of `c`, nothing fetched yet.
    pub fn new(c: &OidcConnection) -> Result<Self, UpstreamError> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(c.timeout_secs))
            .connect_timeout(Duration::from_secs(c.timeout_secs.min(5)))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        Ok(Self {
            http,
            discovery_url: c.discovery_url(),
            issuer: c.issuer.clone(),
            cache: RwLock::new(None),
        })
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
        what: &'static str,
    ) -> Result<T, UpstreamError> {
        let r = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        let status = r.status().as_u16();
        let body = read_capped(r).await?;
        if status != 200 {
            return Err(UpstreamError::Status {
                url: url.into(),
                status,
                body: snippet(&body),
            });
        }
        serde_json::from_slice(&body).map_err(|e| UpstreamError::Invalid {
            what,
            why: e.to_string(),
        })
    }

    async fn fetch(&self) -> Result<Arc<Cached>, UpstreamError> {
        let metadata: Metadata = self.get_json(&self.discovery_url, "discovery").await?;
        if metadata.issuer != self.issuer {
            return Err(UpstreamError::DiscoveryIssuer {
                got: metadata.issuer,
                want: self.issuer.clone(),
            });
        }
        let keys: JwkSet = self.get_json(&metadata.jwks_uri, "JWKS").await?;
        let now = Instant::now();
        Ok(Arc::new(Cached {
            metadata,
            keys,
            fetched: now,
            keys_fetched: now,
        }))
    }

    async fn cached(&self) -> Result<Arc<Cached>, UpstreamError> {
        if let Some(c) = self.cache.read().await.as_ref() {
            if c.fetched.elapsed() < CACHE_FOR {
                return Ok(c.clone());
            }
        }
        let fresh = self.fetch().await?;
        *self.cache.write().await = Some(fresh.clone());
        Ok(fresh)
    }

    /// The discovery document (cached).
    pub async fn metadata(&self) -> Result<Metadata, UpstreamError> {
        Ok(self.cached().await?.metadata.clone())
    }

    /// The URL that starts a sign-in at the upstream (authorization code flow with PKCE).
    pub async fn authorization_url(
        &self,
        c: &OidcConnection,
        a: &Authorization<'_>,
    ) -> Result<String, UpstreamError> {
        let m = self.metadata().await?;
        let mut url =
            url::Url::parse(&m.authorization_endpoint).map_err(|e| UpstreamError::Invalid {
                what: "authorization endpoint",
                why: e.to_string(),
            })?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("response_type", "code")
                .append_pair("client_id", &c.client_id)
                .append_pair("redirect_uri", a.redirect_uri)
                .append_pair("scope", &c.scopes.join(" "))
                .append_pair("state", a.state)
                .append_pair("nonce", a.nonce)
                .append_pair("code_challenge", a.code_challenge)
                .append_pair("code_challenge_method", "S256")
                .append_pair("response_mode", "query");
            if let Some(h) = a.login_hint {
                q.append_pair("login_hint", h);
            }
            if let Some(h) = a.domain_hint {
                q.append_pair("domain_hint", h);
            }
        }
        Ok(url.into())
    }

    /// Exchanges `code` and validates the ID token it brings.
    pub async fn exchange(
        &self,
        c: &OidcConnection,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
        nonce: &str,
        now: i64,
    ) -> Result<IdClaims, UpstreamError> {
        let cached = self.cached().await?;
        let m = &cached.metadata;
        // client_secret_basic unless the upstream only takes client_secret_post.
        let post_only = !m.token_endpoint_auth_methods_supported.is_empty()
            && !m
                .token_endpoint_auth_methods_supported
                .iter()
                .any(|x| x == "client_secret_basic");
        let mut form = vec![
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        let secret = c.client_secret.as_deref().unwrap_or_default();
        let mut req = self.http.post(&m.token_endpoint);
        if post_only || c.client_secret.is_none() {
            form.push(("client_id", &c.client_id));
            if c.client_secret.is_some() {
                form.push(("client_secret", secret));
            }
        } else {
            req = req.basic_auth(form_encode(&c.client_id), Some(form_encode(secret)));
        }
        let r = req
            .form(&form)
            .send()
            .await
            .map_err(|e| UpstreamError::Unreachable(e.to_string()))?;
        let status = r.status().as_u16();
        let body = read_capped(r).await?;
        if status != 200 {
            return Err(UpstreamError::Status {
                url: m.token_endpoint.clone(),
                status,
                body: snippet(&body),
            });
        }
        let t: TokenResponse =
            serde_json::from_slice(&body).map_err(|e| UpstreamError::Invalid {
                what: "token response",
                why: e.to_string(),
            })?;
        let id_token = t.id_token.ok_or(UpstreamError::Invalid {
            what: "token response",
            why: "no id_token".into(),
        })?;
        let expect = Expect {
            issuer: &c.issuer,
            allowed_tenant_ids: &c.allowed_tenant_ids,
            client_id: &c.client_id,
            nonce,
            now,
            skew: SKEW_SECS,
        };
        match id_token::validate(&id_token, &cached.keys, &expect) {
            Err(e) if e.is_unknown_key() && cached.keys_fetched.elapsed() >= REFETCH_AFTER => {
                // A key rotated at the upstream: read its keys once more, then decide.
                let keys: JwkSet = self.get_json(&m.jwks_uri, "JWKS").await?;
                let refreshed = Arc::new(Cached {
                    metadata: m.clone(),
                    keys,
                    fetched: cached.fetched,
                    keys_fetched: Instant::now(),
                });
                *self.cache.write().await = Some(refreshed.clone());
                Ok(id_token::validate(&id_token, &refreshed.keys, &expect)?)
            }
            other => Ok(other?),
        }
    }
}

/// What one sign-in sends to the upstream.
pub struct Authorization<'a> {
    pub redirect_uri: &'a str,
    pub state: &'a str,
    pub nonce: &'a str,
    pub code_challenge: &'a str,
    pub login_hint: Option<&'a str>,
    pub domain_hint: Option<&'a str>,
}

/// RFC 6749 §2.3.1: client id and secret are form-encoded before Basic.
fn form_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn read_capped(mut r: reqwest::Response) -> Result<Vec<u8>, UpstreamError> {
    let mut out = Vec::new();
    while let Some(chunk) = r
        .chunk()
        .await
        .map_err(|e| UpstreamError::Unreachable(e.to_string()))?
    {
        out.extend_from_slice(&chunk);
        if out.len() > MAX_BYTES {
            return Err(UpstreamError::Invalid {
                what: "answer",
                why: format!("larger than {MAX_BYTES} bytes"),
            });
        }
    }
    Ok(out)
}

fn snippet(body: &[u8]) -> String {
    String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned()
}
