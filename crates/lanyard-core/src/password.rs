//! Password hashing with Argon2id. Pure computation: the caller decides where it runs (the
//! server runs it on a bounded blocking pool, never on the async workers).

use crate::secret::Secret;
use argon2_rust::params::Memory;
use argon2_rust::{Algorithm, Argon2, Hasher, Params, Version};
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
    fn hasher(&self) -> Result<Argon2, PasswordError> {
        // Lanes are computed one after the other on the calling thread: the server's
        // hashing threads are the parallelism.
        let p = Params::builder()
            .memory(Memory::kib(u64::from(self.memory_kib)))
            .passes(self.iterations)
            .lanes(self.parallelism)
            .threads(1)
            .build()
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

/// A PHC string read: an Argon2id hash with its salt, output and parameters.
fn decoded(phc: &str) -> Option<argon2_rust::Decoded> {
    argon2_rust::decode_string(phc, Algorithm::Argon2id).ok()
}

impl PasswordHash {
    /// A hash read back from storage or a realm file; checked to be a PHC Argon2id string.
    pub fn parse(phc: &str) -> Result<Self, PasswordError> {
        decoded(phc).ok_or(PasswordError::MalformedHash)?;
        Ok(Self(phc.to_string()))
    }

    /// The PHC string.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Hashes `password` with a fresh random salt (16 bytes from the OS).
    pub fn create(password: &Secret, params: &Argon2Params) -> Result<Self, PasswordError> {
        let h = params
            .hasher()?
            .hash_password_with_random_salt(password.expose().as_bytes())
            .map_err(|e| PasswordError::BadParams(e.to_string()))?;
        Ok(Self(h))
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
    /// allocates nor page-faults its 19 MiB again for every sign-in. The memory is wiped
    /// when each call returns (which is also the next call's zeroing).
    pub fn verify_in(&self, password: &Secret, memory: &mut HashMemory) -> bool {
        // The parameters come from the hash itself, so old hashes keep verifying after the
        // configured cost changes.
        let Some(d) = decoded(&self.0) else {
            return false;
        };
        let argon2 = Argon2::new(d.algorithm, d.version, d.params);
        let hasher = match &mut memory.0 {
            Some(h) => {
                // Grown to the largest cost seen; stored hashes are written by Lanyard or an
                // administrator's realm file, never by the person signing in.
                h.set_argon2(argon2);
                h
            }
            None => memory.0.insert(argon2.hasher()),
        };
        // Constant-time comparison of the outputs inside.
        hasher
            .verify(password.expose().as_bytes(), &d.salt, &d.hash)
            .is_ok()
    }

    /// Whether this hash was made with parameters other than `params` (and so should be
    /// re-hashed at the next successful sign-in).
    pub fn needs_rehash(&self, params: &Argon2Params) -> bool {
        let Some(d) = decoded(&self.0) else {
            return true;
        };
        d.params.memory_kib() != params.memory_kib
            || d.params.passes() != params.iterations
            || d.params.lanes() != params.parallelism
    }
}

/// Working memory for Argon2 (19 MiB at the default cost), kept between hashes by whoever
/// owns it — the server gives one to each of its hashing threads. Wiped after every use.
#[derive(Default)]
pub struct HashMemory(Option<Hasher>);

impl HashMemory {
    /// The blocks (1 KiB each) held now.
    pub fn blocks(&self) -> usize {
        self.0.as_ref().map_or(0, Hasher::reserved_blocks)
    }
}

impl fmt::Debug for HashMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HashMemory({} blocks)", self.blocks())
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
    fn reused_memory_agrees_with_the_previous_implementation() {
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
                let reference = argon2::Argon2::default()
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
    fn hashes_stored_by_the_previous_implementation_keep_verifying() {
        // Made by the RustCrypto `argon2` 0.5 crate Lanyard hashed with until 2026-12.
        for phc in [
            "$argon2id$v=19$m=19456,t=2,p=1$bGFueWFyZC1jb21wYXQtMQ$O7DIlo7ROSj+txaG3WCCyHqs7LmmUA5cpgWYJa291ZM",
            "$argon2id$v=19$m=8192,t=1,p=2$bGFueWFyZC1jb21wYXQtMQ$tgAH59DLiT494PXpIRQPg7NlTb26FtTediemQPd1CUk",
        ] {
            let h = PasswordHash::parse(phc).unwrap();
            let mut memory = HashMemory::default();
            assert!(h.verify_in(&Secret::new("Lanyard-demo-pass-2026"), &mut memory));
            assert!(!h.verify_in(&Secret::new("Lanyard-demo-pass-2027"), &mut memory));
            assert!(h.verify(&Secret::new("Lanyard-demo-pass-2026")));
        }
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
