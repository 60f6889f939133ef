//! Table tests of the rules: delegation for every preset role against every other, scope over
//! a location tree, sensitive fields, status transitions and sign-in.

use crate::clock::FixedClock;
use crate::ids::{IdGen, LocationId, TenantId};
use crate::location::{Location, LocationTree};
use crate::preset::RolePreset;
use crate::role::{Role, ScopeKind};
use crate::scope::{self, Holder, Orgs, World};
use crate::status::{may_sign_in, SignInRefusal, Status, StatusError};
use time::macros::datetime;

struct Fixture {
    tenant: TenantId,
    client: TenantId,
    other: TenantId,
    co: LocationId,
    north: LocationId,
    leeds: LocationId,
    south: LocationId,
    london: LocationId,
    tree: LocationTree,
    orgs: Orgs,
    clock: FixedClock,
}

impl Fixture {
    fn new() -> Self {
        let clock = FixedClock::new(datetime!(2026-01-01 00:00 UTC));
        let g = IdGen::new(&clock);
        let (tenant, client, other) = (g.next(), g.next(), g.next());
        let (co, north, leeds, south, london) = (g.next(), g.next(), g.next(), g.next(), g.next());
        let l = |id, parent, name: &str| Location {
            id,
            tenant_id: tenant,
            parent_id: parent,
            name: name.into(),
            kind: "location".into(),
        };
        let tree = LocationTree::new(vec![
            l(co, None, "Demo Training Co"),
            l(north, Some(co), "North"),
            l(leeds, Some(north), "Leeds"),
            l(south, Some(co), "South"),
            l(london, Some(south), "London"),
        ])
        .unwrap();
        let orgs = Orgs::new([(client, tenant)]);
        Self {
            tenant,
            client,
            other,
            co,
            north,
            leeds,
            south,
            london,
            tree,
            orgs,
            clock,
        }
    }

    fn world(&self) -> World<'_> {
        World {
            locations: &self.tree,
            orgs: &self.orgs,
        }
    }

    fn roles(&self, preset: RolePreset) -> Vec<Role> {
        let g = IdGen::new(&self.clock);
        preset
            .roles()
            .iter()
            .map(|s| Role {
                id: g.next(),
                tenant_id: self.tenant,
                name: s.name.into(),
                rank: s.rank,
                scope: s.scope,
                privileges: s.privileges.iter().copied().collect(),
                reports_only: s.reports_only,
                can_sign_in: s.can_sign_in,
                sees_sensitive: s.sees_sensitive,
            })
            .collect()
    }

    fn holder(&self, tenant: TenantId, loc: Option<LocationId>, roles: Vec<Role>) -> Holder {
        Holder {
            user_id: IdGen::new(&self.clock).next(),
            tenant_id: tenant,
            location_id: loc,
            roles,
        }
    }
}

/// Parses a matrix of '1'/'0' rows (whitespace ignored).
fn matrix(rows: &[&str]) -> Vec<Vec<bool>> {
    rows.iter()
        .map(|r| {
            r.chars()
                .filter(|c| !c.is_whitespace())
                .map(|c| c == '1')
                .collect()
        })
        .collect()
}

/// For every (actor role, target role) pair of a preset, with both people at Leeds.
fn check_pairs(
    preset: RolePreset,
    expected: &[&str],
    rule: impl Fn(&Fixture, &Holder, &Role, &Holder) -> bool,
) {
    let f = Fixture::new();
    let roles = f.roles(preset);
    let want = matrix(expected);
    assert_eq!(want.len(), roles.len(), "{preset:?}: one row per role");
    for (i, a) in roles.iter().enumerate() {
        assert_eq!(
            want[i].len(),
            roles.len(),
            "{preset:?}: one column per role"
        );
        let actor = f.holder(f.tenant, Some(f.leeds), vec![a.clone()]);
        for (j, b) in roles.iter().enumerate() {
            let target = f.holder(f.tenant, Some(f.leeds), vec![b.clone()]);
            assert_eq!(
                rule(&f, &actor, b, &target),
                want[i][j],
                "{preset:?}: {} acting on {}",
                a.name,
                b.name
            );
        }
    }
}

// Rows and columns in preset order.
// LMS: Student, LA, LA(R), MLA, MLA(R), LicA, LicA(R), MA, MA(R)
const LMS_MANAGE: &[&str] = &[
    "000 000 000",
    "111 000 000",
    "000 000 000",
    "111 110 000",
    "000 000 000",
    "111 111 100",
    "000 000 000",
    "111 111 111",
    "000 000 000",
];
// Functional: Individual, Trainer, Booker, Manager, Training Admin, Super Admin
const FUNCTIONAL_MANAGE: &[&str] = &["000000", "000000", "000000", "000000", "111110", "111111"];
// Operations: No access, Viewer, Contributor, Editor, Admin
const OPERATIONS_MANAGE: &[&str] = &["00000", "00000", "00000", "11110", "11111"];
const OPERATIONS_GRANT: &[&str] = &["00000", "00000", "00000", "00000", "11111"];
// Seeing a colleague at the same location.
const LMS_SEE: &[&str] = &[
    "000 000 000",
    "111 111 111",
    "111 111 111",
    "111 111 111",
    "111 111 111",
    "111 111 111",
    "111 111 111",
    "111 111 111",
    "111 111 111",
];
const FUNCTIONAL_SEE: &[&str] = &["000000", "000000", "111111", "111111", "111111", "111111"];
const LMS_SENSITIVE: &[&str] = &[
    "000 000 000",
    "111 111 111",
    "000 000 000",
    "111 111 111",
    "000 000 000",
    "111 111 111",
    "000 000 000",
    "111 111 111",
    "000 000 000",
];

#[test]
fn manage_every_preset_role_against_every_other() {
    let manage = |f: &Fixture, a: &Holder, _: &Role, t: &Holder| scope::can_manage(a, t, f.world());
    check_pairs(RolePreset::Lms, LMS_MANAGE, manage);
    check_pairs(RolePreset::Functional, FUNCTIONAL_MANAGE, manage);
    check_pairs(RolePreset::Operations, OPERATIONS_MANAGE, manage);
}

#[test]
fn grant_every_preset_role_against_every_other() {
    // The target is a fresh person with no role at the actor's location; the column is the
    // role being granted.
    let grant = |f: &Fixture, a: &Holder, role: &Role, _: &Holder| {
        let target = f.holder(f.tenant, Some(f.leeds), vec![]);
        scope::can_grant(a, role, &target, f.world())
    };
    // In the LMS and functional sets every manager may also assign, so the tables coincide.
    check_pairs(RolePreset::Lms, LMS_MANAGE, grant);
    check_pairs(RolePreset::Functional, FUNCTIONAL_MANAGE, grant);
    check_pairs(RolePreset::Operations, OPERATIONS_GRANT, grant);
}

#[test]
fn see_every_preset_role_against_every_other() {
    let see = |f: &Fixture, a: &Holder, _: &Role, t: &Holder| scope::can_see(a, t, f.world());
    check_pairs(RolePreset::Lms, LMS_SEE, see);
    check_pairs(RolePreset::Functional, FUNCTIONAL_SEE, see);
    let sensitive =
        |f: &Fixture, a: &Holder, _: &Role, t: &Holder| scope::can_see_sensitive(a, t, f.world());
    check_pairs(RolePreset::Lms, LMS_SENSITIVE, sensitive);
}

#[test]
fn scope_kinds_over_the_location_tree() {
    let f = Fixture::new();
    let actor = f.holder(f.tenant, Some(f.north), vec![]);
    // Targets: self, same location, child, sibling region, cousin, root, unplaced,
    // client organisation, unrelated organisation.
    let mut targets = vec![actor.clone()];
    for (t, loc) in [
        (f.tenant, Some(f.north)),
        (f.tenant, Some(f.leeds)),
        (f.tenant, Some(f.south)),
        (f.tenant, Some(f.london)),
        (f.tenant, Some(f.co)),
        (f.tenant, None),
        (f.client, None),
        (f.other, None),
    ] {
        targets.push(f.holder(t, loc, vec![]));
    }
    let table = [
        (ScopeKind::SelfOnly, "100000000"),
        (ScopeKind::Location, "110000000"),
        (ScopeKind::LocationSubtree, "111000000"),
        (ScopeKind::Organisation, "111111100"),
        (ScopeKind::OrganisationAndClients, "111111110"),
    ];
    for (kind, row) in table {
        let want = &matrix(&[row])[0];
        for (i, t) in targets.iter().enumerate() {
            assert_eq!(
                scope::in_scope(kind, &actor, t, f.world()),
                want[i],
                "{kind:?} target {i}"
            );
        }
    }
    // An unplaced actor reaches nobody by location.
    let nowhere = f.holder(f.tenant, None, vec![]);
    let unplaced = f.holder(f.tenant, None, vec![]);
    assert!(!scope::in_scope(
        ScopeKind::Location,
        &nowhere,
        &unplaced,
        f.world()
    ));
    assert!(!scope::in_scope(
        ScopeKind::LocationSubtree,
        &nowhere,
        &unplaced,
        f.world()
    ));
}

#[test]
fn admins_reach_only_their_scope() {
    let f = Fixture::new();
    let roles = f.roles(RolePreset::Lms);
    let by = |n: &str| roles.iter().find(|r| r.name == n).unwrap().clone();
    let local = f.holder(f.tenant, Some(f.leeds), vec![by("Local Administrator")]);
    let multi = f.holder(
        f.tenant,
        Some(f.north),
        vec![by("Multiple Location Administrator")],
    );
    let master = f.holder(f.tenant, Some(f.co), vec![by("Master Administrator")]);
    let student_leeds = f.holder(f.tenant, Some(f.leeds), vec![by("Student")]);
    let student_london = f.holder(f.tenant, Some(f.london), vec![by("Student")]);
    let student_client = f.holder(f.client, None, vec![by("Student")]);
    let w = f.world();
    assert!(scope::can_manage(&local, &student_leeds, w));
    assert!(!scope::can_manage(&local, &student_london, w));
    assert!(scope::can_manage(&multi, &student_leeds, w));
    assert!(!scope::can_manage(&multi, &student_london, w));
    assert!(scope::can_manage(&master, &student_london, w));
    assert!(scope::can_manage(&master, &student_client, w));
    // Never upwards, whatever the scope.
    assert!(!scope::can_manage(&local, &multi, w));
    assert!(!scope::can_manage(&multi, &master, w));
    // A reports-only role added to a lesser managing role does not widen management.
    let mixed = f.holder(
        f.tenant,
        Some(f.leeds),
        vec![
            by("Local Administrator"),
            by("Master Administrator (Reports Only)"),
        ],
    );
    assert!(scope::can_see(&mixed, &student_london, w));
    assert!(!scope::can_manage(&mixed, &student_london, w));
    assert!(!scope::can_see_sensitive(&mixed, &student_london, w));
}

#[test]
fn role_changes_are_checked_both_ways() {
    let f = Fixture::new();
    let roles = f.roles(RolePreset::Lms);
    let by = |n: &str| roles.iter().find(|r| r.name == n).unwrap().clone();
    let local = f.holder(f.tenant, Some(f.leeds), vec![by("Local Administrator")]);
    let before = f.holder(f.tenant, Some(f.leeds), vec![by("Student")]);
    let mut promoted = before.clone();
    promoted.roles.push(by("Local Administrator"));
    assert_eq!(
        scope::check_role_change(&local, &before, &promoted, f.world()),
        Ok(())
    );
    let mut too_high = before.clone();
    too_high.roles = vec![by("Multiple Location Administrator")];
    assert_eq!(
        scope::check_role_change(&local, &before, &too_high, f.world()),
        Err(scope::DelegationError::CannotManage)
    );
    let reporter = f.holder(
        f.tenant,
        Some(f.leeds),
        vec![by("Master Administrator (Reports Only)")],
    );
    assert_eq!(
        scope::check_role_change(&reporter, &before, &promoted, f.world()),
        Err(scope::DelegationError::CannotManage)
    );
}

#[test]
fn status_transition_table() {
    use Status::*;
    let all = [Invited, Active, Suspended, Archived];
    // Rows: from; columns: to. 'y' legal, 'u' unchanged, 'f' archived is final, 'r' no re-invite.
    let table = ["uyyy", "ruyy", "ryuy", "fffu"];
    for (i, from) in all.iter().enumerate() {
        for (j, to) in all.iter().enumerate() {
            let want = table[i].as_bytes()[j];
            let got = from.transition(*to);
            let ok = match want {
                b'y' => got == Ok(*to),
                b'u' => got == Err(StatusError::Unchanged(*from)),
                b'f' => got == Err(StatusError::ArchivedIsFinal),
                b'r' => got == Err(StatusError::CannotReinvite),
                _ => false,
            };
            assert!(ok, "{from:?} -> {to:?} gave {got:?}");
        }
    }
    assert!(Active.may_receive_mail() && Invited.may_receive_mail());
    assert!(!Suspended.may_receive_mail() && !Archived.may_receive_mail());
}

#[test]
fn sign_in_table() {
    let f = Fixture::new();
    let ops = f.roles(RolePreset::Operations);
    let no_access = vec![ops[0].clone()];
    let viewer = vec![ops[1].clone()];
    let both = vec![ops[0].clone(), ops[1].clone()];
    use SignInRefusal as R;
    let table: Vec<(Status, &Vec<Role>, Result<(), R>)> = vec![
        (Status::Active, &viewer, Ok(())),
        (Status::Active, &both, Ok(())),
        (Status::Active, &no_access, Err(R::NoSignInRole)),
        (Status::Invited, &viewer, Err(R::Invited)),
        (Status::Suspended, &viewer, Err(R::Suspended)),
        (Status::Archived, &viewer, Err(R::Archived)),
    ];
    for (status, roles, want) in table {
        assert_eq!(may_sign_in(status, roles), want, "{status:?}");
    }
    assert_eq!(may_sign_in(Status::Active, &[]), Err(R::NoSignInRole));
}

#[test]
fn role_set_checks() {
    let f = Fixture::new();
    for preset in RolePreset::ALL {
        assert!(
            crate::role::RoleSet::new(f.roles(preset)).is_ok(),
            "{preset:?}"
        );
    }
    let mut roles = f.roles(RolePreset::Lms);
    roles[1].name = "student".into();
    assert!(crate::role::RoleSet::new(roles).is_err());
    let mut bad = f.roles(RolePreset::Lms)[2].clone();
    bad.privileges.insert(crate::role::Privilege::ManageUsers);
    assert!(bad.validate().is_err());
    assert!(!bad.allows(crate::role::Privilege::ManageUsers));
}
