//! The token endpoint's request as it arrives: an `Authorization` header (first line) and a
//! form body (the rest) — form parsing with the repeated-parameter rule, Basic credentials,
//! the choice of client authentication, and that authentication against the fixture's
//! clients (client assertions included). The same body is also read as an authorization
//! request's query.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| lanyard_fuzz::targets::oauth_request::run(data));
