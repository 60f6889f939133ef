//! Compact JWS as Lanyard reads them: the header (algorithm allow-list), a token Lanyard is
//! to have signed (`verify_own`), a client assertion (`private_key_jwt`, issuer read before
//! the signature), and an upstream's ID token against its JWKS. Mode byte 1 takes the input
//! as `header JSON \0 payload JSON \0 signature` and encodes it, so the JSON is what mutates.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lanyard_fuzz::targets::jwt::run(data));
