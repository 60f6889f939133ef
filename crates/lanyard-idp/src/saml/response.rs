//! Responses, assertions and logout messages Lanyard sends.

use super::xml::{esc, instant, new_id, signature_template, NS_ASSERTION, NS_PROTOCOL};
use super::{Reply, SamlError, SamlKey, AC_MFA, AC_PASSWORD, STATUS_SUCCESS};
use crate::claims::Person;
use lanyard_core::saml::AttributeRelease;
use lanyard_core::{NameIdFormat, SamlSpSpec};

/// A NameID as sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameId {
    /// Value.
    pub value: String,
    /// Format.
    pub format: NameIdFormat,
    /// The SP it was made for (`SPNameQualifier`, persistent and transient only).
    pub sp_qualifier: Option<String>,
}

impl NameId {
    fn xml(&self, idp_entity: &str) -> String {
        let qual = match (&self.sp_qualifier, self.format) {
            (Some(sp), NameIdFormat::Persistent | NameIdFormat::Transient) => format!(
                r#" NameQualifier="{}" SPNameQualifier="{}""#,
                esc(idp_entity),
                esc(sp)
            ),
            _ => String::new(),
        };
        format!(
            r#"<saml:NameID Format="{}"{qual}>{}</saml:NameID>"#,
            self.format.uri(),
            esc(&self.value)
        )
    }
}

/// The values of each attribute the SP receives, from the same data as the OIDC claims.
pub fn attributes<'a>(p: &Person, sp: &'a SamlSpSpec) -> Vec<(&'a AttributeRelease, Vec<String>)> {
    sp.attributes
        .iter()
        .map(|a| {
            let values: Vec<String> = match a.source.as_str() {
                "roles" => p.roles.iter().map(|r| sp.role_name(r)).collect(),
                "main_role" => p.main_role.iter().map(|r| sp.role_name(r)).collect(),
                "tenant" => vec![p.tenant.clone()],
                "accounts" => p.accounts.clone(),
                "main_account" => p.main_account.iter().cloned().collect(),
                "location" => p.location.iter().map(|l| l.path.clone()).collect(),
                "email" => p.email.iter().cloned().collect(),
                "given_name" => vec![p.given_name.clone()],
                "family_name" => vec![p.family_name.clone()],
                "name" => vec![format!("{} {}", p.given_name, p.family_name)
                    .trim()
                    .to_string()],
                "username" => p
                    .username
                    .iter()
                    .chain(p.email.iter())
                    .take(1)
                    .cloned()
                    .collect(),
                _ => Vec::new(),
            };
            (a, values)
        })
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

/// Everything an assertion says.
pub struct AssertionParts<'a> {
    /// Our entity id.
    pub idp_entity: &'a str,
    /// The SP.
    pub sp: &'a SamlSpSpec,
    /// Where and in answer to what.
    pub reply: &'a Reply,
    /// Who.
    pub name_id: &'a NameId,
    /// The session's index at this SP.
    pub session_index: &'a str,
    /// When the person authenticated.
    pub auth_time: i64,
    /// Whether that was multi-factor.
    pub mfa: bool,
    /// When the SSO session ends.
    pub session_expires: i64,
    /// Attribute values.
    pub attributes: Vec<(&'a AttributeRelease, Vec<String>)>,
    /// Now.
    pub now: i64,
}

fn attribute_xml(a: &AttributeRelease, values: &[String]) -> String {
    let friendly = a
        .friendly_name
        .as_deref()
        .map(|f| format!(r#" FriendlyName="{}""#, esc(f)))
        .unwrap_or_default();
    let mut s = format!(
        r#"<saml:Attribute Name="{}" NameFormat="{}"{friendly}>"#,
        esc(&a.name),
        a.name_format.uri()
    );
    for v in values {
        s.push_str(&format!(
            r#"<saml:AttributeValue xsi:type="xs:string">{}</saml:AttributeValue>"#,
            esc(v)
        ));
    }
    s.push_str("</saml:Attribute>");
    s
}

/// A signed assertion, standalone (its own namespace declarations), ready to embed.
pub fn signed_assertion(key: &SamlKey, a: &AssertionParts<'_>) -> Result<String, SamlError> {
    let id = new_id();
    let now = instant(a.now);
    let until = instant(a.now + a.sp.assertion_ttl_secs);
    let in_response_to = a
        .reply
        .in_response_to
        .as_deref()
        .map(|r| format!(r#" InResponseTo="{}""#, esc(r)))
        .unwrap_or_default();
    let attrs: String = a
        .attributes
        .iter()
        .map(|(r, v)| attribute_xml(r, v))
        .collect();
    let attr_statement = if attrs.is_empty() {
        String::new()
    } else {
        format!("<saml:AttributeStatement>{attrs}</saml:AttributeStatement>")
    };
    let xml = format!(
        concat!(
            r#"<saml:Assertion xmlns:saml="{ns}" xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="{id}" Version="2.0" IssueInstant="{now}">"#,
            r#"<saml:Issuer>{issuer}</saml:Issuer>{sig}"#,
            r#"<saml:Subject>{name_id}<saml:SubjectConfirmation Method="urn:oasis:names:tc:SAML:2.0:cm:bearer">"#,
            r#"<saml:SubjectConfirmationData{irt} NotOnOrAfter="{until}" Recipient="{acs}"/></saml:SubjectConfirmation></saml:Subject>"#,
            r#"<saml:Conditions NotBefore="{not_before}" NotOnOrAfter="{until}"><saml:AudienceRestriction><saml:Audience>{audience}</saml:Audience></saml:AudienceRestriction></saml:Conditions>"#,
            r#"<saml:AuthnStatement AuthnInstant="{auth}" SessionIndex="{si}" SessionNotOnOrAfter="{session_end}"><saml:AuthnContext><saml:AuthnContextClassRef>{class}</saml:AuthnContextClassRef></saml:AuthnContext></saml:AuthnStatement>"#,
            "{attrs}</saml:Assertion>"
        ),
        ns = NS_ASSERTION,
        id = id,
        now = now,
        issuer = esc(a.idp_entity),
        sig = signature_template(&id, &key.cert_b64),
        name_id = a.name_id.xml(a.idp_entity),
        irt = in_response_to,
        until = until,
        acs = esc(&a.reply.acs_url),
        not_before = instant(a.now - super::message::SKEW_SECS.min(60)),
        audience = esc(&a.sp.entity_id),
        auth = instant(a.auth_time),
        si = esc(a.session_index),
        session_end = instant(a.session_expires),
        class = if a.mfa { AC_MFA } else { AC_PASSWORD },
        attrs = attr_statement,
    );
    key.sign_xml(&xml)
}

fn response_xml(
    key: &SamlKey,
    idp_entity: &str,
    reply: &Reply,
    status: &str,
    body: &str,
    sign: bool,
    now: i64,
) -> Result<String, SamlError> {
    let id = new_id();
    let irt = reply
        .in_response_to
        .as_deref()
        .map(|r| format!(r#" InResponseTo="{}""#, esc(r)))
        .unwrap_or_default();
    let xml = format!(
        concat!(
            r#"<samlp:Response xmlns:samlp="{p}" xmlns:saml="{a}" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{dest}"{irt}>"#,
            r#"<saml:Issuer>{issuer}</saml:Issuer>{sig}{status}{body}</samlp:Response>"#
        ),
        p = NS_PROTOCOL,
        a = NS_ASSERTION,
        id = id,
        now = instant(now),
        dest = esc(&reply.acs_url),
        irt = irt,
        issuer = esc(idp_entity),
        sig = if sign {
            signature_template(&id, &key.cert_b64)
        } else {
            String::new()
        },
        status = status,
        body = body,
    );
    if sign {
        key.sign_xml(&xml)
    } else {
        Ok(xml)
    }
}

fn status_xml(top: &str, sub: Option<&str>, message: Option<&str>) -> String {
    let inner = sub
        .map(|s| format!(r#"<samlp:StatusCode Value="{}"/>"#, esc(s)))
        .unwrap_or_default();
    let msg = message
        .map(|m| format!("<samlp:StatusMessage>{}</samlp:StatusMessage>", esc(m)))
        .unwrap_or_default();
    format!(
        r#"<samlp:Status><samlp:StatusCode Value="{}">{inner}</samlp:StatusCode>{msg}</samlp:Status>"#,
        esc(top)
    )
}

/// A successful response carrying a signed assertion (and signed itself if the SP wants).
pub fn success(key: &SamlKey, a: &AssertionParts<'_>) -> Result<String, SamlError> {
    let assertion = signed_assertion(key, a)?;
    response_xml(
        key,
        a.idp_entity,
        a.reply,
        &status_xml(STATUS_SUCCESS, None, None),
        &assertion,
        a.sp.sign_response,
        a.now,
    )
}

/// An error response (always signed: it is the only proof it came from us).
pub fn failure(
    key: &SamlKey,
    idp_entity: &str,
    reply: &Reply,
    top: &str,
    code: &str,
    message: &str,
    now: i64,
) -> Result<String, SamlError> {
    response_xml(
        key,
        idp_entity,
        reply,
        &status_xml(top, Some(code), Some(message)),
        "",
        true,
        now,
    )
}

/// A logout request to an SP. Signed inside when sent by POST; by the Redirect binding the
/// query string carries the signature instead.
#[allow(clippy::too_many_arguments)]
pub fn logout_request(
    key: &SamlKey,
    idp_entity: &str,
    destination: &str,
    name_id: &NameId,
    session_index: &str,
    sign_xml: bool,
    now: i64,
) -> Result<(String, String), SamlError> {
    let id = new_id();
    let xml = format!(
        concat!(
            r#"<samlp:LogoutRequest xmlns:samlp="{p}" xmlns:saml="{a}" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{dest}" NotOnOrAfter="{until}">"#,
            r#"<saml:Issuer>{issuer}</saml:Issuer>{sig}{name_id}<samlp:SessionIndex>{si}</samlp:SessionIndex></samlp:LogoutRequest>"#
        ),
        p = NS_PROTOCOL,
        a = NS_ASSERTION,
        id = id,
        now = instant(now),
        until = instant(now + 300),
        dest = esc(destination),
        issuer = esc(idp_entity),
        sig = if sign_xml {
            signature_template(&id, &key.cert_b64)
        } else {
            String::new()
        },
        name_id = name_id.xml(idp_entity),
        si = esc(session_index),
    );
    let xml = if sign_xml { key.sign_xml(&xml)? } else { xml };
    Ok((id, xml))
}

/// A logout response to an SP.
pub fn logout_response(
    key: &SamlKey,
    idp_entity: &str,
    destination: &str,
    in_response_to: &str,
    partial: bool,
    sign_xml: bool,
    now: i64,
) -> Result<String, SamlError> {
    let id = new_id();
    let status = if partial {
        status_xml(STATUS_SUCCESS, Some(super::STATUS_PARTIAL_LOGOUT), None)
    } else {
        status_xml(STATUS_SUCCESS, None, None)
    };
    let xml = format!(
        concat!(
            r#"<samlp:LogoutResponse xmlns:samlp="{p}" xmlns:saml="{a}" ID="{id}" Version="2.0" IssueInstant="{now}" Destination="{dest}" InResponseTo="{irt}">"#,
            r#"<saml:Issuer>{issuer}</saml:Issuer>{sig}{status}</samlp:LogoutResponse>"#
        ),
        p = NS_PROTOCOL,
        a = NS_ASSERTION,
        id = id,
        now = instant(now),
        dest = esc(destination),
        irt = esc(in_response_to),
        issuer = esc(idp_entity),
        sig = if sign_xml {
            signature_template(&id, &key.cert_b64)
        } else {
            String::new()
        },
        status = status,
    );
    if sign_xml {
        key.sign_xml(&xml)
    } else {
        Ok(xml)
    }
}
