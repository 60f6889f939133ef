//! The role sets that training platforms actually use, selectable per tenant.

use crate::role::{Privilege, ScopeKind};
use serde::{Deserialize, Serialize};

/// A role as a preset describes it, before it belongs to a tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleSpec {
    /// Role name.
    pub name: &'static str,
    /// Rank (higher manages lower).
    pub rank: i32,
    /// Reach.
    pub scope: ScopeKind,
    /// Privileges.
    pub privileges: &'static [Privilege],
    /// Reporting-only variant.
    pub reports_only: bool,
    /// May sign in.
    pub can_sign_in: bool,
    /// May see sensitive fields.
    pub sees_sensitive: bool,
}

/// A named role set a tenant may start from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolePreset {
    /// Student < Local Administrator < Multiple Location Administrator < Licensee Administrator
    /// < Master Administrator, plus the four reports-only variants.
    Lms,
    /// Individual, Trainer, Booker, Manager, Training Administrator, Super Administrator.
    Functional,
    /// No access, Viewer, Contributor, Editor, Admin.
    Operations,
    /// No preset roles: the realm file defines them all.
    Custom,
}

use Privilege::*;
use ScopeKind::*;

const ADMIN: &[Privilege] = &[ViewUsers, ManageUsers, AssignRoles, ViewReports, Book];
const ADMIN_SETTINGS: &[Privilege] = &[
    ViewUsers,
    ManageUsers,
    AssignRoles,
    ViewReports,
    Book,
    ManageSettings,
];
const REPORTS: &[Privilege] = &[ViewUsers, ViewReports];

const fn spec(
    name: &'static str,
    rank: i32,
    scope: ScopeKind,
    privileges: &'static [Privilege],
) -> RoleSpec {
    RoleSpec {
        name,
        rank,
        scope,
        privileges,
        reports_only: false,
        can_sign_in: true,
        sees_sensitive: false,
    }
}

const fn sensitive(mut s: RoleSpec) -> RoleSpec {
    s.sees_sensitive = true;
    s
}

const fn reports(name: &'static str, rank: i32, scope: ScopeKind) -> RoleSpec {
    let mut s = spec(name, rank, scope, REPORTS);
    s.reports_only = true;
    s
}

const LMS: &[RoleSpec] = &[
    spec("Student", 10, SelfOnly, &[Learn]),
    sensitive(spec("Local Administrator", 20, Location, ADMIN)),
    reports("Local Administrator (Reports Only)", 20, Location),
    sensitive(spec(
        "Multiple Location Administrator",
        30,
        LocationSubtree,
        ADMIN,
    )),
    reports(
        "Multiple Location Administrator (Reports Only)",
        30,
        LocationSubtree,
    ),
    sensitive(spec(
        "Licensee Administrator",
        40,
        Organisation,
        ADMIN_SETTINGS,
    )),
    reports("Licensee Administrator (Reports Only)", 40, Organisation),
    sensitive(spec(
        "Master Administrator",
        50,
        OrganisationAndClients,
        ADMIN_SETTINGS,
    )),
    reports(
        "Master Administrator (Reports Only)",
        50,
        OrganisationAndClients,
    ),
];

const FUNCTIONAL: &[RoleSpec] = &[
    spec("Individual", 10, SelfOnly, &[Learn]),
    spec("Trainer", 20, SelfOnly, &[Learn, Teach]),
    spec("Booker", 30, Location, &[Learn, Book, ViewUsers]),
    spec(
        "Manager",
        40,
        LocationSubtree,
        &[Learn, Book, ViewUsers, ViewReports],
    ),
    sensitive(spec(
        "Training Administrator",
        50,
        Organisation,
        &[
            Learn,
            Teach,
            Book,
            ViewUsers,
            ManageUsers,
            AssignRoles,
            ViewReports,
        ],
    )),
    sensitive(spec(
        "Super Administrator",
        60,
        OrganisationAndClients,
        &[
            Learn,
            Teach,
            Book,
            ViewUsers,
            ManageUsers,
            AssignRoles,
            ViewReports,
            ManageSettings,
        ],
    )),
];

const OPERATIONS: &[RoleSpec] = &[
    RoleSpec {
        can_sign_in: false,
        ..spec("No access", 0, SelfOnly, &[])
    },
    spec("Viewer", 10, Organisation, &[ViewUsers, ViewReports]),
    spec(
        "Contributor",
        20,
        Organisation,
        &[ViewUsers, ViewReports, Book],
    ),
    spec(
        "Editor",
        30,
        Organisation,
        &[ViewUsers, ManageUsers, ViewReports, Book],
    ),
    sensitive(spec("Admin", 40, Organisation, ADMIN_SETTINGS)),
];

impl RolePreset {
    /// Every preset.
    pub const ALL: [RolePreset; 4] = [
        RolePreset::Lms,
        RolePreset::Functional,
        RolePreset::Operations,
        RolePreset::Custom,
    ];

    /// The roles of this preset, lowest rank first.
    pub fn roles(self) -> &'static [RoleSpec] {
        match self {
            RolePreset::Lms => LMS,
            RolePreset::Functional => FUNCTIONAL,
            RolePreset::Operations => OPERATIONS,
            RolePreset::Custom => &[],
        }
    }

    /// The name used in realm files and storage.
    pub fn as_str(self) -> &'static str {
        match self {
            RolePreset::Lms => "lms",
            RolePreset::Functional => "functional",
            RolePreset::Operations => "operations",
            RolePreset::Custom => "custom",
        }
    }

    /// Parse the name used in realm files and storage.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lms_ladder_is_ranked_as_documented() {
        let names: Vec<_> = RolePreset::Lms
            .roles()
            .iter()
            .filter(|r| !r.reports_only)
            .map(|r| r.name)
            .collect();
        assert_eq!(
            names,
            [
                "Student",
                "Local Administrator",
                "Multiple Location Administrator",
                "Licensee Administrator",
                "Master Administrator"
            ]
        );
        let ranks: Vec<_> = RolePreset::Lms.roles().iter().map(|r| r.rank).collect();
        assert!(ranks.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(
            RolePreset::Lms
                .roles()
                .iter()
                .filter(|r| r.reports_only)
                .count(),
            4
        );
    }

    #[test]
    fn reports_only_variants_keep_scope_and_grant_reporting_only() {
        let lms = RolePreset::Lms.roles();
        for r in lms.iter().filter(|r| r.reports_only) {
            let base_name = r.name.trim_end_matches(" (Reports Only)");
            let base = lms.iter().find(|b| b.name == base_name).unwrap();
            assert_eq!(base.scope, r.scope, "{}", r.name);
            assert_eq!(base.rank, r.rank, "{}", r.name);
            assert!(r
                .privileges
                .iter()
                .all(|p| crate::role::REPORTING_PRIVILEGES.contains(p)));
            assert!(!r.sees_sensitive);
        }
    }

    #[test]
    fn presets_parse_by_name() {
        for p in RolePreset::ALL {
            assert_eq!(RolePreset::parse(p.as_str()), Some(p));
        }
        assert_eq!(RolePreset::parse("nope"), None);
        assert_eq!(RolePreset::Functional.roles().len(), 6);
        assert_eq!(RolePreset::Operations.roles().len(), 5);
        assert!(!RolePreset::Operations.roles()[0].can_sign_in);
    }
}
