//! SAML messages by the HTTP-POST binding: the form (repeated parameters, size cap), base64,
//! the XML (DTDs refused), the enveloped signature verified with xmlsec against the SP's
//! certificate (only what it covers read on), then the AuthnRequest, LogoutRequest and
//! LogoutResponse checks. The input is the XML; mode byte bit 0 sends it as SAMLResponse.

use crate::b64;

/// One input.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let param = if mode & 1 == 1 {
        "SAMLResponse"
    } else {
        "SAMLRequest"
    };
    let form = vec![
        (param.to_string(), b64(rest)),
        ("RelayState".to_string(), "r".to_string()),
    ];
    let Ok(incoming) = lanyard_idp::saml::message::Incoming::from_post(&form, param) else {
        return;
    };
    super::check_saml(&incoming, param == "SAMLResponse");
}
