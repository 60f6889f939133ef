//! SAML messages by the HTTP-Redirect binding: the query (repeated parameters, RelayState,
//! SigAlg/Signature), the DEFLATE stream (size cap), the XML (DTDs refused), the query
//! signature against the SP's certificate, then the AuthnRequest and LogoutRequest checks.
//! Mode byte: 0 the raw query; 1 the rest is the DEFLATE stream; otherwise the rest is XML,
//! deflated here (so mutations reach the XML parser).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lanyard_fuzz::targets::saml_redirect::run(data));
