//! The SAML signing keys: the RS256 keys of the OIDC provider, each wrapped in a self-signed
//! certificate, so they are created, published ahead of use, rotated and retired together.

use super::SamlError;
use base64::Engine;
use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::PKey;
use openssl::x509::{X509Name, X509};
use zeroize::Zeroizing;

/// What one key needs to sign and be published.
pub struct SamlKeyInput {
    /// Its kid.
    pub kid: String,
    /// PKCS#8 DER of the RSA private key.
    pub pkcs8: Zeroizing<Vec<u8>>,
    /// Its certificate (DER).
    pub cert_der: Vec<u8>,
    /// Signs from.
    pub activates_at: i64,
    /// Stops signing at.
    pub retires_at: Option<i64>,
    /// Leaves the metadata at.
    pub expires_at: Option<i64>,
}

/// A loaded key.
pub struct SamlKey {
    /// Its kid.
    pub kid: String,
    /// PKCS#1 DER, what xmlsec loads.
    pub(crate) pkcs1: Zeroizing<Vec<u8>>,
    /// For query-string signatures.
    pub(crate) pkey: PKey<openssl::pkey::Private>,
    /// Base64 DER certificate.
    pub cert_b64: String,
    activates_at: i64,
    retires_at: Option<i64>,
    expires_at: Option<i64>,
}

impl std::fmt::Debug for SamlKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SamlKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// Every SAML key.
#[derive(Debug, Default)]
pub struct SamlKeys {
    keys: Vec<SamlKey>,
}

fn ssl(e: openssl::error::ErrorStack) -> SamlError {
    SamlError::Internal(format!("openssl: {e}"))
}

/// A self-signed certificate for an RSA key (PKCS#8 DER), valid for ten years: SAML service
/// providers pin the certificate itself, and Lanyard retires it by rotating the key.
pub fn self_signed_certificate(pkcs8: &[u8], common_name: &str) -> Result<Vec<u8>, SamlError> {
    let key = PKey::private_key_from_pkcs8(pkcs8).map_err(ssl)?;
    let mut name = X509Name::builder().map_err(ssl)?;
    name.append_entry_by_nid(Nid::COMMONNAME, common_name)
        .map_err(ssl)?;
    let name = name.build();
    let mut b = X509::builder().map_err(ssl)?;
    let mut serial = BigNum::new().map_err(ssl)?;
    serial
        .rand(127, MsbOption::MAYBE_ZERO, false)
        .map_err(ssl)?;
    let serial = serial.to_asn1_integer().map_err(ssl)?;
    b.set_serial_number(&serial).map_err(ssl)?;
    b.set_version(2).map_err(ssl)?;
    b.set_subject_name(&name).map_err(ssl)?;
    b.set_issuer_name(&name).map_err(ssl)?;
    b.set_pubkey(&key).map_err(ssl)?;
    let from = Asn1Time::days_from_now(0).map_err(ssl)?;
    b.set_not_before(&from).map_err(ssl)?;
    let until = Asn1Time::days_from_now(3650).map_err(ssl)?;
    b.set_not_after(&until).map_err(ssl)?;
    b.sign(&key, MessageDigest::sha256()).map_err(ssl)?;
    b.build().to_der().map_err(ssl)
}

impl SamlKeys {
    /// Loads keys (RSA only).
    pub fn load(inputs: Vec<SamlKeyInput>) -> Result<Self, SamlError> {
        let mut keys = Vec::new();
        for k in inputs {
            let pkey = PKey::private_key_from_pkcs8(&k.pkcs8).map_err(ssl)?;
            let pkcs1 = Zeroizing::new(pkey.rsa().map_err(ssl)?.private_key_to_der().map_err(ssl)?);
            keys.push(SamlKey {
                kid: k.kid,
                pkcs1,
                pkey,
                cert_b64: base64::engine::general_purpose::STANDARD.encode(&k.cert_der),
                activates_at: k.activates_at,
                retires_at: k.retires_at,
                expires_at: k.expires_at,
            });
        }
        Ok(Self { keys })
    }

    /// The key that signs now: the newest active one.
    pub fn signer(&self, now: i64) -> Option<&SamlKey> {
        self.keys
            .iter()
            .filter(|k| k.activates_at <= now && k.retires_at.is_none_or(|r| now < r))
            .max_by_key(|k| k.activates_at)
    }

    /// Certificates to publish now: active, upcoming and retiring-but-not-expired keys.
    pub fn published(&self, now: i64) -> Vec<&str> {
        self.keys
            .iter()
            .filter(|k| k.expires_at.is_none_or(|e| now < e))
            .map(|k| k.cert_b64.as_str())
            .collect()
    }
}

impl SamlKey {
    /// Signs bytes with RSA-SHA256 (for the HTTP-Redirect binding).
    pub fn sign_rsa_sha256(&self, data: &[u8]) -> Result<Vec<u8>, SamlError> {
        let mut s = openssl::sign::Signer::new(MessageDigest::sha256(), &self.pkey).map_err(ssl)?;
        s.update(data).map_err(ssl)?;
        s.sign_to_vec().map_err(ssl)
    }

    /// Signs the first signature template of an XML document.
    pub fn sign_xml(&self, xml: &str) -> Result<String, SamlError> {
        super::xml::sign(xml, &self.pkcs1)
    }
}
