//! Sign-in throttling: failures counted per account and per client address within a window;
//! past the limit, sign-in is locked for a while — with the right password too, so guessing
//! gains nothing. Unknown accounts are counted the same way, so locking reveals nothing.

use lanyard_session::{SessionError, SessionStore};
use std::time::Duration;

/// Limits (from `[login]` in the configuration).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Failures per account within the window before it locks.
    pub per_account: u64,
    /// Failures per address within the window before it locks.
    pub per_ip: u64,
    /// Window.
    pub window: Duration,
    /// Lock duration.
    pub lockout: Duration,
}

fn keys(tenant: &str, login: &str, ip: &str) -> [(String, String); 2] {
    let login = login.trim().to_lowercase();
    [
        (
            format!("thr:acct:{tenant}:{login}"),
            format!("lock:acct:{tenant}:{login}"),
        ),
        (format!("thr:ip:{ip}"), format!("lock:ip:{ip}")),
    ]
}

/// Whether sign-in for this account or from this address is locked.
pub async fn locked(
    store: &dyn SessionStore,
    tenant: &str,
    login: &str,
    ip: &str,
) -> Result<bool, SessionError> {
    for (_, lock) in keys(tenant, login, ip) {
        if store.get(&lock).await?.is_some() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Counts a failure; locks when a limit is reached. Returns whether it is now locked.
pub async fn failed(
    store: &dyn SessionStore,
    limits: &Limits,
    tenant: &str,
    login: &str,
    ip: &str,
) -> Result<bool, SessionError> {
    let mut locked = false;
    for ((count, lock), limit) in keys(tenant, login, ip)
        .into_iter()
        .zip([limits.per_account, limits.per_ip])
    {
        if store.incr(&count, limits.window).await? >= limit {
            store.put(&lock, b"1", limits.lockout).await?;
            store.delete(&count).await?;
            locked = true;
        }
    }
    Ok(locked)
}

/// Clears the account's failure count after a successful sign-in.
pub async fn succeeded(
    store: &dyn SessionStore,
    tenant: &str,
    login: &str,
    ip: &str,
) -> Result<(), SessionError> {
    let [(count, _), _] = keys(tenant, login, ip);
    store.delete(&count).await
}
