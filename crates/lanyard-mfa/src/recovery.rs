//! Recovery codes: ten single-use codes, shown once, kept only as hashes.

use rand::RngCore;

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

/// A code as typed, reduced to what it means: lower-case letters and digits (spaces, dashes
/// and case are forgiven). The store keeps only a keyed hash of this.
pub fn normalise(code: &str) -> String {
    code.chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_normalise_forgivingly() {
        let codes = generate();
        assert_eq!(codes.len(), 10);
        let distinct: std::collections::BTreeSet<_> = codes.iter().collect();
        assert_eq!(distinct.len(), 10);
        assert_eq!(
            normalise(&codes[0]),
            normalise(&codes[0].to_uppercase().replace('-', " "))
        );
        assert_eq!(normalise(&codes[0]).len(), 10);
        assert_ne!(normalise(&codes[0]), normalise(&codes[1]));
    }
}
