//! SAML messages by the HTTP-POST binding: the form (repeated parameters, size cap), base64,
//! the XML (DTDs refused), the enveloped signature verified with xmlsec against the SP's
//! certificate (only what it covers read on), then the AuthnRequest, LogoutRequest and
//! LogoutResponse checks. The input is the XML; mode byte bit 0 sends it as SAMLResponse.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lanyard_fuzz::targets::saml_post::run(data));
