//! People: their profile, sensitive fields, and how they are checked and shown.

use crate::ids::{LocationId, RoleId, TenantId, UserId};
use crate::status::Status;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use time::{Date, OffsetDateTime};

/// Whether a person belongs to the organisation or comes from outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UserKind {
    /// Staff of the organisation.
    Internal,
    /// Someone from outside (a customer's delegate, a contractor).
    External,
}

impl UserKind {
    /// The name used in realm files and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            UserKind::Internal => "internal",
            UserKind::External => "external",
        }
    }

    /// Parse the name used in realm files and storage.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "internal" => Some(UserKind::Internal),
            "external" => Some(UserKind::External),
            _ => None,
        }
    }
}

/// Fields shown only to the person himself and to roles allowed to see them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SensitiveFields {
    /// Date of birth.
    pub date_of_birth: Option<Date>,
    /// UK National Insurance number, upper case without spaces.
    pub national_insurance_number: Option<String>,
}

impl SensitiveFields {
    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.date_of_birth.is_none() && self.national_insurance_number.is_none()
    }
}

/// What a person is, apart from identity and bookkeeping: the part that is created and edited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserProfile {
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Username, unique per tenant (case-insensitive).
    pub username: Option<String>,
    /// Email address, unique per tenant (case-insensitive).
    pub email: Option<String>,
    /// Phone number.
    pub phone: Option<String>,
    /// Internal or external (`None` is read as internal).
    pub kind: Option<UserKind>,
    /// Groups, by name.
    pub groups: BTreeSet<String>,
    /// Custom attributes.
    pub attributes: BTreeMap<String, String>,
    /// Sensitive fields.
    pub sensitive: SensitiveFields,
}

/// A person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Id.
    pub id: UserId,
    /// Tenant.
    pub tenant_id: TenantId,
    /// Profile.
    pub profile: UserProfile,
    /// Status.
    pub status: Status,
    /// Location, if placed.
    pub location_id: Option<LocationId>,
    /// Roles held.
    pub roles: BTreeSet<RoleId>,
    /// The main role, one of `roles`.
    pub main_role: Option<RoleId>,
    /// When created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When last changed.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// Whether the personal data has been anonymised.
    pub anonymised: bool,
    /// Bumped by every write: the admin API's `ETag`, so two administrators editing one
    /// person cannot overwrite each other unseen.
    #[serde(default)]
    pub version: i64,
}

/// A problem with one field of a person, named by the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    /// The field (`email`, `given_name`, …).
    pub field: &'static str,
    /// What is wrong.
    pub message: String,
}

fn err(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// Lower-cases an email address or username for uniqueness checks.
pub fn normalise_login(s: &str) -> String {
    s.trim().to_lowercase()
}

/// Whether `s` looks like an email address (one `@`, a local part, a dotted domain).
pub fn valid_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && s.len() <= 254
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && domain
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '.')
}

/// A National Insurance number as stored: upper case, without spaces (`qq 12 34 56 c` →
/// `QQ123456C`).
pub fn normalise_nino(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .flat_map(char::to_uppercase)
        .collect()
}

/// Whether `s` is a valid UK National Insurance number (e.g. `QQ123456C`).
pub fn valid_nino(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 9 || !s.is_ascii() {
        return false;
    }
    let prefix_ok = |c: u8| c.is_ascii_uppercase() && !b"DFIQUV".contains(&c);
    let prefix = &s[..2];
    prefix_ok(b[0])
        && prefix_ok(b[1])
        && b[1] != b'O'
        && !["BG", "GB", "NK", "KN", "TN", "NT", "ZZ"].contains(&prefix)
        && b[2..8].iter().all(u8::is_ascii_digit)
        && (b'A'..=b'D').contains(&b[8])
}

impl UserProfile {
    /// Checks every field; returns all problems, not just the first.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut out = Vec::new();
        for (field, v) in [
            ("given_name", &self.given_name),
            ("family_name", &self.family_name),
        ] {
            if v.trim().is_empty() {
                out.push(err(field, "is required"));
            } else if v.chars().count() > 100 || v.chars().any(char::is_control) {
                out.push(err(field, "must be at most 100 printable characters"));
            }
        }
        if self.username.is_none() && self.email.is_none() {
            out.push(err("email", "a username or an email address is required"));
        }
        if let Some(u) = &self.username {
            let ok = (1..=64).contains(&u.chars().count())
                && u.chars()
                    .all(|c| c.is_alphanumeric() || "._-@+".contains(c));
            if !ok {
                out.push(err(
                    "username",
                    "must be 1 to 64 letters, digits or . _ - @ +",
                ));
            }
        }
        if let Some(e) = &self.email {
            if !valid_email(e) {
                out.push(err("email", format!("{e:?} is not a valid email address")));
            }
        }
        if let Some(p) = &self.phone {
            let digits = p.chars().filter(char::is_ascii_digit).count();
            if !(5..=20).contains(&digits)
                || !p.chars().all(|c| c.is_ascii_digit() || "+ -()".contains(c))
            {
                out.push(err("phone", "must be a phone number of 5 to 20 digits"));
            }
        }
        if let Some(n) = &self.sensitive.national_insurance_number {
            if !valid_nino(n) {
                out.push(err("national_insurance_number", "must look like QQ123456C"));
            }
        }
        for g in &self.groups {
            if g.trim().is_empty() || g.chars().count() > 100 {
                out.push(err("groups", "group names must be 1 to 100 characters"));
            }
        }
        for (k, v) in &self.attributes {
            let key_ok = !k.is_empty()
                && k.len() <= 64
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !key_ok || v.chars().count() > 1000 {
                out.push(err(
                    "attributes",
                    format!("attribute {k:?} is not a valid key/value"),
                ));
            }
        }
        out
    }

    /// The initials for an avatar: first letter of given and family name, upper-cased.
    pub fn initials(&self) -> String {
        [&self.given_name, &self.family_name]
            .iter()
            .filter_map(|n| n.trim().chars().next())
            .flat_map(char::to_uppercase)
            .collect()
    }

    /// "Given Family".
    pub fn display_name(&self) -> String {
        format!("{} {}", self.given_name.trim(), self.family_name.trim())
            .trim()
            .to_string()
    }

    /// The same profile with sensitive fields removed, for viewers not allowed to see them.
    pub fn redacted(&self) -> UserProfile {
        UserProfile {
            sensitive: SensitiveFields::default(),
            ..self.clone()
        }
    }

    /// The profile with all personal data replaced, keeping nothing that identifies the
    /// person. `tag` (a short form of the user id) keeps anonymised records distinguishable.
    pub fn anonymised(tag: &str) -> UserProfile {
        UserProfile {
            given_name: "Anonymised".into(),
            family_name: "User".into(),
            username: Some(format!("anonymised-{tag}")),
            email: None,
            phone: None,
            kind: None,
            groups: BTreeSet::new(),
            attributes: BTreeMap::new(),
            sensitive: SensitiveFields::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(given: &str, family: &str, email: Option<&str>) -> UserProfile {
        UserProfile {
            given_name: given.into(),
            family_name: family.into(),
            email: email.map(Into::into),
            ..Default::default()
        }
    }

    #[test]
    fn initials_are_first_letters() {
        assert_eq!(p("learner", "demo", None).initials(), "LD");
        assert_eq!(p("Émile", "Zola", None).initials(), "ÉZ");
        assert_eq!(p("  ada ", " lovelace", None).initials(), "AL");
        assert_eq!(p("Cher", "", None).initials(), "C");
    }

    #[test]
    fn username_or_email_required() {
        let errs = p("A", "B", None).validate();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].field, "email");
        assert!(p("A", "B", Some("a@b.test")).validate().is_empty());
        let mut u = p("A", "B", None);
        u.username = Some("ab".into());
        assert!(u.validate().is_empty());
    }

    #[test]
    fn every_bad_field_is_reported() {
        let mut u = p("", "B", Some("not-an-email"));
        u.phone = Some("call me".into());
        u.sensitive.national_insurance_number = Some("123".into());
        u.username = Some("has space".into());
        let fields: Vec<_> = u.validate().iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "given_name",
                "username",
                "email",
                "phone",
                "national_insurance_number"
            ]
        );
    }

    #[test]
    fn email_shapes() {
        for ok in [
            "a@b.test",
            "first.last+tag@sub.example.co.uk",
            "x@xn--d1acufc.xn--p1ai",
        ] {
            assert!(valid_email(ok), "{ok}");
        }
        for bad in [
            "",
            "a",
            "@b.test",
            "a@",
            "a@b",
            "a@@b.test",
            "a b@c.test",
            "a@.b",
            "a@b..c",
            "a@b.c.",
        ] {
            assert!(!valid_email(bad), "{bad}");
        }
    }

    #[test]
    fn nino_shapes() {
        assert!(valid_nino("AB123456C"));
        for bad in [
            "QQ123456C",
            "AB12345C",
            "AB123456E",
            "GB123456A",
            "ab123456c",
            "AO123456A",
        ] {
            assert!(!valid_nino(bad), "{bad}");
        }
    }

    #[test]
    fn redaction_and_anonymisation_remove_personal_data() {
        let mut u = p("Ada", "Lovelace", Some("ada@demo.test"));
        u.sensitive.date_of_birth = Some(time::macros::date!(1815 - 12 - 10));
        u.phone = Some("+44 113 496 0000".into());
        assert!(u.redacted().sensitive.is_empty());
        assert_eq!(u.redacted().email, u.email);
        // The replacement profile must itself pass validation (it is written back as a user);
        // that no personal data survives is tested on stored data in lanyard-store.
        let a = UserProfile::anonymised("0192abcd");
        assert!(a.validate().is_empty());
        assert_eq!(a.username.as_deref(), Some("anonymised-0192abcd"));
    }
}
