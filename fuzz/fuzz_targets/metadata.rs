//! Metadata documents an administrator imports: SAML SP metadata (`saml import`), the
//! certificates in it or in a realm file (PEM or base64 DER), and a W3C `traceparent`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lanyard_fuzz::targets::metadata::run(data));
