//! Sealing secrets at rest with AES-256-GCM under a key-encryption key (KEK). Each sealed value
//! records the id of the key that sealed it, so keys can rotate: the newest seals, all open.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use base64::Engine;
use rand::RngCore;
use std::fmt;
use zeroize::Zeroizing;

/// One key-encryption key.
struct Kek {
    id: String,
    cipher: Aes256Gcm,
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

#[cfg(test)]
mod tests {
    use super::*;

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
