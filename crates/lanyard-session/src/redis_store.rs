//! The Redis store: one multiplexed connection (reconnecting by itself), short timeouts so an
//! unreachable Redis fails requests fast, every key under a prefix and with an expiry.

use crate::{SessionError, SessionStore, Swap};
use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use std::time::Duration;

/// Sessions in Redis, shared by every Lanyard process that points at it.
#[derive(Clone)]
pub struct RedisStore {
    conn: ConnectionManager,
    prefix: String,
    swap: Script,
    incr: Script,
    decr: Script,
    add: Script,
}

fn unavailable(e: redis::RedisError) -> SessionError {
    SessionError::Unavailable(e.to_string())
}

fn ms(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl RedisStore {
    /// Connects to `url` (`redis://host:port/db`); keys are written under `prefix`.
    pub async fn connect(url: &str, prefix: &str) -> Result<Self, SessionError> {
        let client = redis::Client::open(url).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let conn = ConnectionManager::new_with_config(client, config)
            .await
            .map_err(unavailable)?;
        Ok(Self {
            conn,
            prefix: prefix.to_string(),
            // Compare-and-swap: replace only if the current value is the expected one; with a
            // second key, also record the old value in that set (keeping its longest expiry),
            // so a token rotation is one round trip.
            swap: Script::new(
                r"local v = redis.call('GET', KEYS[1])
                  if not v then return {0, false} end
                  if v ~= ARGV[1] then return {2, v} end
                  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
                  if KEYS[2] then
                    redis.call('SADD', KEYS[2], ARGV[1])
                    local t = redis.call('PTTL', KEYS[2])
                    if t < tonumber(ARGV[3]) then redis.call('PEXPIRE', KEYS[2], ARGV[3]) end
                  end
                  if KEYS[3] then redis.call('SET', KEYS[3], ARGV[5], 'PX', ARGV[4]) end
                  return {1, false}",
            ),
            // Counter whose window starts with its first increment.
            incr: Script::new(
                r"local n = redis.call('INCR', KEYS[1])
                  if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
                  return n",
            ),
            // Take one from an existing counter, never below zero, never creating it.
            decr: Script::new(
                r"local v = tonumber(redis.call('GET', KEYS[1]) or '0')
                  if v and v > 0 then return redis.call('DECR', KEYS[1]) end
                  return 0",
            ),
            // Set member, keeping the longest expiry asked for.
            add: Script::new(
                r"redis.call('SADD', KEYS[1], ARGV[1])
                  local t = redis.call('PTTL', KEYS[1])
                  if t < tonumber(ARGV[2]) then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
                  return 1",
            ),
        })
    }

    fn key(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }

    /// The swap script on `keys` (the value, then optionally the set that records old values
    /// and the key that keeps `last`'s value for its expiry).
    async fn run_swap(
        &self,
        keys: &[&str],
        expected: &[u8],
        new: &[u8],
        ttl: Duration,
        last: (&[u8], Duration),
    ) -> Result<Swap, SessionError> {
        let mut c = self.conn.clone();
        let mut call = self.swap.prepare_invoke();
        for k in keys {
            call.key(self.key(k));
        }
        let (code, current): (i64, Option<Vec<u8>>) = call
            .arg(expected)
            .arg(new)
            .arg(ms(ttl))
            .arg(ms(last.1))
            .arg(last.0)
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(match code {
            1 => Swap::Swapped,
            2 => Swap::Mismatch(current.unwrap_or_default()),
            _ => Swap::Missing,
        })
    }

    /// Redis's persistence settings, `appendonly` and `save`, or `None` where `CONFIG` is
    /// not allowed (managed services often rename it).
    pub async fn persistence(&self) -> Option<(String, String)> {
        let appendonly = self.config_get("appendonly").await?;
        let save = self.config_get("save").await?;
        Some((appendonly, save))
    }

    async fn config_get(&self, name: &str) -> Option<String> {
        let v: Vec<String> = redis::cmd("CONFIG")
            .arg("GET")
            .arg(name)
            .query_async(&mut self.conn.clone())
            .await
            .ok()?;
        v.get(1).cloned()
    }

    /// Bytes of memory Redis reports in use (for the benchmark's per-session figure).
    pub async fn used_memory(&self) -> Result<u64, SessionError> {
        let info: String = redis::cmd("INFO")
            .arg("memory")
            .query_async(&mut self.conn.clone())
            .await
            .map_err(unavailable)?;
        Ok(info
            .lines()
            .find_map(|l| l.strip_prefix("used_memory:"))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0))
    }
}

#[async_trait]
impl SessionStore for RedisStore {
    async fn put(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), SessionError> {
        let mut c = self.conn.clone();
        c.pset_ex::<_, _, ()>(self.key(key), value, ms(ttl))
            .await
            .map_err(unavailable)
    }

    async fn put_new(&self, key: &str, value: &[u8], ttl: Duration) -> Result<bool, SessionError> {
        let mut c = self.conn.clone();
        let r: Option<String> = redis::cmd("SET")
            .arg(self.key(key))
            .arg(value)
            .arg("NX")
            .arg("PX")
            .arg(ms(ttl))
            .query_async(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(r.is_some())
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, SessionError> {
        let mut c = self.conn.clone();
        c.get(self.key(key)).await.map_err(unavailable)
    }

    async fn take(&self, key: &str) -> Result<Option<Vec<u8>>, SessionError> {
        let mut c = self.conn.clone();
        c.get_del(self.key(key)).await.map_err(unavailable)
    }

    async fn delete(&self, key: &str) -> Result<(), SessionError> {
        let mut c = self.conn.clone();
        c.del::<_, ()>(self.key(key)).await.map_err(unavailable)
    }

    async fn swap(
        &self,
        key: &str,
        expected: &[u8],
        new: &[u8],
        ttl: Duration,
    ) -> Result<Swap, SessionError> {
        self.run_swap(&[key], expected, new, ttl, (b"", ttl)).await
    }

    async fn swap_remembering(
        &self,
        key: &str,
        expected: &str,
        new: &str,
        history: &str,
        last: Option<(&str, &str, Duration)>,
        ttl: Duration,
    ) -> Result<Swap, SessionError> {
        let (keys, last) = match last {
            Some((k, v, t)) => (vec![key, history, k], (v.as_bytes(), t)),
            None => (vec![key, history], (&b""[..], ttl)),
        };
        self.run_swap(&keys, expected.as_bytes(), new.as_bytes(), ttl, last)
            .await
    }

    async fn incr(&self, key: &str, ttl: Duration) -> Result<u64, SessionError> {
        let mut c = self.conn.clone();
        self.incr
            .key(self.key(key))
            .arg(ms(ttl))
            .invoke_async(&mut c)
            .await
            .map_err(unavailable)
    }

    async fn decr(&self, key: &str) -> Result<(), SessionError> {
        let mut c = self.conn.clone();
        self.decr
            .key(self.key(key))
            .invoke_async::<i64>(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn add_member(&self, key: &str, member: &str, ttl: Duration) -> Result<(), SessionError> {
        let mut c = self.conn.clone();
        self.add
            .key(self.key(key))
            .arg(member)
            .arg(ms(ttl))
            .invoke_async::<i64>(&mut c)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn is_member(&self, key: &str, member: &str) -> Result<bool, SessionError> {
        let mut c = self.conn.clone();
        c.sismember(self.key(key), member)
            .await
            .map_err(unavailable)
    }

    async fn members(&self, key: &str) -> Result<Vec<String>, SessionError> {
        let mut c = self.conn.clone();
        c.smembers(self.key(key)).await.map_err(unavailable)
    }

    async fn remove_member(&self, key: &str, member: &str) -> Result<(), SessionError> {
        let mut c = self.conn.clone();
        c.srem::<_, _, ()>(self.key(key), member)
            .await
            .map_err(unavailable)
    }

    async fn ping(&self) -> Result<(), SessionError> {
        let mut c = self.conn.clone();
        redis::cmd("PING")
            .query_async::<String>(&mut c)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}
