//! From an upstream's claims to a Lanyard person: profile fields, roles by rule, and what the
//! upstream says about MFA. Pure: the same function answers a real sign-in and
//! `lanyard federation test-mapping`.

use crate::id_token::IdClaims;
use serde::{Deserialize, Serialize};

/// One role rule: a person whose claim `claim` holds `value` gets role `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleRule {
    /// The claim to look in (`groups`, `roles`, or any other).
    pub claim: String,
    /// The value to find there (compared exactly; Entra group ids are GUIDs).
    pub value: String,
    /// The Lanyard role (by name) it gives.
    pub role: String,
}

/// What a connection maps.
#[derive(Debug, Clone, Default)]
pub struct Rules<'a> {
    /// Roles every person from this connection gets.
    pub default_roles: &'a [String],
    /// Roles by claim value.
    pub role_map: &'a [RoleRule],
    /// Whether an upstream `amr` with `mfa` counts as Lanyard MFA.
    pub trust_upstream_mfa: bool,
}

/// The person a set of claims describes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mapped {
    /// The upstream's stable id for him (`oid` on Entra, else `sub`).
    pub subject: String,
    pub email: Option<String>,
    /// Whether the upstream vouches for the email (only then may it link an existing person).
    pub email_verified: bool,
    pub username: Option<String>,
    pub given_name: String,
    pub family_name: String,
    /// Role names, defaults first, without repeats.
    pub roles: Vec<String>,
    /// The upstream did MFA and the connection trusts it to say so.
    pub upstream_mfa: bool,
    /// Claims a rule looks in that the upstream left out for having too many values (Entra
    /// groups overage): the administrator must change the app registration.
    pub overage: Vec<String>,
}

/// Maps `c` under `rules`.
pub fn map(c: &IdClaims, rules: &Rules<'_>) -> Mapped {
    let mut roles: Vec<String> = Vec::new();
    let mut add = |r: &str| {
        if !roles.iter().any(|x| x == r) {
            roles.push(r.to_string());
        }
    };
    rules.default_roles.iter().for_each(|r| add(r));
    for rule in rules.role_map {
        if c.values(&rule.claim).iter().any(|v| v == &rule.value) {
            add(&rule.role);
        }
    }
    let mut overage: Vec<String> = rules
        .role_map
        .iter()
        .map(|r| r.claim.clone())
        .filter(|claim| c.is_overage(claim))
        .collect();
    overage.dedup();
    let (given, family) = names(c);
    Mapped {
        subject: c.subject().to_string(),
        email: c.email.clone().map(|e| e.trim().to_lowercase()),
        email_verified: c.email_verified,
        username: c.preferred_username.clone(),
        given_name: given,
        family_name: family,
        roles,
        upstream_mfa: rules.trust_upstream_mfa && c.amr.iter().any(|a| a == "mfa"),
        overage,
    }
}

/// Given and family names: the claims, else split from `name`, else from the email.
fn names(c: &IdClaims) -> (String, String) {
    if let (Some(g), Some(f)) = (&c.given_name, &c.family_name) {
        return (g.clone(), f.clone());
    }
    let whole = c
        .name
        .clone()
        .or_else(|| {
            c.email
                .as_ref()
                .and_then(|e| e.split('@').next())
                .map(str::to_string)
        })
        .unwrap_or_else(|| c.subject().to_string());
    match whole.trim().rsplit_once(' ') {
        Some((g, f)) => (
            c.given_name.clone().unwrap_or_else(|| g.trim().to_string()),
            c.family_name
                .clone()
                .unwrap_or_else(|| f.trim().to_string()),
        ),
        None => (
            c.given_name
                .clone()
                .unwrap_or_else(|| whole.trim().to_string()),
            c.family_name.clone().unwrap_or_default(),
        ),
    }
}
