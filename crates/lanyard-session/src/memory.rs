//! The in-process store: one mutex-guarded map, entries expiring by the [`Clock`].

use crate::{SessionError, SessionStore, Swap};
use async_trait::async_trait;
use lanyard_core::clock::to_millis;
use lanyard_core::Clock;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

enum Value {
    Bytes(Vec<u8>),
    Counter(u64),
    Set(BTreeSet<String>),
}

struct Entry {
    value: Value,
    expires_ms: i64,
}

/// Sessions in this process's memory: the embedded default (lost on restart, not shared).
pub struct MemoryStore {
    clock: Arc<dyn Clock>,
    map: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    entries: HashMap<String, Entry>,
    writes: u64,
}

impl MemoryStore {
    /// An empty store reading time from `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            map: Mutex::new(Inner::default()),
        }
    }

    fn now(&self) -> i64 {
        to_millis(self.clock.now())
    }

    fn lock(&self) -> Result<MutexGuard<'_, Inner>, SessionError> {
        self.map
            .lock()
            .map_err(|_| SessionError::Unavailable("session map poisoned".into()))
    }

    fn expiry(&self, ttl: Duration) -> i64 {
        self.now()
            .saturating_add(i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX))
    }

    /// Number of live entries (for memory measurements).
    pub fn len(&self) -> usize {
        let now = self.now();
        self.lock()
            .map(|m| m.entries.values().filter(|e| e.expires_ms > now).count())
            .unwrap_or(0)
    }

    /// Whether there are no live entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Inner {
    /// The live entry at `key`, dropping it if expired.
    fn live(&mut self, key: &str, now: i64) -> Option<&mut Entry> {
        if self.entries.get(key).is_some_and(|e| e.expires_ms <= now) {
            self.entries.remove(key);
        }
        self.entries.get_mut(key)
    }

    fn swap(&mut self, key: &str, expected: &[u8], new: &[u8], now: i64, expires_ms: i64) -> Swap {
        match self.live(key, now) {
            Some(e) => match &e.value {
                Value::Bytes(b) if b.as_slice() == expected => {
                    *e = Entry {
                        value: Value::Bytes(new.to_vec()),
                        expires_ms,
                    };
                    Swap::Swapped
                }
                Value::Bytes(b) => Swap::Mismatch(b.clone()),
                _ => Swap::Mismatch(Vec::new()),
            },
            None => Swap::Missing,
        }
    }

    fn add_member(&mut self, key: &str, member: &str, now: i64, expires_ms: i64) {
        match self.live(key, now) {
            Some(Entry {
                value: Value::Set(s),
                expires_ms: exp,
            }) => {
                s.insert(member.to_string());
                *exp = (*exp).max(expires_ms);
            }
            _ => {
                let set = BTreeSet::from([member.to_string()]);
                self.entries.insert(
                    key.to_string(),
                    Entry {
                        value: Value::Set(set),
                        expires_ms,
                    },
                );
            }
        }
        self.wrote(now);
    }

    fn put(&mut self, key: &str, value: &[u8], now: i64, expires_ms: i64) {
        self.entries.insert(
            key.to_string(),
            Entry {
                value: Value::Bytes(value.to_vec()),
                expires_ms,
            },
        );
        self.wrote(now);
    }

    /// Every 4096 writes, sweeps out expired entries so memory stays bounded.
    fn wrote(&mut self, now: i64) {
        self.writes += 1;
        if self.writes.is_multiple_of(4096) {
            self.entries.retain(|_, e| e.expires_ms > now);
        }
    }
}

#[async_trait]
impl SessionStore for MemoryStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), SessionError> {
        let (now, expires_ms) = (self.now(), self.expiry(ttl));
        self.lock()?.put(key, value, now, expires_ms);
        Ok(())
    }

    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, SessionError> {
        let (now, expires_ms) = (self.now(), self.expiry(ttl));
        let mut m = self.lock()?;
        if m.live(key, now).is_some() {
            return Ok(false);
        }
        m.entries.insert(
            key.to_string(),
            Entry {
                value: Value::Bytes(value.to_vec()),
                expires_ms,
            },
        );
        m.wrote(now);
        Ok(true)
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, SessionError> {
        let now = self.now();
        let mut m = self.lock()?;
        Ok(match m.live(key, now) {
            Some(Entry {
                value: Value::Bytes(b),
                ..
            }) => Some(b.clone()),
            _ => None,
        })
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, SessionError> {
        let now = self.now();
        let mut m = self.lock()?;
        if m.live(key, now).is_none() {
            return Ok(None);
        }
        Ok(match m.entries.remove(key) {
            Some(Entry {
                value: Value::Bytes(b),
                ..
            }) => Some(b),
            _ => None,
        })
    }

    async fn delete(&self, key: &str) -> Result<(), SessionError> {
        self.lock()?.entries.remove(key);
        Ok(())
    }

    async fn swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Duration,
    ) -> Result<Swap, SessionError> {
        let (now, expires_ms) = (self.now(), self.expiry(ttl));
        Ok(self.lock()?.swap(key, expected, new, now, expires_ms))
    }

    /// Swaps and remembers under one lock, so a concurrent presenter of the same token either
    /// wins the swap or finds it in the history (reuse detection has no gap between the two).
    async fn swap_remembering(
        &self,
        key: &str,
        expected: &str,
        new: &str,
        history: &str,
        last: Option<(&str, &str, Duration)>,
        ttl: Duration,
    ) -> Result<Swap, SessionError> {
        let (now, expires_ms) = (self.now(), self.expiry(ttl));
        let last = last.map(|(k, v, t)| (k, v, self.expiry(t)));
        let mut m = self.lock()?;
        let swapped = m.swap(key, expected.as_bytes(), new.as_bytes(), now, expires_ms);
        if swapped == Swap::Swapped {
            m.add_member(history, expected, now, expires_ms);
            if let Some((last, value, last_expires_ms)) = last {
                m.put(last, value.as_bytes(), now, last_expires_ms);
            }
        }
        Ok(swapped)
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, SessionError> {
        let (now, expires_ms) = (self.now(), self.expiry(ttl));
        let mut m = self.lock()?;
        let n = match m.live(key, now) {
            Some(Entry {
                value: Value::Counter(n),
                ..
            }) => {
                *n += 1;
                *n
            }
            _ => {
                m.entries.insert(
                    key.to_string(),
                    Entry {
                        value: Value::Counter(1),
                        expires_ms,
                    },
                );
                1
            }
        };
        m.wrote(now);
        Ok(n)
    }

    async fn decr(&self, key: &str) -> Result<(), SessionError> {
        let now = self.now();
        let mut m = self.lock()?;
        if let Some(Entry {
            value: Value::Counter(n),
            ..
        }) = m.live(key, now)
        {
            *n = n.saturating_sub(1);
        }
        Ok(())
    }

    async fn add_member(&self, key: &str, member: &str, ttl: Duration) -> Result<(), SessionError> {
        let (now, expires_ms) = (self.now(), self.expiry(ttl));
        self.lock()?.add_member(key, member, now, expires_ms);
        Ok(())
    }

    async fn is_member(&self, key: &str, member: &str) -> Result<bool, SessionError> {
        let now = self.now();
        let mut m = self.lock()?;
        Ok(
            matches!(m.live(key, now), Some(Entry { value: Value::Set(s), .. }) if s.contains(member)),
        )
    }

    async fn members(&self, key: &str) -> Result<Vec<String>, SessionError> {
        let now = self.now();
        let mut m = self.lock()?;
        Ok(match m.live(key, now) {
            Some(Entry {
                value: Value::Set(s),
                ..
            }) => s.iter().cloned().collect(),
            _ => Vec::new(),
        })
    }

    async fn remove_member(&self, key: &str, member: &str) -> Result<(), SessionError> {
        let now = self.now();
        let mut m = self.lock()?;
        if let Some(Entry {
            value: Value::Set(s),
            ..
        }) = m.live(key, now)
        {
            s.remove(member);
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), SessionError> {
        self.lock().map(|_| ())
    }
}
