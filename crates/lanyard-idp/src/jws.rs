//! JWS compact serialisation: signing with our keys, verifying with an allow-list of
//! asymmetric algorithms only (never `none`, never HMAC — so a public key can never be used as
//! an HMAC secret).

use crate::keys::{jwt_alg, KeySet, LoadedKey};
use crate::util::b64;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

/// The algorithms Lanyard will ever verify.
pub const ALLOWED: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

/// Why a token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not a JWS, or a header we do not accept.
    #[error("malformed token")]
    Malformed,
    /// An algorithm outside the allow-list (`none`, `HS256`, …).
    #[error("algorithm not allowed")]
    Algorithm,
    /// No published key with that `kid`.
    #[error("unknown signing key")]
    UnknownKey,
    /// Wrong `typ` header.
    #[error("wrong token type")]
    Type,
    /// Bad signature.
    #[error("bad signature")]
    Signature,
    /// Expired.
    #[error("token expired")]
    Expired,
}

/// Signs `claims` as a compact JWS with header `typ`.
pub fn sign(
    key: &LoadedKey,
    typ: &str,
    claims: &impl Serialize,
) -> Result<String, crate::keys::KeyError> {
    let header = json!({"alg": key.alg.as_str(), "typ": typ, "kid": key.kid});
    let payload = serde_json::to_vec(claims).map_err(|_| crate::keys::KeyError::Sign)?;
    let mut out = format!("{}.{}", b64(header.to_string().as_bytes()), b64(&payload));
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&b64(&sig));
    Ok(out)
}

/// The header of a compact JWS, with its algorithm checked against the allow-list first.
pub fn header(token: &str) -> Result<jsonwebtoken::Header, VerifyError> {
    // Read the raw `alg` ourselves: `none` and unknown algorithms must be refused by name.
    let first = token.split('.').next().ok_or(VerifyError::Malformed)?;
    let raw: serde_json::Value = crate::util::unb64(first)
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or(VerifyError::Malformed)?;
    let alg = raw
        .get("alg")
        .and_then(|a| a.as_str())
        .ok_or(VerifyError::Malformed)?;
    if !["RS256", "ES256", "EdDSA"].contains(&alg) {
        return Err(VerifyError::Algorithm);
    }
    jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Malformed)
}

/// Verifies a signature (and `exp` when `check_exp`) with `key` for `alg`; claims are checked
/// by the caller.
pub fn verify_with<T: DeserializeOwned>(
    token: &str,
    key: &DecodingKey,
    alg: Algorithm,
    check_exp: bool,
) -> Result<T, VerifyError> {
    if !ALLOWED.contains(&alg) {
        return Err(VerifyError::Algorithm);
    }
    let mut v = Validation::new(alg);
    v.algorithms = vec![alg];
    v.validate_aud = false;
    v.validate_exp = check_exp;
    v.leeway = 30;
    v.required_spec_claims.clear();
    if check_exp {
        v.required_spec_claims.insert("exp".into());
    }
    jsonwebtoken::decode::<T>(token, key, &v)
        .map(|d| d.claims)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::ExpiredSignature => VerifyError::Expired,
            jsonwebtoken::errors::ErrorKind::InvalidAlgorithm => VerifyError::Algorithm,
            jsonwebtoken::errors::ErrorKind::InvalidSignature => VerifyError::Signature,
            _ => VerifyError::Malformed,
        })
}

/// Verifies a token Lanyard signed: published `kid`, the key's own algorithm, the expected
/// `typ`.
pub fn verify_own<T: DeserializeOwned>(
    keys: &KeySet,
    token: &str,
    typ: &str,
    check_exp: bool,
    now: i64,
) -> Result<T, VerifyError> {
    let h = header(token)?;
    let kid = h.kid.as_deref().ok_or(VerifyError::UnknownKey)?;
    let key = keys.find(kid, now).ok_or(VerifyError::UnknownKey)?;
    if h.alg != jwt_alg(key.alg) {
        return Err(VerifyError::Algorithm);
    }
    if !h
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case(typ))
    {
        return Err(VerifyError::Type);
    }
    verify_with(token, key.decoding_key(), h.alg, check_exp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::generate;
    use lanyard_core::SigningAlg;

    fn set() -> KeySet {
        let mats: Vec<_> = SigningAlg::ALL
            .iter()
            .map(|a| generate(*a, 1, 0).unwrap())
            .collect();
        KeySet::load(&mats).unwrap()
    }

    #[test]
    fn round_trip_for_every_algorithm() {
        let keys = set();
        for alg in SigningAlg::ALL {
            let k = keys.signer(alg, 10).unwrap();
            let t = sign(&k, "at+jwt", &json!({"sub": "u1", "exp": 4_000_000_000i64})).unwrap();
            let c: serde_json::Value = verify_own(&keys, &t, "at+jwt", true, 10).unwrap();
            assert_eq!(c["sub"], "u1");
            // Wrong typ: an ID token is not an access token.
            assert_eq!(
                verify_own::<serde_json::Value>(&keys, &t, "JWT", true, 10).unwrap_err(),
                VerifyError::Type
            );
            // Flipped signature byte.
            let mut bad = t.clone().into_bytes();
            let i = bad.len() - 5;
            bad[i] = if bad[i] == b'A' { b'B' } else { b'A' };
            assert!(verify_own::<serde_json::Value>(
                &keys,
                std::str::from_utf8(&bad).unwrap(),
                "at+jwt",
                true,
                10
            )
            .is_err());
        }
    }

    #[test]
    fn alg_none_and_hmac_with_the_public_key_are_refused() {
        let keys = set();
        let k = keys.signer(SigningAlg::RS256, 10).unwrap();
        let claims = b64(br#"{"sub":"attacker","exp":4000000000}"#);
        let none = format!(
            "{}.{claims}.",
            b64(format!(r#"{{"alg":"none","typ":"at+jwt","kid":"{}"}}"#, k.kid).as_bytes())
        );
        assert_eq!(
            verify_own::<serde_json::Value>(&keys, &none, "at+jwt", true, 10).unwrap_err(),
            VerifyError::Algorithm
        );
        // HS256 keyed with the RSA public key (the classic confusion attack).
        let header =
            b64(format!(r#"{{"alg":"HS256","typ":"at+jwt","kid":"{}"}}"#, k.kid).as_bytes());
        let input = format!("{header}.{claims}");
        let secret = k.jwk().to_string();
        let mac = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes()),
            input.as_bytes(),
        );
        let forged = format!("{input}.{}", b64(mac.as_ref()));
        assert_eq!(
            verify_own::<serde_json::Value>(&keys, &forged, "at+jwt", true, 10).unwrap_err(),
            VerifyError::Algorithm
        );
        // A header claiming ES256 for an RSA kid.
        let es = format!(
            "{}.{claims}.AAAA",
            b64(format!(r#"{{"alg":"ES256","typ":"at+jwt","kid":"{}"}}"#, k.kid).as_bytes())
        );
        assert_eq!(
            verify_own::<serde_json::Value>(&keys, &es, "at+jwt", true, 10).unwrap_err(),
            VerifyError::Algorithm
        );
    }

    #[test]
    fn expiry_is_checked_unless_asked_not_to() {
        let keys = set();
        let k = keys.signer(SigningAlg::ES256, 10).unwrap();
        let t = sign(&k, "JWT", &json!({"sub": "u1", "exp": 1000})).unwrap();
        assert_eq!(
            verify_own::<serde_json::Value>(&keys, &t, "JWT", true, 10).unwrap_err(),
            VerifyError::Expired
        );
        assert!(verify_own::<serde_json::Value>(&keys, &t, "JWT", false, 10).is_ok());
    }
}
