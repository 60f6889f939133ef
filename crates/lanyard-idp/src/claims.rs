//! What tokens say about a person: standard profile and email claims (OIDC Core §5.1) and
//! Lanyard's role claims (roles, main role, tenant, accounts, location), renamed per client.

use lanyard_core::{ClientSpec, TenantId, UserId};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::BTreeSet;

/// A person's location for tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocationClaim {
    /// Location id.
    pub id: String,
    /// "Company > Region > Location".
    pub path: String,
}

/// A person as tokens describe him, assembled by the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    /// Id (the `sub`).
    pub user_id: UserId,
    /// Tenant id.
    pub tenant_id: TenantId,
    /// Tenant slug.
    pub tenant: String,
    /// Whether he may sign in now (active, with a sign-in role).
    pub may_sign_in: bool,
    /// Given name.
    pub given_name: String,
    /// Family name.
    pub family_name: String,
    /// Email.
    pub email: Option<String>,
    /// Username.
    pub username: Option<String>,
    /// Last change (Unix seconds).
    pub updated_at: i64,
    /// Role names.
    pub roles: Vec<String>,
    /// Main role name.
    pub main_role: Option<String>,
    /// Current employers' names.
    pub accounts: Vec<String>,
    /// Main employer.
    pub main_account: Option<String>,
    /// Location.
    pub location: Option<LocationClaim>,
}

fn rename(client: &ClientSpec, role: &str) -> String {
    client
        .role_map
        .get(role)
        .cloned()
        .unwrap_or_else(|| role.to_string())
}

/// The claims the granted `scope` releases for `client`.
pub fn scoped(p: &Person, client: &ClientSpec, scope: &BTreeSet<String>) -> Map<String, Value> {
    let mut m = Map::new();
    if scope.contains("profile") {
        m.insert(
            "name".into(),
            json!(format!("{} {}", p.given_name, p.family_name).trim()),
        );
        m.insert("given_name".into(), json!(p.given_name));
        m.insert("family_name".into(), json!(p.family_name));
        if let Some(u) = p.username.as_ref().or(p.email.as_ref()) {
            m.insert("preferred_username".into(), json!(u));
        }
        m.insert("updated_at".into(), json!(p.updated_at));
    }
    if scope.contains("email") {
        if let Some(e) = &p.email {
            m.insert("email".into(), json!(e));
        }
    }
    if scope.contains("roles") {
        let roles: Vec<String> = p.roles.iter().map(|r| rename(client, r)).collect();
        m.insert("roles".into(), json!(roles));
        m.insert(
            "main_role".into(),
            json!(p.main_role.as_deref().map(|r| rename(client, r))),
        );
        m.insert("tenant".into(), json!(p.tenant));
        m.insert("accounts".into(), json!(p.accounts));
        m.insert("main_account".into(), json!(p.main_account));
        m.insert("location".into(), json!(p.location));
    }
    m
}

/// Splits a space-separated scope string.
pub fn parse_scope(s: &str) -> BTreeSet<String> {
    s.split(' ')
        .filter(|x| !x.is_empty())
        .map(str::to_string)
        .collect()
}

/// Joins a scope set.
pub fn scope_string(s: &BTreeSet<String>) -> String {
    s.iter().map(String::as_str).collect::<Vec<_>>().join(" ")
}
