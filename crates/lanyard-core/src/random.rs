//! Random tokens and hex text, made the same way everywhere.
//!
//! Tokens come from the thread-local CSPRNG of `rand` (ChaCha12, seeded from the operating
//! system and reseeded from it regularly): as unpredictable as reading the operating system's
//! generator each time, without a system call per token. Long-lived key material (sealing keys,
//! password salts, TOTP secrets) still reads the operating system's generator directly.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use rand::RngCore;

/// `n` random bytes.
fn bytes(n: usize) -> Vec<u8> {
    let mut b = vec![0u8; n];
    rand::thread_rng().fill_bytes(&mut b);
    b
}

/// A random token of `n` bytes (at least 16 for anything that guards access), base64url.
pub fn token(n: usize) -> String {
    B64.encode(bytes(n))
}

/// A random token of `n` bytes, lower-case hex.
pub fn hex_token(n: usize) -> String {
    hex(&bytes(n))
}

/// Lower-case hex of `b`.
pub fn hex(b: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(char::from(DIGITS[usize::from(x >> 4)]));
        s.push(char::from(DIGITS[usize::from(x & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_lower_case_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn tokens_have_their_length_and_differ() {
        let a = token(32);
        assert_eq!(a.len(), 43);
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
        assert_ne!(a, token(32));
        let h = hex_token(16);
        assert_eq!(h.len(), 32);
        assert_ne!(h, hex_token(16));
    }
}
