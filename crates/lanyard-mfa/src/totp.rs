//! TOTP (RFC 6238): secrets, provisioning URIs and QR codes, and checking a code within one
//! step either side, never accepting a step at or before the last one used (replay).

use lanyard_core::tenant::{MfaPolicy, TotpAlgorithm};
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, Builder, Secret};

/// Why a code was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TotpError {
    /// Not digits of the right length.
    #[error("the code must be {0} digits")]
    Malformed(u8),
    /// Does not match any step in the window.
    #[error("the code is not right")]
    Wrong,
    /// Matches a step already used.
    #[error("the code has already been used")]
    Replayed,
    /// The stored secret is not base32.
    #[error("the stored secret is unreadable")]
    BadSecret,
}

/// A new random secret (160 bits, as RFC 4226 recommends), base32 without padding.
pub fn new_secret() -> String {
    let mut b = [0u8; 20];
    rand::rngs::OsRng.fill_bytes(&mut b);
    base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &b)
}

fn algorithm(a: TotpAlgorithm) -> Algorithm {
    match a {
        TotpAlgorithm::SHA1 => Algorithm::SHA1,
        TotpAlgorithm::SHA256 => Algorithm::SHA256,
        TotpAlgorithm::SHA512 => Algorithm::SHA512,
    }
}

fn totp(
    policy: &MfaPolicy,
    secret_b32: &str,
    issuer: Option<&str>,
    account: &str,
) -> Result<totp_rs::Totp, TotpError> {
    let secret = Secret::try_from_base32(secret_b32.trim_end_matches('='))
        .map_err(|_| TotpError::BadSecret)?;
    // `build_noncompliant`: 5-digit codes and the demo's 80-bit secret are outside RFC 4226's
    // recommendations but used by real platforms; the policy validates the parameters.
    Ok(Builder::new()
        .with_algorithm(algorithm(policy.totp_algorithm))
        .with_digits(policy.totp_digits)
        .with_step_duration(policy.totp_period)
        .with_skew(0)
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(issuer)
        .build_noncompliant())
}

/// The `otpauth://` URI an authenticator app scans.
pub fn provisioning_uri(
    policy: &MfaPolicy,
    secret_b32: &str,
    issuer: &str,
    account: &str,
) -> Result<String, TotpError> {
    totp(policy, secret_b32, Some(issuer), account)?
        .to_url()
        .map_err(|_| TotpError::BadSecret)
}

/// The URI as an inline SVG QR code.
pub fn qr_svg(uri: &str) -> Option<String> {
    let code = qrcode::QrCode::new(uri.as_bytes()).ok()?;
    Some(
        code.render::<qrcode::render::svg::Color>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
    )
}

/// The code for the step containing `unix_time` (for tests and the enrolment preview).
pub fn code_at(policy: &MfaPolicy, secret_b32: &str, unix_time: u64) -> Result<String, TotpError> {
    Ok(totp(policy, secret_b32, None, "")?
        .generate(unix_time)
        .to_string())
}

/// Checks `code` at `unix_time`: one step of drift either side, and only steps after
/// `last_step`. Returns the matched step, which the caller must record as the last used.
pub fn check(
    policy: &MfaPolicy,
    secret_b32: &str,
    code: &str,
    unix_time: u64,
    last_step: Option<u64>,
) -> Result<u64, TotpError> {
    let code: String = code
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    if code.len() != usize::from(policy.totp_digits) || !code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(TotpError::Malformed(policy.totp_digits));
    }
    let t = totp(policy, secret_b32, None, "")?;
    let step_now = unix_time / policy.totp_period;
    let mut matched = None;
    for step in [step_now.saturating_sub(1), step_now, step_now + 1] {
        let expected = t.generate(step * policy.totp_period).to_string();
        if bool::from(expected.as_bytes().ct_eq(code.as_bytes())) {
            matched = Some(step);
        }
    }
    match matched {
        None => Err(TotpError::Wrong),
        Some(step) if last_step.is_some_and(|l| step <= l) => Err(TotpError::Replayed),
        Some(step) => Ok(step),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"; // "12345678901234567890", RFC 6238 appendix B

    fn sha1_8() -> MfaPolicy {
        MfaPolicy {
            totp_digits: 8,
            ..Default::default()
        }
    }

    #[test]
    fn rfc6238_test_vectors() {
        for (t, want) in [
            (59u64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            assert_eq!(code_at(&sha1_8(), SECRET, t).unwrap(), want, "t={t}");
        }
    }

    #[test]
    fn window_and_replay() {
        let p = MfaPolicy::default();
        let now = 1_700_000_000u64;
        let step = now / 30;
        let code = code_at(&p, "JBSWY3DPEHPK3PXP", now).unwrap();
        assert_eq!(check(&p, "JBSWY3DPEHPK3PXP", &code, now, None), Ok(step));
        assert_eq!(
            check(&p, "JBSWY3DPEHPK3PXP", &code, now, Some(step)),
            Err(TotpError::Replayed)
        );
        // One step of drift either way is accepted; two is not.
        let prev = code_at(&p, "JBSWY3DPEHPK3PXP", now - 30).unwrap();
        assert_eq!(
            check(&p, "JBSWY3DPEHPK3PXP", &prev, now, None),
            Ok(step - 1)
        );
        let old = code_at(&p, "JBSWY3DPEHPK3PXP", now - 90).unwrap();
        assert_eq!(
            check(&p, "JBSWY3DPEHPK3PXP", &old, now, None),
            Err(TotpError::Wrong)
        );
        let next = code_at(&p, "JBSWY3DPEHPK3PXP", now + 30).unwrap();
        assert_eq!(
            check(&p, "JBSWY3DPEHPK3PXP", &next, now, None),
            Ok(step + 1)
        );
        assert_eq!(
            check(&p, "JBSWY3DPEHPK3PXP", "12345", now, None),
            Err(TotpError::Malformed(6))
        );
        assert_eq!(
            check(&p, "JBSWY3DPEHPK3PXP", "abcdef", now, None),
            Err(TotpError::Malformed(6))
        );
    }

    #[test]
    fn five_digit_codes_and_provisioning() {
        let p = MfaPolicy {
            totp_digits: 5,
            ..Default::default()
        };
        let s = new_secret();
        assert_eq!(s.len(), 32);
        let code = code_at(&p, &s, 1_000_000).unwrap();
        assert_eq!(code.len(), 5);
        assert!(check(&p, &s, &code, 1_000_000, None).is_ok());
        let uri = provisioning_uri(&p, &s, "Demo Training Co", "learner@demo.test").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/") && uri.contains("digits=5") && uri.contains(&s),
            "{uri}"
        );
        assert!(qr_svg(&uri).unwrap().starts_with("<?xml"));
    }
}
