//! An OpenID Connect connection as the realm file declares it (`[[tenant.connection]]` with
//! `kind = "oidc"`), checked as a whole.

use crate::id_token::TENANT_PLACEHOLDER;
use crate::mapping::{RoleRule, Rules};
use serde::{Deserialize, Serialize};

/// An upstream OpenID Connect provider people of a tenant sign in through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OidcConnection {
    /// Unique in the tenant; part of its URLs (`/federation/{name}/callback`).
    pub name: String,
    /// The button on the sign-in page.
    pub display_name: String,
    /// The upstream's issuer; Entra multi-tenant apps use `…/{tenantid}/v2.0`.
    pub issuer: String,
    /// Where discovery is read (default: the issuer, with `{tenantid}` read as
    /// `organizations`, plus `/.well-known/openid-configuration`).
    pub discovery_url: Option<String>,
    /// Entra directory tenants (`tid`) accepted.
    pub allowed_tenant_ids: Vec<String>,
    pub client_id: String,
    /// Kept sealed in the database; never shown again.
    pub client_secret: Option<String>,
    /// Scopes asked for.
    pub scopes: Vec<String>,
    /// Email domains whose people are sent here (home-realm discovery).
    pub domains: Vec<String>,
    /// The account new people are employed by.
    pub account: Option<String>,
    /// The location new people are placed in (`A > B > C`).
    pub location: Option<String>,
    pub default_roles: Vec<String>,
    pub role_map: Vec<RoleRule>,
    /// Link a first federated sign-in to an existing local person with the same email, when
    /// the upstream vouches for that email.
    pub link_existing_by_email: bool,
    /// Accept the upstream's MFA (`amr` with `mfa`) as Lanyard's.
    pub trust_upstream_mfa: bool,
    /// Make a person just in time on his first sign-in; when off, only people already linked
    /// (or linked by email) get in.
    #[serde(default = "yes")]
    pub create_people: bool,
    /// How long a call to the upstream (discovery, keys, code exchange) may take, seconds.
    #[serde(default = "default_timeout")]
    pub timeout_secs: u64,
}

fn yes() -> bool {
    true
}

/// Seconds a call to an upstream may take unless its connection says otherwise.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECS
}

impl OidcConnection {
    /// The discovery document's URL.
    pub fn discovery_url(&self) -> String {
        match &self.discovery_url {
            Some(u) => u.clone(),
            None => format!(
                "{}/.well-known/openid-configuration",
                self.issuer
                    .replace(TENANT_PLACEHOLDER, "organizations")
                    .trim_end_matches('/')
            ),
        }
    }

    /// The mapping rules.
    pub fn rules(&self) -> Rules<'_> {
        Rules {
            default_roles: &self.default_roles,
            role_map: &self.role_map,
            trust_upstream_mfa: self.trust_upstream_mfa,
        }
    }

    /// Everything wrong with it, by key.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 64
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            out.push((
                "name",
                "use 1-64 lowercase letters, digits and hyphens (it is part of a URL)".into(),
            ));
        }
        for (key, url) in [
            ("issuer", Some(&self.issuer)),
            ("discovery_url", self.discovery_url.as_ref()),
        ] {
            if let Some(u) = url {
                if let Err(m) = secure_url(u) {
                    out.push((key, m));
                }
            }
        }
        if self.issuer.contains(TENANT_PLACEHOLDER) && self.allowed_tenant_ids.is_empty() {
            out.push(("allowed_tenant_ids", "a multi-tenant issuer needs the directory tenants it accepts; without them anyone with any Microsoft work account could sign in".into()));
        }
        if self.client_id.trim().is_empty() {
            out.push(("client_id", "is required".into()));
        }
        if !self.scopes.iter().any(|s| s == "openid") {
            out.push(("scopes", "must include openid".into()));
        }
        if !(1..=60).contains(&self.timeout_secs) {
            out.push(("timeout_secs", "must be between 1 and 60".into()));
        }
        for d in &self.domains {
            if d.is_empty() || d.contains('@') || d.contains('/') || d != &d.to_lowercase() {
                out.push(("domains", format!("{d:?} is not a lowercase email domain")));
            }
        }
        out
    }
}

/// An upstream URL: https, or http only on loopback (tests and local stand-ins).
pub fn secure_url(u: &str) -> Result<(), String> {
    let url = url::Url::parse(u).map_err(|e| format!("{u:?} is not a URL: {e}"))?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
    match url.scheme() {
        "https" => Ok(()),
        "http" if loopback => Ok(()),
        _ => Err(format!("{u:?} must be https (http only on loopback)")),
    }
}
