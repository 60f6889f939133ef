//! `lanyard-session` owns short-lived state: SSO sessions, login transactions, authorization
//! codes, refresh-token families, throttling counters and revoked-token marks. A small
//! [`SessionStore`] trait of atomic key-value primitives has two implementations — Redis
//! ([`RedisStore`], shared by every Lanyard process) and in-process ([`MemoryStore`], the
//! embedded default) — and [`Sessions`] builds the typed records on top.
//!
//! Every key expires. This crate never touches the database and knows nothing of HTTP.
#![forbid(unsafe_code)]

mod memory;
mod redis_store;
mod sessions;

pub use memory::MemoryStore;
pub use redis_store::RedisStore;
pub use sessions::{
    new_sid, new_sso_secret, sso_handle, RefreshFamily, Rotation, SamlParticipant, Sessions,
    SsoSession,
};

use async_trait::async_trait;
use std::time::Duration;

/// Why the session store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The backing server cannot be reached; worth a 503 and a retry.
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
    /// A stored record does not decode.
    #[error("a session record is corrupt: {0}")]
    Corrupt(String),
}

/// The outcome of a compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Swap {
    /// The value was the expected one and has been replaced.
    Swapped,
    /// The key holds another value (returned).
    Mismatch(Vec<u8>),
    /// The key does not exist (or expired).
    Missing,
}

/// Atomic key-value primitives with expiry. Keys are namespaced by the caller; implementations
/// may add a prefix of their own.
#[async_trait]
pub trait SessionStore: Send + Sync + 'static {
    /// Stores `value` under `key` for `ttl`.
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), SessionError>;
    /// Stores only if `key` is absent; returns whether it stored.
    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, SessionError>;
    /// Reads `key`.
    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, SessionError>;
    /// Reads and deletes `key` in one step: only one caller ever gets the value.
    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, SessionError>;
    /// Deletes `key`.
    async fn delete(&self, key: &str) -> Result<(), SessionError>;
    /// Replaces the value of `key` with `new` (and a fresh `ttl`) only if it is `expected`.
    async fn swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Duration,
    ) -> Result<Swap, SessionError>;
    /// [`SessionStore::swap`] of `expected` for `new`; when it swapped, `expected` is also
    /// added to the set at `history` (as [`SessionStore::add_member`] does) and, with `last`
    /// (key, value, expiry), that value is stored under that key for its own expiry. Stores that can do it all in one
    /// step (Redis, with a script) should: a swap performed after its caller gave up must
    /// still leave the record of what it replaced.
    async fn swap_remembering(
        &self,
        key: &str,
        expected: &str,
        new: &str,
        history: &str,
        last: Option<(&str, &str, Duration)>,
        ttl: Duration,
    ) -> Result<Swap, SessionError> {
        let swapped = self
            .swap(key, expected.as_bytes(), new.as_bytes(), ttl)
            .await?;
        if matches!(swapped, Swap::Swapped) {
            self.add_member(history, expected, ttl).await?;
            if let Some((last, value, last_ttl)) = last {
                self.put(last, value.as_bytes(), last_ttl).await?;
            }
        }
        Ok(swapped)
    }
    /// Adds one to the counter at `key` (created at 1, expiring after `ttl`) and returns it.
    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, SessionError>;
    /// Takes one from the counter at `key` if it exists and is above zero (its expiry stays).
    async fn decr(&self, key: &str) -> Result<(), SessionError>;
    /// Adds `member` to the set at `key` and (re)sets its expiry to at least `ttl`.
    async fn add_member(&self, key: &str, member: &str, ttl: Duration) -> Result<(), SessionError>;
    /// Whether `member` is in the set at `key`.
    async fn is_member(&self, key: &str, member: &str) -> Result<bool, SessionError>;
    /// The members of the set at `key`.
    async fn members(&self, key: &str) -> Result<Vec<String>, SessionError>;
    /// Removes `member` from the set at `key`.
    async fn remove_member(&self, key: &str, member: &str) -> Result<(), SessionError>;
    /// Whether the store answers.
    async fn ping(&self) -> Result<(), SessionError>;
}
