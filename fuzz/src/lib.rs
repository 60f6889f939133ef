//! What the fuzz targets share: a provider with the demo realm's clients (and one that
//! authenticates with `private_key_jwt`), its signing keys, a SAML SP with a real
//! certificate, and helpers that turn fuzzer bytes into well-formed envelopes so the
//! fuzzer spends its time inside the parsers rather than on base64.
#![forbid(unsafe_code)]

use base64::Engine;
use lanyard_core::{ClientSpec, SamlSpSpec, SigningAlg, SystemClock, UserId};
use lanyard_idp::{Directory, DirectoryError, KeySet, Person, Provider, ProviderSettings};
use lanyard_session::{MemoryStore, Sessions};
use std::sync::{Arc, OnceLock};

pub mod targets;

/// The issuer every target uses.
pub const ISSUER: &str = "https://id.fuzz.example";

/// Everything the targets need, built once per process.
pub struct Fixture {
    /// Runs the async parts.
    pub rt: tokio::runtime::Runtime,
    /// The OIDC provider with the fixture's clients.
    pub provider: Provider,
    /// The provider's signing keys.
    pub keys: KeySet,
    /// A SAML SP (from the demo realm when it has one), with `cert` among its certificates.
    pub sp: SamlSpSpec,
    /// An upstream's JWKS (the fixture's own public key).
    pub jwks: jsonwebtoken::jwk::JwkSet,
    /// Base64 DER of the SP's certificate.
    pub cert: String,
}

struct Clients(Vec<ClientSpec>);

#[async_trait::async_trait]
impl Directory for Clients {
    async fn client(&self, client_id: &str) -> Result<Option<ClientSpec>, DirectoryError> {
        Ok(self.0.iter().find(|c| c.client_id == client_id).cloned())
    }
    async fn person(&self, _user: UserId) -> Result<Option<Person>, DirectoryError> {
        Ok(None)
    }
}

/// The shared fixture.
pub fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(build)
}

fn build() -> Fixture {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let material = lanyard_idp::keys::generate(SigningAlg::RS256, 1, 0).expect("key");
    let keys = KeySet::load(std::slice::from_ref(&material)).expect("keys");
    let jwk = keys.find(&material.kid, 0).expect("the key").jwk().clone();
    let jwks_json = serde_json::json!({ "keys": [jwk] });
    let jwks: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks_json.clone()).expect("jwks");
    let cert_der = lanyard_idp::saml::keys::self_signed_certificate(&material.pkcs8, "fuzz")
        .expect("certificate");
    let cert = base64::engine::general_purpose::STANDARD.encode(cert_der);
    let realm = format!(
        "{}\n[[tenant.client]]\nclient_id = \"fuzz-jwt\"\nname = \"Fuzz\"\ntype = \"confidential\"\ntoken_endpoint_auth_method = \"private_key_jwt\"\nredirect_uris = [\"https://app.fuzz.example/cb\"]\ngrant_types = [\"authorization_code\", \"client_credentials\", \"refresh_token\"]\njwks = {}\n",
        include_str!("../../config/demo.toml"),
        toml_inline(&jwks_json),
    );
    let parsed = lanyard_server::realm::parse(&realm).unwrap_or_else(|e| {
        panic!("the fixture realm parses: {e:?}");
    });
    let mut clients = Vec::new();
    let mut sp = None;
    for t in parsed.plan.tenants {
        clients.extend(t.clients);
        if sp.is_none() {
            sp = t.saml_sps.into_iter().next();
        }
    }
    let mut sp = sp.expect("the demo realm has a SAML SP");
    sp.certificates.push(cert.clone());
    let provider = {
        let _guard = rt.enter();
        let clock = Arc::new(SystemClock);
        Provider::new(
            ProviderSettings::new(ISSUER),
            KeySet::load(std::slice::from_ref(&material)).expect("keys"),
            Sessions::new(Arc::new(MemoryStore::new(clock.clone()))),
            Arc::new(Clients(clients)),
            clock,
        )
    };
    Fixture {
        rt,
        provider,
        keys,
        sp,
        jwks,
        cert,
    }
}

/// A JSON value as a TOML inline value.
fn toml_inline(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => format!(
            "{{ {} }}",
            m.iter()
                .map(|(k, v)| format!(
                    "{} = {}",
                    serde_json::Value::String(k.clone()),
                    toml_inline(v)
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        serde_json::Value::Array(a) => format!(
            "[{}]",
            a.iter().map(toml_inline).collect::<Vec<_>>().join(", ")
        ),
        other => other.to_string(),
    }
}

/// Base64url without padding.
pub fn b64url(b: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Standard base64.
pub fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

/// Percent-encodes for a query string.
pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Raw DEFLATE, as the HTTP-Redirect binding carries it.
pub fn deflate(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = e.write_all(b);
    e.finish().unwrap_or_default()
}

/// Now, in Unix seconds.
pub fn now() -> i64 {
    lanyard_core::Clock::now(&SystemClock).unix_timestamp()
}
