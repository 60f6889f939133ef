//! SAML messages by the HTTP-Redirect binding: the query (repeated parameters, RelayState,
//! SigAlg/Signature), the DEFLATE stream (size cap), the XML (DTDs refused), the query
//! signature against the SP's certificate, then the AuthnRequest and LogoutRequest checks.
//! Mode byte: 0 the raw query; 1 the rest is the DEFLATE stream; otherwise the rest is XML,
//! deflated here (so mutations reach the XML parser).

use crate::{b64, deflate, urlencode};

/// One input.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let query = match mode % 3 {
        0 => match std::str::from_utf8(rest) {
            Ok(q) => q.to_string(),
            Err(_) => return,
        },
        m => {
            let stream = if m == 1 { rest.to_vec() } else { deflate(rest) };
            let mut q = format!("SAMLRequest={}&RelayState=r", urlencode(&b64(&stream)));
            if mode & 0x80 != 0 {
                q.push_str("&SigAlg=http%3A%2F%2Fwww.w3.org%2F2001%2F04%2Fxmldsig-more%23rsa-sha256&Signature=AAAA");
            }
            q
        }
    };
    let Ok(incoming) = lanyard_idp::saml::message::Incoming::from_redirect(&query, "SAMLRequest")
    else {
        return;
    };
    super::check_saml(&incoming, false);
}
