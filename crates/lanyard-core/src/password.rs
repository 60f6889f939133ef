//! Password hashing with Argon2id. Pure computation: the caller decides where it runs (the
//! server runs it on a bounded blocking pool, never on the async workers).

use crate::secret::Secret;
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::{Deserialize, Serialize};
use std::fmt;

/// Argon2id cost parameters. The default is OWASP's recommendation: m = 19 MiB, t = 2, p = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    fn default() -> Self {
        Self {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl Argon2Params {
    fn hasher(&self) -> Result<Argon2<'static>, PasswordError> {
        let p = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| PasswordError::BadParams(e.to_string()))?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
    }

    /// Checks the parameters are usable (and not weaker than a floor we accept).
    pub fn validate(&self) -> Result<(), PasswordError> {
        if self.memory_kib < 8 * 1024 || self.iterations < 1 || self.parallelism < 1 {
            return Err(PasswordError::BadParams(
                "argon2 needs memory_kib >= 8192, iterations >= 1, parallelism >= 1".into(),
            ));
        }
        self.hasher().map(|_| ())
    }
}

/// A stored password hash in PHC string form (`$argon2id$v=19$m=…`).
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(…)")
    }
}

impl PasswordHash {
    /// A hash read back from storage or a realm file; checked to be a PHC Argon2 string.
    pub fn parse(phc: &str) -> Result<Self, PasswordError> {
        let parsed = argon2::password_hash::PasswordHash::new(phc)
            .map_err(|_| PasswordError::MalformedHash)?;
        if parsed.algorithm.as_str() != "argon2id" {
            return Err(PasswordError::MalformedHash);
        }
        Ok(Self(phc.to_string()))
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Hashes `password` with fresh random salt.
    pub fn create(password: &Secret, params: &Argon2Params) -> Result<Self, PasswordError> {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        let h = params
            .hasher()?
            .hash_password(password.expose().as_bytes(), &salt)
            .map_err(|e| PasswordError::BadParams(e.to_string()))?;
        Ok(Self(h.to_string()))
    }

    /// A hash with `params` that no password matches (random salt and random output, never
    /// computed): checking a password against it costs exactly what checking a real one does,
    /// for sign-ins of people who do not exist. Made without hashing anything.
    pub fn stand_in(params: &Argon2Params) -> Result<Self, PasswordError> {
        use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
        use base64::Engine;
        use rand::RngCore;
        params.validate()?;
        let mut salt = [0u8; 16];
        let mut output = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        rand::rngs::OsRng.fill_bytes(&mut output);
        Self::parse(&format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            params.memory_kib,
            params.iterations,
            params.parallelism,
            B64.encode(salt),
            B64.encode(output)
        ))
    }

    /// Whether `password` matches (constant-time comparison inside argon2).
    pub fn verify(&self, password: &Secret) -> bool {
        self.verify_in(password, &mut HashMemory::default())
    }

    /// [`PasswordHash::verify`] in `memory`, which is grown to the hash's memory cost and
    /// kept for the next call: a hashing thread that reuses one `HashMemory` neither
    /// allocates, zeroes nor page-faults its 19 MiB again for every sign-in.
    pub fn verify_in(&self, password: &Secret, memory: &mut HashMemory) -> bool {
        let Ok(parsed) = argon2::password_hash::PasswordHash::new(&self.0) else {
            return false;
        };
        // The parameters come from the hash itself, so old hashes keep verifying after the
        // configured cost changes.
        let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
            return false;
        };
        let (Ok(algorithm), Ok(params)) = (
            Algorithm::try_from(parsed.algorithm),
            Params::try_from(&parsed),
        ) else {
            return false;
        };
        let Ok(version) = parsed.version.map_or(Ok(Version::V0x13), Version::try_from) else {
            return false;
        };
        let mut salt_buf = [0u8; argon2::password_hash::Salt::MAX_LENGTH];
        let Ok(salt) = salt.decode_b64(&mut salt_buf) else {
            return false;
        };
        let mut out = [0u8; argon2::password_hash::Output::MAX_LENGTH];
        let out = &mut out[..expected.len()];
        let blocks = memory.blocks(params.block_count());
        let computed = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password.expose().as_bytes(),
            salt,
            out,
            blocks,
        );
        // `Output`'s equality is constant-time.
        computed.is_ok() && argon2::password_hash::Output::new(out).is_ok_and(|o| o == expected)
    }

    /// Whether this hash was made with parameters other than `params` (and so should be
    /// re-hashed at the next successful sign-in).
    pub fn needs_rehash(&self, params: &Argon2Params) -> bool {
        let Ok(parsed) = argon2::password_hash::PasswordHash::new(&self.0) else {
            return true;
        };
        let Ok(p) = Params::try_from(&parsed) else {
            return true;
        };
        p.m_cost() != params.memory_kib
            || p.t_cost() != params.iterations
            || p.p_cost() != params.parallelism
    }
}

/// Working memory for Argon2 (19 MiB at the default cost), kept between hashes by whoever
/// owns it — the server gives one to each of its hashing threads.
#[derive(Default)]
pub struct HashMemory(Vec<argon2::Block>);

impl HashMemory {
    fn blocks(&mut self, count: usize) -> &mut [argon2::Block] {
        if self.0.len() < count {
            self.0.resize(count, argon2::Block::default());
        }
        &mut self.0[..count]
    }
}

impl fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HashMemory({} blocks)", self.0.len())
    }
}

/// What went wrong with a password hash.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Not a PHC Argon2id string.
    #[error("the password hash is not an Argon2id PHC string")]
    MalformedHash,
    /// Unusable parameters.
    #[error("invalid Argon2 parameters: {0}")]
    BadParams(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stand_in_matches_nothing_and_costs_what_a_real_hash_costs() {
        let params = Argon2Params::default();
        let s = PasswordHash::stand_in(&params).unwrap();
        assert!(!s.verify(&Secret::new("")));
        assert!(!s.verify(&Secret::new("lanyard-dummy-password-for-timing")));
        // Same parameters as the configured ones: the same work per check.
        assert!(!s.needs_rehash(&params));
        assert!(PasswordHash::stand_in(&Argon2Params {
            memory_kib: 1,
            ..params
        })
        .is_err());
    }

    #[test]
    fn hash_verifies_only_the_right_password() {
        let params = Argon2Params::default();
        let h = PasswordHash::create(&Secret::new("Lanyard-demo-pass-2026"), &params).unwrap();
        assert!(h.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(h.verify(&Secret::new("Lanyard-demo-pass-2026")));
        assert!(!h.verify(&Secret::new("Lanyard-demo-pass-2027")));
        assert!(!h.needs_rehash(&params));
        assert!(h.needs_rehash(&Argon2Params {
            iterations: 3,
            ..params
        }));
        let again = PasswordHash::parse(h.as_str()).unwrap();
        assert_eq!(again, h);
        assert_eq!(format!("{h:?}"), "PasswordHash(…)");
    }

    #[test]
    fn reused_memory_agrees_with_the_reference_verifier() {
        use argon2::password_hash::PasswordVerifier;
        let small = Argon2Params {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 2,
        };
        let default =
            PasswordHash::create(&Secret::new("right-password"), &Argon2Params::default()).unwrap();
        let other = PasswordHash::create(&Secret::new("right-password"), &small).unwrap();
        // One memory for hashes of different costs, larger first, then smaller, then larger.
        let mut memory = HashMemory::default();
        for h in [&default, &other, &default, &other] {
            for (pw, want) in [("right-password", true), ("wrong-password", false)] {
                let reference = Argon2::default()
                    .verify_password(
                        pw.as_bytes(),
                        &argon2::password_hash::PasswordHash::new(h.as_str()).unwrap(),
                    )
                    .is_ok();
                assert_eq!(reference, want);
                assert_eq!(
                    h.verify_in(&Secret::new(pw), &mut memory),
                    want,
                    "{h:?} {pw}"
                );
            }
        }
        assert!(format!("{memory:?}").contains("19456 blocks"));
        // A hash whose stored output was altered no longer verifies.
        let mut chars: Vec<char> = default.as_str().chars().collect();
        let i = chars.len() - 5;
        chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
        let tampered = PasswordHash::parse(&chars.into_iter().collect::<String>()).unwrap();
        assert!(!tampered.verify_in(&Secret::new("right-password"), &mut memory));
    }

    #[test]
    fn salts_differ() {
        let params = Argon2Params::default();
        let a = PasswordHash::create(&Secret::new("same-password-here"), &params).unwrap();
        let b = PasswordHash::create(&Secret::new("same-password-here"), &params).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn malformed_hashes_are_refused() {
        assert_eq!(
            PasswordHash::parse("plain"),
            Err(PasswordError::MalformedHash)
        );
        assert_eq!(
            PasswordHash::parse("$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$aGFzaA"),
            Err(PasswordError::MalformedHash)
        );
        assert!(Argon2Params {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1
        }
        .validate()
        .is_err());
        assert!(Argon2Params::default().validate().is_ok());
    }
}
