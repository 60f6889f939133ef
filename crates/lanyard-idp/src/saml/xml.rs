//! Writing SAML XML by hand, with every value escaped, and signing it with xmlsec (through
//! `samael`). Only documents Lanyard writes itself are built here, so the element order and
//! namespaces are fixed and exclusive canonicalisation gives the same bytes on both sides.

use super::SamlError;
use samael::crypto::{CryptoProvider, XmlSec};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// The assertion namespace.
pub const NS_ASSERTION: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// The protocol namespace.
pub const NS_PROTOCOL: &str = "urn:oasis:names:tc:SAML:2.0:protocol";
/// The metadata namespace.
pub const NS_METADATA: &str = "urn:oasis:names:tc:SAML:2.0:metadata";
/// XML digital signatures.
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// RSA with SHA-256.
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";

/// Escapes text for an element's content or an attribute value.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all are dropped rather than sent broken.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            '\u{FFFE}' | '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

/// A fresh message or assertion id (an NCName: starts with `_`).
pub fn new_id() -> String {
    format!("_{}", lanyard_core::random::hex_token(20))
}

/// SAML's `xs:dateTime` in UTC.
pub fn instant(unix: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

/// An enveloped-signature template for the element with `id`, to be filled in by xmlsec.
pub fn signature_template(id: &str, cert_b64: &str) -> String {
    format!(
        concat!(
            r#"<ds:Signature xmlns:ds="{dsig}"><ds:SignedInfo>"#,
            r#"<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
            r#"<ds:SignatureMethod Algorithm="{alg}"/>"#,
            r##"<ds:Reference URI="#{id}"><ds:Transforms>"##,
            r#"<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>"#,
            r#"<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>"#,
            r#"</ds:Transforms><ds:DigestMethod Algorithm="http://www.w3.org/2001/04/xmlenc#sha256"/>"#,
            r#"<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>"#,
            r#"<ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data>"#,
            r#"<ds:X509Certificate>{cert}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></ds:Signature>"#
        ),
        dsig = NS_DSIG,
        alg = RSA_SHA256,
        id = esc(id),
        cert = cert_b64,
    )
}

/// Signs the first signature template of `xml` with the PKCS#1 DER key; returns the document
/// without its XML declaration (so it can be embedded).
pub fn sign(xml: &str, key_der: &[u8]) -> Result<String, SamlError> {
    let signed = XmlSec::sign_xml(xml, key_der)
        .map_err(|e| SamlError::Internal(format!("XML signing failed: {e}")))?;
    Ok(strip_declaration(&signed).to_string())
}

/// Drops a leading `<?xml …?>` declaration.
pub fn strip_declaration(xml: &str) -> &str {
    let t = xml.trim_start();
    match t
        .strip_prefix("<?xml")
        .and_then(|r| r.find("?>").map(|i| &r[i + 2..]))
    {
        Some(rest) => rest.trim_start(),
        None => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_markup_out() {
        assert_eq!(
            esc(r#"O'Brien & <b>"x"</b>"#),
            "O&apos;Brien &amp; &lt;b&gt;&quot;x&quot;&lt;/b&gt;"
        );
        assert_eq!(esc("a\u{1}b\tc"), "ab\tc");
    }

    #[test]
    fn ids_are_ncnames_and_unique() {
        let a = new_id();
        assert!(a.starts_with('_') && a.len() == 41);
        assert_ne!(a, new_id());
    }

    #[test]
    fn instants_are_utc() {
        assert_eq!(instant(0), "1970-01-01T00:00:00Z");
        assert_eq!(instant(1_795_000_000), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn declaration_is_stripped() {
        assert_eq!(strip_declaration("<?xml version=\"1.0\"?>\n<a/>"), "<a/>");
        assert_eq!(strip_declaration("<a/>"), "<a/>");
    }
}
