//! Form tokens: an HMAC of the form's purpose under a secret only the server and the rightful
//! browser's state know — the SSO session's handle for account and logout forms, the sign-in
//! transaction's own secret for sign-in forms. A token made for one form, one session or one
//! sign-in is refused by every other, and nothing an attacker can make Lanyard set in a browser
//! gives him one.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The token for `purpose` under `secret`.
pub(crate) fn token(secret: &str, purpose: &str) -> String {
    B64.encode(mac(secret, purpose))
}

/// Whether `presented` is the token for `purpose` under `secret`.
pub(crate) fn verify(secret: &str, purpose: &str, presented: &str) -> bool {
    let Ok(given) = B64.decode(presented.trim()) else {
        return false;
    };
    !secret.is_empty() && bool::from(mac(secret, purpose).as_slice().ct_eq(&given))
}

fn mac(secret: &str, purpose: &str) -> Vec<u8> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut m = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return Vec::new(),
    };
    m.update(b"lanyard-form\0");
    m.update(purpose.as_bytes());
    m.finalize().into_bytes().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_bound_to_secret_and_purpose() {
        let t = token("session-a", "account.recovery");
        assert!(verify("session-a", "account.recovery", &t));
        assert!(!verify("session-b", "account.recovery", &t));
        assert!(!verify("session-a", "logout", &t));
        assert!(!verify(
            "",
            "account.recovery",
            &token("", "account.recovery")
        ));
        assert!(!verify("session-a", "account.recovery", ""));
        assert!(!verify("session-a", "account.recovery", "not base64 !"));
    }
}
