//! Accounts (employers) and employment records.

use crate::ids::{AccountId, EmploymentId, TenantId, UserId};
use serde::{Deserialize, Serialize};
use time::Date;

/// What kind of employer an account is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// The training provider itself.
    Provider,
    /// A customer whose staff take training.
    Customer,
    /// The tenant's guest account, for people with no employer on record.
    Guest,
}

impl AccountKind {
    /// The name used in realm files and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountKind::Provider => "provider",
            AccountKind::Customer => "customer",
            AccountKind::Guest => "guest",
        }
    }

    /// Parse the name used in realm files and storage.
    pub fn parse(s: &str) -> Option<Self> {
        [
            AccountKind::Provider,
            AccountKind::Customer,
            AccountKind::Guest,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// An employer within a tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Its id.
    pub id: AccountId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// Its name, unique within the tenant.
    pub name: String,
    /// Its kind.
    pub kind: AccountKind,
}

/// The name of the guest account every tenant has.
pub const GUEST_ACCOUNT_NAME: &str = "Guest";

/// One spell of a person's employment at an account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Employment {
    /// Its id.
    pub id: EmploymentId,
    /// The person.
    pub user_id: UserId,
    /// The employer.
    pub account_id: AccountId,
    /// First day.
    pub starts_on: Date,
    /// Last day, if it has ended or will end.
    pub ends_on: Option<Date>,
    /// Whether this is the person's main account.
    pub main: bool,
}

impl Employment {
    /// Whether the employment covers `day`.
    pub fn is_current(&self, day: Date) -> bool {
        self.starts_on <= day && self.ends_on.is_none_or(|e| day <= e)
    }
}

/// What is wrong with a person's employment records.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmploymentError {
    /// Ends before it starts.
    #[error("an employment ends before it starts")]
    EndsBeforeStart,
    /// More than one main account.
    #[error("only one employment can be the main one")]
    SeveralMain,
    /// Employments but none marked main.
    #[error("one employment must be the main one")]
    NoMain,
    /// Two overlapping spells at one account.
    #[error("two employments at the same account overlap")]
    Overlap,
}

/// Checks a person's whole set of employment records.
pub fn validate_employments(list: &[Employment]) -> Result<(), EmploymentError> {
    if list
        .iter()
        .any(|e| e.ends_on.is_some_and(|end| end < e.starts_on))
    {
        return Err(EmploymentError::EndsBeforeStart);
    }
    match list.iter().filter(|e| e.main).count() {
        0 if !list.is_empty() => return Err(EmploymentError::NoMain),
        0 | 1 => {}
        _ => return Err(EmploymentError::SeveralMain),
    }
    for (i, a) in list.iter().enumerate() {
        for b in &list[i + 1..] {
            let overlap = a.account_id == b.account_id
                && a.ends_on.is_none_or(|ae| b.starts_on <= ae)
                && b.ends_on.is_none_or(|be| a.starts_on <= be);
            if overlap {
                return Err(EmploymentError::Overlap);
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::FixedClock;
    use crate::ids::IdGen;
    use time::macros::{date, datetime};

    #[test]
    fn employment_rules() {
        let clock = FixedClock::new(datetime!(2026-01-01 00:00 UTC));
        let g = IdGen::new(&clock);
        let (u, a, b) = (g.next(), g.next(), g.next());
        let e = |acc: AccountId, s: Date, end: Option<Date>, main: bool| Employment {
            id: g.next(),
            user_id: u,
            account_id: acc,
            starts_on: s,
            ends_on: end,
            main,
        };
        let cur = e(a, date!(2024 - 01 - 01), None, true);
        assert!(cur.is_current(date!(2026 - 11 - 24)));
        assert!(!cur.is_current(date!(2023 - 12 - 31)));
        let ended = e(b, date!(2020 - 01 - 01), Some(date!(2021 - 01 - 01)), false);
        assert!(ended.is_current(date!(2021 - 01 - 01)));
        assert!(!ended.is_current(date!(2021 - 01 - 02)));
        assert_eq!(validate_employments(&[cur.clone(), ended.clone()]), Ok(()));
        assert_eq!(validate_employments(&[]), Ok(()));
        assert_eq!(
            validate_employments(&[e(
                a,
                date!(2024 - 01 - 02),
                Some(date!(2024 - 01 - 01)),
                true
            )]),
            Err(EmploymentError::EndsBeforeStart)
        );
        assert_eq!(
            validate_employments(&[cur.clone(), e(b, date!(2024 - 01 - 01), None, true)]),
            Err(EmploymentError::SeveralMain)
        );
        assert_eq!(
            validate_employments(std::slice::from_ref(&ended)),
            Err(EmploymentError::NoMain)
        );
        assert_eq!(
            validate_employments(&[cur, e(a, date!(2025 - 01 - 01), None, false)]),
            Err(EmploymentError::Overlap)
        );
    }
}
