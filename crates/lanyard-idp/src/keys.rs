//! Signing keys: generation, the in-memory key set (parsed once, shared), the JWKS, and the
//! rotation schedule. A key is published before it signs and stays published after it stops
//! signing until every token it signed has expired.

use crate::util::b64;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::signature::{self, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RsaKeyPair};
use jsonwebtoken::{Algorithm, DecodingKey};
use lanyard_core::SigningAlg;
use serde_json::{json, Value};
use std::sync::Arc;
use zeroize::Zeroizing;

/// A key as persisted (the private half in PKCS#8 DER).
pub struct KeyMaterial {
    /// `kid`.
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    /// Generation within the algorithm.
    pub seq: i64,
    /// PKCS#8 private key.
    pub pkcs8: Zeroizing<Vec<u8>>,
    /// Signs from (Unix seconds).
    pub activates_at: i64,
    /// Stops signing at.
    pub retires_at: Option<i64>,
    /// Leaves the JWKS at.
    pub expires_at: Option<i64>,
}

/// Why a key could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Generation failed.
    #[error("key generation failed")]
    Generate,
    /// The stored key does not parse.
    #[error("signing key {0} does not load")]
    Load(String),
    /// Signing failed.
    #[error("signing failed")]
    Sign,
}

enum Signer {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A key ready to sign and verify.
pub struct LoadedKey {
    /// `kid`.
    pub kid: String,
    /// Algorithm.
    pub alg: SigningAlg,
    /// Generation.
    pub seq: i64,
    /// Signs from.
    pub activates_at: i64,
    /// Stops signing at.
    pub retires_at: Option<i64>,
    /// Leaves the JWKS at.
    pub expires_at: Option<i64>,
    signer: Signer,
    jwk: Value,
    decoding: DecodingKey,
}

/// The jsonwebtoken algorithm for ours.
pub fn jwt_alg(a: SigningAlg) -> Algorithm {
    match a {
        SigningAlg::RS256 => Algorithm::RS256,
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
    }
}

/// Makes a new key of `alg`.
pub fn generate(alg: SigningAlg, seq: i64, activates_at: i64) -> Result<KeyMaterial, KeyError> {
    let pkcs8: Vec<u8> = match alg {
        SigningAlg::RS256 => {
            let k = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .map_err(|_| KeyError::Generate)?;
            AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&k)
                .map_err(|_| KeyError::Generate)?
                .as_ref()
                .to_vec()
        }
        SigningAlg::ES256 => {
            let k = EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(|_| KeyError::Generate)?;
            k.to_pkcs8v1()
                .map_err(|_| KeyError::Generate)?
                .as_ref()
                .to_vec()
        }
        SigningAlg::EdDSA => {
            let k = Ed25519KeyPair::generate().map_err(|_| KeyError::Generate)?;
            k.to_pkcs8v1()
                .map_err(|_| KeyError::Generate)?
                .as_ref()
                .to_vec()
        }
    };
    let kid = format!(
        "{}-{seq}-{}",
        alg.as_str().to_lowercase(),
        crate::util::random_token(6)
    );
    Ok(KeyMaterial {
        kid,
        alg,
        seq,
        pkcs8: Zeroizing::new(pkcs8),
        activates_at,
        retires_at: None,
        expires_at: None,
    })
}

impl LoadedKey {
    /// Parses stored material.
    pub fn load(m: &KeyMaterial) -> Result<Self, KeyError> {
        let bad = || KeyError::Load(m.kid.clone());
        let (signer, mut jwk, decoding) = match m.alg {
            SigningAlg::RS256 => {
                let k = RsaKeyPair::from_pkcs8(&m.pkcs8).map_err(|_| bad())?;
                let n = k
                    .public_key()
                    .modulus()
                    .big_endian_without_leading_zero()
                    .to_vec();
                let e = k
                    .public_key()
                    .exponent()
                    .big_endian_without_leading_zero()
                    .to_vec();
                let jwk = json!({"kty": "RSA", "n": b64(&n), "e": b64(&e)});
                (
                    Signer::Rsa(k),
                    jwk,
                    DecodingKey::from_rsa_raw_components(&n, &e),
                )
            }
            SigningAlg::ES256 => {
                let k =
                    EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &m.pkcs8)
                        .map_err(|_| bad())?;
                let point = k.public_key().as_ref();
                if point.len() != 65 {
                    return Err(bad());
                }
                let (x, y) = (b64(&point[1..33]), b64(&point[33..65]));
                let dec = DecodingKey::from_ec_components(&x, &y).map_err(|_| bad())?;
                (
                    Signer::Ec(k),
                    json!({"kty": "EC", "crv": "P-256", "x": x, "y": y}),
                    dec,
                )
            }
            SigningAlg::EdDSA => {
                let k = Ed25519KeyPair::from_pkcs8(&m.pkcs8).map_err(|_| bad())?;
                let x = b64(k.public_key().as_ref());
                let dec = DecodingKey::from_ed_components(&x).map_err(|_| bad())?;
                (
                    Signer::Ed(k),
                    json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
                    dec,
                )
            }
        };
        jwk["kid"] = json!(m.kid);
        jwk["use"] = json!("sig");
        jwk["alg"] = json!(m.alg.as_str());
        Ok(Self {
            kid: m.kid.clone(),
            alg: m.alg,
            seq: m.seq,
            activates_at: m.activates_at,
            retires_at: m.retires_at,
            expires_at: m.expires_at,
            signer,
            jwk,
            decoding,
        })
    }

    /// Signs `msg` (the JWS signing input).
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match &self.signer {
            Signer::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&signature::RSA_PKCS1_SHA256, &rng, msg, &mut sig)
                    .map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
            Signer::Ec(k) => Ok(k
                .sign(&rng, msg)
                .map_err(|_| KeyError::Sign)?
                .as_ref()
                .to_vec()),
            Signer::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> &Value {
        &self.jwk
    }

    /// For verifying tokens this key signed.
    pub fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }
}

/// Every loaded key.
#[derive(Default)]
pub struct KeySet {
    keys: Vec<Arc<LoadedKey>>,
}

impl KeySet {
    /// Loads every key (all must parse).
    pub fn load(materials: &[KeyMaterial]) -> Result<Self, KeyError> {
        let keys = materials
            .iter()
            .map(|m| LoadedKey::load(m).map(Arc::new))
            .collect::<Result<_, _>>()?;
        Ok(Self { keys })
    }

    /// The key that signs `alg` tokens at `now`: the newest one already active.
    pub fn signer(&self, alg: SigningAlg, now: i64) -> Option<Arc<LoadedKey>> {
        self.keys
            .iter()
            .filter(|k| k.alg == alg && k.activates_at <= now)
            .max_by_key(|k| (k.activates_at, k.seq))
            .cloned()
    }

    /// A key by `kid`, if it is still published.
    pub fn find(&self, kid: &str, now: i64) -> Option<Arc<LoadedKey>> {
        self.keys
            .iter()
            .find(|k| k.kid == kid && k.expires_at.is_none_or(|e| e > now))
            .cloned()
    }

    /// The public keys to publish: every key not yet expired, including those about to start
    /// signing.
    pub fn jwks(&self, now: i64) -> Value {
        let keys: Vec<&Value> = self
            .keys
            .iter()
            .filter(|k| k.expires_at.is_none_or(|e| e > now))
            .map(|k| &k.jwk)
            .collect();
        json!({ "keys": keys })
    }

    /// Algorithms with no key at all (to be created at start-up).
    pub fn missing(&self) -> Vec<SigningAlg> {
        SigningAlg::ALL
            .into_iter()
            .filter(|a| !self.keys.iter().any(|k| k.alg == *a))
            .collect()
    }

    /// The highest generation of `alg`.
    pub fn last_seq(&self, alg: SigningAlg) -> i64 {
        self.keys
            .iter()
            .filter(|k| k.alg == alg)
            .map(|k| k.seq)
            .max()
            .unwrap_or(0)
    }

    /// For a rotation of `alg` at `now`: the keys that must stop signing when the new one
    /// activates at `activates_at`, each with the moment it may leave the JWKS (once every
    /// token it signed has expired).
    pub fn retirements(
        &self,
        alg: SigningAlg,
        activates_at: i64,
        max_token_secs: i64,
    ) -> Vec<(String, i64, i64)> {
        self.keys
            .iter()
            .filter(|k| k.alg == alg && k.retires_at.is_none())
            .map(|k| (k.kid.clone(), activates_at, activates_at + max_token_secs))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_generates_loads_and_publishes() {
        let mats: Vec<_> = SigningAlg::ALL
            .iter()
            .map(|a| generate(*a, 1, 100).unwrap())
            .collect();
        let set = KeySet::load(&mats).unwrap();
        assert!(set.missing().is_empty());
        let jwks = set.jwks(100);
        assert_eq!(jwks["keys"].as_array().unwrap().len(), 3);
        for k in jwks["keys"].as_array().unwrap() {
            assert!(k.get("d").is_none(), "private material in the JWKS: {k}");
            assert_eq!(k["use"], "sig");
        }
        assert!(
            set.signer(SigningAlg::ES256, 99).is_none(),
            "a key signed before its activation"
        );
        assert!(set.signer(SigningAlg::ES256, 100).is_some());
    }

    #[test]
    fn rotation_publishes_before_use_and_keeps_old_keys_until_tokens_expire() {
        let old = generate(SigningAlg::RS256, 1, 0).unwrap();
        let set = KeySet::load(&[old]).unwrap();
        let plan = set.retirements(SigningAlg::RS256, 1000, 600);
        assert_eq!(plan.len(), 1);
        let (kid, retires, expires) = plan[0].clone();
        let mut old = generate(SigningAlg::RS256, 1, 0).unwrap();
        old.kid = kid.clone();
        old.retires_at = Some(retires);
        old.expires_at = Some(expires);
        let new = generate(SigningAlg::RS256, 2, 1000).unwrap();
        let new_kid = new.kid.clone();
        let set = KeySet::load(&[old, new]).unwrap();
        // Before activation: the old key signs, both are published.
        assert_eq!(set.signer(SigningAlg::RS256, 500).unwrap().kid, kid);
        assert_eq!(set.jwks(500)["keys"].as_array().unwrap().len(), 2);
        // After: the new key signs; the old stays published until its tokens have expired.
        assert_eq!(set.signer(SigningAlg::RS256, 1000).unwrap().kid, new_kid);
        assert_eq!(set.jwks(1599)["keys"].as_array().unwrap().len(), 2);
        assert_eq!(set.jwks(1600)["keys"].as_array().unwrap().len(), 1);
        assert!(set.find(&kid, 1600).is_none());
    }
}
