//! Messages arriving by the HTTP-Redirect and HTTP-POST bindings: decoding within size limits,
//! signature checks (query-string signatures over the octets as received; enveloped XML
//! signatures through xmlsec, keeping only what the signature covers), and the checks of the
//! Web Browser SSO and Single Logout profiles.

use super::{Reply, SamlAuthn, SamlError, AC_MFA, STATUS_INVALID_NAME_ID_POLICY, STATUS_REQUESTER};
use super::{STATUS_NO_AUTHN_CONTEXT, STATUS_REQUEST_UNSUPPORTED};
use base64::Engine;
use lanyard_core::saml::BINDING_POST;
use lanyard_core::{NameIdFormat, SamlSpSpec};
use openssl::hash::MessageDigest;
use samael::crypto::{
    AllowedSignatureAlgorithm, CertificateDer, CryptoProvider, ReduceMode, XmlSec,
};
use std::io::Read;
use std::str::FromStr;

/// The largest decoded message accepted (requests are a few kilobytes).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// The longest `RelayState` accepted (the binding says 80 bytes; some SPs send more).
pub const MAX_RELAY_STATE: usize = 1024;
/// Clock skew allowed on `IssueInstant`.
pub const SKEW_SECS: i64 = 180;
/// How old a request may be.
pub const MAX_AGE_SECS: i64 = 600;

const SIG_ALGS: [(&str, AllowedSignatureAlgorithm); 3] = [
    (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
        AllowedSignatureAlgorithm::RsaSha256,
    ),
    (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
        AllowedSignatureAlgorithm::RsaSha512,
    ),
    (
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        AllowedSignatureAlgorithm::EcdsaSha256,
    ),
];

/// How a message came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binding {
    /// Query string, DEFLATE-compressed.
    Redirect,
    /// Form post.
    Post,
}

/// A query-string signature (HTTP-Redirect binding §3.4.4.1).
#[derive(Debug, Clone)]
struct QuerySignature {
    /// The signed octets exactly as received.
    signed: String,
    sig_alg: String,
    signature: Vec<u8>,
}

/// A decoded, not yet trusted message.
#[derive(Debug, Clone)]
pub struct Incoming {
    /// The XML.
    pub xml: String,
    /// `RelayState`.
    pub relay_state: Option<String>,
    /// How it came.
    pub binding: Binding,
    query_sig: Option<QuerySignature>,
}

fn bad(msg: &str) -> SamlError {
    SamlError::Page(msg.to_string())
}

fn form_decode(raw: &str) -> String {
    url::form_urlencoded::parse(format!("x={raw}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn b64(s: &str) -> Result<Vec<u8>, SamlError> {
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(clean)
        .map_err(|_| bad("The SAML message is not valid base64."))
}

fn checked_xml(bytes: Vec<u8>) -> Result<String, SamlError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(bad("The SAML message is too large."));
    }
    let xml = String::from_utf8(bytes).map_err(|_| bad("The SAML message is not UTF-8 text."))?;
    // SAML messages never carry a DTD; refusing one shuts out entity expansion and XXE.
    if xml.to_ascii_lowercase().contains("<!doctype") || xml.contains("<!ENTITY") {
        return Err(bad(
            "The SAML message contains a document type declaration.",
        ));
    }
    Ok(xml)
}

fn relay(v: Option<String>) -> Result<Option<String>, SamlError> {
    match v {
        Some(r) if r.len() > MAX_RELAY_STATE => Err(bad("The RelayState is too long.")),
        other => Ok(other.filter(|r| !r.is_empty())),
    }
}

impl Incoming {
    /// From a raw query string; `param` is `SAMLRequest` or `SAMLResponse`.
    pub fn from_redirect(raw_query: &str, param: &str) -> Result<Self, SamlError> {
        let mut found: std::collections::HashMap<String, &str> = std::collections::HashMap::new();
        for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let key = form_decode(k);
            if found.contains_key(&key) {
                return Err(bad(&format!("The parameter {key} is repeated.")));
            }
            found.insert(key, v);
        }
        let raw = |name: &str| found.get(name).copied();
        let message = raw(param).ok_or_else(|| bad(&format!("{param} is missing.")))?;
        if message.len() > MAX_MESSAGE_BYTES * 2 {
            return Err(bad("The SAML message is too large."));
        }
        let deflated = b64(&form_decode(message))?;
        let mut out = Vec::new();
        flate2::read::DeflateDecoder::new(deflated.as_slice())
            .take(MAX_MESSAGE_BYTES as u64 + 1)
            .read_to_end(&mut out)
            .map_err(|_| {
                bad("The SAML message is not DEFLATE-compressed as the binding requires.")
            })?;
        let xml = checked_xml(out)?;
        let relay_state = relay(raw("RelayState").map(form_decode))?;
        let query_sig = match (raw("SigAlg"), raw("Signature")) {
            (Some(alg), Some(sig)) => {
                let mut signed = format!("{param}={message}");
                if let Some(r) = raw("RelayState") {
                    signed.push_str(&format!("&RelayState={r}"));
                }
                signed.push_str(&format!("&SigAlg={alg}"));
                Some(QuerySignature {
                    signed,
                    sig_alg: form_decode(alg),
                    signature: b64(&form_decode(sig))?,
                })
            }
            (None, None) => None,
            _ => return Err(bad("SigAlg and Signature must come together.")),
        };
        Ok(Self {
            xml,
            relay_state,
            binding: Binding::Redirect,
            query_sig,
        })
    }

    /// From form fields (already decoded); `param` is `SAMLRequest` or `SAMLResponse`.
    pub fn from_post(form: &[(String, String)], param: &str) -> Result<Self, SamlError> {
        let one = |name: &str| -> Result<Option<String>, SamlError> {
            let mut it = form.iter().filter(|(k, _)| k == name);
            let first = it.next().map(|(_, v)| v.clone());
            if it.next().is_some() {
                return Err(bad(&format!("The parameter {name} is repeated.")));
            }
            Ok(first)
        };
        let message = one(param)?.ok_or_else(|| bad(&format!("{param} is missing.")))?;
        if message.len() > MAX_MESSAGE_BYTES * 2 {
            return Err(bad("The SAML message is too large."));
        }
        Ok(Self {
            xml: checked_xml(b64(&message)?)?,
            relay_state: relay(one("RelayState")?)?,
            binding: Binding::Post,
            query_sig: None,
        })
    }

    /// The `Issuer` of the message, read before anything is trusted (to find the SP).
    pub fn issuer(&self) -> Result<String, SamlError> {
        #[derive(serde::Deserialize)]
        struct Head {
            #[serde(rename = "Issuer")]
            issuer: Option<IssuerText>,
        }
        #[derive(serde::Deserialize)]
        struct IssuerText {
            #[serde(rename = "$value")]
            value: Option<String>,
        }
        let head: Head = quick_xml_de(&self.xml)?;
        head.issuer
            .and_then(|i| i.value)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| bad("The SAML message has no Issuer."))
    }

    /// Checks the signature against the SP's certificates. Returns the XML to read from now
    /// on (for an enveloped signature, only what it covers) and whether it was signed.
    pub fn verify(&self, certs_b64: &[String]) -> Result<(String, bool), SamlError> {
        if let Some(q) = &self.query_sig {
            if certs_b64.is_empty() {
                return Ok((self.xml.clone(), false));
            }
            let digest = match q.sig_alg.as_str() {
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
                | "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256" => MessageDigest::sha256(),
                "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512" => MessageDigest::sha512(),
                other => {
                    return Err(bad(&format!(
                        "The signature algorithm {other} is not accepted (use RSA-SHA256)."
                    )))
                }
            };
            for c in certs_b64 {
                if query_sig_ok(&q.signed, &q.signature, digest, c) {
                    return Ok((self.xml.clone(), true));
                }
            }
            return Err(bad("The request's signature does not verify."));
        }
        if self.binding == Binding::Post && has_root_signature(&self.xml) {
            if certs_b64.is_empty() {
                return Ok((self.xml.clone(), false));
            }
            let certs: Vec<CertificateDer> = certs_b64
                .iter()
                .filter_map(|c| b64(c).ok())
                .map(CertificateDer::from)
                .collect();
            let allowed: Vec<AllowedSignatureAlgorithm> =
                SIG_ALGS.iter().map(|(_, a)| *a).collect();
            let reduced = XmlSec::reduce_xml_to_signed_with_allowed_algorithms(
                &self.xml,
                &certs,
                ReduceMode::default(),
                Some(&allowed),
            )
            .map_err(|_| bad("The request's signature does not verify."))?;
            return Ok((reduced, true));
        }
        Ok((self.xml.clone(), false))
    }
}

fn query_sig_ok(signed: &str, signature: &[u8], digest: MessageDigest, cert_b64: &str) -> bool {
    let Ok(der) = b64(cert_b64) else { return false };
    let Ok(cert) = openssl::x509::X509::from_der(&der) else {
        return false;
    };
    let Ok(key) = cert.public_key() else {
        return false;
    };
    let Ok(mut v) = openssl::sign::Verifier::new(digest, &key) else {
        return false;
    };
    v.update(signed.as_bytes()).is_ok() && v.verify(signature).unwrap_or(false)
}

/// Whether the root element has a `ds:Signature` child (looked at structurally).
fn has_root_signature(xml: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Root {
        #[serde(rename = "Signature")]
        signature: Option<serde::de::IgnoredAny>,
    }
    quick_xml_de::<Root>(xml).is_ok_and(|r| r.signature.is_some())
}

fn quick_xml_de<T: serde::de::DeserializeOwned>(xml: &str) -> Result<T, SamlError> {
    samael_de(xml).map_err(|_| bad("The SAML message is not well-formed."))
}

/// Deserialises with the same reader samael uses.
fn samael_de<T: serde::de::DeserializeOwned>(xml: &str) -> Result<T, Box<dyn std::error::Error>> {
    Ok(quick_xml::de::from_str(xml)?)
}

/// Checks an authentication request from `sp`, already verified. `signed` says whether its
/// signature was checked.
pub fn check_authn_request(
    sp: &SamlSpSpec,
    xml: &str,
    relay_state: Option<String>,
    signed: bool,
    sso_url: &str,
    now: i64,
) -> Result<(SamlAuthn, String), SamlError> {
    let req = samael::schema::AuthnRequest::from_str(xml)
        .map_err(|_| bad("The authentication request is not a valid SAML AuthnRequest."))?;
    if sp.require_signed_requests && !signed {
        return Err(bad(
            "This application must sign its requests, and this one is not signed.",
        ));
    }
    if req.version != "2.0" {
        return Err(bad("Only SAML 2.0 requests are accepted."));
    }
    if req.id.is_empty() || req.id.len() > 256 {
        return Err(bad("The request has no usable ID."));
    }
    match req.destination.as_deref() {
        Some(d) if d != sso_url => {
            return Err(bad(&format!(
                "The request was addressed to {d}, not to this identity provider."
            )))
        }
        None if signed => {
            return Err(bad("A signed request must name its Destination."));
        }
        _ => {}
    }
    let issued = req.issue_instant.timestamp();
    if issued > now + SKEW_SECS || issued < now - MAX_AGE_SECS - SKEW_SECS {
        return Err(bad(
            "The request has expired or its clock is wrong; please start again from the application.",
        ));
    }
    let index = match req.assertion_consumer_service_index {
        Some(i) => {
            Some(u16::try_from(i).map_err(|_| bad("Unknown AssertionConsumerServiceIndex."))?)
        }
        None => None,
    };
    let acs = sp
        .acs_for(req.assertion_consumer_service_url.as_deref(), index)
        .ok_or_else(|| {
            bad("The request asks for a response at an address this application has not registered.")
        })?;
    let reply = Reply {
        sp: sp.entity_id.clone(),
        acs_url: acs.url.clone(),
        in_response_to: Some(req.id.clone()),
        relay_state,
    };
    let status = |code, message: &str| SamlError::Status {
        reply: Box::new(reply.clone()),
        code,
        top: STATUS_REQUESTER,
        message: message.to_string(),
    };
    if req
        .protocol_binding
        .as_deref()
        .is_some_and(|b| b != BINDING_POST)
    {
        return Err(status(
            STATUS_REQUEST_UNSUPPORTED,
            "Responses are sent by HTTP-POST only.",
        ));
    }
    let requested = req
        .name_id_policy
        .as_ref()
        .and_then(|p| p.format.as_deref())
        .filter(|f| *f != NameIdFormat::Unspecified.uri());
    let name_id_format = match requested {
        Some(f) => match NameIdFormat::parse(f).filter(|f| sp.name_id_formats.contains(f)) {
            Some(f) => f,
            None => {
                return Err(status(
                    STATUS_INVALID_NAME_ID_POLICY,
                    "This NameID format is not allowed for this application.",
                ))
            }
        },
        None => sp
            .name_id_formats
            .first()
            .copied()
            .unwrap_or(NameIdFormat::Unspecified),
    };
    let classes: Vec<String> = req
        .requested_authn_context
        .as_ref()
        .and_then(|c| c.authn_context_class_refs.as_ref())
        .map(|v| v.iter().filter_map(|c| c.value.clone()).collect())
        .unwrap_or_default();
    let want_mfa = !classes.is_empty()
        && classes
            .iter()
            .all(|c| c == AC_MFA || c == "urn:lanyard:acr:mfa");
    let known = |c: &String| {
        c == AC_MFA
            || c == super::AC_PASSWORD
            || c == "urn:oasis:names:tc:SAML:2.0:ac:classes:Password"
            || c == "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"
            || c.starts_with("urn:lanyard:acr:")
    };
    if !classes.is_empty() && !classes.iter().any(known) {
        return Err(status(
            STATUS_NO_AUTHN_CONTEXT,
            "None of the requested authentication contexts can be provided.",
        ));
    }
    Ok((
        SamlAuthn {
            reply,
            name_id_format,
            force_authn: req.force_authn.unwrap_or(false),
            is_passive: req.is_passive.unwrap_or(false),
            want_mfa,
            received_at: now,
        },
        req.id,
    ))
}

/// A checked logout request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutRequestIn {
    /// Its ID.
    pub id: String,
    /// The NameID it names.
    pub name_id: String,
}

/// Checks a logout request (already verified against its SP's certificates). It must be
/// signed whatever the SP's settings (SAML 2.0 profiles §4.4.4.1: a front-channel
/// `LogoutRequest` MUST be signed) — otherwise any web page could sign a person out by sending
/// their browser to `/saml/slo` — and carry its `IssueInstant`, so that a captured request
/// stops working once the replay memory has forgotten it.
pub fn check_logout_request(
    xml: &str,
    signed: bool,
    slo_url: &str,
    now: i64,
) -> Result<LogoutRequestIn, SamlError> {
    let req: samael::schema::LogoutRequest =
        samael_de(xml).map_err(|_| bad("The logout request is not a valid SAML LogoutRequest."))?;
    if !signed {
        return Err(bad(
            "Logout requests must be signed; this one is not (or this application has no certificate registered).",
        ));
    }
    let id = req
        .id
        .filter(|i| !i.is_empty() && i.len() <= 256)
        .ok_or_else(|| bad("The logout request has no ID."))?;
    match req.destination.as_deref() {
        Some(d) if d != slo_url => {
            return Err(bad(&format!(
                "The logout request was addressed to {d}, not to this identity provider."
            )))
        }
        None => return Err(bad("A logout request must name its Destination.")),
        _ => {}
    }
    let t = req
        .issue_instant
        .ok_or_else(|| bad("The logout request has no IssueInstant."))?
        .timestamp();
    if t > now + SKEW_SECS || t < now - MAX_AGE_SECS - SKEW_SECS {
        return Err(bad("The logout request has expired."));
    }
    let name_id = req
        .name_id
        .map(|n| n.value.trim().to_string())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| bad("The logout request names nobody."))?;
    Ok(LogoutRequestIn { id, name_id })
}

/// A checked logout response: what it answers and whether it succeeded.
pub fn check_logout_response(xml: &str) -> Result<(Option<String>, bool), SamlError> {
    let r: samael::schema::LogoutResponse = samael_de(xml)
        .map_err(|_| bad("The logout response is not a valid SAML LogoutResponse."))?;
    let ok = r
        .status
        .and_then(|s| s.status_code.value)
        .is_some_and(|v| v == super::STATUS_SUCCESS);
    Ok((r.in_response_to, ok))
}

/// Builds a Redirect-binding URL: DEFLATE, base64, and a query-string signature.
pub fn redirect_url(
    destination: &str,
    param: &str,
    xml: &str,
    relay_state: Option<&str>,
    key: &super::SamlKey,
) -> Result<String, SamlError> {
    use std::io::Write;
    let mut enc = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(xml.as_bytes())
        .map_err(|e| SamlError::Internal(e.to_string()))?;
    let deflated = enc
        .finish()
        .map_err(|e| SamlError::Internal(e.to_string()))?;
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let mut q = format!(
        "{param}={}",
        enc(&base64::engine::general_purpose::STANDARD.encode(deflated))
    );
    if let Some(r) = relay_state {
        q.push_str(&format!("&RelayState={}", enc(r)));
    }
    q.push_str(&format!("&SigAlg={}", enc(super::xml::RSA_SHA256)));
    let sig = key.sign_rsa_sha256(q.as_bytes())?;
    q.push_str(&format!(
        "&Signature={}",
        enc(&base64::engine::general_purpose::STANDARD.encode(sig))
    ));
    let sep = if destination.contains('?') { '&' } else { '?' };
    Ok(format!("{destination}{sep}{q}"))
}
