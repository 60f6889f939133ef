//! Who may see whom, and who may manage whom: scope and delegation as pure functions.
//!
//! The rules:
//! - everyone sees and may read his own record;
//! - a role reaches the people inside its [`ScopeKind`], measured from the holder's location
//!   and tenant;
//! - seeing needs a role that allows viewing or reporting; managing needs one that allows
//!   managing users and whose rank is not below any role of the target; granting a role needs
//!   one that allows assigning roles with a rank not below the role granted;
//! - sensitive fields show only to oneself and to holders of a role that may see them, within
//!   that role's scope.

use crate::ids::{LocationId, RoleId, TenantId, UserId};
use crate::location::LocationTree;
use crate::role::{Privilege, Role, ScopeKind};
use std::collections::HashMap;

/// A person as the rules see him: who, where, and with which roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// The person.
    pub user_id: UserId,
    /// His tenant.
    pub tenant_id: TenantId,
    /// His location, if placed.
    pub location_id: Option<LocationId>,
    /// His roles.
    pub roles: Vec<Role>,
}

impl Holder {
    /// The highest rank among his roles (`i32::MIN` for a person with none).
    pub fn top_rank(&self) -> i32 {
        self.roles.iter().map(|r| r.rank).max().unwrap_or(i32::MIN)
    }
}

/// The relations between organisations: which tenant is a client of which.
#[derive(Debug, Clone, Default)]
pub struct Orgs {
    client_of: HashMap<TenantId, TenantId>,
}

impl Orgs {
    /// From (client, provider) pairs.
    pub fn new(pairs: impl IntoIterator<Item = (TenantId, TenantId)>) -> Self {
        Self {
            client_of: pairs.into_iter().collect(),
        }
    }

    /// Whether `tenant` is `org` itself or one of its clients.
    pub fn is_org_or_client(&self, org: TenantId, tenant: TenantId) -> bool {
        tenant == org || self.client_of.get(&tenant) == Some(&org)
    }
}

/// Everything the rules need to know about the world beyond the two people.
#[derive(Debug, Clone, Copy)]
pub struct World<'a> {
    /// The location tree(s).
    pub locations: &'a LocationTree,
    /// Organisation relations.
    pub orgs: &'a Orgs,
}

/// Whether `target` lies inside `scope` measured from `actor`.
pub fn in_scope(scope: ScopeKind, actor: &Holder, target: &Holder, w: World<'_>) -> bool {
    if actor.user_id == target.user_id {
        return true;
    }
    match scope {
        ScopeKind::SelfOnly => false,
        ScopeKind::Location => {
            actor.tenant_id == target.tenant_id
                && actor.location_id.is_some()
                && actor.location_id == target.location_id
        }
        ScopeKind::LocationSubtree => match (actor.location_id, target.location_id) {
            (Some(a), Some(t)) => {
                actor.tenant_id == target.tenant_id && w.locations.is_within(t, a)
            }
            _ => false,
        },
        ScopeKind::Organisation => actor.tenant_id == target.tenant_id,
        ScopeKind::OrganisationAndClients => {
            w.orgs.is_org_or_client(actor.tenant_id, target.tenant_id)
        }
    }
}

fn reaches(actor: &Holder, target: &Holder, w: World<'_>, ok: impl Fn(&Role) -> bool) -> bool {
    actor
        .roles
        .iter()
        .any(|r| ok(r) && in_scope(r.scope, actor, target, w))
}

/// Whether `actor` may see `target` at all.
pub fn can_see(actor: &Holder, target: &Holder, w: World<'_>) -> bool {
    actor.user_id == target.user_id
        || reaches(actor, target, w, |r| {
            r.allows(Privilege::ViewUsers) || r.allows(Privilege::ViewReports)
        })
}

/// Whether `actor` may create, edit, suspend or archive `target` (whose roles are as given:
/// for a creation, the roles the new person is to have).
pub fn can_manage(actor: &Holder, target: &Holder, w: World<'_>) -> bool {
    let top = target.top_rank();
    reaches(actor, target, w, |r| {
        r.allows(Privilege::ManageUsers) && r.rank >= top
    })
}

/// Whether `actor` may give `role` to (or take it from) `target`.
pub fn can_grant(actor: &Holder, role: &Role, target: &Holder, w: World<'_>) -> bool {
    reaches(actor, target, w, |r| {
        r.allows(Privilege::AssignRoles) && r.rank >= role.rank && r.tenant_id == role.tenant_id
    })
}

/// Whether `actor` may see `target`'s sensitive fields.
pub fn can_see_sensitive(actor: &Holder, target: &Holder, w: World<'_>) -> bool {
    actor.user_id == target.user_id || reaches(actor, target, w, |r| r.sees_sensitive)
}

/// Why a change of someone's roles is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelegationError {
    /// The target is outside the actor's management scope, or ranks above him.
    #[error("you may not manage this person")]
    CannotManage,
    /// The actor may not grant (or revoke) this role.
    #[error("you may not grant or revoke the role {0}")]
    CannotGrant(RoleId),
}

/// Checks a change of `target`'s roles from `before` to `after` by `actor`: he must be able
/// to manage the person both as he is and as he will be, and to grant every role added and
/// revoke every role removed.
pub fn check_role_change(
    actor: &Holder,
    before: &Holder,
    after: &Holder,
    w: World<'_>,
) -> Result<(), DelegationError> {
    if !can_manage(actor, before, w) || !can_manage(actor, after, w) {
        return Err(DelegationError::CannotManage);
    }
    let changed = after
        .roles
        .iter()
        .filter(|r| !before.roles.iter().any(|b| b.id == r.id))
        .chain(
            before
                .roles
                .iter()
                .filter(|b| !after.roles.iter().any(|r| r.id == b.id)),
        );
    for role in changed {
        if !can_grant(actor, role, after, w) {
            return Err(DelegationError::CannotGrant(role.id));
        }
    }
    Ok(())
}
