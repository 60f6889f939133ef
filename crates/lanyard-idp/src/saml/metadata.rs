//! The IdP's metadata (signed), and reading an SP's metadata into a registration.

use super::xml::{esc, instant, new_id, signature_template, NS_DSIG, NS_METADATA};
use super::{SamlError, SamlKeys};
use lanyard_core::saml::{AcsEndpoint, SloEndpoint, BINDING_POST, BINDING_REDIRECT};
use lanyard_core::NameIdFormat;

/// The largest SP metadata document read.
pub const MAX_METADATA_BYTES: usize = 1024 * 1024;

/// The IdP's metadata, signed with the current key; every published certificate is listed
/// so SPs learn the next key before it signs.
pub fn idp_metadata(issuer: &str, keys: &SamlKeys, now: i64) -> Result<String, SamlError> {
    let signer = keys
        .signer(now)
        .ok_or_else(|| SamlError::Internal("no active RS256 key for SAML".into()))?;
    let entity = super::entity_id(issuer);
    let sso = super::sso_url(issuer);
    let slo = super::slo_url(issuer);
    let id = new_id();
    let key_descriptors: String = keys
        .published(now)
        .iter()
        .map(|c| {
            format!(
                r#"<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="{NS_DSIG}"><ds:X509Data><ds:X509Certificate>{c}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"#
            )
        })
        .collect();
    let formats: String = NameIdFormat::ALL
        .iter()
        .map(|f| format!("<md:NameIDFormat>{}</md:NameIDFormat>", f.uri()))
        .collect();
    let xml = format!(
        concat!(
            r#"<md:EntityDescriptor xmlns:md="{md}" ID="{id}" entityID="{entity}" validUntil="{valid}">{sig}"#,
            r#"<md:IDPSSODescriptor WantAuthnRequestsSigned="false" protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">"#,
            "{keys}",
            r#"<md:SingleLogoutService Binding="{redirect}" Location="{slo}"/>"#,
            r#"<md:SingleLogoutService Binding="{post}" Location="{slo}"/>"#,
            "{formats}",
            r#"<md:SingleSignOnService Binding="{redirect}" Location="{sso}"/>"#,
            r#"<md:SingleSignOnService Binding="{post}" Location="{sso}"/>"#,
            "</md:IDPSSODescriptor></md:EntityDescriptor>"
        ),
        md = NS_METADATA,
        id = id,
        entity = esc(&entity),
        valid = instant(now + 7 * 86_400),
        sig = signature_template(&id, &signer.cert_b64),
        keys = key_descriptors,
        redirect = BINDING_REDIRECT,
        post = BINDING_POST,
        slo = esc(&slo),
        sso = esc(&sso),
        formats = formats,
    );
    signer.sign_xml(&xml)
}

/// What an SP's metadata says about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpMetadata {
    /// Entity id.
    pub entity_id: String,
    /// HTTP-POST assertion consumer services.
    pub acs: Vec<AcsEndpoint>,
    /// The first usable single logout service (Redirect preferred).
    pub slo: Option<SloEndpoint>,
    /// Signing certificates (base64 DER).
    pub certificates: Vec<String>,
    /// `AuthnRequestsSigned`.
    pub authn_requests_signed: bool,
    /// NameID formats it lists that Lanyard can give.
    pub name_id_formats: Vec<NameIdFormat>,
}

/// Reads an SP's metadata (an `EntityDescriptor` with one `SPSSODescriptor`).
pub fn parse_sp_metadata(xml: &str) -> Result<SpMetadata, String> {
    if xml.len() > MAX_METADATA_BYTES {
        return Err("the metadata is larger than 1 MiB".into());
    }
    if xml.to_ascii_lowercase().contains("<!doctype") {
        return Err("the metadata contains a document type declaration".into());
    }
    let ed: samael::metadata::EntityDescriptor = xml
        .parse()
        .map_err(|e| format!("the metadata is not a SAML EntityDescriptor: {e}"))?;
    let entity_id = ed
        .entity_id
        .clone()
        .filter(|e| !e.trim().is_empty())
        .ok_or("the metadata has no entityID")?;
    let sp = ed
        .sp_sso_descriptors
        .as_ref()
        .and_then(|d| d.first())
        .ok_or("the metadata has no SPSSODescriptor")?;
    let mut acs: Vec<AcsEndpoint> = sp
        .assertion_consumer_services
        .iter()
        .filter(|a| a.binding == BINDING_POST)
        .map(|a| AcsEndpoint {
            url: a.location.clone(),
            index: u16::try_from(a.index).unwrap_or(u16::MAX),
            default: a.is_default.unwrap_or(false),
        })
        .collect();
    if acs.is_empty() {
        return Err(
            "the metadata has no AssertionConsumerService with the HTTP-POST binding".into(),
        );
    }
    if !acs.iter().any(|a| a.default) {
        if let Some(first) = acs.iter_mut().min_by_key(|a| a.index) {
            first.default = true;
        }
    }
    let slos = sp.single_logout_services.clone().unwrap_or_default();
    let slo = slos
        .iter()
        .find(|s| s.binding == BINDING_REDIRECT)
        .or_else(|| slos.iter().find(|s| s.binding == BINDING_POST))
        .map(|s| SloEndpoint {
            url: s.location.clone(),
            response_url: s.response_location.clone(),
            binding: s.binding.clone(),
        });
    let certificates = sp
        .key_descriptors
        .iter()
        .flatten()
        .filter(|k| k.key_use.as_deref() != Some("encryption"))
        .filter_map(|k| k.key_info.x509_data.as_ref())
        .flat_map(|d| d.certificates.iter())
        .map(|c| c.chars().filter(|c| !c.is_ascii_whitespace()).collect())
        .collect();
    let name_id_formats = sp
        .name_id_formats
        .iter()
        .flatten()
        .filter_map(|f| NameIdFormat::parse(f.trim()))
        .collect();
    Ok(SpMetadata {
        entity_id,
        acs,
        slo,
        certificates,
        authn_requests_signed: sp.authn_requests_signed.unwrap_or(false),
        name_id_formats,
    })
}
