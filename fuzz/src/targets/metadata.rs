//! Metadata documents an administrator imports: SAML SP metadata (`saml import`), the
//! certificates in it or in a realm file (PEM or base64 DER), and a W3C `traceparent`.

/// One input.
pub fn run(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(md) = lanyard_idp::saml::metadata::parse_sp_metadata(text) {
            std::hint::black_box(&md);
        }
        let _ = lanyard_server::realm::certificate_base64(text);
        let _ = lanyard_server::telemetry::Traceparent::parse(text);
    }
}
