//! Small helpers: randomness, hashing, encoding.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use base64::Engine;
use sha2::{Digest, Sha256};

/// `n` random bytes, base64url.
pub fn random_token(n: usize) -> String {
    lanyard_core::random::token(n)
}

/// SHA-256, hex.
pub fn sha256_hex(s: &str) -> String {
    lanyard_core::random::hex(&Sha256::digest(s.as_bytes()))
}

/// SHA-256, base64url.
pub fn sha256_b64(s: &[u8]) -> String {
    B64.encode(Sha256::digest(s))
}

/// base64url without padding.
pub fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Decodes base64url without padding.
pub fn unb64(s: &str) -> Option<Vec<u8>> {
    B64.decode(s).ok()
}
