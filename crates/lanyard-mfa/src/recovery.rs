//! Recovery codes: ten single-use codes, shown once, kept only as hashes.

use rand::RngCore;
use sha2::{Digest, Sha256};

/// How many codes a set has.
pub const COUNT: usize = 10;

/// A fresh set of codes, like `k3f9q-2m7xd` (50 bits each, lower-case base32).
pub fn generate() -> Vec<String> {
    (0..COUNT)
        .map(|_| {
            let mut b = [0u8; 7];
            rand::rngs::OsRng.fill_bytes(&mut b);
            let s = base32::encode(base32::Alphabet::Rfc4648 { padding: false }, &b).to_lowercase();
            format!("{}-{}", &s[..5], &s[5..10])
        })
        .collect()
}

/// The stored form of a code (SHA-256 of its normalised text; codes are random, so a fast hash
/// is right).
pub fn hash(code: &str) -> String {
    let norm: String = code
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    lanyard_core::random::hex(&Sha256::digest(norm.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_hash_forgivingly() {
        let codes = generate();
        assert_eq!(codes.len(), 10);
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        assert_eq!(
            hash(&codes[0]),
            hash(&codes[0].to_uppercase().replace('-', " "))
        );
        assert_ne!(hash(&codes[0]), hash(&codes[1]));
    }
}
