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

/// Starts an attempt: refused (`None`) if the account or address is locked. Otherwise the
/// attempt is counted against the account *before* the password or code is checked, so many
/// simultaneous guesses cannot all pass this check; returns the attempt's number for
/// [`failed`]. A success clears the count ([`succeeded`]).
pub async fn begin(
    store: &dyn SessionStore,
    limits: &Limits,
    tenant: &str,
    login: &str,
    ip: &str,
) -> Result<Option<u64>, SessionError> {
    let [(account, account_lock), (_, ip_lock)] = keys(tenant, login, ip);
    for lock in [&account_lock, &ip_lock] {
        if store.get(lock).await?.is_some() {
            return Ok(None);
        }
    }
    let n = store.incr(&account, limits.window).await?;
    Ok((n <= limits.per_account).then_some(n))
}

/// Records that attempt number `attempt` failed: counts it against the address, and locks the
/// account or the address when its limit is reached. Returns whether it is now locked.
pub async fn failed(
    store: &dyn SessionStore,
    limits: &Limits,
    tenant: &str,
    login: &str,
    ip: &str,
    attempt: u64,
) -> Result<bool, SessionError> {
    let [(account, account_lock), (address, ip_lock)] = keys(tenant, login, ip);
    let mut locked = false;
    if attempt >= limits.per_account {
        store.put(&account_lock, b"1", limits.lockout).await?;
        store.delete(&account).await?;
        locked = true;
    }
    if store.incr(&address, limits.window).await? >= limits.per_ip {
        store.put(&ip_lock, b"1", limits.lockout).await?;
        store.delete(&address).await?;
        locked = true;
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
