//! Tenants: training providers' organisations and their client organisations.

use crate::ids::TenantId;
use crate::policy::PasswordPolicy;
use crate::preset::RolePreset;
use serde::{Deserialize, Serialize};

/// An organisation. A client organisation names its provider in `client_of` and shares the
/// provider's role set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    /// Its id.
    pub id: TenantId,
    /// Short unique name used in URLs and realm files (`demo`).
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The provider this is a client organisation of, if any.
    pub client_of: Option<TenantId>,
    /// The role preset it started from.
    pub preset: RolePreset,
    /// Its password policy.
    pub password_policy: PasswordPolicy,
    /// Branding for its sign-in pages.
    pub branding: Branding,
    /// Multi-factor authentication policy.
    #[serde(default)]
    pub mfa: MfaPolicy,
}

/// TOTP hash algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum TotpAlgorithm {
    /// HMAC-SHA-1: what authenticator apps expect.
    #[default]
    SHA1,
    /// HMAC-SHA-256.
    SHA256,
    /// HMAC-SHA-512.
    SHA512,
}

/// A tenant's multi-factor policy and TOTP parameters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MfaPolicy {
    /// Everyone must use a second factor.
    pub required: bool,
    /// Holders of these roles (by name) must use a second factor.
    pub required_roles: Vec<String>,
    /// TOTP code length (5 to 8; 6 is what authenticator apps expect).
    pub totp_digits: u8,
    /// TOTP time step in seconds.
    pub totp_period: u64,
    /// TOTP algorithm.
    pub totp_algorithm: TotpAlgorithm,
}

impl Default for MfaPolicy {
    fn default() -> Self {
        Self {
            required: false,
            required_roles: Vec::new(),
            totp_digits: 6,
            totp_period: 30,
            totp_algorithm: TotpAlgorithm::SHA1,
        }
    }
}

impl MfaPolicy {
    /// Whether someone holding `roles` (names) must use a second factor.
    pub fn requires(&self, roles: &[String]) -> bool {
        self.required
            || roles.iter().any(|r| {
                self.required_roles
                    .iter()
                    .any(|x| x.eq_ignore_ascii_case(r))
            })
    }

    /// Checks the parameters.
    pub fn validate(&self) -> Result<(), String> {
        if !(5..=8).contains(&self.totp_digits) {
            return Err("totp_digits must be 5 to 8".into());
        }
        if !(15..=120).contains(&self.totp_period) {
            return Err("totp_period must be 15 to 120 seconds".into());
        }
        Ok(())
    }
}

/// How a tenant's pages look.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Branding {
    /// Primary colour, `#rrggbb`.
    pub primary_colour: Option<String>,
    /// Accent colour, `#rrggbb`.
    pub accent_colour: Option<String>,
}

/// What is wrong with a tenant definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    /// Bad slug.
    #[error(
        "tenant slug {0:?} must be 1 to 63 characters of a-z, 0-9 and '-', starting with a letter"
    )]
    BadSlug(String),
    /// Bad name.
    #[error("tenant name must be 1 to 200 characters")]
    BadName,
    /// Bad colour.
    #[error("colour {0:?} must be written #rrggbb")]
    BadColour(String),
    /// A client of itself.
    #[error("a tenant cannot be a client of itself")]
    SelfClient,
    /// A bad MFA policy.
    #[error("mfa: {0}")]
    Mfa(String),
}

/// Whether `slug` is a valid tenant slug.
pub fn valid_slug(slug: &str) -> bool {
    let mut chars = slug.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_lowercase())
        && slug.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}

fn valid_colour(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].chars().all(|x| x.is_ascii_hexdigit())
}

impl Tenant {
    /// Checks the definition.
    pub fn validate(&self) -> Result<(), TenantError> {
        if !valid_slug(&self.slug) {
            return Err(TenantError::BadSlug(self.slug.clone()));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > 200 {
            return Err(TenantError::BadName);
        }
        for c in [&self.branding.primary_colour, &self.branding.accent_colour]
            .into_iter()
            .flatten()
        {
            if !valid_colour(c) {
                return Err(TenantError::BadColour(c.clone()));
            }
        }
        if self.client_of == Some(self.id) {
            return Err(TenantError::SelfClient);
        }
        if let Err(m) = self.mfa.validate() {
            return Err(TenantError::Mfa(m));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for ok in ["demo", "acme-2", "a"] {
            assert!(valid_slug(ok), "{ok}");
        }
        for bad in ["", "Demo", "2acme", "a b", "ä", &"a".repeat(64)] {
            assert!(!valid_slug(bad), "{bad}");
        }
    }

    #[test]
    fn colours() {
        assert!(valid_colour("#1a2B3c"));
        assert!(!valid_colour("1a2b3c"));
        assert!(!valid_colour("#12345"));
        assert!(!valid_colour("#12345g"));
    }
}
