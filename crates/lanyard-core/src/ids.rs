//! Typed identifiers: newtypes over UUIDv7 so that a `UserId` can never be passed where a
//! `RoleId` is expected, and ids sort by creation time.

use crate::clock::Clock;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! typed_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// Wrap an existing UUID (read from storage or a token).
            pub const fn from_uuid(u: Uuid) -> Self {
                Self(u)
            }
            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

typed_id!(/// A tenant (an organisation, or a client organisation of one).
    TenantId);
typed_id!(/// A node of a tenant's location tree.
    LocationId);
typed_id!(/// An account (employer) within a tenant.
    AccountId);
typed_id!(/// A person.
    UserId);
typed_id!(/// A role of a tenant's role set.
    RoleId);
typed_id!(/// One employment record (a user at an account, with dates).
    EmploymentId);
typed_id!(/// One audit record.
    AuditId);

/// Makes UUIDv7 ids from a [`Clock`]'s time and a random tail.
pub struct IdGen<'a> {
    clock: &'a dyn Clock,
}

impl<'a> IdGen<'a> {
    /// Ids stamped with `clock`'s time.
    pub fn new(clock: &'a dyn Clock) -> Self {
        Self { clock }
    }

    fn uuid(&self) -> Uuid {
        let now = self.clock.now();
        let secs = u64::try_from(now.unix_timestamp()).unwrap_or(0);
        // One counter for the whole process keeps ids made within the same millisecond in
        // creation order (the audit log is read back in id order).
        static CONTEXT: std::sync::Mutex<uuid::ContextV7> =
            std::sync::Mutex::new(uuid::ContextV7::new());
        let ts = uuid::Timestamp::from_unix(&CONTEXT, secs, now.nanosecond());
        // The 74 bits after the timestamp come from the operating system's randomness.
        Uuid::new_v7(ts)
    }

    /// A fresh id of any typed-id kind.
    pub fn next<T: From<Uuid>>(&self) -> T {
        T::from(self.uuid())
    }
}

macro_rules! from_uuid {
    ($($name:ident),*) => {$(
        impl From<Uuid> for $name {
            fn from(u: Uuid) -> Self { Self(u) }
        }
    )*};
}
from_uuid!(
    TenantId,
    LocationId,
    AccountId,
    UserId,
    RoleId,
    EmploymentId,
    AuditId
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use time::macros::datetime;

    #[test]
    fn ids_are_v7_and_ordered_by_time() {
        let clock = FixedClock::new(datetime!(2026-01-01 00:00 UTC));
        let g = IdGen::new(&clock);
        let a: UserId = g.next();
        clock.advance(time::Duration::milliseconds(2));
        let b: UserId = g.next();
        assert_eq!(a.as_uuid().get_version_num(), 7);
        assert_eq!(a.as_uuid().get_variant(), uuid::Variant::RFC4122);
        assert!(a < b);
        assert_ne!(a, b);
    }

    #[test]
    fn ids_within_one_millisecond_keep_creation_order() {
        let clock = FixedClock::new(datetime!(2026-01-01 00:00 UTC));
        let g = IdGen::new(&clock);
        let ids: Vec<AuditId> = (0..500).map(|_| g.next()).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn ids_parse_and_print() {
        let clock = FixedClock::new(datetime!(2026-01-01 00:00 UTC));
        let a: RoleId = IdGen::new(&clock).next();
        let back: RoleId = a.to_string().parse().unwrap();
        assert_eq!(a, back);
        assert!("not-a-uuid".parse::<RoleId>().is_err());
        assert_eq!(serde_json::to_string(&a).unwrap(), format!("\"{a}\""));
    }
}
