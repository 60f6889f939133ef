//! A registered SAML service provider: where its responses go, what it may ask for, and how
//! the person's data is named for it.

use crate::TenantId;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The HTTP-POST binding (the only one Lanyard sends responses by).
pub const BINDING_POST: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST";
/// The HTTP-Redirect binding.
pub const BINDING_REDIRECT: &str = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect";

/// A NameID format an SP may receive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameIdFormat {
    /// Opaque, stable, different for every SP.
    Persistent,
    /// The person's email address.
    Email,
    /// Random, for this one sign-in.
    Transient,
    /// The person's username (or email when he has none).
    Unspecified,
}

impl NameIdFormat {
    /// Every format, in the order metadata lists them.
    pub const ALL: [NameIdFormat; 4] = [
        NameIdFormat::Persistent,
        NameIdFormat::Email,
        NameIdFormat::Transient,
        NameIdFormat::Unspecified,
    ];

    /// The SAML URI.
    pub fn uri(self) -> &'static str {
        match self {
            NameIdFormat::Persistent => "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
            NameIdFormat::Email => "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
            NameIdFormat::Transient => "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
            NameIdFormat::Unspecified => "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified",
        }
    }

    /// From a SAML URI (or the short names a realm file uses).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "persistent" | "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent" => {
                Some(Self::Persistent)
            }
            "email" | "emailAddress" | "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress" => {
                Some(Self::Email)
            }
            "transient" | "urn:oasis:names:tc:SAML:2.0:nameid-format:transient" => {
                Some(Self::Transient)
            }
            "unspecified" | "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified" => {
                Some(Self::Unspecified)
            }
            _ => None,
        }
    }
}

/// Where an SP receives responses (always by HTTP-POST).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcsEndpoint {
    /// URL.
    pub url: String,
    /// Index, as metadata numbers it.
    pub index: u16,
    /// The one used when a request names none.
    pub default: bool,
}

/// Where an SP receives logout messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SloEndpoint {
    /// URL for requests.
    pub url: String,
    /// URL for responses, when different.
    pub response_url: Option<String>,
    /// `BINDING_POST` or `BINDING_REDIRECT`.
    pub binding: String,
}

/// How an attribute's name is to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttributeNameFormat {
    /// A simple name like `Role`.
    Basic,
    /// A URI such as `urn:oid:...` or `http://schemas...`.
    Uri,
    /// Unspecified.
    Unspecified,
}

impl AttributeNameFormat {
    /// The SAML URI.
    pub fn uri(self) -> &'static str {
        match self {
            Self::Basic => "urn:oasis:names:tc:SAML:2.0:attrname-format:basic",
            Self::Uri => "urn:oasis:names:tc:SAML:2.0:attrname-format:uri",
            Self::Unspecified => "urn:oasis:names:tc:SAML:2.0:attrname-format:unspecified",
        }
    }
}

/// The person's data that attributes can carry (the same as the OIDC claims).
pub const ATTRIBUTE_SOURCES: [&str; 11] = [
    "roles",
    "main_role",
    "tenant",
    "accounts",
    "main_account",
    "location",
    "email",
    "given_name",
    "family_name",
    "name",
    "username",
];

/// One attribute released to an SP.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeRelease {
    /// Which of [`ATTRIBUTE_SOURCES`].
    pub source: String,
    /// The attribute's `Name`.
    pub name: String,
    /// Its `NameFormat`.
    pub name_format: AttributeNameFormat,
    /// Its `FriendlyName`, if any.
    pub friendly_name: Option<String>,
}

impl AttributeRelease {
    /// Releases `source` under its own name.
    pub fn plain(source: &str) -> Self {
        Self {
            source: source.to_string(),
            name: source.to_string(),
            name_format: AttributeNameFormat::Basic,
            friendly_name: None,
        }
    }
}

/// A registered service provider.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SamlSpSpec {
    /// Entity id (the SP's `Issuer`).
    pub entity_id: String,
    /// The tenant whose people sign in to it.
    pub tenant_id: TenantId,
    /// Shown on sign-in pages.
    pub name: String,
    /// Assertion consumer services.
    pub acs: Vec<AcsEndpoint>,
    /// Single logout service.
    pub slo: Option<SloEndpoint>,
    /// The SP's signing certificates (base64 DER).
    pub certificates: Vec<String>,
    /// Refuse unsigned authentication and logout requests.
    pub require_signed_requests: bool,
    /// Sign the whole response too (the assertion is always signed).
    pub sign_response: bool,
    /// NameID formats it may receive; the first is used when it asks for none.
    pub name_id_formats: Vec<NameIdFormat>,
    /// The attributes it receives.
    pub attributes: Vec<AttributeRelease>,
    /// Role names as this SP knows them.
    pub role_map: BTreeMap<String, String>,
    /// Always ask for a second factor.
    pub require_mfa: bool,
    /// Accept IdP-initiated sign-in (`/saml/init`): an unsolicited assertion, sent when any page
    /// links the browser there. Off unless the SP is registered for it.
    #[serde(default)]
    pub idp_initiated: bool,
    /// The upstream connection this SP's people sign in through (no sign-in page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// How long an assertion may be used (seconds).
    pub assertion_ttl_secs: i64,
}

fn is_http_url(u: &str) -> bool {
    let Some(rest) = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty()
        && !u.contains(|c: char| c.is_whitespace() || c.is_control())
        && !u.contains('#')
}

impl SamlSpSpec {
    /// A registration with one ACS and every option at its default: signed assertions only,
    /// persistent NameIDs, no attributes, no logout address, five-minute assertions.
    pub fn new(entity_id: &str, tenant_id: TenantId, acs_url: &str) -> Self {
        Self {
            entity_id: entity_id.to_string(),
            tenant_id,
            name: entity_id.to_string(),
            acs: vec![AcsEndpoint {
                url: acs_url.to_string(),
                index: 0,
                default: true,
            }],
            slo: None,
            certificates: Vec::new(),
            require_signed_requests: false,
            sign_response: false,
            name_id_formats: vec![NameIdFormat::Persistent],
            attributes: Vec::new(),
            role_map: BTreeMap::new(),
            require_mfa: false,
            idp_initiated: false,
            connection: None,
            assertion_ttl_secs: 300,
        }
    }

    /// Every problem with this registration, as sentences.
    pub fn validate(&self) -> Vec<String> {
        let who = &self.entity_id;
        let mut p = Vec::new();
        if self.entity_id.trim().is_empty() || self.entity_id.len() > 1024 {
            p.push("SAML SP entity_id must be 1 to 1024 characters".to_string());
        }
        if self.acs.is_empty() {
            p.push(format!("SAML SP {who}: at least one ACS URL is required"));
        }
        for a in &self.acs {
            if !is_http_url(&a.url) {
                p.push(format!(
                    "SAML SP {who}: ACS URL {:?} must be an absolute http(s) URL without a fragment",
                    a.url
                ));
            }
        }
        let mut idx: Vec<u16> = self.acs.iter().map(|a| a.index).collect();
        idx.sort_unstable();
        idx.dedup();
        if idx.len() != self.acs.len() {
            p.push(format!("SAML SP {who}: ACS indexes must be unique"));
        }
        if self.acs.iter().filter(|a| a.default).count() > 1 {
            p.push(format!("SAML SP {who}: only one ACS can be the default"));
        }
        if let Some(s) = &self.slo {
            if !is_http_url(&s.url) || s.response_url.as_deref().is_some_and(|u| !is_http_url(u)) {
                p.push(format!(
                    "SAML SP {who}: logout URL must be an absolute http(s) URL"
                ));
            }
            if s.binding != BINDING_POST && s.binding != BINDING_REDIRECT {
                p.push(format!(
                    "SAML SP {who}: logout binding must be HTTP-POST or HTTP-Redirect"
                ));
            }
        }
        if self.require_signed_requests && self.certificates.is_empty() {
            p.push(format!(
                "SAML SP {who}: requiring signed requests needs the SP's certificate"
            ));
        }
        if self.name_id_formats.is_empty() {
            p.push(format!(
                "SAML SP {who}: at least one NameID format is needed"
            ));
        }
        for a in &self.attributes {
            if !ATTRIBUTE_SOURCES.contains(&a.source.as_str()) {
                p.push(format!(
                    "SAML SP {who}: unknown attribute source {:?} (one of {})",
                    a.source,
                    ATTRIBUTE_SOURCES.join(", ")
                ));
            }
            if a.name.trim().is_empty() {
                p.push(format!("SAML SP {who}: an attribute needs a name"));
            }
        }
        if !(30..=3600).contains(&self.assertion_ttl_secs) {
            p.push(format!(
                "SAML SP {who}: assertion_ttl_secs must be between 30 and 3600"
            ));
        }
        p
    }

    /// The ACS a request names (by exact URL or index), or the default.
    pub fn acs_for(&self, url: Option<&str>, index: Option<u16>) -> Option<&AcsEndpoint> {
        match (url, index) {
            (Some(u), _) => self.acs.iter().find(|a| a.url == u),
            (None, Some(i)) => self.acs.iter().find(|a| a.index == i),
            (None, None) => self
                .acs
                .iter()
                .find(|a| a.default)
                .or_else(|| self.acs.first()),
        }
    }

    /// The role's name as this SP knows it.
    pub fn role_name(&self, role: &str) -> String {
        self.role_map
            .get(role)
            .cloned()
            .unwrap_or_else(|| role.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp() -> SamlSpSpec {
        SamlSpSpec {
            name: "LMS".into(),
            acs: vec![
                AcsEndpoint {
                    url: "https://lms.example/acs".into(),
                    index: 0,
                    default: false,
                },
                AcsEndpoint {
                    url: "https://lms.example/acs2".into(),
                    index: 1,
                    default: true,
                },
            ],
            name_id_formats: vec![NameIdFormat::Email],
            attributes: vec![AttributeRelease::plain("roles")],
            ..SamlSpSpec::new(
                "https://lms.example/sp",
                TenantId::from_uuid(uuid::Uuid::nil()),
                "https://lms.example/acs",
            )
        }
    }

    #[test]
    fn acs_is_chosen_exactly() {
        let s = sp();
        assert_eq!(
            s.acs_for(Some("https://lms.example/acs"), None)
                .map(|a| a.index),
            Some(0)
        );
        assert!(s.acs_for(Some("https://lms.example/acs/"), None).is_none());
        assert!(s.acs_for(Some("https://evil.example/acs"), None).is_none());
        assert_eq!(s.acs_for(None, Some(0)).map(|a| a.index), Some(0));
        assert!(s.acs_for(None, Some(7)).is_none());
        assert_eq!(s.acs_for(None, None).map(|a| a.index), Some(1));
    }

    #[test]
    fn validation_names_each_problem() {
        assert!(sp().validate().is_empty());
        let mut s = sp();
        s.acs[0].url = "javascript:alert(1)".into();
        s.require_signed_requests = true;
        s.attributes.push(AttributeRelease::plain("password"));
        s.assertion_ttl_secs = 86_400;
        let p = s.validate();
        assert_eq!(p.len(), 4, "{p:?}");
    }

    #[test]
    fn formats_round_trip() {
        for f in NameIdFormat::ALL {
            assert_eq!(NameIdFormat::parse(f.uri()), Some(f));
        }
        assert_eq!(
            NameIdFormat::parse("emailAddress"),
            Some(NameIdFormat::Email)
        );
        assert_eq!(NameIdFormat::parse("x509"), None);
    }
}
