//! Compact JWS as Lanyard reads them: the header (algorithm allow-list), a token Lanyard is
//! to have signed (`verify_own`), a client assertion (`private_key_jwt`, issuer read before
//! the signature), and an upstream's ID token against its JWKS. Mode byte 1 takes the input
//! as `header JSON \0 payload JSON \0 signature` and encodes it, so the JSON is what mutates.

use crate::{b64url, fixture, now, ISSUER};

/// One input.
pub fn run(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let token = if mode & 1 == 1 {
        let mut parts = rest.splitn(3, |b| *b == 0);
        let h = parts.next().unwrap_or_default();
        let p = parts.next().unwrap_or_default();
        let s = parts.next().unwrap_or_default();
        format!("{}.{}.{}", b64url(h), b64url(p), b64url(s))
    } else {
        match std::str::from_utf8(rest) {
            Ok(s) => s.to_string(),
            Err(_) => return,
        }
    };
    let f = fixture();
    let _ = lanyard_idp::jws::header(&token);
    let _ =
        lanyard_idp::jws::verify_own::<serde_json::Value>(&f.keys, &token, "at+jwt", true, now());
    let presented = lanyard_idp::client_auth::Presented::Assertion {
        id: (mode & 2 == 2).then(|| "fuzz-jwt".to_string()),
        assertion: token.clone(),
    };
    let audiences = [format!("{ISSUER}/token"), ISSUER.to_string()];
    let _ = f.rt.block_on(lanyard_idp::client_auth::authenticate(
        &f.provider,
        presented,
        &audiences,
    ));
    let expect = lanyard_federation::id_token::Expect {
        issuer: ISSUER,
        allowed_tenant_ids: &[],
        client_id: "fuzz-jwt",
        nonce: "n",
        now: now(),
        skew: 60,
    };
    let _ = lanyard_federation::id_token::validate(&token, &f.jwks, &expect);
}
