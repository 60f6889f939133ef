//! Sign-in throttling, in two parts that answer two different attacks.
//!
//! - **Per person**: failed attempts (passwords, second factors, passkeys) count against the
//!   person, however he was named (email or username) and from wherever; past the limit his
//!   sign-in is locked for a while, the right password included, so guessing gains nothing.
//!   A login that names nobody is counted the same way under its text, so locking reveals
//!   nothing about who exists.
//! - **Per address**: failures from one address (an IPv6 /64 counts as one) are counted too,
//!   but an address is never locked: a school or office behind one NAT, or everyone behind a
//!   proxy, must not be locked out by one script. Past the limit each attempt from that address
//!   is *delayed* before its password is checked (doubling with every further limit's worth of
//!   failures, up to a ceiling), which slows a guessing script and still lets in everyone who
//!   knows his password.
//!
//! The address is the TCP peer's. `X-Forwarded-For` and the like are never read here.

use lanyard_core::UserId;
use lanyard_session::{SessionError, SessionStore};
use std::net::IpAddr;
use std::time::Duration;

/// Limits (from `[login]` in the configuration).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Failures per person within the window before his sign-in locks.
    pub per_account: u64,
    /// Failures per address within the window before its attempts are slowed down.
    pub per_ip: u64,
    /// Window.
    pub window: Duration,
    /// Lock duration.
    pub lockout: Duration,
    /// The longest delay an address's attempt is held for.
    pub max_ip_delay: Duration,
}

/// Whom an attempt is against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// A known person (however he was named).
    Person(UserId),
    /// A login that names nobody in the tenant.
    Unknown {
        /// The tenant asked.
        tenant: String,
        /// The login as typed.
        login: String,
    },
}

impl Subject {
    fn key(&self) -> String {
        match self {
            Subject::Person(u) => format!("p:{u}"),
            Subject::Unknown { tenant, login } => {
                format!("u:{tenant}:{}", login.trim().to_lowercase())
            }
        }
    }
}

/// The address an attempt comes from, as throttling groups them: an IPv4 address, or the /64
/// network of an IPv6 address (one host usually has a whole /64).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    /// The group of `ip`.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self(v4.to_string()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self(v4.to_string()),
                None => {
                    let s = v6.segments();
                    Self(format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3]))
                }
            },
        }
    }

    /// For a caller whose address is not known (tests without a socket).
    pub fn unknown() -> Self {
        Self("unknown".into())
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How long an attempt from `address` must wait before it is checked (zero for an address
/// under its limit).
pub async fn address_delay(
    store: &dyn SessionStore,
    address: &Address,
) -> Result<Duration, SessionError> {
    let ms = store
        .get(&format!("slow:ip:{address}"))
        .await?
        .and_then(|v| std::str::from_utf8(&v).ok()?.parse::<u64>().ok())
        .unwrap_or(0);
    Ok(Duration::from_millis(ms))
}

/// Starts an attempt against `subject`: refused (`None`) while it is locked. Otherwise the
/// attempt is counted *before* the password or code is checked, so many simultaneous guesses
/// cannot all pass this check; returns the attempt's number for [`failed`].
pub async fn begin(
    store: &dyn SessionStore,
    limits: &Limits,
    subject: &Subject,
) -> Result<Option<u64>, SessionError> {
    let key = subject.key();
    if store.get(&format!("lock:{key}")).await?.is_some() {
        return Ok(None);
    }
    let n = store.incr(&format!("thr:{key}"), limits.window).await?;
    Ok((n <= limits.per_account).then_some(n))
}

/// Records that attempt number `attempt` failed: locks the subject when its limit is reached,
/// and counts the failure against the address (slowing it once past its limit). Returns
/// whether the subject is now locked.
pub async fn failed(
    store: &dyn SessionStore,
    limits: &Limits,
    subject: &Subject,
    address: &Address,
    attempt: u64,
) -> Result<bool, SessionError> {
    let key = subject.key();
    let mut locked = false;
    if attempt >= limits.per_account {
        store
            .put(&format!("lock:{key}"), b"1", limits.lockout)
            .await?;
        store.delete(&format!("thr:{key}")).await?;
        locked = true;
    }
    let n = store
        .incr(&format!("thr:ip:{address}"), limits.window)
        .await?;
    if let Some(delay) = delay_after(limits, n) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        store
            .put(
                &format!("slow:ip:{address}"),
                ms.to_string().as_bytes(),
                limits.window,
            )
            .await?;
    }
    Ok(locked)
}

/// The delay for an address after its `failures`-th failure within the window: none under the
/// limit, then one second, doubling with every further limit's worth, up to the ceiling.
pub fn delay_after(limits: &Limits, failures: u64) -> Option<Duration> {
    if limits.per_ip == 0 || failures < limits.per_ip {
        return None;
    }
    let doublings = ((failures - limits.per_ip) / limits.per_ip).min(20);
    let delay = Duration::from_secs(1u64 << doublings);
    Some(delay.min(limits.max_ip_delay))
}

/// Takes back an attempt that reached no verdict (the store could not answer): an outage must
/// not count against anyone. Best effort: if the store is down, so was the check.
pub async fn abandoned(store: &dyn SessionStore, subject: &Subject) {
    if let Err(e) = store.decr(&format!("thr:{}", subject.key())).await {
        tracing::warn!(error = %e, "could not take back an unfinished sign-in attempt");
    }
}

/// Clears the subject's failure count after a successful sign-in.
pub async fn succeeded(store: &dyn SessionStore, subject: &Subject) -> Result<(), SessionError> {
    store.delete(&format!("thr:{}", subject.key())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            per_account: 5,
            per_ip: 50,
            window: Duration::from_secs(900),
            lockout: Duration::from_secs(900),
            max_ip_delay: Duration::from_secs(10),
        }
    }

    #[test]
    fn delays_start_at_the_limit_and_double_up_to_the_ceiling() {
        let l = limits();
        let table = [
            (0, None),
            (49, None),
            (50, Some(1)),
            (99, Some(1)),
            (100, Some(2)),
            (150, Some(4)),
            (200, Some(8)),
            (250, Some(10)),
            (u64::MAX, Some(10)),
        ];
        for (failures, secs) in table {
            assert_eq!(
                delay_after(&l, failures),
                secs.map(Duration::from_secs),
                "{failures}"
            );
        }
        let off = Limits { per_ip: 0, ..l };
        assert_eq!(delay_after(&off, 1000), None);
    }

    #[test]
    fn ipv6_hosts_are_grouped_by_their_64_and_mapped_v4_is_v4() {
        let a = Address::of("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = Address::of("2001:db8:1:2:bbbb::9".parse().unwrap());
        let c = Address::of("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            Address::of("::ffff:10.0.0.1".parse().unwrap()),
            Address::of("10.0.0.1".parse().unwrap())
        );
    }

    #[test]
    fn a_person_is_one_subject_however_named_and_unknown_logins_fold_case() {
        let u = Subject::Unknown {
            tenant: "t".into(),
            login: " Bob@Example.test ".into(),
        };
        let v = Subject::Unknown {
            tenant: "t".into(),
            login: "bob@example.test".into(),
        };
        assert_eq!(u.key(), v.key());
    }
}
