//! The fuzz targets' bodies: each takes one input and must never panic, hang or allocate
//! without bound, whatever the input.

pub mod jwt;
pub mod metadata;
pub mod oauth_request;
pub mod realm;
pub mod saml_post;
pub mod saml_redirect;

/// A target's body.
pub type Target = fn(&[u8]);

/// Every target by name.
pub const ALL: [(&str, Target); 6] = [
    ("saml_redirect", saml_redirect::run),
    ("saml_post", saml_post::run),
    ("oauth_request", oauth_request::run),
    ("jwt", jwt::run),
    ("realm", realm::run),
    ("metadata", metadata::run),
];

/// What both SAML bindings do once a message is read: its issuer, its signature against the
/// fixture SP's certificate (only what is signed is read on), then the request checks — or,
/// for a `SAMLResponse`, the logout-response check.
pub(crate) fn check_saml(incoming: &lanyard_idp::saml::message::Incoming, response: bool) {
    use lanyard_idp::saml::message as m;
    let f = crate::fixture();
    let _ = incoming.issuer();
    let (xml, signed) = match incoming.verify(&f.sp.certificates) {
        Ok(v) => v,
        Err(_) => (incoming.xml.clone(), false),
    };
    if response {
        let _ = m::check_logout_response(&xml);
        return;
    }
    let sso = format!("{}/saml/sso", crate::ISSUER);
    let slo = format!("{}/saml/slo", crate::ISSUER);
    let now = crate::now();
    let _ = m::check_authn_request(&f.sp, &xml, incoming.relay_state.clone(), signed, &sso, now);
    let _ = m::check_logout_request(&xml, signed, &slo, now);
}
