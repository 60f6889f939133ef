//! Ranked roles: what a role lets its holder do, over whom, and how roles compare.

use crate::ids::{RoleId, TenantId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// How far a role's reach extends, from narrowest to widest. The order of the variants is the
/// order of breadth, so `max()` over a person's roles gives his widest scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// Only the holder's own record.
    #[serde(rename = "self")]
    SelfOnly,
    /// People at the holder's own location.
    Location,
    /// People at the holder's location or anywhere beneath it.
    LocationSubtree,
    /// Everyone in the holder's organisation (tenant).
    Organisation,
    /// Everyone in the organisation and in its client organisations.
    OrganisationAndClients,
}

impl ScopeKind {
    /// Every scope kind, narrowest first.
    pub const ALL: [ScopeKind; 5] = [
        ScopeKind::SelfOnly,
        ScopeKind::Location,
        ScopeKind::LocationSubtree,
        ScopeKind::Organisation,
        ScopeKind::OrganisationAndClients,
    ];

    /// The name used in realm files and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::SelfOnly => "self",
            ScopeKind::Location => "location",
            ScopeKind::LocationSubtree => "location_subtree",
            ScopeKind::Organisation => "organisation",
            ScopeKind::OrganisationAndClients => "organisation_and_clients",
        }
    }

    /// Parse the name used in realm files and storage.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// One thing a role allows. Stored one row per privilege, never as a joined string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Privilege {
    /// Take courses.
    Learn,
    /// Deliver courses.
    Teach,
    /// Book people onto courses.
    Book,
    /// See the people in scope.
    ViewUsers,
    /// Create, edit, suspend and archive the people in scope.
    ManageUsers,
    /// Give and take roles (never above the granter's own rank).
    AssignRoles,
    /// Run reports over the people in scope.
    ViewReports,
    /// Change tenant settings, clients and federation.
    ManageSettings,
}

impl Privilege {
    /// Every privilege.
    pub const ALL: [Privilege; 8] = [
        Privilege::Learn,
        Privilege::Teach,
        Privilege::Book,
        Privilege::ViewUsers,
        Privilege::ManageUsers,
        Privilege::AssignRoles,
        Privilege::ViewReports,
        Privilege::ManageSettings,
    ];

    /// The name used in realm files and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            Privilege::Learn => "learn",
            Privilege::Teach => "teach",
            Privilege::Book => "book",
            Privilege::ViewUsers => "view_users",
            Privilege::ManageUsers => "manage_users",
            Privilege::AssignRoles => "assign_roles",
            Privilege::ViewReports => "view_reports",
            Privilege::ManageSettings => "manage_settings",
        }
    }

    /// Parse the name used in realm files and storage.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

impl fmt::Display for Privilege {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The privileges a "reports only" role may carry: it keeps its scope but grants reporting only.
pub const REPORTING_PRIVILEGES: [Privilege; 2] = [Privilege::ViewUsers, Privilege::ViewReports];

/// A role of a tenant's ranked role set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    /// Its id.
    pub id: RoleId,
    /// The tenant whose role set it belongs to.
    pub tenant_id: TenantId,
    /// Its name, unique within the tenant (e.g. "Local Administrator").
    pub name: String,
    /// Its rank: higher ranks may manage lower ones, never the reverse.
    pub rank: i32,
    /// How far its reach extends.
    pub scope: ScopeKind,
    /// What it allows.
    pub privileges: BTreeSet<Privilege>,
    /// A reporting-only variant: keeps the scope, grants reporting only.
    pub reports_only: bool,
    /// Whether holders may sign in (a role like "No access" lists a person who never does).
    pub can_sign_in: bool,
    /// Whether holders may see sensitive fields (date of birth, NI number) of people in scope.
    pub sees_sensitive: bool,
}

impl Role {
    /// Whether this role carries `p`. A reports-only role carries only reporting privileges,
    /// whatever its stored set says.
    pub fn allows(&self, p: Privilege) -> bool {
        if self.reports_only && !REPORTING_PRIVILEGES.contains(&p) {
            return false;
        }
        self.privileges.contains(&p)
    }

    /// Checks that the role is well-formed.
    pub fn validate(&self) -> Result<(), RoleError> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 100 || name != self.name {
            return Err(RoleError::BadName(self.name.clone()));
        }
        if self.reports_only {
            if let Some(p) = self
                .privileges
                .iter()
                .find(|p| !REPORTING_PRIVILEGES.contains(p))
            {
                return Err(RoleError::ReportsOnlyWithPrivilege(self.name.clone(), *p));
            }
            if self.sees_sensitive {
                return Err(RoleError::ReportsOnlySensitive(self.name.clone()));
            }
        }
        Ok(())
    }
}

/// What is wrong with a role definition.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoleError {
    /// Empty, too long, or with surrounding spaces.
    #[error("role name {0:?} must be 1 to 100 characters without surrounding spaces")]
    BadName(String),
    /// A reports-only role may grant reporting only.
    #[error("role {0:?} is reports-only and cannot carry the privilege {1}")]
    ReportsOnlyWithPrivilege(String, Privilege),
    /// A reports-only role may not reveal sensitive fields.
    #[error("role {0:?} is reports-only and cannot see sensitive fields")]
    ReportsOnlySensitive(String),
    /// Two roles of one tenant share a name (case-insensitively).
    #[error("role name {0:?} is used twice")]
    DuplicateName(String),
}

/// A tenant's whole role set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleSet {
    roles: Vec<Role>,
}

impl RoleSet {
    /// A checked role set: every role valid, names unique (case-insensitively).
    pub fn new(roles: Vec<Role>) -> Result<Self, RoleError> {
        let mut seen = BTreeSet::new();
        for r in &roles {
            r.validate()?;
            if !seen.insert(r.name.to_lowercase()) {
                return Err(RoleError::DuplicateName(r.name.clone()));
            }
        }
        Ok(Self { roles })
    }

    /// The roles, in the order given.
    pub fn roles(&self) -> &[Role] {
        &self.roles
    }

    /// A role by name (case-insensitive).
    pub fn by_name(&self, name: &str) -> Option<&Role> {
        self.roles
            .iter()
            .find(|r| r.name.eq_ignore_ascii_case(name))
    }

    /// A role by id.
    pub fn by_id(&self, id: RoleId) -> Option<&Role> {
        self.roles.iter().find(|r| r.id == id)
    }
}
