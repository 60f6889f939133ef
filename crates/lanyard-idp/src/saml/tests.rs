//! Signing and reading back what this module writes, with xmlsec as the independent checker.

use super::keys::{self_signed_certificate, SamlKeyInput};
use super::message::{check_authn_request, Incoming};
use super::response::{self, AssertionParts, NameId};
use super::*;
use base64::Engine;
use lanyard_core::saml::AttributeRelease;
use lanyard_core::{SamlSpSpec, SigningAlg, TenantId};
use samael::crypto::{CertificateDer, CryptoProvider, ReduceMode, XmlSec};

const NOW: i64 = 1_795_000_000;

fn keys() -> (SamlKeys, Vec<u8>) {
    let m = crate::keys::generate(SigningAlg::RS256, 1, 0).unwrap();
    let cert = self_signed_certificate(&m.pkcs8, "test").unwrap();
    let keys = SamlKeys::load(vec![SamlKeyInput {
        kid: m.kid,
        pkcs8: m.pkcs8,
        cert_der: cert.clone(),
        activates_at: 0,
        retires_at: None,
        expires_at: None,
    }])
    .unwrap();
    (keys, cert)
}

fn sp() -> SamlSpSpec {
    SamlSpSpec {
        name: "LMS".into(),
        sign_response: true,
        name_id_formats: vec![NameIdFormat::Email, NameIdFormat::Persistent],
        attributes: vec![AttributeRelease::plain("name")],
        ..SamlSpSpec::new(
            "https://lms.example/sp",
            TenantId::from_uuid(uuid::Uuid::nil()),
            "https://lms.example/acs",
        )
    }
}

fn verified(xml: &str, cert: &[u8]) -> String {
    XmlSec::reduce_xml_to_signed(
        xml,
        &[CertificateDer::from(cert.to_vec())],
        ReduceMode::default(),
    )
    .unwrap()
}

#[test]
fn metadata_is_signed_by_the_published_certificate() {
    let (keys, cert) = keys();
    let md = metadata::idp_metadata("https://id.example", &keys, NOW).unwrap();
    assert!(md.contains("entityID=\"https://id.example/saml/metadata\""));
    verified(&md, &cert);
    // Changing one byte of what is signed breaks it.
    let tampered = md.replace(
        "https://id.example/saml/sso",
        "https://evil.example/saml/sso",
    );
    assert!(XmlSec::reduce_xml_to_signed(
        &tampered,
        &[CertificateDer::from(cert.clone())],
        ReduceMode::default()
    )
    .is_err());
}

#[test]
fn response_and_assertion_verify_and_markup_in_values_stays_text() {
    let (keys, cert) = keys();
    let sp = sp();
    let reply = Reply {
        sp: sp.entity_id.clone(),
        acs_url: "https://lms.example/acs".into(),
        in_response_to: Some("_req1".into()),
        relay_state: None,
    };
    let evil = r#"Eve</saml:AttributeValue></saml:Attribute><saml:Attribute Name="roles"><saml:AttributeValue>Administrator"#;
    let release = AttributeRelease::plain("name");
    let parts = AssertionParts {
        idp_entity: "https://id.example/saml/metadata",
        sp: &sp,
        reply: &reply,
        name_id: &NameId {
            value: "eve@example.com".into(),
            format: NameIdFormat::Email,
            sp_qualifier: None,
        },
        session_index: "_s1",
        auth_time: NOW,
        mfa: false,
        session_expires: NOW + 3600,
        attributes: vec![(&release, vec![evil.to_string()])],
        now: NOW,
    };
    let xml = response::success(keys.signer(NOW).unwrap(), &parts).unwrap();
    let reduced = verified(&xml, &cert);
    assert!(reduced.contains("InResponseTo=\"_req1\""));
    assert_eq!(xml.matches("<saml:Attribute ").count(), 1, "{xml}");
    assert!(xml.contains("Eve&lt;/saml:AttributeValue&gt;"));
}

fn deflated_query(xml: &str) -> String {
    use std::io::Write;
    let mut e = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(xml.as_bytes()).unwrap();
    let b = base64::engine::general_purpose::STANDARD.encode(e.finish().unwrap());
    format!(
        "SAMLRequest={}&RelayState=abc",
        url::form_urlencoded::byte_serialize(b.as_bytes()).collect::<String>()
    )
}

fn authn_request(acs: &str, dest: &str) -> String {
    format!(
        r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r1" Version="2.0" IssueInstant="{}" Destination="{dest}" AssertionConsumerServiceURL="{acs}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"><saml:Issuer>https://lms.example/sp</saml:Issuer><samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"/></samlp:AuthnRequest>"#,
        xml::instant(NOW)
    )
}

#[test]
fn redirect_requests_are_read_and_checked() {
    let q = deflated_query(&authn_request(
        "https://lms.example/acs",
        "https://id.example/saml/sso",
    ));
    let inc = Incoming::from_redirect(&q, "SAMLRequest").unwrap();
    assert_eq!(inc.issuer().unwrap(), "https://lms.example/sp");
    assert_eq!(inc.relay_state.as_deref(), Some("abc"));
    let (xml, signed) = inc.verify(&[]).unwrap();
    assert!(!signed);
    let (authn, id) = check_authn_request(
        &sp(),
        &xml,
        inc.relay_state.clone(),
        signed,
        "https://id.example/saml/sso",
        NOW,
    )
    .unwrap();
    assert_eq!(id, "_r1");
    assert_eq!(authn.name_id_format, NameIdFormat::Persistent);

    // An unregistered ACS and a wrong Destination are refused with a page.
    for (acs, dest) in [
        ("https://evil.example/acs", "https://id.example/saml/sso"),
        ("https://lms.example/acs", "https://other.example/saml/sso"),
    ] {
        let q = deflated_query(&authn_request(acs, dest));
        let inc = Incoming::from_redirect(&q, "SAMLRequest").unwrap();
        let r = check_authn_request(
            &sp(),
            &inc.xml,
            None,
            false,
            "https://id.example/saml/sso",
            NOW,
        );
        assert!(matches!(r, Err(SamlError::Page(_))), "{r:?}");
    }
    // A stale request too.
    let r = check_authn_request(
        &sp(),
        &xml,
        None,
        false,
        "https://id.example/saml/sso",
        NOW + 3600,
    );
    assert!(matches!(r, Err(SamlError::Page(_))));
}

#[test]
fn malformed_and_hostile_messages_are_refused() {
    for q in [
        "SAMLRequest=%%%",
        "SAMLRequest=aGVsbG8=",
        "RelayState=x",
        "SAMLRequest=a&SAMLRequest=b",
    ] {
        assert!(Incoming::from_redirect(q, "SAMLRequest").is_err(), "{q}");
    }
    let doctype = deflated_query(
        r#"<!DOCTYPE x [<!ENTITY a "aaaa">]><samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_a" Version="2.0"/>"#,
    );
    assert!(Incoming::from_redirect(&doctype, "SAMLRequest").is_err());
    // A deflate bomb stops at the size limit.
    let big = format!("<a>{}</a>", "x".repeat(10 * 1024 * 1024));
    assert!(Incoming::from_redirect(&deflated_query(&big), "SAMLRequest").is_err());
}

fn status_code(r: Result<(SamlAuthn, String), SamlError>) -> &'static str {
    match r {
        Err(SamlError::Status { code, reply, .. }) => {
            assert_eq!(
                reply.acs_url, "https://lms.example/acs",
                "errors go to the trusted ACS"
            );
            code
        }
        other => panic!("expected a SAML status, got {other:?}"),
    }
}

#[test]
fn wishes_outside_the_registration_get_saml_statuses() {
    let sso = "https://id.example/saml/sso";
    let with = |extra: &str, policy: &str| {
        format!(
            r#"<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_r2" Version="2.0" IssueInstant="{}" Destination="{sso}"{extra}><saml:Issuer>https://lms.example/sp</saml:Issuer>{policy}</samlp:AuthnRequest>"#,
            xml::instant(NOW)
        )
    };
    let transient = with(
        "",
        r#"<samlp:NameIDPolicy Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient"/>"#,
    );
    assert_eq!(
        status_code(check_authn_request(
            &sp(),
            &transient,
            None,
            false,
            sso,
            NOW
        )),
        STATUS_INVALID_NAME_ID_POLICY
    );
    let artifact = with(
        r#" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact""#,
        "",
    );
    assert_eq!(
        status_code(check_authn_request(&sp(), &artifact, None, false, sso, NOW)),
        STATUS_REQUEST_UNSUPPORTED
    );
    let kerberos = with(
        "",
        r#"<samlp:RequestedAuthnContext><saml:AuthnContextClassRef>urn:oasis:names:tc:SAML:2.0:ac:classes:Kerberos</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#,
    );
    assert_eq!(
        status_code(check_authn_request(&sp(), &kerberos, None, false, sso, NOW)),
        STATUS_NO_AUTHN_CONTEXT
    );
    let mfa = with(
        r#" ForceAuthn="true" IsPassive="false""#,
        r#"<samlp:RequestedAuthnContext><saml:AuthnContextClassRef>https://refeds.org/profile/mfa</saml:AuthnContextClassRef></samlp:RequestedAuthnContext>"#,
    );
    let (a, _) = check_authn_request(&sp(), &mfa, Some("r".into()), false, sso, NOW).unwrap();
    assert!(a.want_mfa && a.force_authn && !a.is_passive);
    assert_eq!(
        a.name_id_format,
        NameIdFormat::Email,
        "the registration's first format"
    );
    assert_eq!(a.reply.relay_state.as_deref(), Some("r"));

    // An SP that must sign cannot send this unsigned; a signed one must name its Destination.
    let mut strict = sp();
    strict.require_signed_requests = true;
    assert!(matches!(
        check_authn_request(&strict, &mfa, None, false, sso, NOW),
        Err(SamlError::Page(_))
    ));
    let no_dest = mfa.replace(&format!(r#" Destination="{sso}""#), "");
    assert!(matches!(
        check_authn_request(&sp(), &no_dest, None, true, sso, NOW),
        Err(SamlError::Page(_))
    ));
}

#[test]
fn logout_messages_are_checked() {
    use super::message::{check_logout_request, check_logout_response};
    let slo = "https://id.example/saml/slo";
    let req = |dest: &str, name_id: &str, at: i64| {
        format!(
            r#"<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_l1" Version="2.0" IssueInstant="{}" Destination="{dest}"><saml:Issuer>https://lms.example/sp</saml:Issuer>{name_id}</samlp:LogoutRequest>"#,
            xml::instant(at)
        )
    };
    let nid = "<saml:NameID>eve@example.com</saml:NameID>";
    let ok = check_logout_request(&req(slo, nid, NOW), true, slo, NOW).unwrap();
    assert_eq!(
        (ok.id.as_str(), ok.name_id.as_str()),
        ("_l1", "eve@example.com")
    );
    for (x, signed) in [
        (req("https://evil.example/slo", nid, NOW), true),
        (req(slo, "", NOW), true),
        (req(slo, nid, NOW - 3600), true),
        (
            req(slo, nid, NOW).replace(r#" Destination="https://id.example/saml/slo""#, ""),
            true,
        ),
        (
            req(slo, nid, NOW).replace(" IssueInstant=", " Other="),
            true,
        ),
        ("<not-xml".to_string(), true),
        // Unsigned: refused even from an SP that does not sign its sign-in requests.
        (req(slo, nid, NOW), false),
    ] {
        assert!(check_logout_request(&x, signed, slo, NOW).is_err(), "{x}");
    }

    let resp = |status: &str| {
        format!(
            r#"<samlp:LogoutResponse xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="_x" InResponseTo="_l9" Version="2.0"><saml:Issuer>https://lms.example/sp</saml:Issuer><samlp:Status><samlp:StatusCode Value="{status}"/></samlp:Status></samlp:LogoutResponse>"#
        )
    };
    assert_eq!(
        check_logout_response(&resp(STATUS_SUCCESS)).unwrap(),
        (Some("_l9".to_string()), true)
    );
    assert_eq!(
        check_logout_response(&resp(STATUS_RESPONDER)).unwrap(),
        (Some("_l9".to_string()), false)
    );
}
