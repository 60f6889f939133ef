//! Sealing secrets at rest with AES-256-GCM under a key-encryption key (KEK). Each sealed value
//! records the id of the key that sealed it, so keys can rotate: the newest seals, all open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::{STANDARD_NO_PAD as B64, URL_SAFE_NO_PAD as B64URL};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;
use std::fmt;
use zeroize::Zeroizing;

/// One key-encryption key.
struct Kek {
    id: String,
    cipher: Aes256Gcm,
    /// The key itself, for the keys derived from it ([`Keyring::seal_token`], [`Keyring::mac`]).
    raw: Zeroizing<Vec<u8>>,
}

/// The keys that seal secrets: the first seals, every one can open.
pub struct Keyring {
    keys: Vec<Kek>,
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids: Vec<_> = self.keys.iter().map(|k| k.id.as_str()).collect();
        f.debug_struct("Keyring").field("key_ids", &ids).finish()
    }
}

/// Why a keyring could not be built or a value not opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// The key file's text is not `id:base64` lines of 32-byte keys.
    #[error("key line {0}: expected `id:base64-of-32-bytes`")]
    BadKeyLine(usize),
    /// No keys at all.
    #[error("the keyring is empty")]
    Empty,
    /// The value was sealed with a key we do not have.
    #[error("no key with id {0:?} in the keyring")]
    UnknownKey(String),
    /// The value is damaged, or was sealed for another purpose.
    #[error("a sealed value failed to open")]
    Tampered,
}

impl Keyring {
    /// Parses a key file: one `id:base64` line per key, newest first; `#` lines are comments.
    pub fn parse(text: &str) -> Result<Self, SealError> {
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (id, b64) = line.split_once(':').ok_or(SealError::BadKeyLine(n + 1))?;
            let raw = Zeroizing::new(
                B64.decode(b64.trim_end_matches('='))
                    .map_err(|_| SealError::BadKeyLine(n + 1))?,
            );
            if raw.len() != 32 || id.is_empty() {
                return Err(SealError::BadKeyLine(n + 1));
            }
            let cipher =
                Aes256Gcm::new_from_slice(&raw).map_err(|_| SealError::BadKeyLine(n + 1))?;
            keys.push(Kek {
                id: id.to_string(),
                cipher,
                raw,
            });
        }
        if keys.is_empty() {
            return Err(SealError::Empty);
        }
        Ok(Self { keys })
    }

    /// A new key file's text with one fresh random key.
    pub fn generate_file_text() -> String {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rngs::OsRng.fill_bytes(key.as_mut());
        let mut id = [0u8; 4];
        rand::rngs::OsRng.fill_bytes(&mut id);
        let id = lanyard_core::random::hex(&id);
        format!(
            "# Lanyard key-encryption keys: newest first, one `id:base64` per line. Keep secret.\nk{id}:{}\n",
            B64.encode(key.as_ref())
        )
    }

    /// The id of the key that seals.
    pub fn active_id(&self) -> &str {
        self.keys.first().map(|k| k.id.as_str()).unwrap_or_default()
    }

    /// Seals `plain`, bound to `context` (e.g. "totp:USERID") so a sealed value cannot be
    /// moved to another row. Returns (key id, sealed text).
    pub fn seal(&self, plain: &[u8], context: &str) -> Result<(String, String), SealError> {
        let k = self.keys.first().ok_or(SealError::Empty)?;
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = k
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealError::Tampered)?;
        Ok((
            k.id.clone(),
            format!("v1.{}.{}", B64.encode(nonce), B64.encode(ct)),
        ))
    }

    /// Opens a value sealed by [`Keyring::seal`] with the same `context`.
    pub fn open(
        &self,
        key_id: &str,
        sealed: &str,
        context: &str,
    ) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let k = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .ok_or_else(|| SealError::UnknownKey(key_id.into()))?;
        let mut parts = sealed.split('.');
        let (Some("v1"), Some(n), Some(c), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Tampered);
        };
        let nonce = B64.decode(n).map_err(|_| SealError::Tampered)?;
        let ct = B64.decode(c).map_err(|_| SealError::Tampered)?;
        if nonce.len() != 12 {
            return Err(SealError::Tampered);
        }
        k.cipher
            .decrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &ct,
                    aad: context.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Tampered)
    }
}

impl Keyring {
    fn key(&self, id: &str) -> Result<&Kek, SealError> {
        self.keys
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| SealError::UnknownKey(id.into()))
    }

    /// Every key's id, the sealing one first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// A keyed hash of `data` for `purpose` under key `key_id` (HMAC-SHA-256 under a key
    /// derived from that KEK for the purpose): what a database alone cannot recompute.
    pub fn mac(&self, key_id: &str, purpose: &str, data: &[u8]) -> Result<[u8; 32], SealError> {
        let k = self.key(key_id)?;
        let sub = hmac(&k.raw, &[b"lanyard-mac\0", purpose.as_bytes()])?;
        hmac(&sub, &[data])
    }

    /// Seals a short-lived value into URL-safe text (`KEYID.SALT.CIPHERTEXT`), bound to
    /// `context`. Each value is sealed under a key of its own, derived from the KEK and a random
    /// salt, so however many values are sealed no AES-GCM key ever sees a nonce twice.
    pub fn seal_token(&self, plain: &[u8], context: &str) -> Result<String, SealError> {
        let k = self.keys.first().ok_or(SealError::Empty)?;
        let mut salt = [0u8; 16];
        rand::thread_rng().fill_bytes(&mut salt);
        let cipher = token_cipher(k, context, &salt)?;
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&[0u8; 12]),
                Payload {
                    msg: plain,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| SealError::Tampered)?;
        Ok(format!(
            "{}.{}.{}",
            k.id,
            B64URL.encode(salt),
            B64URL.encode(ct)
        ))
    }

    /// Opens text made by [`Keyring::seal_token`] with the same `context`.
    pub fn open_token(&self, text: &str, context: &str) -> Result<Zeroizing<Vec<u8>>, SealError> {
        let mut parts = text.rsplitn(3, '.');
        let (Some(ct), Some(salt), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(SealError::Tampered);
        };
        let k = self.key(id)?;
        let salt = B64URL.decode(salt).map_err(|_| SealError::Tampered)?;
        let ct = B64URL.decode(ct).map_err(|_| SealError::Tampered)?;
        if salt.len() != 16 {
            return Err(SealError::Tampered);
        }
        token_cipher(k, context, &salt)?
            .decrypt(
                Nonce::from_slice(&[0u8; 12]),
                Payload {
                    msg: &ct,
                    aad: context.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| SealError::Tampered)
    }
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Result<[u8; 32], SealError> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| SealError::Empty)?;
    for p in parts {
        m.update(p);
    }
    Ok(m.finalize().into_bytes().into())
}

fn token_cipher(k: &Kek, context: &str, salt: &[u8]) -> Result<Aes256Gcm, SealError> {
    let key = Zeroizing::new(hmac(
        &k.raw,
        &[b"lanyard-token\0", context.as_bytes(), b"\0", salt],
    )?);
    Aes256Gcm::new_from_slice(key.as_ref()).map_err(|_| SealError::Empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_tokens_open_only_whole_and_in_their_context() {
        let old = Keyring::generate_file_text();
        let ring = Keyring::parse(&old).unwrap();
        let t = ring.seal_token(b"{\"a\":1}", "login-tx").unwrap();
        assert!(
            t.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b".-_".contains(&c)),
            "{t}"
        );
        assert_ne!(t, ring.seal_token(b"{\"a\":1}", "login-tx").unwrap());
        assert_eq!(
            ring.open_token(&t, "login-tx").unwrap().as_slice(),
            b"{\"a\":1}"
        );
        assert_eq!(ring.open_token(&t, "other"), Err(SealError::Tampered));
        let mut bad = t.clone().into_bytes();
        let last = bad.len() - 3;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            ring.open_token(std::str::from_utf8(&bad).unwrap(), "login-tx"),
            Err(SealError::Tampered)
        );
        assert!(ring.open_token("nonsense", "login-tx").is_err());
        // After a rotation the old key still opens what it sealed.
        let rotated = Keyring::parse(&format!("{}{old}", Keyring::generate_file_text())).unwrap();
        assert_eq!(
            rotated.open_token(&t, "login-tx").unwrap().as_slice(),
            b"{\"a\":1}"
        );
        // A keyed hash depends on key, purpose and data.
        let id = ring.active_id().to_string();
        let m = ring.mac(&id, "recovery", b"abc").unwrap();
        assert_eq!(m, rotated.mac(&id, "recovery", b"abc").unwrap());
        assert_ne!(m, ring.mac(&id, "recovery", b"abd").unwrap());
        assert_ne!(m, ring.mac(&id, "other", b"abc").unwrap());
        assert_ne!(
            m,
            rotated
                .mac(rotated.active_id(), "recovery", b"abc")
                .unwrap()
        );
    }

    #[test]
    fn seal_and_open() {
        let ring = Keyring::parse(&Keyring::generate_file_text()).unwrap();
        let (id, sealed) = ring.seal(b"JBSWY3DPEHPK3PXP", "totp:u1").unwrap();
        assert_eq!(id, ring.active_id());
        assert!(!sealed.contains("JBSWY3DPEHPK3PXP"));
        assert_eq!(
            ring.open(&id, &sealed, "totp:u1").unwrap().as_slice(),
            b"JBSWY3DPEHPK3PXP"
        );
        // Another row's context, a flipped byte, or an unknown key: refused.
        assert_eq!(ring.open(&id, &sealed, "totp:u2"), Err(SealError::Tampered));
        let mut bad = sealed.clone().into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            ring.open(&id, std::str::from_utf8(&bad).unwrap(), "totp:u1"),
            Err(SealError::Tampered)
        );
        assert!(matches!(
            ring.open("nope", &sealed, "totp:u1"),
            Err(SealError::UnknownKey(_))
        ));
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let old = Keyring::generate_file_text();
        let ring_old = Keyring::parse(&old).unwrap();
        let (id, sealed) = ring_old.seal(b"secret", "ctx").unwrap();
        let new_first = format!("{}{}", Keyring::generate_file_text(), old);
        let ring = Keyring::parse(&new_first).unwrap();
        assert_ne!(ring.active_id(), id);
        assert_eq!(
            ring.open(&id, &sealed, "ctx").unwrap().as_slice(),
            b"secret"
        );
    }

    #[test]
    fn bad_key_files() {
        assert_eq!(
            Keyring::parse("# only a comment\n").unwrap_err(),
            SealError::Empty
        );
        assert_eq!(
            Keyring::parse("k1:c2hvcnQ\n").unwrap_err(),
            SealError::BadKeyLine(1)
        );
        assert_eq!(
            Keyring::parse("\nno-colon\n").unwrap_err(),
            SealError::BadKeyLine(2)
        );
        let text = Keyring::generate_file_text();
        let b64 = text
            .lines()
            .nth(1)
            .unwrap()
            .split_once(':')
            .unwrap()
            .1
            .to_string();
        assert!(!format!("{:?}", Keyring::parse(&text).unwrap()).contains(&b64));
    }
}
