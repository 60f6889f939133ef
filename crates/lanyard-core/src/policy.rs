//! Password policy per tenant.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Well-known passwords and base words, rejected whatever the length.
const COMMON: &str = include_str!("common-passwords.txt");

/// A tenant's password rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PasswordPolicy {
    /// Fewest characters.
    pub min_length: usize,
    /// Most characters (a bound on hashing work, well above what anyone types).
    pub max_length: usize,
    /// How many of the four classes (lower, upper, digit, symbol) must appear.
    pub min_classes: usize,
    /// Refuse passwords that are, or are built on, a well-known password.
    pub reject_common: bool,
    /// Refuse passwords that contain the username or the email address (or its local part).
    pub reject_identity: bool,
}

impl Default for PasswordPolicy {
    /// At least 12 characters and no well-known passwords (NIST SP 800-63B style).
    fn default() -> Self {
        Self {
            min_length: 12,
            max_length: 256,
            min_classes: 0,
            reject_common: true,
            reject_identity: true,
        }
    }
}

impl PasswordPolicy {
    /// The stricter option for seeded and administrator accounts: 16 characters, all four classes.
    pub fn strong() -> Self {
        Self {
            min_length: 16,
            min_classes: 4,
            ..Self::default()
        }
    }

    /// Checks the policy itself makes sense.
    pub fn validate(&self) -> Result<(), String> {
        if self.min_length < 8 {
            return Err("min_length must be at least 8".into());
        }
        if self.max_length < self.min_length || self.max_length > 1024 {
            return Err("max_length must be between min_length and 1024".into());
        }
        if self.min_classes > 4 {
            return Err("min_classes must be 0 to 4".into());
        }
        Ok(())
    }

    /// Every way `password` breaks the policy for a person with this username and email.
    pub fn check(
        &self,
        password: &str,
        username: Option<&str>,
        email: Option<&str>,
    ) -> Vec<PolicyViolation> {
        let mut out = Vec::new();
        let len = password.chars().count();
        if len < self.min_length {
            out.push(PolicyViolation::TooShort(self.min_length));
        }
        if len > self.max_length {
            out.push(PolicyViolation::TooLong(self.max_length));
        }
        let classes = [
            password.chars().any(|c| c.is_lowercase()),
            password.chars().any(|c| c.is_uppercase()),
            password.chars().any(|c| c.is_numeric()),
            password.chars().any(|c| !c.is_alphanumeric()),
        ];
        if classes.iter().filter(|&&b| b).count() < self.min_classes {
            out.push(PolicyViolation::TooFewClasses(self.min_classes));
        }
        if self.reject_common && is_common(password) {
            out.push(PolicyViolation::Common);
        }
        if self.reject_identity && contains_identity(password, username, email) {
            out.push(PolicyViolation::ContainsIdentity);
        }
        out
    }
}

/// Whether the password is a well-known one, or one with digits and symbols stuck around a
/// well-known base word ("Password1234!").
fn is_common(password: &str) -> bool {
    let lower = password.to_lowercase();
    let core = lower.trim_matches(|c: char| !c.is_alphabetic());
    COMMON
        .lines()
        .map(str::trim)
        .filter(|w| !w.is_empty())
        .any(|w| w == lower || w == core)
}

fn contains_identity(password: &str, username: Option<&str>, email: Option<&str>) -> bool {
    let lower = password.to_lowercase();
    let local = email.and_then(|e| e.split_once('@')).map(|(l, _)| l);
    [username, email, local]
        .into_iter()
        .flatten()
        .map(str::to_lowercase)
        .filter(|s| s.chars().count() >= 3)
        .any(|s| lower.contains(&s))
}

/// One way a password breaks the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyViolation {
    /// Shorter than the minimum.
    TooShort(usize),
    /// Longer than the maximum.
    TooLong(usize),
    /// Too few character classes.
    TooFewClasses(usize),
    /// A well-known password.
    Common,
    /// Contains the username or email.
    ContainsIdentity,
}

impl fmt::Display for PolicyViolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicyViolation::TooShort(n) => write!(f, "must be at least {n} characters long"),
            PolicyViolation::TooLong(n) => write!(f, "must be at most {n} characters long"),
            PolicyViolation::TooFewClasses(n) => write!(
                f,
                "must mix at least {n} of: lower-case letters, upper-case letters, digits, symbols"
            ),
            PolicyViolation::Common => f.write_str("is a well-known password"),
            PolicyViolation::ContainsIdentity => {
                f.write_str("must not contain your username or email address")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use PolicyViolation::*;

    #[test]
    fn policy_table() {
        let default = PasswordPolicy::default();
        let strong = PasswordPolicy::strong();
        let u = Some("learner");
        let e = Some("learner@demo.test");
        // (policy, password, expected violations)
        let table: &[(&PasswordPolicy, &str, &[PolicyViolation])] = &[
            (&default, "Lanyard-demo-pass-2026", &[]),
            (&default, "short-pass", &[TooShort(12)]),
            (&default, "correct horse battery", &[]),
            (&default, "password1234", &[Common]),
            (&default, "Password1234!", &[Common]),
            (&default, "qwertyuiop123", &[Common]),
            (&default, "iamthelearner-ok", &[ContainsIdentity]),
            (&default, "LEARNER@DEMO.TEST!!", &[ContainsIdentity]),
            (&default, "abc123", &[TooShort(12), Common]),
            (&strong, "lanyard-demo-pass-2026", &[TooFewClasses(4)]),
            (&strong, "Lanyard-Demo-Pass-2026", &[]),
            (&strong, "Short-1a", &[TooShort(16)]),
            (&strong, "alllowercaselong!!", &[TooFewClasses(4)]),
        ];
        for (policy, pw, want) in table {
            assert_eq!(policy.check(pw, u, e), *want, "password {pw:?}");
        }
        let long = "x".repeat(300) + "Ab1!";
        assert_eq!(default.check(&long, None, None), [TooLong(256)]);
    }

    #[test]
    fn policy_self_check() {
        assert!(PasswordPolicy::default().validate().is_ok());
        assert!(PasswordPolicy::strong().validate().is_ok());
        assert!(PasswordPolicy {
            min_length: 4,
            ..Default::default()
        }
        .validate()
        .is_err());
        assert!(PasswordPolicy {
            min_classes: 5,
            ..Default::default()
        }
        .validate()
        .is_err());
    }

    #[test]
    fn messages_read_well() {
        assert_eq!(
            TooShort(12).to_string(),
            "must be at least 12 characters long"
        );
    }
}
